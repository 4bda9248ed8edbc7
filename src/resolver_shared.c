/*
 * resolver_shared: what the workers' resolvers share, so that with
 * -workers N the daemon still asks one query per name per TTL: the cache,
 * the registry of address queries in flight, and the bounds on queries
 * (RESOLVER_MAX_QUERIES in flight, RESOLVER_QUERY_RATE a second), all
 * behind one mutex held for a few instructions (a hash lookup, a copy).
 *
 * A lookup that misses the cache in worker A while worker B has the same
 * (name, want_a) in flight makes a "remote wait": a struct query in A,
 * which sends nothing, holds A's lookups as any query does, and is linked
 * to B's query (the owner).  When the owner ends, B stores the answer in
 * the cache, copies it into each remote wait, moves them to their
 * resolvers' done lists and wakes those (ev_async); A then ends its
 * remote wait in its own thread as if its own c-ares had answered.  The
 * answer is handed over rather than read back from the cache, so an
 * answer not cached (TTL 0) or evicted meanwhile reaches every worker all
 * the same.  An owner destroyed without an answer (resolver_free, or its
 * worker's reload retiring the channel at exit) leaves its remote waits
 * "orphaned": each asks again itself, if anyone still waits.
 *
 * The server set: answers are good for the servers that gave them.  sh
 * remembers the set of the last resolver that joined and a generation
 * number; a resolver that joins with another set (a reload with new
 * -dns-server) bumps the generation and clears the cache, and a resolver
 * of an older generation (a worker not yet reloaded, or a retired
 * channel) neither reads nor fills the cache nor merges across workers.
 */
#include "snid/resolver.h"

#include <stdlib.h>
#include <string.h>

#include "resolver_int.h"
#include "snid/config.h"
#include "snid/util.h"
#include "snid/worker.h"

uint32_t
rs_hash(const char *name, bool want_a, int type)
{
	uint32_t	h = 2166136261u;

	for (const char *p = name; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return (h ^ (uint32_t)type ^ (want_a ? 0x100u : 0u)) * 16777619u;
}

static struct resolver_shared *
rs_alloc(size_t cache_size)
{
	struct resolver_shared	*sh = xcalloc(1, sizeof(*sh));

	pthread_mutex_init(&sh->mu, NULL);
	sh->cache_size = cache_size;
	sh->tokens = RESOLVER_MAX_QUERIES;
	return sh;
}

static void
rs_free(struct resolver_shared *sh)
{
	pthread_mutex_destroy(&sh->mu);
	dnscache_free(sh->cache);
	free(sh->servers);
	free(sh);
}

struct resolver_shared *
resolver_shared_new(const struct config *cfg)
{
	struct resolver_shared	*sh;

	sh = rs_alloc(cfg->dns_cache_size > 0 ? cfg->dns_cache_size :
	    RESOLVER_CACHE_SIZE);
	sh->refs = 1;
	return sh;
}

/* Drop one reference; the last frees sh. */
static void
rs_unref(struct resolver_shared *sh)
{
	bool	last;

	pthread_mutex_lock(&sh->mu);
	last = --sh->refs == 0;
	pthread_mutex_unlock(&sh->mu);
	if (last)
		rs_free(sh);
}

void
resolver_shared_free(struct resolver_shared *sh)
{
	if (sh != NULL)
		rs_unref(sh);
}

void
rs_join(struct resolver *r, struct resolver_shared *sh)
{
	char	*servers;

	if (sh == NULL) {
		sh = rs_alloc(r->cache_size);
		sh->private_ = true;
	}
	servers = resolver_ares_servers(r->channel);
	if (servers == NULL)
		servers = xstrdup("?");
	pthread_mutex_lock(&sh->mu);
	sh->refs++;
	r->sh = sh;
	if (sh->servers == NULL || strcmp(sh->servers, servers) != 0) {
		free(sh->servers);
		sh->servers = servers;
		servers = NULL;
		sh->gen++;
		if (sh->cache != NULL)
			dnscache_clear(sh->cache);
	}
	if (sh->cache == NULL || sh->cache_size != r->cache_size) {
		dnscache_free(sh->cache);
		sh->cache_size = r->cache_size;
		sh->cache = dnscache_new(sh->cache_size);
	}
	r->gen = sh->gen;
	pthread_mutex_unlock(&sh->mu);
	free(servers);
}

bool
rs_cache_ok(const struct resolver *r)
{
	return r->gen == r->sh->gen;
}

/*
 * Whether a new query may go out: fewer than RESOLVER_MAX_QUERIES in
 * flight, and a token left in the RESOLVER_QUERY_RATE bucket.  The
 * workers' clocks (ev_now) differ by a loop iteration at most: time
 * never runs backwards for the bucket.
 */
static bool
rs_may_query(struct resolver_shared *sh, double now)
{
	if (sh->nqueries >= RESOLVER_MAX_QUERIES)
		return false;
	if (now > sh->tokens_at) {
		sh->tokens += (now - sh->tokens_at) * RESOLVER_QUERY_RATE;
		sh->tokens_at = now;
	}
	if (sh->tokens > RESOLVER_MAX_QUERIES)
		sh->tokens = RESOLVER_MAX_QUERIES;
	if (sh->tokens < 1)
		return false;
	sh->tokens -= 1;
	return true;
}

/* The owner of (q's name, want_a) in flight in another resolver, or NULL. */
static struct query *
rs_find(const struct query *q)
{
	struct resolver_shared	*sh = q->r->sh;
	struct query		*o;

	for (o = sh->flights[q->hash % RS_BUCKETS]; o != NULL; o = o->fnext)
		if (o->hash == q->hash && o->gen == q->gen &&
		    o->type == q->type && o->want_a == q->want_a &&
		    o->r != q->r && strcmp(o->name, q->name) == 0)
			return o;
	return NULL;
}

int
rs_place(struct query *q)
{
	struct resolver		*r = q->r;
	struct resolver_shared	*sh = r->sh;
	struct query		*o, **head;
	bool			 shared = q->type != RQ_SRV && q->gen == sh->gen;

	if (shared && (o = rs_find(q)) != NULL) {
		if (!q->remote)
			r->nremote++;
		q->remote = true;
		q->rowner = o;
		q->rprev = NULL;
		q->rnext = o->rwaiters;
		if (o->rwaiters != NULL)
			o->rwaiters->rprev = q;
		o->rwaiters = q;
		return 0;
	}
	if (!rs_may_query(sh, ev_now(r->w->loop)))
		return -1;
	if (q->remote)
		r->nremote--;
	q->remote = false;
	q->counted = true;
	sh->nqueries++;
	if (shared) {
		head = &sh->flights[q->hash % RS_BUCKETS];
		q->flying = true;
		q->fprev = NULL;
		q->fnext = *head;
		if (*head != NULL)
			(*head)->fprev = q;
		*head = q;
	}
	return 1;
}

/* w's owner ended (q): w gets q's answer, or is orphaned; wake its resolver. */
static void
rs_tell_remote(struct query *q, struct query *w)
{
	struct resolver	*r = w->r;

	w->rowner = NULL;
	if (q->r->destroying) {
		w->orphaned = true;
		w->ans[0].status = w->ans[1].status = ARES_ECANCELLED;
	} else
		memcpy(w->ans, q->ans, sizeof(w->ans));
	w->rprev = NULL;
	w->rnext = r->done;
	if (r->done != NULL)
		r->done->rprev = w;
	r->done = w;
	/* Under the mutex: r cannot leave (rs_leave_waits) meanwhile. */
	ev_async_send(r->w->loop, &r->async);
}

void
rs_query_end(struct query *q)
{
	struct resolver_shared	*sh = q->r->sh;
	struct query		*w;

	if (q->counted) {
		sh->nqueries--;
		q->counted = false;
	}
	if (!q->flying)
		return;
	if (q->fprev != NULL)
		q->fprev->fnext = q->fnext;
	else
		sh->flights[q->hash % RS_BUCKETS] = q->fnext;
	if (q->fnext != NULL)
		q->fnext->fprev = q->fprev;
	q->flying = false;
	while ((w = q->rwaiters) != NULL) {
		q->rwaiters = w->rnext;
		rs_tell_remote(q, w);
	}
}

/* With the mutex: take q off its owner's list or off r->done. */
static void
rs_unlink_remote(struct query *q)
{
	struct query	**head = q->rowner != NULL ? &q->rowner->rwaiters :
			    &q->r->done;

	if (q->rprev != NULL)
		q->rprev->rnext = q->rnext;
	else
		*head = q->rnext;
	if (q->rnext != NULL)
		q->rnext->rprev = q->rprev;
	q->rprev = q->rnext = NULL;
	q->rowner = NULL;
}

void
rs_leave_waits(struct resolver *r)
{
	struct query	*q, *next;

	pthread_mutex_lock(&r->sh->mu);
	for (q = r->queries; q != NULL; q = q->next)
		if (q->remote)
			rs_unlink_remote(q);
	r->done = NULL;
	pthread_mutex_unlock(&r->sh->mu);
	/* r->destroying: only SRV parents hear of it, and free themselves. */
	for (q = r->queries; q != NULL; q = next) {
		next = q->next;
		if (!q->remote)
			continue;
		q->ans[0].status = q->ans[1].status = ARES_EDESTRUCTION;
		resolver_query_finish(q);
	}
}

void
rs_leave(struct resolver *r)
{
	if (r->sh != NULL)
		rs_unref(r->sh);
	r->sh = NULL;
}

/* An orphaned remote wait with lookups left: ask again, or wait on a newer owner. */
static void
rs_ask_again(struct query *q)
{
	int	placed;

	q->orphaned = false;
	resolver_lock(q->r);
	placed = rs_place(q);
	resolver_unlock(q->r);
	if (placed == 0)
		return;
	if (placed == 1) {
		resolver_query_send(q);
		if (resolver_query_done(q))
			resolver_query_free(q);
		return;
	}
	/* The bounds: fail like a lookup refused at once (ans: ECANCELLED). */
	resolver_query_finish(q);
}

void
rs_deliver(struct resolver *r)
{
	struct query	*q, *list;

	resolver_lock(r);
	list = r->done;
	r->done = NULL;
	resolver_unlock(r);
	while ((q = list) != NULL) {
		list = q->rnext;
		q->rprev = q->rnext = NULL;
		if (q->orphaned && q->waiters != NULL)
			rs_ask_again(q);
		else
			resolver_query_finish(q);
	}
}

void
resolver_shared_stats(struct resolver_shared *sh, struct resolver_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (sh == NULL)
		return;
	pthread_mutex_lock(&sh->mu);
	st->queries = sh->nqueries;
	for (int k = 0; k < DNSCACHE_KINDS; k++)
		st->cache[k] = sh->cache == NULL ? 0 :
		    dnscache_count(sh->cache, (enum dnscache_kind)k);
	pthread_mutex_unlock(&sh->mu);
}
