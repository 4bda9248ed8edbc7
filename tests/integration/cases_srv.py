"""SRV by ALPN (XMPP over TLS, XEP-0368): a ClientHello whose sole ALPN
protocol is xmpp-client / xmpp-server is routed by the
_xmpps-client._tcp.NAME / _xmpps-server._tcp.NAME SRV records (dnsmasq
--srv-host), to each target's AAAA (and A) at the SRV port.

Layout on top of fixtures.world(): dnsmasq has RECORDS plus target.test AAAA
::1 and the SRV records below; backend "alpha" on [::1]:B (-backend-port B,
the plain path), backend "xmpp" on [::1]:P (the SRV port of
_xmpps-client._tcp.chat.test), backend "s2s" on [::1]:S (xmpps-server).
"""

import hashlib
import os
import socket
import struct
import time

from snidtest import (Skip, Snid, UnixBackend, check, check_alert, client_hello, connect,
                      describe, free_port, read_all, read_line, wait_until,
                      SLOW)
from fixtures import (RECORDS, backend_field, delta, metrics, metrics_at,
                      refused, start_decoy, world)


def srv_world(case, backends=("alpha",), extra_srv=(), extra=(), ports=()):
    """world() with dnsmasq serving SRV records; returns w with w.P, w.S.
    -backend-ports allows B, P, S and `ports`; ports=None leaves it out (the
    default: snid's listeners' ports and -backend-port)."""
    w_ports = {"P": free_port(), "S": free_port()}
    records = dict(RECORDS)
    records["target.test"] = ["::1"]
    records["chat.test"] = ["::1"]
    srv = ["--srv-host=_xmpps-client._tcp.chat.test,target.test,%d,0,0" % w_ports["P"],
           "--srv-host=_xmpps-server._tcp.chat.test,target.test,%d,0,0" % w_ports["S"]]
    srv += [s % w_ports for s in extra_srv]
    dns = case.dnsmasq(records, extra=srv)
    w = world(case, backends, dns=dns, extra=extra, start_snid=False)
    w.P, w.S = w_ports["P"], w_ports["S"]
    if ports is not None:
        allow = [w.B, w.P, w.S] + list(ports)
        w.args += ["-backend-ports", ",".join(str(p) for p in allow)]
    w.start_snid(case)
    return w


def routed(w, hello, name, port, what):
    """hello must reach backend `name` byte for byte, logged at [::1]:port."""
    s = connect("127.0.0.1", w.L, 5 * SLOW)
    try:
        cport = s.getsockname()[1]
        s.sendall(hello)
        line = read_line(s, 5 * SLOW)
    finally:
        s.close()
    want = "backend=%s hello_sha256=%s hello_len=%d" % (
        name, hashlib.sha256(hello).hexdigest(), len(hello))
    check(line == want, "%s: expected reply %r, got %r; log: %s" %
          (what, want, line, w.snid.tail()))
    c = w.snid.conn_for(cport)
    check(c["outcome"] == "ok" and c["backend"] == "[::1]:%d" % port,
          "%s: want ok via [::1]:%d: %s" % (what, port, c["line"]))
    return c


def test_srv_xmpp_client_routed_to_srv_port(case):
    """Sole ALPN xmpp-client: the SRV port is used, not -backend-port."""
    w = srv_world(case)
    case.raw_backend("xmpp", "::1", w.P)
    routed(w, client_hello("chat.test", alpn=["xmpp-client"]), "xmpp", w.P,
           "xmpp-client")
    q = w.dns.queries()
    check(("SRV", "_xmpps-client._tcp.chat.test") in q,
          "no SRV query for _xmpps-client._tcp.chat.test: %s" % q)
    check(("AAAA", "target.test") in q, "target's AAAA not asked: %s" % q)
    check(("AAAA", "chat.test") not in q, "the name itself was resolved: %s" % q)


def test_srv_xmpp_server_routed_to_its_own_record(case):
    w = srv_world(case)
    case.raw_backend("s2s", "::1", w.S)
    routed(w, client_hello("chat.test", alpn=["xmpp-server"]), "s2s", w.S,
           "xmpp-server")


def test_srv_not_used_unless_sole_alpn(case):
    """h2,xmpp-client, xmpp-client,h2, h2 alone and no ALPN: the plain AAAA
    path to -backend-port (backend alpha), never the SRV port."""
    w = srv_world(case)
    xmpp = case.raw_backend("xmpp", "::1", w.P)
    for alpn in (["h2", "xmpp-client"], ["xmpp-client", "h2"], ["h2"], None,
                 ["xmpp-clientx"]):
        routed(w, client_hello("chat.test", alpn=alpn), "alpha", w.B,
               "ALPN %s" % alpn)
    check(not xmpp.accepts(), "the SRV backend saw a connection: %s" % xmpp.accepts())
    q = [n for t, n in w.dns.queries() if t == "SRV"]
    check(not q, "SRV queried without a sole xmpp ALPN: %s" % q)


def test_srv_missing_record_refused_unrecognized_name(case):
    """alpha.test has an AAAA but no SRV record: refused with alert 112,
    nothing connects (the plain path is not a fallback)."""
    w = srv_world(case)
    refused(w, client_hello("alpha.test", alpn=["xmpp-client"]), 112, "nxdomain",
            "no SRV record")
    refused(w, client_hello("nope.test", alpn=["xmpp-server"]), 112, "nxdomain",
            "NXDOMAIN")
    time.sleep(0.3)
    check(not w.backends["alpha"].accepts(), "alpha reached without an SRV record: %s"
          % w.backends["alpha"].accepts())


def test_srv_target_dot_refused(case):
    """RFC 2782: target "." means the service is decidedly not available."""
    w = srv_world(case, extra_srv=["--srv-host=_xmpps-client._tcp.dot.test"])
    refused(w, client_hello("dot.test", alpn=["xmpp-client"]), 112, "nxdomain",
            "SRV target .")


def test_srv_target_outside_allow_list_denied(case):
    """The SRV target v4only.test is 127.0.0.1, outside the allow-list: a
    decoy there at the SRV port sees nothing."""
    D = free_port()
    w = srv_world(case, extra_srv=["--srv-host=_xmpps-client._tcp.deny.test,v4only.test,%d,0,0" % D,
                                   "--srv-host=_xmpps-client._tcp.deny6.test,outside.test,%d,0,0" % D],
                  ports=(D,))
    d = start_decoy(case, "127.0.0.1", D)
    refused(w, client_hello("deny.test", alpn=["xmpp-client"]), 112, "denied",
            "SRV target 127.0.0.1")
    refused(w, client_hello("deny6.test", alpn=["xmpp-client"]), 112, "denied",
            "SRV target 2001:db8::dead")
    time.sleep(0.3)
    check(len(d.accepts()) == 1, "the decoy was contacted: %s" % d.accepts()[1:])


def test_srv_port_outside_backend_ports_denied(case):
    """The reproduced tunnel: the SRV record of a domain the client owns
    names an allowed address (::1) at another port (a Redis on 16379 in the
    report; a free port here, where a service listens).  By default only
    snid's own ports are allowed: refused as denied (alert 112), and the
    service sees no connection.  With -backend-ports naming the port, the
    same record is followed (the service is really there)."""
    R = free_port()
    w = srv_world(case, ports=None, extra_srv=[
        "--srv-host=_xmpps-client._tcp.evil.test,target.test,%d,0,0" % R])
    redis = start_decoy(case, "::1", R)
    refused(w, client_hello("evil.test", alpn=["xmpp-client"]), 112, "denied",
            "SRV target [::1]:%d outside -backend-ports" % R)
    # The SRV ports P and S are not snid's either.
    refused(w, client_hello("chat.test", alpn=["xmpp-client"]), 112, "denied",
            "SRV target [::1]:P outside -backend-ports")
    time.sleep(0.3)
    check(len(redis.accepts()) == 1, "the service was contacted: %s" % redis.accepts()[1:])
    check("not in -backend-ports" in w.snid.text(), "no debug line naming the port: %s"
          % w.snid.tail())


def test_srv_standard_xmpp_ports_allowed(case):
    """README's recipe: -backend-ports with the standard XMPP ports keeps
    SRV routing working: records at 5222 and 5269 are followed, one at
    another port is still refused.  (Needs [::1]:5222 and :5269 free.)"""
    for port in (5222, 5269):
        probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            probe.bind(("::1", port))
        except OSError as e:
            raise Skip("[::1]:%d is taken (%s)" % (port, e))
        finally:
            probe.close()
    R = free_port()
    records = dict(RECORDS)
    records["target.test"] = ["::1"]
    dns = case.dnsmasq(records, extra=[
        "--srv-host=_xmpps-client._tcp.chat.test,target.test,5222,0,0",
        "--srv-host=_xmpps-server._tcp.chat.test,target.test,5269,0,0",
        "--srv-host=_xmpps-client._tcp.evil.test,target.test,%d,0,0" % R])
    w = world(case, ("alpha",), dns=dns, extra=["-backend-ports", "5222,5269"])
    case.raw_backend("xmpp", "::1", 5222)
    case.raw_backend("s2s", "::1", 5269)
    redis = start_decoy(case, "::1", R)
    routed(w, client_hello("chat.test", alpn=["xmpp-client"]), "xmpp", 5222, "c2s 5222")
    routed(w, client_hello("chat.test", alpn=["xmpp-server"]), "s2s", 5269, "s2s 5269")
    refused(w, client_hello("evil.test", alpn=["xmpp-client"]), 112, "denied",
            "SRV target at another port")
    time.sleep(0.3)
    check(len(redis.accepts()) == 1, "the service was contacted: %s" % redis.accepts()[1:])


def test_srv_priorities_first_refusing_second_used(case):
    """Priority 0 at a port where nothing listens, priority 10 at the
    backend: the second is used, after the first refused."""
    R = free_port()
    w = srv_world(case, extra_srv=[
        "--srv-host=_xmpps-client._tcp.prio.test,target.test,%(P)d,10,0",
        "--srv-host=_xmpps-client._tcp.prio.test,target.test,%d,0,0" % R], ports=(R,))
    case.raw_backend("xmpp", "::1", w.P)
    for i in range(3):
        routed(w, client_hello("prio.test", alpn=["xmpp-client"]), "xmpp", w.P,
               "second priority, try %d" % i)
    text = w.snid.text()
    check("target.test:%d (priority 0" % R in text,
          "the priority-0 target was not tried first: %s" % w.snid.tail(12))


def test_srv_weights_spread_within_a_priority(case):
    """Two targets of one priority, weights 1 and 1: both get used."""
    w = srv_world(case, extra_srv=[
        "--srv-host=_xmpps-client._tcp.spread.test,target.test,%(P)d,5,1",
        "--srv-host=_xmpps-client._tcp.spread.test,target.test,%(S)d,5,1"])
    case.raw_backend("xmpp", "::1", w.P)
    case.raw_backend("s2s", "::1", w.S)
    seen = set()
    for i in range(24):
        s = connect("127.0.0.1", w.L, 5 * SLOW)
        try:
            s.sendall(client_hello("spread.test", alpn=["xmpp-client"]))
            line = read_line(s, 5 * SLOW)
        finally:
            s.close()
        check(line.startswith("backend="), "try %d: %r" % (i, line))
        seen.add(line.split()[0])
        if len(seen) == 2:
            break
    # 2^-23 chance of a false failure with a fair coin.
    check(seen == {"backend=xmpp", "backend=s2s"}, "only %s used" % seen)


def _gone_after_answer(w, ports, answered, why):
    """Once the late answer came (answered()), snid is alive and each gone
    client (by its port) has an access line that is not ok."""
    check(wait_until(answered, 5 * SLOW), why)
    time.sleep(0.5 * SLOW)
    w.snid.check_alive()
    for p in ports:
        c = w.snid.conn_for(p)
        check(c["outcome"] != "ok", "client gone logged ok: " + c["line"])


def test_srv_client_gone_during_lookup(case):
    """The SRV answer comes 1.5 s late (NODATA); clients leave first (RST):
    the late answer must not touch them (under valgrind: no invalid access),
    each is logged once, not ok.  A client that waits is refused with 112."""
    dns = case.dns_responder({"_xmpps-client._tcp.slow.test": "delay:1.5:::1",
                              "alpha.test": "aaaa:::1"})
    w = world(case, ("alpha",), dns=dns, extra=["-dns-timeout", "5"])
    ports = []
    for i in range(4):
        s = connect("127.0.0.1", w.L)
        s.sendall(client_hello("slow.test", alpn=["xmpp-client"]))
        # One SRV query for all of them (merged).
        ok = wait_until(lambda: sum(e["ev"] == "query" and e["qtype"] == 33
                                    for e in dns.events()) >= 1, 3 * SLOW)
        check(ok, "snid did not ask for the SRV record: %s" % dns.events())
        time.sleep(0.05)
        ports.append(s.getsockname()[1])
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    _gone_after_answer(w, ports, lambda: sum(e["ev"] == "answered" and e["qtype"] == 33
                                             for e in dns.events()) >= 1,
                       "responder did not answer the slow SRV queries")
    check(not w.backends["alpha"].accepts(), "backend reached: %s" %
          w.backends["alpha"].accepts())
    refused(w, client_hello("slow.test", alpn=["xmpp-client"]), 112, "nxdomain",
            "late NODATA", timeout=5)
    routed(w, client_hello("alpha.test"), "alpha", w.B, "plain after")


def test_srv_dns_lookups_counted(case):
    """One SRV resolution is one lookup in snid_dns_lookups_total, like a
    plain one: ok when routed, nxdomain without a record."""
    w = srv_world(case, extra=["-metrics", "tcp:127.0.0.1:0"])
    metrics_at(w)
    case.raw_backend("xmpp", "::1", w.P)
    m0 = metrics(w)
    routed(w, client_hello("chat.test", alpn=["xmpp-client"]), "xmpp", w.P, "routed")
    refused(w, client_hello("alpha.test", alpn=["xmpp-client"]), 112, "nxdomain",
            "no SRV record")
    m1 = metrics(w)
    for r, want in (("ok", 1), ("cached", 0), ("nxdomain", 1), ("error", 0), ("timeout", 0)):
        got = delta(m0, m1, 'snid_dns_lookups_total{result="%s"}' % r)
        check(got == want, "dns result %s moved by %s, want %d" % (r, got, want))


def test_srv_not_used_in_unix_mode(case):
    """-mode unix has no DNS: a sole xmpp-client ALPN still connects to
    DIR/NAME (as the Go snid's unix backend does)."""
    d = os.path.join(case.dir, "sockets")
    os.mkdir(d)
    UnixBackend(case, os.path.join(d, "chat.test"), "unixchat")
    snid = case.snid(["-listen", "tcp:127.0.0.1:0", "-mode", "unix",
                      "-unix-directory", d, "-log-level", "debug"])
    L = snid.port
    hello = client_hello("chat.test", alpn=["xmpp-client"])
    s = connect("127.0.0.1", L, 5 * SLOW)
    try:
        s.sendall(hello)
        line = read_line(s, 5 * SLOW)
    finally:
        s.close()
    check(line.startswith("backend=unixchat"), "got %r; log: %s" % (line, snid.tail()))
    check("SRV" not in snid.text(), "SRV used in unix mode: %s" % snid.tail())


def test_srv_client_gone_during_target_lookup(case):
    """The SRV answer is quick (dnsmasq) but the target's AAAA comes 1.5 s
    late (dnsmasq forwards slowt.test to a slow responder): clients that
    leave (RST) in between are never touched by the late answer (valgrind);
    a later client is routed to the SRV port (the late answer filled the
    cache)."""
    dns = case.dns_responder({"slowt.test": "delay:1.5:::1"})
    w = srv_world(case, extra_srv=[
        "--srv-host=_xmpps-client._tcp.slowsrv.test,slowt.test,%(P)d,0,0",
        "--server=/slowt.test/127.0.0.1#%d" % dns.port],
        extra=["-dns-timeout", "5"])
    case.raw_backend("xmpp", "::1", w.P)
    ports = []
    for i in range(3):
        s = connect("127.0.0.1", w.L)
        s.sendall(client_hello("slowsrv.test", alpn=["xmpp-client"]))
        ok = wait_until(lambda: sum(e["ev"] == "query" and e["name"].lower() == "slowt.test"
                                    for e in dns.events()) >= 1, 3 * SLOW)
        check(ok, "the target's address was not asked: %s" % dns.events())
        time.sleep(0.1)
        ports.append(s.getsockname()[1])
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    _gone_after_answer(w, ports, lambda: any(e["ev"] == "answered" for e in dns.events()),
                       "responder did not answer")
    routed(w, client_hello("slowsrv.test", alpn=["xmpp-client"]), "xmpp", w.P,
           "waiting client")
