/*
 * dnscache: the resolver's cache of answers, one for all workers.  Pure:
 * no I/O, no clock of its own (every call takes "now", so tests drive a
 * fake clock) and no lock: the resolver calls it under its shared mutex
 * (struct resolver_shared), even dnscache_get, which reorders the LRU.
 *
 * An entry is keyed by (name, want_a) and is one of three kinds:
 * - positive: every address of the answer (AAAA first, then A), for the
 *   answer's smallest TTL; the allow-list is applied at use, so a cached
 *   answer routes exactly like a fresh one.  After it expires it may still
 *   be served "stale" (RFC 8767) for a window the caller gives, when a
 *   refresh fails.
 * - negative: NXDOMAIN or NODATA (RFC 2308), for dnscache_negative_ttl().
 * - error: SERVFAIL, REFUSED, timeout: a few seconds, so that a dead
 *   resolver is not asked again for every connection.  An error never
 *   replaces a positive entry: it only marks it "refresh failed" until
 *   retry_after, so its stale data is served meanwhile.
 *
 * The size is fixed at creation.  Replacement is LRU, with negative and
 * error entries on a list of their own that may hold at most a quarter of
 * the entries: a flood of random names recycles that list and cannot push
 * the hot positive names out.
 */
#ifndef SNID_DNSCACHE_H
#define SNID_DNSCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snid/util.h"

/* Addresses an answer may hold: RESOLVER_MAX_ADDRS AAAA, then as many A. */
#define DNSCACHE_MAX_ADDRS	32

#define DNSCACHE_MAX_TTL	3600	/* a positive answer is kept at most this long */
#define DNSCACHE_NEG_CAP	30	/* RFC 2308 negative TTL cap (s) */
#define DNSCACHE_NOSOA_TTL	5	/* negative answer without an SOA (s) */
#define DNSCACHE_ERROR_TTL	3	/* server failure or timeout (s) */

enum dnscache_kind {
	DNSCACHE_POSITIVE,
	DNSCACHE_NEGATIVE,
	DNSCACHE_ERROR,
	DNSCACHE_KINDS
};

enum dnscache_hit {
	DNSCACHE_MISS,		/* nothing usable */
	DNSCACHE_FRESH,		/* an entry of any kind within its TTL */
	DNSCACHE_STALE,		/* a positive entry past its TTL, within the stale window */
};

struct dnscache_entry {
	enum dnscache_kind	 kind;
	double			 expires;	/* end of the TTL */
	double			 retry_after;	/* a refresh failed: ask again after this */
	const char		*detail;	/* negative/error: why (a static string) */
	bool			 timeout;	/* error: no server answered in time */
	size_t			 n;
	union sockaddr_inet	*addrs;		/* positive: n addresses, port 0 */
	/* Private to dnscache.c. */
	char			*name;
	bool			 want_a;
	uint32_t		 hash;
	uint32_t		 hnext;		/* hash chain, index + 1 (0: end) */
	uint32_t		 prev, next;	/* LRU list of its kind class, index + 1 */
};

struct dnscache;

/* A cache of capacity entries (at least 4). */
struct dnscache	*dnscache_new(size_t capacity);
void		 dnscache_free(struct dnscache *c);

/* Forget every entry. */
void		 dnscache_clear(struct dnscache *c);

/*
 * The entry for (name, want_a) at time now, or NULL (*hit DNSCACHE_MISS).
 * A positive entry past its TTL is DNSCACHE_STALE while now < expires +
 * stale (stale 0: never).  A hit makes the entry the most recently used.
 * The entry is valid until the next call that changes the cache.
 */
const struct dnscache_entry	*dnscache_get(struct dnscache *c,
		    const char *name, bool want_a, double now, double stale,
		    enum dnscache_hit *hit);

/* Store a positive answer: addrs[0..n) (n > 0, at most DNSCACHE_MAX_ADDRS kept) for ttl s. */
void		 dnscache_put_positive(struct dnscache *c, const char *name,
		    bool want_a, const union sockaddr_inet *addrs, size_t n,
		    unsigned ttl, double now);

/*
 * Store a negative (DNSCACHE_NEGATIVE) or failed (DNSCACHE_ERROR) answer
 * for ttl s; detail must be a static string.  An error over a positive
 * entry sets its retry_after instead (see the top of this file).
 */
void		 dnscache_put_failure(struct dnscache *c, const char *name,
		    bool want_a, enum dnscache_kind kind, const char *detail,
		    bool timeout, unsigned ttl, double now);

/* Entries of a kind (metrics). */
size_t		 dnscache_count(const struct dnscache *c, enum dnscache_kind kind);

/*
 * RFC 2308 section 5: a negative answer is cached for the smaller of the
 * SOA record's TTL and its MINIMUM field, capped at cap; without an SOA in
 * the authority section, for DNSCACHE_NOSOA_TTL (at most cap).
 */
unsigned	 dnscache_negative_ttl(bool has_soa, uint32_t soa_ttl,
		    uint32_t soa_minimum, unsigned cap);

/*
 * Find the SOA record of a DNS message's authority section (msg[0..len)),
 * for dnscache_negative_ttl.  Returns true with *ttl and *minimum set, or
 * false when there is none or the message is malformed.  Pure.
 */
bool		 dnscache_find_soa(const uint8_t *msg, size_t len,
		    uint32_t *ttl, uint32_t *minimum);

#endif
