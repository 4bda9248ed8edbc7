/*
 * resolver: c-ares on the worker's libev loop.
 *
 * c-ares tells us which sockets it wants watched (sock_state_cb); each gets
 * an ev_io, and one ev_timer follows ares_timeout() so retransmissions and
 * timeouts happen without a thread or a blocking call.
 */
#include "snid/resolver.h"

#include <ares.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "snid/config.h"
#include "snid/hostname.h"
#include "snid/log.h"
#include "snid/worker.h"

/* One watched c-ares socket. */
struct resolver_sock {
	ev_io			 io;
	struct resolver		*r;
	struct resolver_sock	*next;
};

/*
 * A small cache of positive answers, per worker, so that a busy name costs
 * one DNS exchange per TTL instead of one per connection (nginx's and
 * HAProxy's resolvers cache too).  Direct-mapped by a hash of the name: a
 * collision simply replaces the older entry, so the memory is fixed and a
 * flood of distinct names cannot grow it.  Only complete, successful
 * answers are kept, for their smallest TTL capped at
 * RESOLVER_CACHE_MAX_TTL; the allow-list is applied to every use, so a
 * cached answer is checked exactly like a fresh one.
 */
#define RESOLVER_CACHE_SLOTS	256
#define RESOLVER_CACHE_ADDRS	8
#define RESOLVER_CACHE_MAX_TTL	300

struct resolver_cache_entry {
	ev_tstamp		expires;	/* 0: empty */
	bool			want_a;
	uint8_t			n;
	char			name[HOSTNAME_MAX + 1];
	union sockaddr_inet	addrs[RESOLVER_CACHE_ADDRS];
};

struct resolver {
	struct worker		*w;
	ares_channel		 channel;
	ev_timer		 timer;
	struct resolver_sock	*socks;
	bool			 destroying;
	struct resolver_cache_entry *cache;	/* RESOLVER_CACHE_SLOTS entries */
	int			 timeout_ms, tries;	/* c-ares' schedule, to tell a change */
	size_t			 nlookups;	/* lookup records alive on this channel */
	/*
	 * Reload: a resolver replaced by resolver_reconfigure() is "retired":
	 * it takes no new lookup but lives on until the last of its records
	 * is done, so a conn in RESOLVE keeps its lookup.  The current
	 * resolver heads the list of retired ones (prev/next link them).
	 */
	bool			 retired;
	struct resolver		*retired_list;	/* current resolver: the retired ones */
	struct resolver		*prev, *next;	/* retired resolver: its neighbours */
	uint64_t		 rng;		/* SRV weights: splitmix64 state, seeded once */
};

/*
 * One lookup.  c-ares 1.18 cannot cancel a single query (ares_cancel
 * cancels every query of the channel), so a client that goes away while its
 * lookup runs cannot take the query with it.  Instead the conn detaches:
 * resolver_cancel() sets cb to NULL, and the record, not the conn, is what
 * c-ares' callbacks point at.  The record lives until the last of its
 * queries (AAAA, maybe A) has called back, which c-ares guarantees within
 * its timeout schedule or at ares_destroy().  A conn's memory is therefore
 * never touched after it is freed, whatever the DNS server does.
 */
struct lookup {
	struct resolver		*r;
	resolver_cb		*cb;		/* NULL: cancelled */
	void			*arg;
	int			 pending;	/* queries not yet answered */
	bool			 submitting;	/* inside resolver_lookup's ares_query calls */
	int			 status[2];	/* ARES_* of the AAAA / A query */
	int			 ttl;		/* smallest TTL of the answers */
	bool			 want_a;
	char			 name[HOSTNAME_MAX + 1];	/* for the cache */
	size_t			 n[2];
	union sockaddr_inet	 addrs[2][RESOLVER_MAX_ADDRS];
	/*
	 * SRV: a parent record (srv set) has one SRV query, then one child
	 * lookup per target; pending counts whichever is outstanding.  A
	 * child is internal: it reports to its parent even while the channel
	 * is destroyed, so the parent always learns that its last child is
	 * done and frees itself.
	 */
	struct lookup_srv	*srv;
	bool			 internal;
};

/* One SRV target of a parent lookup: its place in SRV order and its addresses. */
struct srv_target {
	struct lookup		*parent;
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
	size_t			 ntargets;
	struct srv_target	 t[RESOLVER_SRV_MAX_TARGETS];
};

#define LOOKUP_AAAA	0
#define LOOKUP_A	1

static void	resolver_timer_update(struct resolver *r);
static bool	resolver_retired_done(struct resolver *r);

/* The slot of (name, want_a): FNV-1a. */
static struct resolver_cache_entry *
resolver_cache_slot(struct resolver *r, const char *name, bool want_a)
{
	uint32_t	h = 2166136261u;

	for (const char *p = name; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	h = (h ^ (want_a ? 1u : 0u)) * 16777619u;
	return &r->cache[h % RESOLVER_CACHE_SLOTS];
}

/* A live entry for (name, want_a), or NULL. */
static const struct resolver_cache_entry *
resolver_cache_get(struct resolver *r, const char *name, bool want_a)
{
	const struct resolver_cache_entry *e =
	    resolver_cache_slot(r, name, want_a);

	if (e->expires == 0 || e->want_a != want_a ||
	    strcmp(e->name, name) != 0)
		return NULL;
	if (e->expires <= ev_now(r->w->loop))
		return NULL;
	return e;
}

static void
resolver_cache_put(struct resolver *r, const char *name, bool want_a,
    int ttl, const struct resolver_result *res)
{
	struct resolver_cache_entry	*e;
	size_t				 n = res->n;

	if (ttl <= 0 || n == 0 || strlen(name) > HOSTNAME_MAX)
		return;
	if (ttl > RESOLVER_CACHE_MAX_TTL)
		ttl = RESOLVER_CACHE_MAX_TTL;
	if (n > RESOLVER_CACHE_ADDRS)
		n = RESOLVER_CACHE_ADDRS;
	e = resolver_cache_slot(r, name, want_a);
	e->expires = ev_now(r->w->loop) + ttl;
	e->want_a = want_a;
	e->n = (uint8_t)n;
	strcpy(e->name, name);
	memcpy(e->addrs, res->addrs, n * sizeof(e->addrs[0]));
}

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

/* How many servers a default (resolv.conf) channel would use. */
static unsigned
resolver_count_default_servers(void)
{
	struct ares_options		 o;
	ares_channel			 ch;
	struct ares_addr_port_node	*servers = NULL, *s;
	unsigned			 n = 0;

	memset(&o, 0, sizeof(o));
	o.flags = ARES_FLAG_NOSEARCH;
	if (ares_init_options(&ch, &o, ARES_OPT_FLAGS) != ARES_SUCCESS)
		return 1;
	if (ares_get_servers_ports(ch, &servers) == ARES_SUCCESS)
		for (s = servers; s != NULL; s = s->next)
			n++;
	ares_free_data(servers);
	ares_destroy(ch);
	return n != 0 ? n : 1;
}

/* Hand -dns-server's list (with ports) to the channel. */
static int
resolver_set_servers(struct resolver *r, const struct config *cfg)
{
	struct ares_addr_port_node	nodes[CONFIG_MAX_DNS_SERVERS];
	size_t				i;
	int				rc;

	memset(nodes, 0, sizeof(nodes));
	for (i = 0; i < cfg->n_dns_servers; i++) {
		const struct sockaddr	*sa =
		    (const struct sockaddr *)&cfg->dns_servers[i];
		struct ares_addr_port_node *n = &nodes[i];

		n->next = i + 1 < cfg->n_dns_servers ? &nodes[i + 1] : NULL;
		n->family = sa->sa_family;
		if (sa->sa_family == AF_INET) {
			const struct sockaddr_in *in =
			    (const struct sockaddr_in *)sa;

			n->addr.addr4 = in->sin_addr;
			n->udp_port = n->tcp_port = ntohs(in->sin_port);
		} else {
			const struct sockaddr_in6 *in6 =
			    (const struct sockaddr_in6 *)sa;

			memcpy(&n->addr.addr6, &in6->sin6_addr, 16);
			n->udp_port = n->tcp_port = ntohs(in6->sin6_port);
		}
	}
	rc = ares_set_servers_ports(r->channel, nodes);
	if (rc != ARES_SUCCESS) {
		log_error("resolver: setting the DNS servers: %s",
		    ares_strerror(rc));
		return -1;
	}
	return 0;
}

/* A resolver for cfg's DNS settings (cfg need not be w's yet). */
static struct resolver *
resolver_make(struct worker *w, const struct config *cfg)
{
	struct resolver		*r;
	struct ares_options	 o;
	unsigned		 nservers, budget_ms;
	int			 rc;

	nservers = cfg->n_dns_servers > 0 ? (unsigned)cfg->n_dns_servers :
	    resolver_count_default_servers();
	budget_ms = cfg->dns_timeout > 0 ? (unsigned)(cfg->dns_timeout * 1000) :
	    2000;

	r = xcalloc(1, sizeof(*r));
	r->w = w;
	r->cache = xcalloc(RESOLVER_CACHE_SLOTS, sizeof(*r->cache));
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
	resolver_schedule(budget_ms, nservers, &o.timeout, &o.tries);
	rc = ares_init_options(&r->channel, &o, ARES_OPT_FLAGS |
	    ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
	if (rc != ARES_SUCCESS) {
		log_error("resolver: ares_init_options: %s", ares_strerror(rc));
		free(r->cache);
		free(r);
		return NULL;
	}
	ev_timer_init(&r->timer, resolver_timer_cb, 0., 0.);
	r->timer.data = r;
	if (cfg->n_dns_servers > 0 && resolver_set_servers(r, cfg) == -1) {
		ares_destroy(r->channel);
		free(r->cache);
		free(r);
		return NULL;
	}
	r->timeout_ms = o.timeout;
	r->tries = o.tries;
	/* Only SRV weights use it: unpredictable is nice, not vital. */
	if (getrandom(&r->rng, sizeof(r->rng), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(r->rng))
		r->rng = (uint64_t)(ev_time() * 1e6) ^ (uint64_t)(uintptr_t)r;
	log_debug("resolver: %u server(s), %d ms per try, %d round(s)",
	    nservers, o.timeout, o.tries);
	return r;
}

struct resolver *
resolver_new(struct worker *w)
{
	return resolver_make(w, w->cfg);
}

/* Destroy one resolver's channel, sockets and cache (not its retired list). */
static void
resolver_destroy(struct resolver *r)
{
	struct resolver_sock	*s;

	/*
	 * ares_destroy calls every pending query's callback with
	 * ARES_EDESTRUCTION, which frees the lookup records (their callers
	 * have all been detached by then) and closes the sockets through
	 * sock_state_cb.
	 */
	r->destroying = true;
	ev_timer_stop(r->w->loop, &r->timer);
	ares_destroy(r->channel);
	while ((s = r->socks) != NULL) {
		r->socks = s->next;
		ev_io_stop(r->w->loop, &s->io);
		free(s);
	}
	free(r->cache);
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
 * A retired resolver whose last lookup just finished goes now.  Called from
 * its own io/timer callbacks after ares_process_fd() has returned, never
 * from inside c-ares.  Returns true when r was freed.
 */
static bool
resolver_retired_done(struct resolver *r)
{
	if (!r->retired || r->nlookups > 0)
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
	struct ares_addr_port_node	*la = NULL, *lb = NULL, *x, *y;
	bool				 same = false;

	if (ares_get_servers_ports(a->channel, &la) != ARES_SUCCESS ||
	    ares_get_servers_ports(b->channel, &lb) != ARES_SUCCESS)
		goto out;
	for (x = la, y = lb; x != NULL && y != NULL; x = x->next, y = y->next)
		if (x->family != y->family || x->udp_port != y->udp_port ||
		    x->tcp_port != y->tcp_port ||
		    memcmp(&x->addr, &y->addr, x->family == AF_INET ?
		    sizeof(x->addr.addr4) : sizeof(x->addr.addr6)) != 0)
			goto out;
	same = x == NULL && y == NULL;
out:
	ares_free_data(la);
	ares_free_data(lb);
	return same;
}

int
resolver_reconfigure(struct resolver **rp, const struct config *cfg)
{
	struct resolver	*old = *rp, *r;
	bool		 same_servers;

	r = resolver_make(old->w, cfg);
	if (r == NULL)
		return -1;
	same_servers = resolver_same_servers(old, r);
	if (same_servers && r->timeout_ms == old->timeout_ms &&
	    r->tries == old->tries) {
		resolver_destroy(r);
		return 0;
	}
	if (same_servers)
		/* Only the schedule changed: the answers are as good as before. */
		memcpy(r->cache, old->cache, RESOLVER_CACHE_SLOTS *
		    sizeof(*r->cache));
	log_info("resolver: %s; %zu lookup(s) in progress finish on the old "
	    "settings", same_servers ? "-dns-timeout changed" :
	    "DNS servers changed, cache flushed", old->nlookups);
	r->retired_list = old->retired_list;
	old->retired_list = NULL;
	if (old->nlookups == 0)
		resolver_destroy(old);
	else {
		old->retired = true;
		old->prev = NULL;
		old->next = r->retired_list;
		if (old->next != NULL)
			old->next->prev = old;
		r->retired_list = old;
	}
	*rp = r;
	return 0;
}

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

/* Combine both answers into res (addrs points into the caller's array): AAAA first, then A. */
static void
lookup_result(const struct lookup *l, union sockaddr_inet *addrs,
    struct resolver_result *res)
{
	enum resolver_status	st[2];
	int			i;

	memset(res, 0, sizeof(*res));
	for (i = 0; i < 2; i++) {
		memcpy(&addrs[res->n], l->addrs[i], l->n[i] * sizeof(addrs[0]));
		res->n += l->n[i];
		st[i] = resolver_map_status(l->status[i]);
	}
	res->addrs = addrs;
	if (res->n > 0)
		res->status = RESOLVER_OK;
	else if (st[LOOKUP_AAAA] == RESOLVER_ERROR ||
	    st[LOOKUP_A] == RESOLVER_ERROR) {
		/* One failed and the other had nothing: the name may well exist. */
		res->status = RESOLVER_ERROR;
	} else
		res->status = RESOLVER_NXDOMAIN;
	i = st[LOOKUP_AAAA] == RESOLVER_ERROR ? LOOKUP_AAAA : LOOKUP_A;
	res->detail = ares_strerror(l->status[i]);
	res->timeout = res->status == RESOLVER_ERROR &&
	    l->status[i] == ARES_ETIMEOUT;
}

/* Whether no part of the answer failed (a missing type is fine): only such answers are cached. */
static bool
lookup_complete(const struct lookup *l)
{
	return resolver_map_status(l->status[LOOKUP_AAAA]) != RESOLVER_ERROR &&
	    resolver_map_status(l->status[LOOKUP_A]) != RESOLVER_ERROR;
}

/* A query's answer (or failure). */
static void
lookup_answer_cb(void *arg, int status, int timeouts, unsigned char *abuf,
    int alen, int type)
{
	struct lookup	*l = arg;
	int		 idx = type == ns_t_aaaa ? LOOKUP_AAAA : LOOKUP_A;

	(void)timeouts;
	l->pending--;
	l->status[idx] = status;
	/* Parsed even when cancelled: the answer still fills the cache. */
	if (status == ARES_SUCCESS) {
		if (type == ns_t_aaaa) {
			struct ares_addr6ttl	ttls[RESOLVER_MAX_ADDRS];
			int			n = RESOLVER_MAX_ADDRS;

			status = ares_parse_aaaa_reply(abuf, alen, NULL, ttls,
			    &n);
			for (int i = 0; status == ARES_SUCCESS && i < n; i++) {
				struct sockaddr_in6 *in6 = &l->addrs[idx][i].in6;

				if (ttls[i].ttl < l->ttl)
					l->ttl = ttls[i].ttl;
				memset(in6, 0, sizeof(*in6));
				in6->sin6_family = AF_INET6;
				memcpy(&in6->sin6_addr, &ttls[i].ip6addr, 16);
				l->n[idx]++;
			}
		} else {
			struct ares_addrttl	ttls[RESOLVER_MAX_ADDRS];
			int			n = RESOLVER_MAX_ADDRS;

			status = ares_parse_a_reply(abuf, alen, NULL, ttls, &n);
			for (int i = 0; status == ARES_SUCCESS && i < n; i++) {
				struct sockaddr_in *in = &l->addrs[idx][i].in;

				if (ttls[i].ttl < l->ttl)
					l->ttl = ttls[i].ttl;
				memset(in, 0, sizeof(*in));
				in->sin_family = AF_INET;
				in->sin_addr = ttls[i].ipaddr;
				l->n[idx]++;
			}
		}
		l->status[idx] = status;
	}
	/* resolver_lookup reports a result that came before it returned. */
	if (l->pending > 0 || l->submitting)
		return;
	{
		union sockaddr_inet	addrs[2 * RESOLVER_MAX_ADDRS];
		struct resolver_result	res;

		lookup_result(l, addrs, &res);
		if (lookup_complete(l) && !l->r->destroying)
			resolver_cache_put(l->r, l->name, l->want_a, l->ttl,
			    &res);
		/*
		 * resolver_free: the channel is going, and so are its callers;
		 * an SRV child still tells its parent, which frees itself.
		 */
		if (l->cb != NULL && (!l->r->destroying || l->internal))
			l->cb(l->arg, &res);
	}
	/* A retired resolver is freed by its io/timer callback, once out of c-ares. */
	l->r->nlookups--;
	free(l);
}

static void
lookup_aaaa_cb(void *arg, int status, int timeouts, unsigned char *abuf,
    int alen)
{
	lookup_answer_cb(arg, status, timeouts, abuf, alen, ns_t_aaaa);
}

static void
lookup_a_cb(void *arg, int status, int timeouts, unsigned char *abuf,
    int alen)
{
	lookup_answer_cb(arg, status, timeouts, abuf, alen, ns_t_a);
}

struct lookup *
resolver_lookup(struct resolver *r, const char *name, bool want_a,
    resolver_cb *cb, void *arg, struct resolver_result *now)
{
	const struct resolver_cache_entry *e;
	struct lookup		*l;

	memset(now, 0, sizeof(*now));
	e = resolver_cache_get(r, name, want_a);
	if (e != NULL) {
		now->status = RESOLVER_OK;
		now->detail = "cached";
		now->n = e->n;
		now->addrs = e->addrs;
		return NULL;
	}
	if (strlen(name) > HOSTNAME_MAX) {
		now->status = RESOLVER_ERROR;
		now->detail = "name too long";
		return NULL;
	}
	l = xmalloc(sizeof(*l));
	r->nlookups++;
	l->r = r;
	l->cb = cb;
	l->arg = arg;
	l->n[0] = l->n[1] = 0;
	l->ttl = INT_MAX;
	l->want_a = want_a;
	l->srv = NULL;
	l->internal = false;
	strcpy(l->name, name);
	/* A type not asked for counts as "no data", which never hides the other's answer. */
	l->status[LOOKUP_AAAA] = l->status[LOOKUP_A] = ARES_ENODATA;
	l->pending = want_a ? 2 : 1;
	/*
	 * c-ares calls back from inside ares_query when a query fails at once
	 * (no usable server, a name it cannot encode).  Calling the caller's
	 * cb from inside its own call would make it re-enter itself, so while
	 * submitting, a finished lookup is only recorded and reported through
	 * *now instead.
	 */
	l->submitting = true;
	ares_query(r->channel, name, ns_c_in, ns_t_aaaa, lookup_aaaa_cb, l);
	if (want_a)
		ares_query(r->channel, name, ns_c_in, ns_t_a, lookup_a_cb, l);
	l->submitting = false;
	if (l->pending == 0) {
		union sockaddr_inet	addrs[2 * RESOLVER_MAX_ADDRS];
		struct resolver_result	res;

		lookup_result(l, addrs, &res);
		now->status = res.status == RESOLVER_OK ? RESOLVER_ERROR :
		    res.status;
		now->detail = res.detail;
		r->nlookups--;
		free(l);
		return NULL;
	}
	resolver_timer_update(r);
	return l;
}

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

/* The SRV lookup is over: report it (unless cancelled) and free it. */
static void
lookup_srv_finish(struct lookup *l)
{
	struct lookup_srv	*s = l->srv;
	union sockaddr_inet	 addrs[RESOLVER_SRV_MAX_TARGETS *
				    RESOLVER_SRV_TARGET_ADDRS];
	struct resolver_result	 res;
	bool			 error = false, timeout = false;
	const char		*detail = NULL;

	memset(&res, 0, sizeof(res));
	res.srv = true;
	res.addrs = addrs;
	if (s->status != ARES_SUCCESS) {
		res.status = resolver_map_status(s->status);
		res.detail = ares_strerror(s->status);
		res.timeout = s->status == ARES_ETIMEOUT;
	} else {
		/* Targets in SRV order, each target's addresses in its order. */
		for (size_t i = 0; i < s->ntargets; i++) {
			const struct srv_target *t = &s->t[i];

			memcpy(&addrs[res.n], t->addrs, t->n * sizeof(addrs[0]));
			res.n += t->n;
			if (t->status == RESOLVER_ERROR) {
				error = true;
				timeout |= t->timeout;
				detail = t->detail;
			}
		}
		if (res.n > 0) {
			res.status = RESOLVER_OK;
			res.detail = "SRV";
		} else if (error) {
			/* Like a plain lookup: a failed part may hide an address. */
			res.status = RESOLVER_ERROR;
			res.detail = detail;
			res.timeout = timeout;
		} else {
			res.status = RESOLVER_NXDOMAIN;
			res.detail = s->ntargets == 0 ? s->detail :
			    "no SRV target has an address";
		}
	}
	if (l->cb != NULL && !l->r->destroying)
		l->cb(l->arg, &res);
	l->r->nlookups--;
	free(s);
	free(l);
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

	srv_target_set(t, res);
	if (--l->pending == 0)
		lookup_srv_finish(l);
}

/*
 * Turn the SRV answer into targets in RFC 2782 order, and look up the
 * addresses of the first RESOLVER_SRV_MAX_TARGETS of them, all at once:
 * the whole resolution has one bound (the conn's -dns-timeout), so
 * targets are not waited for one after the other.
 */
static void
lookup_srv_targets(struct lookup *l, const struct ares_srv_reply *replies)
{
	struct lookup_srv		*s = l->srv;
	struct resolver_srv		 recs[RESOLVER_SRV_MAX_RECORDS];
	char				 names[RESOLVER_SRV_MAX_RECORDS][HOSTNAME_MAX + 1];
	const struct ares_srv_reply	*p;
	size_t				 n = 0, i, j;
	bool				 dot = false;

	for (p = replies; p != NULL && n < RESOLVER_SRV_MAX_RECORDS; p = p->next) {
		/*
		 * RFC 2782: the target "." means the service is decidedly
		 * not available at this domain (c-ares spells it "").
		 */
		if (p->host[0] == '\0' || strcmp(p->host, ".") == 0) {
			dot = true;
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
	if (n == 0) {
		s->detail = dot ? "SRV target \".\": service not available" :
		    "no usable SRV target";
		return;
	}
	resolver_srv_order(recs, n, &l->r->rng);
	if (n > RESOLVER_SRV_MAX_TARGETS)
		n = RESOLVER_SRV_MAX_TARGETS;
	s->ntargets = n;
	/* Counted before any child starts: a child answered at once must not end l early. */
	l->pending += (int)n;
	for (i = 0; i < n; i++) {
		struct srv_target	*t = &s->t[i];
		struct resolver_result	 now;
		struct lookup		*child;

		t->parent = l;
		t->port = recs[i].port;
		log_debug("SRV: %s:%u (priority %u, weight %u)", recs[i].target,
		    recs[i].port, recs[i].priority, recs[i].weight);
		child = resolver_lookup(l->r, recs[i].target, l->want_a,
		    srv_target_cb, t, &now);
		if (child != NULL)
			child->internal = true;
		else {
			/* Cached (now.addrs valid until the next call) or failed at once. */
			srv_target_set(t, &now);
			l->pending--;
		}
	}
}

/* The SRV query's answer (or failure). */
static void
lookup_srv_cb(void *arg, int status, int timeouts, unsigned char *abuf,
    int alen)
{
	struct lookup		*l = arg;
	struct ares_srv_reply	*replies = NULL;

	(void)timeouts;
	l->pending--;
	if (status == ARES_SUCCESS) {
		status = ares_parse_srv_reply(abuf, alen, &replies);
		/* A reply of other records only: no SRV data, like NODATA. */
		if (status == ARES_SUCCESS && replies == NULL)
			status = ARES_ENODATA;
	}
	l->srv->status = status;
	/* resolver_lookup_srv reports a failure that came before it returned. */
	if (l->submitting) {
		ares_free_data(replies);
		return;
	}
	/* Nobody waits any more, or the channel is going: no need for the targets. */
	if (status == ARES_SUCCESS && l->cb != NULL && !l->r->destroying)
		lookup_srv_targets(l, replies);
	ares_free_data(replies);
	if (l->pending == 0)
		lookup_srv_finish(l);
}

struct lookup *
resolver_lookup_srv(struct resolver *r, const char *qname, bool want_a,
    resolver_cb *cb, void *arg, struct resolver_result *now)
{
	struct lookup	*l;

	memset(now, 0, sizeof(*now));
	now->srv = true;
	if (strlen(qname) > HOSTNAME_MAX) {
		/* No such record can exist: a DNS name has at most 253 characters. */
		now->status = RESOLVER_NXDOMAIN;
		now->detail = "SRV name too long";
		return NULL;
	}
	l = xcalloc(1, sizeof(*l));
	l->srv = xcalloc(1, sizeof(*l->srv));
	r->nlookups++;
	l->r = r;
	l->cb = cb;
	l->arg = arg;
	l->want_a = want_a;
	l->pending = 1;
	/* As in resolver_lookup: c-ares may call back from inside ares_query. */
	l->submitting = true;
	ares_query(r->channel, qname, ns_c_in, ns_t_srv, lookup_srv_cb, l);
	l->submitting = false;
	if (l->pending == 0) {
		now->status = resolver_map_status(l->srv->status);
		if (now->status == RESOLVER_OK)
			now->status = RESOLVER_ERROR;
		now->detail = ares_strerror(l->srv->status);
		r->nlookups--;
		free(l->srv);
		free(l);
		return NULL;
	}
	resolver_timer_update(r);
	return l;
}

void
resolver_cancel(struct lookup *l)
{
	if (l == NULL)
		return;
	l->cb = NULL;
	l->arg = NULL;
}
