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
 * DNS 0x20, UDP source port rotation) are tested by their own macros.
 */
#include "resolver_int.h"

#include <ares_version.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snid/config.h"
#include "snid/log.h"

#define RESOLVER_ARES_NEW_API	(ARES_VERSION >= 0x011c00)	/* 1.28 */
#define RESOLVER_ARES_CSV_GET	(ARES_VERSION >= 0x011800)	/* 1.24 */

/* Queries sent from one UDP socket before c-ares opens a new one (new source port). */
#define RESOLVER_UDP_MAX_QUERIES	32

/* A query in c-ares' hands. */
struct rq_ctx {
	rq_cb		*cb;
	void		*arg;
	int		 type;
	bool		 submitting;	/* inside resolver_ares_query */
	bool		 done;		/* cb has been called */
};

static void
rq_ctx_answer(struct rq_ctx *x, struct rq_answer *a)
{
	if (a->status == ARES_SUCCESS && a->n == 0 && a->nsrv == 0)
		a->status = ARES_ENODATA;	/* only other records (CNAME...) */
	x->cb(x->arg, a);
	x->done = true;
	if (!x->submitting)
		free(x);
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

static void
rq_dnsrec_cb(void *arg, ares_status_t status, size_t timeouts,
    const ares_dns_record_t *rec)
{
	struct rq_ctx		*x = arg;
	struct rq_srv		 srv[RESOLVER_SRV_MAX_RECORDS];
	struct rq_answer	a;

	(void)timeouts;
	memset(&a, 0, sizeof(a));
	a.type = x->type;
	a.status = (int)status;
	a.ttl = UINT32_MAX;
	a.srv = srv;
	if (rec != NULL && (status == ARES_SUCCESS ||
	    status == ARES_ENODATA || status == ARES_ENOTFOUND))
		rq_parse(&a, x->type, rec);
	rq_ctx_answer(x, &a);
}

void
resolver_ares_query(ares_channel channel, const char *name, int type,
    rq_cb *cb, void *arg)
{
	struct rq_ctx	*x = xcalloc(1, sizeof(*x));
	ares_status_t	 rc;

	x->cb = cb;
	x->arg = arg;
	x->type = type;
	x->submitting = true;
	rc = ares_query_dnsrec(channel, name, ARES_CLASS_IN,
	    (ares_dns_rec_type_t)type, rq_dnsrec_cb, x, NULL);
	/* The callback normally reports a failure too; never twice, never lost. */
	if (!x->done && rc != ARES_SUCCESS) {
		struct rq_answer	a;

		memset(&a, 0, sizeof(a));
		a.type = x->type;
		a.status = (int)rc;
		rq_ctx_answer(x, &a);
	}
	if (x->done)
		free(x);
	else
		x->submitting = false;
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

static void
rq_abuf_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct rq_ctx		*x = arg;
	struct rq_srv		 srv[RESOLVER_SRV_MAX_RECORDS];
	struct rq_answer	a;

	(void)timeouts;
	memset(&a, 0, sizeof(a));
	a.type = x->type;
	a.status = status;
	a.ttl = UINT32_MAX;
	a.srv = srv;
	if (status == ARES_SUCCESS && abuf != NULL)
		rq_parse(&a, x->type, abuf, alen);
	if ((a.status == ARES_ENODATA || a.status == ARES_ENOTFOUND) &&
	    abuf != NULL && alen > 0)
		a.has_soa = dnscache_find_soa(abuf, (size_t)alen, &a.soa_ttl,
		    &a.soa_min);
	rq_ctx_answer(x, &a);
}

void
resolver_ares_query(ares_channel channel, const char *name, int type,
    rq_cb *cb, void *arg)
{
	struct rq_ctx	*x = xcalloc(1, sizeof(*x));

	x->cb = cb;
	x->arg = arg;
	x->type = type;
	x->submitting = true;
	ares_query(channel, name, 1 /* IN */, type, rq_abuf_cb, x);
	if (x->done)
		free(x);
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
