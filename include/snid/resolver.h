/*
 * resolver: asynchronous AAAA (and A) lookups, and SRV lookups followed by
 * their targets' AAAA (and A), with c-ares, driven by the worker's libev
 * loop: c-ares' sockets are watched with ev_io through
 * ARES_OPT_SOCK_STATE_CB and its retransmission schedule with one ev_timer
 * from ares_timeout().  One c-ares channel per worker, with in front of it,
 * shared by all the workers (struct resolver_shared):
 * - a cache (dnscache.h) of -dns-cache-size answers: positive ones with
 *   every address, negative ones (RFC 2308), failures for a few seconds,
 *   and expired positive ones served for -dns-stale seconds when a refresh
 *   fails or is slow (RFC 8767);
 * - one query per (name, type) in flight, whatever the number of lookups
 *   waiting for it and in whichever workers they are: a lookup in worker A
 *   of a name worker B is asking waits for B's answer (B hands it over and
 *   wakes A's loop), so the daemon asks one query per name per TTL;
 * - a bound on queries in flight and on queries started per second, so a
 *   client sending random names cannot turn snid into an amplifier.
 * A lookup's callback always runs in the thread of the worker it was
 * made in.  SRV queries are merged within a worker only (they are not
 * cached); their targets' address lookups like any other.
 * Builds with c-ares 1.18 to 1.34 (resolver_ares.c picks the API).
 */
#ifndef SNID_RESOLVER_H
#define SNID_RESOLVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snid/dnscache.h"
#include "snid/metrics.h"
#include "snid/util.h"

struct config;

struct worker;
struct resolver;
struct resolver_shared;
struct lookup;

/* Addresses kept per record type from one answer. */
#define RESOLVER_MAX_ADDRS	16

/*
 * Daemon-wide (per struct resolver_shared; per worker without one):
 * queries in flight at most (AAAA and A of a name count as one; a query
 * whose lookups all went still counts until it ends; a wait for another
 * worker's query does not count), and new queries per second at most (a
 * bucket of RESOLVER_MAX_QUERIES).
 */
#define RESOLVER_MAX_QUERIES	256
#define RESOLVER_QUERY_RATE	1000
#define RESOLVER_CACHE_SIZE	10000	/* -dns-cache-size default, daemon-wide */
#define RESOLVER_STALE		3600	/* -dns-stale default (s) */

enum resolver_status {
	RESOLVER_OK,		/* addrs[0..n) holds at least one address */
	RESOLVER_NXDOMAIN,	/* the name does not exist, or has no address of the wanted types */
	RESOLVER_ERROR,		/* SERVFAIL, REFUSED, timeout, malformed answer, ... */
};

/* Where an answer came from (metrics). */
enum resolver_via {
	RESOLVER_VIA_QUERY,	/* a query this lookup started */
	RESOLVER_VIA_MERGED,	/* a query another lookup had started */
	RESOLVER_VIA_CACHE,	/* a fresh positive cache entry */
	RESOLVER_VIA_NEGATIVE,	/* a cached NXDOMAIN/NODATA or failure */
	RESOLVER_VIA_STALE,	/* an expired entry: the refresh failed or is slow */
};

struct resolver_result {
	enum resolver_status		 status;
	enum resolver_via		 via;
	const char			*detail;	/* c-ares' reason, for debug logs */
	bool				 timeout;	/* ERROR: no server answered in time */
	size_t				 n;
	const union sockaddr_inet	*addrs;		/* AAAA answers first, then A; port 0 */
	bool				 srv;		/* SRV: each address has its SRV port */
};

/* Called once per lookup, unless it was cancelled; res is valid during the call only. */
typedef void resolver_cb(void *arg, const struct resolver_result *res);

/*
 * The daemon-wide part (the cache, the queries in flight, the bounds):
 * made once, before the workers, with cfg's -dns-cache-size; each
 * worker's resolver_new uses it through w->shared->dns.  Thread-safe (one
 * mutex, never held across a callback or a c-ares call).  The answers are
 * kept for the DNS servers of the last resolver made or reconfigured:
 * a reload with new servers clears the cache, and until a worker has
 * reloaded too its lookups neither read the cache nor wait on the others.
 * resolver_shared_free may come before or after the last resolver_free:
 * the object goes with the last of them.
 */
struct resolver_shared	*resolver_shared_new(const struct config *cfg);
void		 resolver_shared_free(struct resolver_shared *sh);

/*
 * Make w's resolver: servers from -dns-server (with ports) or
 * /etc/resolv.conf; c-ares' timeout and tries chosen so a whole lookup,
 * retries included, fits in -dns-timeout.  It uses w->shared->dns, or
 * with none a private cache and bounds of its own (one worker, or tests).
 * Returns NULL after logging why.
 */
struct resolver	*resolver_new(struct worker *w);

/*
 * Reload: apply cfg's DNS servers (or /etc/resolv.conf, read again) and
 * -dns-timeout to new lookups.  When they differ from *rp's, *rp is replaced
 * by a new resolver; the old one takes no new lookup but keeps serving the
 * ones in progress (their callbacks still come) and frees itself after the
 * last.  New servers start with an empty cache.  Returns 0 (*rp maybe
 * replaced), or -1 after logging, *rp unchanged.
 */
int		 resolver_reconfigure(struct resolver **rp,
		    const struct config *cfg);

/*
 * resolver_reconfigure in two steps, for a reload that every worker
 * takes or none does (workers.h).  resolver_prepare does what can fail:
 * it builds a resolver for cfg's DNS settings beside r and returns it
 * (NULL after logging, nothing changed); r, its lookups and the shared
 * cache are untouched, whatever it returns.  Then exactly one of:
 * resolver_commit installs next in *rp as resolver_reconfigure would
 * (or keeps *rp when nothing that matters changed); only then do new
 * servers clear the shared cache.  resolver_abort frees next (NULL: no-op).
 * All three in the worker's own thread; next belongs to *rp's worker.
 */
struct resolver	*resolver_prepare(struct resolver *r,
		    const struct config *cfg);
void		 resolver_commit(struct resolver **rp, struct resolver *next);
void		 resolver_abort(struct resolver *next);

/* Destroy the channel: pending lookups are cancelled (their callbacks are not called). */
void		 resolver_free(struct resolver *r);

/*
 * Look up name (absolute: no search domains): AAAA, and A too when want_a.
 * Returns the handle for resolver_cancel; cb is then called exactly once,
 * later (never from inside this call), unless resolver_cancel() comes
 * first.  Returns NULL when the answer is known at once: *now holds it and
 * cb is never called.  That is a cached, negative or stale answer, an
 * answer c-ares gave from inside its own call, or an immediate failure
 * (such as "too many DNS queries in flight"); now->addrs is valid until
 * the next call into the resolver.
 */
struct lookup	*resolver_lookup(struct resolver *r, const char *name,
		    bool want_a, resolver_cb *cb, void *arg,
		    struct resolver_result *now);

/*
 * SRV by ALPN (XMPP over TLS, XEP-0368): look up the SRV records of qname
 * (e.g. "_xmpps-client._tcp.chat.example"), order them as RFC 2782 says
 * (priority, then weight-random within a priority), then the AAAA (and A
 * when want_a) of at most RESOLVER_SRV_MAX_TARGETS targets, in parallel.
 * The result lists the targets' addresses in SRV order, each with its
 * target's port (res->srv is set).  No SRV record (NXDOMAIN, NODATA), or
 * only the target "." (service decidedly not available), is
 * RESOLVER_NXDOMAIN; targets without any address too.  SRV answers are not
 * cached (the targets' addresses are, like any lookup's).  Same contract as
 * resolver_lookup: cb once, later, unless resolver_cancel() comes first;
 * NULL with *now set for an immediate failure (never RESOLVER_OK).
 */
#define RESOLVER_SRV_MAX_RECORDS	32	/* SRV records considered from one answer */
#define RESOLVER_SRV_MAX_TARGETS	8	/* targets whose addresses are looked up */
#define RESOLVER_SRV_TARGET_ADDRS	4	/* addresses kept per target */

struct lookup	*resolver_lookup_srv(struct resolver *r, const char *qname,
		    bool want_a, resolver_cb *cb, void *arg,
		    struct resolver_result *now);

/* One SRV record, for resolver_srv_order. */
struct resolver_srv {
	uint16_t	 priority, weight, port;
	const char	*target;
};

/*
 * Order recs[0..n) as RFC 2782 says: ascending priority; within a
 * priority, repeatedly pick one of the records left with probability
 * proportional to its weight (zero weights first in the running sum, so
 * they are picked only when the draw is 0, or in the given order when all
 * weights are 0).  *rng is the state of a splitmix64 generator.  Pure;
 * exposed for tests.
 */
void		 resolver_srv_order(struct resolver_srv *recs, size_t n,
		    uint64_t *rng);

/*
 * Forget the caller: cb will never be called for this lookup and arg is
 * never touched again.  Other lookups waiting on the same query keep
 * waiting; the query runs on and its answer still fills the cache.
 */
void		 resolver_cancel(struct lookup *l);

/*
 * What the metrics show of a resolver (and its retired predecessors):
 * the queries it sent that are in flight (not its waits on other
 * workers' queries), so the sum over the workers is the daemon's; and the
 * cache's entries only when the cache is the resolver's own (no
 * resolver_shared): a daemon-wide cache is reported once, by
 * resolver_shared_stats, never once per worker.  resolver_stats walks r's
 * own lists: call it in r's worker thread only.  A scrape in another
 * thread (the main loop's -metrics with -workers) takes
 * resolver_shared_stats alone: under the mutex, the daemon's queries in
 * flight and its cache, so nothing is summed over the workers.
 */
struct resolver_stats {
	size_t	queries;			/* in flight */
	size_t	cache[DNSCACHE_KINDS];		/* entries by kind */
};

void		 resolver_stats(const struct resolver *r,
		    struct resolver_stats *st);

/* The daemon-wide view: every query in flight, the shared cache's entries. */
void		 resolver_shared_stats(struct resolver_shared *sh,
		    struct resolver_stats *st);

/* The snid_dns_lookups_total{result} of a lookup's answer. */
enum metrics_dns	resolver_metric(const struct resolver_result *res);

/*
 * c-ares 1.18's per-try timeout (ms) and number of tries (rounds over the
 * servers) such that nservers servers, with the per-try timeout doubled
 * after each round, fit in budget_ms.  Pure; exposed for tests.
 */
void		 resolver_schedule(unsigned budget_ms, unsigned nservers,
		    int *timeout_ms, int *tries);

#endif
