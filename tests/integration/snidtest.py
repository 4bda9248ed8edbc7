"""Integration harness for snid: the real parts a test case needs.

Every case builds its own little world with a `Case` object: a dnsmasq with
host records, backends (real `openssl s_server`, or the raw TCP backend of
this file for byte-level checks), a UDP DNS responder that can delay or drop
answers, and snid itself (under valgrind when SNID_VALGRIND=1).  Everything
a case starts is registered by PID and killed at the end of the case, and
again at exit, on an exception or on a signal.

This file is also the program behind the helper processes (`raw-backend`,
`dns-responder`, `probe`), so that backends run as real separate processes
and can be started inside a network namespace with `ip netns exec`.

Python standard library only.
"""

import atexit
import hashlib
import json
import os
import pwd
import random
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
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


def wait_until(pred, timeout, step=0.02):
    """Poll pred() until true or timeout; returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


def free_port(hosts=("127.0.0.1", "::1", "127.0.0.2")):
    """A TCP port free on every host given (and UDP on 127.0.0.1).

    Drawn below the kernel's ephemeral range (ip_local_port_range), not
    from it: a port the kernel handed out once can be handed out again to
    any outgoing connection (snid's to a backend, a client's) before the
    test binds it, which made "Address already in use" flakes under load."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    hi = max(low, 11000)
    for _ in range(100):
        port = random.randrange(10000, hi)
        ok = True
        for h in hosts:
            for st in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                fam = socket.AF_INET6 if ":" in h else socket.AF_INET
                t = socket.socket(fam, st)
                try:
                    t.bind((h, port))
                except OSError:
                    ok = False
                finally:
                    t.close()
        if ok:
            return port
    raise Fail("no free port found")


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


class Snid:
    LINE = re.compile(r"\bconn client=(?P<client>\S+) sni=(?P<sni>\S+) "
                      r"backend=(?P<backend>\S+) up=(?P<up>\d+) down=(?P<down>\d+) "
                      r"duration=(?P<duration>\d+\.\d+) outcome=(?P<outcome>\S+)$")

    def __init__(self, case, args, netns=None, name="snid", env=None):
        self.case, self.args, self.netns = case, args, netns
        # A second snid in the same case gets files of its own: reopening the
        # first one's log would truncate it under the running process.
        n, base = 1, name
        while os.path.exists(os.path.join(case.dir, name + ".log")):
            n += 1
            name = "%s-%d" % (base, n)
        self.log = os.path.join(case.dir, name + ".log")
        self.vglog = os.path.join(case.dir, name + ".valgrind.log")
        if not os.access(SNID, os.X_OK):
            raise Fail("no executable snid at %s (run `make snid`)" % SNID)
        argv = [SNID] + args
        if VALGRIND:
            argv = ["valgrind", "--error-exitcode=99", "--leak-check=full",
                    "--errors-for-leak-kinds=definite",
                    "--show-leak-kinds=definite", "--log-file=" + self.vglog] + argv
        if netns:
            argv = ["ip", "netns", "exec", netns] + argv
        self.argv = argv
        self.f = open(self.log, "wb")
        self.p = case.spawn(name, argv, stdout=self.f, stderr=self.f, env=env)
        self.stopped = False
        self.rc = None
        ok = wait_until(lambda: "info: ready: " in self.text() or
                        self.p.poll() is not None, 10 * SLOW)
        if self.p.poll() is not None or not ok:
            raise Fail("snid did not start (rc=%s): %s" %
                       (self.p.poll(), self.tail()))

    def text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def tail(self, n=8):
        lines = self.text().strip().splitlines()[-n:]
        return " | ".join(lines) if lines else "(empty log)"

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

    def alive(self):
        return self.p.poll() is None

    def check_alive(self):
        check(self.alive(), "snid exited (rc=%s); log: %s%s" %
              (self.p.poll(), self.tail(), self.valgrind_summary()))

    def valgrind_summary(self):
        if not VALGRIND:
            return ""
        try:
            with open(self.vglog, errors="replace") as f:
                lines = [l for l in f.read().splitlines() if l.strip("= 0123456789")]
        except OSError:
            return ""
        return "; valgrind: " + " | ".join(lines[-12:])

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


class Backend:
    """Common to both kinds: where it listens."""
    addr = port = name = None

    @property
    def hp(self):
        return hostport(self.addr, self.port)


class TlsBackend(Backend):
    """openssl s_server -HTTP with its own self-signed cert, serving
    /whoami = "backend=NAME"."""

    def __init__(self, case, name, addr, port, netns=None, cert_name=None):
        self.name, self.addr, self.port = name, addr, port
        self.cert, key = make_cert(case.run_dir, cert_name or name)
        d = os.path.join(case.dir, "www-" + name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "whoami"), "w") as f:
            f.write("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                    "backend=%s\n" % name)
        argv = ["openssl", "s_server", "-accept", self.hp, "-cert", self.cert,
                "-key", key, "-HTTP", "-quiet"]
        if ":" in addr:
            argv.append("-6")
        if netns:
            argv = ["ip", "netns", "exec", netns] + argv
        self.log = os.path.join(case.dir, "s_server-%s.log" % name)
        f = open(self.log, "wb")
        self.p = case.spawn("s_server " + name, argv, stdout=f, stderr=f, cwd=d)
        if netns is None:
            # Ready when it accepts; a TCP connect that sends nothing is a
            # harmless failed handshake for s_server.
            def up():
                try:
                    connect(addr, port, 0.5).close()
                    return True
                except OSError:
                    return self.p.poll() is not None
            wait_until(up, 10)
        else:
            time.sleep(0.5)
        check(self.p.poll() is None, "s_server %s did not start: %s" %
              (name, open(self.log, errors="replace").read()[-300:]))


class RawBackend(Backend):
    """The raw TCP backend of this file (see raw_backend_main), a separate
    process; its log of connections is a JSON-lines file."""

    def __init__(self, case, name, addr, port, netns=None):
        self.name, self.addr, self.port = name, addr, port
        self.logfile = os.path.join(case.dir, "raw-%s-%s-%d.jsonl" % (
            name, re.sub(r"[^0-9a-f.]", "_", addr), port))
        argv = [PY, os.path.abspath(__file__), "raw-backend", addr, str(port),
                name, self.logfile]
        if netns:
            argv = ["ip", "netns", "exec", netns] + argv
        self.p = case.spawn("raw " + name, argv, stdout=subprocess.PIPE,
                            stderr=open(self.logfile[:-6] + ".err", "wb"))
        r, _, _ = select.select([self.p.stdout], [], [], 10)
        line = self.p.stdout.readline() if r else b""
        check(line.startswith(b"READY"), "raw backend %s did not start (%r)" % (name, line))

    def events(self):
        try:
            with open(self.logfile) as f:
                return [json.loads(l) for l in f if l.strip()]
        except OSError:
            return []

    def accepts(self):
        return [e for e in self.events() if e["ev"] == "accept"]

    def done(self):
        return [e for e in self.events() if e["ev"] == "done"]


class DnsResponder:
    """UDP DNS server with per-name behaviour; rules map a name to
    'aaaa:ADDR', 'delay:SEC:ADDR', 'drop', 'nxdomain' or 'servfail'."""

    def __init__(self, case, port, rules):
        self.port = port
        self.logfile = os.path.join(case.dir, "dns-responder.jsonl")
        argv = [PY, os.path.abspath(__file__), "dns-responder", str(port),
                self.logfile] + ["%s=%s" % kv for kv in rules.items()]
        self.p = case.spawn("dns-responder", argv, stdout=subprocess.PIPE,
                            stderr=open(os.path.join(case.dir, "dns.err"), "wb"))
        r, _, _ = select.select([self.p.stdout], [], [], 10)
        line = self.p.stdout.readline() if r else b""
        check(line.startswith(b"READY"), "dns responder did not start (%r)" % line)

    def events(self):
        try:
            with open(self.logfile) as f:
                return [json.loads(l) for l in f if l.strip()]
        except OSError:
            return []


class Dnsmasq:
    def __init__(self, case, records, port=None, netns=None, addr="127.0.0.1",
                 extra=()):
        """records: {name: [addr, ...]}; names under .test not listed get
        NXDOMAIN (--local=/test/), nothing is forwarded anywhere; extra:
        more dnsmasq options (e.g. --srv-host=...)."""
        self.port = port or free_port(("127.0.0.1",))
        self.addr = addr
        d = case.dir
        self.logfile = os.path.join(d, "dnsmasq.log")
        argv = ["dnsmasq", "--no-daemon", "--keep-in-foreground",
                "--port=%d" % self.port, "--listen-address=" + addr,
                "--bind-interfaces", "--no-resolv", "--no-hosts", "--no-poll",
                "--conf-file=/dev/null", "--pid-file=" + os.path.join(d, "dnsmasq.pid"),
                "--log-queries", "--log-facility=" + self.logfile,
                "--local=/test/", "--cache-size=0",
                # Keep our own user: dnsmasq must write its log in our temp dir.
                "--user=" + pwd.getpwuid(os.geteuid()).pw_name]
        for name, addrs in records.items():
            argv.append("--host-record=%s,%s" % (name, ",".join(addrs)))
        argv += list(extra)
        if netns:
            argv = ["ip", "netns", "exec", netns] + argv
        self.p = case.spawn("dnsmasq", argv, stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(d, "dnsmasq.err"), "wb"))
        if netns is None:
            probe = next(iter(records))
            ok = wait_until(lambda: dns_query(addr, self.port, probe, "AAAA", 0.2)
                            or self.p.poll() is not None, 10)
            check(ok and self.p.poll() is None, "dnsmasq did not answer: %s" %
                  open(os.path.join(d, "dnsmasq.err"), errors="replace").read()[-300:])
        else:
            time.sleep(0.5)
            check(self.p.poll() is None, "dnsmasq died: %s" %
                  open(os.path.join(d, "dnsmasq.err"), errors="replace").read()[-300:])

    def queries(self):
        """Names asked, as logged by dnsmasq ('query[AAAA] name from ...')."""
        try:
            with open(self.logfile, errors="replace") as f:
                return re.findall(r"query\[(\w+)\] (\S+) from", f.read())
        except OSError:
            return []


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

    def tls_backend(self, name, addr, port, **kw):
        return TlsBackend(self, name, addr, port, **kw)

    def raw_backend(self, name, addr, port, **kw):
        return RawBackend(self, name, addr, port, **kw)

    def dns_responder(self, rules, port=None):
        return DnsResponder(self, port or free_port(("127.0.0.1",)), rules)

    def snid(self, args, **kw):
        s = Snid(self, args, **kw)
        self.snids.append(s)
        return s

    def finish(self):
        """Every snid still running must exit 0 on SIGTERM."""
        for s in self.snids:
            if not s.stopped:
                s.stop()


# ---------------------------------------------------------------------------
# Helper process: raw TCP backend.
#
# Per connection: read a whole ClientHello (any record framing), answer
# "backend=NAME hello_sha256=HEX hello_len=N\n", then read one command line:
#   (EOF)                 close
#   bulk UP DOWN SEED     send DOWN bytes of gen(SEED) while reading to EOF,
#                         then "recv=N sha256=HEX\n" and close
#   halfclose DOWN SEED   read to EOF first, then DOWN bytes + the same trailer
#   slow DOWN SECONDS     DOWN bytes of gen(7) in 20 steps over SECONDS, then
#                         read to EOF, trailer, close
#   stall SECONDS         read nothing for SECONDS, then read to EOF, trailer
#   reset                 close with SO_LINGER 0 (the client sees a RST)
#   hold                  read to EOF, then close
# Each connection is logged ("accept", then "done" with what was received).
# ---------------------------------------------------------------------------

def raw_backend_main(addr, port, name, logfile):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    ls.bind((addr, int(port)))
    ls.listen(1024)
    lock = threading.Lock()
    logf = open(logfile, "a")

    def log(**ev):
        with lock:
            logf.write(json.dumps(ev) + "\n")
            logf.flush()

    def recv_to_eof(c, h):
        n = 0
        while True:
            b = c.recv(1 << 20)
            if not b:
                return n
            h.update(b)
            n += len(b)

    def serve(c, peer):
        c.settimeout(60)
        ev = {"ev": "done", "peer": peer}
        try:
            data = b""
            while True:
                k = hello_complete_len(data)
                if k is not None:
                    break
                b = c.recv(65536)
                if not b:
                    break
                data += b
            if k is None or k < 0:
                ev.update(error="no hello", got=data[:64].hex(), got_len=len(data))
                return
            hello, rest = data[:k], data[k:]
            ev.update(hello_sha=hashlib.sha256(hello).hexdigest(), hello_len=k)
            c.sendall(("backend=%s hello_sha256=%s hello_len=%d\n" %
                       (name, ev["hello_sha"], k)).encode())
            while b"\n" not in rest and len(rest) < 200:
                b = c.recv(200)
                if not b:
                    break
                rest += b
            if b"\n" not in rest:
                ev.update(cmd="", recv=len(rest))
                return
            line, rest = rest.split(b"\n", 1)
            cmd = line.decode().split()
            ev["cmd"] = line.decode()
            h = hashlib.sha256(rest)
            if cmd[0] == "bulk":
                up, down, seed = int(cmd[1]), int(cmd[2]), int(cmd[3])

                def sender():
                    for ch in gen_chunks(seed, down):
                        c.sendall(ch)
                t = threading.Thread(target=sender)
                t.start()
                n = len(rest) + recv_to_eof(c, h)
                t.join(120)
            elif cmd[0] == "halfclose":
                down, seed = int(cmd[1]), int(cmd[2])
                n = len(rest) + recv_to_eof(c, h)
                for ch in gen_chunks(seed, down):
                    c.sendall(ch)
            elif cmd[0] == "slow":
                down, secs = int(cmd[1]), float(cmd[2])
                chunks = list(gen_chunks(7, down, max(1, down // 20)))
                for ch in chunks:
                    c.sendall(ch)
                    time.sleep(secs / len(chunks))
                n = len(rest) + recv_to_eof(c, h)
            elif cmd[0] == "stall":
                time.sleep(float(cmd[1]))
                n = len(rest) + recv_to_eof(c, h)
            elif cmd[0] == "reset":
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                ev.update(recv=len(rest))
                return
            else:  # hold
                n = len(rest) + recv_to_eof(c, h)
            ev.update(recv=n, recv_sha=h.hexdigest())
            c.sendall(("recv=%d sha256=%s\n" % (n, h.hexdigest())).encode())
        except OSError as e:
            ev.update(error=repr(e))
        finally:
            log(**ev)
            c.close()

    sys.stdout.write("READY\n")
    sys.stdout.flush()
    while True:
        c, peer = ls.accept()
        log(ev="accept", peer="%s:%s" % (peer[0], peer[1]))
        threading.Thread(target=serve, args=(c, "%s:%s" % (peer[0], peer[1])),
                         daemon=True).start()


# ---------------------------------------------------------------------------
# Helper process: UDP DNS responder with per-name behaviour.
# ---------------------------------------------------------------------------

def dns_responder_main(port, logfile, rules):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", int(port)))
    table = {}
    for r in rules:
        k, v = r.split("=", 1)
        table[k.lower()] = v
    lock = threading.Lock()
    logf = open(logfile, "a")

    def log(**ev):
        ev["t"] = time.time()
        with lock:
            logf.write(json.dumps(ev) + "\n")
            logf.flush()

    def answer(pkt, peer, rcode, addr):
        qid, flags, qname, qtype, end = dns_parse_question(pkt)
        rd = flags & 0x0100
        ans = b""
        if addr is not None:
            fam, rtype = (socket.AF_INET6, 28) if ":" in addr else (socket.AF_INET, 1)
            if rtype == qtype:
                rdata = socket.inet_pton(fam, addr)
                ans = b"\xc0\x0c" + struct.pack("!HHIH", rtype, 1, 5, len(rdata)) + rdata
        hdr = struct.pack("!HHHHHH", qid, 0x8400 | rd | rcode, 1, 1 if ans else 0, 0, 0)
        s.sendto(hdr + pkt[12:end] + ans, peer)
        log(ev="answered", name=qname, qtype=qtype, rcode=rcode)

    sys.stdout.write("READY\n")
    sys.stdout.flush()
    while True:
        pkt, peer = s.recvfrom(4096)
        try:
            qid, flags, qname, qtype, end = dns_parse_question(pkt)
        except (IndexError, struct.error):
            continue
        rule = table.get(qname.lower().rstrip("."), "nxdomain")
        log(ev="query", name=qname, qtype=qtype, rule=rule)
        kind = rule.split(":", 1)
        if kind[0] == "drop":
            continue
        if kind[0] == "nxdomain":
            answer(pkt, peer, 3, None)
        elif kind[0] == "servfail":
            answer(pkt, peer, 2, None)
        elif kind[0] == "aaaa":
            answer(pkt, peer, 0, kind[1])
        elif kind[0] == "delay":
            secs, addr = rule.split(":", 2)[1:]
            threading.Timer(float(secs), answer, (pkt, peer, 0, addr)).start()


def probe_main(addr, port):
    """Connect, send a hello for 'probe.test', print the reply line."""
    s = connect(addr, int(port), 5)
    s.sendall(client_hello("probe.test"))
    print(read_line(s, 5))
    s.close()


if __name__ == "__main__":
    cmd = sys.argv[1]
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    if cmd == "raw-backend":
        raw_backend_main(*sys.argv[2:6])
    elif cmd == "dns-responder":
        dns_responder_main(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif cmd == "probe":
        probe_main(sys.argv[2], sys.argv[3])
    else:
        sys.exit("unknown helper " + cmd)
