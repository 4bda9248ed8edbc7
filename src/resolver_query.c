/*
 * resolver_query: lookups as waiters on merged queries, the cache in front
 * of them (fresh, negative, stale answers), the cap and rate bound on new
 * queries, and the answers c-ares gives from inside its own call.  See
 * resolver.c for the channel, resolver_srv.c for SRV.
 */
#include "snid/resolver.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "resolver_int.h"
#include "snid/worker.h"

#define Q_AAAA	0
#define Q_A	1

/* Map a c-ares status to ours: "no such name/no such data" vs every other failure. */
static enum resolver_status
resolver_map_status(int status)
{
	switch (status) {
	case ARES_SUCCESS:
		return RESOLVER_OK;
	case ARES_ENODATA:	/* NOERROR without an answer of this type */
	case ARES_ENOTFOUND:	/* NXDOMAIN */
		return RESOLVER_NXDOMAIN;
	default:		/* ESERVFAIL, EREFUSED, ETIMEOUT, EBADRESP, ... */
		return RESOLVER_ERROR;
	}
}

struct query *
resolver_query_find(struct resolver *r, const char *name, bool want_a,
    int type)
{
	uint32_t	 h = rs_hash(name, want_a, type);
	struct query	*q;

	for (q = r->queries; q != NULL; q = q->next)
		if (q->hash == h && q->type == type && q->want_a == want_a &&
		    !q->done && strcmp(q->name, name) == 0)
			return q;
	return NULL;
}

void
resolver_query_attach(struct query *q, struct lookup *l)
{
	l->q = q;
	l->prev = NULL;
	l->next = q->waiters;
	if (q->waiters != NULL)
		q->waiters->prev = l;
	q->waiters = l;
}

void
resolver_query_detach(struct lookup *l)
{
	struct query	*q = l->q;

	if (q == NULL)
		return;
	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		q->waiters = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	l->q = NULL;
	l->prev = l->next = NULL;
}

/* Both answers of an address query into res (addrs: the caller's array): AAAA first, then A. */
static void
query_result(const struct query *q, union sockaddr_inet *addrs,
    struct resolver_result *res)
{
	enum resolver_status	st[2] = { RESOLVER_NXDOMAIN, RESOLVER_NXDOMAIN };
	int			i, parts = q->want_a ? 2 : 1;

	memset(res, 0, sizeof(*res));
	res->addrs = addrs;
	for (i = 0; i < parts; i++) {
		memcpy(&addrs[res->n], q->ans[i].addrs,
		    q->ans[i].n * sizeof(addrs[0]));
		res->n += q->ans[i].n;
		st[i] = resolver_map_status(q->ans[i].status);
	}
	if (res->n > 0)
		res->status = RESOLVER_OK;
	else if (st[Q_AAAA] == RESOLVER_ERROR || st[Q_A] == RESOLVER_ERROR)
		/* One failed and the other had nothing: the name may well exist. */
		res->status = RESOLVER_ERROR;
	else
		res->status = RESOLVER_NXDOMAIN;
	i = st[Q_AAAA] == RESOLVER_ERROR || parts == 1 ? Q_AAAA : Q_A;
	res->detail = ares_strerror(q->ans[i].status);
	res->timeout = res->status == RESOLVER_ERROR &&
	    q->ans[i].status == ARES_ETIMEOUT;
	res->via = RESOLVER_VIA_QUERY;
}

/*
 * The answer into the cache: all of a complete positive one, a negative
 * one, or the failure.  With sh->mu held; not for a remote wait (its
 * owner stored it) nor an answer from servers the cache no longer holds.
 */
void
resolver_query_store(const struct query *q)
{
	struct resolver		*r = q->r;
	struct dnscache		*cache = r->sh->cache;
	union sockaddr_inet	 addrs[DNSCACHE_MAX_ADDRS];
	struct resolver_result	 res;
	unsigned		 ttl = UINT_MAX, t;
	int			 i, parts = q->want_a ? 2 : 1;
	bool			 failed = false;

	if (r->destroying || q->remote || q->gen != r->sh->gen)
		return;
	query_result(q, addrs, &res);
	for (i = 0; i < parts; i++) {
		const struct rq_answer *a = &q->ans[i];

		failed |= resolver_map_status(a->status) == RESOLVER_ERROR;
		if (a->status == ARES_SUCCESS)
			t = a->ttl;
		else
			t = dnscache_negative_ttl(a->has_soa, a->soa_ttl,
			    a->soa_min, DNSCACHE_NEG_CAP);
		if (t < ttl)
			ttl = t;
	}
	if (res.status == RESOLVER_OK && !failed)
		dnscache_put_positive(cache, q->name, q->want_a, res.addrs,
		    res.n, ttl, ev_now(r->w->loop));
	else if (res.status == RESOLVER_NXDOMAIN)
		dnscache_put_failure(cache, q->name, q->want_a,
		    DNSCACHE_NEGATIVE, res.detail, false, ttl,
		    ev_now(r->w->loop));
	else if (res.status == RESOLVER_ERROR)
		dnscache_put_failure(cache, q->name, q->want_a,
		    DNSCACHE_ERROR, res.detail, res.timeout, DNSCACHE_ERROR_TTL,
		    ev_now(r->w->loop));
}

/* A stale entry e as the answer (with sh->mu held: e is the cache's). */
static void
resolver_stale_entry(const struct dnscache_entry *e,
    union sockaddr_inet *addrs, struct resolver_result *res)
{
	memset(res, 0, sizeof(*res));
	memcpy(addrs, e->addrs, e->n * sizeof(*addrs));
	res->status = RESOLVER_OK;
	res->detail = "stale";
	res->n = e->n;
	res->addrs = addrs;
	res->via = RESOLVER_VIA_STALE;
}

/* RFC 8767: the expired answer of (name, want_a) into res, when there is one. */
static bool
resolver_stale_result(struct resolver *r, const char *name, bool want_a,
    union sockaddr_inet *addrs, struct resolver_result *res)
{
	const struct dnscache_entry	*e = NULL;
	enum dnscache_hit		 hit = DNSCACHE_MISS;

	if (r->stale <= 0)
		return false;
	resolver_lock(r);
	if (rs_cache_ok(r))
		e = dnscache_get(r->sh->cache, name, want_a,
		    ev_now(r->w->loop), r->stale, &hit);
	if (hit == DNSCACHE_STALE)
		resolver_stale_entry(e, addrs, res);
	resolver_unlock(r);
	return hit == DNSCACHE_STALE;
}

/* Tell q's waiters res, each freed before its callback. */
static void
query_tell(struct query *q, const struct resolver_result *res)
{
	struct resolver_result	 mine = *res;
	struct lookup		*l;
	resolver_cb		*cb;
	void			*arg;

	while ((l = q->waiters) != NULL) {
		resolver_query_detach(l);
		if (q->type == RQ_SRV) {
			resolver_srv_answer(l, &q->ans[0]);
			continue;
		}
		cb = l->cb;
		arg = l->arg;
		if (res->via == RESOLVER_VIA_QUERY && (l->merged || q->remote))
			mine.via = RESOLVER_VIA_MERGED;
		else
			mine.via = res->via;
		/* resolver_free: the callers go too; an SRV target still tells its parent. */
		if (q->r->destroying && !l->internal)
			cb = NULL;
		free(l);
		if (cb != NULL)
			cb(arg, &mine);
	}
}

void
resolver_query_free(struct query *q)
{
	struct resolver	*r = q->r;

	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		r->queries = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	r->nqueries--;
	if (q->remote)
		r->nremote--;
	ev_timer_stop(r->w->loop, &q->stale_timer);
	free(q->srv);
	free(q);
}

/*
 * The last c-ares query of q is answered, or a remote wait's owner told
 * it: cache, hand over to the other workers, tell, free.
 */
void
resolver_query_finish(struct query *q)
{
	union sockaddr_inet	addrs[DNSCACHE_MAX_ADDRS];
	struct resolver_result	res;

	q->done = true;
	ev_timer_stop(q->r->w->loop, &q->stale_timer);
	memset(&res, 0, sizeof(res));
	resolver_lock(q->r);
	if (q->type != RQ_SRV)
		resolver_query_store(q);
	rs_query_end(q);
	resolver_unlock(q->r);
	if (q->type != RQ_SRV) {
		query_result(q, addrs, &res);
		if (res.status == RESOLVER_ERROR)
			(void)resolver_stale_result(q->r, q->name, q->want_a,
			    addrs, &res);
	}
	query_tell(q, &res);
	/* resolver_query_start's caller reads an answer that came at once. */
	if (!q->submitting)
		resolver_query_free(q);
}

/* One c-ares query's answer (or failure), maybe from inside resolver_query_start. */
static void
query_answer_cb(void *arg, const struct rq_answer *a)
{
	struct query	*q = arg;
	int		 idx = a->type == RQ_A ? Q_A : Q_AAAA;

	q->ans[idx] = *a;
	q->ans[idx].srv = NULL;
	if (a->type == RQ_SRV && a->nsrv > 0) {
		q->srv = xmalloc(a->nsrv * sizeof(*q->srv));
		memcpy(q->srv, a->srv, a->nsrv * sizeof(*q->srv));
		q->ans[idx].srv = q->srv;
	}
	if (--q->pending == 0)
		resolver_query_finish(q);
}

/* RFC 8767 client response timer: the refresh is slow, serve the stale answer now. */
static void
query_stale_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct query		*q = t->data;
	union sockaddr_inet	 addrs[DNSCACHE_MAX_ADDRS];
	struct resolver_result	 res;

	(void)loop;
	(void)revents;
	q->stale_served = true;
	if (resolver_stale_result(q->r, q->name, q->want_a, addrs, &res))
		query_tell(q, &res);
}

struct query *
resolver_query_alloc(struct resolver *r, const char *name, bool want_a,
    int type)
{
	struct query	*q = xcalloc(1, sizeof(*q));

	q->r = r;
	q->gen = r->gen;
	q->type = type;
	q->want_a = type != RQ_SRV && want_a;
	q->hash = rs_hash(name, want_a, type);
	strcpy(q->name, name);
	ev_timer_init(&q->stale_timer, query_stale_cb, 0., 0.);
	q->stale_timer.data = q;
	q->next = r->queries;
	if (q->next != NULL)
		q->next->prev = q;
	r->queries = q;
	r->nqueries++;
	return q;
}

/* Send q, an owner placed by rs_place; it may be done when this returns. */
void
resolver_query_send(struct query *q)
{
	struct resolver	*r = q->r;

	q->pending = q->want_a ? 2 : 1;
	q->submitting = true;
	resolver_ares_query(r->channel, q->name, q->type, r->budget_ms,
	    query_answer_cb, q);
	if (q->want_a)
		resolver_ares_query(r->channel, q->name, RQ_A, r->budget_ms,
		    query_answer_cb, q);
	q->submitting = false;
	resolver_timer_touch(r);
}

/*
 * With sh->mu held: a new query for (name, want_a, type), a remote wait
 * or an owner (*send: to be sent once the lock is released), or NULL.
 */
static struct query *
query_new(struct resolver *r, const char *name, bool want_a, int type,
    bool *send)
{
	struct query	*q = resolver_query_alloc(r, name, want_a, type);
	int		 placed = rs_place(q);

	*send = placed == 1;
	if (placed == -1) {
		resolver_query_free(q);
		return NULL;
	}
	return q;
}

struct query *
resolver_query_start(struct resolver *r, const char *name, bool want_a,
    int type)
{
	struct query	*q;
	bool		 send;

	resolver_lock(r);
	q = query_new(r, name, want_a, type, &send);
	resolver_unlock(r);
	if (q != NULL && send)
		resolver_query_send(q);
	return q;
}

void
resolver_lock(struct resolver *r)
{
	pthread_mutex_lock(&r->sh->mu);
}

void
resolver_unlock(struct resolver *r)
{
	pthread_mutex_unlock(&r->sh->mu);
}

bool
resolver_query_done(const struct query *q)
{
	return q->done;
}

const struct rq_answer *
resolver_query_srv_answer(const struct query *q)
{
	return &q->ans[0];
}

bool
resolver_destroying(const struct resolver *r)
{
	return r->destroying;
}

uint64_t *
resolver_rng(struct resolver *r)
{
	return &r->rng;
}

union sockaddr_inet *
resolver_now_addrs(struct resolver *r)
{
	return r->now_addrs;
}

/* A cached entry as the answer at once. */
static void
resolver_from_entry(struct resolver *r, const struct dnscache_entry *e,
    struct resolver_result *now)
{
	if (e->kind == DNSCACHE_POSITIVE) {
		memcpy(r->now_addrs, e->addrs, e->n * sizeof(*e->addrs));
		now->status = RESOLVER_OK;
		now->detail = "cached";
		now->n = e->n;
		now->addrs = r->now_addrs;
		now->via = RESOLVER_VIA_CACHE;
		return;
	}
	now->status = e->kind == DNSCACHE_NEGATIVE ? RESOLVER_NXDOMAIN :
	    RESOLVER_ERROR;
	now->detail = e->detail;
	now->timeout = e->timeout;
	now->via = RESOLVER_VIA_NEGATIVE;
}

/*
 * With sh->mu held, in one go so that no other worker's answer slips in
 * between: the cache; a query of r to wait on; a stale answer; or a new
 * query (a remote wait or an owner, *send set).  NULL: *now is the
 * answer.  *stale: waiting for a refresh of a stale entry.
 */
static struct query *
lookup_decide(struct resolver *r, const char *name, bool want_a,
    struct resolver_result *now, bool *merged, bool *send, bool *stale)
{
	const struct dnscache_entry	*e = NULL;
	enum dnscache_hit		 hit = DNSCACHE_MISS;
	double				 t = ev_now(r->w->loop);
	struct query			*q;

	/* An old channel (new servers since) has no cache: it just asks. */
	if (rs_cache_ok(r))
		e = dnscache_get(r->sh->cache, name, want_a, t, r->stale,
		    &hit);
	if (hit == DNSCACHE_FRESH) {
		resolver_from_entry(r, e, now);
		return NULL;
	}
	q = resolver_query_find(r, name, want_a, RQ_AAAA);
	*merged = q != NULL;
	*stale = hit == DNSCACHE_STALE;
	/* A refresh failed a moment ago, or is slow: stale at once. */
	if (hit == DNSCACHE_STALE && (e->retry_after > t ||
	    (q != NULL && q->stale_served))) {
		resolver_stale_entry(e, r->now_addrs, now);
		return NULL;
	}
	if (q == NULL &&
	    (q = query_new(r, name, want_a, RQ_AAAA, send)) == NULL) {
		if (hit == DNSCACHE_STALE)
			resolver_stale_entry(e, r->now_addrs, now);
		else {
			now->status = RESOLVER_ERROR;
			now->detail = "too many DNS queries in flight";
		}
	}
	return q;
}

struct lookup *
resolver_lookup(struct resolver *r, const char *name, bool want_a,
    resolver_cb *cb, void *arg, struct resolver_result *now)
{
	struct query	*q;
	struct lookup	*l;
	bool		 merged = false, send = false, stale = false;

	memset(now, 0, sizeof(*now));
	if (strlen(name) > HOSTNAME_MAX) {
		now->status = RESOLVER_ERROR;
		now->detail = "name too long";
		return NULL;
	}
	resolver_lock(r);
	q = lookup_decide(r, name, want_a, now, &merged, &send, &stale);
	resolver_unlock(r);
	if (q == NULL)
		return NULL;
	if (send)
		resolver_query_send(q);
	/*
	 * c-ares answered from inside ares_query (a failure; or, with its
	 * own cache, 1.31+ answers there too): an answer like any other.
	 */
	if (q->done) {
		query_result(q, r->now_addrs, now);
		if (now->status == RESOLVER_ERROR)
			(void)resolver_stale_result(r, name, want_a,
			    r->now_addrs, now);
		resolver_query_free(q);
		return NULL;
	}
	l = xcalloc(1, sizeof(*l));
	l->r = r;
	l->cb = cb;
	l->arg = arg;
	l->merged = merged;
	resolver_query_attach(q, l);
	if (stale && !ev_is_active(&q->stale_timer)) {
		ev_timer_set(&q->stale_timer, r->stale_wait, 0.);
		ev_timer_start(r->w->loop, &q->stale_timer);
	}
	return l;
}

void
resolver_cancel(struct lookup *l)
{
	if (l == NULL)
		return;
	if (l->srv != NULL) {
		resolver_srv_cancel(l);
		return;
	}
	resolver_query_detach(l);
	free(l);
}

void
resolver_stats(const struct resolver *r, struct resolver_stats *st)
{
	const struct resolver	*x;

	memset(st, 0, sizeof(*st));
	if (r == NULL)
		return;
	for (x = r->retired_list; x != NULL; x = x->next)
		st->queries += x->nqueries - x->nremote;
	st->queries += r->nqueries - r->nremote;
	/* A daemon-wide cache is resolver_shared_stats' to report, once. */
	if (!r->sh->private_)
		return;
	pthread_mutex_lock(&r->sh->mu);
	for (int k = 0; k < DNSCACHE_KINDS; k++)
		st->cache[k] = dnscache_count(r->sh->cache,
		    (enum dnscache_kind)k);
	pthread_mutex_unlock(&r->sh->mu);
}

enum metrics_dns
resolver_metric(const struct resolver_result *res)
{
	switch (res->via) {
	case RESOLVER_VIA_CACHE:
		return METRICS_DNS_CACHED;
	case RESOLVER_VIA_NEGATIVE:
		return METRICS_DNS_NEGATIVE;
	case RESOLVER_VIA_STALE:
		return METRICS_DNS_STALE;
	case RESOLVER_VIA_MERGED:
		if (res->status == RESOLVER_OK)
			return METRICS_DNS_MERGED;
		break;
	default:
		break;
	}
	if (res->status == RESOLVER_OK)
		return METRICS_DNS_OK;
	if (res->status == RESOLVER_NXDOMAIN)
		return METRICS_DNS_NXDOMAIN;
	return res->timeout ? METRICS_DNS_TIMEOUT : METRICS_DNS_ERROR;
}
