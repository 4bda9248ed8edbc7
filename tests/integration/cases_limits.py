"""Bounds that keep one peer from holding snid's resources for ever: the idle
and half-close timeouts of the pump, -max-connections, and the copy fallback
when no pipe can be had.  Layout as in fixtures.py."""

import hashlib
import re
import socket
import threading
import time

from snidtest import (check, client_hello, connect, gen_sha, read_all,
                      read_line, SLOW, VALGRIND)
from fixtures import ADDR, world, start_snid_with_nofile
from servers import listen


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


def _ss_established():
    """ss's view of every established TCP socket with its timer: lines."""
    import subprocess
    out = subprocess.run(["ss", "-tnoH", "state", "established"], capture_output=True,
                         text=True, timeout=10)
    check(out.returncode == 0, "ss failed: %s" % out.stderr)
    return out.stdout.splitlines()


def test_keepalive_on_client_and_backend_sockets(case):
    """A proxied connection: snid's client socket (accepted on L) and its
    backend socket (to [::1]:B) both run a keepalive timer (ss -o shows
    timer:(keepalive,...)) of at most 60 s; the backend's own accepted
    socket, which is Python's, runs none (so the check can fail)."""
    w = world(case)
    s = connect("127.0.0.1", w.L, 5 * SLOW)
    try:
        s.sendall(client_hello("alpha.test"))
        line = read_line(s, 5 * SLOW)
        check(line.startswith("backend=alpha"), "not proxied: %r" % line)
        cport = s.getsockname()[1]
        lines = _ss_established()
        client_side = [l for l in lines if l.split()[2].endswith(":%d" % w.L)
                       and l.split()[3].endswith(":%d" % cport)]
        backend_side = [l for l in lines if l.split()[3] == "[::1]:%d" % w.B]
        python_side = [l for l in lines if l.split()[2] == "[::1]:%d" % w.B]
        check(len(client_side) == 1, "snid's client socket not found: %s" % lines)
        check(len(backend_side) == 1, "snid's backend socket not found: %s" % lines)
        for what, l in (("client", client_side[0]), ("backend", backend_side[0])):
            m = re.search(r"timer:\(keepalive,(?:(\d+)min)?(\d+)(?:\.\d+)?(m?s)ec", l)
            check(m is not None, "%s socket without keepalive: %s" % (what, l))
            secs = int(m.group(1) or 0) * 60 + int(m.group(2)) / (1000 if m.group(3) == "ms" else 1)
            check(0 < secs <= 60, "%s: keepalive in %ss, want <= 60: %s" % (what, secs, l))
        check(python_side and "keepalive" not in python_side[0],
              "the control socket has keepalive too, the check means nothing: %s" % python_side)
    finally:
        s.close()
