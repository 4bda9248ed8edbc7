"""Bounds that keep one peer from holding snid's resources for ever: the idle
and half-close timeouts of the pump, -max-connections, and the copy fallback
when no pipe can be had.  Layout as in fixtures.py."""

import hashlib
import re
import socket
import threading
import time

from snidtest import (Skip, check, client_hello, connect, gen_sha, read_all,
                      read_line, wait_until, SLOW, VALGRIND)
from fixtures import (ADDR, RECORDS, good_client, metrics, metrics_world, world,
                      start_snid_with_nofile)
from servers import hold_all, listen


def _raw_hello_then(w, name, command):
    s = connect("127.0.0.1", w.L, 5 * SLOW)
    s.sendall(client_hello(name + ".test") + command)
    line = read_line(s, 5 * SLOW)
    check(line.startswith("backend=" + name), "not routed: %r" % line)
    return s


def test_idle_connection_closed_at_idle_timeout(case):
    """A spliced connection on which nothing moves is closed at -idle-timeout
    (outcome idle), not kept for ever."""
    w = world(case, ("alpha",), extra=["-idle-timeout", "1"])
    s = _raw_hello_then(w, "alpha", b"hold\n")
    cport = s.getsockname()[1]
    t0 = time.monotonic()
    data, how = read_all(s, 5 * SLOW)
    took = time.monotonic() - t0
    s.close()
    check(how in ("eof", "reset"), "connection still open %.1fs after -idle-timeout 1: %s" % (took, how))
    check(0.8 <= took <= 2.5 * SLOW, "closed after %.2fs of silence with -idle-timeout 1" % took)
    c = w.snid.conn_for(cport)
    check(c["outcome"] == "idle", "outcome %s, want idle: %s" % (c["outcome"], c["line"]))


def test_traffic_keeps_connection_past_idle_timeout(case):
    """The bound is on silence, not on age: a transfer that keeps moving runs
    well past -idle-timeout."""
    w = world(case, ("alpha",), extra=["-idle-timeout", "1"])
    down = 400000
    s = _raw_hello_then(w, "alpha", b"slow %d 3\n" % down)
    got = 0
    h = hashlib.sha256()
    deadline = time.monotonic() + 10 * SLOW
    s.settimeout(1)
    while got < down and time.monotonic() < deadline:
        try:
            b = s.recv(65536)
        except socket.timeout:
            continue
        if not b:
            break
        h.update(b)
        got += len(b)
    s.shutdown(socket.SHUT_WR)
    rest, how = read_all(s, 5 * SLOW)
    s.close()
    check(got == down, "a 3 s transfer with -idle-timeout 1 got %d of %d bytes" % (got, down))
    check(h.hexdigest() == gen_sha(7, down), "bytes differ")
    check(rest.startswith(b"recv=0 "), "end of transfer: %r (%s)" % (rest[:40], how))


def test_half_closed_connection_closed_at_half_close_timeout(case):
    """The backend answers and closes; the client keeps its half open and
    says nothing.  Once one side is done, the other gets -half-close-timeout
    of silence, not the whole -idle-timeout: a peer cannot pin two sockets by
    never closing a finished connection."""
    w = world(case, (), extra=["-idle-timeout", "60", "-half-close-timeout", "1"])
    ls = listen(ADDR["alpha"], w.B, backlog=8)
    ls.settimeout(5 * SLOW)

    def backend():
        try:
            c, _ = ls.accept()
            c.settimeout(5 * SLOW)
            c.recv(65536)
            c.sendall(b"bye\n")
            c.close()
        except OSError:
            pass
    t = threading.Thread(target=backend, daemon=True)
    t.start()
    try:
        s = connect("127.0.0.1", w.L, 5 * SLOW)
        cport = s.getsockname()[1]
        s.sendall(client_hello("alpha.test"))
        data, how = read_all(s, 5 * SLOW)
        check(data == b"bye\n" and how == "eof", "client got %r (%s)" % (data, how))
        t0 = time.monotonic()
        # The client keeps its write side open and silent.
        c = w.snid.conn_for(cport, timeout=6)
        took = time.monotonic() - t0
        s.close()
        check(c["outcome"] == "idle", "outcome %s, want idle: %s" % (c["outcome"], c["line"]))
        check(took <= 3 * SLOW, "half-closed connection held %.1fs with -half-close-timeout 1" % took)
    finally:
        ls.close()
        t.join(5)


def test_max_connections_stops_accepting_until_one_closes(case):
    """At -max-connections snid stops accepting: the next client waits in the
    kernel's backlog and is served as soon as a connection closes."""
    w = world(case, ("alpha",), extra=["-max-connections", "2"])
    a = _raw_hello_then(w, "alpha", b"hold\n")
    b = _raw_hello_then(w, "alpha", b"hold\n")
    third = connect("127.0.0.1", w.L, 5 * SLOW)   # completes in the backlog
    third.sendall(client_hello("alpha.test"))
    third.settimeout(1.0)
    try:
        early = third.recv(100)
    except socket.timeout:
        early = None
    check(early is None, "a third connection was served at -max-connections 2: %r" % early)
    n_acc = len(w.backends["alpha"].accepts())
    check(n_acc == 2, "backend saw %d connections, want 2" % n_acc)
    check("-max-connections reached" in w.snid.text(), "no log line about the limit: %s" % w.snid.tail())
    a.close()
    line = read_line(third, 5 * SLOW)
    check(line.startswith("backend=alpha"), "third client not served after one closed: %r" % line)
    b.close()
    third.close()


def test_pipe_exhaustion_falls_back_to_copy(case):
    """With too few descriptors for a pipe per transfer, transfers must still
    complete byte for byte (copy fallback), never be reset."""
    limit = 48 if not VALGRIND else 64
    # Enough connections that their sockets leave room for only a pipe or
    # two (some 16 descriptors go to stdio, the listener, the loop, DNS
    # and logging): most transfers must take the copy fallback.
    n = 16   # valgrind keeps some of the 64 for itself: the same count fits both
    down = 8000000
    w = world(case, ("alpha",), start_snid=False, extra=["-max-connections", "100"])
    start_snid_with_nofile(case, w, limit)
    results = [None] * n

    def transfer(i):
        # Each client reads as soon as it is connected, as real ones do; the
        # descriptors its pipes would need are what the others hold.
        h = hashlib.sha256()
        got = 0
        try:
            s = _raw_hello_then(w, "alpha", b"bulk 0 %d %d\n" % (down, 11))
        except Exception as e:  # noqa: BLE001 - reported as this transfer's result
            results[i] = "no reply: %s" % e
            return
        s.settimeout(20 * SLOW)
        try:
            while got < down:
                # A slow reader: its pipe stays full, so the descriptors for
                # the next connections' pipes are not there.
                b = s.recv(1 << 16)
                if not b:
                    break
                time.sleep(0.002)
                take = b[:down - got]
                h.update(take)
                got += len(take)
        except OSError as e:
            results[i] = "error %s after %d bytes" % (e, got)
            return
        finally:
            s.close()
        results[i] = (got, h.hexdigest())
    threads = [threading.Thread(target=transfer, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60 * SLOW)
    want = gen_sha(11, down)
    bad = [r for r in results if r != (down, want)]
    check(not bad, "%d of %d transfers damaged with %d descriptors: %s; log: %s"
          % (len(bad), n, limit, bad[:3], w.snid.tail()))
    check("Too many open files" not in w.snid.text(),
          "snid logged EMFILE for a transfer: %s" % w.snid.tail())


def _open_idle(w, n, sources, hello, clients):
    """n clients from the addresses in sources (per-source limits do not
    bite), each sending hello and then nothing: they go idle once spliced."""
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5 * SLOW)
        s.bind((sources[i % len(sources)], 0))
        s.connect(("127.0.0.1", w.L))
        s.sendall(hello)
        clients.append(s)


def test_idle_connections_take_two_descriptors(case):
    """The default connection limit counts two descriptors per connection
    (pipes have a budget of their own, held only while bytes move): with an
    open-file limit of 11000, 5000 idle connections are all spliced and held
    (the old (limit - 64) / 3 stopped accepting at 3645)."""
    import resource
    import select

    n, limit = 5000, 11000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2 * n + 200:
        raise Skip("the test itself needs %d descriptors, the hard limit is %d"
                   % (2 * n + 200, hard))
    resource.setrlimit(resource.RLIMIT_NOFILE, (2 * n + 200 if hard ==
                       resource.RLIM_INFINITY else hard, hard))
    # A TTL, so that snid caches alpha.test: 5000 lookups at once would
    # meet the resolver's bound on new queries, which is not tested here.
    w = world(case, (), start_snid=False, dns=case.dnsmasq(RECORDS, extra=[
              "--local-ttl=300"]), extra=["-hello-timeout", "60",
              "-dns-timeout", "10", "-log-level", "info"])
    ls = listen(ADDR["alpha"], w.B, backlog=4096)
    held, clients, stop = [], [], threading.Event()
    t = threading.Thread(target=hold_all, args=(ls, held, stop), daemon=True)
    t.start()
    try:
        start_snid_with_nofile(case, w, limit)
        sources = ["127.0.1.%d" % i for i in range(1, 41)]
        # One first, so that the others find alpha.test in the DNS cache.
        _open_idle(w, 1, sources, client_hello("alpha.test"), clients)
        wait_until(lambda: len(held) >= 1, 10 * SLOW)
        _open_idle(w, n - 1, sources[1:], client_hello("alpha.test"), clients)
        wait_until(lambda: len(held) >= n, 60 * SLOW, step=0.2)
        check(len(held) == n, "the backend got %d of %d connections with an "
              "open-file limit of %d: %s" % (len(held), n, limit, w.snid.tail()))
        p = select.poll()
        for s in clients:
            p.register(s.fileno(), select.POLLIN)
        gone = p.poll(0)
        check(not gone, "%d of %d idle clients were closed: %s"
              % (len(gone), n, w.snid.tail()))
        text = w.snid.text()
        check("-max-connections reached" not in text and
              "Too many open files" not in text,
              "snid ran out of its budget: %s" % w.snid.tail())
        w.snid.check_alive()
    finally:
        stop.set()
        t.join(5)
        for s in clients + held:
            s.close()
        ls.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _closed(socks, settle):
    """The sockets of socks that the peer closed (EOF or reset) within
    settle seconds of the last one opened."""
    import select

    time.sleep(settle)
    p = select.poll()
    for s in socks:
        p.register(s.fileno(), select.POLLIN)
    fds = {fd for fd, _ in p.poll(0)}
    return [s for s in socks if s.fileno() in fds]


def test_per_source_limit_closes_the_excess(case):
    """-max-connections-per-source 256: of 300 connections from one client
    address, 44 are closed at once without a byte (outcome limited, counted
    in the metrics), while another client address is still served."""
    w = metrics_world(case, ("alpha",), extra=["-max-connections-per-source",
                      "256", "-hello-timeout", "30"])
    socks = []
    try:
        for _ in range(300):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(5 * SLOW)
            s.bind(("127.0.0.1", 0))
            s.connect(("127.0.0.1", w.L))
            socks.append(s)
        gone = _closed(socks, 1.0 * SLOW)
        check(len(gone) == 44, "%d of 300 connections from one address were "
              "closed with a limit of 256, want 44" % len(gone))
        for s in gone:
            data, how = read_all(s, 1)
            check(data == b"", "a limited client got bytes: %r" % data[:20])
        wait_until(lambda: sum(c["outcome"] == "limited" for c in w.snid.conns()) >= 44,
                   5 * SLOW)
        n = sum(c["outcome"] == "limited" for c in w.snid.conns())
        check(n == 44, "%d access lines say limited, want 44" % n)
        other = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        other.settimeout(5 * SLOW)
        other.bind(("127.0.0.2", 0))
        other.connect(("127.0.0.1", w.L))
        socks.append(other)
        other.sendall(client_hello("alpha.test") + b"hold\n")
        line = read_line(other, 5 * SLOW)
        check(line.startswith("backend=alpha"), "client 127.0.0.2 not served "
              "while 127.0.0.1 is at its limit: %r" % line)
        m = metrics(w)
        got = m.get('snid_connections_total{outcome="limited"}')
        check(got == 44, "snid_connections_total{outcome=\"limited\"} is %r, "
              "want 44" % got)
    finally:
        for s in socks:
            s.close()


def test_hello_memory_closes_the_oldest_reader(case):
    """-hello-memory bounds the hello buffers as a whole: 16 clients that
    each sent 3000 bytes of an unfinished hello hold 16 buffers of 4 KiB,
    all of 64 KiB; a new client still gets its hello read, and the oldest of
    the 16 is closed for it (outcome limited), the others kept."""
    # One worker: with N, each takes 1/N of -hello-memory.
    w = world(case, ("alpha",), extra=["-hello-memory", "65536",
              "-hello-timeout", "30", "-workers", "1"])
    part = client_hello("slow.test", pad=10000)[:3000]
    slow = []
    try:
        for _ in range(16):
            s = connect("127.0.0.1", w.L, 5 * SLOW)
            s.sendall(part)
            slow.append(s)
            time.sleep(0.02)
        gone = _closed(slow, 0.5 * SLOW)
        check(not gone, "%d readers closed under the bound" % len(gone))
        cport = good_client(w)
        gone = _closed(slow, 0.3 * SLOW)
        check(gone == slow[:1], "want only the oldest reader closed, got %d "
              "(oldest among them: %s)" % (len(gone), slow[0] in gone))
        old = w.snid.conn_for(slow[0].getsockname()[1])
        check(old["outcome"] == "limited", "oldest reader: %s" % old["line"])
        check(w.snid.conn_for(cport)["outcome"] == "ok", "new client not ok")
    finally:
        for s in slow:
            s.close()


def _ss_established():
    """ss's view of every established TCP socket with its timer: lines."""
    import subprocess
    out = subprocess.run(["ss", "-tnoH", "state", "established"], capture_output=True,
                         text=True, timeout=10)
    check(out.returncode == 0, "ss failed: %s" % out.stderr)
    return out.stdout.splitlines()


def test_keepalive_on_client_and_backend_sockets(case):
    """A proxied connection: snid's client socket (accepted on L) runs a
    keepalive timer (ss -o shows timer:(keepalive,...)) of at most 60 s
    from the start; its backend socket (to [::1]:B) gets one once the
    connection has spliced for CONN_KEEPALIVE_AFTER (5 s: short connections
    skip those five setsockopt calls), and not before.  The backend's own
    accepted socket, which is Python's, runs none (so the check can fail)."""
    w = world(case)
    t0 = time.monotonic()
    s = connect("127.0.0.1", w.L, 5 * SLOW)
    try:
        s.sendall(client_hello("alpha.test"))
        line = read_line(s, 5 * SLOW)
        check(line.startswith("backend=alpha"), "not proxied: %r" % line)
        cport = s.getsockname()[1]

        def sides():
            lines = _ss_established()
            client_side = [l for l in lines if l.split()[2].endswith(":%d" % w.L)
                           and l.split()[3].endswith(":%d" % cport)]
            backend_side = [l for l in lines if l.split()[3] == "[::1]:%d" % w.B]
            python_side = [l for l in lines if l.split()[2] == "[::1]:%d" % w.B]
            check(len(client_side) == 1, "snid's client socket not found: %s" % lines)
            check(len(backend_side) == 1, "snid's backend socket not found: %s" % lines)
            return client_side[0], backend_side[0], python_side

        def keepalive(what, l):
            m = re.search(r"timer:\(keepalive,(?:(\d+)min)?(\d+)(?:\.\d+)?(m?s)ec", l)
            if m is None:
                return None
            secs = int(m.group(1) or 0) * 60 + int(m.group(2)) / (1000 if m.group(3) == "ms" else 1)
            check(0 < secs <= 60, "%s: keepalive in %ss, want <= 60: %s" % (what, secs, l))
            return secs

        client_side, backend_side, python_side = sides()
        check(keepalive("client", client_side) is not None,
              "client socket without keepalive: %s" % client_side)
        # Not yet on the backend side, unless this machine took seconds to get here.
        if time.monotonic() - t0 < 2.0:
            check(keepalive("backend", backend_side) is None,
                  "backend socket has keepalive at once: %s" % backend_side)
        deadline = time.monotonic() + 5.0 + 10 * SLOW
        while keepalive("backend", backend_side) is None:
            check(time.monotonic() < deadline,
                  "backend socket without keepalive after 5 s: %s" % backend_side)
            time.sleep(0.25)
            client_side, backend_side, python_side = sides()
        check(python_side and "keepalive" not in python_side[0],
              "the control socket has keepalive too, the check means nothing: %s" % python_side)
    finally:
        s.close()
