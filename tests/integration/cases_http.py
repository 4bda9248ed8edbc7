"""Cases for http: listeners: plain HTTP routed by its Host header.

Loopback layout: as in fixtures.py (dnsmasq with its RECORDS), but snid
listens on http:tcp:127.0.0.1:L and the HTTP backends are on
[::1]:L ("alpha") and 127.0.0.2:L ("beta"): an http: listener connects to the
port the client connected to, whatever -backend-port says.

The backends are the http-backend of servers.py: an HTTP/1.x server that,
per request, reads the head and a Content-Length body, logs the raw bytes
(hex) as a JSON line, and answers 200 with the body
"backend=NAME sha256=HEX len=N\\n" over everything it read for that request
(head and body, byte for byte); it keeps the connection for more requests
unless the client asked to close or spoke HTTP/1.0.
"""

import hashlib
import os
import socket
import time

from snidtest import (check, client_hello, connect, describe, ok_body,
                      read_all, run, talk, wait_until, SLOW, SNID)
from fixtures import http_world, req, world


# --- helpers -----------------------------------------------------------------

def response(status, phrase):
    return ("HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
            % (status, phrase)).encode()


def http_send(w, data, timeout=5.0):
    """Send data, read until snid or the backend closes: (reply, how, secs, client port)."""
    t0 = time.monotonic()
    got, how, cport = talk("127.0.0.1", w.L, data, timeout * SLOW)
    return got, how, time.monotonic() - t0, cport


def routed(w, name, req, what):
    """req (one request, Connection: close) must reach backend name byte for
    byte and its answer come back.  Returns the access line."""
    got, how, _, cport = http_send(w, req)
    check(got.startswith(b"HTTP/1.1 200 OK\r\n"), "%s: want 200 from %s, got %s (%s)"
          % (what, name, describe(got, 120), how))
    body = got.split(b"\r\n\r\n", 1)[1]
    check(body == ok_body(name, req), "%s: want the backend %s to echo sha256/len of the "
          "request as sent (%r), got %r" % (what, name, ok_body(name, req), body))
    c = w.snid.conn_for(cport)
    check(c["outcome"] == "ok", "%s: outcome=%s: %s" % (what, c["outcome"], c["line"]))
    want_be = "[::1]:%d" % w.L if name == "alpha" else "127.0.0.2:%d" % w.L
    check(c["backend"] in (want_be, "[::ffff:127.0.0.2]:%d" % w.L),
          "%s: backend=%s, want %s" % (what, c["backend"], want_be))
    check(c["up"] == len(req), "%s: up=%d, want %d" % (what, c["up"], len(req)))
    return c


def refused(w, req, status, phrase, outcome, what, timeout=5.0):
    """req must get exactly the minimal response status and a close, with no
    backend seeing a connection, and one access line with outcome."""
    got, how, secs, cport = http_send(w, req, timeout)
    check(got == response(status, phrase), "%s: want %r, got %s (%s)"
          % (what, response(status, phrase), describe(got, 120), how))
    check(how in ("eof", "reset"), "%s: not closed after the response (%s)" % (what, how))
    c = w.snid.conn_for(cport)
    check(c["outcome"] == outcome, "%s: outcome=%s, want %s; line: %s"
          % (what, c["outcome"], outcome, c["line"]))
    check(c["backend"] == "-" or outcome in ("connect-failed",),
          "%s: a backend in the log: %s" % (what, c["line"]))
    return c, secs


def no_backend_saw(w, what, settle=0.3):
    time.sleep(settle)
    for name, b in w.backends.items():
        check(not b.accepts(), "%s: backend %s saw a connection: %s" % (what, name, b.events()))


def curl(w, url, extra=()):
    host = url.split("/")[2].split(":")[0]
    return run(["curl", "-sS", "--max-time", str(10 * SLOW), "-D", "-",
                "--resolve", "%s:%d:127.0.0.1" % (host, w.L)] + list(extra) + [url],
               timeout=15 * SLOW)


# --- cases -------------------------------------------------------------------

def test_http_routed_with_curl_by_host(case):
    """curl http://NAME:L/ reaches the backend named by its Host, which gets
    curl's request unchanged."""
    w = http_world(case)
    for name in ("alpha", "beta"):
        rc, out, err = curl(w, "http://%s.test:%d/whoami" % (name, w.L))
        check(rc == 0 and " 200 " in out.split("\n")[0], "curl %s: rc=%d out=%r err=%r"
              % (name, rc, out, err.strip()))
        reqs = w.backends[name].requests()
        check(len(reqs) == 1, "backend %s: want 1 request, got %d" % (name, len(reqs)))
        check(reqs[0].startswith(b"GET /whoami HTTP/1.1\r\nHost: %s.test:%d\r\n"
                                 % (name.encode(), w.L)),
              "backend %s got %s" % (name, describe(reqs[0], 80)))
        check(out.rstrip("\n").endswith(ok_body(name, reqs[0]).decode().strip()),
              "curl %s: the body is not the backend's echo of what it got: %r" % (name, out))
    conns = w.snid.wait_conns(2)
    check([c["sni"] for c in conns] == ["alpha.test", "beta.test"] and
          all(c["outcome"] == "ok" for c in conns),
          "access lines: %s" % [c["line"] for c in conns])


def test_http_request_bytes_unchanged_host_with_port_and_case(case):
    """A Host with a port and in upper case, a field name in odd case, and
    unusual but valid fields: the backend gets exactly the bytes sent; sni=
    logs the Host as sent without its port."""
    w = http_world(case)
    r = (b"GET /a%20b?x=1&y=%C3%A9 HTTP/1.1\r\n"
         b"hOsT: ALPHA.Test:8080\r\n"
         b"User-Agent: \xc3\xa9t\xc3\xa9\t(obs-text)\r\n"
         b"X-Empty:\r\n"
         b"Connection: close\r\n\r\n")
    c = routed(w, "alpha", r, "Host ALPHA.Test:8080")
    check(c["sni"] == "ALPHA.Test", "sni=%s, want ALPHA.Test" % c["sni"])
    routed(w, "beta", req("beta.test."), "Host with a trailing dot")
    routed(w, "alpha", b"\r\n" + req("alpha.test"), "an empty line before the request line")


def test_http_backend_port_is_the_listen_port(case):
    """-backend-port applies to TLS listeners only: on the same snid, TLS goes
    to -backend-port and HTTP to the port the client connected to."""
    w0 = world(case, ("alpha",), start_snid=False, hold_listen=True)  # raw backend on [::1]:B
    tls_port, B = w0.L, w0.B
    w = http_world(case, ("alpha",), dns=w0.dns,
                   listen_extra=["-listen", "tcp:127.0.0.1:%d" % tls_port,
                                 "-backend-port", str(B)])
    c = routed(w, "alpha", req("alpha.test"), "HTTP with -backend-port set")
    check(c["backend"] == "[::1]:%d" % w.L, "HTTP went to %s" % c["backend"])
    s = connect("127.0.0.1", tls_port, 5 * SLOW)
    try:
        s.sendall(client_hello("alpha.test"))
        s.settimeout(5 * SLOW)
        line = s.recv(200)
    finally:
        s.close()
    check(line.startswith(b"backend=alpha hello_sha256="),
          "TLS on the same snid did not reach the raw backend on -backend-port: %r" % line)


def test_http10_without_host(case):
    """HTTP/1.0 without Host goes to -default-hostname; without one it is 400."""
    w = http_world(case)
    r = req(None, version="1.0", close=False)
    refused(w, r, 400, "Bad Request", "no-sni", "HTTP/1.0 without Host, no -default-hostname")
    no_backend_saw(w, "HTTP/1.0 without Host")
    w.snid.stop()
    w2 = http_world(case, extra=["-default-hostname", "beta.test"])
    c = routed(w2, "beta", r, "HTTP/1.0 without Host, -default-hostname beta.test")
    check(c["sni"] == "-", "sni=%s for a request without Host" % c["sni"])
    # A Host still wins over -default-hostname.
    routed(w2, "alpha", req("alpha.test", version="1.0"), "HTTP/1.0 with Host")


def test_http11_without_host_is_400(case):
    w = http_world(case, extra=["-default-hostname", "beta.test"])
    refused(w, req(None), 400, "Bad Request", "bad-request", "HTTP/1.1 without Host")
    refused(w, b"GET / HTTP/1.1\r\nHost: alpha.test\r\nHost: beta.test\r\n\r\n",
            400, "Bad Request", "bad-request", "two Host fields")
    refused(w, b"GET / HTTP/1.1\nHost: alpha.test\n\n", 400, "Bad Request", "bad-request",
            "bare LF line ends")
    no_backend_saw(w, "malformed heads")


def test_http_ip_literal_or_bad_host_is_400(case):
    w = http_world(case)
    for host in ("127.0.0.1", "127.0.0.2:80", "[::1]", "[::1]:80", "host.123", "a..b.test"):
        c, _ = refused(w, req(host), 400, "Bad Request", "bad-name", "Host " + host)
    no_backend_saw(w, "IP-literal Hosts")


def test_http_nxdomain_and_denied_get_421(case):
    """A name that does not resolve, or resolves outside the allow-list, gets
    421 and reaches no one: alpha.test (::1) is outside 127.0.0.2/32, and the
    alpha backend on [::1]:L is the decoy."""
    w = http_world(case, cidrs=("127.0.0.2/32",))
    decoy = w.backends["alpha"]
    # The decoy works when reached directly, so its silence below means something.
    s = connect("::1", w.L, 5 * SLOW)
    try:
        s.sendall(req("alpha.test"))
        got, _ = read_all(s, 5 * SLOW)
    finally:
        s.close()
    check(got.endswith(ok_body("alpha", req("alpha.test"))), "decoy direct: %s" % describe(got))
    seen = len(decoy.accepts())
    check(seen == 1, "decoy logged %d accepts for one direct connection" % seen)
    refused(w, req("nope.test"), 421, "Misdirected Request", "nxdomain", "NXDOMAIN")
    refused(w, req("alpha.test"), 421, "Misdirected Request", "denied", "outside the allow-list")
    refused(w, req("v4only.test"), 421, "Misdirected Request", "denied", "127.0.0.1, not allowed")
    time.sleep(0.3)
    check(len(decoy.accepts()) == seen, "the decoy saw a connection through snid: %s"
          % decoy.events())
    check(not w.backends["beta"].accepts(), "beta saw a connection")
    routed(w, "beta", req("beta.test"), "beta inside the allow-list")


def test_http_dns_timeout_and_refusing_backend_get_502(case):
    dns = case.dns_responder({"slow.test": "drop", "alpha.test": "aaaa:::1"})
    w = http_world(case, backends=("beta",), dns=dns, extra=["-dns-timeout", "1"])
    _, secs = refused(w, req("slow.test"), 502, "Bad Gateway", "dns-error", "DNS timeout")
    check(secs < 4, "DNS timeout: answered after %.1fs with -dns-timeout 1" % secs)
    # Nothing listens on [::1]:L: the connect is refused.
    refused(w, req("alpha.test"), 502, "Bad Gateway", "connect-failed", "backend refusing")


def test_http_oversized_head_gets_431_or_414(case):
    w = http_world(case)
    big = req("alpha.test", headers=["X-Pad: " + "a" * 9000])
    refused(w, big, 431, "Request Header Fields Too Large", "bad-request", "9 KiB field")
    many = req("alpha.test", headers=["X-%d: v" % i for i in range(1500)])
    refused(w, many, 431, "Request Header Fields Too Large", "bad-request", "1500 fields")
    refused(w, req("alpha.test", path="/" + "p" * 9000), 414, "URI Too Long", "bad-request",
            "9 KiB target")
    refused(w, b"GET / HTTP/2.0\r\nHost: alpha.test\r\n\r\n", 505,
            "HTTP Version Not Supported", "bad-request", "HTTP/2.0")
    no_backend_saw(w, "oversized heads")
    # Just under the bound still routes.
    pad = 8192 - len(req("alpha.test", headers=["X-Pad: "]))
    routed(w, "alpha", req("alpha.test", headers=["X-Pad: " + "b" * pad]), "an 8192-byte head")


def test_tls_hello_on_http_listener_gets_400_at_once(case):
    w = http_world(case, extra=["-hello-timeout", "10"])
    _, secs = refused(w, client_hello("alpha.test"), 400, "Bad Request", "bad-request",
                      "a TLS ClientHello")
    check(secs < 2, "the ClientHello was answered after %.1fs, not at once" % secs)
    # Even its first byte alone.
    _, secs = refused(w, b"\x16", 400, "Bad Request", "bad-request", "byte 0x16")
    check(secs < 2, "byte 0x16 answered after %.1fs" % secs)
    no_backend_saw(w, "TLS on the http: listener")


def test_http_head_trickled_in_pieces_routed(case):
    """A head that arrives a few bytes per segment (CRLF split across
    segments too) is routed once complete, unchanged."""
    w = http_world(case)
    r = req("beta.test", path="/trickled", headers=["X-A: 1", "X-B: 2"])
    s = connect("127.0.0.1", w.L, 5 * SLOW)
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cport = s.getsockname()[1]
        for i in range(0, len(r), 3):
            s.sendall(r[i:i + 3])
            time.sleep(0.005)
        got, how = read_all(s, 5 * SLOW)
    finally:
        s.close()
    check(got.endswith(ok_body("beta", r)), "trickled head: %s (%s)" % (describe(got, 120), how))
    c = w.snid.conn_for(cport)
    check(c["outcome"] == "ok" and c["up"] == len(r), "line: %s" % c["line"])


def test_http_slow_head_closed_at_hello_timeout(case):
    """A head that trickles in (one byte every 0.2 s, never ending) is closed
    at -hello-timeout without a response."""
    w = http_world(case, extra=["-hello-timeout", "1"])
    s = connect("127.0.0.1", w.L, 5 * SLOW)
    cport = s.getsockname()[1]
    t0 = time.monotonic()
    closed, got = None, b""
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: alpha.test\r\n")
        for i in range(int(30 * SLOW)):
            try:
                s.sendall(b"X-Slow: 1\r\n"[i % 11:i % 11 + 1])
            except (BrokenPipeError, ConnectionResetError):
                closed = time.monotonic() - t0
                break
            s.settimeout(0.2)
            try:
                b = s.recv(100)
                got += b
                if not b:
                    closed = time.monotonic() - t0
                    break
            except socket.timeout:
                pass
            except ConnectionResetError:
                closed = time.monotonic() - t0
                break
    finally:
        s.close()
    check(closed is not None, "slow head still open after %.1fs (hello timeout 1 s)"
          % (time.monotonic() - t0))
    check(0.8 <= closed <= 3 * SLOW, "closed after %.1fs, want about 1 s" % closed)
    check(got == b"", "a response to a timed-out head: %s" % describe(got))
    c = w.snid.conn_for(cport)
    check(c["outcome"] == "timeout", "outcome=%s: %s" % (c["outcome"], c["line"]))
    no_backend_saw(w, "slow head")


def test_http_post_body_forwarded_unchanged(case):
    """A POST whose 1 MiB body arrives with and after the head reaches the
    backend byte for byte (sha256 of head and body)."""
    w = http_world(case)
    body = hashlib.sha256(b"seed").digest() * (1 << 15)    # 1 MiB
    r = req("alpha.test", path="/upload", method="POST", body=body,
            headers=["Content-Type: application/octet-stream"])
    c = routed(w, "alpha", r, "POST 1 MiB")
    check(c["down"] > 0, "down=%d" % c["down"])
    # And with curl, the body from a file.
    path = os.path.join(case.dir, "body.bin")
    with open(path, "wb") as f:
        f.write(body)
    rc, out, err = curl(w, "http://beta.test:%d/upload" % w.L, ["--data-binary", "@" + path])
    check(rc == 0 and " 200 " in out.split("\n")[0], "curl POST: rc=%d %r %r" % (rc, out, err))
    got = w.backends["beta"].requests()[-1]
    check(got.endswith(body) and hashlib.sha256(got[-len(body):]).digest() ==
          hashlib.sha256(body).digest(), "curl's POST body changed on the way")


def test_http_acme_challenge_routed(case):
    """ACME HTTP-01: the CA fetches /.well-known/acme-challenge/TOKEN by name."""
    w = http_world(case)
    token = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
    rc, out, err = curl(w, "http://alpha.test:%d/.well-known/acme-challenge/%s" % (w.L, token))
    check(rc == 0 and " 200 " in out.split("\n")[0], "curl: rc=%d %r %r" % (rc, out, err))
    reqs = w.backends["alpha"].requests()
    check(len(reqs) == 1 and reqs[0].startswith(
        ("GET /.well-known/acme-challenge/%s HTTP/1.1\r\n" % token).encode()),
        "backend got %s" % [describe(r, 80) for r in reqs])
    check(not w.backends["beta"].accepts(), "beta saw the challenge")


def test_http_keep_alive_later_requests_follow_the_first(case):
    """Only the first request of a connection is routed: a second one on the
    same connection goes to the same backend, whatever its Host says
    (documented)."""
    w = http_world(case)
    r1 = req("alpha.test", close=False)
    r2 = req("beta.test", path="/second")
    s = connect("127.0.0.1", w.L, 5 * SLOW)
    try:
        s.sendall(r1)
        first = b""
        deadline = time.monotonic() + 5 * SLOW
        while ok_body("alpha", r1) not in first and time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            b = s.recv(4096)
            if not b:
                break
            first += b
        check(ok_body("alpha", r1) in first, "first answer: %s" % describe(first, 120))
        s.sendall(r2)
        second, how = read_all(s, 5 * SLOW)
    finally:
        s.close()
    check(second.endswith(ok_body("alpha", r2)),
          "the second request did not stay with alpha: %s" % describe(second, 120))
    check(not w.backends["beta"].accepts(), "beta saw a connection")


def test_http_behind_proxy_header(case):
    """proxy:http: - the PROXY header comes first, then the request head: the
    backend gets the request alone, unchanged, and the log the carried client."""
    w = http_world(case, wrap="proxy:http:")
    r = req("beta.test", path="/behind-lb")
    for hdr, client in ((b"PROXY TCP4 192.0.2.7 127.0.0.1 51234 %d\r\n" % w.L,
                         "192.0.2.7:51234"),
                        (b"PROXY TCP6 2001:db8::7 ::1 40000 %d\r\n" % w.L,
                         "[2001:db8::7]:40000")):
        got, how, _, _ = http_send(w, hdr + r)
        check(got.startswith(b"HTTP/1.1 200 OK\r\n") and got.endswith(ok_body("beta", r)),
              "behind %r: got %s (%s)" % (hdr, describe(got, 120), how))
        check(w.backends["beta"].requests()[-1] == r, "the backend did not get the request alone")
        wait_until(lambda: [c for c in w.snid.conns() if c["client"] == client], 5 * SLOW)
        c = [c for c in w.snid.conns() if c["client"] == client]
        check(len(c) == 1 and c[0]["outcome"] == "ok" and c[0]["sni"] == "beta.test",
              "no ok line for client=%s: %s" % (client, [c["line"] for c in w.snid.conns()]))
    # A bad PROXY header is closed without an HTTP response: the peer is a load balancer.
    got, how, _, _ = http_send(w, b"PROXY BOGUS\r\n" + r)
    check(got == b"", "a bad PROXY header got %s" % describe(got, 80))
    # The request head is still judged after the header.
    got, how, _, _ = http_send(w, b"PROXY TCP4 192.0.2.8 127.0.0.1 1 2\r\n" + req("127.0.0.1"))
    check(got == response(400, "Bad Request"), "IP Host behind PROXY: %s" % describe(got, 80))


def test_http_unix_listener_needs_no_backend_port(case):
    """An http:unix: listener starts without -backend-port (its backends get
    port 80); a plain unix: one still needs it."""
    base = ["-backend-cidr", "::1/128", "-dns-server", "127.0.0.1:9"]
    case.snid(["-listen", "http:unix:%s/h.sock" % case.dir] + base)
    rc, out, err = run([SNID, "-listen", "unix:%s/t.sock" % case.dir] + base, timeout=10 * SLOW)
    check(rc == 2 and "backend-port" in err, "plain unix: without -backend-port: rc=%d %s"
          % (rc, err.strip()))
