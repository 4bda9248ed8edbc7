/*
 * metrics: histogram observations, the Prometheus text rendering of a
 * snapshot and the parsing of a scrape request (see metrics.h).  Pure.
 */
#include "snid/metrics.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const double metrics_bounds[METRICS_NBOUNDS] = { METRICS_BOUNDS };

static const char *const metrics_dns_words[METRICS_DNS_COUNT] = {
	[METRICS_DNS_OK]	= "ok",
	[METRICS_DNS_CACHED]	= "cached",
	[METRICS_DNS_NXDOMAIN]	= "nxdomain",
	[METRICS_DNS_ERROR]	= "error",
	[METRICS_DNS_TIMEOUT]	= "timeout",
	[METRICS_DNS_MERGED]	= "merged",
	[METRICS_DNS_NEGATIVE]	= "negative",
	[METRICS_DNS_STALE]	= "stale",
};

void
metrics_observe(struct metrics_hist *h, double secs)
{
	size_t	i;

	if (!(secs > 0))	/* also NaN */
		secs = 0;
	/* Prometheus' le is "less than or equal": a value on a bound belongs to it. */
	for (i = 0; i < METRICS_NBOUNDS && secs > metrics_bounds[i]; i++)
		;
	h->bucket[i]++;
	h->count++;
	h->sum += secs;
}

const char *
metrics_dns_word(enum metrics_dns r)
{
	if ((unsigned)r >= METRICS_DNS_COUNT)
		return "unknown";
	return metrics_dns_words[r];
}

/* A bounded text sink that still counts what did not fit (snprintf style). */
struct metrics_out {
	char	*buf;
	size_t	 len;
	size_t	 pos;	/* the length of the whole text so far */
};

__attribute__((format(printf, 2, 3)))
static void
metrics_printf(struct metrics_out *o, const char *fmt, ...)
{
	va_list	ap;
	int	n;
	size_t	room = o->pos < o->len ? o->len - o->pos : 0;

	va_start(ap, fmt);
	n = vsnprintf(room > 0 ? o->buf + o->pos : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->pos += (size_t)n;
}

static void
metrics_putc(struct metrics_out *o, char c)
{
	if (o->pos + 1 < o->len) {
		o->buf[o->pos] = c;
		o->buf[o->pos + 1] = '\0';
	}
	o->pos++;
}

/* A label value: backslash, double quote and newline escaped, as the format requires. */
static void
metrics_label(struct metrics_out *o, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"') {
			metrics_putc(o, '\\');
			metrics_putc(o, *v);
		} else if (*v == '\n') {
			metrics_putc(o, '\\');
			metrics_putc(o, 'n');
		} else
			metrics_putc(o, *v);
	}
}

static void
metrics_head(struct metrics_out *o, const char *name, const char *type,
    const char *help)
{
	metrics_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
	    type);
}

/* One sample with one label. */
static void
metrics_labelled(struct metrics_out *o, const char *name, const char *label,
    const char *value, uint64_t v)
{
	metrics_printf(o, "%s{%s=\"", name, label);
	metrics_label(o, value);
	metrics_printf(o, "\"} %llu\n", (unsigned long long)v);
}

static void
metrics_counter(struct metrics_out *o, const char *name, const char *type,
    const char *help, uint64_t v)
{
	metrics_head(o, name, type, help);
	metrics_printf(o, "%s %llu\n", name, (unsigned long long)v);
}

static void
metrics_histogram(struct metrics_out *o, const char *name, const char *help,
    const struct metrics_hist *h)
{
	uint64_t	cum = 0;
	size_t		i;

	metrics_head(o, name, "histogram", help);
	for (i = 0; i < METRICS_NBOUNDS; i++) {
		cum += h->bucket[i];
		metrics_printf(o, "%s_bucket{le=\"%g\"} %llu\n", name,
		    metrics_bounds[i], (unsigned long long)cum);
	}
	cum += h->bucket[METRICS_NBOUNDS];
	metrics_printf(o, "%s_bucket{le=\"+Inf\"} %llu\n", name,
	    (unsigned long long)cum);
	metrics_printf(o, "%s_sum %.9g\n", name, h->sum);
	metrics_printf(o, "%s_count %llu\n", name, (unsigned long long)h->count);
}

size_t
metrics_render(const struct metrics_snapshot *s, char *buf, size_t len)
{
	struct metrics_out	o = { buf, len, 0 };
	size_t			i;

	if (len > 0)
		buf[0] = '\0';
	metrics_head(&o, "snid_build_info", "gauge",
	    "Always 1; the version label says which snid runs.");
	metrics_labelled(&o, "snid_build_info", "version",
	    s->version != NULL ? s->version : "", 1);
	metrics_counter(&o, "snid_connections_accepted_total", "counter",
	    "Client connections accepted.", s->accepted);
	metrics_counter(&o, "snid_connections_active", "gauge",
	    "Client connections open now.", s->active);
	metrics_head(&o, "snid_connections_total", "counter",
	    "Client connections closed, by the outcome word of their "
	    "access-log line.");
	for (i = 0; i < OUTCOME_COUNT; i++)
		metrics_labelled(&o, "snid_connections_total", "outcome",
		    outcome_word((enum outcome)i), s->outcomes[i]);
	metrics_counter(&o, "snid_accept_errors_total", "counter",
	    "Failed accept calls (out of descriptors or memory, ...).",
	    s->accept_errors);
	metrics_head(&o, "snid_bytes_total", "counter",
	    "Bytes written to backends (up) and to clients (down), "
	    "open connections included.");
	metrics_labelled(&o, "snid_bytes_total", "direction", "up",
	    s->bytes[METRICS_UP]);
	metrics_labelled(&o, "snid_bytes_total", "direction", "down",
	    s->bytes[METRICS_DOWN]);
	metrics_head(&o, "snid_dns_lookups_total", "counter",
	    "DNS lookups of client-sent names, by result.");
	for (i = 0; i < METRICS_DNS_COUNT; i++)
		metrics_labelled(&o, "snid_dns_lookups_total", "result",
		    metrics_dns_word((enum metrics_dns)i), s->dns[i]);
	metrics_histogram(&o, "snid_dns_lookup_seconds",
	    "Duration of DNS lookups that waited for a query (not cached).",
	    &s->dns_seconds);
	metrics_counter(&o, "snid_dns_queries_in_flight", "gauge",
	    "DNS queries sent and not yet answered (merged lookups count once).",
	    s->dns_queries);
	metrics_head(&o, "snid_dns_cache_entries", "gauge",
	    "Entries of the DNS cache, by kind.");
	metrics_labelled(&o, "snid_dns_cache_entries", "kind", "positive",
	    s->dns_cache[0]);
	metrics_labelled(&o, "snid_dns_cache_entries", "kind", "negative",
	    s->dns_cache[1]);
	metrics_labelled(&o, "snid_dns_cache_entries", "kind", "error",
	    s->dns_cache[2]);
	metrics_histogram(&o, "snid_connect_seconds",
	    "Time from the first connect attempt to a connected backend.",
	    &s->connect_seconds);
	metrics_counter(&o, "snid_pipes_grown_total", "counter",
	    "Pipes grown (F_SETPIPE_SZ, one step) for bulk transfers.",
	    s->pipes_grown);
	metrics_counter(&o, "snid_pipe_big_bytes", "gauge",
	    "Capacity of grown pipes beyond the default 64 KiB, now.",
	    s->pipe_big_bytes);
	if (s->n_workers > 0)
		metrics_head(&o, "snid_worker_connections_accepted_total",
		    "counter", "Client connections accepted, by worker "
		    "(-workers): how the kernel spreads them.");
	for (i = 0; i < s->n_workers; i++) {
		char	id[24];

		snprintf(id, sizeof(id), "%zu", i);
		metrics_labelled(&o, "snid_worker_connections_accepted_total",
		    "worker", id, s->worker_accepted[i]);
	}
	if (s->open_fds >= 0)
		metrics_counter(&o, "snid_open_fds", "gauge",
		    "Open file descriptors of the process.",
		    (uint64_t)s->open_fds);
	return o.pos;
}

/* Whether buf[0..len) holds a whole request head: up to CRLF CRLF (or a bare LF LF). */
static bool
metrics_http_head_complete(const char *buf, size_t len)
{
	return memmem(buf, len, "\r\n\r\n", 4) != NULL ||
	    memmem(buf, len, "\n\n", 2) != NULL;
}

enum metrics_http
metrics_http_parse(const char *buf, size_t len, int *status)
{
	const char	*sp1, *sp2, *eol, *path;
	size_t		 mlen, plen;

	if (!metrics_http_head_complete(buf, len)) {
		if (len >= METRICS_HTTP_HEAD_MAX) {
			*status = 400;
			return METRICS_HTTP_DONE;
		}
		return METRICS_HTTP_NEED_MORE;
	}
	/* "METHOD SP TARGET SP HTTP/x.y" on the first line. */
	*status = 400;
	eol = memchr(buf, '\n', len);
	sp1 = memchr(buf, ' ', (size_t)(eol - buf));
	if (sp1 == NULL || sp1 == buf)
		return METRICS_HTTP_DONE;
	path = sp1 + 1;
	sp2 = memchr(path, ' ', (size_t)(eol - path));
	if (sp2 == NULL || sp2 == path ||
	    (size_t)(eol - sp2) < sizeof(" HTTP/") - 1 ||
	    memcmp(sp2, " HTTP/", sizeof(" HTTP/") - 1) != 0)
		return METRICS_HTTP_DONE;
	mlen = (size_t)(sp1 - buf);
	if (mlen != 3 || memcmp(buf, "GET", 3) != 0) {
		*status = 405;
		return METRICS_HTTP_DONE;
	}
	plen = (size_t)(sp2 - path);
	if (memchr(path, '?', plen) != NULL)
		plen = (size_t)((const char *)memchr(path, '?', plen) - path);
	*status = plen == sizeof("/metrics") - 1 &&
	    memcmp(path, "/metrics", plen) == 0 ? 200 : 404;
	return METRICS_HTTP_DONE;
}
