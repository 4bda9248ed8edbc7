/*
 * resolver_int.h: what the resolver's own files (resolver.c, resolver_srv.c,
 * resolver_ares.c) share.  Not for other modules: they use resolver.h.
 */
#ifndef SNID_RESOLVER_INT_H
#define SNID_RESOLVER_INT_H

#include <ares.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "snid/dnscache.h"
#include "snid/hostname.h"
#include "snid/resolver.h"

#include <ev.h>

struct config;

#define RQ_AAAA	28
#define RQ_A	1
#define RQ_SRV	33

/* One SRV record as it came (the target not yet checked). */
struct rq_srv {
	uint16_t	 priority, weight, port;
	char		 host[256];
};

/*
 * One answer to one c-ares query, parsed the same way whatever c-ares'
 * version (resolver_ares.c hides which API parsed it).
 */
struct rq_answer {
	int			 type;		/* RQ_AAAA, RQ_A or RQ_SRV: the question */
	int			 status;	/* ARES_*; SUCCESS only with n or nsrv > 0 */
	unsigned		 ttl;		/* SUCCESS: the smallest TTL of the records */
	bool			 has_soa;	/* ENODATA/ENOTFOUND: an SOA in authority */
	uint32_t		 soa_ttl, soa_min;
	size_t			 n;
	union sockaddr_inet	addrs[RESOLVER_MAX_ADDRS];
	size_t			 nsrv;
	struct rq_srv		*srv;		/* RESOLVER_SRV_MAX_RECORDS, SRV queries only */
};

typedef void rq_cb(void *arg, const struct rq_answer *a);

/*
 * Ask channel for (name, type); cb is called exactly once, maybe from
 * inside this call (c-ares may answer at once: a failure, or from its own
 * cache on 1.31+ if it were on).  budget_ms is -dns-timeout: with c-ares
 * 1.34 a query c-ares gave up on is asked again while it lasts.
 */
void		 resolver_ares_query(ares_channel channel, const char *name,
		    int type, unsigned budget_ms, rq_cb *cb, void *arg);

/*
 * What resolver_ares_query's callback makes of a response abuf[0..alen)
 * to a type question that c-ares reported with status (ARES_*): the same
 * parser for the c-ares in use, for the fuzzer (fuzz/fuzz_dnsanswer.c).
 * a->srv must point at RESOLVER_SRV_MAX_RECORDS records; the rest of *a
 * is overwritten.  With c-ares 1.28+ a message that does not parse is
 * ARES_EBADRESP (c-ares would have dropped it).
 */
void		 resolver_ares_parse(int type, int status,
		    const unsigned char *abuf, size_t alen, struct rq_answer *a);

/* -dns-server's list (with ports) to the channel; 0, or -1 after logging. */
int		 resolver_ares_set_servers(ares_channel channel,
		    const struct config *cfg);

/* The channel's servers as a comparable string (malloc'd), or NULL. */
char		*resolver_ares_servers(ares_channel channel);

/* How many servers a default (resolv.conf) channel would use. */
unsigned	 resolver_ares_count_default_servers(void);

/*
 * c-ares' per-try timeout and tries (o->timeout, o->tries, and what else
 * the release needs, added to *optmask) for lookups of budget_ms over
 * nservers servers: resolver_schedule on 1.18, one try per server on 1.34.
 */
void		 resolver_ares_schedule(unsigned budget_ms, unsigned nservers,
		    struct ares_options *o, int *optmask);

/* The c-ares options snid sets beyond its own: hardening, no query cache. */
void		 resolver_ares_harden(struct ares_options *o, int *optmask);

/* The merged lookups and queries, shared with resolver_srv.c. */
/* One watched c-ares socket. */
struct resolver_sock {
	ev_io			 io;
	struct resolver		*r;
	struct resolver_sock	*next;
};

struct resolver {
	struct worker		*w;
	struct resolver_shared	*sh;		/* the cache, the registry, the bounds */
	uint64_t		 gen;		/* sh's server set this channel asks */
	ares_channel		 channel;
	ev_timer		 timer;
	ev_async		 async;		/* another worker's query ended (sh->mu) */
	struct resolver_sock	*socks;
	bool			 destroying;
	double			 stale;		/* -dns-stale */
	double			 stale_wait;	/* RFC 8767 client response timer */
	size_t			 cache_size;	/* -dns-cache-size */
	int			 timeout_ms, tries;	/* c-ares' schedule, to tell a change */
	unsigned		 budget_ms;	/* -dns-timeout */
	struct query		*queries;	/* in flight, ours and remote waits */
	size_t			 nqueries;	/* all of them */
	size_t			 nremote;	/* of which remote waits */
	struct query		*done;		/* remote waits told, for async (sh->mu) */
	/*
	 * Reload: a resolver replaced by resolver_commit() is "retired":
	 * it takes no new lookup but lives on until the last of its queries
	 * is done, so a conn in RESOLVE keeps its lookup.  The current
	 * resolver heads the list of retired ones (prev/next link them).
	 */
	bool			 retired;
	struct resolver		*retired_list;	/* current resolver: the retired ones */
	struct resolver		*prev, *next;	/* retired resolver: its neighbours */
	uint64_t		 rng;		/* SRV weights: splitmix64 state, seeded once */
	union sockaddr_inet	 now_addrs[DNSCACHE_MAX_ADDRS];	/* *now's addresses */
};

#define RS_BUCKETS	256	/* registry hash buckets (queries in flight) */

/*
 * What the workers' resolvers share (resolver_shared.c): the cache, the
 * registry of address queries in flight daemon-wide, and the bounds on
 * queries.  Everything here is under mu, and so are the fields of
 * struct query and struct resolver marked (sh->mu).  mu is never held
 * while calling c-ares or a lookup's callback.
 */
struct resolver_shared {
	pthread_mutex_t		 mu;
	int			 refs;		/* resolvers, + 1 for resolver_shared_new's caller */
	bool			 private_;	/* made by resolver_new for one worker */
	struct dnscache		*cache;		/* NULL until the first resolver joins */
	size_t			 cache_size;
	uint64_t		 gen;		/* bumped when the DNS servers change */
	char			*servers;	/* gen's servers (resolver_ares_servers) */
	size_t			 nqueries;	/* sent and not yet ended, all resolvers */
	double			 tokens, tokens_at;	/* query rate bucket */
	struct query		*flights[RS_BUCKETS];	/* address queries by name */
};

/*
 * One question in flight: AAAA (and A) of a name, or its SRV.  c-ares
 * 1.18 cannot cancel a single query, so the query, not a conn, is what
 * c-ares' callbacks point at; it lives until the last of its c-ares
 * queries has called back, which c-ares guarantees within its timeout
 * schedule or at ares_destroy().
 */
struct query {
	struct resolver		*r;
	struct query		*prev, *next;	/* r->queries */
	struct lookup		*waiters;
	int			 type;		/* RQ_AAAA (with want_a: and RQ_A) or RQ_SRV */
	bool			 want_a;
	int			 pending;	/* c-ares queries not yet answered */
	bool			 submitting;	/* inside resolver_query_start */
	bool			 done;
	bool			 stale_served;	/* the stale timer fired */
	ev_timer		 stale_timer;
	/*
	 * Daemon-wide merging (resolver_shared.c).  An owner is a query sent
	 * on this channel and registered in sh->flights; a remote wait
	 * ("remote") sends nothing: it waits, on other workers' behalf, for
	 * an owner in another resolver, which copies its answer into ans[]
	 * and moves it to r->done.  Fields (sh->mu).
	 */
	uint64_t		 gen;		/* r->gen when made */
	bool			 remote;	/* a remote wait */
	bool			 counted;	/* in sh->nqueries */
	bool			 flying;	/* in sh->flights */
	bool			 orphaned;	/* remote: the owner went without an answer */
	struct query		*fprev, *fnext;	/* sh->flights bucket */
	struct query		*rwaiters;	/* owner: remote waits */
	struct query		*rprev, *rnext;	/* remote: owner's rwaiters, or r->done */
	struct query		*rowner;	/* remote: the owner, until told */
	struct rq_answer	 ans[2];	/* AAAA, A; SRV: ans[0] */
	struct rq_srv		*srv;		/* SRV records of ans[0] */
	uint32_t		 hash;
	char			 name[HOSTNAME_MAX + 1];
};

struct lookup {
	struct resolver		*r;
	struct query		*q;		/* the query waited for, or NULL */
	struct lookup		*prev, *next;	/* q's waiters */
	resolver_cb		*cb;
	void			*arg;
	bool			 internal;	/* an SRV target: told even at resolver_free */
	bool			 merged;	/* joined a query another lookup started */
	bool			 want_a;	/* SRV parent: its targets' A too */
	bool			 submitting;	/* SRV: inside resolver_lookup_srv */
	struct lookup_srv	*srv;		/* SRV parent */
};

/* The query in flight for (name, type), or a new one; see resolver.c. */
struct query	*resolver_query_find(struct resolver *r, const char *name,
		    bool want_a, int type);
struct query	*resolver_query_start(struct resolver *r, const char *name,
		    bool want_a, int type);
void		 resolver_query_send(struct query *q);
void		 resolver_lock(struct resolver *r);
void		 resolver_unlock(struct resolver *r);
void		 resolver_query_finish(struct query *q);
void		 resolver_query_store(const struct query *q);

/*
 * resolver_shared.c.  With sh->mu held: place q, a query of r just
 * allocated (resolver_query_alloc) or a remote wait whose owner went:
 * as a remote wait on another resolver's owner of the same (name,
 * want_a) (returns 0), or as a new owner, registered and counted, for
 * the caller to send once the lock is released (returns 1), or not at
 * all: the bounds say no (returns -1).  SRV queries are never registered.
 */
int		 rs_place(struct query *q);
/* With sh->mu held: q ended; uncount, unregister, hand its answer over. */
void		 rs_query_end(struct query *q);
/* Join r to sh (take a reference; adopt its server set, or change it). */
void		 rs_join(struct resolver *r, struct resolver_shared *sh);
/* Before ares_destroy: end r's remote waits (their lookups are not told). */
void		 rs_leave_waits(struct resolver *r);
/* After: drop r's reference (the last frees a private object). */
void		 rs_leave(struct resolver *r);
/* In r's thread (its ev_async): the remote waits whose owner ended. */
void		 rs_deliver(struct resolver *r);
/* Whether r may use sh's cache and registry (its servers are sh's). */
bool		 rs_cache_ok(const struct resolver *r);
uint32_t	 rs_hash(const char *name, bool want_a, int type);
struct query	*resolver_query_alloc(struct resolver *r, const char *name,
		    bool want_a, int type);

/*
 * Make a resolver for w on sh (NULL: a private one, as without -workers);
 * resolver_new(w) is resolver_new_on(w, w's shared object).  For tests.
 */
struct resolver	*resolver_new_on(struct worker *w, struct resolver_shared *sh);
bool		 resolver_query_done(const struct query *q);
const struct rq_answer	*resolver_query_srv_answer(const struct query *q);
void		 resolver_query_free(struct query *q);
void		 resolver_query_attach(struct query *q, struct lookup *l);
void		 resolver_query_detach(struct lookup *l);
bool		 resolver_destroying(const struct resolver *r);
uint64_t	*resolver_rng(struct resolver *r);
union sockaddr_inet	*resolver_now_addrs(struct resolver *r);
void		 resolver_timer_touch(struct resolver *r);

/*
 * The usable records of an SRV answer into recs (target names in names,
 * both RESOLVER_SRV_MAX_RECORDS long): valid host names (canonical), port
 * not 0, no (target, port) twice, in answer order.  *dot: a "." target
 * was seen (RFC 2782: service decidedly not available).  Returns how many.
 */
size_t		 resolver_srv_records(const struct rq_answer *a,
		    struct resolver_srv *recs, char names[][HOSTNAME_MAX + 1],
		    bool *dot);

/* An SRV query's answer for a waiting SRV parent (resolver_srv.c). */
void		 resolver_srv_answer(struct lookup *l, const struct rq_answer *a);
void		 resolver_srv_cancel(struct lookup *l);

#endif
