/*
 * resolver_srv: SRV by ALPN (XEP-0368).  The SRV query is merged like any
 * other (resolver.c); each waiting SRV lookup then orders the records
 * (RFC 2782) and looks up its targets' addresses through resolver_lookup,
 * so targets are merged and cached (positive and negative) too: a dead
 * target costs one query per negative TTL, not one per connection.
 */
#include "snid/resolver.h"

#include <stdlib.h>
#include <string.h>

#include "resolver_int.h"
#include "snid/log.h"

/* One SRV target of a parent lookup: its place in SRV order and its addresses. */
struct srv_target {
	struct lookup		*parent;
	struct lookup		*child;		/* its address lookup, while pending */
	uint16_t		 port;
	enum resolver_status	 status;
	bool			 timeout;
	const char		*detail;
	size_t			 n;
	union sockaddr_inet	 addrs[RESOLVER_SRV_TARGET_ADDRS];
};

struct lookup_srv {
	int			 status;	/* ARES_* of the SRV query */
	const char		*detail;	/* why there is no target */
	int			 pending;	/* targets not yet resolved */
	size_t			 ntargets;
	struct srv_target	 t[RESOLVER_SRV_MAX_TARGETS];
};

/* splitmix64: small, fast, and good enough to spread SRV weights. */
static uint64_t
resolver_rand(uint64_t *s)
{
	uint64_t	z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void
resolver_srv_order(struct resolver_srv *recs, size_t n, uint64_t *rng)
{
	struct resolver_srv	tmp;
	size_t			i, j, start, end;

	/*
	 * Stable insertion sort (n is at most RESOLVER_SRV_MAX_RECORDS) by
	 * priority, zero weights first within a priority: RFC 2782 puts them
	 * at the start of the list the running sum walks.
	 */
	for (i = 1; i < n; i++) {
		tmp = recs[i];
		for (j = i; j > 0 && (recs[j - 1].priority > tmp.priority ||
		    (recs[j - 1].priority == tmp.priority &&
		    recs[j - 1].weight != 0 && tmp.weight == 0)); j--)
			recs[j] = recs[j - 1];
		recs[j] = tmp;
	}
	for (start = 0; start < n; start = end) {
		for (end = start + 1; end < n &&
		    recs[end].priority == recs[start].priority; end++)
			;
		/*
		 * RFC 2782: draw a number in [0, sum of the weights left],
		 * take the first record whose running sum reaches it, repeat
		 * with the rest.  The picked record moves to position i; the
		 * others keep their order (zero weights stay in front).
		 */
		for (i = start; i + 1 < end; i++) {
			uint64_t	sum = 0, run = 0, draw;

			for (j = i; j < end; j++)
				sum += recs[j].weight;
			draw = resolver_rand(rng) % (sum + 1);
			for (j = i; j + 1 < end; j++) {
				run += recs[j].weight;
				if (run >= draw)
					break;
			}
			tmp = recs[j];
			memmove(&recs[i + 1], &recs[i], (j - i) * sizeof(*recs));
			recs[i] = tmp;
		}
	}
}

/* The SRV lookup's result, into addrs (the caller's array). */
static void
lookup_srv_result(const struct lookup *l, union sockaddr_inet *addrs,
    struct resolver_result *res)
{
	const struct lookup_srv	*s = l->srv;
	bool			 error = false, timeout = false;
	const char		*detail = NULL;

	memset(res, 0, sizeof(*res));
	res->srv = true;
	res->addrs = addrs;
	res->via = l->merged ? RESOLVER_VIA_MERGED : RESOLVER_VIA_QUERY;
	if (s->status != ARES_SUCCESS) {
		res->status = s->status == ARES_ENODATA ||
		    s->status == ARES_ENOTFOUND ? RESOLVER_NXDOMAIN :
		    RESOLVER_ERROR;
		res->detail = ares_strerror(s->status);
		res->timeout = s->status == ARES_ETIMEOUT;
		return;
	}
	/* Targets in SRV order, each target's addresses in its order. */
	for (size_t i = 0; i < s->ntargets; i++) {
		const struct srv_target *t = &s->t[i];

		memcpy(&addrs[res->n], t->addrs, t->n * sizeof(addrs[0]));
		res->n += t->n;
		if (t->status == RESOLVER_ERROR) {
			error = true;
			timeout |= t->timeout;
			detail = t->detail;
		}
	}
	if (res->n > 0) {
		res->status = RESOLVER_OK;
		res->detail = "SRV";
	} else if (error) {
		/* Like a plain lookup: a failed part may hide an address. */
		res->status = RESOLVER_ERROR;
		res->detail = detail;
		res->timeout = timeout;
	} else {
		res->status = RESOLVER_NXDOMAIN;
		res->detail = s->ntargets == 0 ? s->detail :
		    "no SRV target has an address";
	}
}

static void
lookup_srv_free(struct lookup *l)
{
	free(l->srv);
	free(l);
}

/* The SRV lookup is over: report it (unless resolver_free is under way) and free it. */
static void
lookup_srv_finish(struct lookup *l)
{
	union sockaddr_inet	 addrs[RESOLVER_SRV_MAX_TARGETS *
				    RESOLVER_SRV_TARGET_ADDRS];
	struct resolver_result	 res;
	resolver_cb		*cb = l->cb;
	void			*arg = l->arg;

	lookup_srv_result(l, addrs, &res);
	if (resolver_destroying(l->r))
		cb = NULL;
	lookup_srv_free(l);
	if (cb != NULL)
		cb(arg, &res);
}

/* Record one target's addresses, each with the target's port. */
static void
srv_target_set(struct srv_target *t, const struct resolver_result *res)
{
	t->status = res->status;
	t->timeout = res->timeout;
	t->detail = res->detail;
	t->n = 0;
	for (size_t i = 0; i < res->n && t->n < RESOLVER_SRV_TARGET_ADDRS; i++) {
		union sockaddr_inet	*a = &t->addrs[t->n];

		*a = res->addrs[i];
		if (a->sa.sa_family == AF_INET6)
			a->in6.sin6_port = htons(t->port);
		else if (a->sa.sa_family == AF_INET)
			a->in.sin_port = htons(t->port);
		else
			continue;
		t->n++;
	}
}

/* A target's address lookup is done. */
static void
srv_target_cb(void *arg, const struct resolver_result *res)
{
	struct srv_target	*t = arg;
	struct lookup		*l = t->parent;

	t->child = NULL;
	srv_target_set(t, res);
	if (--l->srv->pending == 0 && !l->submitting)
		lookup_srv_finish(l);
}

/* The usable records of an SRV answer: valid host names, no duplicates. */
size_t
resolver_srv_records(const struct rq_answer *a, struct resolver_srv *recs,
    char names[][HOSTNAME_MAX + 1], bool *dot)
{
	size_t	n = 0, i, j;

	*dot = false;
	for (i = 0; i < a->nsrv; i++) {
		const struct rq_srv *p = &a->srv[i];

		/*
		 * RFC 2782: the target "." means the service is decidedly
		 * not available at this domain (c-ares spells it "").
		 */
		if (p->host[0] == '\0' || strcmp(p->host, ".") == 0) {
			*dot = true;
			continue;
		}
		/* A target that is no valid host name (or too long) is skipped. */
		if (hostname_canonicalize(p->host, strlen(p->host), names[n]) !=
		    NULL || p->port == 0)
			continue;
		/* The same target and port twice would be tried twice. */
		for (j = 0; j < n; j++)
			if (recs[j].port == p->port &&
			    strcmp(recs[j].target, names[n]) == 0)
				break;
		if (j < n)
			continue;
		recs[n].priority = p->priority;
		recs[n].weight = p->weight;
		recs[n].port = p->port;
		recs[n].target = names[n];
		n++;
	}
	return n;
}

/*
 * Turn the SRV answer into targets in RFC 2782 order, and look up the
 * addresses of the first RESOLVER_SRV_MAX_TARGETS of them, all at once:
 * the whole resolution has one bound (the conn's -dns-timeout), so
 * targets are not waited for one after the other.
 */
static void
lookup_srv_targets(struct lookup *l, const struct rq_answer *a)
{
	struct lookup_srv	*s = l->srv;
	struct resolver_srv	 recs[RESOLVER_SRV_MAX_RECORDS];
	char			 names[RESOLVER_SRV_MAX_RECORDS][HOSTNAME_MAX + 1];
	size_t			 n, i;
	bool			 dot;

	n = resolver_srv_records(a, recs, names, &dot);
	if (n == 0) {
		s->detail = dot ? "SRV target \".\": service not available" :
		    "no usable SRV target";
		return;
	}
	resolver_srv_order(recs, n, resolver_rng(l->r));
	if (n > RESOLVER_SRV_MAX_TARGETS)
		n = RESOLVER_SRV_MAX_TARGETS;
	s->ntargets = n;
	/* Counted before any child starts: a child answered at once must not end l early. */
	s->pending = (int)n + 1;
	for (i = 0; i < n; i++) {
		struct srv_target	*t = &s->t[i];
		struct resolver_result	 now;

		t->parent = l;
		t->port = recs[i].port;
		log_debug("SRV: %s:%u (priority %u, weight %u)", recs[i].target,
		    recs[i].port, recs[i].priority, recs[i].weight);
		t->child = resolver_lookup(l->r, recs[i].target, l->want_a,
		    srv_target_cb, t, &now);
		if (t->child != NULL)
			t->child->internal = true;
		else {
			/* Cached (now.addrs valid until the next call) or failed at once. */
			srv_target_set(t, &now);
			s->pending--;
		}
	}
	s->pending--;
}

/*
 * The SRV query's answer for l.  Nobody waits any more, or the channel is
 * going: no need for the targets.
 */
void
resolver_srv_answer(struct lookup *l, const struct rq_answer *a)
{
	struct lookup_srv	*s = l->srv;

	s->status = a->status;
	if (a->status == ARES_SUCCESS && !resolver_destroying(l->r))
		lookup_srv_targets(l, a);
	if (s->pending == 0 && !l->submitting)
		lookup_srv_finish(l);
}

struct lookup *
resolver_lookup_srv(struct resolver *r, const char *qname, bool want_a,
    resolver_cb *cb, void *arg, struct resolver_result *now)
{
	struct lookup	*l;
	struct query	*q;
	bool		 merged;

	memset(now, 0, sizeof(*now));
	now->srv = true;
	if (strlen(qname) > HOSTNAME_MAX) {
		/* No such record can exist: a DNS name has at most 253 characters. */
		now->status = RESOLVER_NXDOMAIN;
		now->detail = "SRV name too long";
		return NULL;
	}
	q = resolver_query_find(r, qname, false, RQ_SRV);
	merged = q != NULL;
	if (q == NULL &&
	    (q = resolver_query_start(r, qname, false, RQ_SRV)) == NULL) {
		now->status = RESOLVER_ERROR;
		now->detail = "too many DNS queries in flight";
		return NULL;
	}
	l = xcalloc(1, sizeof(*l));
	l->srv = xcalloc(1, sizeof(*l->srv));
	l->r = r;
	l->cb = cb;
	l->arg = arg;
	l->merged = merged;
	l->want_a = want_a;
	if (!resolver_query_done(q)) {
		resolver_query_attach(q, l);
		return l;
	}
	/* Answered at once (see resolver_lookup): go on to the targets now. */
	l->submitting = true;
	resolver_srv_answer(l, resolver_query_srv_answer(q));
	resolver_query_free(q);
	l->submitting = false;
	if (l->srv->pending > 0)
		return l;
	lookup_srv_result(l, resolver_now_addrs(r), now);
	lookup_srv_free(l);
	return NULL;
}

void
resolver_srv_cancel(struct lookup *l)
{
	struct lookup_srv	*s = l->srv;

	resolver_query_detach(l);
	for (size_t i = 0; i < s->ntargets; i++)
		if (s->t[i].child != NULL)
			resolver_cancel(s->t[i].child);
	lookup_srv_free(l);
}
