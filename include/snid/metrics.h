/*
 * metrics: the counters and histograms a worker keeps for -metrics, and
 * their rendering in the Prometheus text exposition format (version 0.0.4).
 *
 * Counting is on the hot path, so it is plain integer increments into a
 * struct the worker owns (no atomics: each worker's thread copies its own
 * counters when main asks, see workers_stats, and main sums the copies).
 * Rendering is pure: it takes a snapshot filled by metricsd at scrape time
 * and writes text into a caller's buffer, so that tests check it byte for
 * byte.  The small HTTP parsing of a scrape request is pure too.
 */
#ifndef SNID_METRICS_H
#define SNID_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "snid/outcome.h"

/* Upper bounds (seconds) of the histogram buckets; a last +Inf bucket follows. */
#define METRICS_BOUNDS	\
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5
#define METRICS_NBOUNDS	12
#define METRICS_BUCKETS	(METRICS_NBOUNDS + 1)	/* + the +Inf bucket */

/*
 * One histogram.  bucket[i] counts the observations that fell into bucket
 * i alone (not cumulative: an observation costs one increment); rendering
 * makes the cumulative le="..." series.
 */
struct metrics_hist {
	uint64_t	bucket[METRICS_BUCKETS];
	uint64_t	count;
	double		sum;
};

/* snid_bytes_total{direction} */
enum metrics_dir {
	METRICS_UP,		/* client to backend */
	METRICS_DOWN,		/* backend to client */
	METRICS_DIR_COUNT
};

/* snid_dns_lookups_total{result}: how each connection's lookup ended. */
enum metrics_dns {
	METRICS_DNS_OK,		/* a server answered with at least one address */
	METRICS_DNS_CACHED,	/* answered from the resolver's cache, no query sent */
	METRICS_DNS_NXDOMAIN,	/* no such name, or no address of the wanted types */
	METRICS_DNS_ERROR,	/* SERVFAIL, REFUSED, malformed answer, ... */
	METRICS_DNS_TIMEOUT,	/* no server answered in time, or -dns-timeout hit */
	METRICS_DNS_MERGED,	/* answered by a query another connection started */
	METRICS_DNS_NEGATIVE,	/* a cached NXDOMAIN/NODATA or failure, no query sent */
	METRICS_DNS_STALE,	/* an expired answer, served as the refresh failed */
	METRICS_DNS_COUNT
};

/* What a worker counts beyond struct worker_counters. */
struct metrics {
	/* Bytes of closed connections; open ones are added at scrape time. */
	uint64_t		bytes[METRICS_DIR_COUNT];
	uint64_t		dns[METRICS_DNS_COUNT];
	struct metrics_hist	dns_seconds;	/* lookups that sent a query */
	struct metrics_hist	connect_seconds;	/* successful backend connects */
};

/* Record one observation of secs (negative or NaN counts as 0). */
void	metrics_observe(struct metrics_hist *h, double secs);

/* The label word of a DNS result: "ok", "cached", ... */
const char	*metrics_dns_word(enum metrics_dns r);

/* Everything one scrape shows, gathered by metricsd. */
struct metrics_snapshot {
	const char		*version;	/* snid_build_info{version} */
	uint64_t		 accepted;
	uint64_t		 active;
	uint64_t		 accept_errors;
	uint64_t		 outcomes[OUTCOME_COUNT];
	uint64_t		 bytes[METRICS_DIR_COUNT];	/* closed + open connections */
	uint64_t		 dns[METRICS_DNS_COUNT];
	struct metrics_hist	 dns_seconds;
	struct metrics_hist	 connect_seconds;
	long			 open_fds;	/* -1: unknown, the metric is left out */
	uint64_t		 dns_queries;	/* DNS queries in flight */
	uint64_t		 dns_cache[3];	/* cache entries: positive, negative, error */
	uint64_t		 pipes_grown;	/* pipes grown for bulk transfers, ever */
	uint64_t		 pipe_big_bytes;	/* grown pipes' capacity beyond 64 KiB */
	const uint64_t		*worker_accepted;	/* per worker, n_workers of them */
	size_t			 n_workers;
};

/*
 * Render s in the Prometheus text format into buf (len bytes, NUL
 * terminated when len > 0).  Returns the length of the whole text, like
 * snprintf: when it is >= len the text was cut and a buffer of at least
 * the returned length + 1 is needed.
 */
size_t	metrics_render(const struct metrics_snapshot *s, char *buf, size_t len);

/* Bounds of a scrape request. */
#define METRICS_HTTP_HEAD_MAX	2048

enum metrics_http {
	METRICS_HTTP_NEED_MORE,	/* the head is not complete yet */
	METRICS_HTTP_DONE,	/* *status holds the answer: 200, 400, 404 or 405 */
};

/*
 * Look at the first len bytes of a request: once its head (up to an empty
 * line) is complete, decide the answer: 200 for GET /metrics (a query
 * string is ignored), 404 for GET of any other path, 405 for any other
 * method, 400 for what is not an HTTP request line or a head longer than
 * METRICS_HTTP_HEAD_MAX.  Pure.
 */
enum metrics_http	metrics_http_parse(const char *buf, size_t len, int *status);

#endif
