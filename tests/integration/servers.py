"""The programs behind the helper processes a case starts: run as
`tests/integration/run --helper NAME ARGS...` (see SERVERS at the end), so
that backends are real separate processes that can also be started inside
a network namespace with `ip netns exec`.

Every server binds first (port 0: any free port), then prints one line
`READY port=N` on stdout (which the harness's Proc waits for in its log),
then serves until SIGTERM.  What each connection did is appended to a
JSON-lines file, one object a line, for the case to read (Proc.events).

Python standard library only.
"""

import hashlib
import json
import os
import signal
import socket
import struct
import sys
import threading
import time

from snidtest import (check, client_hello, connect, describe, dns_parse_question,
                      gen_chunks, hello_complete_len, ok_body, read_line,
                      want_reply)


class JsonLog:
    """Appends one JSON object a line, from any thread."""

    def __init__(self, path, stamp=False):
        self.f = open(path, "a")
        self.lock = threading.Lock()
        self.stamp = stamp

    def __call__(self, **ev):
        if self.stamp:
            ev["t"] = time.time()
        with self.lock:
            self.f.write(json.dumps(ev) + "\n")
            self.f.flush()


def listen(where, port=None, backlog=64):
    """A listening socket: `where` is unix:PATH, or an address with `port`
    (IPv6 sockets are IPv6-only, like snid's)."""
    if where.startswith("unix:"):
        ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ls.bind(where[5:])
    else:
        fam = socket.AF_INET6 if ":" in where else socket.AF_INET
        ls = socket.socket(fam, socket.SOCK_STREAM)
        # The harness may hold this port (free_port) with SO_REUSEADDR.
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        ls.bind((where, int(port)))
    ls.listen(backlog)
    return ls


def hold_all(ls, held, stop):
    """A backend that accepts on ls until stop is set and keeps every
    connection in held, reading nothing (run it in a thread)."""
    ls.settimeout(0.05)
    while not stop.is_set():
        try:
            c, _ = ls.accept()
        except socket.timeout:
            continue
        except OSError:
            return
        held.append(c)


def ready(sock):
    """Tell the harness we are up, and on which port (0 for unix)."""
    name = sock.getsockname()
    port = name[1] if isinstance(name, tuple) else 0
    sys.stdout.write("READY port=%d\n" % port)
    sys.stdout.flush()


def serve(ls, handler, log=None, threaded=True):
    """Accept forever; handler(conn, "addr:port") per connection."""
    ready(ls)
    while True:
        c, peer = ls.accept()
        peer = "%s:%s" % peer[:2] if isinstance(peer, tuple) else "unix"
        if log:
            log(ev="accept", peer=peer)
        if threaded:
            threading.Thread(target=handler, args=(c, peer), daemon=True).start()
        else:
            handler(c, peer)


def recv_hello(c, data=b"", timeout=None):
    """Read until data holds a whole ClientHello (any record framing):
    (data, k) where k is the hello's length, -1 if this is no handshake
    record stream (hello_complete_len gives up past 70000 bytes), None on
    EOF or, with a timeout, when it runs out."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        k = hello_complete_len(data)
        if k is not None:
            return data, k
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return data, None
            c.settimeout(left)
        try:
            b = c.recv(65536)
        except socket.timeout:
            return data, None
        if not b:
            return data, None
        data += b


def _recv_to_eof(c, h):
    n = 0
    while True:
        b = c.recv(1 << 20)
        if not b:
            return n
        h.update(b)
        n += len(b)


# ---------------------------------------------------------------------------
# raw-backend ADDR PORT NAME LOGFILE: per connection, read a whole
# ClientHello, answer "backend=NAME hello_sha256=HEX hello_len=N\n", then
# read one command line:
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

def raw_backend(addr, port, name, logfile):
    log = JsonLog(logfile)

    def command(c, cmd, rest, h):
        if cmd[0] == "bulk":
            down, seed = int(cmd[2]), int(cmd[3])

            def sender():
                for ch in gen_chunks(seed, down):
                    c.sendall(ch)
            t = threading.Thread(target=sender)
            t.start()
            n = len(rest) + _recv_to_eof(c, h)
            t.join(120)
        elif cmd[0] == "halfclose":
            down, seed = int(cmd[1]), int(cmd[2])
            n = len(rest) + _recv_to_eof(c, h)
            for ch in gen_chunks(seed, down):
                c.sendall(ch)
        elif cmd[0] == "slow":
            down, secs = int(cmd[1]), float(cmd[2])
            chunks = list(gen_chunks(7, down, max(1, down // 20)))
            for ch in chunks:
                c.sendall(ch)
                time.sleep(secs / len(chunks))
            n = len(rest) + _recv_to_eof(c, h)
        elif cmd[0] == "stall":
            time.sleep(float(cmd[1]))
            n = len(rest) + _recv_to_eof(c, h)
        else:  # hold
            n = len(rest) + _recv_to_eof(c, h)
        return n

    def handle(c, peer):
        c.settimeout(60)
        ev = {"ev": "done", "peer": peer}
        try:
            data, k = recv_hello(c)
            if k is None or k < 0:
                ev.update(error="no hello", got=data[:64].hex(), got_len=len(data))
                return
            hello, rest = data[:k], data[k:]
            ev.update(hello_sha=hashlib.sha256(hello).hexdigest(), hello_len=k)
            c.sendall((want_reply(name, hello) + "\n").encode())
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
            if cmd[0] == "reset":
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                ev.update(recv=len(rest))
                return
            h = hashlib.sha256(rest)
            n = command(c, cmd, rest, h)
            ev.update(recv=n, recv_sha=h.hexdigest())
            c.sendall(("recv=%d sha256=%s\n" % (n, h.hexdigest())).encode())
        except OSError as e:
            ev.update(error=repr(e))
        finally:
            log(**ev)
            c.close()

    serve(listen(addr, port, 1024), handle, log)


# ---------------------------------------------------------------------------
# unix-backend PATH NAME LOGFILE: read a hello, answer like raw-backend, close.
# ---------------------------------------------------------------------------

def unix_backend(path, name, logfile):
    log = JsonLog(logfile)

    def handle(c, peer):
        c.settimeout(10)
        try:
            data, k = recv_hello(c)
            ev = {"ev": "accept", "got": len(data)}
            if k is not None and k > 0:
                c.sendall(("%s\n" % want_reply(name, data[:k])).encode())
        except OSError as e:
            ev = {"ev": "accept", "error": repr(e)}
        log(**ev)
        c.close()

    serve(listen("unix:" + path), handle, threaded=False)


# ---------------------------------------------------------------------------
# pp-backend WHERE NAME LOGFILE (WHERE: unix:PATH or tcp:ADDR:PORT): parse a
# PROXY header strictly, byte by byte, then a hello; answer like raw-backend;
# log the header's fields.
# ---------------------------------------------------------------------------

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def _recv_exact(c, n):
    """n bytes, one recv(1) at a time."""
    out = b""
    while len(out) < n:
        b = c.recv(1)
        if not b:
            raise ValueError("EOF after %d of %d bytes" % (len(out), n))
        out += b
    return out


def _read_v1(c, first):
    line = first
    while not line.endswith(b"\r\n"):
        check(len(line) < 107, "v1 line longer than 107 bytes: %r" % line)
        line += _recv_exact(c, 1)
        check(b"\n" not in line[:-1] and (line[-1:] != b"\n" or line[-2:] == b"\r\n"),
              "bare LF in v1 line %r" % line)
    text = line.decode("ascii")
    parts = text[:-2].split(" ")
    check(parts[0] == "PROXY", "v1 line does not start with PROXY: %r" % text)
    if parts[1] != "UNKNOWN":
        check(len(parts) == 6 and parts[1] in ("TCP4", "TCP6"), "bad v1 line %r" % text)
        fam = socket.AF_INET if parts[1] == "TCP4" else socket.AF_INET6
        for a in parts[2:4]:
            socket.inet_pton(fam, a)
        for p in parts[4:6]:
            check(p.isdigit() and 0 <= int(p) <= 65535 and str(int(p)) == p, "bad port %r" % p)
    return {"version": 1, "line": text}


def read_proxy_header(c):
    """Parse a PROXY header strictly, byte by byte: a dict of its fields."""
    first = _recv_exact(c, 1)
    if first == b"P":
        return _read_v1(c, first)
    hdr = first + _recv_exact(c, 15)
    check(hdr[:12] == V2_SIG, "bad v2 signature %s" % hdr[:12].hex())
    ver, cmd = hdr[12] >> 4, hdr[12] & 0xF
    check(ver == 2 and cmd in (0, 1), "bad v2 version/command byte %02x" % hdr[12])
    fams = {0x00: "UNSPEC", 0x11: "TCP4", 0x21: "TCP6", 0x31: "UNIX"}
    check(hdr[13] in fams, "unexpected v2 family byte %02x" % hdr[13])
    ln = struct.unpack("!H", hdr[14:16])[0]
    body = _recv_exact(c, ln)
    ev = {"version": 2, "command": "PROXY" if cmd == 1 else "LOCAL",
          "family": fams[hdr[13]], "len": ln}
    if cmd == 1 and hdr[13] in (0x11, 0x21):
        fam, a = (socket.AF_INET, 4) if hdr[13] == 0x11 else (socket.AF_INET6, 16)
        check(ln == 2 * a + 4, "%s block of %d bytes, want %d (no TLVs sent)" %
              (fams[hdr[13]], ln, 2 * a + 4))
        ev.update(src=socket.inet_ntop(fam, body[0:a]),
                  dst=socket.inet_ntop(fam, body[a:2 * a]),
                  sport=struct.unpack("!H", body[2 * a:2 * a + 2])[0],
                  dport=struct.unpack("!H", body[2 * a + 2:2 * a + 4])[0])
    return ev


def pp_backend(where, name, logfile):
    log = JsonLog(logfile)

    def handle(c, peer):
        c.settimeout(10)
        ev = {}
        try:
            ev = read_proxy_header(c)
            data, k = recv_hello(c)
            if k is None or k < 0:
                raise ValueError("no ClientHello after the header: %s" % describe(data))
            ev.update(hello_len=k, extra=len(data) - k)
            c.sendall(("%s\n" % want_reply(name, data[:k])).encode())
        except Exception as e:      # noqa: BLE001 - logged for the case to report
            ev["error"] = str(e)
        log(**ev)
        c.close()

    if where.startswith("unix:"):
        ls = listen(where)
    else:
        addr, port = where[4:].rsplit(":", 1)
        ls = listen(addr, port)
    serve(ls, handle, threaded=False)


# ---------------------------------------------------------------------------
# http-backend ADDR PORT NAME LOGFILE: HTTP/1.x, keep-alive; logs each
# request's raw bytes; answers 200 with ok_body(NAME, request).
# ---------------------------------------------------------------------------

def _http_request(c, buf):
    """(raw request, fields, rest of buf) or None at EOF."""
    while b"\r\n\r\n" not in buf and len(buf) < 1 << 16:
        b = c.recv(65536)
        if not b:
            return None
        buf += b
    head, _, rest = buf.partition(b"\r\n\r\n")
    head += b"\r\n\r\n"
    fields = {}
    for line in head.split(b"\r\n")[1:]:
        k, sep, v = line.partition(b":")
        if sep:
            fields[k.strip().lower()] = v.strip()
    n = int(fields.get(b"content-length", b"0"))
    while len(rest) < n:
        b = c.recv(1 << 20)
        if not b:
            return None
        rest += b
    fields[b" close"] = (fields.get(b"connection", b"").lower() == b"close" or
                         head.split(b"\r\n")[0].endswith(b" HTTP/1.0"))
    return head + rest[:n], fields, rest[n:]


def http_backend(addr, port, name, logfile):
    log = JsonLog(logfile)

    def handle(c, peer):
        c.settimeout(20)
        buf = b""
        try:
            for _ in range(100):
                got = _http_request(c, buf)
                if got is None:
                    return
                raw, fields, buf = got
                log(ev="request", raw=raw.hex())
                body = ok_body(name, raw)
                close = fields[b" close"]
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                          b"Content-Length: %d\r\n%s\r\n" %
                          (len(body), b"Connection: close\r\n" if close else b"") + body)
                if close:
                    return
        except (OSError, ValueError) as e:
            log(ev="error", error=str(e))
        finally:
            c.close()

    serve(listen(addr, port), handle, log)


# ---------------------------------------------------------------------------
# dns-responder PORT LOGFILE NAME=RULE...: UDP DNS on 127.0.0.1:PORT with
# per-name behaviour: 'aaaa:ADDR', 'delay:SEC:ADDR', 'drop', 'nxdomain' or
# 'servfail' (names without a rule: nxdomain).
# ---------------------------------------------------------------------------

def dns_responder(port, logfile, *rules):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", int(port)))
    table = {}
    for r in rules:
        k, v = r.split("=", 1)
        table[k.lower()] = v
    log = JsonLog(logfile, stamp=True)

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
        log(ev="answered", name=qname, qtype=qtype, rcode=rcode, id=qid, peer=peer[1])

    ready(s)
    while True:
        pkt, peer = s.recvfrom(4096)
        try:
            qid, flags, qname, qtype, end = dns_parse_question(pkt)
        except (IndexError, struct.error):
            continue
        rule = table.get(qname.lower().rstrip("."), "nxdomain")
        log(ev="query", name=qname, qtype=qtype, rule=rule, id=qid, peer=peer[1])
        kind = rule.split(":", 1)
        if kind[0] == "nxdomain":
            answer(pkt, peer, 3, None)
        elif kind[0] == "servfail":
            answer(pkt, peer, 2, None)
        elif kind[0] == "aaaa":
            answer(pkt, peer, 0, kind[1])
        elif kind[0] == "delay":
            secs, addr = rule.split(":", 2)[1:]
            threading.Timer(float(secs), answer, (pkt, peer, 0, addr)).start()
        # "drop": no answer


def probe(addr, port):
    """Connect, send a hello for 'probe.test', print the reply line."""
    s = connect(addr, int(port), 5)
    s.sendall(client_hello("probe.test"))
    print(read_line(s, 5))
    s.close()


SERVERS = {"raw-backend": raw_backend, "unix-backend": unix_backend,
           "pp-backend": pp_backend, "http-backend": http_backend,
           "dns-responder": dns_responder, "probe": probe}


def main(argv):
    """`run --helper NAME ARGS...`: run one of SERVERS until SIGTERM."""
    if not argv or argv[0] not in SERVERS:
        sys.exit("unknown helper %s (have: %s)" % (argv[:1], " ".join(sorted(SERVERS))))
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    SERVERS[argv[0]](*argv[1:])
