"""-workers N: N threads, each with its loop and its own SO_REUSEPORT socket
per tcp: address, serving as one daemon: the connection limits count every
worker's connections, a scrape sums them, a reload switches every worker
or none, a drain waits for every worker's connections, and an fd: socket from
socket activation is shared by all.  Layout as in fixtures.py, with
-workers 2 (the kernel's 4-tuple hash spreads 200 connections over both
sockets with certainty for practical purposes: 2^-199 that it does not)."""

import errno
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import threading
import time

from snidtest import (Fail, Skip, Snid, check, client_hello, connect, more_files,
                      read_all, read_line, run, valgrind_argv, wait_until, SLOW, SNID,
                      VALGRIND)
from fixtures import (ADDR, RECORDS, good_client, launch_activated, metrics,
                      metrics_at, metrics_world, world)
from servers import hold_all, listen

TWO = ["-workers", "2"]
PER_WORKER = 'snid_worker_connections_accepted_total{worker="%d"}'


def _bad_hellos(port, n):
    """n short connections that send garbage (closed as not-tls)."""
    for _ in range(n):
        s = connect("127.0.0.1", port, 5 * SLOW)
        try:
            s.sendall(b"GARBAGE-NOT-TLS\r\n\r\n")
            read_all(s, 5 * SLOW)
        finally:
            s.close()


def _held(w, name="alpha", port=None):
    """A client routed to name whose connection stays open."""
    s = connect("127.0.0.1", port or w.L, 5 * SLOW)
    s.sendall(client_hello(name + ".test") + b"hold\n")
    line = read_line(s, 5 * SLOW)
    check(line.startswith("backend=" + name), "not routed: %r" % line)
    return s


def _hold_on_both(w, held):
    """Open routed connections into held until both workers have one (30
    at most: SO_REUSEPORT hashing makes 4 or so enough)."""
    for _ in range(30):
        held.append(_held(w))
        per, _ = _spread(w)
        if len(held) >= 4 and all(v > 0 for v in per):
            return


def _spread(w):
    m = metrics(w)
    return [m.get(PER_WORKER % i, -1) for i in range(2)], m


def test_workers_spread_connections_over_both(case):
    """Two workers, two SO_REUSEPORT sockets on the address: 200 clients
    land on both (the per-worker metric says so), and the scrape's totals
    are the sums of both workers' counts."""
    w = metrics_world(case, ("alpha",), extra=TWO)
    check(len(w.snid.addrs) == 1, "the ready line names the address more "
          "than once: %s" % w.snid.addrs)
    check(w.snid.text().count("info: listening on tcp:127.0.0.1") == 1,
          "one 'listening on' line per address expected: %s" % w.snid.tail())
    _bad_hellos(w.L, 200)
    wait_until(lambda: len(w.snid.conns()) >= 200, 10 * SLOW)
    per, m = _spread(w)
    check(all(v > 0 for v in per), "connections per worker %s: one worker "
          "got none of 200" % per)
    check(sum(per) == 200 and m["snid_connections_accepted_total"] == 200,
          "per worker %s, accepted %s: want a sum of 200" %
          (per, m["snid_connections_accepted_total"]))
    got = m['snid_connections_total{outcome="not-tls"}']
    check(got == 200, "not-tls counted %s times over both workers, want 200"
          % got)
    # A connection goes through too, whichever worker takes it.
    _held(w).close()


def test_workers_max_connections_counts_every_worker(case):
    """-max-connections 10 with 2 workers admits 10 connections, not 20:
    the others wait in the backlogs and one is served when one closes; the
    warning that the limit is reached comes once, not once per worker."""
    w = metrics_world(case, ("alpha",), extra=TWO + ["-max-connections", "10"])
    held, waiting = [], []
    try:
        # Until both workers hold some (the 4-tuple hash decides which).
        for _ in range(10):
            held.append(_held(w))
        per, _ = _spread(w)
        check(sum(per) == 10, "accepted per worker %s, want 10 in all" % per)
        for _ in range(20):
            s = connect("127.0.0.1", w.L, 5 * SLOW)   # in a backlog
            s.sendall(client_hello("alpha.test") + b"hold\n")
            s.settimeout(0.05)
            waiting.append(s)
        time.sleep(1.0 * SLOW)
        n_acc = len(w.backends["alpha"].accepts())
        check(n_acc == 10, "backend saw %d connections at -max-connections "
              "10 with 2 workers, want 10" % n_acc)
        early = []
        for s in waiting:
            try:
                if s.recv(100):
                    early.append(s)
            except socket.timeout:
                pass
        check(not early, "%d clients beyond the limit were served" % len(early))
        held.pop(0).close()
        check(wait_until(lambda: len(w.backends["alpha"].accepts()) == 11,
                         5 * SLOW), "no waiting client was served after a "
              "close (backend saw %d)" % len(w.backends["alpha"].accepts()))
        time.sleep(0.5 * SLOW)
        check(len(w.backends["alpha"].accepts()) == 11, "more than one waiting "
              "client served for one close: %d" %
              len(w.backends["alpha"].accepts()))
        # Both workers stopped at the limit (20 waiting clients over two
        # sockets), but the once-a-minute line is the daemon's: one.
        n_full = w.snid.text().count("-max-connections reached")
        check(n_full == 1, "%d '-max-connections reached' lines with 2 "
              "workers, want 1: %s" % (n_full, w.snid.tail()))
    finally:
        for s in held + waiting:
            s.close()


def test_workers_per_source_limit_counts_every_worker(case):
    """-max-connections-per-source 5 with 2 workers: of 12 connections from
    one address (spread over both workers) 7 are closed as limited."""
    w = world(case, ("alpha",), extra=TWO + ["-max-connections-per-source",
              "5", "-hello-timeout", "30"])
    socks = []
    try:
        for _ in range(12):
            s = connect("127.0.0.1", w.L, 5 * SLOW)
            socks.append(s)
        wait_until(lambda: sum(c["outcome"] == "limited"
                               for c in w.snid.conns()) >= 7, 5 * SLOW)
        time.sleep(0.3 * SLOW)
        n = sum(c["outcome"] == "limited" for c in w.snid.conns())
        check(n == 7, "%d of 12 connections from one address limited at 5 "
              "per source with 2 workers, want 7" % n)
    finally:
        for s in socks:
            s.close()


def _write_conf(w, path, cidrs, more=()):
    lines = ["listen tcp:127.0.0.1:%d" % w.L, "backend-port %d" % w.B,
             "dns-server 127.0.0.1:%d" % w.dns_port, "log-level debug",
             "workers 2", "metrics tcp:127.0.0.1:0"]
    lines += ["backend-cidr %s" % c for c in cidrs] + list(more)
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.rename(path + ".tmp", path)


def test_workers_reload_switches_every_worker(case):
    """SIGHUP with 2 workers: after "reload: done", every new connection,
    whichever worker takes it, is decided by the new allow-list."""
    w = world(case, ("alpha",), start_snid=False, hold_listen=True)
    conf = os.path.join(case.dir, "snid.conf")
    _write_conf(w, conf, ("::1/128", "127.0.0.2/32"))
    w.snid = case.snid(["-config", conf])
    metrics_at(w)
    _held(w).close()
    # Its access line first, or it could be counted among the 40 below.
    check(wait_until(lambda: len(w.snid.conns()) >= 1, 5 * SLOW),
          "no access line for the first connection: %s" % w.snid.tail())
    # alpha's ::1 is no longer allowed.
    _write_conf(w, conf, ("127.0.0.2/32",))
    n = len(re.findall(r"reload: done", w.snid.text()))
    os.kill(w.snid.p.pid, signal.SIGHUP)
    check(wait_until(lambda: len(re.findall(r"reload: done", w.snid.text()))
                     > n, 5 * SLOW), "no reload: done: %s" % w.snid.tail())
    before = len(w.snid.conns())
    for _ in range(40):
        s = connect("127.0.0.1", w.L, 5 * SLOW)
        try:
            s.sendall(client_hello("alpha.test"))
            s.shutdown(socket.SHUT_WR)      # a backend would see EOF: done
            read_all(s, 5 * SLOW)
        finally:
            s.close()
    wait_until(lambda: len(w.snid.conns()) >= before + 40, 5 * SLOW)
    after = w.snid.conns()[before:]
    bad = [c["line"] for c in after if c["outcome"] != "denied"]
    check(len(after) == 40 and not bad, "after the reload, %d of %d "
          "connections not denied: %s" % (len(bad), len(after), bad[:3]))
    per, _ = _spread(w)
    check(all(v > 0 for v in per), "the 41 connections did not reach both "
          "workers (%s): the case shows nothing" % per)


def _outcomes_of_40(w):
    """40 clients for alpha.test, one at a time: the access lines' outcomes
    and how many each worker took (per-worker accepted, before -> after)."""
    per0, _ = _spread(w)
    before = len(w.snid.conns())
    for _ in range(40):
        s = connect("127.0.0.1", w.L, 5 * SLOW)
        try:
            s.sendall(client_hello("alpha.test"))
            s.shutdown(socket.SHUT_WR)
            read_all(s, 5 * SLOW)
        finally:
            s.close()
    wait_until(lambda: len(w.snid.conns()) >= before + 40, 5 * SLOW)
    per1, _ = _spread(w)
    return ([c["outcome"] for c in w.snid.conns()[before:]],
            [b - a for a, b in zip(per0, per1)])


def test_workers_reload_all_or_nothing(case):
    """SIGHUP with 2 workers is all-or-nothing.  In snid's own mount
    namespace /etc/resolv.conf becomes a FIFO nobody writes to, so each
    worker's new resolver (c-ares reads that file whenever it sets up a
    channel, -dns-server or not) blocks in open(): no worker answers phase
    1 within 10 s, the reload is rejected with one line, and once the FIFO
    lets go neither worker switches late: alpha (::1) stays allowed on
    both workers although the rejected file dropped ::1.  With the file
    back, the same SIGHUP switches both."""
    if os.geteuid() != 0:
        raise Skip("needs root (a mount namespace for /etc/resolv.conf)")
    for tool in ("unshare", "nsenter", "mount", "umount"):
        if shutil.which(tool) is None:
            raise Skip("no %s" % tool)
    w = world(case, ("alpha",), start_snid=False, hold_listen=True)
    conf = os.path.join(case.dir, "snid.conf")
    _write_conf(w, conf, ("::1/128", "127.0.0.2/32"))
    # unshare execs snid in place: the pid is snid's (or valgrind's).
    w.snid = case.snid(["-config", conf], prefix=["unshare", "-m",
                                                  "--propagation", "private"])
    metrics_at(w)
    _held(w).close()
    check(wait_until(lambda: len(w.snid.conns()) >= 1, 5 * SLOW),
          "no access line for the first connection: %s" % w.snid.tail())
    pid = str(w.snid.p.pid)
    fifo = os.path.join(case.dir, "resolv.fifo")
    os.mkfifo(fifo)
    rc, _, err = run(["nsenter", "-t", pid, "-m", "mount", "--bind", fifo,
                      "/etc/resolv.conf"])
    check(rc == 0, "could not bind the FIFO in snid's namespace: %s" % err)
    _write_conf(w, conf, ("127.0.0.2/32",))     # alpha's ::1 dropped
    os.kill(w.snid.p.pid, signal.SIGHUP)
    check(wait_until(lambda: "reload: rejected: worker" in w.snid.text(),
                     20 * SLOW), "no rejection: %s" % w.snid.tail())
    check(re.search(r"reload: rejected: worker \d did not answer within "
                    r"10 s; the running configuration stays", w.snid.text()),
          "the rejection does not say which worker and why: %s"
          % w.snid.tail())
    # Let the workers go: later opens find the real file again, and
    # opening the FIFO for writing ends the two blocked open()s.  What they
    # read then differs: c-ares 1.18 reads the line, 1.34 may size the file
    # (0 bytes) and close it first, so the write can meet no reader (EPIPE);
    # either way they are released.
    run(["nsenter", "-t", pid, "-m", "umount", "-l", "/etc/resolv.conf"])
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as e:        # ENXIO: no reader left to release
        check(e.errno == errno.ENXIO, "opening the FIFO: %s" % e)
    else:
        try:
            os.write(fd, b"nameserver 127.0.0.1\n")
        except BrokenPipeError:
            pass
        os.close(fd)
    outcomes, per = _outcomes_of_40(w)
    check(len(outcomes) == 40 and all(o == "ok" for o in outcomes),
          "after the rejected reload, not every connection on the running "
          "allow-list: %s" % outcomes)
    check(all(v > 0 for v in per), "the 40 connections did not reach both "
          "workers (%s): the case shows nothing" % per)
    check("reload: done" not in w.snid.text(), "a reload was applied")
    # The same file again, readable resolv.conf: both switch.
    os.kill(w.snid.p.pid, signal.SIGHUP)
    check(wait_until(lambda: "reload: done" in w.snid.text(), 5 * SLOW),
          "the good reload was not applied: %s" % w.snid.tail())
    outcomes, per = _outcomes_of_40(w)
    check(len(outcomes) == 40 and all(o == "denied" for o in outcomes),
          "after the good reload, not every connection denied: %s"
          % outcomes)
    check(all(v > 0 for v in per), "the 40 connections did not reach both "
          "workers (%s): the case shows nothing" % per)


def test_workers_drain_waits_for_every_worker(case):
    """SIGTERM with 2 workers: both stop accepting at once, the connections
    open on either keep moving bytes, and snid exits 0 once the last one
    closed."""
    w = metrics_world(case, ("alpha",), extra=TWO + ["-shutdown-timeout", "30"])
    held = []
    try:
        _hold_on_both(w, held)
        per, _ = _spread(w)
        check(all(v > 0 for v in per), "no connection on one worker: %s" % per)
        os.kill(w.snid.p.pid, signal.SIGTERM)
        # Both workers stop accepting; the daemon says so once.
        check(wait_until(lambda: "shutdown: listeners closed" in
                         w.snid.text(), 5 * SLOW),
              "the drain did not start: %s" % w.snid.tail())
        try:
            connect("127.0.0.1", w.L, 2 * SLOW).close()
            refused = False
        except OSError:
            refused = True
        check(refused, "a new connection was accepted while draining")
        # Bytes still move both ways on every worker's connections.
        for s in held[:-1]:
            s.sendall(b"still-here")
            s.shutdown(socket.SHUT_WR)
        for s in held[:-1]:
            data, how = read_all(s, 5 * SLOW)
            check(data.startswith(b"recv=10 "), "a held connection stopped "
                  "moving bytes during the drain: %r (%s)" % (data[:40], how))
            s.close()
        time.sleep(0.3 * SLOW)
        check(w.snid.p.poll() is None, "snid exited with one connection open")
        held[-1].close()
        rc = w.snid.p.wait(timeout=10 * SLOW)
        w.snid.stopped, w.snid.rc = True, rc
        check(rc == 0, "snid exited %d after the drain" % rc)
        text = w.snid.text()
        check("info: exiting" in text, "no 'exiting' line")
        for line in ("shutdown: listeners closed, waiting up to 30 s for "
                     "%d connection(s)" % len(held),
                     "shutdown: every connection finished"):
            check(text.count(line) == 1, "want %r once for the daemon: %s"
                  % (line, w.snid.tail()))
        check("shutdown-timeout reached" not in text and
              "shutdown: closing" not in text, "a connection was closed, "
              "not left to finish: %s" % w.snid.tail())
    finally:
        for s in held:
            s.close()


def test_workers_drain_closes_many_idle_by_fin(case):
    """SIGTERM with 2 workers and 600 idle spliced connections, none of
    which will finish: at -shutdown-timeout (a little before: closing
    takes time, and each worker with many open starts early enough for
    its last close to land by the bound) every client and the backend see
    a FIN, not a reset; snid exits 0 and logs each drain line once for the
    daemon, with every worker's connections counted.  Not timed: the
    machine's load decides how long closing takes."""
    # 1200 sockets here and 1200 in snid: past a container's 1024.
    with more_files(4096):
        _drain_many_idle(case)


def _drain_many_idle(case):
    n, timeout = 600, 2
    w = world(case, (), start_snid=False, dns=case.dnsmasq(RECORDS, extra=[
              "--local-ttl=300"]), extra=TWO + [
              "-shutdown-timeout", str(timeout), "-hello-timeout", "60",
              "-max-connections-per-source", "0", "-log-level", "info"])
    ls = listen(ADDR["alpha"], w.B, backlog=1024)
    held, clients, stop = [], [], threading.Event()
    t = threading.Thread(target=hold_all, args=(ls, held, stop),
                         daemon=True)
    t.start()
    try:
        w.start_snid(case)
        hello = client_hello("alpha.test")
        for i in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(5 * SLOW)
            # Many sources: the 4-tuple hash spreads them over both workers.
            s.bind(("127.0.2.%d" % (1 + i % 50), 0))
            s.connect(("127.0.0.1", w.L))
            s.sendall(hello)
            clients.append(s)
            if i == 0:
                # The others find alpha.test in the DNS cache.
                wait_until(lambda: len(held) >= 1, 10 * SLOW)
        wait_until(lambda: len(held) >= n, 30 * SLOW, step=0.1)
        check(len(held) == n, "the backend got %d of %d connections: %s"
              % (len(held), n, w.snid.tail()))
        os.kill(w.snid.p.pid, signal.SIGTERM)
        try:
            rc = w.snid.p.wait(timeout=(timeout + 10) * SLOW)
        except subprocess.TimeoutExpired:
            raise Fail("snid still running %.0f s after SIGTERM with "
                       "-shutdown-timeout %d" % ((timeout + 10) * SLOW,
                                                 timeout))
        w.snid.stopped, w.snid.rc = True, rc
        text = w.snid.text()
        check(rc == 0, "snid exited %d after the drain: %s%s"
              % (rc, w.snid.tail(), w.snid.valgrind_summary()))
        # Every socket is closed by now: each read sees at once what came.
        hows = {"client": {}, "backend": {}}
        for side, socks in (("client", clients), ("backend", held)):
            for s in socks:
                _, how = read_all(s, 2 * SLOW)
                hows[side][how] = hows[side].get(how, 0) + 1
        check(hows["client"] == {"eof": n} and hows["backend"] == {"eof": n},
              "want a FIN on every connection at both ends, got %s: %s"
              % (hows, w.snid.tail()))
        # Each drain line once, not once per worker.
        waiting = re.findall(r"shutdown: listeners closed, waiting up to "
                             r"%d s for (\d+) connection" % timeout, text)
        check(waiting == [str(n)], "want one 'listeners closed' line for "
              "%d connections: %s" % (n, waiting))
        early = text.count("so the last closes by -shutdown-timeout")
        at = text.count("-shutdown-timeout reached")
        # ~300 a worker: the first estimate makes both start early.
        check(early == 1 and at == 0, "want the early-close line once "
              "(and no other), got %d early, %d at the bound: %s"
              % (early, at, w.snid.tail()))
        check("every connection finished" not in text and
              "no connection open" not in text,
              "a wrong end of the drain was logged: %s" % w.snid.tail())
        conns = w.snid.conns()
        bad = [c["line"] for c in conns if c["outcome"] != "shutdown"]
        check(len(conns) == n and not bad, "%d access lines, %d not "
              "'shutdown', e.g. %s" % (len(conns), len(bad), bad[:2]))
    finally:
        stop.set()
        t.join(5)
        for s in clients + held:
            s.close()
        ls.close()


def _launch_fd(case, socks, argv, names=None, log_name="snid.log"):
    """snid with socks passed as fds 3, 4, ... (socket activation,
    LISTEN_PID its own pid: the launcher execs snid in place)."""
    if VALGRIND:
        argv = valgrind_argv(os.path.join(case.dir, "snid.valgrind.log")) + argv
    return launch_activated(case, socks, {"LISTEN_FDNAMES": names} if names
                            else {}, argv, log_name)


def test_workers_share_an_fd_socket(case):
    """-listen fd:3 with 2 workers: one passed socket, shared (each worker
    waits on it through its own EPOLLEXCLUSIVE epoll set); every client is
    served, and the access log has one line per connection."""
    w = world(case, ("alpha",), start_snid=False)
    args = [a for a in w.args if a != "tcp:127.0.0.1:%d" % w.L]
    args.remove("-listen")
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    port = s.getsockname()[1]
    p, log = _launch_fd(case, [s], [SNID, "-listen", "fd:3", "-metrics",
                                  "tcp:127.0.0.1:0"] + TWO + args)
    s.close()
    w.snid = Snid.adopt(case, p, log)
    check(wait_until(lambda: "ready:" in w.snid.text() or p.poll() is not None,
                     10 * SLOW), "snid did not start: %s" % w.snid.tail())
    check(p.poll() is None, "snid exited: %s" % w.snid.tail())
    metrics_at(w)
    for i in range(40):
        c = _held(w, port=port)
        c.close()
    wait_until(lambda: len(w.snid.conns()) >= 40, 5 * SLOW)
    n = len(w.snid.conns())
    check(n == 40, "%d access lines for 40 connections" % n)
    per, m = _spread(w)
    check(sum(per) == 40, "accepted per worker %s, want 40 in all" % per)


class _FdStore:
    """systemd's NOTIFY_SOCKET with its fd store: keeps the descriptors
    FDSTORE=1 messages carry, by FDNAME, and forgets a name on
    FDSTOREREMOVE=1, as systemd does for the next start."""

    def __init__(self, tag):
        name = "snid-test-%s-%d" % (tag, os.getpid())
        self.rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.rx.bind("\0" + name)
        self.rx.settimeout(0.2)
        self.env = dict(os.environ, NOTIFY_SOCKET="@" + name,
                        SNID_HANDOVER="1")
        self.got, self.entries = [], []      # entries: (name, fd)

    def drain(self):
        for _ in range(1000):
            try:
                msg, fds, _, _ = socket.recv_fds(self.rx, 4096, 64)
            except socket.timeout:
                return
            text = msg.decode()
            self.got.append(text)
            kv = dict(l.split("=", 1) for l in text.split("\n") if "=" in l)
            if kv.get("FDSTOREREMOVE") == "1":
                for n, f in [e for e in self.entries if e[0] == kv.get("FDNAME")]:
                    os.close(f)
                    self.entries.remove((n, f))
            if kv.get("FDSTORE") == "1":
                self.entries += [(kv.get("FDNAME", "stored"), f) for f in fds]
            else:
                for f in fds:
                    os.close(f)

    @property
    def fds(self):
        """The stored listening sockets (FDNAME snid-tcp)."""
        return [socket.socket(fileno=os.dup(f)) for n, f in self.entries
                if n == "snid-tcp"]

    def named(self, name):
        return [f for n, f in self.entries if n == name]

    def flush(self):
        """What a stop does: systemd closes every stored descriptor."""
        for _, f in self.entries:
            os.close(f)
        self.entries = []


class _Fd:
    """A raw descriptor where a socket object is expected (pass_fds)."""

    def __init__(self, fd):
        self.fd = fd

    def fileno(self):
        return self.fd


def _handover_start(case, tag):
    """snid with 2 workers under a fake fd store, its sockets stored."""
    store = _FdStore(tag)
    w = world(case, ("alpha",), extra=TWO + ["-metrics", "tcp:127.0.0.1:0",
              "-shutdown-timeout", "30"], start_snid=False)
    w.snid = case.snid(w.args, env=store.env)
    metrics_at(w)
    check(wait_until(lambda: store.drain() or len(store.fds) == 2, 5 * SLOW),
          "the fd store got %d sockets, want 2 (one per worker): %s" %
          (len(store.fds), store.got))
    return store, w


def _handover_term(w, store):
    """SIGTERM: the old process exits at once; returns its child's pid."""
    os.kill(w.snid.p.pid, signal.SIGTERM)
    rc = w.snid.p.wait(timeout=5 * SLOW)
    w.snid.stopped, w.snid.rc = True, rc
    check(rc == 0, "the old process exited %d" % rc)
    m = re.search(r"left to pid (\d+)", w.snid.text())
    check(m, "no handover line: %s" % w.snid.tail())
    store.drain()
    check(len(store.named("snid-handover")) == 1, "no handover pipe in the "
          "fd store: %s" % store.got)
    return int(m.group(1))


def _refused(port):
    """Whether a connection to 127.0.0.1:port is refused (nobody listens)."""
    try:
        connect("127.0.0.1", port, 2).close()
        return False
    except ConnectionRefusedError:
        return True


def _kill(pid):
    if pid is not None:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def test_workers_handover_keeps_every_socket(case):
    """The restart handover with 2 workers (SNID_HANDOVER=1 under a
    NOTIFY_SOCKET): every worker's SO_REUSEPORT socket goes to the fd store;
    on SIGTERM the process exits at once while a child (the workers parked,
    forked, restarted) finishes the connections open on both workers and,
    until the next snid accepts, accepts new ones too (no gap); the next
    snid takes both stored sockets back, one per worker, and tells the
    child through the handover pipe, which then stops accepting and ends."""
    store, w = _handover_start(case, "handover")
    held = []
    child = None
    try:
        _hold_on_both(w, held)
        per, _ = _spread(w)
        check(all(v > 0 for v in per), "no connection on one worker: %s" % per)
        child = _handover_term(w, store)
        # Between the two processes: the child serves a new client.
        port = store.fds[0].getsockname()[1]
        gap = connect("127.0.0.1", port, 5 * SLOW)
        gap.sendall(client_hello("alpha.test") + b"hold\n")
        line = read_line(gap, 5 * SLOW)
        check(line.startswith("backend=alpha"), "a client between the two "
              "processes was not served: %r" % line)
        held.append(gap)
        for s in held:
            s.sendall(b"still-here")
            s.shutdown(socket.SHUT_WR)
        for s in held:
            data, how = read_all(s, 5 * SLOW)
            check(data.startswith(b"recv=10 "), "a connection the child "
                  "took over stopped: %r (%s)" % (data[:40], how))
            s.close()
        held = []
        # The next start: both sockets and the child's pipe.
        args = [("tcp:127.0.0.1:%d" % port if a.startswith("tcp:127.0.0.1:")
                 and i > 0 and w.args[i - 1] == "-listen" else a)
                for i, a in enumerate(w.args)]
        pipe = store.named("snid-handover")[0]
        # A log of its own: the child still writes to the first one.
        p, log = _launch_fd(case, store.fds + [_Fd(pipe)],
                            [SNID] + args, names="snid-tcp:snid-tcp:"
                            "snid-handover", log_name="snid-next.log")
        nxt = Snid.adopt(case, p, log)
        check(wait_until(lambda: "ready:" in nxt.text() or
                         p.poll() is not None, 10 * SLOW),
              "the next snid did not start: %s" % nxt.tail())
        check("kept from the previous process" in nxt.text() and
              "closing fd" not in nxt.text(), "not both stored sockets "
              "taken: %s" % nxt.tail())
        check(wait_until(lambda: "the next snid accepts" in w.snid.text(),
                         5 * SLOW), "the child was not told: %s" %
              w.snid.tail())
        check(wait_until(lambda: not os.path.exists("/proc/%d" % child),
                         10 * SLOW), "the child did not exit after its "
              "connections finished: %s" % w.snid.tail())
        child = None
        n0 = len(nxt.conns())
        good_client(w, "alpha", port=port)
        check(wait_until(lambda: len(nxt.conns()) == n0 + 1, 5 * SLOW),
              "the next snid logged no connection: %s" % nxt.tail())
    finally:
        for s in held:
            s.close()
        _kill(child)


def test_workers_handover_child_stops_on_flush(case):
    """A stop, not a restart: systemd flushes the fd store, which closes
    the handover pipe's last write end; the child reads EOF, stops
    accepting at once (the port closes with the store) and finishes its
    connections."""
    store, w = _handover_start(case, "flush")
    child = None
    try:
        c = _held(w)
        child = _handover_term(w, store)
        port = store.fds[0].getsockname()[1]
        store.flush()
        check(wait_until(lambda: "fd store was flushed" in w.snid.text(),
                         5 * SLOW), "the child did not see the flush: %s" %
              w.snid.tail())
        # The workers close their listeners just after that line.
        check(wait_until(lambda: _refused(port), 5 * SLOW),
              "port %d still accepts after the stop" % port)
        c.sendall(b"still-here")
        c.shutdown(socket.SHUT_WR)
        data, how = read_all(c, 5 * SLOW)
        check(data.startswith(b"recv=10 "), "the held connection stopped: "
              "%r (%s)" % (data[:40], how))
        c.close()
        check(wait_until(lambda: not os.path.exists("/proc/%d" % child),
                         10 * SLOW), "the child did not exit: %s" %
              w.snid.tail())
        child = None
    finally:
        _kill(child)


def test_workers_stored_socket_without_reuseport_gets_siblings(case):
    """A socket in the fd store from a snid that ran one loop (bound
    without SO_REUSEPORT): with 2 workers, worker 0 takes it back, worker 1
    still binds a socket of its own on the address, and both serve."""
    w = world(case, ("alpha",), start_snid=False)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    port = s.getsockname()[1]
    args = [("tcp:127.0.0.1:%d" % port if a.startswith("tcp:127.0.0.1:")
             and i > 0 and w.args[i - 1] == "-listen" else a)
            for i, a in enumerate(w.args)]
    p, log = _launch_fd(case, [s], [SNID] + args + TWO +
                        ["-metrics", "tcp:127.0.0.1:0"], names="snid-tcp")
    s.close()
    w.snid = Snid.adopt(case, p, log)
    check(wait_until(lambda: "ready:" in w.snid.text() or p.poll() is not None,
                     10 * SLOW), "snid did not start: %s" % w.snid.tail())
    check("kept from the previous process" in w.snid.text(),
          "the stored socket was not taken: %s" % w.snid.tail())
    check("share one" not in w.snid.text(), "worker 1 got no socket of its "
          "own: %s" % w.snid.tail())
    metrics_at(w)
    _bad_hellos(port, 200)
    wait_until(lambda: len(w.snid.conns()) >= 200, 10 * SLOW)
    per, _ = _spread(w)
    check(all(v > 0 for v in per) and sum(per) == 200,
          "connections per worker %s of 200" % per)
