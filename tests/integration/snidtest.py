"""Integration harness for snid: the real parts a test case needs.

Every case builds its own little world with a `Case` object: a dnsmasq with
host records, backends (real `openssl s_server`, or the servers of
servers.py for byte-level checks), a UDP DNS responder that can delay or
drop answers, and snid itself (under valgrind when SNID_VALGRIND=1).  Each
of them is a Proc: started through the registry, up at a line of its log,
killed by PID at the end of the case, and again at exit, on an exception
or on a signal.  Ports are never guessed: snid and the servers bind port 0
and report the port they got; what must be named before it starts gets a
port that the kernel picked and that is held for it (free_port).

The worlds the cases build from these parts are in fixtures.py.

Python standard library only.
"""

import atexit
import contextlib
import hashlib
import json
import os
import pwd
import random
import resource
import re
import signal
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SNID = os.environ.get("SNID", os.path.join(ROOT, "snid"))
VALGRIND = os.environ.get("SNID_VALGRIND") == "1"
# Bounds on waits are multiplied by this under valgrind (startup and CPU
# work get ~20x slower there; timers do not, so only upper bounds grow).
SLOW = 4.0 if VALGRIND else 1.0
PY = sys.executable or "python3"


class Fail(Exception):
    """A case failed; the message says why."""


class Skip(Exception):
    """A case cannot run here; the message says why."""


def check(cond, msg):
    if not cond:
        raise Fail(msg)


# ---------------------------------------------------------------------------
# TLS bytes: building ClientHellos, framing records, reading alerts.
# ---------------------------------------------------------------------------

def _u8(n):
    return struct.pack("!B", n)


def _u16(n):
    return struct.pack("!H", n)


def _u24(n):
    return struct.pack("!I", n)[1:]


def _ext(etype, body):
    return _u16(etype) + _u16(len(body)) + body


def hello_message(sni=None, alpn=None, pad=0, sni_bytes=None):
    """A syntactically valid TLS 1.3-style ClientHello handshake message
    (type + length + body).  `sni` is a str; `sni_bytes` raw name bytes."""
    body = b"\x03\x03" + os.urandom(32)
    body += _u8(32) + os.urandom(32)                      # legacy session id
    suites = [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030]
    body += _u16(2 * len(suites)) + b"".join(_u16(s) for s in suites)
    body += b"\x01\x00"                                   # compression: null
    exts = b""
    name = sni_bytes if sni_bytes is not None else (
        sni.encode() if sni is not None else None)
    if name is not None:
        entry = b"\x00" + _u16(len(name)) + name
        exts += _ext(0, _u16(len(entry)) + entry)
    exts += _ext(10, _u16(4) + _u16(0x001D) + _u16(0x0017))      # groups
    exts += _ext(13, _u16(4) + _u16(0x0403) + _u16(0x0804))      # sig algs
    exts += _ext(43, _u8(4) + _u16(0x0304) + _u16(0x0303))       # versions
    exts += _ext(51, _u16(36) + _u16(0x001D) + _u16(32) + os.urandom(32))
    if alpn:
        lst = b"".join(_u8(len(p)) + p.encode() for p in alpn)
        exts += _ext(16, _u16(len(lst)) + lst)
    if pad:
        exts += _ext(21, b"\x00" * pad)
    body += _u16(len(exts)) + exts
    return b"\x01" + _u24(len(body)) + body


def frame(msg, size=16384, version=0x0301):
    """Wrap a handshake message in handshake records of at most `size`."""
    out = b""
    for i in range(0, len(msg), size):
        chunk = msg[i:i + size]
        out += b"\x16" + _u16(version) + _u16(len(chunk)) + chunk
    return out


def client_hello(sni=None, **kw):
    return frame(hello_message(sni, **kw))


def parse_records(data):
    """[(type, version, payload)] for the whole records in data."""
    recs, i = [], 0
    while i + 5 <= len(data):
        ln = struct.unpack("!H", data[i + 3:i + 5])[0]
        if i + 5 + ln > len(data):
            break
        recs.append((data[i], struct.unpack("!H", data[i + 1:i + 3])[0],
                     data[i + 5:i + 5 + ln]))
        i += 5 + ln
    return recs


def hello_complete_len(data):
    """Length of the prefix of data holding a whole ClientHello (possibly
    spread over several records), or None if more bytes are needed, or -1
    if this is not a handshake record stream."""
    if not data:
        return None
    if data[0] != 0x16:
        return -1
    payload, i = b"", 0
    while True:
        if len(data) < i + 5:
            return None
        if data[i] != 0x16:
            return -1
        ln = struct.unpack("!H", data[i + 3:i + 5])[0]
        if len(data) < i + 5 + ln:
            return None
        payload += data[i + 5:i + 5 + ln]
        i += 5 + ln
        if len(payload) >= 4:
            need = 4 + int.from_bytes(payload[1:4], "big")
            if len(payload) >= need:
                return i
        if i > 70000:
            return -1


def want_reply(name, hello):
    """What the raw, unix and PROXY backends answer to a hello."""
    return "backend=%s hello_sha256=%s hello_len=%d" % (
        name, hashlib.sha256(hello).hexdigest(), len(hello))


def ok_body(name, raw):
    """What the HTTP backend answers to a request."""
    return ("backend=%s sha256=%s len=%d\n" % (name, hashlib.sha256(raw).hexdigest(),
                                                len(raw))).encode()


def alert(desc):
    return b"\x15\x03\x03\x00\x02\x02" + bytes([desc])


ALERT_NAMES = {112: "unrecognized_name", 80: "internal_error",
               50: "decode_error", 47: "illegal_parameter"}


def describe(data, limit=40):
    if len(data) > limit:
        return "%d bytes %s..." % (len(data), data[:limit].hex())
    return "%d bytes %s" % (len(data), data.hex())


def check_alert(got, desc, what):
    check(got == alert(desc),
          "%s: expected exactly the alert %s (%s), got %s" %
          (what, alert(desc).hex(), ALERT_NAMES.get(desc, desc),
           describe(got)))


# ---------------------------------------------------------------------------
# Deterministic bulk data: a pseudo-random block whose length is not a power
# of two, repeated, so that a lost, duplicated or reordered chunk of any
# pipe-sized length changes the hash.
# ---------------------------------------------------------------------------

_BLOCKS = {}


def _block(seed):
    if seed not in _BLOCKS:
        _BLOCKS[seed] = random.Random(seed).randbytes(1000003)
    return _BLOCKS[seed]


def gen_chunks(seed, n, chunk=262144):
    blk = _block(seed)
    mv = memoryview(blk + blk[:chunk])
    pos, left = 0, n
    while left > 0:
        k = min(chunk, left)
        yield mv[pos:pos + k]
        pos = (pos + k) % len(blk)
        left -= k


def gen_sha(seed, n):
    h = hashlib.sha256()
    for c in gen_chunks(seed, n):
        h.update(c)
    return h.hexdigest()


# ---------------------------------------------------------------------------
# Processes: every process a case starts is registered here and killed by
# PID at the end (of the case, of the run, on a signal).
# ---------------------------------------------------------------------------

class Registry:
    def __init__(self):
        self.procs = []          # (name, Popen)
        self.netns = []          # namespace names to delete
        self.holds = []          # sockets holding a port (free_port)

    def add(self, name, p):
        self.procs.append((name, p))
        return p

    def kill_all(self):
        for name, p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 3
        for name, p in reversed(self.procs):
            try:
                p.wait(timeout=max(0.05, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                try:
                    p.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    pass
        self.procs = []
        for t in self.holds:
            t.close()
        self.holds = []
        for ns in reversed(self.netns):
            subprocess.run(["ip", "netns", "del", ns], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=10)
        self.netns = []


REGISTRY = Registry()
atexit.register(REGISTRY.kill_all)


_SPAWNING = [False]     # inside Popen + registration: defer the signal
_PENDING = []


def _on_signal(signum, frame):
    # Unwind through every finally: the runner kills what was started and
    # removes its temp dir; atexit is the second net.  A signal that lands
    # between fork and registration would leak the child, so it waits.
    signal.signal(signum, signal.SIG_IGN)
    if _SPAWNING[0]:
        _PENDING.append(signum)
        return
    raise KeyboardInterrupt("signal %d" % signum)


def install_signal_handlers():
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _on_signal)


@contextlib.contextmanager
def more_files(want):
    """RLIMIT_NOFILE raised to at least want (or the hard limit, if lower and
    not ours to raise) for a case holding many sockets; snid inherits it.
    Put back afterwards for the cases that follow.  A container's default
    soft limit is 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        if soft < want:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
            except (ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def wait_until(pred, timeout, step=0.02):
    """Poll pred() until true or timeout; returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


def free_port(hosts=("127.0.0.1", "::1", "127.0.0.2")):
    """A TCP port that is free on every host given (and UDP on 127.0.0.1),
    for a program that must be told its port before it starts (a backend
    named in snid's flags or in DNS records, dnsmasq).  Not guessed: the
    kernel picks it (port 0 on the first host), and it is held until the
    end of the case by sockets bound with SO_REUSEADDR but not listening.
    Those keep everyone else off the port (the kernel hands it to no
    outgoing connection, a bind without SO_REUSEADDR fails) while the
    program it is meant for, which sets SO_REUSEADDR (snid, the servers of
    servers.py, openssl s_server, dnsmasq), can bind and listen on it.
    Guessing and closing made "Address already in use" flakes under load."""
    for _ in range(50):
        held, port = [], 0
        try:
            for h in hosts:
                t = socket.socket(socket.AF_INET6 if ":" in h else socket.AF_INET)
                held.append(t)
                t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if ":" in h:
                    t.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                t.bind((h, port))
                port = t.getsockname()[1]
            if "127.0.0.1" in hosts:
                # dnsmasq's UDP: probed only; a held UDP socket could take
                # its datagrams.
                u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    u.bind(("127.0.0.1", port))
                finally:
                    u.close()
        except OSError:
            for t in held:
                t.close()
            continue
        REGISTRY.holds += held
        return port
    raise Fail("no port free on all of %s" % (hosts,))


def hostport(addr, port):
    return "[%s]:%d" % (addr, port) if ":" in addr else "%s:%d" % (addr, port)


# ---------------------------------------------------------------------------
# DNS: a tiny client (readiness checks) and the packet helpers for the
# responder.
# ---------------------------------------------------------------------------

QTYPE = {"A": 1, "AAAA": 28}


def dns_encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += _u8(len(label)) + label.encode()
    return out + b"\x00"


def dns_parse_question(pkt):
    """(id, flags, qname, qtype, end offset of the question)."""
    qid, flags, qd = struct.unpack("!HHH", pkt[:6])
    i, labels = 12, []
    while True:
        ln = pkt[i]
        if ln == 0:
            i += 1
            break
        labels.append(pkt[i + 1:i + 1 + ln].decode("ascii", "replace"))
        i += 1 + ln
    qtype = struct.unpack("!H", pkt[i:i + 2])[0]
    return qid, flags, ".".join(labels), qtype, i + 4


def dns_query(server, port, name, qtype="AAAA", timeout=1.0):
    """(rcode, [addresses]) or None on timeout."""
    qid = random.randrange(65536)
    pkt = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + \
        dns_encode_name(name) + _u16(QTYPE[qtype]) + _u16(1)
    fam = socket.AF_INET6 if ":" in server else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        s.sendto(pkt, (server, port))
        resp = s.recv(4096)
    except (socket.timeout, OSError):
        return None
    finally:
        s.close()
    rid, flags, qd, an = struct.unpack("!HHHH", resp[:8])
    _, _, _, _, i = dns_parse_question(resp)
    addrs = []
    for _ in range(an):
        if resp[i] & 0xC0 == 0xC0:
            i += 2
        else:
            while resp[i]:
                i += 1 + resp[i]
            i += 1
        rtype, _, _, rdlen = struct.unpack("!HHIH", resp[i:i + 10])
        rdata = resp[i + 10:i + 10 + rdlen]
        i += 10 + rdlen
        if rtype == 28:
            addrs.append(socket.inet_ntop(socket.AF_INET6, rdata))
        elif rtype == 1:
            addrs.append(socket.inet_ntop(socket.AF_INET, rdata))
    return flags & 0xF, addrs


# ---------------------------------------------------------------------------
# Client helpers.
# ---------------------------------------------------------------------------

def connect(host, port, timeout=5.0):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def read_all(s, timeout, limit=1 << 30):
    """Read until EOF, reset or timeout: (data, 'eof'|'reset'|'timeout')."""
    data = bytearray()
    deadline = time.monotonic() + timeout
    while len(data) < limit:
        left = deadline - time.monotonic()
        if left <= 0:
            return bytes(data), "timeout"
        s.settimeout(left)
        try:
            b = s.recv(1 << 20)
        except socket.timeout:
            return bytes(data), "timeout"
        except ConnectionResetError:
            return bytes(data), "reset"
        if not b:
            return bytes(data), "eof"
        data += b
    return bytes(data), "limit"


def read_line(s, timeout):
    data = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Fail("no reply line within %.1fs (got %s)" % (timeout, describe(data)))
        s.settimeout(left)
        try:
            b = s.recv(1)
        except socket.timeout:
            continue
        except ConnectionResetError:
            raise Fail("connection reset before a reply line (got %s)" % describe(data))
        if not b:
            raise Fail("EOF before a reply line (got %s)" % describe(data))
        data += b
    return data.decode(errors="replace").strip()


def talk(host, port, data, timeout=5.0):
    """Send data, read until the peer closes (or timeout): (reply, how,
    the client's own port, to find its access line)."""
    s = connect(host, port, timeout)
    try:
        cport = s.getsockname()[1]
        s.sendall(data)
        got, how = read_all(s, timeout)
    finally:
        s.close()
    return got, how, cport


def exchange(host, port, data, timeout=5.0, shut_wr=False):
    """Send data, read to EOF; returns (reply, how, seconds)."""
    t0 = time.monotonic()
    s = connect(host, port, timeout)
    try:
        s.sendall(data)
        if shut_wr:
            s.shutdown(socket.SHUT_WR)
        got, how = read_all(s, timeout)
    finally:
        s.close()
    return got, how, time.monotonic() - t0


def run(argv, timeout=20, input=None, netns=None):
    """Run a client to completion: (rc, stdout, stderr) as text."""
    if netns:
        argv = ["ip", "netns", "exec", netns] + argv
    try:
        p = subprocess.run(argv, input=input, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise Fail("%s did not finish within %ss" % (argv[0], timeout)) from e
    return (p.returncode, p.stdout.decode(errors="replace"),
            p.stderr.decode(errors="replace"))


# ---------------------------------------------------------------------------
# A case: its temp dir and everything it starts.
# ---------------------------------------------------------------------------

_CERTS = {}


def make_cert(tmpdir, name):
    """A self-signed cert for `name` (made once per run, by openssl req)."""
    if name in _CERTS:
        return _CERTS[name]
    d = os.path.join(tmpdir, "certs")
    os.makedirs(d, exist_ok=True)
    cert, key = os.path.join(d, name + ".crt"), os.path.join(d, name + ".key")
    rc, out, err = run(["openssl", "req", "-x509", "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", key, "-out", cert, "-days", "2",
                        "-subj", "/CN=" + name,
                        "-addext", "subjectAltName=DNS:" + name], timeout=20)
    check(rc == 0, "openssl req failed: " + err[-300:])
    _CERTS[name] = (cert, key)
    return cert, key


class PortInUse(Fail):
    """A process could not bind its port: the caller may retry elsewhere."""


class Proc:
    """One process a case starts, after relayd's regress Proc.pm: started
    through the registry (so it is killed by PID at the end of the case, on
    any exit and on a signal), its stdout and stderr in a log file of its
    own in the case's dir, up once that log (or `ready_file`) shows the
    line `ready` (a regex; its match is kept in self.up).  A process that
    exits first, or does not get there within `timeout` seconds (longer
    under valgrind), fails the case with the tail of its log;
    "Address already in use" fails it with PortInUse.

    Subclasses set `ready`, build argv and call start(); events() reads the
    JSON-lines file `jsonl` that the servers.py helpers write."""

    ready = None
    ready_file = None
    jsonl = None

    def __init__(self, case, name):
        self.case, self.name = case, name
        self.p, self.up, self.stopped, self.rc = None, None, False, None
        # A second process of the same name gets files of its own:
        # reopening the first one's log would truncate it under it.
        n, base = 1, name
        while os.path.exists(os.path.join(case.dir, name + ".log")):
            n += 1
            name = "%s-%d" % (base, n)
        self.file_name = name
        self.log = os.path.join(case.dir, name + ".log")

    def start(self, argv, netns=None, timeout=10.0, **kw):
        if netns:
            argv = ["ip", "netns", "exec", netns] + argv
        self.argv = argv
        self.f = open(self.log, "wb")
        self.p = self.case.spawn(self.file_name, argv, stdout=self.f,
                                 stderr=self.f, **kw)
        if self.ready is not None:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout):
        rx = re.compile(self.ready, re.M)

        def up():
            self.up = rx.search(self.ready_text())
            return self.up or self.p.poll() is not None
        wait_until(up, timeout * SLOW)
        if self.up is None or self.p.poll() is not None:
            cls = PortInUse if "Address already in use" in self.text() else Fail
            raise cls("%s did not start (rc=%s): %s" %
                      (self.name, self.p.poll(), self.tail()))

    def ready_text(self):
        """Where the ready line shows: the log, or ready_file."""
        return self.text() if self.ready_file is None else _read(self.ready_file)

    def text(self):
        return _read(self.log)

    def tail(self, n=8):
        lines = self.text().strip().splitlines()[-n:]
        return " | ".join(lines) if lines else "(empty log)"

    def alive(self):
        return self.p.poll() is None

    def kill(self):
        """SIGKILL now (a start to retry elsewhere); reaped by the registry."""
        self.stopped = True
        if self.p.poll() is None:
            self.p.kill()
        try:
            self.p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def events(self):
        try:
            with open(self.jsonl) as f:
                return [json.loads(l) for l in f if l.strip()]
        except OSError:
            return []

    def accepts(self):
        return [e for e in self.events() if e.get("ev") == "accept"]

    def done(self):
        return [e for e in self.events() if e.get("ev") == "done"]


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def valgrind_argv(vglog):
    """The valgrind prefix of SNID_VALGRIND=1 runs: exit 99 on a memory
    error or anything definitely lost."""
    return ["valgrind", "--error-exitcode=99", "--leak-check=full",
            "--errors-for-leak-kinds=definite",
            "--show-leak-kinds=definite", "--log-file=" + vglog]


class Snid(Proc):
    """snid under test (under valgrind when SNID_VALGRIND=1), up at its
    "ready" line, which names every socket as bound: a -listen on port 0
    is read back from there (addrs, port, port_of), never guessed.
    `prefix` runs it through a wrapper (setpriv ...)."""

    ready = r"info: ready: (\d+) listening socket\(s\):?(.*)$"
    LINE = re.compile(r"\bconn client=(?P<client>\S+) sni=(?P<sni>\S+) "
                      r"backend=(?P<backend>\S+) up=(?P<up>\d+) down=(?P<down>\d+) "
                      r"duration=(?P<duration>\d+\.\d+) outcome=(?P<outcome>\S+)$")

    def __init__(self, case, args, netns=None, name="snid", env=None, prefix=(),
                 start=True, **kw):
        super().__init__(case, name)
        self.args, self.netns = args, netns
        self.vglog = os.path.join(case.dir, self.file_name + ".valgrind.log")
        if not os.access(SNID, os.X_OK):
            raise Fail("no executable snid at %s (run `make snid`)" % SNID)
        if start:
            self.start(list(prefix) + self.command(args), netns=netns, env=env, **kw)

    def command(self, args):
        argv = [SNID] + list(args)
        return valgrind_argv(self.vglog) + argv if VALGRIND else argv

    @classmethod
    def adopt(cls, case, p, log):
        """A Snid for a snid started by someone else (a launcher that execs
        it in place, so p.pid is snid's pid): stopped and checked at the
        end of the case like any other."""
        s = cls(case, [], name=os.path.basename(log)[:-4], start=False)
        s.p, s.log = p, log
        s.vglog = log[:-4] + ".valgrind.log"
        case.snids.append(s)
        return s

    @property
    def addrs(self):
        """The bound addresses the ready line names ("127.0.0.1:40123")."""
        m = self.up or re.search(self.ready, self.text(), re.M)
        return m.group(2).split() if m else []

    def ports_of(self, host="127.0.0.1"):
        """The ports of the listeners on host, in the ready line's order
        (the order of the -listen flags)."""
        return [int(a.rpartition(":")[2]) for a in self.addrs
                if a.rpartition(":")[0].strip("[]") == host]

    def port_of(self, host="127.0.0.1"):
        ports = self.ports_of(host)
        check(ports, "snid's ready line names no %s socket: %s" % (host, self.addrs))
        return ports[0]

    @property
    def port(self):
        """The port of the first TCP listener."""
        for a in self.addrs:
            if not a.startswith("unix:"):
                return int(a.rpartition(":")[2])
        raise Fail("snid's ready line names no TCP socket: %s" % self.addrs)

    def conns(self):
        out = []
        for line in self.text().splitlines():
            m = self.LINE.search(line)
            if m:
                d = m.groupdict()
                d["up"], d["down"] = int(d["up"]), int(d["down"])
                d["duration"] = float(d["duration"])
                d["line"] = line
                out.append(d)
        return out

    def wait_conns(self, n, timeout=5.0):
        wait_until(lambda: len(self.conns()) >= n, timeout * SLOW)
        return self.conns()

    def conn_for(self, client_port, timeout=5.0):
        """The access line of the connection from 127.0.0.1:client_port."""
        def find():
            return [c for c in self.conns()
                    if c["client"].rsplit(":", 1)[-1] == str(client_port)]
        got = wait_until(find, timeout * SLOW)
        check(got, "no access line for client port %d within %.0fs; log: %s" %
              (client_port, timeout * SLOW, self.tail()))
        check(len(got) == 1, "%d access lines for client port %d: %s" %
              (len(got), client_port, [c["line"] for c in got]))
        return got[0]

    def check_alive(self):
        check(self.alive(), "snid exited (rc=%s); log: %s%s" %
              (self.p.poll(), self.tail(), self.valgrind_summary()))

    def valgrind_summary(self):
        if not VALGRIND:
            return ""
        lines = [l for l in _read(self.vglog).splitlines() if l.strip("= 0123456789")]
        return "; valgrind: " + " | ".join(lines[-12:]) if lines else ""

    def stop(self, timeout=10.0):
        """SIGTERM; snid must exit 0 (under valgrind: no memory errors, nothing
        definitely lost).  Returns the exit status."""
        if self.stopped:
            return self.rc
        self.stopped = True
        rc = self.p.poll()
        if rc is not None:
            self.rc = rc
            raise Fail("snid had already exited (rc=%s) before SIGTERM; log: %s%s"
                       % (rc, self.tail(), self.valgrind_summary()))
        os.kill(self.p.pid, signal.SIGTERM)
        try:
            self.rc = self.p.wait(timeout=timeout * SLOW)
        except subprocess.TimeoutExpired:
            raise Fail("snid did not exit within %.0fs of SIGTERM; log: %s"
                       % (timeout * SLOW, self.tail()))
        check(self.rc == 0, "snid exited %d after SIGTERM (want 0%s); log: %s%s" %
              (self.rc, ", 99 = valgrind found errors" if VALGRIND else "",
               self.tail(), self.valgrind_summary()))
        return self.rc


def helper_argv(name, *args):
    """argv of a servers.py helper, through the one dispatcher (run)."""
    return [PY, "-B", os.path.join(HERE, "run"), "--helper", name] + [str(a) for a in args]


class Backend(Proc):
    """A server of ours or openssl's on addr:port; port 0: any free port,
    read back from its ready line."""
    addr = port = None
    ready = r"^READY port=(\d+)"

    def serve(self, argv, netns=None, **kw):
        self.start(argv, netns=netns, **kw)
        if self.up.group(1):
            self.port = int(self.up.group(1))
        return self

    @property
    def hp(self):
        return hostport(self.addr, self.port)


def _jsonl_name(case, *parts):
    return os.path.join(case.dir, re.sub(r"[^0-9A-Za-z.-]", "_", "-".join(
        str(p) for p in parts)) + ".jsonl")


class TlsBackend(Backend):
    """openssl s_server -HTTP with its own self-signed cert, serving
    /whoami = "backend=NAME"; up at its "ACCEPT" line."""
    ready = r"^ACCEPT(?: .*:(\d+))?\s*$"    # the port only when it picked one

    def __init__(self, case, name, addr, port, netns=None, cert_name=None):
        super().__init__(case, "s_server-" + name)
        self.addr, self.port = addr, port
        self.cert, key = make_cert(case.run_dir, cert_name or name)
        d = os.path.join(case.dir, "www-" + name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "whoami"), "w") as f:
            f.write("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                    "backend=%s\n" % name)
        argv = ["openssl", "s_server", "-accept", hostport(addr, port),
                "-cert", self.cert, "-key", key, "-HTTP"]
        if ":" in addr:
            argv.append("-6")
        self.serve(argv, netns=netns, cwd=d)


class RawBackend(Backend):
    """The raw TCP backend of servers.py; its log of connections is a
    JSON-lines file."""

    def __init__(self, case, name, addr, port, netns=None):
        super().__init__(case, "raw-" + name)
        self.name, self.addr = name, addr
        self.jsonl = self.logfile = _jsonl_name(case, "raw", name, addr, port)
        self.serve(helper_argv("raw-backend", addr, port, name, self.jsonl), netns=netns)


class HttpBackend(Backend):
    """The HTTP backend of servers.py: logs each request's bytes."""

    def __init__(self, case, name, addr, port):
        super().__init__(case, "http-" + name)
        self.name, self.addr = name, addr
        self.jsonl = self.logfile = _jsonl_name(case, "http", name, port)
        self.serve(helper_argv("http-backend", addr, port, name, self.jsonl))

    def requests(self):
        return [bytes.fromhex(e["raw"]) for e in self.events() if e["ev"] == "request"]


class UnixBackend(Backend):
    """The unix-socket backend of servers.py (unix mode's services)."""

    def __init__(self, case, path, name):
        super().__init__(case, "unix-" + name)
        self.path, self.name = path, name
        self.jsonl = self.logfile = _jsonl_name(case, "unix", name)
        self.serve(helper_argv("unix-backend", path, name, self.jsonl))


class PPBackend(Backend):
    """The PROXY-protocol backend of servers.py at `where` (unix:PATH or
    tcp:ADDR:PORT); logs each header's fields."""

    def __init__(self, case, where, name):
        super().__init__(case, "pp-" + name)
        self.name = name
        self.jsonl = self.logfile = _jsonl_name(case, "pp", name)
        self.serve(helper_argv("pp-backend", where, name, self.jsonl))

    def events(self, n=1, timeout=5.0):
        """At least n events, waiting up to timeout for them."""
        wait_until(lambda: len(Proc.events(self)) >= n, timeout * SLOW)
        return Proc.events(self)


class DnsResponder(Backend):
    """UDP DNS server on 127.0.0.1 with per-name behaviour; rules map a
    name to 'aaaa:ADDR', 'delay:SEC:ADDR', 'drop', 'nxdomain' or
    'servfail'.  Port 0: any free port."""

    def __init__(self, case, port, rules):
        super().__init__(case, "dns-responder")
        self.addr = "127.0.0.1"
        self.jsonl = self.logfile = os.path.join(case.dir, self.file_name + ".jsonl")
        self.serve(helper_argv("dns-responder", port, self.jsonl,
                               *["%s=%s" % kv for kv in rules.items()]))


class Dnsmasq(Proc):
    """dnsmasq with host records.  dnsmasq cannot report a port it picked,
    so the port is held (free_port) and a start that still meets
    "Address already in use" is retried on another port, a bounded number
    of times; with a given port (a namespace's :53) it is not."""
    ready = r"started, version"

    def __init__(self, case, records, port=None, netns=None, addr="127.0.0.1",
                 extra=()):
        """records: {name: [addr, ...]}; names under .test not listed get
        NXDOMAIN (--local=/test/), nothing is forwarded anywhere; extra:
        more dnsmasq options (e.g. --srv-host=...)."""
        self.addr = addr
        for attempt in range(1 if port else 5):
            super().__init__(case, "dnsmasq")
            self.port = port or free_port((addr,))
            try:
                self._start(case, records, netns, extra)
                return
            except PortInUse:
                self.kill()
                if port or attempt == 4:
                    raise

    def _start(self, case, records, netns, extra):
        d = case.dir
        self.ready_file = self.logfile = os.path.join(d, self.file_name + ".queries")
        argv = ["dnsmasq", "--no-daemon", "--keep-in-foreground",
                "--port=%d" % self.port, "--listen-address=" + self.addr,
                "--bind-interfaces", "--no-resolv", "--no-hosts", "--no-poll",
                "--conf-file=/dev/null",
                "--pid-file=" + os.path.join(d, self.file_name + ".pid"),
                "--log-queries", "--log-facility=" + self.logfile,
                "--local=/test/", "--cache-size=0",
                # Keep our own user: dnsmasq must write its log in our temp dir.
                "--user=" + pwd.getpwuid(os.geteuid()).pw_name]
        for name, addrs in records.items():
            argv.append("--host-record=%s,%s" % (name, ",".join(addrs)))
        argv += list(extra)
        self.start(argv, netns=netns)
        if netns is None:
            # "started" is logged once its sockets are bound; an answer is
            # the proof that the port is really ours.
            probe = next(iter(records))
            ok = wait_until(lambda: dns_query(self.addr, self.port, probe, "AAAA", 0.2)
                            or self.p.poll() is not None, 10 * SLOW)
            check(ok and self.p.poll() is None, "dnsmasq did not answer: %s" % self.tail())

    def queries(self):
        """Names asked, as logged by dnsmasq ('query[AAAA] name from ...')."""
        return re.findall(r"query\[(\w+)\] (\S+) from", _read(self.logfile))


class Case:
    def __init__(self, name, run_dir):
        self.name, self.run_dir = name, run_dir
        self.dir = os.path.join(run_dir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.snids = []
        self.notes = []

    def spawn(self, name, argv, **kw):
        _SPAWNING[0] = True
        try:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, **kw)
            REGISTRY.add(name, p)
        finally:
            _SPAWNING[0] = False
        if _PENDING:
            raise KeyboardInterrupt("signal %d" % _PENDING[0])
        return p

    def note(self, msg):
        self.notes.append(msg)

    # Builders -----------------------------------------------------------
    def dnsmasq(self, records, **kw):
        return Dnsmasq(self, records, **kw)

    def tls_backend(self, name, addr, port=0, **kw):
        return TlsBackend(self, name, addr, port, **kw)

    def raw_backend(self, name, addr, port=0, **kw):
        return RawBackend(self, name, addr, port, **kw)

    def dns_responder(self, rules, port=0):
        return DnsResponder(self, port or 0, rules)

    def snid(self, args, **kw):
        s = Snid(self, args, **kw)
        self.snids.append(s)
        return s

    def finish(self):
        """Every snid still running must exit 0 on SIGTERM."""
        for s in self.snids:
            if not s.stopped:
                s.stop()
