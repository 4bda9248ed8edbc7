"""DNS that never gets in the way (issue 9): identical lookups share one
query, a flood of random names is bounded, negative answers are cached for
their time, and a known name is served stale while the DNS server is down.

Layout: cases.world() (dnsmasq or a DNS responder, backends alpha on
[::1]:B and beta on 127.0.0.2:B, snid with -metrics).  Queries are counted
at the DNS server: the responder's event log, dnsmasq's --log-queries, or
the small NXDOMAIN server below.  The "queries per connection" figures are
printed as notes.
"""

import socket
import struct
import threading
import time

from cases import refused, world
from cases_metrics import metrics
from cases_srv import routed
from fixtures import RECORDS, good_client
from snidtest import (Dnsmasq, check, client_hello, connect, dns_parse_question,
                      free_port, more_files, read_all, read_line, wait_until, SLOW,
                      SNID)

UNRECOGNIZED_NAME = 112


def with_metrics(case, backends, dns, extra=(), cidrs=None):
    M = free_port()
    kw = {} if cidrs is None else {"cidrs": cidrs}
    w = world(case, backends, dns=dns, extra=["-metrics", "tcp:127.0.0.1:%d" % M]
              + list(extra), **kw)
    w.M = M
    w.url = "http://127.0.0.1:%d/metrics" % M
    return w


def crowd(port, hellos, timeout):
    """Open one connection per hello, all at once; return (client port, reply) each."""
    socks = []
    for h in hellos:
        s = connect("127.0.0.1", port, 5 * SLOW)
        s.sendall(h)
        socks.append(s)
    out = []
    for s in socks:
        got, _ = read_all(s, timeout)
        out.append((s.getsockname()[1], got))
        s.close()
    return out


class SlowNxdomain:
    """A UDP DNS server on loopback that answers every name NXDOMAIN (no SOA)
    after `delay` seconds, except `names` ({name: IPv6}) answered at once
    with TTL 60; counts the queries it gets.  In-process so that it can
    hold a thousand answers back (the responder of snidtest delays only
    named answers)."""

    def __init__(self, delay, names):
        self.delay, self.names = delay, names
        self.port = free_port(("127.0.0.1",))
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", self.port))
        self.s.settimeout(0.2)
        self.queries = []
        self.stop = False
        self.t = threading.Thread(target=self.serve, daemon=True)
        self.t.start()

    def reply(self, pkt, peer, addr):
        qid, flags, qname, qtype, end = dns_parse_question(pkt)
        ans = b""
        rcode = 3
        if addr is not None:
            rcode = 0
            if qtype == 28:
                rdata = socket.inet_pton(socket.AF_INET6, addr)
                ans = b"\xc0\x0c" + struct.pack("!HHIH", 28, 1, 60, 16) + rdata
        hdr = struct.pack("!HHHHHH", qid, 0x8400 | (flags & 0x0100) | rcode, 1,
                          1 if ans else 0, 0, 0)
        try:
            self.s.sendto(hdr + pkt[12:end] + ans, peer)
        except OSError:
            pass

    def serve(self):
        while not self.stop:
            try:
                pkt, peer = self.s.recvfrom(4096)
                qname = dns_parse_question(pkt)[2].lower().rstrip(".")
            except (socket.timeout, OSError, IndexError, struct.error):
                continue
            self.queries.append((time.time(), qname))
            if qname in self.names:
                self.reply(pkt, peer, self.names[qname])
            else:
                threading.Timer(self.delay, self.reply, (pkt, peer, None)).start()

    def close(self):
        self.stop = True
        self.t.join(2)
        self.s.close()


def test_dns_crowd_of_2000_sends_one_query(case):
    """2000 connections at once to one uncached name: one AAAA query on the
    wire (counted at the responder), and every connection gets the answer
    (here: an address outside -backend-cidr, so each is refused as denied
    and no backend has to serve 2000 clients)."""
    # 2000 client sockets here and 2000 conns in snid.
    with more_files(8192):
        crowd_case(case)


def crowd_case(case):
    dns = case.dns_responder({"crowd.test": "delay:1.2:::1"})
    # -dns-timeout 20: c-ares' first try waits 2.86 s, longer than the delay,
    # so c-ares itself retransmits nothing.
    # 2000 from one address: far above the default per-source limit.
    w = with_metrics(case, (), dns, extra=["-dns-timeout", "20",
                     "-max-connections-per-source", "0"],
                     cidrs=("2001:db8::/64",))
    n = 2000
    t0 = time.time()
    res = crowd(w.L, [client_hello("crowd.test")] * n, 15 * SLOW)
    case.note("2000 connections answered in %.1fs" % (time.time() - t0))
    queries = [e for e in dns.events() if e["ev"] == "query"]
    case.note("queries on the wire: %d for %d connections (%.4f per connection)"
              % (len(queries), n, len(queries) / n))
    check(len(queries) == 1 and queries[0]["qtype"] == 28,
          "want one AAAA query, the server got %d: %s" % (len(queries), queries[:5]))
    conns = w.snid.wait_conns(n, 10)
    outcomes = {}
    for c in conns:
        outcomes[c["outcome"]] = outcomes.get(c["outcome"], 0) + 1
    check(outcomes == {"denied": n}, "outcomes: %s" % outcomes)
    m = metrics(w)
    merged = m['snid_dns_lookups_total{result="merged"}']
    cached = m['snid_dns_lookups_total{result="cached"}']
    case.note("lookups: merged %d, cached %d, ok %d" % (
        merged, cached, m['snid_dns_lookups_total{result="ok"}']))
    check(merged > 0, "no lookup counted as merged: %s" % merged)
    check(m["snid_dns_queries_in_flight"] == 0, "queries left in flight")


def test_dns_random_nxdomain_flood_is_bounded(case):
    """1000 connections to random names within a second, NXDOMAIN answered
    after 1 s: at most 256 names (the cap on queries in flight) are asked,
    the others are refused at once as dns-error; a cached name is routed
    during the flood."""
    srv = SlowNxdomain(1.0, {"alpha.test": "::1"})
    try:
        # 1000 from one address: above the default per-source limit.
        w = world(case, ("alpha",), dns=type("D", (), {"port": srv.port})(),
                  extra=["-dns-timeout", "10", "-max-connections-per-source", "0"])
        routed(w, client_hello("alpha.test"), "alpha", w.B, "before the flood")
        n = 1000
        t0 = time.time()
        socks = []
        for i in range(n):
            s = connect("127.0.0.1", w.L, 5 * SLOW)
            s.sendall(client_hello("r%d-%x.test" % (i, int(t0 * 1e6) & 0xffffff)))
            socks.append(s)
            if i == n // 2:
                # Mid-flood: the cached name still routes (no query needed).
                routed(w, client_hello("alpha.test"), "alpha", w.B, "during the flood")
        sent = time.time() - t0
        for s in socks:
            read_all(s, 15 * SLOW)
            s.close()
        flood = [q for q in srv.queries if q[1] != "alpha.test"]
        names = {q[1] for q in flood}
        case.note("%d connections sent in %.2fs; %d names asked (%d queries "
                  "with their A): %.3f queries per connection" %
                  (n, sent, len(names), len(flood), len(flood) / n))
        check(len(names) <= 256, "%d names asked, cap 256" % len(names))
        conns = w.snid.wait_conns(n + 2, 15)
        words = {}
        for c in conns:
            words[c["outcome"]] = words.get(c["outcome"], 0) + 1
        case.note("outcomes: %s" % words)
        check(words.get("dns-error", 0) >= n - 256 - 20,
              "few refused at once: %s" % words)
    finally:
        srv.close()


def test_dns_served_stale_while_server_down(case):
    """stale.test answered with TTL 1; the DNS server stops; after the TTL
    the name is still routed (stale); the server comes back with another
    address: after the failure backoff snid asks again and follows it."""
    records = {"stale.test": ["::1"], "alpha.test": ["::1"]}
    dns = case.dnsmasq(records, extra=["--local-ttl=1"])
    w = with_metrics(case, ("alpha", "beta"), dns)  # -dns-stale: the default
    routed(w, client_hello("stale.test"), "alpha", w.B, "first lookup")
    dns.p.terminate()
    dns.p.wait(5)
    time.sleep(1.5)
    routed(w, client_hello("stale.test"), "alpha", w.B,
           "DNS server down, TTL expired")
    stale = metrics(w)['snid_dns_lookups_total{result="stale"}']
    check(stale >= 1, "no lookup counted as stale")
    # Back, with stale.test moved to beta (127.0.0.2).
    dns2 = Dnsmasq(case, {"alpha.test": ["::1"], "stale.test": ["127.0.0.2"]},
                   port=dns.port, extra=["--local-ttl=1"])
    t0 = time.time()
    ok = wait_until(lambda: routed_to(w, "stale.test") == "beta", 10 * SLOW, step=0.5)
    check(ok, "snid did not follow the DNS server once it came back; log: %s"
          % w.snid.tail())
    case.note("served stale %d time(s); followed the new answer %.1fs after "
              "the server came back" % (stale, time.time() - t0))
    # The new dnsmasq keeps its own query log (fixtures name each process's
    # files apart): the refresh is a query there.
    check(sum(1 for q in dns2.queries() if q[1].lower() == "stale.test") >= 1,
          "no query at the new server")


def routed_to(w, name):
    """Which backend a hello for name reached: 'alpha', 'beta' or None."""
    s = connect("127.0.0.1", w.L, 5 * SLOW)
    try:
        s.sendall(client_hello(name))
        line = read_line(s, 5 * SLOW) or ""
    finally:
        s.close()
    for b in ("alpha", "beta"):
        if line.startswith("backend=%s " % b):
            return b
    return None


def test_dns_nxdomain_cached_then_expires(case):
    """A name that does not exist: the second connection sends no query;
    after the negative TTL (RFC 2308; at most 30 s) a connection asks again."""
    w = world(case, ("alpha",))
    refused(w, client_hello("nope.test"), UNRECOGNIZED_NAME, "nxdomain", "first")

    def asked():
        return sum(1 for q in w.dns.queries() if q[1].lower() == "nope.test")

    check(wait_until(lambda: asked() >= 1, 3), "no query for nope.test")
    first = asked()
    t0 = time.time()
    refused(w, client_hello("nope.test"), UNRECOGNIZED_NAME, "nxdomain", "second")
    time.sleep(0.3)
    check(asked() == first, "the second connection sent a query (%d -> %d)"
          % (first, asked()))

    def expired():
        refused(w, client_hello("nope.test"), UNRECOGNIZED_NAME, "nxdomain", "later")
        time.sleep(0.1)
        return asked() > first

    check(wait_until(expired, 35 * SLOW, step=0.5),
          "nope.test never asked again after 35 s")
    case.note("negative entry lived %.1fs" % (time.time() - t0))


def test_dns_workers_share_the_cache(case):
    """-workers 2: the DNS cache is the daemon's, not each worker's.  40
    connections one after the other to alpha.test, spread over both
    workers by SO_REUSEPORT (all 40 in one worker: odds 2^-39), make one
    AAAA query in dnsmasq's --log-queries, not one per worker.  (dnsmasq
    gives its host records TTL 0 unless told: --local-ttl.)"""
    dns = case.dnsmasq(RECORDS, extra=["--local-ttl=300"])
    w = world(case, ("alpha",), dns=dns, extra=["-workers", "2"])
    # The harness asked dnsmasq for alpha.test to see it up: not snid.
    before = len(w.dns.queries())
    for _ in range(40):
        good_client(w)
    asked = [q for q in w.dns.queries()[before:] if q[1].lower() == "alpha.test"]
    case.note("queries for alpha.test with 2 workers: %s" % asked)
    check(len([q for q in asked if q[0] == "AAAA"]) == 1,
          "want one AAAA query for 40 connections over 2 workers: %s" % asked)


def test_dns_workers_merge_queries_in_flight(case):
    """-workers 2: 200 connections at once to one uncached name, answered
    after 1.2 s: the lookups in both workers wait for one query on the
    wire, and every connection gets the answer."""
    dns = case.dns_responder({"crowd.test": "delay:1.2:::1"})
    w = with_metrics(case, (), dns, extra=["-workers", "2", "-dns-timeout", "20",
                     "-max-connections-per-source", "0"],
                     cidrs=("2001:db8::/64",))
    n = 200
    crowd(w.L, [client_hello("crowd.test")] * n, 15 * SLOW)
    queries = [e for e in dns.events() if e["ev"] == "query"]
    case.note("queries on the wire: %d for %d connections over 2 workers"
              % (len(queries), n))
    check(len(queries) == 1 and queries[0]["qtype"] == 28,
          "want one AAAA query, the server got %d: %s" % (len(queries), queries[:5]))
    conns = w.snid.wait_conns(n, 10)
    outcomes = {}
    for c in conns:
        outcomes[c["outcome"]] = outcomes.get(c["outcome"], 0) + 1
    check(outcomes == {"denied": n}, "outcomes: %s" % outcomes)
    m = metrics(w)
    check(m["snid_dns_queries_in_flight"] == 0, "queries left in flight")
