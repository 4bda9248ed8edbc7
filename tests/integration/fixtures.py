"""Fixtures shared by the case files: the loopback worlds they build
from snidtest's parts, and the clients and checks more than one area uses.
A case file imports from here and from snidtest, never from another case
file.

Loopback layout (works without root):
  dnsmasq on 127.0.0.1:D with the RECORDS below (other *.test names: NXDOMAIN)
  snid on 127.0.0.1:L, -backend-cidr ::1/128 -backend-cidr 127.0.0.2/32,
       -backend-port B (unless a case tests the default)
  backend "alpha" on [::1]:B      (alpha.test AAAA ::1)
  backend "beta"  on 127.0.0.2:B  (beta.test A 127.0.0.2: ::1 is the only IPv6
                                   loopback address, so the second service of
                                   "two names, two backends" sits on another
                                   IPv4 loopback address inside an allowed
                                   IPv4 prefix)
  decoys on addresses outside the allow-list (127.0.0.1:B, and [::1]:B when
  ::1 is not allowed) that record every connection.
No port is guessed: snid listens on port 0 and L is read from its "ready"
line; B, and L where a case must name it before snid starts, come from
free_port, which holds them.
"""

import hashlib
import os
import re
import socket
import subprocess
import time

from snidtest import (HttpBackend, PY, REGISTRY, SLOW, Fail, check, check_alert,
                      client_hello, connect, describe, exchange, free_port,
                      gen_sha, read_line, run, talk, wait_until, want_reply)

RECORDS = {
    "alpha.test": ["::1"],
    "beta.test": ["127.0.0.2"],
    "mapped.test": ["::ffff:127.0.0.1"],
    "v4only.test": ["127.0.0.1"],
    "linklocal.test": ["fe80::1"],
    "loop.test": ["::1"],
    "outside.test": ["2001:db8::dead"],
    "unspec.test": ["::"],
    "zero4.test": ["0.0.0.0"],
    "mcast.test": ["ff02::1"],
    "fallback.test": ["::1", "127.0.0.2"],
}
ADDR = {"alpha": "::1", "beta": "127.0.0.2"}
STD_CIDRS = ("::1/128", "127.0.0.2/32")


class World:
    """What world() built: w.dns, w.backends, w.args, w.snid, and the
    ports w.L (snid's 127.0.0.1 listener), w.B (the backends), w.dns_port.
    A port of snid's that it picks (a -listen on port 0) is named in
    w.picked: {attribute: (host, n)}, the n-th listener on host in the
    ready line; it reads 0 until snid is up."""

    snid = None

    def __init__(self):
        self.picked = {}

    def __getattr__(self, name):
        picked = self.__dict__.get("picked", {})
        if name not in picked:
            raise AttributeError(name)
        if self.snid is None:
            return 0
        host, n = picked[name]
        ports = self.snid.ports_of(host)
        check(len(ports) > n, "snid's ready line names no listener %d on %s: %s"
              % (n, host, self.snid.addrs))
        return ports[n]

    def start_snid(self, case, **kw):
        """Start snid with w.args."""
        self.snid = case.snid(self.args, **kw)
        return self.snid


def world(case, backends=("alpha",), tls=False, cidrs=STD_CIDRS, extra=(),
          backend_port=True, dns=None, start_snid=True, hold_listen=False):
    """dnsmasq + backends + snid on loopback, as described at the top.
    snid listens on 127.0.0.1:0 and w.L is the port it got; when the case
    must know L before snid starts (hold_listen, or backend_port=False: the
    backends listen on L too), L is held by free_port."""
    w = World()
    if backend_port and not hold_listen:
        w.picked["L"] = ("127.0.0.1", 0)
    else:
        w.L = free_port()
    w.B = free_port() if backend_port else w.L
    w.dns = dns or case.dnsmasq(RECORDS)
    w.dns_port = w.dns.port
    w.backends = {}
    for name in backends:
        if tls:
            w.backends[name] = case.tls_backend(name, ADDR[name], w.B, cert_name=name + ".test")
        else:
            w.backends[name] = case.raw_backend(name, ADDR[name], w.B)
    w.args = ["-listen", "tcp:127.0.0.1:%d" % w.L]
    for c in cidrs:
        w.args += ["-backend-cidr", c]
    if backend_port:
        w.args += ["-backend-port", str(w.B)]
    w.args += ["-dns-server", "127.0.0.1:%d" % w.dns_port, "-log-level", "debug"]
    w.args += list(extra)
    if start_snid:
        w.start_snid(case)
    return w


def backend_field(name, port):
    """Accepted spellings of a backend address in the access line."""
    a = ADDR[name]
    if ":" in a:
        return {"[%s]:%d" % (a, port)}
    return {"%s:%d" % (a, port), "[::ffff:%s]:%d" % (a, port)}


def start_snid_with_nofile(case, w, limit):
    """Start w's snid with RLIMIT_NOFILE soft and hard at limit."""
    import resource

    def low_fd_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    return w.start_snid(case, preexec_fn=low_fd_limit)


def good_client(w, name="alpha", sni=None, host="127.0.0.1", port=None, hello=None):
    """A raw client whose hello names `sni` (or the given hello) must reach
    backend `name`, which must receive the hello byte for byte.  Returns
    the client's port.  (w only gives the default port, w.L.)"""
    hello = hello or client_hello(sni or name + ".test")
    s = connect(host, port or w.L, 5 * SLOW)
    try:
        cport = s.getsockname()[1]
        s.sendall(hello)
        line = read_line(s, 5 * SLOW)
        want = want_reply(name, hello)
        check(line == want, "sni %s: expected reply %r, got %r" % (sni or name, want, line))
    finally:
        s.close()
    return cport


def refused(w, hello, desc, outcome, what, timeout=5.0):
    """Send hello; expect exactly the alert `desc` then close, and one access
    line with `outcome` (a word or a set of words)."""
    got, how, cport = talk("127.0.0.1", w.L, hello, timeout * SLOW)
    check(not got.startswith(b"backend="), "%s: routed to a backend, which said %r"
          % (what, got.split(b"\n")[0].decode(errors="replace")))
    check(how in ("eof", "reset"), "%s: connection not closed within %.0fs (got %s)"
          % (what, timeout * SLOW, describe(got)))
    check_alert(got, desc, what)
    c = w.snid.conn_for(cport)
    words = {outcome} if isinstance(outcome, str) else set(outcome)
    check(c["outcome"] in words, "%s: outcome=%s, want %s; line: %s" %
          (what, c["outcome"], "|".join(sorted(words)), c["line"]))
    return c


def no_accepts(w, what, settle=0.3):
    time.sleep(settle)
    for name, b in w.backends.items():
        if hasattr(b, "accepts"):
            check(not b.accepts(), "%s: backend %s saw a connection: %s" %
                  (what, name, b.accepts()))


def recv_stream(s, first, down, seed, what):
    """Read the rest of a download of `down` bytes of gen(seed) (`first`
    already read) and check that it arrived whole and unchanged."""
    h = hashlib.sha256(first)
    got = len(first)
    while got < down:
        try:
            b = s.recv(min(1 << 20, down - got))
        except socket.timeout:
            raise Fail("%s: stalled at %d of %d bytes" % (what, got, down))
        check(b, "%s: cut at %d of %d bytes" % (what, got, down))
        h.update(b)
        got += len(b)
    check(h.hexdigest() == gen_sha(seed, down), "%s: the bytes differ" % what)


class NotifySocket:
    """systemd's NOTIFY_SOCKET, played by a datagram socket with an abstract
    name (as systemd may hand out): what snid sends piles up in .got; .env
    is the environment that names it."""

    def __init__(self, tag):
        name = "snid-test-%s-%d" % (tag, os.getpid())
        self.rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.rx.bind("\0" + name)
        self.rx.settimeout(0.2)
        self.env = dict(os.environ, NOTIFY_SOCKET="@" + name)
        self.got = []

    def drain(self):
        """Take what came, waiting 0.2 s for more; None (for wait_until)."""
        for _ in range(10000):
            try:
                self.got.append(self.rx.recv(4096).decode())
            except socket.timeout:
                return


def start_decoy(case, addr, port):
    """A recording backend outside the allow-list, proven reachable by one
    direct connection (so 'it saw nothing' means something)."""
    d = case.raw_backend("decoy", addr, port)
    reply, _, _ = exchange(addr, port, client_hello("control.test"), 5, shut_wr=True)
    check(reply.startswith(b"backend=decoy"), "decoy not reachable directly")
    wait_until(lambda: len(d.accepts()) == 1, 2)
    check(len(d.accepts()) == 1, "decoy control connection not recorded")
    return d


def http_world(case, backends=("alpha", "beta"), cidrs=None, extra=(), dns=None,
               listen_extra=(), wrap="http:"):
    """dnsmasq + HTTP backends on port L + snid on http:tcp:127.0.0.1:L."""
    kw = {"cidrs": cidrs} if cidrs is not None else {}
    w = world(case, backends=(), backend_port=False, dns=dns, start_snid=False, **kw)
    w.backends = {n: HttpBackend(case, n, ADDR[n], w.L) for n in backends}
    tcp = "tcp:127.0.0.1:%d" % w.L
    w.args = [(wrap + a if a == tcp else a) for a in w.args]
    check(wrap + tcp in w.args, "world() no longer listens on %s: %s" % (tcp, w.args))
    w.args += list(listen_extra) + list(extra)
    w.start_snid(case)
    return w


def req(host, path="/", method="GET", version="1.1", headers=(), body=b"", close=True):
    lines = ["%s %s HTTP/%s" % (method, path, version)]
    if host is not None:
        lines.append("Host: %s" % host)
    lines += list(headers)
    if body:
        lines.append("Content-Length: %d" % len(body))
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# Every outcome word the access log can have (outcome.c's table).
OUTCOMES = ("ok", "no-sni", "bad-name", "nxdomain", "denied", "dns-error",
            "connect-failed", "timeout", "bad-hello", "not-tls", "reset",
            "shutdown", "limited", "denied-client")
DNS_RESULTS = ("ok", "cached", "nxdomain", "error", "timeout", "merged",
               "negative", "stale")
HISTOGRAMS = ("snid_dns_lookup_seconds", "snid_connect_seconds")
BOUNDS = ("0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
          "0.5", "1", "2.5", "5", "+Inf")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def metrics_world(case, backends=("alpha",), extra=()):
    """world() with -metrics on 127.0.0.1:0: w.M is the port snid got."""
    w = world(case, backends, extra=["-metrics", "tcp:127.0.0.1:0"] + list(extra))
    metrics_at(w)
    return w


def metrics_at(w):
    """w.M and w.url from snid's "metrics: serving" line."""
    m = re.search(r"metrics: serving /metrics on \S+ \(127\.0\.0\.1:(\d+)\)", w.snid.text())
    check(m, "no metrics: serving line naming its port: %s" % w.snid.tail())
    w.M = int(m.group(1))
    w.url = "http://127.0.0.1:%d/metrics" % w.M


def parse_exposition(body):
    """{'name{labels}': float}; checks every sample has HELP and TYPE first."""
    out, typed = {}, {}
    helped = set()
    for line in body.split("\n"):
        if not line:
            continue
        if line.startswith("# HELP "):
            helped.add(line.split()[2])
            continue
        if line.startswith("# TYPE "):
            _, _, name, t = line.split(" ", 3)
            check(name in helped, "TYPE before HELP for %s" % name)
            typed[name] = t
            continue
        m = SAMPLE.match(line)
        check(m, "not a sample line: %r" % line)
        name = m.group(1)
        fam = re.sub(r"_(bucket|sum|count)$", "", name) if name not in typed else name
        check(fam in typed, "sample %s without # TYPE" % name)
        key = name + (m.group(2) or "")
        check(key not in out, "sample %s twice" % key)
        out[key] = float(m.group(3))
    return out, typed


def scrape(w, path="/metrics"):
    """curl the endpoint: (status, headers dict, body)."""
    rc, out, err = run(["curl", "-sS", "-i", "--max-time", str(10 * SLOW),
                        "http://127.0.0.1:%d%s" % (w.M, path)], timeout=20 * SLOW)
    check(rc == 0, "curl %s failed (rc=%d): %s" % (path, rc, err.strip()))
    head, _, body = out.partition("\r\n\r\n")
    lines = head.split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for h in lines[1:]:
        k, _, v = h.partition(":")
        headers[k.strip().lower()] = v.strip()
    check(int(headers.get("content-length", -1)) == len(body.encode()),
          "Content-Length %s but %d bytes of body" %
          (headers.get("content-length"), len(body.encode())))
    return status, headers, body


def metrics(w):
    status, headers, body = scrape(w)
    check(status == 200, "GET /metrics: status %d" % status)
    check(headers.get("content-type", "").startswith("text/plain; version=0.0.4"),
          "Content-Type %r" % headers.get("content-type"))
    m, typed = parse_exposition(body)
    for o in OUTCOMES:
        check('snid_connections_total{outcome="%s"}' % o in m,
              "no snid_connections_total for outcome %s" % o)
    for r in DNS_RESULTS:
        check('snid_dns_lookups_total{result="%s"}' % r in m,
              "no snid_dns_lookups_total for result %s" % r)
    for h in HISTOGRAMS:
        check(typed.get(h) == "histogram", "%s is not a histogram" % h)
        prev = 0
        for b in BOUNDS:
            v = m.get('%s_bucket{le="%s"}' % (h, b))
            check(v is not None and v >= prev, "%s buckets not cumulative at le=%s" % (h, b))
            prev = v
        check(m[h + "_count"] == prev, "%s_count != +Inf bucket" % h)
    for name, t in (("snid_connections_accepted_total", "counter"),
                    ("snid_connections_active", "gauge"),
                    ("snid_open_fds", "gauge")):
        check(typed.get(name) == t and name in m, "%s missing or not a %s" % (name, t))
    return m


def delta(a, b, key):
    return b[key] - a[key]


# --- network namespaces (root only) -------------------------------------------

def ip(*args, ns=None):
    """Run ip(8), in namespace ns if given; a failure fails the case."""
    argv = (["ip", "netns", "exec", ns] if ns else []) + ["ip"] + list(args)
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
    check(r.returncode == 0, "%s: %s" % (" ".join(argv), r.stderr.decode().strip()))


def topology(tag, client=True):
    """Namespaces TAG-vps-PID and TAG-home-PID joined by a veth
    (2001:db8:1::1 / ::2; the VPS routes the home /64 2001:db8:0:1::/64
    there), and with client=True TAG-cli-PID joined to the VPS by a second
    veth (192.0.2.1 / 192.0.2.2).  They are registered before they exist,
    so the registry deletes them at the end of the case, failed or not.
    Returns (vps, home, cli or None)."""
    pid = str(__import__("os").getpid())
    vps, home = "%s-vps-%s" % (tag, pid), "%s-home-%s" % (tag, pid)
    cli = "%s-cli-%s" % (tag, pid) if client else None
    k = tag[-1]                         # interface names: at most 15 bytes
    for ns in filter(None, (vps, home, cli)):
        REGISTRY.netns.append(ns)       # first: a signal in between leaks nothing
        ip("netns", "add", ns)
        ip("link", "set", "lo", "up", ns=ns)
    links = [(vps, "v%s%s" % (k, pid), home, "h%s%s" % (k, pid))]
    if client:
        links.append((vps, "w%s%s" % (k, pid), cli, "c%s%s" % (k, pid)))
    for a, da, b, db in links:
        ip("link", "add", da, "netns", a, "type", "veth", "peer", "name", db, "netns", b)
    ip("addr", "add", "2001:db8:1::1/64", "dev", links[0][1], "nodad", ns=vps)
    ip("addr", "add", "2001:db8:1::2/64", "dev", links[0][3], "nodad", ns=home)
    if client:
        ip("addr", "add", "192.0.2.1/24", "dev", links[1][1], ns=vps)
        ip("addr", "add", "192.0.2.2/24", "dev", links[1][3], ns=cli)
    for a, da, b, db in links:
        ip("link", "set", da, "up", ns=a)
        ip("link", "set", db, "up", ns=b)
    ip("-6", "route", "add", "2001:db8:0:1::/64", "via", "2001:db8:1::2", ns=vps)
    return vps, home, cli


def nat46_routes(vps, home):
    """The nat46 routes the README tells the operator to add: the whole /96
    is local on the VPS, and the home side routes it back over the tunnel
    (here: the veth); the service 2001:db8:0:1:1::10 is on home's lo."""
    ip("addr", "add", "2001:db8:0:1:1::10/128", "dev", "lo", ns=home)
    ip("-6", "route", "add", "local", "64:ff9b:1::/96", "dev", "lo", ns=vps)
    ip("-6", "route", "add", "64:ff9b:1::/96", "via", "2001:db8:1::1", ns=home)


def probe_from(ns, addr, port, timeout=10):
    """The reply line a hello for probe.test gets at addr:port, sent from
    namespace ns: (rc, stdout, stderr)."""
    from snidtest import helper_argv
    return run(helper_argv("probe", addr, port), netns=ns, timeout=timeout)


# --- socket activation and the fd store -------------------------------------

_LAUNCHER = ("import os,sys\n"
             "fds=[int(x) for x in sys.argv[1].split(',')]\n"
             "for i,f in enumerate(fds):\n"
             "    os.dup2(f, 100+i)\n"
             "for i in range(len(fds)):\n"
             "    os.dup2(100+i, 3+i); os.set_inheritable(3+i, True); os.close(100+i)\n"
             "for f in fds:\n"
             "    if not 3 <= f < 3+len(fds): os.close(f)\n"
             "os.environ['LISTEN_PID']=str(os.getpid())\n"
             "os.environ['LISTEN_FDS']=str(len(fds))\n"
             "for kv in sys.argv[2].split(';'):\n"
             "    if kv:\n"
             "        k,v=kv.split('=',1); os.environ[k]=v\n"
             "os.execvp(sys.argv[3], sys.argv[3:])\n")


def launch_activated(case, fds, env_fix, argv, log_name="snid.log"):
    """Start argv (snid) with the descriptors of fds (objects with
    fileno()) as 3, 4, ... and LISTEN_* set as socket activation does,
    then patched by env_fix (e.g. LISTEN_FDNAMES, or a wrong LISTEN_PID).
    Output goes to case.dir/log_name.  Returns (Popen, log path); the
    child execs snid in place, so its pid is snid's."""
    log = os.path.join(case.dir, log_name)
    f = open(log, "ab")
    p = case.spawn("launcher", [PY, "-c", _LAUNCHER,
                                ",".join(str(s.fileno()) for s in fds),
                                ";".join("%s=%s" % kv for kv in env_fix.items())]
                   + argv, stdout=f, stderr=f, pass_fds=[s.fileno() for s in fds])
    return p, log
