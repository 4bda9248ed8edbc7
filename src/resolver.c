/*
 * resolver: c-ares on the worker's libev loop, with one merged query per
 * (name, type), a cache in front (dnscache.c) and a bound on what floods
 * of names can make it send.
 *
 * c-ares tells us which sockets it wants watched (sock_state_cb); each gets
 * an ev_io, and one ev_timer follows ares_timeout() so retransmissions and
 * timeouts happen without a thread or a blocking call.
 *
 * A lookup is a waiter on a query.  Lookups of the same name and type
 * while a query is in flight wait on that query; a waiter that goes
 * (resolver_cancel) just leaves the list, and the query runs on, so its
 * answer still fills the cache.  Queries in flight, detached or not, are
 * capped (RESOLVER_MAX_QUERIES) and started at most RESOLVER_QUERY_RATE a
 * second: past that a lookup of an uncached name fails at once, while
 * cached and stale names are still answered.  The cache, the queries in
 * flight and these bounds are the daemon's, shared by every worker's
 * resolver (resolver_shared.c); an ev_async per resolver is how another
 * worker says that a query this one waits for has ended.
 */
#include "snid/resolver.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "resolver_int.h"
#include "snid/config.h"
#include "snid/log.h"
#include "snid/shared.h"
#include "snid/worker.h"

static void	resolver_timer_update(struct resolver *r);
static bool	resolver_retired_done(struct resolver *r);
static void	resolver_destroy(struct resolver *r);

void
resolver_schedule(unsigned budget_ms, unsigned nservers, int *timeout_ms,
    int *tries)
{
	/* Below this a try is shorter than a cold recursive lookup often takes. */
	const unsigned	min_try_ms = 250;
	unsigned	t = 0;
	int		k;

	if (nservers == 0)
		nservers = 1;
	/*
	 * c-ares 1.18 sends try number i (0-based, over all servers) with
	 * timeout T << (i / nservers), and gives up after nservers * tries
	 * tries: the whole lookup takes at most
	 * nservers * T * (2^tries - 1).  Take the most tries (up to 3) whose
	 * T is still reasonable.
	 */
	for (k = 3; k >= 1; k--) {
		t = budget_ms / (nservers * ((1U << k) - 1));
		if (t >= min_try_ms)
			break;
	}
	if (k < 1) {
		k = 1;
		t = budget_ms / nservers;
	}
	if (t == 0)
		t = 1;
	*timeout_ms = (int)t;
	*tries = k;
}

static void
resolver_io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct resolver_sock	*s = io->data;
	struct resolver		*r = s->r;
	ares_socket_t		 fd = io->fd;

	(void)loop;
	ares_process_fd(r->channel,
	    (revents & EV_READ) ? fd : ARES_SOCKET_BAD,
	    (revents & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	if (resolver_retired_done(r))
		return;
	resolver_timer_update(r);
}

static void
resolver_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct resolver	*r = t->data;

	(void)loop;
	(void)revents;
	ares_process_fd(r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	if (resolver_retired_done(r))
		return;
	resolver_timer_update(r);
}

/* Another worker's query ended, with remote waits of r's. */
static void
resolver_async_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	struct resolver	*r = a->data;

	(void)loop;
	(void)revents;
	rs_deliver(r);
	if (resolver_retired_done(r))
		return;
	resolver_timer_update(r);
}

/* Follow ares_timeout(): the next retransmission or timeout of any query. */
static void
resolver_timer_update(struct resolver *r)
{
	struct timeval	tv, *tvp;

	if (r->destroying)
		return;
	ev_timer_stop(r->w->loop, &r->timer);
	tvp = ares_timeout(r->channel, NULL, &tv);
	if (tvp == NULL)
		return;
	ev_timer_set(&r->timer, (double)tvp->tv_sec + (double)tvp->tv_usec / 1e6,
	    0.);
	ev_timer_start(r->w->loop, &r->timer);
}

/* c-ares opens, closes or changes interest in a socket. */
static void
resolver_sock_state_cb(void *data, ares_socket_t fd, int readable,
    int writable)
{
	struct resolver		*r = data;
	struct resolver_sock	*s, **sp;
	int			 events;

	for (sp = &r->socks; (s = *sp) != NULL; sp = &s->next)
		if (s->io.fd == fd)
			break;
	events = (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);
	if (events == 0) {
		if (s != NULL) {
			ev_io_stop(r->w->loop, &s->io);
			*sp = s->next;
			free(s);
		}
		return;
	}
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->r = r;
		ev_io_init(&s->io, resolver_io_cb, fd, events);
		s->io.data = s;
		s->next = r->socks;
		r->socks = s;
	} else {
		if ((s->io.events & (EV_READ | EV_WRITE)) == events)
			return;
		ev_io_stop(r->w->loop, &s->io);
		ev_io_set(&s->io, fd, events);
	}
	ev_io_start(r->w->loop, &s->io);
}


/*
 * A resolver for cfg's DNS settings (cfg need not be w's yet), built but
 * not in use: its channel exists, but it has not joined the shared part
 * (the cache and its generation are untouched) nor started a watcher.
 * What can fail is here; resolver_attach cannot.  NULL after logging.
 */
static struct resolver *
resolver_build(struct worker *w, const struct config *cfg)
{
	struct resolver		*r;
	struct ares_options	 o;
	unsigned		 nservers, budget_ms;
	int			 rc, mask;

	nservers = cfg->n_dns_servers > 0 ? (unsigned)cfg->n_dns_servers :
	    resolver_ares_count_default_servers();
	budget_ms = cfg->dns_timeout > 0 ? (unsigned)(cfg->dns_timeout * 1000) :
	    2000;

	r = xcalloc(1, sizeof(*r));
	r->w = w;
	r->cache_size = cfg->dns_cache_size > 0 ? cfg->dns_cache_size :
	    RESOLVER_CACHE_SIZE;
	r->stale = cfg->dns_stale;
	/* RFC 8767 suggests 1.8 s; never more than half of -dns-timeout. */
	r->stale_wait = budget_ms / 2000.0 < 1.8 ? budget_ms / 2000.0 : 1.8;
	memset(&o, 0, sizeof(o));
	/*
	 * NOSEARCH: names from an SNI are absolute, a search domain must never
	 * turn "foo" into "foo.internal.example".  NOALIASES: HOSTALIASES must
	 * not rewrite names either.  No STAYOPEN: the UDP socket is closed
	 * when idle, so the source port changes between bursts; with STAYOPEN
	 * an attacker who can make us ask for names of its choosing would
	 * face only the 16-bit query id.
	 */
	o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
	o.sock_state_cb = resolver_sock_state_cb;
	o.sock_state_cb_data = r;
	mask = ARES_OPT_FLAGS | ARES_OPT_SOCK_STATE_CB;
	resolver_ares_schedule(budget_ms, nservers, &o, &mask);
	resolver_ares_harden(&o, &mask);
	rc = ares_init_options(&r->channel, &o, mask);
	if (rc != ARES_SUCCESS) {
		log_error("resolver: ares_init_options: %s", ares_strerror(rc));
		free(r);
		return NULL;
	}
	ev_timer_init(&r->timer, resolver_timer_cb, 0., 0.);
	r->timer.data = r;
	if (cfg->n_dns_servers > 0 &&
	    resolver_ares_set_servers(r->channel, cfg) == -1) {
		ares_destroy(r->channel);
		free(r);
		return NULL;
	}
	r->timeout_ms = o.timeout;
	r->tries = o.tries;
	r->budget_ms = budget_ms;
	/* Only SRV weights use it: unpredictable is nice, not vital. */
	if (getrandom(&r->rng, sizeof(r->rng), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(r->rng))
		r->rng = (uint64_t)(ev_time() * 1e6) ^ (uint64_t)(uintptr_t)r;
	log_debug("resolver: %u server(s), %d ms per try, %d round(s)",
	    nservers, o.timeout, o.tries);
	return r;
}

/*
 * Put a built resolver in use on sh (NULL: a private one): join the shared
 * part (new servers bump its generation and clear the cache) and wait for
 * other workers' answers.  Cannot fail.
 */
static void
resolver_attach(struct resolver *r, struct resolver_shared *sh)
{
	rs_join(r, sh);
	/* Woken by other workers; it does not keep the loop running. */
	ev_async_init(&r->async, resolver_async_cb);
	r->async.data = r;
	ev_async_start(r->w->loop, &r->async);
	ev_unref(r->w->loop);
}

/* Free a built resolver that was never attached (it has no query). */
static void
resolver_discard(struct resolver *r)
{
	r->destroying = true;
	ares_destroy(r->channel);
	free(r);
}

static struct resolver *
resolver_make(struct worker *w, const struct config *cfg,
    struct resolver_shared *sh)
{
	struct resolver	*r;

	if ((r = resolver_build(w, cfg)) != NULL)
		resolver_attach(r, sh);
	return r;
}

/*
 * w's daemon-wide DNS object.  Until struct shared (include/snid/shared.h)
 * exists: none, every worker has a private cache.  With it, this reads
 *	return w->shared != NULL ? w->shared->dns : NULL;
 */
static struct resolver_shared *
resolver_shared_of(struct worker *w)
{
	return w->shared != NULL ? w->shared->dns : NULL;
}

struct resolver *
resolver_new_on(struct worker *w, struct resolver_shared *sh)
{
	return resolver_make(w, w->cfg, sh);
}

struct resolver *
resolver_new(struct worker *w)
{
	return resolver_new_on(w, resolver_shared_of(w));
}

/*
 * Destroy one resolver (not its retired list): its remote waits, its
 * channel (its own queries' waits in other workers are orphaned, and ask
 * again themselves), sockets, and its reference to the shared part.
 */
static void
resolver_destroy(struct resolver *r)
{
	struct resolver_sock	*s;

	/*
	 * ares_destroy calls every pending query's callback with
	 * ARES_EDESTRUCTION, which frees the queries (their callers have all
	 * been detached by then) and closes the sockets through
	 * sock_state_cb.
	 */
	r->destroying = true;
	ev_timer_stop(r->w->loop, &r->timer);
	rs_leave_waits(r);
	ares_destroy(r->channel);
	while ((s = r->socks) != NULL) {
		r->socks = s->next;
		ev_io_stop(r->w->loop, &s->io);
		free(s);
	}
	ev_ref(r->w->loop);
	ev_async_stop(r->w->loop, &r->async);
	rs_leave(r);
	free(r);
}

void
resolver_free(struct resolver *r)
{
	struct resolver	*old;

	if (r == NULL)
		return;
	while ((old = r->retired_list) != NULL) {
		r->retired_list = old->next;
		resolver_destroy(old);
	}
	resolver_destroy(r);
}

/*
 * A retired resolver whose last query just finished goes now.  Called from
 * its own io/timer callbacks after ares_process_fd() has returned, never
 * from inside c-ares.  Returns true when r was freed.
 */
static bool
resolver_retired_done(struct resolver *r)
{
	if (!r->retired || r->nqueries > 0)
		return false;
	/* The list is headed by the worker's current resolver. */
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		r->w->resolver->retired_list = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	log_debug("resolver: the previous DNS configuration has no lookup "
	    "left; closed");
	resolver_destroy(r);
	return true;
}

/* Whether both channels use the same servers, ports included, in the same order. */
static bool
resolver_same_servers(const struct resolver *a, const struct resolver *b)
{
	char	*sa = resolver_ares_servers(a->channel);
	char	*sb = resolver_ares_servers(b->channel);
	bool	 same = sa != NULL && sb != NULL && strcmp(sa, sb) == 0;

	free(sa);
	free(sb);
	return same;
}

struct resolver *
resolver_prepare(struct resolver *r, const struct config *cfg)
{
	return resolver_build(r->w, cfg);
}

void
resolver_abort(struct resolver *next)
{
	if (next != NULL)
		resolver_discard(next);
}

void
resolver_commit(struct resolver **rp, struct resolver *next)
{
	struct resolver	*old = *rp;
	bool		 same_servers, keep;

	same_servers = resolver_same_servers(old, next);
	keep = same_servers && next->cache_size == old->cache_size;
	if (keep && next->timeout_ms == old->timeout_ms &&
	    next->tries == old->tries) {
		/* Same channel; -dns-stale applies at once. */
		old->stale = next->stale;
		resolver_discard(next);
		return;
	}
	/* Only now: new servers bump the shared generation (cache cleared). */
	resolver_attach(next, old->sh);
	log_info("resolver: %s; %zu quer%s in flight finish on the old "
	    "settings", keep ? "-dns-timeout changed, cache kept" :
	    same_servers ? "-dns-cache-size changed, cache flushed" :
	    "DNS servers changed, cache flushed", old->nqueries,
	    old->nqueries == 1 ? "y" : "ies");
	next->retired_list = old->retired_list;
	old->retired_list = NULL;
	if (old->nqueries == 0)
		resolver_destroy(old);
	else {
		old->retired = true;
		old->prev = NULL;
		old->next = next->retired_list;
		if (old->next != NULL)
			old->next->prev = old;
		next->retired_list = old;
	}
	*rp = next;
}

int
resolver_reconfigure(struct resolver **rp, const struct config *cfg)
{
	struct resolver	*next;

	if ((next = resolver_prepare(*rp, cfg)) == NULL)
		return -1;
	resolver_commit(rp, next);
	return 0;
}

void
resolver_timer_touch(struct resolver *r)
{
	resolver_timer_update(r);
}
