/*
 * Unit tests for metrics: the exact Prometheus text of a known snapshot
 * (HELP/TYPE lines, every outcome and DNS result present, cumulative
 * histogram buckets with _sum and _count), bucket boundaries, label
 * escaping, snprintf-like truncation, a line-by-line lint of the format,
 * and the answer to every kind of scrape request.
 */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "snid/metrics.h"
#include "snid/outcome.h"

#define BIG	16384

/* -workers 2: how the 3 accepted connections of the snapshot spread. */
static const uint64_t	known_per_worker[2] = { 2, 1 };

/* The snapshot of the exact-text test: three connections, one of each kind. */
static void
known_snapshot(struct metrics_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->version = "1.2.3";
	s->accepted = 3;
	s->active = 1;
	s->accept_errors = 4;
	s->outcomes[OUTCOME_OK] = 1;
	s->outcomes[OUTCOME_DENIED] = 1;
	s->outcomes[OUTCOME_NXDOMAIN] = 1;
	s->bytes[METRICS_UP] = 517;
	s->bytes[METRICS_DOWN] = 1000;
	s->dns[METRICS_DNS_OK] = 2;
	s->dns[METRICS_DNS_CACHED] = 1;
	s->dns[METRICS_DNS_NXDOMAIN] = 1;
	metrics_observe(&s->dns_seconds, 0.0005);
	metrics_observe(&s->dns_seconds, 0.001);	/* on a bound: in it */
	metrics_observe(&s->dns_seconds, 0.003);
	metrics_observe(&s->dns_seconds, 7);		/* beyond the last: +Inf */
	metrics_observe(&s->connect_seconds, 0.25);
	s->open_fds = 12;
	s->pipes_grown = 2;
	s->pipe_big_bytes = 196608;
	s->worker_accepted = known_per_worker;
	s->n_workers = 2;
}

static void
test_render_known_snapshot_exact_text(void **state)
{
	struct metrics_snapshot	s;
	char			*got = malloc(BIG), *want = malloc(BIG);
	size_t			 n, w = 0, i;

	(void)state;
	assert_non_null(got);
	assert_non_null(want);
	known_snapshot(&s);
	w += (size_t)snprintf(want + w, BIG - w,
	    "# HELP snid_build_info Always 1; the version label says which snid runs.\n"
	    "# TYPE snid_build_info gauge\n"
	    "snid_build_info{version=\"1.2.3\"} 1\n"
	    "# HELP snid_connections_accepted_total Client connections accepted.\n"
	    "# TYPE snid_connections_accepted_total counter\n"
	    "snid_connections_accepted_total 3\n"
	    "# HELP snid_connections_active Client connections open now.\n"
	    "# TYPE snid_connections_active gauge\n"
	    "snid_connections_active 1\n"
	    "# HELP snid_connections_total Client connections closed, by the outcome word of "
	    "their access-log line.\n"
	    "# TYPE snid_connections_total counter\n");
	/* Every outcome word of the access log, in the table's order, zeros included. */
	for (i = 0; i < OUTCOME_COUNT; i++)
		w += (size_t)snprintf(want + w, BIG - w,
		    "snid_connections_total{outcome=\"%s\"} %d\n",
		    outcome_word((enum outcome)i),
		    i == OUTCOME_OK || i == OUTCOME_DENIED || i == OUTCOME_NXDOMAIN);
	w += (size_t)snprintf(want + w, BIG - w,
	    "# HELP snid_accept_errors_total Failed accept calls (out of descriptors or memory, "
	    "...).\n"
	    "# TYPE snid_accept_errors_total counter\n"
	    "snid_accept_errors_total 4\n"
	    "# HELP snid_bytes_total Bytes written to backends (up) and to clients (down), open "
	    "connections included.\n"
	    "# TYPE snid_bytes_total counter\n"
	    "snid_bytes_total{direction=\"up\"} 517\n"
	    "snid_bytes_total{direction=\"down\"} 1000\n"
	    "# HELP snid_dns_lookups_total DNS lookups of client-sent names, by result.\n"
	    "# TYPE snid_dns_lookups_total counter\n"
	    "snid_dns_lookups_total{result=\"ok\"} 2\n"
	    "snid_dns_lookups_total{result=\"cached\"} 1\n"
	    "snid_dns_lookups_total{result=\"nxdomain\"} 1\n"
	    "snid_dns_lookups_total{result=\"error\"} 0\n"
	    "snid_dns_lookups_total{result=\"timeout\"} 0\n"
	    "snid_dns_lookups_total{result=\"merged\"} 0\n"
	    "snid_dns_lookups_total{result=\"negative\"} 0\n"
	    "snid_dns_lookups_total{result=\"stale\"} 0\n"
	    "# HELP snid_dns_lookup_seconds Duration of DNS lookups that waited "
	    "for a query (not cached).\n"
	    "# TYPE snid_dns_lookup_seconds histogram\n"
	    "snid_dns_lookup_seconds_bucket{le=\"0.001\"} 2\n"
	    "snid_dns_lookup_seconds_bucket{le=\"0.0025\"} 2\n"
	    "snid_dns_lookup_seconds_bucket{le=\"0.005\"} 3\n"
	    "snid_dns_lookup_seconds_bucket{le=\"0.01\"} 3\n"
	    "snid_dns_lookup_seconds_bucket{le=\"0.025\"} 3\n"
	    "snid_dns_lookup_seconds_bucket{le=\"0.05\"} 3\n"
	    "snid_dns_lookup_seconds_bucket{le=\"0.1\"} 3\n"
	    "snid_dns_lookup_seconds_bucket{le=\"0.25\"} 3\n"
	    "snid_dns_lookup_seconds_bucket{le=\"0.5\"} 3\n"
	    "snid_dns_lookup_seconds_bucket{le=\"1\"} 3\n"
	    "snid_dns_lookup_seconds_bucket{le=\"2.5\"} 3\n"
	    "snid_dns_lookup_seconds_bucket{le=\"5\"} 3\n"
	    "snid_dns_lookup_seconds_bucket{le=\"+Inf\"} 4\n"
	    "snid_dns_lookup_seconds_sum 7.0045\n"
	    "snid_dns_lookup_seconds_count 4\n"
	    "# HELP snid_dns_queries_in_flight DNS queries sent and not yet "
	    "answered (merged lookups count once).\n"
	    "# TYPE snid_dns_queries_in_flight gauge\n"
	    "snid_dns_queries_in_flight 0\n"
	    "# HELP snid_dns_cache_entries Entries of the DNS cache, by kind.\n"
	    "# TYPE snid_dns_cache_entries gauge\n"
	    "snid_dns_cache_entries{kind=\"positive\"} 0\n"
	    "snid_dns_cache_entries{kind=\"negative\"} 0\n"
	    "snid_dns_cache_entries{kind=\"error\"} 0\n"
	    "# HELP snid_connect_seconds Time from the first connect attempt to a connected "
	    "backend.\n"
	    "# TYPE snid_connect_seconds histogram\n"
	    "snid_connect_seconds_bucket{le=\"0.001\"} 0\n"
	    "snid_connect_seconds_bucket{le=\"0.0025\"} 0\n"
	    "snid_connect_seconds_bucket{le=\"0.005\"} 0\n"
	    "snid_connect_seconds_bucket{le=\"0.01\"} 0\n"
	    "snid_connect_seconds_bucket{le=\"0.025\"} 0\n"
	    "snid_connect_seconds_bucket{le=\"0.05\"} 0\n"
	    "snid_connect_seconds_bucket{le=\"0.1\"} 0\n"
	    "snid_connect_seconds_bucket{le=\"0.25\"} 1\n"
	    "snid_connect_seconds_bucket{le=\"0.5\"} 1\n"
	    "snid_connect_seconds_bucket{le=\"1\"} 1\n"
	    "snid_connect_seconds_bucket{le=\"2.5\"} 1\n"
	    "snid_connect_seconds_bucket{le=\"5\"} 1\n"
	    "snid_connect_seconds_bucket{le=\"+Inf\"} 1\n"
	    "snid_connect_seconds_sum 0.25\n"
	    "snid_connect_seconds_count 1\n"
	    "# HELP snid_pipes_grown_total Pipes grown (F_SETPIPE_SZ, one step) "
	    "for bulk transfers.\n"
	    "# TYPE snid_pipes_grown_total counter\n"
	    "snid_pipes_grown_total 2\n"
	    "# HELP snid_pipe_big_bytes Capacity of grown pipes beyond the default "
	    "64 KiB, now.\n"
	    "# TYPE snid_pipe_big_bytes gauge\n"
	    "snid_pipe_big_bytes 196608\n"
	    "# HELP snid_worker_connections_accepted_total Client connections accepted, by "
	    "worker (-workers): how the kernel spreads them.\n"
	    "# TYPE snid_worker_connections_accepted_total counter\n"
	    "snid_worker_connections_accepted_total{worker=\"0\"} 2\n"
	    "snid_worker_connections_accepted_total{worker=\"1\"} 1\n"
	    "# HELP snid_open_fds Open file descriptors of the process.\n"
	    "# TYPE snid_open_fds gauge\n"
	    "snid_open_fds 12\n");
	assert_true(w < BIG);
	n = metrics_render(&s, got, BIG);
	assert_string_equal(got, want);
	assert_int_equal(n, w);
	free(got);
	free(want);
}

/* Every bound is in its own bucket; just above it is in the next; odd values count as 0. */
static void
test_observe_bucket_boundaries(void **state)
{
	static const double	bounds[METRICS_NBOUNDS] = { METRICS_BOUNDS };
	struct metrics_hist	h;
	size_t			i;

	(void)state;
	for (i = 0; i < METRICS_NBOUNDS; i++) {
		memset(&h, 0, sizeof(h));
		metrics_observe(&h, bounds[i]);
		assert_int_equal(h.bucket[i], 1);
		metrics_observe(&h, bounds[i] * 1.0001);
		assert_int_equal(h.bucket[i + 1], 1);
		assert_int_equal(h.count, 2);
	}
	memset(&h, 0, sizeof(h));
	metrics_observe(&h, -1);
	metrics_observe(&h, NAN);
	metrics_observe(&h, 0);
	assert_int_equal(h.bucket[0], 3);
	assert_int_equal(h.count, 3);
	assert_true(h.sum == 0);
	metrics_observe(&h, INFINITY);
	assert_int_equal(h.bucket[METRICS_NBOUNDS], 1);
}

static void
test_label_values_escaped(void **state)
{
	struct metrics_snapshot	s;
	char			buf[BIG];

	(void)state;
	memset(&s, 0, sizeof(s));
	s.version = "a\"b\\c\nd";
	s.open_fds = -1;
	(void)metrics_render(&s, buf, sizeof(buf));
	assert_non_null(strstr(buf,
	    "\nsnid_build_info{version=\"a\\\"b\\\\c\\nd\"} 1\n"));
}

static void
test_open_fds_left_out_when_unknown(void **state)
{
	struct metrics_snapshot	s;
	char			buf[BIG];

	(void)state;
	known_snapshot(&s);
	s.open_fds = -1;
	(void)metrics_render(&s, buf, sizeof(buf));
	assert_null(strstr(buf, "snid_open_fds"));
	s.open_fds = 0;
	(void)metrics_render(&s, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\nsnid_open_fds 0\n"));
}

/* A small buffer gets a NUL-terminated prefix and the full length, like snprintf. */
static void
test_render_truncates_like_snprintf(void **state)
{
	struct metrics_snapshot	s;
	char			full[BIG], small[BIG];
	size_t			n, len;

	(void)state;
	known_snapshot(&s);
	n = metrics_render(&s, full, sizeof(full));
	assert_int_equal(strlen(full), n);
	for (len = 1; len < n + 2; len += len < 200 ? 1 : 97) {
		memset(small, 'X', sizeof(small));
		assert_int_equal(metrics_render(&s, small, len), n);
		assert_int_equal(strlen(small), len - 1 < n ? len - 1 : n);
		assert_memory_equal(small, full, strlen(small));
		assert_int_equal(small[len], 'X');	/* nothing past len */
	}
	assert_int_equal(metrics_render(&s, NULL, 0), n);
}

/*
 * A lint of the exposition format: every sample's family has a HELP and a
 * TYPE line before it, histogram samples are _bucket/_sum/_count, every
 * value parses as a number, buckets are cumulative and end in +Inf equal
 * to _count.
 */
static void
test_render_is_valid_exposition_format(void **state)
{
	struct metrics_snapshot	 s;
	char			 buf[BIG], fam[128] = "", type[32] = "";
	char			*line, *save = NULL, *end;
	bool			 help = false;
	unsigned long long	 prev = 0, v;

	(void)state;
	known_snapshot(&s);
	(void)metrics_render(&s, buf, sizeof(buf));
	assert_int_equal(buf[strlen(buf) - 1], '\n');
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		size_t	nl = strcspn(line, "{ ");

		if (strncmp(line, "# HELP ", 7) == 0) {
			assert_true(sscanf(line + 7, "%127s", fam) == 1);
			help = true;
			type[0] = '\0';
			prev = 0;
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			char	f[128];

			assert_true(help);
			assert_true(sscanf(line + 7, "%127s %31s", f, type) == 2);
			assert_string_equal(f, fam);
			assert_true(strcmp(type, "counter") == 0 ||
			    strcmp(type, "gauge") == 0 ||
			    strcmp(type, "histogram") == 0);
			continue;
		}
		assert_true(line[0] != '#');
		assert_true(type[0] != '\0');
		assert_true(strncmp(line, fam, strlen(fam)) == 0);
		if (strcmp(type, "histogram") == 0) {
			const char *suf = line + strlen(fam);

			assert_true(strncmp(suf, "_bucket{le=\"", 12) == 0 ||
			    strncmp(suf, "_sum ", 5) == 0 ||
			    strncmp(suf, "_count ", 7) == 0);
			if (strncmp(suf, "_bucket", 7) == 0) {
				v = strtoull(strrchr(line, ' ') + 1, NULL, 10);
				assert_true(v >= prev);
				prev = v;
			}
			if (strncmp(suf, "_count ", 7) == 0) {
				assert_int_equal(strtoull(suf + 7, NULL, 10), prev);
			}
		} else
			assert_int_equal(nl, strlen(fam));
		(void)strtod(strrchr(line, ' ') + 1, &end);
		assert_int_equal(*end, '\0');
	}
}

struct http_case {
	const char	*req;
	int		 want;		/* 0: NEED_MORE */
};

static void
test_http_requests_answered(void **state)
{
	static const struct http_case	cases[] = {
		{ "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n", 200 },
		{ "GET /metrics HTTP/1.0\r\n\r\n", 200 },
		{ "GET /metrics?name[]=x HTTP/1.1\r\n\r\n", 200 },
		{ "GET /metrics HTTP/1.1\n\n", 200 },
		{ "GET / HTTP/1.1\r\n\r\n", 404 },
		{ "GET /metricsx HTTP/1.1\r\n\r\n", 404 },
		{ "GET /metric HTTP/1.1\r\n\r\n", 404 },
		{ "GET //metrics HTTP/1.1\r\n\r\n", 404 },
		{ "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405 },
		{ "HEAD /metrics HTTP/1.1\r\n\r\n", 405 },
		{ "GETS /metrics HTTP/1.1\r\n\r\n", 405 },
		{ "GET /metrics\r\n\r\n", 400 },
		{ "GET /metrics FTP/1.0\r\n\r\n", 400 },
		{ " /metrics HTTP/1.1\r\n\r\n", 400 },
		{ "GET  HTTP/1.1\r\n\r\n", 400 },
		{ "\x16\x03\x01\x01\x05hello\n\n", 400 },
		{ "GET /metrics HTTP/1.1\r\n", 0 },
		{ "GET /metrics HTTP/1.1\r\nHost: x\r\n\r", 0 },
		{ "", 0 },
		{ "GET", 0 },
	};
	size_t	i;
	int	status;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum metrics_http r;

		status = -1;
		r = metrics_http_parse(cases[i].req, strlen(cases[i].req),
		    &status);
		if (cases[i].want == 0) {
			if (r != METRICS_HTTP_NEED_MORE)
				fail_msg("%zu: %s: want NEED_MORE", i, cases[i].req);
		} else if (r != METRICS_HTTP_DONE || status != cases[i].want)
			fail_msg("%zu: %s: want %d, got r=%d status=%d", i,
			    cases[i].req, cases[i].want, r, status);
	}
}

/* A head that never ends is refused once it fills the bound, not read forever. */
static void
test_http_head_bounded(void **state)
{
	char	buf[METRICS_HTTP_HEAD_MAX];
	int	status = 0;

	(void)state;
	memset(buf, 'a', sizeof(buf));
	memcpy(buf, "GET /metrics HTTP/1.1\r\n", 23);
	assert_int_equal(metrics_http_parse(buf, sizeof(buf) - 1, &status),
	    METRICS_HTTP_NEED_MORE);
	assert_int_equal(metrics_http_parse(buf, sizeof(buf), &status),
	    METRICS_HTTP_DONE);
	assert_int_equal(status, 400);
}

static void
test_dns_words(void **state)
{
	(void)state;
	assert_string_equal(metrics_dns_word(METRICS_DNS_OK), "ok");
	assert_string_equal(metrics_dns_word(METRICS_DNS_CACHED), "cached");
	assert_string_equal(metrics_dns_word(METRICS_DNS_NXDOMAIN), "nxdomain");
	assert_string_equal(metrics_dns_word(METRICS_DNS_ERROR), "error");
	assert_string_equal(metrics_dns_word(METRICS_DNS_TIMEOUT), "timeout");
	assert_string_equal(metrics_dns_word(METRICS_DNS_COUNT), "unknown");
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_render_known_snapshot_exact_text),
		cmocka_unit_test(test_observe_bucket_boundaries),
		cmocka_unit_test(test_label_values_escaped),
		cmocka_unit_test(test_open_fds_left_out_when_unknown),
		cmocka_unit_test(test_render_truncates_like_snprintf),
		cmocka_unit_test(test_render_is_valid_exposition_format),
		cmocka_unit_test(test_http_requests_answered),
		cmocka_unit_test(test_http_head_bounded),
		cmocka_unit_test(test_dns_words),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
