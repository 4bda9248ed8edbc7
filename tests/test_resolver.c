/*
 * Unit tests for resolver: c-ares' schedule fits -dns-timeout, and real
 * lookups over UDP against a small DNS responder inside the test (on a
 * loopback port), driven by a real libev loop: answers in AAAA-then-A order,
 * NXDOMAIN / NODATA / SERVFAIL mapping, the hard timeout, the answer cache
 * (TTL honoured; negative answers and failures kept briefly; stale answers
 * served when the refresh fails or is slow), merging of identical lookups,
 * the cap on queries in flight, an answer given from inside ares_query
 * (c-ares' own query cache does that on 1.31+: simulated here by wrapping
 * the c-ares call at link time, -Wl,--wrap), and cancellation:
 * a cancelled lookup's callback never runs, even when its answer arrives
 * afterwards (run under valgrind/ASan, a touch of the freed caller would
 * show).  SRV: RFC 2782 ordering (priority, weight-random with a fixed
 * seed, zero weights), SRV then targets with their ports, "." and missing
 * records, cancellation and freeing at each stage, and a reload meanwhile.
 * resolver_ares_parse and resolver_srv_records on answers captured from
 * dnsmasq (tests/data/dnsanswer, fuzz_dnsanswer's seeds).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <arpa/inet.h>
#include <ev.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include <ares.h>

#include "snid/config.h"
#include "snid/log.h"
#include "snid/resolver.h"
#include "snid/worker.h"

#include "../src/resolver_int.h"

static void
test_schedule_fits_budget(void **state)
{
	static const unsigned	budgets[] = { 1, 100, 500, 1000, 2000, 5000, 30000 };
	int			t, k;

	(void)state;
	for (size_t i = 0; i < sizeof(budgets) / sizeof(budgets[0]); i++)
		for (unsigned n = 1; n <= CONFIG_MAX_DNS_SERVERS; n++) {
			resolver_schedule(budgets[i], n, &t, &k);
			assert_true(t >= 1);
			assert_true(k >= 1 && k <= 3);
			/* Whole schedule: n * t * (2^k - 1) */
			if (budgets[i] >= n)
				assert_true((unsigned long)n * (unsigned long)t *
				    ((1UL << k) - 1) <= budgets[i]);
		}
}

static void
test_schedule_values(void **state)
{
	int	t, k;

	(void)state;
	resolver_schedule(2000, 1, &t, &k);	/* the default: 285 + 571 + 1142 ms */
	assert_int_equal(t, 285);
	assert_int_equal(k, 3);
	resolver_schedule(2000, 2, &t, &k);
	assert_int_equal(t, 333);
	assert_int_equal(k, 2);
	resolver_schedule(2000, 8, &t, &k);
	assert_int_equal(t, 250);
	assert_int_equal(k, 1);
	resolver_schedule(100, 1, &t, &k);	/* too short to retry */
	assert_int_equal(t, 100);
	assert_int_equal(k, 1);
	resolver_schedule(0, 0, &t, &k);
	assert_int_equal(t, 1);
	assert_int_equal(k, 1);
}

/* ---- a DNS responder on 127.0.0.1, on the same loop ---- */

enum fake_mode { FAKE_ANSWER, FAKE_NXDOMAIN, FAKE_NODATA, FAKE_SERVFAIL, FAKE_SILENT };

struct fake {
	int		fd;
	ev_io		io;
	ev_timer	delay;
	enum fake_mode	mode;
	double		delay_s;
	uint8_t		ttl;		/* 0: the default, 60 s */
	uint8_t		soa_ttl;	/* NXDOMAIN/NODATA: an SOA with this TTL (0: none) */
	bool		srv_dot;	/* SRV: the one record "." (service not available) */
	int		queries, answered;
	/* queries held back while delaying */
	uint8_t			q[8][512];
	size_t			qlen[8];
	struct sockaddr_in	from[8];
	int			nq;
};

struct fixture {
	struct ev_loop	*loop;
	struct config	 cfg;
	struct worker	 w;
	struct fake	 fake;
};

static size_t
fake_reply(const struct fake *f, const uint8_t *q, size_t qlen, uint8_t *out)
{
	size_t		i = 12, n;
	uint16_t	qtype;
	int		rcode = 0, an = 0;

	while (i < qlen && q[i] != 0)
		i += 1 + q[i];
	i += 5;			/* root label, qtype, qclass */
	if (i > qlen)
		return 0;
	qtype = (uint16_t)(q[i - 4] << 8 | q[i - 3]);
	memcpy(out, q, i);
	if (f->mode == FAKE_NXDOMAIN)
		rcode = 3;
	else if (f->mode == FAKE_SERVFAIL)
		rcode = 2;
	out[2] = 0x81;		/* QR, RD */
	out[3] = (uint8_t)(0x80 | rcode);	/* RA */
	n = i;
	if (f->mode == FAKE_ANSWER && qtype == 33) {
		/*
		 * SRV: t1.test:5223 (priority 10) and t2.test:5224
		 * (priority 20), listed in the wrong order; or ".".
		 */
		static const uint8_t t2[] = { 0, 20, 0, 5, 0x14, 0x68,
		    2, 't', '2', 4, 't', 'e', 's', 't', 0 };
		static const uint8_t t1[] = { 0, 10, 0, 5, 0x14, 0x67,
		    2, 't', '1', 4, 't', 'e', 's', 't', 0 };
		static const uint8_t dot[] = { 0, 0, 0, 0, 0, 0, 0 };
		const uint8_t *rr[2] = { t2, t1 };
		size_t rlen[2] = { sizeof(t2), sizeof(t1) };

		if (f->srv_dot) {
			rr[0] = dot;
			rlen[0] = sizeof(dot);
			an = 1;
		} else
			an = 2;
		for (int k = 0; k < an; k++) {
			const uint8_t hdr[] = { 0xc0, 0x0c, 0, 33, 0, 1,
			    0, 0, 0, 60, 0, (uint8_t)rlen[k] };

			memcpy(out + n, hdr, sizeof(hdr));
			n += sizeof(hdr);
			memcpy(out + n, rr[k], rlen[k]);
			n += rlen[k];
		}
	} else if (f->mode == FAKE_ANSWER) {
		static const uint8_t aaaa1[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
		static const uint8_t aaaa2[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };
		static const uint8_t a1[4] = { 192, 0, 2, 1 };
		const uint8_t *rr[2];
		size_t rlen = qtype == 28 ? 16 : 4;

		rr[0] = qtype == 28 ? aaaa1 : a1;
		rr[1] = aaaa2;
		an = qtype == 28 ? 2 : 1;
		for (int k = 0; k < an; k++) {
			const uint8_t hdr[] = { 0xc0, 0x0c, 0, (uint8_t)qtype, 0, 1,
			    0, 0, 0, f->ttl != 0 ? (f->ttl == 255 ? 0 : f->ttl) : 60,
			    0, (uint8_t)rlen };

			memcpy(out + n, hdr, sizeof(hdr));
			n += sizeof(hdr);
			memcpy(out + n, rr[k], rlen);
			n += rlen;
		}
	}
	out[6] = 0;
	out[7] = (uint8_t)an;
	out[8] = out[9] = out[10] = out[11] = 0;
	if ((f->mode == FAKE_NXDOMAIN || f->mode == FAKE_NODATA) &&
	    f->soa_ttl != 0) {
		/* Authority: SOA . . 0 0 0 0 MINIMUM 60, with TTL soa_ttl. */
		const uint8_t soa[] = { 0xc0, 0x0c, 0, 6, 0, 1, 0, 0, 0,
		    f->soa_ttl, 0, 22, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		    0, 0, 0, 0, 0, 0, 0, 0, 0, 60 };

		memcpy(out + n, soa, sizeof(soa));
		n += sizeof(soa);
		out[9] = 1;
	}
	return n;
}

static void
fake_send_held(struct fake *f)
{
	uint8_t	out[1024];

	for (int i = 0; i < f->nq; i++) {
		size_t n = fake_reply(f, f->q[i], f->qlen[i], out);

		if (n > 0 && sendto(f->fd, out, n, 0,
		    (struct sockaddr *)&f->from[i], sizeof(f->from[i])) > 0)
			f->answered++;
	}
	f->nq = 0;
}

static void
fake_delay_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	fake_send_held(t->data);
}

static void
fake_io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct fake	*f = io->data;
	socklen_t	 sl = sizeof(f->from[0]);
	ssize_t		 n;

	(void)revents;
	if (f->nq == 8) {
		uint8_t junk[512];
		(void)recv(f->fd, junk, sizeof(junk), 0);
		return;
	}
	n = recvfrom(f->fd, f->q[f->nq], sizeof(f->q[0]), 0,
	    (struct sockaddr *)&f->from[f->nq], &sl);
	if (n <= 12)
		return;
	f->queries++;
	if (f->mode == FAKE_SILENT)
		return;
	f->qlen[f->nq++] = (size_t)n;
	if (f->delay_s > 0) {
		if (!ev_is_active(&f->delay)) {
			ev_timer_set(&f->delay, f->delay_s, 0.);
			ev_timer_start(loop, &f->delay);
		}
	} else
		fake_send_held(f);
}

static int
setup(void **state)
{
	struct fixture		*fx = calloc(1, sizeof(*fx));
	struct sockaddr_in	 sin;
	socklen_t		 sl = sizeof(sin);

	assert_non_null(fx);
	log_init(2, LOG_LEVEL_ERROR);
	fx->loop = ev_loop_new(EVFLAG_AUTO);
	config_defaults(&fx->cfg);
	fx->fake.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fx->fake.fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fx->fake.fd, (struct sockaddr *)&sin, &sl), 0);
	memcpy(&fx->cfg.dns_servers[0], &sin, sizeof(sin));
	fx->cfg.dns_server_lens[0] = sizeof(sin);
	fx->cfg.n_dns_servers = 1;
	fx->cfg.dns_timeout = 1;
	ev_io_init(&fx->fake.io, fake_io_cb, fx->fake.fd, EV_READ);
	fx->fake.io.data = &fx->fake;
	ev_io_start(fx->loop, &fx->fake.io);
	ev_init(&fx->fake.delay, fake_delay_cb);
	fx->fake.delay.data = &fx->fake;
	memset(&fx->w, 0, sizeof(fx->w));
	fx->w.loop = fx->loop;
	fx->w.cfg = &fx->cfg;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*fx = *state;

	resolver_free(fx->w.resolver);
	ev_io_stop(fx->loop, &fx->fake.io);
	ev_timer_stop(fx->loop, &fx->fake.delay);
	close(fx->fake.fd);
	ev_loop_destroy(fx->loop);
	free(fx);
	return 0;
}

struct got {
	int			calls;
	int			want;		/* break the loop after this many calls (0: 1) */
	enum resolver_status	status;
	enum resolver_via	via;
	size_t			n;
	union sockaddr_inet	addrs[8];
	struct ev_loop		*loop;
	bool			srv;
};

static void
got_cb(void *arg, const struct resolver_result *res)
{
	struct got	*g = arg;

	g->calls++;
	g->srv = res->srv;
	g->status = res->status;
	g->via = res->via;
	g->n = res->n < 8 ? res->n : 8;
	memcpy(g->addrs, res->addrs, g->n * sizeof(g->addrs[0]));
	if (g->calls >= g->want)
		ev_break(g->loop, EVBREAK_ALL);
}

static void
guard_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)t;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

/* Run the loop until a callback breaks it or secs pass. */
static void
run_until(struct ev_loop *loop, double secs)
{
	ev_timer	guard;

	ev_timer_init(&guard, guard_cb, secs, 0.);
	ev_timer_start(loop, &guard);
	ev_run(loop, 0);
	ev_timer_stop(loop, &guard);
}

static struct lookup *
start(struct fixture *fx, const char *name, bool want_a, struct got *g)
{
	struct resolver_result	now;
	struct lookup		*l;

	memset(g, 0, sizeof(*g));
	g->loop = fx->loop;
	if (fx->w.resolver == NULL)
		fx->w.resolver = resolver_new(&fx->w);
	assert_non_null(fx->w.resolver);
	l = resolver_lookup(fx->w.resolver, name, want_a, got_cb, g, &now);
	assert_non_null(l);
	assert_int_equal(g->calls, 0);	/* never from inside resolver_lookup */
	return l;
}

static void
test_aaaa_then_a(void **state)
{
	struct fixture	*fx = *state;
	struct got	 g;
	char		 txt[INET6_ADDRSTRLEN];

	start(fx, "a.test", true, &g);
	run_until(fx->loop, 3);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.status, RESOLVER_OK);
	assert_int_equal(g.n, 3);
	assert_int_equal(g.addrs[0].sa.sa_family, AF_INET6);
	inet_ntop(AF_INET6, &g.addrs[0].in6.sin6_addr, txt, sizeof(txt));
	assert_string_equal(txt, "2001:db8::1");
	inet_ntop(AF_INET6, &g.addrs[1].in6.sin6_addr, txt, sizeof(txt));
	assert_string_equal(txt, "2001:db8::2");
	assert_int_equal(g.addrs[2].sa.sa_family, AF_INET);
	inet_ntop(AF_INET, &g.addrs[2].in.sin_addr, txt, sizeof(txt));
	assert_string_equal(txt, "192.0.2.1");
	assert_int_equal(fx->fake.queries, 2);
}

static void
test_aaaa_only(void **state)
{
	struct fixture	*fx = *state;
	struct got	 g;

	start(fx, "a.test", false, &g);
	run_until(fx->loop, 3);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.status, RESOLVER_OK);
	assert_int_equal(g.n, 2);
	assert_int_equal(fx->fake.queries, 1);	/* no A query */
}

static void
test_nxdomain(void **state)
{
	struct fixture	*fx = *state;
	struct got	 g;

	fx->fake.mode = FAKE_NXDOMAIN;
	start(fx, "nx.test", true, &g);
	run_until(fx->loop, 3);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.status, RESOLVER_NXDOMAIN);
	assert_int_equal(g.n, 0);
}

static void
test_nodata_is_nxdomain(void **state)
{
	struct fixture	*fx = *state;
	struct got	 g;

	fx->fake.mode = FAKE_NODATA;
	start(fx, "v4only.test", false, &g);
	run_until(fx->loop, 3);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.status, RESOLVER_NXDOMAIN);
}

static void
test_servfail_is_error(void **state)
{
	struct fixture	*fx = *state;
	struct got	 g;

	fx->fake.mode = FAKE_SERVFAIL;
	start(fx, "broken.test", false, &g);
	run_until(fx->loop, 3);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.status, RESOLVER_ERROR);
}

/*
 * A server that never answers: the lookup gives up within -dns-timeout.
 * c-ares 1.18 retries within it by itself (333 ms, then 666 ms).  1.34
 * gives a server it knows nothing of one try of the whole budget (see
 * RESOLVER_ARES_ASK_AGAIN in resolver_ares.c), so no retry here there.
 */
static void
test_silent_server_times_out_within_budget(void **state)
{
	struct fixture	*fx = *state;
	struct got	 g;
	ev_tstamp	 t0;

	fx->fake.mode = FAKE_SILENT;
	fx->cfg.dns_timeout = 1.0;
	t0 = ev_time();
	start(fx, "slow.test", false, &g);
	run_until(fx->loop, 3);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.status, RESOLVER_ERROR);
	assert_true(ev_time() - t0 < 1.0 + 0.25);
#if ARES_VERSION >= 0x012200
	assert_true(fx->fake.queries >= 1);
#else
	assert_true(fx->fake.queries >= 2);	/* it did retry */
#endif
}

/*
 * A server that answered quickly goes silent: c-ares 1.34 now waits only
 * 5 times its mean latency (at least 250 ms) per try, gives up early, and
 * snid asks again while -dns-timeout lasts; 1.18 retries by itself.  Either
 * way the question is sent again, and the lookup ends within the budget.
 */
static void
test_silent_after_fast_answers_is_asked_again(void **state)
{
	struct fixture	*fx = *state;
	struct got	 g;
	ev_tstamp	 t0;
	int		 before;

	fx->cfg.dns_timeout = 1.0;
	start(fx, "a.test", false, &g);
	run_until(fx->loop, 3);
	start(fx, "b.test", false, &g);
	run_until(fx->loop, 3);
	start(fx, "c.test", false, &g);
	run_until(fx->loop, 3);
	assert_int_equal(fx->fake.queries, 3);
	fx->fake.mode = FAKE_SILENT;
	before = fx->fake.queries;
	t0 = ev_time();
	start(fx, "slow.test", false, &g);
	run_until(fx->loop, 3);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.status, RESOLVER_ERROR);
	assert_true(ev_time() - t0 < 1.0 + 0.25);
	assert_true(fx->fake.queries - before >= 2);	/* asked again */
}

/*
 * The caller goes away while the answer is on its way: after
 * resolver_cancel the callback never runs, so the caller's memory (freed
 * right after cancelling, in conn_close) is never touched.
 */
static void
test_cancelled_lookup_is_never_called_back(void **state)
{
	struct fixture	*fx = *state;
	struct got	*g = malloc(sizeof(*g));
	struct got	 other;
	struct lookup	*l;

	assert_non_null(g);
	fx->fake.delay_s = 0.2;
	l = start(fx, "a.test", true, g);
	resolver_cancel(l);
	g->calls = 0;			/* from here on, the conn is gone */
	/* A second lookup that must still be answered, after the first's answer. */
	run_until(fx->loop, 0.05);
	start(fx, "b.test", false, &other);
	run_until(fx->loop, 3);
	assert_int_equal(fx->fake.answered, 3);	/* the cancelled one's answers did arrive */
	assert_int_equal(other.calls, 1);
	assert_int_equal(other.status, RESOLVER_OK);
	assert_int_equal(g->calls, 0);		/* never called back, never written */
	free(g);
}

/* Destroying the resolver with a cancelled lookup in flight frees it (valgrind: no leak). */
static void
test_free_with_pending_cancelled(void **state)
{
	struct fixture	*fx = *state;
	struct got	 g;

	fx->fake.mode = FAKE_SILENT;
	resolver_cancel(start(fx, "a.test", true, &g));
	run_until(fx->loop, 0.05);
	resolver_free(fx->w.resolver);
	fx->w.resolver = NULL;
	assert_int_equal(g.calls, 0);
}

/* A second connection to a busy name is answered from the cache, at once. */
static void
test_cached_answer_is_immediate(void **state)
{
	struct fixture		*fx = *state;
	struct got		 g;
	struct resolver_result	 now;
	char			 txt[INET6_ADDRSTRLEN];

	start(fx, "a.test", true, &g);
	run_until(fx->loop, 3);
	assert_int_equal(g.calls, 1);
	assert_int_equal(fx->fake.queries, 2);
	assert_null(resolver_lookup(fx->w.resolver, "a.test", true, got_cb, &g,
	    &now));
	assert_int_equal(now.status, RESOLVER_OK);
	assert_int_equal(now.n, 3);
	inet_ntop(AF_INET6, &now.addrs[0].in6.sin6_addr, txt, sizeof(txt));
	assert_string_equal(txt, "2001:db8::1");
	assert_int_equal(now.addrs[2].sa.sa_family, AF_INET);
	assert_int_equal(g.calls, 1);		/* no callback for a cached answer */
	assert_int_equal(fx->fake.queries, 2);	/* and no query */
	/* Another name, or the same name without A, is not that entry. */
	resolver_cancel(start(fx, "a.test", false, &g));
	resolver_cancel(start(fx, "b.test", true, &g));
}

/* resolver_free with a lookup still attached: its callback is not called. */
static void
test_free_does_not_call_back(void **state)
{
	struct fixture	*fx = *state;
	struct got	 g;

	fx->fake.mode = FAKE_SILENT;
	start(fx, "a.test", true, &g);
	run_until(fx->loop, 0.05);
	resolver_free(fx->w.resolver);
	fx->w.resolver = NULL;
	assert_int_equal(g.calls, 0);
}

/* TTL 0 means "do not cache": every lookup asks. */
static void
test_ttl_zero_not_cached(void **state)
{
	struct fixture	*fx = *state;
	struct got	 g;

	fx->fake.ttl = 255;	/* encodes TTL 0 */
	start(fx, "a.test", false, &g);
	run_until(fx->loop, 3);
	assert_int_equal(g.calls, 1);
	assert_non_null(start(fx, "a.test", false, &g));
	run_until(fx->loop, 3);
	assert_int_equal(g.calls, 1);
	assert_int_equal(fx->fake.queries, 2);
}

/* An entry is used for its TTL only. */
static void
test_cache_expires(void **state)
{
	struct fixture	*fx = *state;
	struct got	 g;

	fx->fake.ttl = 1;
	start(fx, "a.test", false, &g);
	run_until(fx->loop, 3);
	assert_int_equal(g.calls, 1);
	run_until(fx->loop, 1.2);
	ev_now_update(fx->loop);
	assert_non_null(start(fx, "a.test", false, &g));	/* asks again */
	run_until(fx->loop, 3);
	assert_int_equal(g.calls, 1);
	assert_int_equal(fx->fake.queries, 2);
}

/* NXDOMAIN is cached for min(SOA TTL, MINIMUM): no query meanwhile, then asked again. */
static void
test_nxdomain_cached_for_soa_ttl(void **state)
{
	struct fixture		*fx = *state;
	struct got		 g;
	struct resolver_result	 now;

	fx->fake.mode = FAKE_NXDOMAIN;
	fx->fake.soa_ttl = 1;
	start(fx, "nx.test", false, &g);
	run_until(fx->loop, 3);
	assert_int_equal(g.status, RESOLVER_NXDOMAIN);
	assert_null(resolver_lookup(fx->w.resolver, "nx.test", false, got_cb,
	    &g, &now));
	assert_int_equal(now.status, RESOLVER_NXDOMAIN);
	assert_int_equal(now.via, RESOLVER_VIA_NEGATIVE);
	assert_int_equal(resolver_metric(&now), METRICS_DNS_NEGATIVE);
	assert_int_equal(fx->fake.queries, 1);
	run_until(fx->loop, 1.2);
	ev_now_update(fx->loop);
	fx->fake.mode = FAKE_ANSWER;	/* the name now exists */
	start(fx, "nx.test", false, &g);
	run_until(fx->loop, 3);
	assert_int_equal(g.status, RESOLVER_OK);
	assert_int_equal(fx->fake.queries, 2);
}

/* A server failure is kept a few seconds: a dead resolver is not hammered. */
static void
test_servfail_cached_briefly(void **state)
{
	struct fixture		*fx = *state;
	struct got		 g;
	struct resolver_result	 now;

	int			 asked;

	fx->fake.mode = FAKE_SERVFAIL;
	start(fx, "sf.test", true, &g);
	run_until(fx->loop, 3);
	assert_int_equal(g.status, RESOLVER_ERROR);
	asked = fx->fake.queries;	/* c-ares tries SERVFAIL again itself */
	assert_null(resolver_lookup(fx->w.resolver, "sf.test", true, got_cb,
	    &g, &now));
	assert_int_equal(now.status, RESOLVER_ERROR);
	assert_int_equal(now.via, RESOLVER_VIA_NEGATIVE);
	run_until(fx->loop, 0.1);
	assert_int_equal(fx->fake.queries, asked);
}

/* Ten lookups of one name: one query; all get the answer; one leaving detaches only itself. */
static void
test_identical_lookups_merged(void **state)
{
	struct fixture	*fx = *state;
	struct got	 g, gone;
	struct lookup	*l[10];
	int		 i;

	fx->fake.delay_s = 0.2;
	start(fx, "m.test", false, &gone);
	resolver_cancel(start(fx, "m.test", false, &gone));	/* the starter leaves */
	memset(&g, 0, sizeof(g));
	g.loop = fx->loop;
	g.want = 10;
	for (i = 0; i < 10; i++) {
		struct resolver_result now;

		l[i] = resolver_lookup(fx->w.resolver, "m.test", false, got_cb,
		    &g, &now);
		assert_non_null(l[i]);
	}
	resolver_cancel(l[3]);
	g.want = 9;
	run_until(fx->loop, 3);
	assert_int_equal(g.calls, 9);
	assert_int_equal(g.status, RESOLVER_OK);
	assert_int_equal(g.via, RESOLVER_VIA_MERGED);
	assert_int_equal(resolver_metric(&(struct resolver_result){
	    .status = RESOLVER_OK, .via = RESOLVER_VIA_MERGED }),
	    METRICS_DNS_MERGED);
	assert_int_equal(fx->fake.queries, 1);
}

/* Every waiter left: the query still fills the cache. */
static void
test_detached_query_fills_cache(void **state)
{
	struct fixture		*fx = *state;
	struct got		 g;
	struct resolver_result	 now;
	struct resolver_stats	 st;

	fx->fake.delay_s = 0.1;
	resolver_cancel(start(fx, "d.test", false, &g));
	resolver_stats(fx->w.resolver, &st);
	assert_int_equal(st.queries, 1);	/* detached, still counted */
	run_until(fx->loop, 0.3);
	resolver_stats(fx->w.resolver, &st);
	assert_int_equal(st.queries, 0);
	assert_int_equal(st.cache[DNSCACHE_POSITIVE], 1);
	assert_int_equal(g.calls, 0);
	assert_null(resolver_lookup(fx->w.resolver, "d.test", false, got_cb,
	    &g, &now));
	assert_int_equal(now.status, RESOLVER_OK);
	assert_int_equal(now.via, RESOLVER_VIA_CACHE);
	assert_int_equal(fx->fake.queries, 1);
}

/* At the cap, a new name fails at once while a cached name still answers. */
static void
test_cap_on_queries_in_flight(void **state)
{
	struct fixture		*fx = *state;
	struct got		 g;
	struct resolver_result	 now;
	struct resolver_stats	 st;
	struct lookup		*l;
	char			 name[32];
	int			 i;

	start(fx, "hot.test", false, &g);
	run_until(fx->loop, 3);
	assert_int_equal(g.status, RESOLVER_OK);
	fx->fake.mode = FAKE_SILENT;
	for (i = 0; i < 2 * RESOLVER_MAX_QUERIES; i++) {
		snprintf(name, sizeof(name), "r%d.test", i);
		l = resolver_lookup(fx->w.resolver, name, false, got_cb, &g,
		    &now);
		if (l == NULL)
			break;
		resolver_cancel(l);
	}
	/* The cap, or the rate bucket a moment before it (hot.test took a token). */
	assert_true(i >= RESOLVER_MAX_QUERIES - 2 && i <= RESOLVER_MAX_QUERIES);
	resolver_stats(fx->w.resolver, &st);
	assert_int_equal(st.queries, (size_t)i);
	assert_int_equal(now.status, RESOLVER_ERROR);
	assert_null(resolver_lookup(fx->w.resolver, "new.test", false, got_cb,
	    &g, &now));
	assert_int_equal(now.status, RESOLVER_ERROR);
	assert_string_equal(now.detail, "too many DNS queries in flight");
	assert_null(resolver_lookup(fx->w.resolver, "hot.test", false, got_cb,
	    &g, &now));
	assert_int_equal(now.status, RESOLVER_OK);
	assert_int_equal(now.via, RESOLVER_VIA_CACHE);
	assert_int_equal(g.calls, 1);
}

/* Expired, and the refresh fails: the stale answer is served, then at once for a while. */
static void
test_stale_served_when_refresh_fails(void **state)
{
	struct fixture		*fx = *state;
	struct got		 g;
	struct resolver_result	 now;
	int			 asked;

	fx->fake.ttl = 1;
	start(fx, "s.test", false, &g);
	run_until(fx->loop, 3);
	run_until(fx->loop, 1.2);
	ev_now_update(fx->loop);
	fx->fake.mode = FAKE_SERVFAIL;
	start(fx, "s.test", false, &g);
	run_until(fx->loop, 3);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.status, RESOLVER_OK);
	assert_int_equal(g.via, RESOLVER_VIA_STALE);
	assert_int_equal(g.n, 2);
	asked = fx->fake.queries;
	assert_null(resolver_lookup(fx->w.resolver, "s.test", false, got_cb,
	    &g, &now));
	assert_int_equal(now.status, RESOLVER_OK);
	assert_int_equal(now.via, RESOLVER_VIA_STALE);
	assert_int_equal(resolver_metric(&now), METRICS_DNS_STALE);
	assert_int_equal(fx->fake.queries, asked);
	/* -dns-stale 0: no stale answer. */
	fx->cfg.dns_stale = 0;
	resolver_free(fx->w.resolver);
	fx->w.resolver = NULL;
	fx->fake.mode = FAKE_ANSWER;
	start(fx, "s.test", false, &g);
	run_until(fx->loop, 3);
	run_until(fx->loop, 1.2);
	ev_now_update(fx->loop);
	fx->fake.mode = FAKE_SERVFAIL;
	start(fx, "s.test", false, &g);
	run_until(fx->loop, 3);
	assert_int_equal(g.status, RESOLVER_ERROR);
}

/* Expired, and the server is silent: the stale answer comes after the client response timer. */
static void
test_stale_served_when_refresh_is_slow(void **state)
{
	struct fixture	*fx = *state;
	struct got	 g;
	ev_tstamp	 t0;

	fx->fake.ttl = 1;
	start(fx, "s.test", false, &g);
	run_until(fx->loop, 3);
	run_until(fx->loop, 1.2);
	ev_now_update(fx->loop);
	fx->fake.mode = FAKE_SILENT;
	t0 = ev_time();
	start(fx, "s.test", false, &g);
	run_until(fx->loop, 3);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.status, RESOLVER_OK);
	assert_int_equal(g.via, RESOLVER_VIA_STALE);
	/* -dns-timeout 1: half of it, well before c-ares gives up. */
	assert_true(ev_time() - t0 < 0.9);
}

/* ---- c-ares answering from inside ares_query (its query cache, 1.31+) ---- */

static bool	sync_answers;	/* the wrapper answers at once */

/* A reply to a query for name of type qtype, built like the fake server's. */
static size_t
sync_reply(const char *name, int qtype, uint8_t *out)
{
	struct fake	f;
	uint8_t		q[300];
	size_t		n = 12;
	const char	*p = name, *dot;

	memset(&f, 0, sizeof(f));
	memset(q, 0, 12);
	q[5] = 1;
	for (; *p != '\0'; p = *dot != '\0' ? dot + 1 : dot) {
		dot = strchr(p, '.');
		if (dot == NULL)
			dot = p + strlen(p);
		q[n++] = (uint8_t)(dot - p);
		memcpy(q + n, p, (size_t)(dot - p));
		n += (size_t)(dot - p);
	}
	q[n++] = 0;
	q[n++] = 0;
	q[n++] = (uint8_t)qtype;
	q[n++] = 0;
	q[n++] = 1;
	return fake_reply(&f, q, n, out);
}

#if ARES_VERSION >= 0x011c00
ares_status_t	__real_ares_query_dnsrec(ares_channel_t *, const char *,
		    ares_dns_class_t, ares_dns_rec_type_t, ares_callback_dnsrec,
		    void *, unsigned short *);
ares_status_t	__wrap_ares_query_dnsrec(ares_channel_t *, const char *,
		    ares_dns_class_t, ares_dns_rec_type_t, ares_callback_dnsrec,
		    void *, unsigned short *);

ares_status_t
__wrap_ares_query_dnsrec(ares_channel_t *ch, const char *name,
    ares_dns_class_t cls, ares_dns_rec_type_t type, ares_callback_dnsrec cb,
    void *arg, unsigned short *qid)
{
	uint8_t			 out[1024];
	size_t			 n;
	ares_dns_record_t	*rec = NULL;

	if (!sync_answers)
		return __real_ares_query_dnsrec(ch, name, cls, type, cb, arg,
		    qid);
	n = sync_reply(name, (int)type, out);
	assert_int_equal(ares_dns_parse(out, n, 0, &rec), ARES_SUCCESS);
	cb(arg, ARES_SUCCESS, 0, rec);
	ares_dns_record_destroy(rec);
	return ARES_SUCCESS;
}
#else
void	__real_ares_query(ares_channel, const char *, int, int, ares_callback,
	    void *);
void	__wrap_ares_query(ares_channel, const char *, int, int, ares_callback,
	    void *);

void
__wrap_ares_query(ares_channel ch, const char *name, int cls, int type,
    ares_callback cb, void *arg)
{
	uint8_t	out[1024];
	size_t	n;

	if (!sync_answers) {
		__real_ares_query(ch, name, cls, type, cb, arg);
		return;
	}
	n = sync_reply(name, type, out);
	cb(arg, ARES_SUCCESS, 0, out, (int)n);
}
#endif

/*
 * c-ares answers inside the call: that is an answer (RESOLVER_OK at once,
 * no callback), and it is cached like any other.  Before this, snid took
 * it for a failure and did not cache it.
 */
static void
test_answer_from_inside_ares_query(void **state)
{
	struct fixture		*fx = *state;
	struct got		 g;
	struct resolver_result	 now;

	memset(&g, 0, sizeof(g));
	g.loop = fx->loop;
	fx->w.resolver = resolver_new(&fx->w);
	sync_answers = true;
	assert_null(resolver_lookup(fx->w.resolver, "a.test", true, got_cb, &g,
	    &now));
	assert_int_equal(now.status, RESOLVER_OK);
	assert_int_equal(now.n, 3);
	assert_int_equal(now.via, RESOLVER_VIA_QUERY);
	/* SRV and both targets at once too. */
	assert_null(resolver_lookup_srv(fx->w.resolver,
	    "_xmpps-client._tcp.chat.test", false, got_cb, &g, &now));
	assert_int_equal(now.status, RESOLVER_OK);
	assert_int_equal(now.n, 4);
	assert_true(now.srv);
	sync_answers = false;
	assert_null(resolver_lookup(fx->w.resolver, "a.test", true, got_cb, &g,
	    &now));
	assert_int_equal(now.via, RESOLVER_VIA_CACHE);
	assert_int_equal(now.n, 3);
	run_until(fx->loop, 0.1);
	assert_int_equal(g.calls, 0);
	assert_int_equal(fx->fake.queries, 0);
}

/* ---- SRV (XMPP by ALPN) ---- */

/* Lower priorities always come first, whatever the weights. */
/*
 * A response captured from dnsmasq (tests/data/dnsanswer), parsed as
 * c-ares' callback would for a question of type with status.
 */
static void
parse_capture(const char *name, int type, int status, struct rq_answer *a)
{
	unsigned char	buf[512];
	char		path[128];
	size_t		len;
	FILE		*f;

	snprintf(path, sizeof(path), "tests/data/dnsanswer/%s", name);
	f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open %s (run from the repository root)", path);
	len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	assert_true(len >= 12);
	resolver_ares_parse(type, status, buf, len, a);
}

/*
 * The entry point fuzz_dnsanswer drives, on real answers: the counts, the
 * families, the SOA of a negative answer, SRV records as usable targets.
 */
static void
test_parse_captured_answers(void **state)
{
	struct rq_srv		srv[RESOLVER_SRV_MAX_RECORDS];
	struct resolver_srv	recs[RESOLVER_SRV_MAX_RECORDS];
	char			names[RESOLVER_SRV_MAX_RECORDS][HOSTNAME_MAX + 1];
	struct rq_answer	a;
	bool			dot;
	size_t			i;

	(void)state;
	a.srv = srv;
	parse_capture("aaaa-multi.bin", RQ_AAAA, ARES_SUCCESS, &a);
	assert_int_equal(a.status, ARES_SUCCESS);
	assert_int_equal(a.n, 3);
	for (i = 0; i < a.n; i++)
		assert_int_equal(a.addrs[i].sa.sa_family, AF_INET6);
	parse_capture("cname-aaaa.bin", RQ_AAAA, ARES_SUCCESS, &a);
	assert_int_equal(a.n, 1);
	parse_capture("a-multi.bin", RQ_A, ARES_SUCCESS, &a);
	assert_int_equal(a.n, 2);
	assert_int_equal(a.addrs[0].sa.sa_family, AF_INET);
	parse_capture("nxdomain-soa.bin", RQ_AAAA, ARES_ENOTFOUND, &a);
	assert_int_equal(a.status, ARES_ENOTFOUND);
	assert_int_equal(a.n, 0);
	assert_true(a.has_soa);
	parse_capture("nodata-srv.bin", RQ_SRV, ARES_ENODATA, &a);
	assert_int_equal(a.status, ARES_ENODATA);
	assert_int_equal(a.nsrv, 0);
	assert_true(a.has_soa);
	parse_capture("srv.bin", RQ_SRV, ARES_SUCCESS, &a);
	assert_int_equal(a.status, ARES_SUCCESS);
	assert_int_equal(a.nsrv, 4);
	assert_int_equal(a.n, 0);
	assert_int_equal(resolver_srv_records(&a, recs, names, &dot), 4);
	assert_false(dot);
	for (i = 0; i < 4; i++)
		assert_true(recs[i].port == 5223 || recs[i].port == 443);
	parse_capture("srv-dot.bin", RQ_SRV, ARES_SUCCESS, &a);
	assert_int_equal(a.nsrv, 1);
	assert_int_equal(resolver_srv_records(&a, recs, names, &dot), 0);
	assert_true(dot);
}

static void
test_srv_order_priority_first(void **state)
{
	uint64_t	rng = 42;

	(void)state;
	for (int round = 0; round < 200; round++) {
		struct resolver_srv	r[6] = {
			{ 30, 1, 1, "a" }, { 10, 0, 2, "b" }, { 20, 50, 3, "c" },
			{ 10, 65535, 4, "d" }, { 0, 0, 5, "e" }, { 20, 1, 6, "f" },
		};

		resolver_srv_order(r, 6, &rng);
		assert_int_equal(r[0].priority, 0);
		for (int i = 1; i < 6; i++)
			assert_true(r[i - 1].priority <= r[i].priority);
		assert_int_equal(r[5].port, 1);
		/* Each record exactly once. */
		for (uint16_t p = 1; p <= 6; p++) {
			int seen = 0;

			for (int i = 0; i < 6; i++)
				seen += r[i].port == p;
			assert_int_equal(seen, 1);
		}
	}
}

/* Within a priority, the first pick follows the weights (fixed seed: reproducible). */
static void
test_srv_order_weight_distribution(void **state)
{
	const int	N = 20000;
	int		first[3] = { 0, 0, 0 };
	uint64_t	rng = 12345;

	(void)state;
	for (int round = 0; round < N; round++) {
		struct resolver_srv	r[3] = {
			{ 5, 10, 0, "a" }, { 5, 30, 1, "b" }, { 5, 60, 2, "c" },
		};

		resolver_srv_order(r, 3, &rng);
		first[r[0].port]++;
	}
	/* Expected 10/30/60 % (RFC 2782's draw in [0, sum] gives the first one 11/101). */
	assert_in_range(first[0], N * 9 / 100, N * 13 / 100);
	assert_in_range(first[1], N * 27 / 100, N * 33 / 100);
	assert_in_range(first[2], N * 56 / 100, N * 63 / 100);
}

/* RFC 2782: weight 0 is picked only when the draw is 0; all zero keeps the given order. */
static void
test_srv_order_zero_weights(void **state)
{
	const int	N = 10000;
	int		zero_first = 0;
	uint64_t	rng = 7;

	(void)state;
	for (int round = 0; round < N; round++) {
		struct resolver_srv r[2] = { { 1, 100, 1, "w" }, { 1, 0, 2, "z" } };

		resolver_srv_order(r, 2, &rng);
		zero_first += r[0].port == 2;
	}
	/* 1 draw in 101: about 99 of 10000. */
	assert_in_range(zero_first, 40, 200);
	for (int round = 0; round < 100; round++) {
		struct resolver_srv	r[3] = {
			{ 1, 0, 1, "x" }, { 1, 0, 2, "y" }, { 1, 0, 3, "z" },
		};

		resolver_srv_order(r, 3, &rng);
		assert_int_equal(r[0].port, 1);
		assert_int_equal(r[1].port, 2);
		assert_int_equal(r[2].port, 3);
	}
	resolver_srv_order(NULL, 0, &rng);	/* nothing to do, no crash */
}

static struct lookup *
start_srv(struct fixture *fx, const char *qname, struct got *g)
{
	struct resolver_result	now;
	struct lookup		*l;

	memset(g, 0, sizeof(*g));
	g->loop = fx->loop;
	if (fx->w.resolver == NULL)
		fx->w.resolver = resolver_new(&fx->w);
	assert_non_null(fx->w.resolver);
	l = resolver_lookup_srv(fx->w.resolver, qname, false, got_cb, g, &now);
	assert_non_null(l);
	assert_int_equal(g->calls, 0);
	return l;
}

static uint16_t
port_of(const union sockaddr_inet *a)
{
	return ntohs(a->sa.sa_family == AF_INET6 ? a->in6.sin6_port :
	    a->in.sin_port);
}

/* SRV, then both targets' AAAA: addresses in priority order, each with its port. */
static void
test_srv_targets_in_order_with_ports(void **state)
{
	struct fixture	*fx = *state;
	struct got	 g;

	start_srv(fx, "_xmpps-client._tcp.chat.test", &g);
	run_until(fx->loop, 3);
	assert_int_equal(g.calls, 1);
	assert_true(g.srv);
	assert_int_equal(g.status, RESOLVER_OK);
	assert_int_equal(g.n, 4);
	assert_int_equal(port_of(&g.addrs[0]), 5223);
	assert_int_equal(port_of(&g.addrs[1]), 5223);
	assert_int_equal(port_of(&g.addrs[2]), 5224);
	assert_int_equal(port_of(&g.addrs[3]), 5224);
	assert_int_equal(g.addrs[0].sa.sa_family, AF_INET6);
	assert_int_equal(fx->fake.queries, 3);	/* SRV, t1 AAAA, t2 AAAA */
	/* The targets' addresses are cached; the SRV answer is not. */
	start_srv(fx, "_xmpps-client._tcp.chat.test", &g);
	run_until(fx->loop, 3);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.n, 4);
	assert_int_equal(fx->fake.queries, 4);
}

/* RFC 2782: the target "." means "decidedly not available": like no record. */
static void
test_srv_dot_target_is_nxdomain(void **state)
{
	struct fixture	*fx = *state;
	struct got	 g;

	fx->fake.srv_dot = true;
	start_srv(fx, "_xmpps-server._tcp.chat.test", &g);
	run_until(fx->loop, 3);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.status, RESOLVER_NXDOMAIN);
	assert_int_equal(g.n, 0);
	assert_int_equal(fx->fake.queries, 1);
}

static void
test_srv_nxdomain_nodata_servfail(void **state)
{
	struct fixture	*fx = *state;
	struct got	 g;

	fx->fake.mode = FAKE_NXDOMAIN;
	start_srv(fx, "_xmpps-client._tcp.none.test", &g);
	run_until(fx->loop, 3);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.status, RESOLVER_NXDOMAIN);
	fx->fake.mode = FAKE_NODATA;
	start_srv(fx, "_xmpps-client._tcp.none.test", &g);
	run_until(fx->loop, 3);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.status, RESOLVER_NXDOMAIN);
	fx->fake.mode = FAKE_SERVFAIL;
	start_srv(fx, "_xmpps-client._tcp.none.test", &g);
	run_until(fx->loop, 3);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.status, RESOLVER_ERROR);
}

/* Cancelled while the SRV answer is on its way: never called back, nothing leaks. */
static void
test_srv_cancelled_is_never_called_back(void **state)
{
	struct fixture	*fx = *state;
	struct got	 g;
	struct lookup	*l;

	fx->fake.delay_s = 0.2;
	l = start_srv(fx, "_xmpps-client._tcp.chat.test", &g);
	run_until(fx->loop, 0.05);
	resolver_cancel(l);
	run_until(fx->loop, 1.5);
	assert_int_equal(g.calls, 0);
	assert_int_equal(fx->fake.answered, 1);
	/* No target was looked up for nobody. */
	assert_int_equal(fx->fake.queries, 1);
}

/* Cancelled while the targets' lookups run, then the resolver freed with them in flight. */
static void
test_srv_cancel_and_free_during_targets(void **state)
{
	struct fixture	*fx = *state;
	struct got	 g;
	struct lookup	*l;

	l = start_srv(fx, "_xmpps-client._tcp.chat.test", &g);
	/* Answer the SRV query at once, then hold the AAAA queries back. */
	while (fx->fake.answered == 0 && fx->fake.queries < 10)
		ev_run(fx->loop, EVRUN_ONCE);
	fx->fake.mode = FAKE_SILENT;
	run_until(fx->loop, 0.1);
	assert_int_equal(fx->fake.queries, 3);
	resolver_cancel(l);
	resolver_free(fx->w.resolver);
	fx->w.resolver = NULL;
	assert_int_equal(g.calls, 0);
}

/* Freeing the resolver with an SRV query in flight: no callback, no leak. */
static void
test_srv_free_while_pending(void **state)
{
	struct fixture	*fx = *state;
	struct got	 g;

	fx->fake.mode = FAKE_SILENT;
	start_srv(fx, "_xmpps-client._tcp.chat.test", &g);
	run_until(fx->loop, 0.05);
	resolver_free(fx->w.resolver);
	fx->w.resolver = NULL;
	assert_int_equal(g.calls, 0);
}

/* Reload while an SRV lookup runs: it finishes on the retired resolver, targets included. */
static void
test_srv_survives_reconfigure(void **state)
{
	struct fixture	*fx = *state;
	struct config	 cfg2;
	struct resolver	*old;
	struct got	 g;

	fx->fake.delay_s = 0.2;
	start_srv(fx, "_xmpps-client._tcp.chat.test", &g);
	old = fx->w.resolver;
	cfg2 = fx->cfg;
	cfg2.dns_timeout = 2;		/* another schedule: a new resolver */
	assert_int_equal(resolver_reconfigure(&fx->w.resolver, &cfg2), 0);
	assert_ptr_not_equal(fx->w.resolver, old);
	run_until(fx->loop, 3);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.status, RESOLVER_OK);
	assert_int_equal(g.n, 4);
	assert_int_equal(port_of(&g.addrs[0]), 5223);
	assert_int_equal(port_of(&g.addrs[3]), 5224);
}

static void
test_srv_name_too_long(void **state)
{
	struct fixture		*fx = *state;
	struct resolver_result	 now;
	char			 name[300];

	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	fx->w.resolver = resolver_new(&fx->w);
	assert_null(resolver_lookup_srv(fx->w.resolver, name, false, got_cb,
	    NULL, &now));
	assert_int_equal(now.status, RESOLVER_NXDOMAIN);
	assert_true(now.srv);
}

/* ---- two workers (two loops, two threads) sharing one resolver_shared ---- */

/*
 * Worker A is fx->w on fx->loop, which also runs the fake server; worker
 * B is fx2.w on its own loop, run in a thread of its own while the main
 * thread runs A's, as with -workers 2.
 */
struct worker2 {
	struct fixture		*fx;
	struct resolver_shared	*sh;
	struct ev_loop		*loop;
	struct worker		 w;
	pthread_t		 th;
	double			 secs;
};

static struct worker2	fx2;

static int
setup2(void **state)
{
	struct fixture	*fx;

	setup(state);
	fx = *state;
	memset(&fx2, 0, sizeof(fx2));
	fx2.fx = fx;
	fx2.sh = resolver_shared_new(&fx->cfg);
	assert_non_null(fx2.sh);
	fx2.loop = ev_loop_new(EVFLAG_AUTO);
	fx2.w.loop = fx2.loop;
	fx2.w.cfg = &fx->cfg;
	fx->w.resolver = resolver_new_on(&fx->w, fx2.sh);
	fx2.w.resolver = resolver_new_on(&fx2.w, fx2.sh);
	assert_non_null(fx->w.resolver);
	assert_non_null(fx2.w.resolver);
	return 0;
}

static int
teardown2(void **state)
{
	resolver_free(fx2.w.resolver);
	/* Before or after the resolvers: the object goes with the last. */
	resolver_shared_free(fx2.sh);
	ev_loop_destroy(fx2.loop);
	return teardown(state);
}

static void *
worker2_main(void *arg)
{
	struct worker2	*b = arg;

	run_until(b->loop, b->secs);
	return NULL;
}

/* Run B's loop in its thread for secs at most (until a callback breaks it). */
static void
worker2_run(double secs)
{
	fx2.secs = secs;
	assert_int_equal(pthread_create(&fx2.th, NULL, worker2_main, &fx2), 0);
}

static void
worker2_join(void)
{
	assert_int_equal(pthread_join(fx2.th, NULL), 0);
}

static struct lookup *
start_on(struct resolver *r, struct ev_loop *loop, const char *name,
    bool want_a, struct got *g)
{
	struct resolver_result	now;
	struct lookup		*l;

	memset(g, 0, sizeof(*g));
	g->loop = loop;
	l = resolver_lookup(r, name, want_a, got_cb, g, &now);
	assert_non_null(l);
	return l;
}

/*
 * One name asked in both workers: one query goes out (AAAA and A), both
 * get the whole answer, B's as merged; then both find it in the one
 * cache, which the metrics count once (resolver_shared_stats), not per
 * worker.
 */
static void
test_shared_one_query_for_two_workers(void **state)
{
	struct fixture		*fx = *state;
	struct got		 ga, gb;
	struct resolver_result	 now;
	struct resolver_stats	 st;

	fx->fake.delay_s = 0.05;	/* B asks before A has the answer */
	start_on(fx->w.resolver, fx->loop, "a.test", true, &ga);
	start_on(fx2.w.resolver, fx2.loop, "a.test", true, &gb);
	resolver_stats(fx2.w.resolver, &st);
	assert_int_equal(st.queries, 0);	/* B waits, sends nothing */
	worker2_run(3);
	run_until(fx->loop, 3);
	worker2_join();
	assert_int_equal(ga.calls, 1);
	assert_int_equal(ga.status, RESOLVER_OK);
	assert_int_equal(ga.n, 3);
	assert_int_equal(ga.via, RESOLVER_VIA_QUERY);
	assert_int_equal(gb.calls, 1);
	assert_int_equal(gb.status, RESOLVER_OK);
	assert_int_equal(gb.n, 3);
	assert_int_equal(gb.via, RESOLVER_VIA_MERGED);
	assert_int_equal(gb.addrs[2].sa.sa_family, AF_INET);
	assert_int_equal(fx->fake.queries, 2);
	assert_null(resolver_lookup(fx2.w.resolver, "a.test", true, got_cb,
	    &gb, &now));
	assert_int_equal(now.via, RESOLVER_VIA_CACHE);
	assert_int_equal(now.n, 3);
	assert_int_equal(fx->fake.queries, 2);
	resolver_stats(fx->w.resolver, &st);
	assert_int_equal(st.cache[DNSCACHE_POSITIVE], 0);
	resolver_shared_stats(fx2.sh, &st);
	assert_int_equal(st.cache[DNSCACHE_POSITIVE], 1);
	assert_int_equal(st.queries, 0);
}

/*
 * The answer is handed over, not read back from the cache: an answer with
 * TTL 0 (never cached) and a failure reach the waiting worker all the
 * same, from the one query.
 */
static void
test_shared_uncached_and_failed_answers_handed_over(void **state)
{
	struct fixture	*fx = *state;
	struct got	 ga, gb;

	fx->fake.delay_s = 0.05;	/* B asks before A has the answer */
	fx->fake.ttl = 255;	/* TTL 0 */
	start_on(fx->w.resolver, fx->loop, "z.test", false, &ga);
	start_on(fx2.w.resolver, fx2.loop, "z.test", false, &gb);
	worker2_run(3);
	run_until(fx->loop, 3);
	worker2_join();
	assert_int_equal(gb.calls, 1);
	assert_int_equal(gb.status, RESOLVER_OK);
	assert_int_equal(gb.n, 2);
	assert_int_equal(fx->fake.queries, 1);
	fx->fake.mode = FAKE_NXDOMAIN;
	start_on(fx2.w.resolver, fx2.loop, "nx.test", false, &gb);
	start_on(fx->w.resolver, fx->loop, "nx.test", false, &ga);
	worker2_run(3);
	run_until(fx->loop, 3);
	worker2_join();
	assert_int_equal(ga.status, RESOLVER_NXDOMAIN);
	assert_int_equal(gb.status, RESOLVER_NXDOMAIN);
	assert_int_equal(fx->fake.queries, 2);
}

/*
 * B's lookup goes while it waits: never called back; its wait still
 * ends (and is freed) when A's answer comes.  Then B's resolver freed
 * while it waits: A's answer must not touch it (ASan, valgrind).
 */
static void
test_shared_cancel_while_waiting(void **state)
{
	struct fixture		*fx = *state;
	struct got		 ga, *gb = calloc(1, sizeof(*gb));
	struct resolver_stats	 st;

	assert_non_null(gb);
	fx->fake.delay_s = 0.05;	/* B asks before A has the answer */
	start_on(fx->w.resolver, fx->loop, "c.test", false, &ga);
	resolver_cancel(start_on(fx2.w.resolver, fx2.loop, "c.test", false,
	    gb));
	free(gb);		/* the conn is gone */
	worker2_run(0.5);
	run_until(fx->loop, 3);
	worker2_join();
	assert_int_equal(ga.calls, 1);
	assert_int_equal(fx2.w.resolver->nqueries, 0);	/* the wait ended */
	/* Waiter freed before the owner's answer. */
	gb = calloc(1, sizeof(*gb));
	assert_non_null(gb);
	start_on(fx->w.resolver, fx->loop, "d.test", false, &ga);
	start_on(fx2.w.resolver, fx2.loop, "d.test", false, gb);
	resolver_free(fx2.w.resolver);
	fx2.w.resolver = NULL;
	assert_int_equal(gb->calls, 0);
	free(gb);
	run_until(fx->loop, 3);
	assert_int_equal(ga.calls, 1);
	assert_int_equal(ga.status, RESOLVER_OK);
	resolver_shared_stats(fx2.sh, &st);
	assert_int_equal(st.queries, 0);
}

/*
 * The owner's resolver is freed (a worker going, or a retired channel)
 * while B waits: B asks itself and gets the answer.
 */
static void
test_shared_owner_freed_while_others_wait(void **state)
{
	struct fixture	*fx = *state;
	struct got	 ga, gb;

	fx->fake.delay_s = 0.05;	/* B asks before A has the answer */
	start_on(fx->w.resolver, fx->loop, "o.test", false, &ga);
	start_on(fx2.w.resolver, fx2.loop, "o.test", false, &gb);
	resolver_free(fx->w.resolver);
	fx->w.resolver = NULL;
	assert_int_equal(ga.calls, 0);
	worker2_run(3);
	run_until(fx->loop, 1);		/* the fake server answers meanwhile */
	worker2_join();
	assert_int_equal(gb.calls, 1);
	assert_int_equal(gb.status, RESOLVER_OK);
	assert_int_equal(gb.n, 2);
	assert_int_equal(ga.calls, 0);
}

/*
 * The bound on queries in flight is the daemon's: names spread over both
 * workers stop at RESOLVER_MAX_QUERIES in all, not per worker; a name
 * one worker asks still costs the other nothing.
 */
static void
test_shared_bound_is_daemon_wide(void **state)
{
	struct fixture		*fx = *state;
	struct got		 g;
	struct resolver_result	 now;
	struct resolver_stats	 sa, sb, st;
	struct resolver		*r;
	struct lookup		*l;
	char			 name[32];
	int			 i;

	fx->fake.mode = FAKE_SILENT;
	memset(&g, 0, sizeof(g));
	for (i = 0; i < 2 * RESOLVER_MAX_QUERIES; i++) {
		r = i % 2 == 0 ? fx->w.resolver : fx2.w.resolver;
		snprintf(name, sizeof(name), "r%d.test", i);
		l = resolver_lookup(r, name, false, got_cb, &g, &now);
		if (l == NULL)
			break;
		resolver_cancel(l);
	}
	assert_int_equal(i, RESOLVER_MAX_QUERIES);
	assert_string_equal(now.detail, "too many DNS queries in flight");
	resolver_stats(fx->w.resolver, &sa);
	resolver_stats(fx2.w.resolver, &sb);
	resolver_shared_stats(fx2.sh, &st);
	assert_int_equal(sa.queries + sb.queries, (size_t)i);
	assert_int_equal(st.queries, (size_t)i);
	/* A wait on the other worker's query is not a new query. */
	l = resolver_lookup(fx2.w.resolver, "r0.test", false, got_cb, &g,
	    &now);
	assert_non_null(l);
	resolver_cancel(l);
	assert_null(resolver_lookup(fx->w.resolver, "new.test", false, got_cb,
	    &g, &now));
	assert_int_equal(now.status, RESOLVER_ERROR);
	assert_int_equal(g.calls, 0);
}

/* fx's configuration with a second DNS server (127.0.0.2, same port). */
static void
cfg_other_servers(const struct fixture *fx, struct config *cfg2)
{
	*cfg2 = fx->cfg;
	cfg2->dns_servers[1] = cfg2->dns_servers[0];
	((struct sockaddr_in *)&cfg2->dns_servers[1])->sin_addr.s_addr =
	    htonl(0x7f000002);
	cfg2->dns_server_lens[1] = cfg2->dns_server_lens[0];
	cfg2->n_dns_servers = 2;
}

/*
 * A reload with other DNS servers in one worker clears the shared cache;
 * the other worker, still on the old servers, no longer reads it (nor
 * fills it) until it reloads too.
 */
static void
test_shared_new_servers_clear_the_cache(void **state)
{
	struct fixture		*fx = *state;
	struct config		 cfg2;
	struct got		 ga;
	struct resolver_result	 now;
	struct resolver_stats	 st;
	struct resolver		*r2;

	start_on(fx->w.resolver, fx->loop, "a.test", false, &ga);
	run_until(fx->loop, 3);
	assert_int_equal(ga.status, RESOLVER_OK);
	assert_null(resolver_lookup(fx2.w.resolver, "a.test", false, got_cb,
	    &ga, &now));
	assert_int_equal(now.via, RESOLVER_VIA_CACHE);
	/* Another server set (c-ares 1.34 would merge a duplicate). */
	cfg_other_servers(fx, &cfg2);
	r2 = fx->w.resolver;
	assert_int_equal(resolver_reconfigure(&r2, &cfg2), 0);
	fx->w.resolver = r2;
	resolver_shared_stats(fx2.sh, &st);
	assert_int_equal(st.cache[DNSCACHE_POSITIVE], 0);
	/* B, on the old servers: no cache, it asks. */
	assert_non_null(start_on(fx2.w.resolver, fx2.loop, "a.test", false,
	    &ga));
	resolver_free(fx2.w.resolver);
	fx2.w.resolver = NULL;
}

/*
 * Reload in two phases: a resolver prepared for new servers and then
 * aborted leaves everything as it was (the shared cache keeps its
 * answers, the worker its resolver); prepared again and committed, it
 * takes over and only then is the cache cleared.
 */
static void
test_shared_prepare_abort_keeps_the_cache(void **state)
{
	struct fixture		*fx = *state;
	struct config		 cfg2;
	struct got		 ga;
	struct resolver_result	 now;
	struct resolver_stats	 st;
	struct resolver		*old, *next;

	start_on(fx->w.resolver, fx->loop, "a.test", false, &ga);
	run_until(fx->loop, 3);
	assert_int_equal(ga.status, RESOLVER_OK);
	cfg_other_servers(fx, &cfg2);
	old = fx->w.resolver;
	next = resolver_prepare(old, &cfg2);
	assert_non_null(next);
	resolver_abort(next);
	assert_ptr_equal(fx->w.resolver, old);
	resolver_shared_stats(fx2.sh, &st);
	assert_int_equal(st.cache[DNSCACHE_POSITIVE], 1);
	/* The other worker still reads the cache: the generation did not move. */
	assert_null(resolver_lookup(fx2.w.resolver, "a.test", false, got_cb,
	    &ga, &now));
	assert_int_equal(now.via, RESOLVER_VIA_CACHE);
	/* Prepared: nothing changes yet either. */
	next = resolver_prepare(old, &cfg2);
	assert_non_null(next);
	resolver_shared_stats(fx2.sh, &st);
	assert_int_equal(st.cache[DNSCACHE_POSITIVE], 1);
	resolver_commit(&fx->w.resolver, next);
	assert_ptr_equal(fx->w.resolver, next);
	resolver_shared_stats(fx2.sh, &st);
	assert_int_equal(st.cache[DNSCACHE_POSITIVE], 0);
}

/*
 * A reload that changes only -dns-timeout retires the channel but keeps
 * the servers: a lookup on the new resolver of a name the retired one is
 * asking waits for that query (same thread, woken the same way), and the
 * retired resolver goes once it is done.
 */
static void
test_retired_query_is_waited_for(void **state)
{
	struct fixture	*fx = *state;
	struct config	 cfg2;
	struct got	 g1, g2;
	struct resolver	*old;

	fx->fake.delay_s = 0.1;
	start(fx, "a.test", false, &g1);
	old = fx->w.resolver;
	cfg2 = fx->cfg;
	cfg2.dns_timeout = 2;
	assert_int_equal(resolver_reconfigure(&fx->w.resolver, &cfg2), 0);
	assert_ptr_not_equal(fx->w.resolver, old);
	start_on(fx->w.resolver, fx->loop, "a.test", false, &g2);
	g1.want = 1;
	run_until(fx->loop, 3);
	if (g2.calls == 0)
		run_until(fx->loop, 3);
	assert_int_equal(g1.calls, 1);
	assert_int_equal(g2.calls, 1);
	assert_int_equal(g2.status, RESOLVER_OK);
	assert_int_equal(g2.via, RESOLVER_VIA_MERGED);
	assert_int_equal(fx->fake.queries, 1);
	assert_null(fx->w.resolver->retired_list);	/* the old one went */
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_schedule_fits_budget),
		cmocka_unit_test(test_schedule_values),
		cmocka_unit_test(test_srv_order_priority_first),
		cmocka_unit_test(test_srv_order_weight_distribution),
		cmocka_unit_test(test_srv_order_zero_weights),
		cmocka_unit_test_setup_teardown(test_srv_targets_in_order_with_ports,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_srv_dot_target_is_nxdomain,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_srv_nxdomain_nodata_servfail,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_srv_cancelled_is_never_called_back,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_srv_cancel_and_free_during_targets,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_srv_free_while_pending,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_srv_survives_reconfigure,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_srv_name_too_long,
		    setup, teardown),
		cmocka_unit_test(test_parse_captured_answers),
		cmocka_unit_test_setup_teardown(test_aaaa_then_a, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aaaa_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nxdomain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nodata_is_nxdomain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_servfail_is_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_silent_server_times_out_within_budget,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_silent_after_fast_answers_is_asked_again,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancelled_lookup_is_never_called_back,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_with_pending_cancelled,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_cached_answer_is_immediate,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_ttl_zero_not_cached, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cache_expires, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nxdomain_cached_for_soa_ttl,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_servfail_cached_briefly,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_identical_lookups_merged,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_detached_query_fills_cache,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap_on_queries_in_flight,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_served_when_refresh_fails,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_served_when_refresh_is_slow,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_answer_from_inside_ares_query,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_does_not_call_back, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_retired_query_is_waited_for,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_one_query_for_two_workers,
		    setup2, teardown2),
		cmocka_unit_test_setup_teardown(
		    test_shared_uncached_and_failed_answers_handed_over, setup2,
		    teardown2),
		cmocka_unit_test_setup_teardown(test_shared_cancel_while_waiting,
		    setup2, teardown2),
		cmocka_unit_test_setup_teardown(
		    test_shared_owner_freed_while_others_wait, setup2, teardown2),
		cmocka_unit_test_setup_teardown(test_shared_bound_is_daemon_wide,
		    setup2, teardown2),
		cmocka_unit_test_setup_teardown(
		    test_shared_new_servers_clear_the_cache, setup2, teardown2),
		cmocka_unit_test_setup_teardown(
		    test_shared_prepare_abort_keeps_the_cache, setup2,
		    teardown2),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
