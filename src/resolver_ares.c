/*
 * resolver_ares: the only file that knows which c-ares it is built with.
 *
 * c-ares 1.28 added ares_query_dnsrec() and the ares_dns_record_* parser,
 * and 1.24 ares_get_servers_csv(); later releases mark the older calls
 * (ares_query, ares_parse_*_reply, ares_{get,set}_servers_ports)
 * deprecated, which -Werror turns into a failed build.  So each is chosen
 * at build time by ARES_VERSION: Debian 12's 1.18 takes the old branch,
 * Debian 13's 1.34 the new one, and both give resolver.c the same parsed
 * struct rq_answer.  Options that only newer releases have (query cache,
 * DNS 0x20, UDP source port rotation) are tested by their own macros, and
 * how the tries fill -dns-timeout differs too (resolver_ares_schedule).
 */
#include "resolver_int.h"

#include <ares_version.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snid/config.h"
#include "snid/log.h"
#include "snid/util.h"

#define RESOLVER_ARES_NEW_API	(ARES_VERSION >= 0x011c00)	/* 1.28 */
#define RESOLVER_ARES_CSV_GET	(ARES_VERSION >= 0x011800)	/* 1.24 */
/*
 * Until c-ares 1.18 (Debian 12) a retry resends the query (same id) from
 * the same UDP socket with the per-try timeout doubled after each round,
 * and an answer to any earlier try is still taken: resolver_schedule's
 * 285 + 570 + 1140 ms hear whatever comes within the 2 s.  c-ares 1.34
 * (Debian 13) does not: (a) since 1.34.6 (c-ares #1032, and #1197) a try
 * that times out retires its UDP socket, the retry goes out from a new
 * one (a new source port) and the old socket is closed at once, so the
 * answer to an earlier try is dropped by the kernel: only the try in
 * flight can be answered; (b) each retry's timeout is cut by a random
 * 0..50 %, so 3 tries may end after 4/7 of the budget (1.14 s of 2 s);
 * (c) ARES_OPT_TIMEOUTMS is only the first timeout: once c-ares has seen
 * 3 answers from a server it uses 5 times their mean latency, at least
 * 250 ms and at most ARES_OPT_MAXTIMEOUTMS (else 5 s).  Seen with 1.34.9:
 * a server answering each query after 1.5 s was asked 3 times, from 3
 * ports, and its answer to the first came to a closed port; the lookup
 * failed at 1.76 s with "Timeout while contacting DNS servers".
 * So with 1.34: one try per server, its share of -dns-timeout (and
 * MAXTIMEOUTMS so that (c) never stretches it beyond), and when c-ares
 * gives up (ETIMEOUT) with at least its shortest try left, snid asks
 * again (a new query, a new id).  A server c-ares knows nothing of gets
 * the whole budget, so an answer within -dns-timeout is heard; one it
 * knows to be fast gets tries of 5 times its latency, asked again until
 * the budget is spent, so a lost datagram is sent again.  The price: a
 * datagram lost on the way to a server without history is not resent
 * (1.18 would have), and a server known to be fast that is slow this
 * once must answer the question in flight (any recursive resolver
 * answers a repeated question as soon as it has the answer).
 */
#define RESOLVER_ARES_ASK_AGAIN	(ARES_VERSION >= 0x012200)	/* 1.34 */
/* c-ares' shortest try (its MIN_TIMEOUT_MS): not worth asking again in less. */
#define RESOLVER_ARES_MIN_TRY_MS	250

/* Queries sent from one UDP socket before c-ares opens a new one (new source port). */
#define RESOLVER_UDP_MAX_QUERIES	32

/* A query in c-ares' hands. */
struct rq_ctx {
	rq_cb		*cb;
	void		*arg;
	int		 type;
	bool		 submitting;	/* inside resolver_ares_query */
	bool		 done;		/* cb has been called */
	ares_channel	 channel;
	char		*name;		/* to ask again */
	double		 deadline;	/* monotonic s: no new ask after it */
};

static void
rq_ctx_free(struct rq_ctx *x)
{
	free(x->name);
	free(x);
}

/* An answer before its records: c-ares' status, into the caller's srv. */
static void
rq_answer_init(struct rq_answer *a, int type, int status, struct rq_srv *srv)
{
	memset(a, 0, sizeof(*a));
	a->type = type;
	a->status = status;
	a->ttl = UINT32_MAX;
	a->srv = srv;
}

static void
rq_answer_settle(struct rq_answer *a)
{
	if (a->status == ARES_SUCCESS && a->n == 0 && a->nsrv == 0)
		a->status = ARES_ENODATA;	/* only other records (CNAME...) */
}

static void
rq_ctx_answer(struct rq_ctx *x, struct rq_answer *a)
{
	rq_answer_settle(a);
	x->cb(x->arg, a);
	x->done = true;
	if (!x->submitting)
		rq_ctx_free(x);
}

static void
rq_add_addr6(struct rq_answer *a, const void *addr, unsigned ttl)
{
	struct sockaddr_in6	*in6;

	if (a->n >= RESOLVER_MAX_ADDRS)
		return;
	in6 = &a->addrs[a->n++].in6;
	memset(in6, 0, sizeof(*in6));
	in6->sin6_family = AF_INET6;
	memcpy(&in6->sin6_addr, addr, 16);
	if (ttl < a->ttl)
		a->ttl = ttl;
}

static void
rq_add_addr4(struct rq_answer *a, const void *addr, unsigned ttl)
{
	struct sockaddr_in	*in;

	if (a->n >= RESOLVER_MAX_ADDRS)
		return;
	in = &a->addrs[a->n++].in;
	memset(in, 0, sizeof(*in));
	in->sin_family = AF_INET;
	memcpy(&in->sin_addr, addr, 4);
	if (ttl < a->ttl)
		a->ttl = ttl;
}

static void
rq_add_srv(struct rq_answer *a, unsigned prio, unsigned weight,
    unsigned port, const char *host)
{
	struct rq_srv	*s;

	if (a->nsrv >= RESOLVER_SRV_MAX_RECORDS)
		return;
	s = &a->srv[a->nsrv++];
	s->priority = (uint16_t)prio;
	s->weight = (uint16_t)weight;
	s->port = (uint16_t)port;
	snprintf(s->host, sizeof(s->host), "%s", host != NULL ? host : "");
}

#if RESOLVER_ARES_NEW_API

static void
rq_parse(struct rq_answer *a, int type, const ares_dns_record_t *rec)
{
	size_t	i, n;

	n = ares_dns_record_rr_cnt(rec, ARES_SECTION_ANSWER);
	for (i = 0; a->status == ARES_SUCCESS && i < n; i++) {
		const ares_dns_rr_t *rr = ares_dns_record_rr_get_const(rec,
		    ARES_SECTION_ANSWER, i);
		unsigned	ttl = ares_dns_rr_get_ttl(rr);

		if ((int)ares_dns_rr_get_type(rr) != type)
			continue;
		if (type == RQ_AAAA)
			rq_add_addr6(a, ares_dns_rr_get_addr6(rr,
			    ARES_RR_AAAA_ADDR), ttl);
		else if (type == RQ_A)
			rq_add_addr4(a, ares_dns_rr_get_addr(rr,
			    ARES_RR_A_ADDR), ttl);
		else
			rq_add_srv(a, ares_dns_rr_get_u16(rr,
			    ARES_RR_SRV_PRIORITY), ares_dns_rr_get_u16(rr,
			    ARES_RR_SRV_WEIGHT), ares_dns_rr_get_u16(rr,
			    ARES_RR_SRV_PORT), ares_dns_rr_get_str(rr,
			    ARES_RR_SRV_TARGET));
	}
	n = ares_dns_record_rr_cnt(rec, ARES_SECTION_AUTHORITY);
	for (i = 0; i < n; i++) {
		const ares_dns_rr_t *rr = ares_dns_record_rr_get_const(rec,
		    ARES_SECTION_AUTHORITY, i);

		if (ares_dns_rr_get_type(rr) != ARES_REC_TYPE_SOA)
			continue;
		a->has_soa = true;
		a->soa_ttl = ares_dns_rr_get_ttl(rr);
		a->soa_min = ares_dns_rr_get_u32(rr, ARES_RR_SOA_MINIMUM);
		break;
	}
}

/* The records of rec (NULL: none) for a's question and status. */
static void
rq_answer_fill(struct rq_answer *a, const ares_dns_record_t *rec)
{
	if (rec != NULL && (a->status == ARES_SUCCESS ||
	    a->status == ARES_ENODATA || a->status == ARES_ENOTFOUND))
		rq_parse(a, a->type, rec);
}

void
resolver_ares_parse(int type, int status, const unsigned char *abuf,
    size_t alen, struct rq_answer *a)
{
	ares_dns_record_t	*rec = NULL;

	rq_answer_init(a, type, status, a->srv);
	/* c-ares drops a response it cannot parse; its query then fails. */
	if (ares_dns_parse(abuf, alen, 0, &rec) != ARES_SUCCESS) {
		rec = NULL;
		a->status = ARES_EBADRESP;
	}
	rq_answer_fill(a, rec);
	ares_dns_record_destroy(rec);
	rq_answer_settle(a);
}

static void	rq_submit(struct rq_ctx *x);

static void
rq_dnsrec_cb(void *arg, ares_status_t status, size_t timeouts,
    const ares_dns_record_t *rec)
{
	struct rq_ctx		*x = arg;
	struct rq_srv		 srv[RESOLVER_SRV_MAX_RECORDS];
	struct rq_answer	a;

	(void)timeouts;
#if RESOLVER_ARES_ASK_AGAIN
	/* See RESOLVER_ARES_ASK_AGAIN; never from inside our own ask. */
	if (status == ARES_ETIMEOUT && !x->submitting &&
	    util_now() + RESOLVER_ARES_MIN_TRY_MS / 1000. <= x->deadline) {
		rq_submit(x);
		return;
	}
#endif
	rq_answer_init(&a, x->type, (int)status, srv);
	rq_answer_fill(&a, rec);
	rq_ctx_answer(x, &a);
}

/* Hand x to c-ares; x is freed here if it was answered at once. */
static void
rq_submit(struct rq_ctx *x)
{
	ares_status_t	rc;

	x->submitting = true;
	rc = ares_query_dnsrec(x->channel, x->name, ARES_CLASS_IN,
	    (ares_dns_rec_type_t)x->type, rq_dnsrec_cb, x, NULL);
	/* The callback normally reports a failure too; never twice, never lost. */
	if (!x->done && rc != ARES_SUCCESS) {
		struct rq_answer	a;

		memset(&a, 0, sizeof(a));
		a.type = x->type;
		a.status = (int)rc;
		rq_ctx_answer(x, &a);
	}
	if (x->done)
		rq_ctx_free(x);
	else
		x->submitting = false;
}

void
resolver_ares_query(ares_channel channel, const char *name, int type,
    unsigned budget_ms, rq_cb *cb, void *arg)
{
	struct rq_ctx	*x = xcalloc(1, sizeof(*x));

	x->cb = cb;
	x->arg = arg;
	x->type = type;
	x->channel = channel;
	x->name = xstrdup(name);
	x->deadline = util_now() + budget_ms / 1000.;
	rq_submit(x);
}

#else	/* c-ares before 1.28 */

static void
rq_parse(struct rq_answer *a, int type, const unsigned char *abuf, int alen)
{
	int	i, n = RESOLVER_MAX_ADDRS, rc;

	if (type == RQ_AAAA) {
		struct ares_addr6ttl	t[RESOLVER_MAX_ADDRS];

		rc = ares_parse_aaaa_reply(abuf, alen, NULL, t, &n);
		for (i = 0; rc == ARES_SUCCESS && i < n; i++)
			rq_add_addr6(a, &t[i].ip6addr, (unsigned)t[i].ttl);
	} else if (type == RQ_A) {
		struct ares_addrttl	t[RESOLVER_MAX_ADDRS];

		rc = ares_parse_a_reply(abuf, alen, NULL, t, &n);
		for (i = 0; rc == ARES_SUCCESS && i < n; i++)
			rq_add_addr4(a, &t[i].ipaddr, (unsigned)t[i].ttl);
	} else {
		struct ares_srv_reply	*r = NULL, *p;

		rc = ares_parse_srv_reply(abuf, alen, &r);
		for (p = r; rc == ARES_SUCCESS && p != NULL; p = p->next)
			rq_add_srv(a, p->priority, p->weight, p->port, p->host);
		ares_free_data(r);
		/* ares_parse_srv_reply does not say how long: 0 (not cached). */
		a->ttl = 0;
	}
	a->status = rc;
}

/* The records of abuf (NULL: none) for a's question and status. */
static void
rq_answer_fill(struct rq_answer *a, const unsigned char *abuf, int alen)
{
	if (a->status == ARES_SUCCESS && abuf != NULL)
		rq_parse(a, a->type, abuf, alen);
	if ((a->status == ARES_ENODATA || a->status == ARES_ENOTFOUND) &&
	    abuf != NULL && alen > 0)
		a->has_soa = dnscache_find_soa(abuf, (size_t)alen, &a->soa_ttl,
		    &a->soa_min);
}

static void
rq_abuf_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct rq_ctx		*x = arg;
	struct rq_srv		 srv[RESOLVER_SRV_MAX_RECORDS];
	struct rq_answer	a;

	(void)timeouts;
	rq_answer_init(&a, x->type, status, srv);
	rq_answer_fill(&a, abuf, alen);
	rq_ctx_answer(x, &a);
}

void
resolver_ares_parse(int type, int status, const unsigned char *abuf,
    size_t alen, struct rq_answer *a)
{
	rq_answer_init(a, type, status, a->srv);
	if (alen <= INT_MAX)
		rq_answer_fill(a, abuf, (int)alen);
	rq_answer_settle(a);
}

void
resolver_ares_query(ares_channel channel, const char *name, int type,
    unsigned budget_ms, rq_cb *cb, void *arg)
{
	struct rq_ctx	*x = xcalloc(1, sizeof(*x));

	(void)budget_ms;	/* c-ares' own schedule fills it */
	x->cb = cb;
	x->arg = arg;
	x->type = type;
	x->submitting = true;
	ares_query(channel, name, 1 /* IN */, type, rq_abuf_cb, x);
	if (x->done)
		rq_ctx_free(x);
	else
		x->submitting = false;
}

#endif

#if RESOLVER_ARES_CSV_GET

char *
resolver_ares_servers(ares_channel channel)
{
	char	*s = ares_get_servers_csv(channel), *copy;

	if (s == NULL)
		return NULL;
	copy = xstrdup(s);
	ares_free_string(s);
	return copy;
}

unsigned
resolver_ares_count_default_servers(void)
{
	struct ares_options	 o;
	ares_channel		 ch;
	char			*s;
	unsigned		 n = 1;

	memset(&o, 0, sizeof(o));
	o.flags = ARES_FLAG_NOSEARCH;
	if (ares_init_options(&ch, &o, ARES_OPT_FLAGS) != ARES_SUCCESS)
		return 1;
	if ((s = resolver_ares_servers(ch)) != NULL)
		for (const char *p = s; *p != '\0'; p++)
			n += *p == ',';
	free(s);
	ares_destroy(ch);
	return n;
}

#else

char *
resolver_ares_servers(ares_channel channel)
{
	struct ares_addr_port_node	*list = NULL, *x;
	char				*s = NULL, buf[128], addr[64];
	size_t				 len = 0;

	if (ares_get_servers_ports(channel, &list) != ARES_SUCCESS)
		return NULL;
	s = xstrdup("");
	for (x = list; x != NULL; x = x->next) {
		ares_inet_ntop(x->family, &x->addr, addr, sizeof(addr));
		snprintf(buf, sizeof(buf), "%s[%s]:%d/%d", len > 0 ? "," : "",
		    addr, x->udp_port, x->tcp_port);
		s = xrealloc(s, len + strlen(buf) + 1);
		strcpy(s + len, buf);
		len += strlen(buf);
	}
	ares_free_data(list);
	return s;
}

unsigned
resolver_ares_count_default_servers(void)
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

#endif

/*
 * -dns-server's list as "[addr]:port,..." for ares_set_servers_ports_csv,
 * which every supported c-ares has and none deprecates.
 */
int
resolver_ares_set_servers(ares_channel channel, const struct config *cfg)
{
	char	csv[CONFIG_MAX_DNS_SERVERS * 64], addr[64];
	size_t	i, len = 0;
	int	rc;

	csv[0] = '\0';
	for (i = 0; i < cfg->n_dns_servers; i++) {
		const struct sockaddr *sa =
		    (const struct sockaddr *)&cfg->dns_servers[i];
		unsigned	port;

		if (sa->sa_family == AF_INET) {
			const struct sockaddr_in *in =
			    (const struct sockaddr_in *)sa;

			ares_inet_ntop(AF_INET, &in->sin_addr, addr,
			    sizeof(addr));
			port = ntohs(in->sin_port);
			len += (size_t)snprintf(csv + len, sizeof(csv) - len,
			    "%s%s:%u", i > 0 ? "," : "", addr, port);
		} else {
			const struct sockaddr_in6 *in6 =
			    (const struct sockaddr_in6 *)sa;

			ares_inet_ntop(AF_INET6, &in6->sin6_addr, addr,
			    sizeof(addr));
			port = ntohs(in6->sin6_port);
			len += (size_t)snprintf(csv + len, sizeof(csv) - len,
			    "%s[%s]:%u", i > 0 ? "," : "", addr, port);
		}
		if (len >= sizeof(csv))
			break;
	}
	rc = ares_set_servers_ports_csv(channel, csv);
	if (rc != ARES_SUCCESS) {
		log_error("resolver: setting the DNS servers (%s): %s", csv,
		    ares_strerror(rc));
		return -1;
	}
	return 0;
}

void
resolver_ares_schedule(unsigned budget_ms, unsigned nservers,
    struct ares_options *o, int *optmask)
{
#if RESOLVER_ARES_ASK_AGAIN
	/* One try per server, each its share; see RESOLVER_ARES_ASK_AGAIN. */
	if (nservers == 0)
		nservers = 1;
	o->timeout = (int)(budget_ms / nservers);
	if (o->timeout < 1)
		o->timeout = 1;
	o->tries = 1;
	o->maxtimeout = o->timeout;
	*optmask |= ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_MAXTIMEOUTMS;
#else
	resolver_schedule(budget_ms, nservers, &o->timeout, &o->tries);
	*optmask |= ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
#endif
}

void
resolver_ares_harden(struct ares_options *o, int *optmask)
{
#ifdef ARES_OPT_QUERY_CACHE
	/*
	 * c-ares 1.23+ can cache answers itself (on by default since 1.31)
	 * and then answers from inside ares_query.  snid has its own cache
	 * (negative entries, serve-stale, metrics): one cache, ours.
	 */
	o->qcache_max_ttl = 0;
	*optmask |= ARES_OPT_QUERY_CACHE;
#endif
#ifdef ARES_OPT_UDP_MAX_QUERIES
	/* A new UDP socket, so a new source port, every few queries. */
	o->udp_max_queries = RESOLVER_UDP_MAX_QUERIES;
	*optmask |= ARES_OPT_UDP_MAX_QUERIES;
#endif
#ifdef ARES_FLAG_DNS0x20
	/* Random case in the question: one more thing a spoofer must guess. */
	o->flags |= ARES_FLAG_DNS0x20;
#endif
	(void)o;
	(void)optmask;
}
