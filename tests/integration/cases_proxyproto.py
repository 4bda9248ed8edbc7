"""Cases for the PROXY protocol: -proxy-proto (v2, v1) towards TCP and unix
backends, and proxy: listeners (inbound v1 and v2 from a load balancer),
with a real haproxy in front of snid when haproxy is installed.

The backends are the pp-backend of servers.py: per connection it reads a
PROXY header byte by byte (one recv(1) per byte, so every field is checked
as it arrives and nothing of the ClientHello is consumed with it), checks it
strictly, then reads a whole ClientHello and answers "backend=NAME
hello_sha256=HEX hello_len=N\\n".  Each connection is logged as one JSON
line with every header field.
"""

import os
import re
import shutil
import socket
import struct
import subprocess
import time

from snidtest import (HERE, PPBackend, Skip, check, check_alert, client_hello, connect,
                      describe, free_port, ok_body, read_all, read_line,
                      wait_until, want_reply, SLOW, PY)
from fixtures import (good_client, http_world, nat46_routes, req, start_decoy, topology,
                      world)
from servers import V2_SIG


# --- helpers -----------------------------------------------------------------

def hello_through(host, port, hello, name, family=None):
    """Send hello to snid at host:port (or a unix path when family is
    AF_UNIX); the backend `name` must answer with its digest.  Returns the
    client's own (address, port), or None for a unix client."""
    if family == socket.AF_UNIX:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5 * SLOW)
        s.connect(host)
        me = None
    else:
        s = connect(host, port, 5 * SLOW)
        me = s.getsockname()[:2]
    try:
        s.sendall(hello)
        line = read_line(s, 5 * SLOW)
        check(line == want_reply(name, hello), "expected %r, got %r" %
              (want_reply(name, hello), line))
    finally:
        s.close()
    return me


def check_v2(ev, fam, src, dst):
    """A v2 PROXY header for a TCP connection from src to dst."""
    check(ev.get("error") is None, "backend: %s" % ev.get("error"))
    check(ev["version"] == 2 and ev["command"] == "PROXY" and ev["family"] == fam,
          "want v2 PROXY %s, got %s" % (fam, ev))
    check((ev["src"], ev["sport"]) == tuple(src) and (ev["dst"], ev["dport"]) == tuple(dst),
          "want src %s dst %s, got src %s:%s dst %s:%s" %
          (src, dst, ev["src"], ev["sport"], ev["dst"], ev["dport"]))


def check_v1(ev, line):
    check(ev.get("error") is None, "backend: %s" % ev.get("error"))
    check(ev["version"] == 1 and ev["line"] == line, "want v1 %r, got %s" % (line, ev))


# --- PROXY out -----------------------------------------------------------------

def _out_world(case, extra):
    """snid on 127.0.0.1:L and [::1]:L with -proxy-proto..., alpha.test ->
    a pp-backend on [::1]:B."""
    w = world(case, backends=(), extra=extra, start_snid=False, hold_listen=True)
    w.args += ["-listen", "tcp:[::1]:%d" % w.L]
    w.pp = PPBackend(case, "tcp:::1:%d" % w.B, "alpha")
    w.snid = case.snid(w.args)
    return w


def test_proxy_out_v2_header_before_hello(case):
    """-proxy-proto: the backend reads a v2 header carrying the client's
    address:port and snid's listening address:port, byte by byte, then the
    unchanged hello; the access line's up counts the client's bytes only."""
    w = _out_world(case, ["-proxy-proto"])
    hello = client_hello("alpha.test")
    me4 = hello_through("127.0.0.1", w.L, hello, "alpha")
    me6 = hello_through("::1", w.L, hello, "alpha")
    evs = w.pp.events(2)
    check(len(evs) == 2, "backend saw %d connections, want 2" % len(evs))
    check_v2(evs[0], "TCP4", me4, ("127.0.0.1", w.L))
    check_v2(evs[1], "TCP6", me6, ("::1", w.L))
    for ev in evs:
        check(ev["hello_len"] == len(hello) and ev["extra"] == 0, "hello changed: %s" % ev)
    c = w.snid.conn_for(me4[1])
    check(c["outcome"] == "ok" and c["up"] == len(hello),
          "up=%d, want %d (the hello, not the header): %s" % (c["up"], len(hello), c["line"]))


def test_proxy_out_v1_header_before_hello(case):
    """-proxy-proto v1: "PROXY TCP4|TCP6 SRC DST SPORT DPORT\\r\\n", then the hello."""
    w = _out_world(case, ["-proxy-proto", "v1"])
    hello = client_hello("alpha.test")
    me4 = hello_through("127.0.0.1", w.L, hello, "alpha")
    me6 = hello_through("::1", w.L, hello, "alpha")
    evs = w.pp.events(2)
    check(len(evs) == 2, "backend saw %d connections, want 2" % len(evs))
    check_v1(evs[0], "PROXY TCP4 127.0.0.1 127.0.0.1 %d %d\r\n" % (me4[1], w.L))
    check_v1(evs[1], "PROXY TCP6 ::1 ::1 %d %d\r\n" % (me6[1], w.L))
    c = w.snid.conn_for(me6[1])
    check(c["up"] == len(hello), "up=%d, want %d: %s" % (c["up"], len(hello), c["line"]))


def test_proxy_out_unix_mode_backend(case):
    """-mode unix -proxy-proto (the Go snid's main use): the unix socket
    backend gets the TCP client's address; a client of a unix: listener has
    none, so v2 sends LOCAL with no addresses and v1 "PROXY UNKNOWN"."""
    d = os.path.join(case.dir, "sockets")
    os.makedirs(d)
    for ver, extra in (("v2", ["-proxy-proto"]), ("v1", ["-proxy-proto", "v1"])):
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
        pp = PPBackend(case, "unix:" + os.path.join(d, "alpha.test"), "alpha-" + ver)
        lpath = os.path.join(case.dir, "snid-%s.sock" % ver)
        snid = case.snid(["-listen", "tcp:127.0.0.1:0", "-listen", "unix:" + lpath,
                          "-mode", "unix", "-unix-directory", d, "-log-level", "debug"] + extra,
                         name="snid-" + ver)
        L = snid.port
        hello = client_hello("alpha.test")
        me = hello_through("127.0.0.1", L, hello, "alpha-" + ver)
        hello_through(lpath, None, hello, "alpha-" + ver, family=socket.AF_UNIX)
        evs = pp.events(2)
        check(len(evs) == 2, "%s: backend saw %d connections, want 2" % (ver, len(evs)))
        if ver == "v2":
            check_v2(evs[0], "TCP4", me, ("127.0.0.1", L))
            check(evs[1].get("error") is None and evs[1]["version"] == 2 and
                  evs[1]["command"] == "LOCAL" and evs[1]["family"] == "UNSPEC" and
                  evs[1]["len"] == 0, "unix client, v2: want LOCAL UNSPEC, got %s" % evs[1])
        else:
            check_v1(evs[0], "PROXY TCP4 127.0.0.1 127.0.0.1 %d %d\r\n" % (me[1], L))
            check_v1(evs[1], "PROXY UNKNOWN\r\n")
        c = snid.conn_for(me[1])
        check(c["outcome"] == "ok" and c["up"] == len(hello), c["line"])
        snid.stop()


# --- PROXY in ------------------------------------------------------------------

def v1(src, dst, sport, dport):
    fam = "TCP6" if ":" in src else "TCP4"
    return ("PROXY %s %s %s %d %d\r\n" % (fam, src, dst, sport, dport)).encode()


def v2(cmd=1, fam=0x11, src=None, dst=None, sport=0, dport=0, tlvs=b"", block=None):
    """A v2 header; block overrides the address block (for bad lengths)."""
    if block is None:
        if fam == 0x11:
            block = (socket.inet_pton(socket.AF_INET, src) + socket.inet_pton(socket.AF_INET, dst)
                     + struct.pack("!HH", sport, dport))
        elif fam == 0x21:
            block = (socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
                     + struct.pack("!HH", sport, dport))
        else:
            block = b""
    body = block + tlvs
    return V2_SIG + bytes([0x20 | cmd, fam]) + struct.pack("!H", len(body)) + body


# PP2_TYPE_ALPN "h2" and PP2_TYPE_AUTHORITY, as a load balancer may add.
TLVS = b"\x01\x00\x02h2" + b"\x02\x00\x0aalpha.test"


def _in_world(case, extra=(), backends=("alpha",)):
    """world() plus a proxy: listener on 127.0.0.1:P (w.P, picked by snid:
    the second listener on 127.0.0.1)."""
    w = world(case, backends=backends, extra=extra, start_snid=False)
    w.picked["P"] = ("127.0.0.1", 1)
    w.args += ["-listen", "proxy:tcp:127.0.0.1:0"]
    return w


def through_proxy_listener(w, header, name="alpha", hello=None, chunks=None, pause=0.0):
    """Send header + hello to the proxy: listener (in `chunks` pieces when
    given); the backend must answer with the digest of the hello alone.
    Returns the real client port."""
    hello = hello or client_hello(name + ".test")
    s = connect("127.0.0.1", w.P, 5 * SLOW)
    try:
        cport = s.getsockname()[1]
        data = header + hello
        if chunks:
            for i in range(0, len(header), chunks):
                s.sendall(header[i:i + chunks])
                time.sleep(pause)
            s.sendall(hello)
        else:
            s.sendall(data)
        line = read_line(s, 5 * SLOW)
        check(line == want_reply(name, hello), "expected %r (the hello alone), got %r"
              % (want_reply(name, hello), line))
    finally:
        s.close()
    return cport


def conn_with_client(w, client, timeout=5.0):
    got = wait_until(lambda: [c for c in w.snid.conns() if c["client"] == client], timeout * SLOW)
    check(len(got) == 1, "want one access line with client=%s, got %s; log: %s"
          % (client, [c["line"] for c in got], w.snid.tail()))
    return got[0]


def test_proxy_in_v1_and_v2_carried_address_logged(case):
    """proxy:tcp: takes v1 and v2 (TCP4, TCP6, with TLVs): the access line
    shows the carried client, and the backend gets the hello without a byte
    of the header (the raw backend refuses anything but a hello first)."""
    w = _in_world(case)
    w.snid = case.snid(w.args)
    hello = client_hello("alpha.test")
    through_proxy_listener(w, v1("203.0.113.7", "198.51.100.1", 40001, 443), hello=hello)
    through_proxy_listener(w, v1("2001:db8::7", "2001:db8::1", 40002, 443), hello=hello)
    through_proxy_listener(w, v2(src="203.0.113.8", dst="198.51.100.1", sport=40003, dport=443,
                                 tlvs=TLVS), hello=hello)
    through_proxy_listener(w, v2(fam=0x21, src="2001:db8::8", dst="2001:db8::1", sport=40004,
                                 dport=443), hello=hello)
    for client in ("203.0.113.7:40001", "[2001:db8::7]:40002", "203.0.113.8:40003",
                   "[2001:db8::8]:40004"):
        c = conn_with_client(w, client)
        check(c["outcome"] == "ok" and c["up"] == len(hello),
              "up=%d, want %d (the header is not forwarded): %s" % (c["up"], len(hello), c["line"]))
    # A big hello over several records after a big header (TLVs up to 2 KiB).
    big = client_hello("alpha.test", pad=15000)
    through_proxy_listener(w, v2(src="203.0.113.9", dst="198.51.100.1", sport=40005, dport=443,
                                 tlvs=b"\x04\x07\xf0" + b"t" * 2032), hello=big)
    c = conn_with_client(w, "203.0.113.9:40005")
    check(c["outcome"] == "ok" and c["up"] == len(big), c["line"])
    # The plain listener next to it still takes clients without a header.
    good_client(w, "alpha")


def test_proxy_in_carried_address_sent_on_by_proxy_out(case):
    """proxy: listener + -proxy-proto: the backend's header carries the
    original client and the address it connected to, not the balancer's."""
    w = _in_world(case, extra=["-proxy-proto"], backends=())
    w.pp = PPBackend(case, "tcp:::1:%d" % w.B, "alpha")
    w.snid = case.snid(w.args)
    through_proxy_listener(w, v1("203.0.113.7", "198.51.100.1", 40001, 443))
    through_proxy_listener(w, v2(fam=0x21, src="2001:db8::8", dst="2001:db8::1", sport=40004,
                                 dport=8443, tlvs=TLVS))
    cport = through_proxy_listener(w, v2(cmd=0, fam=0))        # LOCAL: the real peer
    evs = w.pp.events(3)
    check(len(evs) == 3, "backend saw %d connections, want 3" % len(evs))
    check_v2(evs[0], "TCP4", ("203.0.113.7", 40001), ("198.51.100.1", 443))
    check_v2(evs[1], "TCP6", ("2001:db8::8", 40004), ("2001:db8::1", 8443))
    check_v2(evs[2], "TCP4", ("127.0.0.1", cport), ("127.0.0.1", w.P))


def test_proxy_in_local_and_unknown_use_real_peer(case):
    """v2 LOCAL (a health check; its address block is ignored), v2 PROXY
    UNSPEC and v1 UNKNOWN: the access line shows the real peer."""
    w = _in_world(case)
    w.snid = case.snid(w.args)
    for hdr in (v2(cmd=0, fam=0), v2(cmd=0, fam=0x11, src="203.0.113.9", dst="198.51.100.1",
                                     sport=1, dport=2),
                v2(cmd=1, fam=0), b"PROXY UNKNOWN\r\n",
                b"PROXY UNKNOWN 203.0.113.9 198.51.100.1 1 2\r\n"):
        cport = through_proxy_listener(w, hdr)
        c = w.snid.conn_for(cport)
        check(c["client"] == "127.0.0.1:%d" % cport and c["outcome"] == "ok",
              "header %r: %s" % (hdr, c["line"]))


def _closed_silently(w, data, what):
    s = connect("127.0.0.1", w.P, 5 * SLOW)
    try:
        cport = s.getsockname()[1]
        s.sendall(data)
        got, how = read_all(s, 5 * SLOW)
    finally:
        s.close()
    check(how in ("eof", "reset") and got == b"", "%s: want a close without a reply, got %s (%s)"
          % (what, describe(got), how))
    c = w.snid.conn_for(cport)
    check(c["outcome"] == "bad-proxy", "%s: %s" % (what, c["line"]))


def test_proxy_in_bad_headers_closed_next_served(case):
    """Bad signature, bad lengths, unknown command or family, broken v1
    lines, a bare ClientHello: closed without an alert (outcome bad-proxy),
    the backend sees nothing, and the next client is served."""
    w = _in_world(case)
    w.snid = case.snid(w.args)
    hello = client_hello("alpha.test")
    good = v2(src="203.0.113.7", dst="198.51.100.1", sport=1, dport=2)
    bad = {
        "bad v2 signature": b"\r\n\r\n\x00\r\nQUIX\n" + good[12:],
        "v2 version 1": good[:12] + b"\x11" + good[13:],
        "unknown command 3": good[:12] + b"\x23" + good[13:],
        "UDP over IPv4": good[:13] + b"\x12" + good[14:],
        "unknown family": good[:13] + b"\x41" + good[14:],
        "length below the TCP4 block": v2(block=b"\x00" * 8),
        "length over the maximum": good[:14] + b"\xff\xff" + b"\x00" * 64,
        "TLV past the end": v2(src="203.0.113.7", dst="198.51.100.1", tlvs=b"\x01\x00\x09h2"),
        "v1 no CRLF": b"PROXY TCP4 203.0.113.7 198.51.100.1 1 2\n",
        "v1 bad address": v1("203.0.113.07", "198.51.100.1", 1, 2),
        "v1 family mismatch": b"PROXY TCP6 203.0.113.7 198.51.100.1 1 2\r\n",
        "v1 port too big": v1("203.0.113.7", "198.51.100.1", 65536, 2),
        "v1 too long": b"PROXY UNKNOWN " + b"x" * 120 + b"\r\n",
        "not PROXY at all": b"GET / HTTP/1.0\r\n\r\n",
        "a ClientHello without a header": b"",
    }
    for what, hdr in bad.items():
        _closed_silently(w, hdr + hello, what)
        w.snid.check_alive()
    check(not w.backends["alpha"].accepts(), "the backend saw a connection: %s"
          % w.backends["alpha"].accepts())
    through_proxy_listener(w, good)


def test_proxy_in_header_trickled_byte_by_byte(case):
    """A header arriving one byte per segment (v2 with TLVs, v1) is read to
    its end, and the hello after it routed."""
    w = _in_world(case)
    w.snid = case.snid(w.args)
    through_proxy_listener(w, v2(src="203.0.113.7", dst="198.51.100.1", sport=40001, dport=443,
                                 tlvs=TLVS), chunks=1, pause=0.01)
    through_proxy_listener(w, v1("203.0.113.8", "198.51.100.1", 40002, 443), chunks=1, pause=0.01)
    conn_with_client(w, "203.0.113.7:40001")
    conn_with_client(w, "203.0.113.8:40002")


def test_proxy_in_hello_timeout_covers_header(case):
    """-hello-timeout bounds header and hello together: half a header, or a
    whole header and half a hello, is closed at the timeout."""
    w = _in_world(case, extra=["-hello-timeout", "1"])
    w.snid = case.snid(w.args)
    hdr = v2(src="203.0.113.7", dst="198.51.100.1", sport=40001, dport=443)
    hello = client_hello("alpha.test")
    for what, data in (("half a header", hdr[:10]), ("header, half a hello", hdr + hello[:20])):
        s = connect("127.0.0.1", w.P, 5 * SLOW)
        try:
            cport = s.getsockname()[1]
            t0 = time.monotonic()
            s.sendall(data)
            got, how = read_all(s, 6 * SLOW)
            took = time.monotonic() - t0
        finally:
            s.close()
        check(how in ("eof", "reset") and got == b"", "%s: not closed silently: %s (%s)"
              % (what, describe(got), how))
        check(0.8 <= took <= 3 * SLOW, "%s: closed after %.2fs, want ~1s" % (what, took))
        # Once the header is complete, the carried client is the client.
        c = w.snid.conn_for(cport) if len(data) < len(hdr) else \
            conn_with_client(w, "203.0.113.7:40001")
        check(c["outcome"] == "timeout", "%s: %s" % (what, c["line"]))


def test_proxy_in_carried_port_is_default_backend_port(case):
    """Without -backend-port the backend port is the port the client
    connected to, which the header carries (the balancer's, not snid's);
    -backend-ports must allow it (it is not one of snid's listeners)."""
    w = _in_world(case, backends=())
    args = [a for a in w.args]
    i = args.index("-backend-port")
    del args[i:i + 2]
    args += ["-backend-ports", "%d" % w.B]
    w.backends = {"alpha": case.raw_backend("alpha", "::1", w.B)}
    w.snid = case.snid(args)
    through_proxy_listener(w, v2(src="203.0.113.7", dst="198.51.100.1", sport=40001, dport=w.B))
    c = conn_with_client(w, "203.0.113.7:40001")
    check(c["backend"] == "[::1]:%d" % w.B, c["line"])


def test_proxy_in_carried_port_outside_backend_ports_denied(case):
    """A PROXY header whose destination port is no port of snid's (by
    default the allowed ones: its listeners' and -backend-port) must not
    pick the backend port: refused as denied with alert 112, and a service
    listening there on the allowed address sees no connection."""
    w = _in_world(case, backends=())
    args = [a for a in w.args]
    i = args.index("-backend-port")
    del args[i:i + 2]
    w.backends = {"alpha": case.raw_backend("alpha", "::1", w.B)}
    R = free_port()
    redis = start_decoy(case, "::1", R)
    w.snid = case.snid(args)
    for dport, what in ((R, "another port"), (w.B, "a backend's port, not allowed")):
        s = connect("127.0.0.1", w.P, 5 * SLOW)
        try:
            cport = s.getsockname()[1]
            s.sendall(v2(src="203.0.113.7", dst="198.51.100.1", sport=cport,
                         dport=dport) + client_hello("alpha.test"))
            got, how = read_all(s, 5 * SLOW)
        finally:
            s.close()
        check_alert(got, 112, "PROXY header naming port %d (%s)" % (dport, what))
        c = conn_with_client(w, "203.0.113.7:%d" % cport)
        check(c["outcome"] == "denied", "port %d: %s" % (dport, c["line"]))
    time.sleep(0.3)
    check(len(redis.accepts()) <= 1, "the service on port R was contacted: %s"
          % redis.accepts())
    check(not w.backends["alpha"].accepts(), "alpha reached: %s" % w.backends["alpha"].accepts())


def test_proxy_in_unix_listener(case):
    """proxy:unix:PATH (a balancer on the same host): the carried client is
    logged; a LOCAL header keeps the real peer, client=unix:."""
    w = world(case, start_snid=False)
    path = os.path.join(case.dir, "pp.sock")
    w.snid = case.snid(w.args + ["-listen", "proxy:unix:" + path])
    hello = client_hello("alpha.test")
    for hdr, client in ((v2(src="203.0.113.7", dst="198.51.100.1", sport=40001, dport=443),
                         "203.0.113.7:40001"),
                        (v1("2001:db8::7", "2001:db8::1", 40002, 443), "[2001:db8::7]:40002"),
                        (v2(cmd=0, fam=0), "unix:")):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5 * SLOW)
        try:
            s.connect(path)
            s.sendall(hdr + hello)
            line = read_line(s, 5 * SLOW)
        finally:
            s.close()
        check(line == want_reply("alpha", hello), "%s: got %r" % (client, line))
        conn_with_client(w, client)


def test_proxy_in_nat46_source_from_carried_client(case):
    """Root: nat46 behind a balancer: the backend (another namespace) sees
    PREFIX::<carried IPv4 client>, not the balancer's address; a carried
    IPv6 client is refused as ipv6-client."""
    if os.geteuid() != 0:
        raise Skip("needs root (creates network namespaces)")
    vps, home, _ = topology("snidp", client=False)

    def client(hdr):
        code = ("import sys; sys.path.insert(0, %r)\n"
                "from snidtest import client_hello, connect, read_all\n"
                "s = connect('127.0.0.1', 443, 5)\n"
                "s.sendall(bytes.fromhex(%r) + client_hello('probe.test'))\n"
                "got, how = read_all(s, 5)\n"
                "print(got.split(b'\\n')[0].decode(errors='replace') or how)\n"
                % (HERE, hdr.hex()))
        r = subprocess.run(["ip", "netns", "exec", vps, PY, "-c", code], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=15 * SLOW)
        return r.stdout.decode().strip() + r.stderr.decode()[-300:]

    nat46_routes(vps, home)
    case.dnsmasq({"probe.test": ["2001:db8:0:1:1::10"]}, port=53, netns=vps)
    backend = case.raw_backend("alpha", "2001:db8:0:1:1::10", 443, netns=home)
    snid = case.snid(["-listen", "proxy:tcp:127.0.0.1:443", "-mode", "nat46",
                      "-nat46-prefix", "64:ff9b:1::/96", "-backend-cidr", "2001:db8:0:1:1::/80",
                      "-dns-server", "127.0.0.1:53", "-log-level", "debug"], netns=vps)
    out = client(v2(src="198.51.100.7", dst="203.0.113.10", sport=40001, dport=443))
    check(out.startswith("backend=alpha"), "no reply through nat46: %r; snid: %s"
          % (out, snid.tail()))
    acc = backend.accepts()
    check(len(acc) == 1 and acc[0]["peer"].rsplit(":", 1)[0] == "64:ff9b:1::c633:6407",
          "backend saw %s, want 64:ff9b:1::c633:6407 (198.51.100.7)" % acc)
    client(v1("2001:db8::7", "2001:db8::1", 40002, 443))
    c = [c for c in snid.wait_conns(2) if c["client"] == "[2001:db8::7]:40002"]
    check(c and c[0]["outcome"] == "ipv6-client", "carried IPv6 client: %s" % snid.tail())
    snid.stop()


def test_proxy_in_http_listener(case):
    """proxy:http:tcp: the header comes off, the request goes on byte for
    byte, client= is the carried client, and the carried destination port
    (the port the client asked the balancer for) is the backend port."""
    w = http_world(case, backends=("alpha",), wrap="proxy:http:")
    r = req("alpha.test")
    for hdr, client in ((v1("203.0.113.7", "198.51.100.1", 40001, w.L), "203.0.113.7:40001"),
                        (v2(src="203.0.113.8", dst="198.51.100.1", sport=40002, dport=w.L,
                            tlvs=TLVS), "203.0.113.8:40002")):
        got, how = b"", ""
        s = connect("127.0.0.1", w.L, 5 * SLOW)
        try:
            s.sendall(hdr + r)
            got, how = read_all(s, 5 * SLOW)
        finally:
            s.close()
        check(got.startswith(b"HTTP/1.1 200 OK\r\n") and got.endswith(ok_body("alpha", r)),
              "%s: want 200 echoing the request alone, got %s (%s)" % (client, describe(got, 200), how))
        c = conn_with_client(w, client)
        check(c["outcome"] == "ok" and c["up"] == len(r) and c["backend"] == "[::1]:%d" % w.L,
              c["line"])
    # A port the balancer carried that is no port of snid's: refused
    # (-backend-ports), not tried.
    other = free_port()
    s = connect("127.0.0.1", w.L, 5 * SLOW)
    try:
        s.sendall(v1("203.0.113.9", "198.51.100.1", 40003, other) + r)
        got, how = read_all(s, 5 * SLOW)
    finally:
        s.close()
    c = conn_with_client(w, "203.0.113.9:40003")
    check(c["backend"] == "-" and c["outcome"] == "denied", c["line"])


def _haproxy(case, conf):
    path = os.path.join(case.dir, "haproxy.cfg")
    with open(path, "w") as f:
        f.write(conf)
    log = open(os.path.join(case.dir, "haproxy.log"), "wb")
    return case.spawn("haproxy", ["haproxy", "-db", "-f", path], stdout=log, stderr=log)


def test_proxy_in_behind_real_haproxy_send_proxy_v2(case):
    """A real haproxy (mode tcp, send-proxy-v2, and send-proxy for v1) in
    front of snid's proxy: listener: snid logs the client's own address and
    port as haproxy saw them, and the backend gets the hello unchanged."""
    if not shutil.which("haproxy"):
        raise Skip("haproxy is not installed (apt-get install haproxy)")
    w = _in_world(case)
    w.snid = case.snid(w.args)
    H2, H1 = (free_port() for _ in range(2))
    p = _haproxy(case, """global
    maxconn 100
defaults
    mode tcp
    timeout connect 5s
    timeout client 10s
    timeout server 10s
frontend v2
    bind 127.0.0.1:%d
    default_backend snid_v2
frontend v1
    bind 127.0.0.1:%d
    default_backend snid_v1
backend snid_v2
    server snid 127.0.0.1:%d send-proxy-v2
backend snid_v1
    server snid 127.0.0.1:%d send-proxy
""" % (H2, H1, w.P, w.P))

    def up():
        try:
            connect("127.0.0.1", H1, 0.5).close()
            return True
        except OSError:
            return p.poll() is not None
    wait_until(up, 10)
    check(p.poll() is None, "haproxy did not start: %s" %
          open(os.path.join(case.dir, "haproxy.log"), errors="replace").read()[-300:])
    for H in (H2, H1):
        cport = good_client(w, "alpha", port=H)
        c = conn_with_client(w, "127.0.0.1:%d" % cport)
        check(c["outcome"] == "ok", c["line"])


def test_proxy_out_accepted_by_real_haproxy(case):
    """snid -proxy-proto (v2, then v1) in front of a real haproxy with
    accept-proxy: haproxy logs the client's address:port and snid's
    listening address:port from our header; for a unix: listener client
    (v2 LOCAL, v1 UNKNOWN) it uses the connection's own addresses.
    (haproxy 2.6 refuses v2 PROXY with UNSPEC, hence LOCAL.)"""
    if not shutil.which("haproxy"):
        raise Skip("haproxy is not installed (apt-get install haproxy)")
    for ver, extra in (("v2", ["-proxy-proto"]), ("v1", ["-proxy-proto", "v1"])):
        sub = os.path.join(case.dir, ver)
        os.makedirs(sub)
        w = world(case, backends=(), extra=extra, start_snid=False)
        # haproxy takes alpha's place on [::1]:B; the raw backend behind it is on 127.0.0.2.
        w.backends = {"alpha": case.raw_backend("alpha", "127.0.0.2", 0)}
        behind = w.backends["alpha"].port
        log = os.path.join(sub, "haproxy.log")
        conf = os.path.join(sub, "haproxy.cfg")
        with open(conf, "w") as f:
            f.write("""global
    log stdout format raw local0 info
    maxconn 100
defaults
    log global
    mode tcp
    log-format "pp client=%%ci:%%cp front=%%fi:%%fp"
    timeout connect 5s
    timeout client 10s
    timeout server 10s
frontend fromsnid
    bind [::1]:%d accept-proxy
    default_backend raw
backend raw
    server raw 127.0.0.2:%d
""" % (w.B, behind))
        p = case.spawn("haproxy " + ver, ["haproxy", "-db", "-f", conf],
                       stdout=open(log, "wb"), stderr=subprocess.STDOUT)

        def up():
            try:
                connect("::1", w.B, 0.5).close()
                return True
            except OSError:
                return p.poll() is not None
        wait_until(up, 10)
        check(p.poll() is None, "haproxy did not start: %s" % open(log, errors="replace").read()[-300:])
        upath = os.path.join(sub, "snid.sock")
        w.snid = case.snid(w.args + ["-listen", "unix:" + upath], name="snid-" + ver)
        hello = client_hello("alpha.test")
        me = hello_through("127.0.0.1", w.L, hello, "alpha")
        hello_through(upath, None, hello, "alpha", family=socket.AF_UNIX)

        def lines():
            return [l for l in open(log, errors="replace").read().splitlines() if "pp client=" in l]
        # The probe connect of up() is logged too (a proxy-less connection haproxy drops).
        want = "pp client=127.0.0.1:%d front=127.0.0.1:%d" % (me[1], w.L)
        wait_until(lambda: any(want in l for l in lines()) and
                   sum("front=[::1]:%d" % w.B in l or "front=::1:%d" % w.B in l
                       for l in lines()) >= 1, 5 * SLOW)
        got = lines()
        check(any(want in l for l in got), "%s: haproxy did not log %r: %s" % (ver, want, got))
        check(any("client=::1:" in l and ":%d" % w.B in l.split("front=")[1] for l in got),
              "%s: unix client: haproxy should use the connection's own addresses: %s" % (ver, got))
        w.snid.stop()


def test_proxy_out_header_and_hello_in_one_send(case):
    """The header and the buffered hello leave in one send(2) (strace on
    the running snid): no backend ever gets the header alone."""
    if not shutil.which("strace"):
        raise Skip("strace is not installed")
    if os.environ.get("SNID_VALGRIND") == "1":
        raise Skip("not under valgrind (strace would trace valgrind)")
    w = _out_world(case, ["-proxy-proto"])
    out = os.path.join(case.dir, "strace.out")
    # -f: every thread (the workers send, not main's thread).
    p = case.spawn("strace", ["strace", "-f", "-p", str(w.snid.p.pid), "-e",
                              "trace=sendto,sendmsg,write",
                              "-xx", "-s", "16", "-o", out],
                   stdout=subprocess.DEVNULL, stderr=open(out + ".err", "wb"))
    def attached():
        # TracerPid in /proc says when strace really holds snid (with -o it
        # prints nothing on its own); a fixed sleep is not enough under load.
        tasks = "/proc/%d/task" % w.snid.p.pid
        for t in os.listdir(tasks):
            with open("%s/%s/status" % (tasks, t)) as f:
                if not any(l.startswith("TracerPid:") and l.split()[1] != "0"
                           for l in f):
                    return False
        return True
    check(wait_until(attached, 10 * SLOW) and p.poll() is None,
          "strace could not attach: %s" % open(out + ".err").read()[-300:])
    hello = client_hello("alpha.test")
    hello_through("127.0.0.1", w.L, hello, "alpha")
    time.sleep(0.2)
    os.kill(p.pid, 2)
    p.wait(5)
    text = open(out, errors="replace").read()
    sig = "".join("\\x%02x" % b for b in V2_SIG)
    sends = re.findall(r'sendto\(\d+, "([^"]*)"\.*, (\d+), ', text)
    first = [(d, int(n)) for d, n in sends if d.startswith(sig)]
    check(len(first) == 1 and first[0][1] == 16 + 12 + len(hello),
          "want one send of header (28) + hello (%d) bytes starting with the v2 signature; "
          "strace saw: %s" % (len(hello), sends))
