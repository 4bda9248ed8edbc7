"""The -metrics endpoint: scraped with curl (and raw sockets for what curl
will not send), counters checked against the access log, and the proxy
checked to keep serving while scrapers misbehave.

The loopback world of fixtures.py, plus -metrics tcp:127.0.0.1:0 (M: the
port snid names in its "metrics: serving" line).
"""

import re
import socket
import time

from fixtures import (delta, good_client, metrics, metrics_at, metrics_world,
                      refused, scrape, world)
from snidtest import (Fail, check, client_hello, connect, describe,
                      read_all, run, wait_until, SLOW, SNID)

def test_metrics_counters_follow_the_access_log(case):
    w = metrics_world(case)
    m0 = metrics(w)
    check(m0["snid_connections_accepted_total"] == 0 and m0["snid_connections_active"] == 0,
          "fresh snid: accepted=%s active=%s" % (m0["snid_connections_accepted_total"],
                                                 m0["snid_connections_active"]))
    check(m0["snid_open_fds"] > 3, "snid_open_fds=%s" % m0["snid_open_fds"])
    good_client(w, "alpha")
    refused(w, client_hello("outside.test"), 112, "denied", "outside.test")
    refused(w, client_hello("nope.test"), 112, "nxdomain", "nope.test")
    conns = w.snid.wait_conns(3)
    check(len(conns) == 3, "want 3 access lines, got %d" % len(conns))
    m1 = metrics(w)
    check(delta(m0, m1, "snid_connections_accepted_total") == 3,
          "accepted moved by %s, want 3" % delta(m0, m1, "snid_connections_accepted_total"))
    check(m1["snid_connections_active"] == 0, "active=%s" % m1["snid_connections_active"])
    # Every outcome label (the words of newer modes too): only these three moved.
    for k in (k for k in m1 if k.startswith("snid_connections_total{")):
        o = k.split('"')[1]
        want = 1 if o in ("ok", "denied", "nxdomain") else 0
        check(delta(m0, m1, k) == want, "outcome %s moved by %s, want %d" %
              (o, delta(m0, m1, k), want))
    up = sum(c["up"] for c in conns)
    down = sum(c["down"] for c in conns)
    check(up > 0 and down > 0, "access log up=%d down=%d" % (up, down))
    check(delta(m0, m1, 'snid_bytes_total{direction="up"}') == up,
          "bytes up moved by %s, the access log says %d" %
          (delta(m0, m1, 'snid_bytes_total{direction="up"}'), up))
    check(delta(m0, m1, 'snid_bytes_total{direction="down"}') == down,
          "bytes down moved by %s, the access log says %d" %
          (delta(m0, m1, 'snid_bytes_total{direction="down"}'), down))
    # alpha.test and outside.test answered, nope.test NXDOMAIN: three queries.
    for r, want in (("ok", 2), ("cached", 0), ("nxdomain", 1), ("error", 0), ("timeout", 0)):
        got = delta(m0, m1, 'snid_dns_lookups_total{result="%s"}' % r)
        check(got == want, "dns result %s moved by %s, want %d" % (r, got, want))
    check(delta(m0, m1, "snid_dns_lookup_seconds_count") == 3,
          "dns histogram count moved by %s" % delta(m0, m1, "snid_dns_lookup_seconds_count"))
    check(0 <= delta(m0, m1, "snid_dns_lookup_seconds_sum") < 3 * SLOW,
          "dns histogram sum %s" % m1["snid_dns_lookup_seconds_sum"])
    check(delta(m0, m1, "snid_connect_seconds_count") == 1,
          "connect histogram count moved by %s, want 1 (one backend reached)" %
          delta(m0, m1, "snid_connect_seconds_count"))
    # dnsmasq's host records have TTL 0: the same name is asked again.
    good_client(w, "alpha")
    conns = w.snid.wait_conns(4)
    m2 = metrics(w)
    check(delta(m1, m2, 'snid_dns_lookups_total{result="ok"}') == 1, "second lookup not counted")
    check(delta(m1, m2, 'snid_bytes_total{direction="up"}') == conns[-1]["up"],
          "bytes up of the 4th connection")
    check(delta(m1, m2, "snid_connect_seconds_count") == 1, "second connect not timed")
    # Scrapes are not client connections.
    check(m2["snid_connections_accepted_total"] == 4, "scrapes counted as connections")


def test_metrics_dns_results_cached_error_timeout(case):
    # TTL 5 answers (so the cache holds them), SERVFAIL, no answer, a slow answer.
    dns = case.dns_responder({"alpha.test": "aaaa:::1", "broken.test": "servfail",
                              "blackhole.test": "drop", "slow.test": "delay:0.05:::1"})
    # The second alpha meets the first's cache entry, whichever worker
    # accepts it: the cache is the daemon's.
    w = world(case, ("alpha",), dns=dns,
              extra=["-dns-timeout", "1", "-metrics", "tcp:127.0.0.1:0"])
    metrics_at(w)
    m0 = metrics(w)
    good_client(w, "alpha")
    good_client(w, "alpha")
    refused(w, client_hello("broken.test"), 80, "dns-error", "SERVFAIL")
    refused(w, client_hello("blackhole.test"), 80, "dns-error", "unanswered DNS")
    good_client(w, "alpha", sni="slow.test")
    w.snid.wait_conns(5)
    m1 = metrics(w)
    for r, want in (("ok", 2), ("cached", 1), ("nxdomain", 0), ("error", 1), ("timeout", 1)):
        got = delta(m0, m1, 'snid_dns_lookups_total{result="%s"}' % r)
        check(got == want, "dns result %s moved by %s, want %d" % (r, got, want))
    h = "snid_dns_lookup_seconds"
    # Timed: alpha, broken (fast), slow (>= 50 ms), blackhole (about 1 s); not the cached one.
    check(delta(m0, m1, h + "_count") == 4, "%s_count moved by %s, want 4" %
          (h, delta(m0, m1, h + "_count")))
    check(delta(m0, m1, h + '_bucket{le="0.025"}') <= 2, "slow lookups in le=0.025")
    check(delta(m0, m1, h + '_bucket{le="0.5"}') == 3, "le=0.5 moved by %s, want 3" %
          delta(m0, m1, h + '_bucket{le="0.5"}'))
    check(delta(m0, m1, h + '_bucket{le="+Inf"}') == 4, "+Inf bucket")
    check(delta(m0, m1, h + "_sum") >= 0.55, "%s_sum moved by only %s" %
          (h, delta(m0, m1, h + "_sum")))
    check(delta(m0, m1, 'snid_connections_total{outcome="dns-error"}') == 2, "dns-error outcomes")
    check(delta(m0, m1, 'snid_connections_total{outcome="ok"}') == 3, "ok outcomes")


def test_metrics_bytes_of_open_connection_show_progress(case):
    w = metrics_world(case)
    m0 = metrics(w)
    n = 3 * 1000 * 1000
    s = connect("127.0.0.1", w.L, 5 * SLOW)
    try:
        s.sendall(client_hello("alpha.test") + b"bulk 0 %d 5\n" % n)
        got = 0
        deadline = time.monotonic() + 30 * SLOW
        s.settimeout(5 * SLOW)
        while got < n and time.monotonic() < deadline:
            b = s.recv(1 << 20)
            check(b, "EOF after %d bytes down" % got)
            got += len(b)
        check(got >= n, "only %d of %d bytes down" % (got, n))
        m1 = metrics(w)
        check(m1["snid_connections_active"] == 1, "active=%s during the transfer" %
              m1["snid_connections_active"])
        moved = delta(m0, m1, 'snid_bytes_total{direction="down"}')
        check(moved >= got, "bytes down moved by %d while the client already read %d" %
              (moved, got))
        s.shutdown(socket.SHUT_WR)
        rest, how = read_all(s, 10 * SLOW)
        check(how == "eof", "transfer did not end: %s" % how)
    finally:
        s.close()
    c = w.snid.wait_conns(1)[0]
    m2 = metrics(w)
    check(delta(m0, m2, 'snid_bytes_total{direction="down"}') == c["down"],
          "bytes down %s, access log %d" % (delta(m0, m2, 'snid_bytes_total{direction="down"}'),
                                             c["down"]))
    check(delta(m0, m2, 'snid_bytes_total{direction="up"}') == c["up"], "bytes up")
    check(m2["snid_connections_active"] == 0, "active after close")


def test_metrics_other_paths_404_other_methods_405(case):
    w = metrics_world(case)
    for path in ("/", "/metricsx", "/metric", "/foo/metrics"):
        status, headers, body = scrape(w, path)
        check(status == 404, "GET %s: status %d, want 404" % (path, status))
    status, _, _ = scrape(w, "/metrics?x=1")
    check(status == 200, "GET /metrics?x=1: status %d" % status)
    rc, out, err = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                        "-X", "POST", "--data", "x", "--max-time", str(10 * SLOW), w.url],
                       timeout=20 * SLOW)
    check(rc == 0 and out == "405", "POST: rc=%d code=%r %s" % (rc, out, err))
    # What curl will not send: garbage, and a head that never ends.
    got, how, _ = exchange_raw(w, b"\x16\x03\x01\x02\x00garbage\r\n\r\n")
    check(got.startswith(b"HTTP/1.0 400 "), "garbage: got %s" % describe(got))
    got, how, _ = exchange_raw(w, b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 4000)
    check(got.startswith(b"HTTP/1.0 400 ") and how == "eof",
          "endless head: got %s (%s)" % (describe(got), how))
    # And it still serves.
    metrics(w)


def exchange_raw(w, data):
    t0 = time.monotonic()
    s = connect("127.0.0.1", w.M, 5 * SLOW)
    try:
        try:
            s.sendall(data)
        except OSError:
            pass        # it may answer and close before reading everything
        got, how = read_all(s, 5 * SLOW)
    finally:
        s.close()
    return got, how, time.monotonic() - t0


def test_metrics_silent_scrapers_do_not_block_the_proxy(case):
    w = metrics_world(case)
    metrics(w)
    idle = []
    try:
        # More silent clients than snid serves at once (16), one half a request.
        for i in range(20):
            idle.append(connect("127.0.0.1", w.M, 5 * SLOW))
        idle[0].sendall(b"GET /metr")
        t0 = time.monotonic()
        good_client(w, "alpha")
        took = time.monotonic() - t0
        check(took < 1.0 * SLOW, "proxied connection took %.2fs next to silent scrapers" % took)
        # The silent ones are closed at the 2 s bound, and scraping works again.
        t0 = time.monotonic()
        got, how = read_all(idle[0], 10 * SLOW)
        check(how in ("eof", "reset") and got == b"",
              "a silent scraper got %s (%s) instead of being closed" % (describe(got), how))
        check(time.monotonic() - t0 < 5 * SLOW, "silent scraper kept too long")
    finally:
        for s in idle:
            s.close()
    ok = wait_until(lambda: _scrape_ok(w), 10 * SLOW, step=0.2)
    check(ok, "no scrape possible after the silent clients left")
    m = metrics(w)
    check(m["snid_connections_accepted_total"] == 1, "accepted=%s" %
          m["snid_connections_accepted_total"])


def _scrape_ok(w):
    try:
        return scrape(w)[0] == 200
    except Fail:
        return False


def test_metrics_off_by_default(case):
    w = world(case, ("alpha",))
    check("metrics" not in w.snid.text(), "metrics mentioned without -metrics: %s" % w.snid.tail())
    good_client(w, "alpha")


def test_metrics_refuses_non_tcp_listener(case):
    for spec, why in (("unix:/tmp/x.sock", "must be a tcp: listener"),
                      ("http:tcp:127.0.0.1:9", "must be a tcp: listener")):
        rc, out, err = run([SNID, "-listen", "tcp:127.0.0.1:1", "-backend-cidr", "::1/128",
                            "-metrics", spec], timeout=10 * SLOW)
        check(rc == 2 and why in err, "-metrics %s: rc=%d %s" % (spec, rc, err.strip()))
