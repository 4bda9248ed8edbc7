"""The integration cases of the tcp-mode proxy path: one function per
behaviour, named after it.  The loopback world they build (world(), the
RECORDS, backends alpha and beta) is described in fixtures.py; as root,
test_two_namespace_topology also routes into a real /80 between network
namespaces.
"""

import hashlib
import os
import re
import select
import socket
import struct
import subprocess
import threading
import time

from snidtest import (Fail, Skip, check, client_hello, connect, describe, dns_query,
                      exchange, frame, gen_chunks, gen_sha, hello_message,
                      parse_records, read_all, read_line, run, wait_until,
                      want_reply, SLOW, VALGRIND)
# Re-exported: other case files and helpers written against the old layout
# import world and its kin from here.
from fixtures import (ADDR, RECORDS, STD_CIDRS, World, backend_field,  # noqa: F401
                      delta, metrics, metrics_world,
                      good_client, ip, no_accepts, probe_from, refused,
                      NotifySocket, recv_stream, start_decoy, start_snid_with_nofile,
                      topology, world)
from servers import listen, recv_hello

_decoy = start_decoy    # the old name, for case files written against it

# --- routing with real clients ----------------------------------------------

def _bundle(case, w):
    path = os.path.join(case.dir, "ca.pem")
    with open(path, "w") as f:
        for b in w.backends.values():
            f.write(open(b.cert).read())
    return path


def _check_ok_lines(w, n):
    conns = w.snid.wait_conns(n)
    check(len(conns) == n, "want %d access lines, got %d: %s" %
          (n, len(conns), [c["line"] for c in conns]))
    for c in conns:
        check(c["outcome"] == "ok", "not ok: " + c["line"])
        name = c["sni"].split(".")[0]
        check(name in ADDR and c["backend"] in backend_field(name, w.B),
              "sni=%s logged with backend=%s" % (c["sni"], c["backend"]))


def test_routed_with_curl(case):
    w = world(case, ("alpha", "beta"), tls=True)
    ca = _bundle(case, w)
    for name in ("alpha", "beta"):
        host = name + ".test"
        rc, out, err = run(["curl", "-sS", "--max-time", str(10 * SLOW), "--cacert", ca,
                            "--resolve", "%s:%d:127.0.0.1" % (host, w.L),
                            "https://%s:%d/whoami" % (host, w.L)], timeout=15 * SLOW)
        check(rc == 0 and out.strip() == "backend=" + name,
              "curl %s: rc=%d out=%r err=%r" % (host, rc, out, err.strip()))
    _check_ok_lines(w, 2)


def test_routed_with_openssl_s_client(case):
    w = world(case, ("alpha", "beta"), tls=True)
    for name in ("alpha", "beta"):
        host = name + ".test"
        rc, out, err = run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % w.L,
                            "-servername", host, "-CAfile", w.backends[name].cert,
                            "-verify_return_error", "-verify_hostname", host, "-quiet"],
                           input=b"GET /whoami HTTP/1.0\r\n\r\n", timeout=15 * SLOW)
        check(rc == 0 and "backend=" + name in out,
              "s_client %s: rc=%d out=%r err=%r" % (host, rc, out[-200:], err[-300:]))
    _check_ok_lines(w, 2)


def test_routed_with_gnutls_cli(case):
    w = world(case, ("alpha", "beta"), tls=True)
    for name in ("alpha", "beta"):
        host = name + ".test"
        rc, out, err = run(["gnutls-cli", "127.0.0.1", "-p", str(w.L), "--sni-hostname", host,
                            "--verify-hostname", host, "--x509cafile", w.backends[name].cert],
                           input=b"GET /whoami HTTP/1.0\r\n\r\n", timeout=15 * SLOW)
        check(rc == 0 and "backend=" + name in out,
              "gnutls-cli %s: rc=%d out=%r err=%r" % (host, rc, out[-300:], err[-300:]))
    _check_ok_lines(w, 2)


def test_backend_port_defaults_to_listen_port(case):
    w = world(case, ("alpha",), backend_port=False)
    good_client(w, "alpha")
    c = w.snid.wait_conns(1)[0]
    check(c["backend"] == "[::1]:%d" % w.L, "backend=%s, want [::1]:%d" % (c["backend"], w.L))


def test_ipv6_listener_routed(case):
    w = world(case, ("alpha",), extra=["-listen", "tcp:[::1]:0"])
    L6 = w.snid.port_of("::1")
    cport = good_client(w, "alpha", host="::1", port=L6)
    good_client(w, "alpha")
    conns = w.snid.wait_conns(2)
    check(any(c["client"] == "[::1]:%d" % cport and c["outcome"] == "ok" for c in conns),
          "no ok line with client=[::1]:%d: %s" % (cport, [c["line"] for c in conns]))


def test_a_record_only_queried_when_ipv4_prefix_allowed(case):
    # beta.test only has an A record: routed when 127.0.0.2/32 is allowed...
    w = world(case, ("beta",))
    good_client(w, "beta")
    # ...and with only an IPv6 prefix, snid must not even ask for A records.
    w2 = world(case, ("alpha",), cidrs=("::1/128",), dns=w.dns)
    before = len([q for q in w.dns.queries() if q[0] == "A"])
    refused(w2, client_hello("beta.test"), 112, ("denied", "nxdomain"), "beta.test, no v4 prefix")
    good_client(w2, "alpha")
    after = [q for q in w.dns.queries() if q[0] == "A"]
    check(len(after) == before, "A queries sent with no IPv4 prefix allowed: %s" % after[before:])


# --- the ClientHello on the wire --------------------------------------------

LONG_ALPN = ",".join("proto-%02d-%s" % (i, "x" * 24) for i in range(30))


def _capture_hello(case, argv_fn, timeout=10):
    """Run a client against a listener of ours and return the bytes of its
    first hello (whole records)."""
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    port = ls.getsockname()[1]
    p = case.spawn("capture client", argv_fn(port), stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    try:
        ls.settimeout(timeout)
        c, _ = ls.accept()
        data, k = recv_hello(c, timeout=timeout)
        c.close()
        check(k and k > 0, "no whole hello captured: %s" % describe(data))
        return data[:k]
    finally:
        ls.close()
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()


def test_hello_split_over_records(case):
    # 1. Prove that s_client -max_send_frag 512 really splits its hello.
    def argv(port):
        return ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
                "-servername", "alpha.test", "-max_send_frag", "512", "-alpn", LONG_ALPN]
    cap = _capture_hello(case, argv)
    recs = parse_records(cap)
    check(len(recs) >= 2 and all(r[0] == 22 for r in recs),
          "s_client did not split its hello: %d records of %d bytes" % (len(recs), len(cap)))
    case.note("s_client -max_send_frag 512 sent its %d-byte hello in %d records"
              % (len(cap), len(recs)))
    # 2. The same client through snid to the real TLS backend.
    w = world(case, ("alpha",), tls=True)
    rc, out, err = run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % w.L,
                        "-servername", "alpha.test", "-max_send_frag", "512",
                        "-alpn", LONG_ALPN, "-CAfile", w.backends["alpha"].cert,
                        "-verify_return_error", "-quiet"],
                       input=b"GET /whoami HTTP/1.0\r\n\r\n", timeout=15 * SLOW)
    check(rc == 0 and "backend=alpha" in out,
          "split hello via snid: rc=%d out=%r err=%r" % (rc, out[-200:], err[-300:]))
    # 3. A hello re-framed into 100-byte records, forwarded byte for byte.
    w2 = world(case, ("alpha",), dns=w.dns)
    msg = hello_message("alpha.test", pad=700)
    hello = frame(msg, 100)
    check(len(parse_records(hello)) >= 8, "re-framing failed")
    s = connect("127.0.0.1", w2.L)
    s.sendall(hello)
    line = read_line(s, 5 * SLOW)
    s.close()
    want = want_reply("alpha", hello)
    check(line == want, "100-byte records: backend got %r, want %r" % (line, want))


def test_hello_size_bound(case):
    """A 15 KiB hello in one record is routed; a 20 KiB one (over the 16 KiB
    bound, so in two records) is refused with an alert, never forwarded."""
    w = world(case, ("alpha",))
    big = frame(hello_message("alpha.test", pad=15000))
    good_client(w, "alpha", hello=big)
    huge = frame(hello_message("alpha.test", pad=20000), 16384)
    s = connect("127.0.0.1", w.L)
    cport = s.getsockname()[1]
    try:
        s.sendall(huge)
    except (BrokenPipeError, ConnectionResetError):
        pass        # refused before we finished sending: fine
    got, how = read_all(s, 5 * SLOW)
    s.close()
    check(not got.startswith(b"backend="), "20 KiB hello was forwarded")
    check(got in (bytes.fromhex("15030300020232"), bytes.fromhex("1503030002022f")),
          "20 KiB hello: want alert 50 (or 47), got %s" % describe(got))
    c = w.snid.conn_for(cport)
    check(c["outcome"] == "bad-hello", c["line"])
    no_accepts_after = len(w.backends["alpha"].accepts())
    check(no_accepts_after == 1, "backend saw %d connections, want 1" % no_accepts_after)


def test_hello_sent_one_byte_per_write(case):
    w = world(case, ("alpha",))
    hello = client_hello("alpha.test")
    s = connect("127.0.0.1", w.L)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(len(hello)):
        s.send(hello[i:i + 1])
        time.sleep(0.002)
    line = read_line(s, 5 * SLOW)
    s.close()
    want = want_reply("alpha", hello)
    check(line == want, "backend got %r, want %r" % (line, want))


def test_upper_case_and_trailing_dot_routed(case):
    w = world(case, ("alpha", "beta"))
    for sni, name in (("ALPHA.TEST", "alpha"), ("alpha.test.", "alpha"),
                      ("Beta.Test.", "beta")):
        good_client(w, name, sni=sni)
    conns = w.snid.wait_conns(3)
    check([c["outcome"] for c in conns] == ["ok"] * 3, [c["line"] for c in conns])


# --- refusals -----------------------------------------------------------------

def test_denied_outside_prefix(case):
    w = world(case, ("alpha",), cidrs=("::1/128",))
    decoy = start_decoy(case, "127.0.0.1", w.B)
    refused(w, client_hello("mapped.test"), 112, "denied", "mapped.test (::ffff:127.0.0.1)")
    refused(w, client_hello("outside.test"), 112, "denied", "outside.test (2001:db8::dead)")
    refused(w, client_hello("v4only.test"), 112, ("denied", "nxdomain"), "v4only.test (A 127.0.0.1)")
    time.sleep(0.3)
    check(len(decoy.accepts()) == 1, "the decoy outside the prefix was contacted: %s"
          % decoy.accepts()[1:])
    no_accepts(w, "refused names", 0)
    good_client(w, "alpha")


def _denied_past_decoys(case, cidrs, names):
    """Each of names ({name: its address}) is refused as denied; decoys on
    [::1]:B and 127.0.0.1:B see nothing but their control connection."""
    w = world(case, (), cidrs=cidrs)
    decoys = {"[::1]": start_decoy(case, "::1", w.B),
              "127.0.0.1": start_decoy(case, "127.0.0.1", w.B)}
    for name, addr in names.items():
        refused(w, client_hello(name), 112, "denied", "%s (%s)" % (name, addr))
    time.sleep(0.3)
    for where, d in decoys.items():
        check(len(d.accepts()) == 1, "%s decoy contacted: %s" % (where, d.accepts()[1:]))


def test_loopback_mapped_and_link_local_refused_when_not_allowed(case):
    _denied_past_decoys(case, ("2001:db8:ffff::/48",), {
        "loop.test": "::1", "mapped.test": "::ffff:127.0.0.1", "linklocal.test": "fe80::1"})


def test_unspecified_and_multicast_refused_inside_allowed_prefix(case):
    # connect() to :: or 0.0.0.0 reaches the local host on Linux: decoys on
    # [::1]:B and 127.0.0.1:B would see it.
    _denied_past_decoys(case, ("::/0", "0.0.0.0/0"), {
        "unspec.test": "::", "zero4.test": "0.0.0.0", "mcast.test": "ff02::1"})


def test_next_address_tried_when_first_refuses(case):
    # fallback.test: AAAA ::1 (nothing listens there) and A 127.0.0.2 (beta).
    w = world(case, ("beta",))
    good_client(w, "beta", sni="fallback.test")
    c = w.snid.wait_conns(1)[0]
    check(c["outcome"] == "ok" and c["backend"] in backend_field("beta", w.B), c["line"])


def test_nxdomain_refused(case):
    w = world(case, ("alpha",))
    r = dns_query("127.0.0.1", w.dns_port, "nope.test")
    check(r and r[0] == 3, "dnsmasq does not say NXDOMAIN for nope.test: %r" % (r,))
    refused(w, client_hello("nope.test"), 112, "nxdomain", "nope.test")
    no_accepts(w, "nxdomain")
    good_client(w, "alpha")


def test_no_sni_refused_without_default_hostname(case):
    w = world(case, ("alpha",))
    c = refused(w, client_hello(None), 112, "no-sni", "hello without SNI")
    check(c["sni"] == "-", "sni field %r, want -" % c["sni"])
    rc, out, err = run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % w.L,
                        "-noservername"], input=b"", timeout=10 * SLOW)
    check(rc != 0 and "unrecognized name" in err,
          "s_client -noservername: rc=%d, no 'unrecognized name' alert in: %r" % (rc, err[-300:]))
    no_accepts(w, "no sni")


def test_no_sni_routed_to_default_hostname(case):
    w = world(case, ("alpha",), extra=["-default-hostname", "alpha.test"])
    good_client(w, "alpha", hello=client_hello(None))     # no SNI
    wt = world(case, ("alpha",), tls=True, dns=w.dns, extra=["-default-hostname", "alpha.test"])
    rc, out, err = run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % wt.L,
                        "-noservername", "-CAfile", wt.backends["alpha"].cert,
                        "-verify_return_error", "-quiet"],
                       input=b"GET /whoami HTTP/1.0\r\n\r\n", timeout=15 * SLOW)
    check(rc == 0 and "backend=alpha" in out,
          "s_client -noservername: rc=%d out=%r err=%r" % (rc, out[-200:], err[-300:]))


def test_ip_literal_sni_refused(case):
    w = world(case, ("alpha",))
    for sni in ("127.0.0.1", "::1", "[::1]"):
        refused(w, client_hello(sni), 112, "bad-name", "SNI %s" % sni)
    asked = [q[1] for q in w.dns.queries()]
    check(not any(n in ("127.0.0.1", "::1", "[::1]") or "in-addr" in n for n in asked),
          "IP literal looked up in DNS: %s" % asked)
    no_accepts(w, "ip literals")
    good_client(w, "alpha")


def test_hyphen_edged_label_never_reaches_dns(case):
    """RFC 952/1123: a label neither starts nor ends with '-'; such an SNI
    is a probe, refused as bad-name before any lookup."""
    w = world(case, ("alpha",))
    bad = ("-zz.test", "zz-.test", "alpha.-x.test", "alpha.test-")
    for sni in bad:
        refused(w, client_hello(sni), 112, "bad-name", "SNI %s" % sni)
    asked = [q[1].lower() for q in w.dns.queries()]
    check(not any(n.strip(".") in bad for n in asked), "looked up in DNS: %s" % asked)
    no_accepts(w, "hyphen-edged labels")
    good_client(w, "alpha")


def test_malformed_hello_gets_decode_error(case):
    w = world(case, ("alpha",))
    msg = bytearray(hello_message("alpha.test"))
    # Extensions length (right after compression methods) one past the end.
    off = 4 + 2 + 32 + 1 + 32 + 2 + 14 + 2
    ln = struct.unpack("!H", msg[off:off + 2])[0]
    check(off + 2 + ln == len(msg), "test bug: extension length offset")
    msg[off:off + 2] = struct.pack("!H", ln + 1)
    refused(w, frame(bytes(msg)), 50, "bad-hello", "extensions length +1")
    no_accepts(w, "malformed")
    good_client(w, "alpha")


def _not_served_then_good(case, w, payload, what, shut_wr=False, alerts=(b"",)):
    got, how, secs = exchange("127.0.0.1", w.L, payload, 5 * SLOW, shut_wr=shut_wr)
    check(how in ("eof", "reset"), "%s: not closed within %.0fs" % (what, 5 * SLOW))
    check(got in alerts, "%s: expected %s, got %s" %
          (what, " or ".join(describe(a) for a in alerts), describe(got)))
    w.snid.check_alive()
    no_accepts(w, what)
    good_client(w, "alpha")
    return secs


def test_garbage_then_good_client_served(case):
    w = world(case, ("alpha",))
    _not_served_then_good(case, w, b"\x00\xff" + os.urandom(4094), "4 KiB of garbage")
    c = w.snid.wait_conns(2)[0]
    check(c["outcome"] == "not-tls", "garbage: outcome=%s" % c["outcome"])


def test_http_request_then_good_client_served(case):
    w = world(case, ("alpha",))
    _not_served_then_good(case, w, b"GET / HTTP/1.1\r\nHost: alpha.test\r\n\r\n", "HTTP request")
    c = w.snid.wait_conns(2)[0]
    check(c["outcome"] == "not-tls", "HTTP request: outcome=%s" % c["outcome"])


def test_truncated_hello_then_good_client_served(case):
    # A long hello timeout: the close must come from the client's EOF.
    w = world(case, ("alpha",), extra=["-hello-timeout", "20"])
    hello = client_hello("alpha.test")
    secs = _not_served_then_good(case, w, hello[:60], "truncated hello + EOF", shut_wr=True,
                                 alerts=(b"", bytes.fromhex("1503030002022f"),
                                         bytes.fromhex("15030300020232")))
    check(secs < 3 * SLOW, "truncated hello closed only after %.1fs" % secs)
    c = w.snid.wait_conns(2)[0]
    check(c["outcome"] != "ok", "truncated hello logged ok")


def test_slow_client_closed_at_hello_timeout(case):
    w = world(case, ("alpha",), extra=["-hello-timeout", "1"])
    hello = client_hello("alpha.test")
    s = connect("127.0.0.1", w.L)
    cport = s.getsockname()[1]
    t0 = time.monotonic()
    how = None
    for i in range(40):                    # 12 s worth of trickling at most
        try:
            s.send(hello[i:i + 1])
        except (BrokenPipeError, ConnectionResetError):
            how = "closed on send"
            break
        r, _, _ = select.select([s], [], [], 0.3)
        if r:
            try:
                b = s.recv(100)
            except ConnectionResetError:
                b = b""
            if not b:
                how = "closed"
                break
    secs = time.monotonic() - t0
    s.close()
    check(how, "slow client still connected after %.1fs (hello timeout 1 s)" % secs)
    check(0.8 <= secs <= 2.0 * SLOW, "slow client closed after %.2fs, want 1-2 s" % secs)
    c = w.snid.conn_for(cport)
    check(c["outcome"] == "timeout", "outcome=%s; %s" % (c["outcome"], c["line"]))
    no_accepts(w, "slow client")


def test_silent_client_closed_at_hello_timeout(case):
    w = world(case, ("alpha",), extra=["-hello-timeout", "1"])
    s = connect("127.0.0.1", w.L)
    cport = s.getsockname()[1]
    got, how = read_all(s, 5)
    s.close()
    check(how in ("eof", "reset"), "silent client not closed within 5 s")
    c = w.snid.conn_for(cport)
    check(c["outcome"] == "timeout", "outcome=%s; %s" % (c["outcome"], c["line"]))
    check(0.8 <= c["duration"] <= 2.0 * SLOW, "logged duration %.3f" % c["duration"])


# --- DNS and connect failures -------------------------------------------------

def test_client_gone_during_slow_dns(case):
    """Clients leave while their AAAA answer is delayed 2 s.  Those that
    leave with a RST are gone for sure: each is logged once, not ok, and its
    hello never reaches the backend; the answer that arrives later must not
    touch the freed connection (under valgrind: no invalid access).  Those
    that leave with a FIN may only have half-closed (the half-close case
    relies on that), so snid may still route them; each is logged once."""
    dns = case.dns_responder({"slow.test": "delay:2:::1", "alpha.test": "aaaa:::1"})
    w = world(case, ("alpha",), dns=dns, extra=["-dns-timeout", "5"])
    gone = []          # (client port, sha of its hello, 'rst'|'fin')
    for i in range(6):
        s = connect("127.0.0.1", w.L)
        hello = client_hello("slow.test")
        s.sendall(hello)
        # One query for all of them (merged): wait for it, then for this
        # client's access to the resolver (its hello read).
        ok = wait_until(lambda: sum(e["ev"] == "query" and e["name"].lower() == "slow.test"
                                    for e in dns.events()) >= 1, 3 * SLOW)
        check(ok, "snid did not ask the DNS for slow.test")
        time.sleep(0.05)
        how = "rst" if i % 2 else "fin"
        if how == "rst":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        gone.append((s.getsockname()[1], hashlib.sha256(hello).hexdigest(), how))
        s.close()
    ok = wait_until(lambda: sum(e["ev"] == "answered" and e["name"].lower() == "slow.test"
                                for e in dns.events()) >= 1, 5)
    check(ok, "responder did not answer the slow queries")
    time.sleep(0.5 * SLOW)
    w.snid.check_alive()
    reached = {e.get("hello_sha") for e in w.backends["alpha"].done()}
    for port, sha, how in gone:
        c = w.snid.conn_for(port)
        if how == "rst":
            check(c["outcome"] != "ok", "client gone with a RST logged ok: " + c["line"])
            check(sha not in reached, "hello of a client gone with a RST reached the "
                  "backend: " + c["line"])
    good_client(w, "alpha")


def test_name_resolved_once_without_search_domains(case):
    """One AAAA query per connection for exactly the name sent (no A query
    without an IPv4 prefix, no search domain appended, not even to a
    one-label name or an NXDOMAIN), and never a second resolution."""
    dns = case.dns_responder({"alpha.test": "aaaa:::1", "alpha": "aaaa:::1"})
    w = world(case, ("alpha",), dns=dns, cidrs=("::1/128",))
    good_client(w, "alpha")
    refused(w, client_hello("nope.test"), 112, "nxdomain", "nope.test")
    good_client(w, "alpha", sni="alpha")
    time.sleep(0.3)
    # Lower-cased: c-ares 1.33+ asks in DNS 0x20 random case.
    asked = [(e["name"].lower(), e["qtype"]) for e in dns.events() if e["ev"] == "query"]
    check(asked == [("alpha.test", 28), ("nope.test", 28), ("alpha", 28)],
          "DNS queries %s, want exactly alpha.test, nope.test, alpha (AAAA each)" % asked)


def test_dns_timeout_gets_internal_error(case):
    dns = case.dns_responder({"blackhole.test": "drop", "alpha.test": "aaaa:::1"})
    w = world(case, ("alpha",), dns=dns, extra=["-dns-timeout", "1"])
    t0 = time.monotonic()
    c = refused(w, client_hello("blackhole.test"), 80, "dns-error", "unanswered DNS")
    secs = time.monotonic() - t0
    check(0.5 <= secs <= 2.5 * SLOW, "DNS timeout of 1 s took %.2fs" % secs)
    no_accepts(w, "dns timeout")
    good_client(w, "alpha")


def test_dns_servfail_gets_internal_error(case):
    dns = case.dns_responder({"broken.test": "servfail", "alpha.test": "aaaa:::1"})
    w = world(case, ("alpha",), dns=dns, extra=["-dns-timeout", "2"])
    refused(w, client_hello("broken.test"), 80, "dns-error", "SERVFAIL")
    no_accepts(w, "servfail")


def test_backend_refusing_gets_internal_error(case):
    w = world(case, ())   # nothing listens on [::1]:B
    t0 = time.monotonic()
    c = refused(w, client_hello("alpha.test"), 80, "connect-failed", "nothing listening")
    check(time.monotonic() - t0 < 2 * SLOW, "refused connect took long")
    check(c["sni"] == "alpha.test", c["line"])


def test_backend_connect_timeout_gets_internal_error(case):
    """A backend whose SYNs go unanswered (its accept queue is full, so the
    kernel drops them): the connect gives up at -connect-timeout."""
    w = world(case, (), extra=["-connect-timeout", "1"])
    ls = listen("::1", w.B, backlog=0)
    fillers = []
    try:
        for _ in range(4):      # fill the queue; the kernel then drops SYNs
            f = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            f.setblocking(False)
            f.connect_ex(("::1", w.B))
            fillers.append(f)
        time.sleep(0.2)
        try:
            connect("::1", w.B, 0.5).close()
            raise Skip("could not make a backend that leaves SYNs unanswered")
        except socket.timeout:
            pass
        t0 = time.monotonic()
        refused(w, client_hello("alpha.test"), 80, "connect-failed", "unanswered SYN")
        secs = time.monotonic() - t0
        check(0.8 <= secs <= 2.5 * SLOW, "-connect-timeout 1 took %.2fs" % secs)
    finally:
        for f in fillers:
            f.close()
        ls.close()


def test_fd_exhaustion_does_not_spin_and_recovers(case):
    """With RLIMIT_NOFILE low, extra clients make accept() fail with EMFILE:
    snid must not spin on it (CPU stays low), must not flood its log, and
    must serve clients again once descriptors are free."""
    limit = 64 if not VALGRIND else 80
    # -max-connections above the limit: what is tested here is EMFILE itself.
    w = world(case, ("alpha",), start_snid=False, extra=["-max-connections", "1000"])
    start_snid_with_nofile(case, w, limit)
    good_client(w, "alpha")
    # Idle clients that never send a hello hold descriptors until the hello
    # timeout (5 s); twice the limit is more than snid can accept.
    hogs = []
    try:
        for _ in range(2 * limit):
            h = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            h.setblocking(False)
            h.connect_ex(("127.0.0.1", w.L))
            hogs.append(h)
        time.sleep(0.3)

        def cpu():
            with open("/proc/%d/stat" % w.snid.p.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        lines0 = len(w.snid.text().splitlines())
        c0, t0 = cpu(), time.monotonic()
        time.sleep(2.0)
        used, secs = cpu() - c0, time.monotonic() - t0
        new_lines = w.snid.text().splitlines()[lines0:]
        w.snid.check_alive()
        check(used < 0.5 * secs, "snid used %.2fs of CPU in %.1fs while out of descriptors "
              "(spinning?)" % (used, secs))
        noisy = [l for l in new_lines if "conn client=" not in l]
        check(len(noisy) <= 2 * secs + 2, "%d log lines in %.1fs while out of descriptors, "
              "e.g. %r" % (len(noisy), secs, noisy[:3]))
        case.note("out of descriptors: %.2fs CPU in %.1fs, %d log lines" % (used, secs, len(noisy)))
    finally:
        for h in hogs:
            h.close()
    ok = False
    deadline = time.monotonic() + 10 * SLOW
    while not ok and time.monotonic() < deadline:
        try:
            good_client(w, "alpha")
            ok = True
        except (Fail, OSError):
            time.sleep(0.2)
    check(ok, "not serving again 10 s after descriptors were freed; log: %s" % w.snid.tail())


# --- moving bytes ---------------------------------------------------------------

def _bulk(w, up, down, what, rst_after=None):
    """hello + 'bulk UP DOWN' and check both directions by sha256.  Returns
    (client port, bytes sent, bytes received)."""
    hello = client_hello("alpha.test")
    cmd = b"bulk %d %d 12\n" % (up, down)
    s = connect("127.0.0.1", w.L, 10)
    cport = s.getsockname()[1]
    s.sendall(hello + cmd)
    err = []

    def sender():
        try:
            for ch in gen_chunks(11, up):
                s.sendall(ch)
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            err.append(e)
    t = threading.Thread(target=sender, daemon=True)
    t.start()
    s.settimeout(30 * SLOW)
    buf = b""
    while b"\n" not in buf:
        b = s.recv(4096)
        check(b, "%s: EOF before the backend's reply line" % what)
        buf += b
    line, rest = buf.split(b"\n", 1)
    h = hashlib.sha256()
    got = 0
    trailer = b""
    pending = rest
    deadline = time.monotonic() + 60 * SLOW
    while True:
        if pending:
            k = min(len(pending), down - got)
            h.update(pending[:k])
            got += k
            trailer += pending[k:]
        if rst_after is not None and got >= rst_after:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
            return cport, None, got
        check(time.monotonic() < deadline, "%s: too slow (%d of %d bytes down)" % (what, got, down))
        try:
            pending = s.recv(1 << 20)
        except ConnectionResetError:
            raise Fail("%s: reset after %d of %d bytes down" % (what, got, down))
        if not pending:
            break
    t.join(30 * SLOW)
    s.close()
    check(not err, "%s: sending failed: %r" % (what, err))
    check(got == down, "%s: received %d of %d bytes down" % (what, got, down))
    check(h.hexdigest() == gen_sha(12, down), "%s: sha256 of the bytes down differs" % what)
    want = "recv=%d sha256=%s" % (up, gen_sha(11, up))
    check(trailer.decode(errors="replace").strip() == want,
          "%s: backend received %r, want %r" % (what, trailer[:120], want))
    return cport, len(hello) + len(cmd) + up, len(line) + 1 + down + len(trailer)


def test_100mb_each_way_sha256_equal(case):
    w = world(case, ("alpha",))
    n = 100 * 1000 * 1000
    t0 = time.monotonic()
    cport, up, down = _bulk(w, n, n, "100 MB each way")
    case.note("100 MB each way in %.1fs" % (time.monotonic() - t0))
    c = w.snid.conn_for(cport)
    check(c["outcome"] == "ok", c["line"])


def test_bulk_grows_pipes_and_gives_them_back(case):
    """A long transfer each way through a slow reader (Python hashing): the
    source backs up, snid's reads fill the pipe, the pipe is grown
    (snid_pipes_grown_total moves); the bytes arrive intact both ways, and
    once the connection is closed no grown pipe is left
    (snid_pipe_big_bytes back to 0)."""
    w = metrics_world(case)
    m0 = metrics(w)
    check(m0["snid_pipe_big_bytes"] == 0, "fresh snid: pipe_big_bytes=%s" % m0["snid_pipe_big_bytes"])
    n = 64 * 1000 * 1000
    cport, up, down = _bulk(w, n, n, "64 MB each way")
    c = w.snid.conn_for(cport)
    check(c["outcome"] == "ok", c["line"])
    m1 = metrics(w)
    grown = delta(m0, m1, "snid_pipes_grown_total")
    case.note("%d grow steps" % grown)
    check(grown >= 1, "no pipe grown in 64 MB each way (snid_pipes_grown_total moved by %s)" % grown)
    check(m1["snid_pipe_big_bytes"] == 0,
          "the connection is closed but %s bytes of grown pipes remain" % m1["snid_pipe_big_bytes"])


def test_half_close_reply_still_delivered(case):
    w = world(case, ("alpha",))
    hello = client_hello("alpha.test")
    s = connect("127.0.0.1", w.L)
    cport = s.getsockname()[1]
    s.sendall(hello + b"halfclose 1000000 5\n")
    payload = b"".join(bytes(c) for c in gen_chunks(4, 300000))
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    data, how = read_all(s, 10 * SLOW)
    s.close()
    check(how == "eof", "after our SHUT_WR: %s after %d bytes" % (how, len(data)))
    line, rest = data.split(b"\n", 1) if b"\n" in data else (data, b"")
    check(line.startswith(b"backend=alpha"), "no backend line: %s" % describe(data))
    body, trailer = rest[:1000000], rest[1000000:]
    check(hashlib.sha256(body).hexdigest() == gen_sha(5, 1000000),
          "reply after half-close: %d bytes, sha differs" % len(body))
    want = "recv=300000 sha256=%s" % hashlib.sha256(payload).hexdigest()
    check(trailer.decode(errors="replace").strip() == want,
          "backend saw %r, want %r" % (trailer[:100], want))
    c = w.snid.conn_for(cport)
    check(c["outcome"] == "ok", c["line"])


def test_back_pressure_bounds_buffering(case):
    """The backend reads nothing for 2 s: the client must soon be unable to
    send more (snid reads no more than the backend side can take), snid must
    not buffer it in its heap, and once the backend reads, every byte
    arrives in order."""
    w = world(case, ("alpha",))
    s = connect("127.0.0.1", w.L)
    s.sendall(client_hello("alpha.test") + b"stall 2\n")
    line = read_line(s, 5 * SLOW)
    check(line.startswith("backend=alpha"), line)

    def rss_kb():
        with open("/proc/%d/status" % w.snid.p.pid) as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
    rss0 = rss_kb()
    s.setblocking(False)
    h = hashlib.sha256()
    sent, blocked_since = 0, None
    chunk = os.urandom(65536)
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline and sent < 256 << 20:
        try:
            k = s.send(chunk)
            h.update(chunk[:k])
            sent += k
            blocked_since = None
        except BlockingIOError:
            blocked_since = blocked_since or time.monotonic()
            time.sleep(0.01)
    check(blocked_since is not None, "client could push %d MB into a stalled backend "
          "without blocking" % (sent >> 20))
    grew = rss_kb() - rss0
    case.note("%.1f MB in flight before the client blocked; snid RSS grew %d KiB"
              % (sent / 1e6, grew))
    check(sent < 64 << 20, "%d MB accepted while the backend read nothing" % (sent >> 20))
    check(grew < 8192, "snid RSS grew by %d KiB while the backend stalled" % grew)
    s.setblocking(True)
    s.shutdown(socket.SHUT_WR)
    rest, how = read_all(s, 15 * SLOW)
    s.close()
    want = "recv=%d sha256=%s" % (sent, h.hexdigest())
    check(rest.decode(errors="replace").strip() == want,
          "after the stall the backend got %r, want %r" % (rest[:100], want))


def test_backend_reset_propagated_to_client(case):
    w = world(case, ("alpha",))
    s = connect("127.0.0.1", w.L)
    cport = s.getsockname()[1]
    s.sendall(client_hello("alpha.test") + b"reset\n")
    line = read_line(s, 5 * SLOW)
    check(line.startswith("backend=alpha"), line)
    got, how = read_all(s, 5 * SLOW)
    s.close()
    check(how == "reset", "backend reset arrived at the client as %s" % how)
    c = w.snid.conn_for(cport)
    check(c["outcome"] == "reset", "outcome=%s; %s" % (c["outcome"], c["line"]))


def test_client_reset_mid_transfer_daemon_survives(case):
    w = world(case, ("alpha",))
    cport, _, got = _bulk(w, 0, 50 * 1000 * 1000, "client reset", rst_after=1000000)
    ok = wait_until(lambda: w.backends["alpha"].done(), 5 * SLOW)
    check(ok, "backend still connected 5 s after the client's reset")
    c = w.snid.conn_for(cport)
    check(c["outcome"] == "reset", "client RST logged as outcome=%s; %s" % (c["outcome"], c["line"]))
    w.snid.check_alive()
    good_client(w, "alpha")


def test_300_concurrent_connections_served(case):
    # 300 from one address: above the default per-source limit of 256.
    w = world(case, ("alpha", "beta"), extra=["-max-connections-per-source", "400"])
    n = 300
    socks, hellos, names = [], [], []
    t0 = time.monotonic()
    try:
        for i in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", w.L))
            socks.append(s)
            names.append("alpha" if i % 2 == 0 else "beta")
            hellos.append(client_hello(names[-1] + ".test"))
        # Every connection open at once; then the hellos.
        pending = set(range(n))
        deadline = time.monotonic() + 20 * SLOW
        while pending and time.monotonic() < deadline:
            _, wr, _ = select.select([], [socks[i] for i in pending], [], 1)
            for s in wr:
                i = socks.index(s)
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                check(err == 0, "connection %d failed: %s" % (i, os.strerror(err)))
                s.setblocking(True)
                s.sendall(hellos[i])
                s.setblocking(False)
                pending.discard(i)
        check(not pending, "%d connections never became writable" % len(pending))
        bufs = [b""] * n
        pending = set(range(n))
        while pending and time.monotonic() < deadline:
            rd, _, _ = select.select([socks[i] for i in pending], [], [], 1)
            for s in rd:
                i = socks.index(s)
                b = s.recv(4096)
                bufs[i] += b
                if b"\n" in bufs[i] or not b:
                    pending.discard(i)
        check(not pending, "%d of %d connections got no reply within %.0fs" %
              (len(pending), n, 20 * SLOW))
        bad = []
        for i in range(n):
            want = "backend=%s hello_sha256=%s" % (names[i], hashlib.sha256(hellos[i]).hexdigest())
            if not bufs[i].decode(errors="replace").startswith(want):
                bad.append((i, bufs[i][:60]))
        check(not bad, "%d wrong replies, e.g. %r" % (len(bad), bad[:3]))
    finally:
        for s in socks:
            s.close()
    case.note("300 concurrent served in %.1fs" % (time.monotonic() - t0))
    conns = w.snid.wait_conns(n, 10)
    check(len(conns) == n and all(c["outcome"] == "ok" for c in conns),
          "%d access lines, outcomes %s" % (len(conns), sorted({c["outcome"] for c in conns})))


def test_sigterm_lets_transfer_finish(case):
    w = world(case, ("alpha",), extra=["-shutdown-timeout", "20"])
    down = 2000000
    s = connect("127.0.0.1", w.L)
    cport = s.getsockname()[1]
    s.sendall(client_hello("alpha.test") + b"slow %d 2\n" % down)
    line = read_line(s, 5 * SLOW)
    check(line.startswith("backend=alpha"), line)
    s.settimeout(5)
    first = s.recv(65536)
    check(first, "no data before SIGTERM")
    os.kill(w.snid.p.pid, 15)
    w.snid.stopped = True
    t_term = time.monotonic()

    def refused_now():
        try:
            connect("127.0.0.1", w.L, 0.5).close()
            return False
        except ConnectionRefusedError:
            return True
        except OSError:
            return False
    check(wait_until(refused_now, 1.0 * SLOW, 0.05),
          "new connections still accepted %.1fs after SIGTERM" % (1.0 * SLOW))
    recv_stream(s, first, down, 7, "transfer after SIGTERM")
    s.shutdown(socket.SHUT_WR)
    rest, how = read_all(s, 5 * SLOW)
    s.close()
    check(how == "eof" and rest.startswith(b"recv=0 "), "end of transfer: %s %s" % (how, describe(rest)))
    check(w.snid.p.poll() is None or time.monotonic() - t_term > 1.5,
          "snid exited before the transfer finished")
    try:
        rc = w.snid.p.wait(timeout=5 * SLOW)
    except subprocess.TimeoutExpired:
        raise Fail("snid did not exit within %.0fs after the last connection ended" % (5 * SLOW))
    check(rc == 0, "snid exited %d after SIGTERM; log: %s%s" % (rc, w.snid.tail(), w.snid.valgrind_summary()))
    # (Probes that connected before the listener closed have lines of their own.)
    c = [x for x in w.snid.conns() if x["client"] == "127.0.0.1:%d" % cport]
    check(len(c) == 1 and c[0]["outcome"] == "ok", "transfer's access line(s): %s; log: %s"
          % ([x["line"] for x in c], w.snid.tail()))


def test_sigterm_cuts_idle_connection_at_shutdown_timeout(case):
    w = world(case, ("alpha",), extra=["-shutdown-timeout", "1"])
    s = connect("127.0.0.1", w.L)
    s.sendall(client_hello("alpha.test") + b"hold\n")
    read_line(s, 5 * SLOW)
    t0 = time.monotonic()
    os.kill(w.snid.p.pid, 15)
    w.snid.stopped = True
    try:
        rc = w.snid.p.wait(timeout=5 * SLOW)
    except subprocess.TimeoutExpired:
        raise Fail("snid still running %.0fs after SIGTERM with -shutdown-timeout 1" % (5 * SLOW))
    secs = time.monotonic() - t0
    got, how = read_all(s, 2)
    s.close()
    check(rc == 0, "exit status %d; %s%s" % (rc, w.snid.tail(), w.snid.valgrind_summary()))
    check(0.8 <= secs <= 3 * SLOW, "exited %.2fs after SIGTERM, want about 1 s" % secs)
    check(how in ("eof", "reset"), "client connection not closed at exit")
    check(len(w.snid.conns()) == 1, "want one access line for the cut connection: %s" % w.snid.tail())


def test_access_log_one_line_per_connection_with_byte_counts(case):
    w = world(case, ("alpha",))
    hello = client_hello("alpha.test")
    cmd = b"halfclose 5000 3\n"
    payload = os.urandom(1000)
    s = connect("127.0.0.1", w.L)
    p_ok = s.getsockname()[1]
    s.sendall(hello + cmd + payload)
    s.shutdown(socket.SHUT_WR)
    data, how = read_all(s, 10 * SLOW)
    s.close()
    check(how == "eof" and data.startswith(b"backend=alpha"), "transfer: %s %s" % (how, describe(data)))
    s = connect("127.0.0.1", w.L)
    p_nx = s.getsockname()[1]
    s.sendall(client_hello("nope.test"))
    read_all(s, 5 * SLOW)
    s.close()
    s = connect("127.0.0.1", w.L)
    p_http = s.getsockname()[1]
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    read_all(s, 5 * SLOW)
    s.close()
    w.snid.wait_conns(3)
    w.snid.stop()
    conns = w.snid.conns()
    check(len(conns) == 3, "want exactly 3 access lines, got %d: %s" %
          (len(conns), [c["line"] for c in conns]))
    by = {int(c["client"].rsplit(":", 1)[1]): c for c in conns}
    check(set(by) == {p_ok, p_nx, p_http}, "client ports %s, want %s" %
          (sorted(by), sorted({p_ok, p_nx, p_http})))
    ok = by[p_ok]
    check(ok["client"] == "127.0.0.1:%d" % p_ok, ok["line"])
    check(ok["sni"] == "alpha.test" and ok["backend"] == "[::1]:%d" % w.B and ok["outcome"] == "ok",
          ok["line"])
    want_up = len(hello) + len(cmd) + len(payload)
    check(ok["up"] == want_up and ok["down"] == len(data),
          "up=%d down=%d, want up=%d down=%d; %s" %
          (ok["up"], ok["down"], want_up, len(data), ok["line"]))
    nx = by[p_nx]
    check(nx["sni"] == "nope.test" and nx["backend"] == "-" and nx["outcome"] == "nxdomain", nx["line"])
    ht = by[p_http]
    check(ht["sni"] == "-" and ht["backend"] == "-" and ht["outcome"] == "not-tls", ht["line"])


# --- as root: a real /80 between network namespaces --------------------------

def test_two_namespace_topology(case):
    if os.geteuid() != 0:
        raise Skip("needs root (creates network namespaces)")
    vps, home, cli = topology("snidt")
    # The home network 2001:db8:0:1::/64: services inside 2001:db8:0:1:1::/80,
    # a decoy outside it.
    for a in ("2001:db8:0:1:1::10", "2001:db8:0:1:1::11", "2001:db8:0:1:2::10"):
        ip("addr", "add", a + "/128", "dev", "lo", ns=home)
    ip("-6", "route", "add", "default", "via", "2001:db8:1::1", ns=home)

    dns = case.dnsmasq({"alpha.home.test": ["2001:db8:0:1:1::10"],
                        "beta.home.test": ["2001:db8:0:1:1::11"],
                        "decoy.home.test": ["2001:db8:0:1:2::10"]}, port=53, netns=vps)
    a = case.tls_backend("alpha", "2001:db8:0:1:1::10", 443, netns=home, cert_name="alpha.home.test")
    b = case.tls_backend("beta", "2001:db8:0:1:1::11", 443, netns=home, cert_name="beta.home.test")
    decoy = case.raw_backend("decoy", "2001:db8:0:1:2::10", 443, netns=home)
    snid = case.snid(["-listen", "tcp:192.0.2.1:443", "-backend-cidr", "2001:db8:0:1:1::/80",
                      "-dns-server", "127.0.0.1:53", "-log-level", "debug"], netns=vps)
    # The decoy is reachable from the VPS: one direct control connection.
    rc, out, err = probe_from(vps, "2001:db8:0:1:2::10", 443)
    check(rc == 0 and "backend=decoy" in out, "decoy not reachable from the VPS: %r %r" % (out, err))
    check(len(decoy.accepts()) == 1, "decoy control connection not recorded")
    ca = os.path.join(case.dir, "ca.pem")
    with open(ca, "w") as f:
        f.write(open(a.cert).read() + open(b.cert).read())
    for name in ("alpha", "beta"):
        host = name + ".home.test"
        rc, out, err = run(["curl", "-sS", "--max-time", str(10 * SLOW), "--cacert", ca,
                            "--resolve", host + ":443:192.0.2.1", "https://%s/whoami" % host],
                           netns=cli, timeout=15 * SLOW)
        check(rc == 0 and out.strip() == "backend=" + name,
              "curl %s from the client namespace: rc=%d out=%r err=%r" % (host, rc, out, err.strip()))
    rc, out, err = run(["curl", "-sS", "--max-time", str(10 * SLOW), "--cacert", ca,
                        "--resolve", "decoy.home.test:443:192.0.2.1", "https://decoy.home.test/"],
                       netns=cli, timeout=15 * SLOW)
    check(rc != 0 and "unrecognized name" in err, "decoy name: rc=%d err=%r" % (rc, err.strip()))
    time.sleep(0.3)
    check(len(decoy.accepts()) == 1, "decoy outside the /80 was contacted via snid")
    conns = snid.wait_conns(3)
    outs = [(c["sni"], c["backend"], c["outcome"]) for c in conns]
    check(outs == [("alpha.home.test", "[2001:db8:0:1:1::10]:443", "ok"),
                   ("beta.home.test", "[2001:db8:0:1:1::11]:443", "ok"),
                   ("decoy.home.test", "-", "denied")],
          "access lines: %s" % [c["line"] for c in conns])
    case.note("namespaces %s, %s, %s" % (vps, home, cli))


def test_sd_notify_ready_watchdog_status_stopping(case):
    """Type=notify: READY=1 once listening, WATCHDOG=1 at half of
    WATCHDOG_USEC, STATUS= lines, STOPPING=1 on SIGTERM, all as datagrams on
    NOTIFY_SOCKET (an abstract name here, as systemd may hand out)."""
    n = NotifySocket("notify")
    rx, got, drain = n.rx, n.got, n.drain
    env = dict(n.env, WATCHDOG_USEC="400000")
    try:
        w = world(case, ("alpha",), extra=(), start_snid=False)
        w.snid = case.snid(w.args, env=env)
        check(wait_until(lambda: drain() or any("READY=1" in g for g in got), 5 * SLOW),
              "no READY=1 within %.0fs: %s" % (5 * SLOW, got))
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.2 * SLOW:
            drain()
        pings = sum(1 for g in got if g == "WATCHDOG=1")
        check(pings >= 3, "%d WATCHDOG=1 in %.1fs with WATCHDOG_USEC=400000 "
              "(want one every 0.2s): %s" % (pings, 1.2 * SLOW, got))
        check(any(g.startswith("READY=1") and "STATUS=" in g for g in got),
              "READY=1 came without a STATUS= line: %s" % got)
        w.snid.stop()
        drain()
        check("STOPPING=1" in got, "no STOPPING=1 after SIGTERM: %s" % got[-5:])
    finally:
        rx.close()


def test_sd_notify_absent_is_harmless(case):
    """Without NOTIFY_SOCKET snid sends nothing and runs as usual; a bad
    NOTIFY_SOCKET is a warning, not a failure."""
    env = dict(os.environ, NOTIFY_SOCKET="not/absolute")
    w = world(case, ("alpha",), start_snid=False)
    w.snid = case.snid(w.args, env=env)
    s = connect("127.0.0.1", w.L)
    s.sendall(client_hello("alpha.test"))
    line = read_line(s, 5 * SLOW)
    s.close()
    check(line.startswith("backend=alpha"), "not routed: %r" % line)
    check("NOTIFY_SOCKET" in w.snid.text(), "no warning about the bad NOTIFY_SOCKET: %s" % w.snid.tail())
