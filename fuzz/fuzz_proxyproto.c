/*
 * libFuzzer target for the PROXY protocol parser and builders.  Beyond "no
 * crash, no read outside the buffer" it checks the promises the connection
 * code relies on:
 * - the result is self-consistent (families, lengths within bounds);
 * - with PROXYPROTO_MAX bytes or more there is an answer;
 * - a prefix of the input answers NEED_MORE or exactly what the whole input
 *   answers (so a prefix of a DONE input is never ERROR, and the header is
 *   DONE from header_len on);
 * - once the answer is not NEED_MORE, appending bytes does not change it;
 * - a DONE header with addresses, rebuilt by our builders, parses back to
 *   the same addresses (an IPv4-mapped pair as its IPv4 addresses); and
 *   addresses taken from the input's first bytes survive build -> parse
 *   in both versions, with the input after them left alone.
 * Each parse of a prefix gets a copy of exactly that many bytes, so ASan
 * catches a read past the prefix.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snid/proxyproto.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)	do { if (!(cond)) __builtin_trap(); } while (0)

static void
check_result(enum proxyproto_status st, const struct proxyproto *r, size_t size)
{
	switch (st) {
	case PROXYPROTO_NEED_MORE:
		CHECK(size < PROXYPROTO_MAX);
		CHECK(r->error == NULL && r->header_len == 0 && r->version == 0);
		break;
	case PROXYPROTO_ERROR:
		CHECK(r->error != NULL);
		CHECK(r->header_len == 0 && r->version == 0 && !r->has_addresses);
		break;
	case PROXYPROTO_DONE:
		CHECK(r->error == NULL);
		CHECK(r->header_len > 0 && r->header_len <= size &&
		    r->header_len <= PROXYPROTO_MAX);
		CHECK(r->version == 1 || r->version == 2);
		if (r->version == 1)
			CHECK(r->header_len <= PROXYPROTO_V1_MAX &&
			    r->command == PROXYPROTO_CMD_PROXY);
		else
			CHECK(r->header_len >= PROXYPROTO_V2_HEADER);
		if (r->has_addresses) {
			CHECK(r->command == PROXYPROTO_CMD_PROXY);
			CHECK(r->src.ss_family == AF_INET || r->src.ss_family == AF_INET6);
			CHECK(r->src.ss_family == r->dst.ss_family);
		} else {
			CHECK(r->src.ss_family == AF_UNSPEC && r->dst.ss_family == AF_UNSPEC);
		}
		break;
	default:
		CHECK(0);
	}
}

static void
check_same(const struct proxyproto *a, const struct proxyproto *b)
{
	CHECK(a->error == b->error || (a->error && b->error && strcmp(a->error, b->error) == 0));
	CHECK(a->version == b->version && a->command == b->command);
	CHECK(a->has_addresses == b->has_addresses && a->header_len == b->header_len);
	CHECK(memcmp(&a->src, &b->src, sizeof(a->src)) == 0);
	CHECK(memcmp(&a->dst, &b->dst, sizeof(a->dst)) == 0);
}

static void
check_prefix(const uint8_t *data, size_t cut, enum proxyproto_status st,
    const struct proxyproto *whole)
{
	uint8_t			*p = malloc(cut ? cut : 1);
	enum proxyproto_status	pst;
	struct proxyproto	r;

	CHECK(p != NULL);
	if (cut > 0)
		memcpy(p, data, cut);
	pst = proxyproto_parse(p, cut, &r);
	free(p);
	check_result(pst, &r, cut);
	if (pst == PROXYPROTO_NEED_MORE) {
		CHECK(!(st == PROXYPROTO_DONE && cut >= whole->header_len));
		return;
	}
	CHECK(pst == st);
	check_same(&r, whole);
}

/* Both builders on src/dst, each header followed by tail: parse gives the addresses back. */
/*
 * What the builders send for an IPv4-mapped pair: the IPv4 addresses (as
 * haproxy does); a pair with one mapped address and one real IPv6 address
 * stays as it is.
 */
static void
unmap_pair(const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
    struct sockaddr_storage *s, struct sockaddr_storage *d)
{
	const struct sockaddr_storage	*in[2] = { src, dst };
	struct sockaddr_storage		*out[2] = { s, d };
	struct sockaddr_in6		 a6;
	struct sockaddr_in		 a4;
	int				 i;

	*s = *src;
	*d = *dst;
	for (i = 0; i < 2; i++) {
		if (in[i]->ss_family == AF_INET)
			continue;
		memcpy(&a6, in[i], sizeof(a6));
		if (!IN6_IS_ADDR_V4MAPPED(&a6.sin6_addr))
			return;
	}
	for (i = 0; i < 2; i++) {
		if (in[i]->ss_family == AF_INET)
			continue;
		memcpy(&a6, in[i], sizeof(a6));
		memset(&a4, 0, sizeof(a4));
		a4.sin_family = AF_INET;
		a4.sin_port = a6.sin6_port;
		memcpy(&a4.sin_addr, &a6.sin6_addr.s6_addr[12], 4);
		memset(out[i], 0, sizeof(*out[i]));
		memcpy(out[i], &a4, sizeof(a4));
	}
}

static void
check_round_trip(const struct sockaddr_storage *src0,
    const struct sockaddr_storage *dst0, const uint8_t *tail, size_t tlen)
{
	uint8_t			*buf = malloc(PROXYPROTO_V1_BUILD_MAX + tlen);
	struct sockaddr_storage	s, d, *src = &s, *dst = &d;
	struct proxyproto	r;
	size_t			n;

	CHECK(buf != NULL);
	unmap_pair(src0, dst0, &s, &d);
	n = proxyproto_build_v1((const struct sockaddr *)src0,
	    (const struct sockaddr *)dst0, (char *)buf, PROXYPROTO_V1_BUILD_MAX);
	CHECK(n > 0 && n <= PROXYPROTO_V1_MAX && buf[n] == '\0');
	memcpy(buf + n, tail, tlen);
	CHECK(proxyproto_parse(buf, n + tlen, &r) == PROXYPROTO_DONE);
	CHECK(r.version == 1 && r.header_len == n && r.has_addresses);
	CHECK(memcmp(&r.src, src, sizeof(*src)) == 0 && memcmp(&r.dst, dst, sizeof(*dst)) == 0);

	n = proxyproto_build_v2((const struct sockaddr *)src0,
	    (const struct sockaddr *)dst0, buf, PROXYPROTO_V2_BUILD_MAX);
	CHECK(n == (src->ss_family == AF_INET ? 28u : 52u));
	memcpy(buf + n, tail, tlen);
	CHECK(proxyproto_parse(buf, n + tlen, &r) == PROXYPROTO_DONE);
	CHECK(r.version == 2 && r.header_len == n && r.has_addresses);
	CHECK(r.command == PROXYPROTO_CMD_PROXY);
	CHECK(memcmp(&r.src, src, sizeof(*src)) == 0 && memcmp(&r.dst, dst, sizeof(*dst)) == 0);
	free(buf);
}

/* Addresses from the first bytes of the input: a family bit, two addresses, two ports. */
static void
round_trip_from_input(const uint8_t *data, size_t size)
{
	struct sockaddr_storage	s, d;

	if (size < 1 + 2 * 16 + 4)
		return;
	memset(&s, 0, sizeof(s));
	memset(&d, 0, sizeof(d));
	if (data[0] & 1) {
		struct sockaddr_in6 a;

		memset(&a, 0, sizeof(a));
		a.sin6_family = AF_INET6;
		memcpy(&a.sin6_addr, data + 1, 16);
		memcpy(&a.sin6_port, data + 33, 2);
		memcpy(&s, &a, sizeof(a));
		memcpy(&a.sin6_addr, data + 17, 16);
		memcpy(&a.sin6_port, data + 35, 2);
		memcpy(&d, &a, sizeof(a));
	} else {
		struct sockaddr_in a;

		memset(&a, 0, sizeof(a));
		a.sin_family = AF_INET;
		memcpy(&a.sin_addr, data + 1, 4);
		memcpy(&a.sin_port, data + 33, 2);
		memcpy(&s, &a, sizeof(a));
		memcpy(&a.sin_addr, data + 5, 4);
		memcpy(&a.sin_port, data + 35, 2);
		memcpy(&d, &a, sizeof(a));
	}
	check_round_trip(&s, &d, data + 37, size - 37);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum proxyproto_status	st;
	struct proxyproto	whole, r;
	uint32_t		h = 2166136261u;
	size_t			i;

	st = proxyproto_parse(data, size, &whole);
	check_result(st, &whole, size);

	/*
	 * Every prefix of a short input; of a long one a sample (every prefix
	 * would be quadratic).
	 */
	if (size <= 128) {
		for (i = 0; i < size; i++)
			check_prefix(data, i, st, &whole);
	} else {
		for (i = 0; i < 32; i++)
			check_prefix(data, i, st, &whole);
		check_prefix(data, size - 1, st, &whole);
		if (st == PROXYPROTO_DONE) {
			check_prefix(data, whole.header_len - 1, st, &whole);
			check_prefix(data, whole.header_len, st, &whole);
		}
		for (i = 0; i < size; i++)
			h = (h ^ data[i]) * 16777619u;
		for (i = 0; i < 16; i++) {
			h = h * 1103515245u + 12345u;
			check_prefix(data, (h >> 8) % size, st, &whole);
		}
	}

	/* Bytes appended to a decided input change nothing. */
	if (st != PROXYPROTO_NEED_MORE) {
		size_t extra = size < 64 ? size + 1 : 64;
		uint8_t *more = malloc(size + extra);

		CHECK(more != NULL);
		memcpy(more, data, size);
		for (i = 0; i < extra; i++)
			more[size + i] = i < size ? data[size - 1 - i] : '\r';
		CHECK(proxyproto_parse(more, size + extra, &r) == st);
		check_same(&r, &whole);
		free(more);
	}

	/* What the parser accepted, our builders reproduce. */
	if (st == PROXYPROTO_DONE && whole.has_addresses)
		check_round_trip(&whole.src, &whole.dst, data + whole.header_len,
		    size - whole.header_len);
	round_trip_from_input(data, size);
	return 0;
}
