/*
 * libFuzzer target for the resolver's answer handling: the input is a raw
 * DNS response, handed to resolver_ares_parse (what resolver_ares_query's
 * callback does with c-ares' answer, with whichever c-ares parser the
 * build has) and, for SRV, to resolver_srv_records and resolver_srv_order
 * (what an SRV lookup does before it looks up the targets).  The question
 * type is the message's own if it is AAAA, A or SRV (c-ares only hands a
 * response to the query whose question it repeats), else chosen by the
 * message id.  The status is the one c-ares 1.18 derives from the header
 * (rcode, answer count).  The message is copied to exactly its size, so
 * ASan catches a read past it.  Beyond "no crash" it checks:
 * - at most RESOLVER_MAX_ADDRS addresses, each of the asked family, none
 *   for SRV; at most RESOLVER_SRV_MAX_RECORDS SRV records, none for AAAA
 *   or A; SUCCESS only with something in it;
 * - every SRV target NUL-terminated inside its buffer;
 * - the usable records: no more than the answer had, each target a valid
 *   canonical host name (hostname_canonicalize gives it back unchanged),
 *   port not 0, no (target, port) twice, each one of the answer's;
 * - RFC 2782 order: priorities never decrease, the ordered list is a
 *   permutation of the usable records, and the first RESOLVER_SRV_MAX_TARGETS
 *   are what the lookup would resolve.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/resolver_int.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)	do { if (!(cond)) __builtin_trap(); } while (0)

/* The question's type, or 0 if the question does not parse. */
static int
question_type(const uint8_t *m, size_t len)
{
	size_t	off = 12;

	if (len < 12 || (m[4] == 0 && m[5] == 0))
		return 0;
	while (off < len && m[off] != 0) {
		if ((m[off] & 0xc0) != 0)
			return 0;	/* no compression in a question */
		off += 1 + m[off];
	}
	if (off + 5 > len)
		return 0;
	return m[off + 1] << 8 | m[off + 2];
}

/* c-ares 1.18's ares_query: the status its callback gets for m. */
static int
cares_status(const uint8_t *m)
{
	unsigned	rcode = m[3] & 0x0f, ancount = m[6] << 8 | m[7];

	if (rcode == 0 && ancount > 0)
		return ARES_SUCCESS;
	switch (rcode) {
	case 0:
		return ARES_ENODATA;
	case 1:
		return ARES_EFORMERR;
	case 2:
		return ARES_ESERVFAIL;
	case 3:
		return ARES_ENOTFOUND;
	case 4:
		return ARES_ENOTIMP;
	case 5:
		return ARES_EREFUSED;
	default:
		return ARES_SUCCESS;
	}
}

static void
check_srv(const struct rq_answer *a, uint64_t seed)
{
	struct resolver_srv	recs[RESOLVER_SRV_MAX_RECORDS];
	struct resolver_srv	ord[RESOLVER_SRV_MAX_RECORDS];
	char			names[RESOLVER_SRV_MAX_RECORDS][HOSTNAME_MAX + 1];
	char			canon[HOSTNAME_MAX + 1];
	bool			dot, used[RESOLVER_SRV_MAX_RECORDS];
	size_t			n, i, j;

	for (i = 0; i < a->nsrv; i++)
		CHECK(memchr(a->srv[i].host, '\0',
		    sizeof(a->srv[i].host)) != NULL);
	memset(names, 0x55, sizeof(names));
	n = resolver_srv_records(a, recs, names, &dot);
	CHECK(n <= a->nsrv);
	for (i = 0; i < n; i++) {
		const char	*t = recs[i].target;
		size_t		 len = strnlen(t, HOSTNAME_MAX + 1);

		CHECK(t == names[i] && len <= HOSTNAME_MAX);
		CHECK(hostname_canonicalize(t, len, canon) == NULL);
		CHECK(strcmp(canon, t) == 0);
		CHECK(recs[i].port != 0);
		for (j = 0; j < i; j++)
			CHECK(recs[j].port != recs[i].port ||
			    strcmp(recs[j].target, t) != 0);
		/* One of the answer's records, taken as it came. */
		for (j = 0; j < a->nsrv; j++)
			if (a->srv[j].port == recs[i].port &&
			    a->srv[j].priority == recs[i].priority &&
			    a->srv[j].weight == recs[i].weight &&
			    hostname_canonicalize(a->srv[j].host,
			    strlen(a->srv[j].host), canon) == NULL &&
			    strcmp(canon, t) == 0)
				break;
		CHECK(j < a->nsrv);
	}
	memcpy(ord, recs, n * sizeof(recs[0]));
	resolver_srv_order(ord, n, &seed);
	memset(used, 0, sizeof(used));
	for (i = 0; i < n; i++) {
		CHECK(i == 0 || ord[i - 1].priority <= ord[i].priority);
		/* (target, port) is unique: it names the record. */
		for (j = 0; j < n; j++)
			if (!used[j] && ord[i].target == recs[j].target &&
			    ord[i].port == recs[j].port &&
			    ord[i].priority == recs[j].priority &&
			    ord[i].weight == recs[j].weight)
				break;
		CHECK(j < n);
		used[j] = true;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rq_srv		*srv;
	struct rq_answer	 a;
	unsigned char		*copy;
	uint64_t		 seed = 0;
	int			 type, status;
	size_t			 i;

	/* c-ares drops anything shorter than a header. */
	if (size < 12)
		return 0;
	type = question_type(data, size);
	if (type != RQ_AAAA && type != RQ_A && type != RQ_SRV) {
		static const int	types[3] = { RQ_AAAA, RQ_A, RQ_SRV };

		type = types[data[1] % 3];
	}
	status = cares_status(data);
	copy = malloc(size);
	srv = malloc(RESOLVER_SRV_MAX_RECORDS * sizeof(*srv));
	CHECK(copy != NULL && srv != NULL);
	memcpy(copy, data, size);
	memset(srv, 0x55, RESOLVER_SRV_MAX_RECORDS * sizeof(*srv));
	memset(&a, 0x55, sizeof(a));
	a.srv = srv;
	resolver_ares_parse(type, status, copy, size, &a);
	free(copy);

	CHECK(a.type == type && a.srv == srv);
	CHECK(a.n <= RESOLVER_MAX_ADDRS);
	CHECK(a.nsrv <= RESOLVER_SRV_MAX_RECORDS);
	CHECK(a.status != ARES_SUCCESS || a.n > 0 || a.nsrv > 0);
	CHECK(type == RQ_SRV ? a.n == 0 : a.nsrv == 0);
	for (i = 0; i < a.n; i++)
		CHECK(a.addrs[i].sa.sa_family ==
		    (type == RQ_AAAA ? AF_INET6 : AF_INET));
	for (i = 0; i < size; i++)
		seed = seed * 31 + data[i];
	if (type == RQ_SRV)
		check_srv(&a, seed);
	free(srv);
	return 0;
}
