"""Hardening cases: snid must not be stopped by its own log or its own
listeners.  The loopback world of fixtures.py.

- A stderr that nobody reads (a pipe left full) must not freeze the event
  loop: lines that cannot be written at once are dropped and counted, and
  a "N log lines dropped" line says so once writing works again.
- A name that resolves to snid's own listening address, with the backend
  port defaulting to the listening port, must be refused (alert 112,
  outcome denied) instead of making snid connect to itself until it runs
  out of descriptors; a backend on another port of the same host still
  works.
"""

import fcntl
import os
import re
import resource
import subprocess
import time

from snidtest import (Skip, Snid, check, check_alert, client_hello, connect, describe,
                      read_all, SLOW, SNID, VALGRIND)
from fixtures import world, good_client, refused


# --- a stderr nobody reads ----------------------------------------------------

class PipeSnid(Snid):
    """snid whose stderr is a pipe that the case reads only when it wants
    to: between reads the pipe fills up and stays full."""

    def __init__(self, case, args):
        self.buf = b""
        super().__init__(case, args, name="snid.pipe")

    def start(self, argv, netns=None, timeout=10.0, **kw):
        self.argv = argv
        self.p = self.case.spawn(self.file_name, argv, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, **kw)
        fd = self.p.stderr.fileno()
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
        self.wait_ready(timeout)
        return self

    def ready_text(self):
        self.drain()        # only while starting: then the case decides
        return self.text()

    def drain(self):
        """Read whatever the pipe holds now (never waits)."""
        fd = self.p.stderr.fileno()
        for _ in range(10000):
            try:
                b = os.read(fd, 65536)
            except BlockingIOError:
                break
            if not b:
                break
            self.buf += b
        with open(self.log, "wb") as f:
            f.write(self.buf)

    def text(self):
        return self.buf.decode(errors="replace")


def test_unread_stderr_does_not_block_the_loop(case):
    w = world(case, start_snid=False)
    w.snid = PipeSnid(case, w.args)
    case.snids.append(w.snid)
    n = 700 if VALGRIND else 2000
    hello = client_hello()             # no SNI: refused, one access line each
    t0 = time.monotonic()
    for i in range(n):
        s = connect("127.0.0.1", w.L, 5 * SLOW)
        try:
            s.sendall(hello)
            got, how = read_all(s, 5 * SLOW)
        finally:
            s.close()
        check(how in ("eof", "reset") and got[:1] == b"\x15",
              "connection %d of %d (stderr unread): no alert and close within "
              "%.0fs (got %s, %s): is the loop blocked writing its log?" %
              (i + 1, n, 5 * SLOW, describe(got), how))
    case.note("%d refused connections in %.1fs" % (n, time.monotonic() - t0))
    # The pipe is still full: a good client must be served at once.
    t0 = time.monotonic()
    good_client(w)
    secs = time.monotonic() - t0
    check(secs < 1.0 * SLOW, "good client took %.2fs with stderr full" % secs)
    # Now read the pipe: the lines written are whole lines...
    w.snid.drain()
    first = w.snid.text()
    check(len(first) > 60000, "expected a full pipe (64 KiB), read %d bytes" % len(first))
    # ...and the next line is preceded by the count of those dropped.
    good_client(w)
    text = ""
    for _ in range(int(50 * SLOW)):
        w.snid.drain()
        text = w.snid.text()[len(first):]
        if "log lines dropped" in text:
            break
        time.sleep(0.1)
    m = re.search(r"warning: (\d+) log lines dropped \(stderr was full\)", text)
    check(m, "no 'N log lines dropped' line after reading the pipe; got %r" % text[:300])
    # Each refused connection wrote an access line: read, or counted.  (A
    # notice may also come mid-way: a short line can still fit in the last
    # page of a full pipe.)
    every = w.snid.text()
    seen = every.count(" outcome=no-sni")
    dropped = sum(int(k) for k in re.findall(r"warning: (\d+) log lines dropped", every))
    check(seen + dropped >= n, "%d connections, but %d access lines read "
          "and %d counted as dropped" % (n, seen, dropped))
    case.note("%d access lines read, %d dropped" % (seen, dropped))
    check(text.index(m.group(0)) < text.index("outcome=ok"),
          "the dropped count must come before the next line: %r" % text[:400])
    for line in w.snid.text().splitlines():
        check(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S", line),
              "a torn or odd log line: %r" % line[:200])
    w.snid.check_alive()


# --- snid's own listeners are never a backend ----------------------------------

def _fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


def test_backend_is_own_listener_refused(case):
    # -backend-port defaults to the listening port; v4only.test is 127.0.0.1,
    # the very address snid listens on, and the allow-list lets it through.
    w = world(case, backends=(), cidrs=("127.0.0.1/32",), backend_port=False)
    pid = w.snid.p.pid
    if not VALGRIND:
        # Bound the damage should the loop happen (snid raised its soft
        # limit to the hard one, which may be a million).
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (256, 256))
    before = _fds(pid)
    for i, name in enumerate(("v4only.test", "mapped.test")):
        refused(w, client_hello(name), 112, "denied",
                "%s resolves to snid's own listener" % name, timeout=5.0)
        check(len(w.snid.conns()) == i + 1,
              "snid accepted connections from itself: %d access lines: %s" %
              (len(w.snid.conns()), [c["line"] for c in w.snid.conns()[:4]]))
    after = _fds(pid)
    check(after <= before + 1, "descriptors grew from %d to %d" % (before, after))
    check(re.search(r"warning: backend 127\.0\.0\.1:%d is snid's own listener" % w.L,
                    w.snid.text()),
          "no warning naming the loop; log: %s" % w.snid.tail())
    # Rate-limited: the second refusal within a second is not logged again.
    check(w.snid.text().count("own listener") <= (2 if VALGRIND else 1),
          "the loop warning is not rate-limited: %d lines" %
          w.snid.text().count("own listener"))
    w.snid.check_alive()


def test_local_backend_on_other_port_served(case):
    # The same host, another port: legitimate (e.g. -backend-port 8443 to a
    # local service), so the self check must compare ports too.
    w = world(case, backends=(), cidrs=("127.0.0.1/32",))
    w.backends["v4"] = case.raw_backend("v4", "127.0.0.1", w.B)
    c = w.snid.conn_for(good_client(w, name="v4", sni="v4only.test"))
    check(c["outcome"] == "ok" and c["backend"] == "127.0.0.1:%d" % w.B,
          "access line: %s" % c["line"])
    check("own listener" not in w.snid.text(), "refused as its own listener: %s"
          % w.snid.tail())


def test_refusal_alert_delivered_after_extra_bytes(case):
    """A client that sent 64 KiB after its hello (more than snid reads)
    still reads the alert, then EOF, not ECONNRESET: snid shuts down its
    side and drains before it closes (a close with unread bytes is a RST,
    which lets the client's stack drop the unread alert).  Once refused
    right after the hello (bad-name), once after the lookup (nxdomain)."""
    w = world(case)
    extra = b"\x17\x03\x03\x40\x00" + bytes(range(256)) * 256
    for sni, outcome in (("-zz.test", "bad-name"), ("nope.test", "nxdomain")):
        s = connect("127.0.0.1", w.L, 5 * SLOW)
        try:
            cport = s.getsockname()[1]
            s.sendall(client_hello(sni) + extra)
            time.sleep(0.3)		# the refusal and any RST are there by now
            got, how = read_all(s, 5 * SLOW)
        finally:
            s.close()
        check_alert(got, 112, "%s after 64 KiB more" % sni)
        check(how == "eof", "%s: the alert was followed by %s, want eof" % (sni, how))
        c = w.snid.conn_for(cport)
        check(c["outcome"] == outcome, c["line"])
    w.snid.check_alive()


def test_check_warns_backend_cidr_covering_local_route(case):
    """Root, in a network namespace of its own: with the nat46 /96 routed
    `local` inside the /64 given to -backend-cidr, -check warns naming both
    prefixes (clients could reach the VPS's own services) and still exits
    0; a prefix that covers no local route gets no warning."""
    if os.geteuid() != 0:
        raise Skip("needs root (creates a network namespace)")
    script = ("ip link set lo up && ip route add local 2001:db8:1:2:3::/96 dev lo && "
              "exec \"$0\" -check -listen tcp:443 -backend-cidr 2001:db8:1:2::/64 "
              "-backend-cidr 2001:db8:9::/48")
    p = subprocess.run(["unshare", "--net", "sh", "-c", script, SNID],
                       capture_output=True, text=True, timeout=30 * SLOW)
    check(p.returncode == 0, "-check exited %d: %s" % (p.returncode, p.stderr))
    warn = [l for l in p.stderr.splitlines() if "warning" in l]
    check(len(warn) == 1 and "-backend-cidr 2001:db8:1:2::/64 covers 2001:db8:1:2:3::/96" in warn[0],
          "want one warning naming the /64 and the local /96, got: %r" % p.stderr)
    check("backend-cidr 2001:db8:1:2::/64" in p.stdout, "-check printed no configuration: %r"
          % p.stdout)
