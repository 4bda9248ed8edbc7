/*
 * Tests for the PROXY protocol parser and builders: headers a real haproxy
 * sent (tests/data/proxyproto, see its README), parsed whole, truncated at
 * every offset and rebuilt byte for byte; build -> parse round trips; and
 * headers built here with one thing wrong.  Run from the repository root.
 * Every parse gets a copy of exactly the bytes it may read, so valgrind and
 * ASan see any read past the end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "snid/proxyproto.h"
#include "testutil.h"

#define DATA_DIR	"tests/data/proxyproto/"
#define PAYLOAD		"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"

static const uint8_t sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

/* ---- helpers ---- */

/* Parse a copy of exactly n bytes, so that a read past the end is caught. */
static enum proxyproto_status
parse(const void *b, size_t n, struct proxyproto *r)
{
	uint8_t			*p = xmalloc(n);
	enum proxyproto_status	st;

	if (n > 0)
		memcpy(p, b, n);
	st = proxyproto_parse(p, n, r);
	free(p);
	return st;
}

static uint8_t *
load(const char *name, size_t *len)
{
	return load_data_in(DATA_DIR, name, len);
}

static void
assert_same_result(const struct proxyproto *a, const struct proxyproto *b)
{
	assert_int_equal(a->version, b->version);
	assert_int_equal(a->command, b->command);
	assert_int_equal(a->has_addresses, b->has_addresses);
	assert_memory_equal(&a->src, &b->src, sizeof(a->src));
	assert_memory_equal(&a->dst, &b->dst, sizeof(a->dst));
	assert_int_equal(a->header_len, b->header_len);
	if (a->error == NULL)
		assert_null(b->error);
	else
		assert_string_equal(a->error, b->error);
}

static void
expect_error(const void *b, size_t n, const char *why)
{
	struct proxyproto	r;
	enum proxyproto_status	st = parse(b, n, &r);

	if (st != PROXYPROTO_ERROR)
		fail_msg("expected error \"%s\", got %s", why, proxyproto_status_str(st));
	assert_non_null(r.error);
	assert_string_equal(r.error, why);
	assert_int_equal(r.header_len, 0);
	assert_false(r.has_addresses);
	assert_int_equal(r.version, 0);
}

/*
 * An error on the whole input is NEED_MORE on every shorter prefix than at,
 * and that error from at on.
 */
static void
expect_error_at(const void *b, size_t n, size_t at, const char *why)
{
	struct proxyproto	r;
	size_t			i;

	for (i = 0; i < at; i++)
		if (parse(b, i, &r) != PROXYPROTO_NEED_MORE)
			fail_msg("prefix %zu of %zu: %s, want need_more (then \"%s\" at %zu)",
			    i, n, proxyproto_status_str(parse(b, i, &r)), why, at);
	for (i = at; i <= n; i++) {
		enum proxyproto_status st = parse(b, i, &r);

		if (st != PROXYPROTO_ERROR || r.error == NULL || strcmp(r.error, why) != 0)
			fail_msg("prefix %zu of %zu: %s \"%s\", want \"%s\" from %zu on", i, n,
			    proxyproto_status_str(st), r.error ? r.error : "", why, at);
		expect_error(b, i, why);
	}
}

static struct sockaddr_storage
addr(const char *ip, uint16_t port)
{
	struct sockaddr_storage	ss;
	struct sockaddr_in	sin;
	struct sockaddr_in6	sin6;

	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':') == NULL) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
		memcpy(&ss, &sin, sizeof(sin));
	} else {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, ip, &sin6.sin6_addr), 1);
		memcpy(&ss, &sin6, sizeof(sin6));
	}
	return ss;
}

/* "ip port" of an address the parser filled, for comparisons. */
static void
addr_str(const struct sockaddr_storage *ss, char *buf, size_t n)
{
	char	ip[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		struct sockaddr_in sin;

		memcpy(&sin, ss, sizeof(sin));
		assert_non_null(inet_ntop(AF_INET, &sin.sin_addr, ip, sizeof(ip)));
		snprintf(buf, n, "%s %u", ip, ntohs(sin.sin_port));
	} else if (ss->ss_family == AF_INET6) {
		struct sockaddr_in6 sin6;

		memcpy(&sin6, ss, sizeof(sin6));
		assert_non_null(inet_ntop(AF_INET6, &sin6.sin6_addr, ip, sizeof(ip)));
		snprintf(buf, n, "%s %u", ip, ntohs(sin6.sin6_port));
	} else {
		snprintf(buf, n, "family %d", ss->ss_family);
	}
}

static void
assert_addr(const struct sockaddr_storage *ss, const char *want)
{
	char	got[80];

	addr_str(ss, got, sizeof(got));
	assert_string_equal(got, want);
}

/* A v2 header: ver_cmd, fam, then len bytes of block (NULL: zeros). */
static size_t
v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam, size_t len, const void *block)
{
	memcpy(out, sig, sizeof(sig));
	out[12] = ver_cmd;
	out[13] = fam;
	out[14] = (uint8_t)(len >> 8);
	out[15] = (uint8_t)len;
	if (block != NULL)
		memcpy(out + 16, block, len);
	else
		memset(out + 16, 0, len);
	return 16 + len;
}

/* ---- real headers from haproxy ---- */

struct capture {
	const char		*file;
	int			 version;
	enum proxyproto_command	cmd;
	int			 family;	/* AF_UNSPEC: no addresses */
	size_t			 header_len;
	bool			 payload;	/* PAYLOAD follows the header */
	bool			 rebuild;	/* our builder gives the same bytes */
};

static const struct capture captures[] = {
	{ "haproxy_v1_tcp4.bin", 1, PROXYPROTO_CMD_PROXY, AF_INET, 44, true, true },
	{ "haproxy_v1_tcp6.bin", 1, PROXYPROTO_CMD_PROXY, AF_INET6, 32, true, true },
	{ "haproxy_v1_check.bin", 1, PROXYPROTO_CMD_PROXY, AF_INET, 44, false, true },
	{ "haproxy_v2_tcp4.bin", 2, PROXYPROTO_CMD_PROXY, AF_INET, 28, true, true },
	{ "haproxy_v2_tcp6.bin", 2, PROXYPROTO_CMD_PROXY, AF_INET6, 52, true, true },
	{ "haproxy_v2_tlvs.bin", 2, PROXYPROTO_CMD_PROXY, AF_INET, 16 + 76, true, false },
	{ "haproxy_v2_local.bin", 2, PROXYPROTO_CMD_LOCAL, AF_UNSPEC, 16, false, true },
	{ "haproxy_v2_unix_client.bin", 2, PROXYPROTO_CMD_LOCAL, AF_UNSPEC, 16, true, true },
	{ "haproxy_v1_unix_client.bin", 1, PROXYPROTO_CMD_PROXY, AF_UNSPEC, 15, true, true },
};
#define NCAPTURES	(sizeof(captures) / sizeof(captures[0]))

/* Hand-written valid headers in the same directory. */
static const char *const handmade[] = {
	"v1_unknown.bin", "v1_unknown_long.bin", "v1_tcp6_max.bin", "v2_unix.bin",
	"v2_unspec_proxy.bin", "v2_tcp4_noop_tlv.bin",
};
#define NHANDMADE	(sizeof(handmade) / sizeof(handmade[0]))

static void
test_captures_parse(void **state)
{
	size_t	i;

	(void)state;
	for (i = 0; i < NCAPTURES; i++) {
		const struct capture *c = &captures[i];
		const char *lo = c->family == AF_INET6 ? "::1" : "127.0.0.1";
		struct proxyproto r;
		char want[64];
		size_t len;
		uint8_t *b = load(c->file, &len);

		assert_int_equal(parse(b, len, &r), PROXYPROTO_DONE);
		assert_null(r.error);
		assert_int_equal(r.version, c->version);
		assert_int_equal(r.command, c->cmd);
		assert_int_equal(r.header_len, c->header_len);
		assert_int_equal(r.has_addresses, c->family != AF_UNSPEC);
		if (c->family != AF_UNSPEC) {
			size_t lolen = strlen(lo);
			char got[64];

			assert_int_equal(r.src.ss_family, c->family);
			assert_int_equal(r.dst.ss_family, c->family);
			addr_str(&r.src, got, sizeof(got));
			snprintf(want, sizeof(want), "%s ", lo);
			assert_memory_equal(got, want, lolen + 1);
			addr_str(&r.dst, got, sizeof(got));
			assert_memory_equal(got, want, lolen + 1);
		}
		if (c->payload) {
			assert_int_equal(len - r.header_len, strlen(PAYLOAD));
			assert_memory_equal(b + r.header_len, PAYLOAD, strlen(PAYLOAD));
		} else {
			assert_int_equal(len, r.header_len);
		}
		free(b);
	}
}

/* What haproxy sends without TLVs is exactly what our builders send for the same addresses. */
static void
test_captures_rebuilt_identically(void **state)
{
	size_t	i;

	(void)state;
	for (i = 0; i < NCAPTURES; i++) {
		const struct capture *c = &captures[i];
		uint8_t out[PROXYPROTO_V2_BUILD_MAX];
		char line[PROXYPROTO_V1_BUILD_MAX];
		struct proxyproto r;
		size_t len, n;
		uint8_t *b;

		if (!c->rebuild)
			continue;
		b = load(c->file, &len);
		assert_int_equal(parse(b, len, &r), PROXYPROTO_DONE);
		if (c->version == 1) {
			n = proxyproto_build_v1((struct sockaddr *)&r.src,
			    (struct sockaddr *)&r.dst,
			    line, sizeof(line));
			assert_int_equal(n, r.header_len);
			assert_memory_equal(line, b, n);
			assert_int_equal(line[n], '\0');
		} else {
			n = proxyproto_build_v2((struct sockaddr *)&r.src,
			    (struct sockaddr *)&r.dst,
			    out, sizeof(out));
			assert_int_equal(n, r.header_len);
			assert_memory_equal(out, b, n);
		}
		free(b);
	}
}

/* The TLVs haproxy added (CRC32C, unique ID, SSL) are skipped to the byte. */
static void
test_capture_tlvs_skipped(void **state)
{
	struct proxyproto	r;
	uint8_t			*b;
	size_t			len;

	(void)state;
	b = load("haproxy_v2_tlvs.bin", &len);
	assert_int_equal(parse(b, len, &r), PROXYPROTO_DONE);
	/* crc32c (0x03, 4 bytes) first, right after the 12-byte address block. */
	assert_int_equal(b[28], 0x03);
	assert_int_equal(b[29], 0);
	assert_int_equal(b[30], 4);
	assert_memory_equal(b + r.header_len, PAYLOAD, strlen(PAYLOAD));
	free(b);
}

/*
 * Every file: every prefix of the header is NEED_MORE, the whole header is
 * DONE, and so is anything longer.
 */
static void
check_prefixes(const uint8_t *b, size_t len)
{
	struct proxyproto	whole, r;
	size_t			i;

	assert_int_equal(parse(b, len, &whole), PROXYPROTO_DONE);
	for (i = 0; i < whole.header_len; i++) {
		enum proxyproto_status st = parse(b, i, &r);

		if (st != PROXYPROTO_NEED_MORE)
			fail_msg("prefix %zu of %zu: %s (%s)", i, whole.header_len,
			    proxyproto_status_str(st), r.error ? r.error : "");
		assert_null(r.error);
		assert_int_equal(r.header_len, 0);
	}
	for (i = whole.header_len; i <= len; i++) {
		assert_int_equal(parse(b, i, &r), PROXYPROTO_DONE);
		assert_same_result(&whole, &r);
	}
}

static void
test_truncated_at_every_offset(void **state)
{
	size_t	i, len;
	uint8_t	*b;

	(void)state;
	for (i = 0; i < NCAPTURES; i++) {
		b = load(captures[i].file, &len);
		check_prefixes(b, len);
		free(b);
	}
	for (i = 0; i < NHANDMADE; i++) {
		b = load(handmade[i], &len);
		check_prefixes(b, len);
		free(b);
	}
}

/* Fed one byte at a time into a growing buffer, as a reader would. */
static void
test_byte_by_byte(void **state)
{
	size_t	i, n, len;

	(void)state;
	for (i = 0; i < NCAPTURES; i++) {
		uint8_t *b = load(captures[i].file, &len);
		uint8_t *acc = xmalloc(len);
		struct proxyproto r;

		for (n = 1; n <= len; n++) {
			enum proxyproto_status st;

			acc[n - 1] = b[n - 1];
			st = proxyproto_parse(acc, n, &r);
			if (st == PROXYPROTO_DONE)
				break;
			assert_int_equal(st, PROXYPROTO_NEED_MORE);
		}
		assert_int_equal(n, captures[i].header_len);
		free(acc);
		free(b);
	}
}

/* Bytes after the header, whatever they are, change nothing. */
static void
test_bytes_after_header_untouched(void **state)
{
	static const char *const tails[] = {
		"\x16\x03\x01\x02\x00", "PROXY TCP4 1.1.1.1 2.2.2.2 1 2\r\n",
		    "\r\n\r\n\0\r\nQUIT\n!", "\0",
	};
	size_t	i, j, len;

	(void)state;
	for (i = 0; i < NHANDMADE; i++) {
		uint8_t *b = load(handmade[i], &len);
		struct proxyproto whole, r;

		assert_int_equal(parse(b, len, &whole), PROXYPROTO_DONE);
		for (j = 0; j < sizeof(tails) / sizeof(tails[0]); j++) {
			size_t tl = strlen(tails[j]) + 1;
			uint8_t *m = xmalloc(whole.header_len + tl);

			memcpy(m, b, whole.header_len);
			memcpy(m + whole.header_len, tails[j], tl);
			assert_int_equal(parse(m, whole.header_len + tl, &r), PROXYPROTO_DONE);
			assert_same_result(&whole, &r);
			free(m);
		}
		free(b);
	}
}

/* ---- builders ---- */

static void
round_trip(const char *sip, uint16_t sport, const char *dip, uint16_t dport, const char *v1want)
{
	struct sockaddr_storage	s = addr(sip, sport), d = addr(dip, dport);
	uint8_t			out[PROXYPROTO_V2_BUILD_MAX];
	char			line[PROXYPROTO_V1_BUILD_MAX], want[80];
	struct proxyproto	r;
	size_t			n;

	n = proxyproto_build_v1((struct sockaddr *)&s, (struct sockaddr *)&d, line, sizeof(line));
	assert_int_not_equal(n, 0);
	assert_int_equal(strlen(line), n);
	assert_string_equal(line, v1want);
	assert_int_equal(parse(line, n, &r), PROXYPROTO_DONE);
	assert_int_equal(r.version, 1);
	assert_int_equal(r.header_len, n);
	assert_true(r.has_addresses);
	snprintf(want, sizeof(want), "%s %u", sip, sport);
	assert_addr(&r.src, want);
	snprintf(want, sizeof(want), "%s %u", dip, dport);
	assert_addr(&r.dst, want);

	n = proxyproto_build_v2((struct sockaddr *)&s, (struct sockaddr *)&d, out, sizeof(out));
	assert_int_equal(n, s.ss_family == AF_INET ? 28 : 52);
	assert_int_equal(parse(out, n, &r), PROXYPROTO_DONE);
	assert_int_equal(r.version, 2);
	assert_int_equal(r.command, PROXYPROTO_CMD_PROXY);
	assert_int_equal(r.header_len, n);
	assert_true(r.has_addresses);
	assert_memory_equal(&r.src, &s, sizeof(s));
	assert_memory_equal(&r.dst, &d, sizeof(d));
}

static void
test_build_parse_round_trip(void **state)
{
	(void)state;
	round_trip("192.0.2.1", 50000, "198.51.100.7", 443,
	    "PROXY TCP4 192.0.2.1 198.51.100.7 50000 443\r\n");
	round_trip("0.0.0.0", 0, "255.255.255.255", 65535,
	    "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n");
	round_trip("10.0.0.10", 1, "100.64.0.1", 10,
	    "PROXY TCP4 10.0.0.10 100.64.0.1 1 10\r\n");
	round_trip("2001:db8::1", 40000, "2001:db8:ffff::443", 443,
	    "PROXY TCP6 2001:db8::1 2001:db8:ffff::443 40000 443\r\n");
	round_trip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535,
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535,
	    "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n");
	round_trip("::", 0, "::1", 1, "PROXY TCP6 :: ::1 0 1\r\n");
}

/*
 * A dual-stack socket reports an IPv4 client as ::ffff:a.b.c.d: sent as
 * TCP4 / AF_INET, as haproxy does (also when the other side is plain IPv4).
 */
static void
test_build_mapped_sent_as_ipv4(void **state)
{
	struct sockaddr_storage	s = addr("::ffff:192.0.2.1", 1234);
	struct sockaddr_storage	d = addr("::ffff:198.51.100.7", 443);
	struct sockaddr_storage	d4 = addr("198.51.100.7", 443);
	char			line[PROXYPROTO_V1_BUILD_MAX];

	(void)state;
	assert_int_not_equal(proxyproto_build_v1((struct sockaddr *)&s,
	    (struct sockaddr *)&d, line, sizeof(line)), 0);
	assert_string_equal(line, "PROXY TCP4 192.0.2.1 198.51.100.7 1234 443\r\n");
	assert_int_not_equal(proxyproto_build_v1((struct sockaddr *)&s,
	    (struct sockaddr *)&d4, line, sizeof(line)), 0);
	assert_string_equal(line, "PROXY TCP4 192.0.2.1 198.51.100.7 1234 443\r\n");
	/* A mapped address facing a real IPv6 one: the pair stays TCP6. */
	d = addr("2001:db8::7", 443);
	assert_int_not_equal(proxyproto_build_v1((struct sockaddr *)&s,
	    (struct sockaddr *)&d, line, sizeof(line)), 0);
	assert_string_equal(line,
	    "PROXY TCP6 ::ffff:192.0.2.1 2001:db8::7 1234 443\r\n");
}

/* The exact bytes tests/data/proxyproto/haproxy_accepts.py shows haproxy accepting. */
static void
test_build_v2_exact_bytes(void **state)
{
	static const uint8_t	tcp4[28] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
		0x21, 0x11, 0x00, 0x0c, 192, 0, 2, 1, 198, 51, 100, 7, 0xc3, 0x50, 0x01, 0xbb,
	};
	/* A mapped pair (a dual-stack socket's IPv4 client) is sent as TCP4. */
	static const uint8_t	mapped[28] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
		0x21, 0x11, 0x00, 0x0c, 192, 0, 2, 1, 198, 51, 100, 7, 0x04, 0xd2, 0x01, 0xbb,
	};
	struct sockaddr_storage	s = addr("192.0.2.1", 50000), d = addr("198.51.100.7", 443);
	uint8_t			out[PROXYPROTO_V2_BUILD_MAX];

	(void)state;
	assert_int_equal(proxyproto_build_v2((struct sockaddr *)&s, (struct sockaddr *)&d, out,
	    sizeof(out)), sizeof(tcp4));
	assert_memory_equal(out, tcp4, sizeof(tcp4));
	s = addr("::ffff:192.0.2.1", 1234);
	d = addr("::ffff:198.51.100.7", 443);
	assert_int_equal(proxyproto_build_v2((struct sockaddr *)&s, (struct sockaddr *)&d, out,
	    sizeof(out)), sizeof(mapped));
	assert_memory_equal(out, mapped, sizeof(mapped));
}

static void
test_build_unknown_and_unspec(void **state)
{
	struct sockaddr_storage	v4 = addr("192.0.2.1", 1), v6 = addr("2001:db8::1", 2);
	uint8_t			out[PROXYPROTO_V2_BUILD_MAX];
	char			line[PROXYPROTO_V1_BUILD_MAX];
	struct sockaddr_un	un;
	struct proxyproto	r;
	struct {
		const struct sockaddr	*s, *d;
	} cases[4];
	size_t	i, n;

	(void)state;
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	strcpy(un.sun_path, "/run/snid.sock");
	cases[0].s = (struct sockaddr *)&v4;	/* mixed families */
	cases[0].d = (struct sockaddr *)&v6;
	cases[1].s = (struct sockaddr *)&un;	/* unix */
	cases[1].d = (struct sockaddr *)&un;
	cases[2].s = NULL;
	cases[2].d = (struct sockaddr *)&v4;
	cases[3].s = (struct sockaddr *)&v6;
	cases[3].d = NULL;
	for (i = 0; i < 4; i++) {
		n = proxyproto_build_v1(cases[i].s, cases[i].d, line, sizeof(line));
		assert_int_equal(n, 15);
		assert_string_equal(line, "PROXY UNKNOWN\r\n");
		assert_int_equal(parse(line, n, &r), PROXYPROTO_DONE);
		assert_false(r.has_addresses);
		assert_int_equal(r.header_len, 15);

		n = proxyproto_build_v2(cases[i].s, cases[i].d, out, sizeof(out));
		assert_int_equal(n, 16);
		assert_memory_equal(out, sig, 12);
		/* Version 2, LOCAL: what haproxy sends and accepts (it refuses PROXY + UNSPEC). */
		assert_int_equal(out[12], 0x20);
		assert_int_equal(out[13], 0x00);	/* UNSPEC */
		assert_int_equal(out[14], 0);
		assert_int_equal(out[15], 0);
		assert_int_equal(parse(out, n, &r), PROXYPROTO_DONE);
		assert_int_equal(r.command, PROXYPROTO_CMD_LOCAL);
		assert_false(r.has_addresses);
		/* Byte for byte what haproxy sends for its health checks. */
		{
			size_t hl;
			uint8_t *h = load("haproxy_v2_local.bin", &hl);

			assert_int_equal(hl, n);
			assert_memory_equal(h, out, n);
			free(h);
		}
	}
}

static void
test_build_short_buffer(void **state)
{
	struct sockaddr_storage	s = addr("2001:db8::1", 40000), d = addr("2001:db8::2", 443);
	uint8_t			out[PROXYPROTO_V2_BUILD_MAX];
	char			line[PROXYPROTO_V1_BUILD_MAX];
	size_t			n, full;

	(void)state;
	full = proxyproto_build_v1((struct sockaddr *)&s, (struct sockaddr *)&d, line,
	    sizeof(line));
	assert_int_equal(full, strlen("PROXY TCP6 2001:db8::1 2001:db8::2 40000 443\r\n"));
	/* The NUL needs its byte too. */
	assert_int_equal(proxyproto_build_v1((struct sockaddr *)&s, (struct sockaddr *)&d, line,
	    full), 0);
	assert_int_equal(proxyproto_build_v1((struct sockaddr *)&s, (struct sockaddr *)&d, line,
	    full + 1), full);
	n = proxyproto_build_v2((struct sockaddr *)&s, (struct sockaddr *)&d, out, 51);
	assert_int_equal(n, 0);
	assert_int_equal(proxyproto_build_v2((struct sockaddr *)&s, (struct sockaddr *)&d, out, 52),
	    52);
	assert_int_equal(proxyproto_build_v2(NULL, NULL, out, 15), 0);
	assert_int_equal(proxyproto_build_v1(NULL, NULL, line, 15), 0);
}

/* The worst case a v1 line can be fits PROXYPROTO_V1_BUILD_MAX. */
static void
test_build_sizes(void **state)
{
	(void)state;
	assert_int_equal(PROXYPROTO_V1_BUILD_MAX, 108);
	assert_int_equal(PROXYPROTO_V2_BUILD_MAX, 52);
	assert_int_equal(PROXYPROTO_MAX, 16 + 2048);
}

/* ---- v2 errors ---- */

static void
test_v2_signature_each_byte(void **state)
{
	uint8_t	h[64];
	size_t	i, n;

	(void)state;
	for (i = 0; i < 12; i++) {
		n = v2(h, 0x21, 0x11, 12, NULL);
		h[i] ^= 0x20;
		/* The first byte picks the version: a wrong CR is a wrong "PROXY ". */
		expect_error_at(h, n, i + 1,
		    "not a PROXY header (neither \"PROXY \" nor the v2 signature)");
	}
}

static void
test_v2_version_and_command(void **state)
{
	static const uint8_t	bad_ver[] = { 0x01, 0x11, 0x31, 0xf1, 0x00 };
	static const uint8_t	bad_cmd[] = { 0x22, 0x23, 0x2f };
	uint8_t			h[64];
	size_t			i, n;

	(void)state;
	for (i = 0; i < sizeof(bad_ver); i++) {
		n = v2(h, bad_ver[i], 0x11, 12, NULL);
		expect_error_at(h, n, 13, "v2 version is not 2");
	}
	for (i = 0; i < sizeof(bad_cmd); i++) {
		n = v2(h, bad_cmd[i], 0x11, 12, NULL);
		expect_error_at(h, n, 13, "v2 command is neither LOCAL nor PROXY");
	}
}

static void
test_v2_families(void **state)
{
	static const uint8_t	unknown[] = { 0x01, 0x10, 0x13, 0x23, 0x33, 0x41, 0x40, 0xff };
	static const uint8_t	dgram[] = { 0x12, 0x22, 0x32 };
	struct proxyproto	r;
	uint8_t			h[512];
	size_t			i, n;

	(void)state;
	for (i = 0; i < sizeof(unknown); i++) {
		n = v2(h, 0x21, unknown[i], 12, NULL);
		expect_error_at(h, n, 14, "v2 family/transport byte is not one the spec defines");
		n = v2(h, 0x20, unknown[i], 0, NULL);
		expect_error_at(h, n, 14, "v2 family/transport byte is not one the spec defines");
	}
	for (i = 0; i < sizeof(dgram); i++) {
		n = v2(h, 0x21, dgram[i], 216, NULL);
		expect_error_at(h, n, 14,
		    "v2 header announces a datagram transport on a stream connection");
		/* LOCAL ignores the family: a health check over anything is fine. */
		n = v2(h, 0x20, dgram[i], 216, NULL);
		assert_int_equal(parse(h, n, &r), PROXYPROTO_DONE);
		assert_int_equal(r.command, PROXYPROTO_CMD_LOCAL);
		assert_false(r.has_addresses);
		assert_int_equal(r.header_len, n);
	}
	/* UNIX stream with PROXY: accepted, no addresses kept. */
	n = v2(h, 0x21, 0x31, 216, NULL);
	assert_int_equal(parse(h, n, &r), PROXYPROTO_DONE);
	assert_int_equal(r.command, PROXYPROTO_CMD_PROXY);
	assert_false(r.has_addresses);
	assert_int_equal(r.src.ss_family, AF_UNSPEC);
}

/*
 * Receivers must not assume LOCAL carries nothing (spec 2.2): its block,
 * whatever it holds, is skipped.
 */
static void
test_v2_local(void **state)
{
	static const uint8_t	fams[] = { 0x00, 0x11, 0x21, 0x31 };
	uint8_t			h[64], block[40];
	struct proxyproto	r;
	size_t			i, n;

	(void)state;
	memset(block, 0xee, sizeof(block));	/* not even valid TLVs */
	for (i = 0; i < sizeof(fams); i++) {
		n = v2(h, 0x20, fams[i], 5, block);
		h[n] = 'X';
		assert_int_equal(parse(h, n + 1, &r), PROXYPROTO_DONE);
		assert_int_equal(r.version, 2);
		assert_int_equal(r.command, PROXYPROTO_CMD_LOCAL);
		assert_false(r.has_addresses);
		assert_int_equal(r.header_len, 21);
	}
}

static void
test_v2_lengths(void **state)
{
	uint8_t			h[PROXYPROTO_MAX + 16];
	struct proxyproto	r;
	size_t			n, i;

	(void)state;
	/* Address block shorter than the family needs: decided by the length field. */
	n = v2(h, 0x21, 0x11, 11, NULL);
	expect_error_at(h, n, 16, "v2 length is shorter than the family's address block");
	n = v2(h, 0x21, 0x21, 35, NULL);
	expect_error_at(h, n, 16, "v2 length is shorter than the family's address block");
	n = v2(h, 0x21, 0x31, 215, NULL);
	expect_error_at(h, n, 16, "v2 length is shorter than the family's address block");
	n = v2(h, 0x21, 0x11, 0, NULL);
	expect_error_at(h, n, 16, "v2 length is shorter than the family's address block");

	/* Longer than the bound: refused after 16 bytes, not buffered. */
	n = v2(h, 0x21, 0x00, PROXYPROTO_V2_MAX_LEN + 1, NULL);
	expect_error_at(h, 16, 16, "v2 length is above 2048 bytes (PROXYPROTO_V2_MAX_LEN)");
	h[14] = 0xff;
	h[15] = 0xff;
	expect_error(h, 16, "v2 length is above 2048 bytes (PROXYPROTO_V2_MAX_LEN)");

	/*
	 * Exactly the bound, filled with NOOP TLVs, is fine, and decided at
	 * PROXYPROTO_MAX bytes.
	 */
	n = v2(h, 0x21, 0x11, PROXYPROTO_V2_MAX_LEN, NULL);
	for (i = 28; i < n;) {
		size_t tl = n - i - 3 > 1000 ? 1000 : n - i - 3;

		h[i] = 0x04;
		h[i + 1] = (uint8_t)(tl >> 8);
		h[i + 2] = (uint8_t)tl;
		i += 3 + tl;
	}
	assert_int_equal(n, PROXYPROTO_MAX);
	assert_int_equal(parse(h, n - 1, &r), PROXYPROTO_NEED_MORE);
	assert_int_equal(parse(h, n, &r), PROXYPROTO_DONE);
	assert_int_equal(r.header_len, PROXYPROTO_MAX);
}

static void
test_v2_tlv_framing(void **state)
{
	uint8_t			h[128], block[64];
	struct proxyproto	r;
	size_t			n;

	(void)state;
	memset(block, 0, sizeof(block));
	/* One TLV whose value runs one byte past the length field. */
	block[12] = 0x04;
	block[13] = 0;
	block[14] = 5;
	n = v2(h, 0x21, 0x11, 12 + 3 + 4, block);
	expect_error_at(h, n, 16 + 12 + 3, "v2 TLV value overruns the header length");
	/* Fits exactly. */
	n = v2(h, 0x21, 0x11, 12 + 3 + 5, block);
	assert_int_equal(parse(h, n, &r), PROXYPROTO_DONE);
	/*
	 * One or two bytes left after the address block cannot be a TLV:
	 * decided by the length field.
	 */
	n = v2(h, 0x21, 0x11, 12 + 1, block);
	expect_error_at(h, n, 16, "v2 TLV header overruns the header length");
	n = v2(h, 0x21, 0x21, 36 + 2, NULL);
	expect_error_at(h, n, 16, "v2 TLV header overruns the header length");
	/* A second TLV whose header is cut off by the length field. */
	block[12] = 0x04;
	block[13] = 0;
	block[14] = 0;
	n = v2(h, 0x21, 0x11, 12 + 3 + 2, block);
	expect_error_at(h, n, 16 + 12 + 3, "v2 TLV header overruns the header length");
	/* Zero-length TLVs are fine; so is a PROXY UNSPEC block of any bytes. */
	n = v2(h, 0x21, 0x11, 12 + 3 + 3, block);
	assert_int_equal(parse(h, n, &r), PROXYPROTO_DONE);
	memset(block, 0xff, sizeof(block));
	n = v2(h, 0x21, 0x00, 7, block);
	assert_int_equal(parse(h, n, &r), PROXYPROTO_DONE);
	assert_false(r.has_addresses);
}

/* The addresses come out in the right order: src, dst, sport, dport. */
static void
test_v2_address_layout(void **state)
{
	static const uint8_t	a4[12] = { 192, 0, 2, 1, 198, 51, 100, 7, 0xc3, 0x50, 0x01, 0xbb };
	uint8_t			h[64], a6[36];
	struct proxyproto	r;
	size_t			n;

	(void)state;
	n = v2(h, 0x21, 0x11, 12, a4);
	assert_int_equal(parse(h, n, &r), PROXYPROTO_DONE);
	assert_addr(&r.src, "192.0.2.1 50000");
	assert_addr(&r.dst, "198.51.100.7 443");
	memset(a6, 0, sizeof(a6));
	a6[0] = 0x20;
	a6[1] = 0x01;
	a6[15] = 1;
	a6[16] = 0x20;
	a6[17] = 0x01;
	a6[31] = 2;
	a6[32] = 0x12;
	a6[33] = 0x34;
	a6[34] = 0x00;
	a6[35] = 0x50;
	n = v2(h, 0x21, 0x21, 36, a6);
	assert_int_equal(parse(h, n, &r), PROXYPROTO_DONE);
	assert_addr(&r.src, "2001::1 4660");
	assert_addr(&r.dst, "2001::2 80");
}

/* ---- v1 ---- */

static void
test_v1_valid_forms(void **state)
{
	static const struct {
		const char	*line, *src, *dst;
	} ok[] = {
		{ "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n", "192.168.0.1 56324", "192.168.0.11 443" },
		{ "PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n", "0.0.0.0 0", "0.0.0.0 0" },
		{ "PROXY TCP6 2001:DB8::1 2001:db8::A 1 65535\r\n", "2001:db8::1 1", "2001:db8::a 65535" },
		{ "PROXY TCP6 ::ffff:192.0.2.1 ::1 10 20\r\n", "::ffff:192.0.2.1 10", "::1 20" },
		{ "PROXY TCP6 0:0:0:0:0:0:0:1 1:2:3:4:5:6:7:8 10 20\r\n", "::1 10", "1:2:3:4:5:6:7:8 20" },
		{ "PROXY UNKNOWN\r\n", NULL, NULL },
		{ "PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n", NULL, NULL },
		{ "PROXY UNKNOWN whatever, even  double  spaces\r\n", NULL, NULL },
		{ "PROXY UNKNOWN \r\n", NULL, NULL },
	};
	struct proxyproto	r;
	size_t			i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		size_t n = strlen(ok[i].line);

		if (parse(ok[i].line, n, &r) != PROXYPROTO_DONE)
			fail_msg("%s: %s", ok[i].line, r.error);
		assert_int_equal(r.version, 1);
		assert_int_equal(r.command, PROXYPROTO_CMD_PROXY);
		assert_int_equal(r.header_len, n);
		assert_int_equal(r.has_addresses, ok[i].src != NULL);
		if (ok[i].src != NULL) {
			assert_addr(&r.src, ok[i].src);
			assert_addr(&r.dst, ok[i].dst);
		}
		check_prefixes((const uint8_t *)ok[i].line, n);
	}
}

static void
test_v1_errors(void **state)
{
	static const struct {
		const char	*line;
		size_t		at;	/* the byte count at which the error shows */
		const char	*why;
	} bad[] = {
		{ "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 7, "v1 protocol is not TCP4, TCP6 or UNKNOWN" },
		{ "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", 12, "v1 address is empty (two spaces?)" },
		{ "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", 20, "v1 address is empty (two spaces?)" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n", 28, "v1 source port is not a number followed by one space" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n", 30, "v1 destination port is not a number followed by CRLF" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", 31, "v1 destination port is not a number followed by CRLF" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", 31, "v1 destination port is not a number followed by CRLF" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r", 32, "v1 line has a CR not followed by LF" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", 34, "v1 port is above 65535" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 65536 1\r\n", 32, "v1 port is above 65535" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 100000 1\r\n", 33, "v1 port is above 65535" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", 29, "v1 port has a leading zero" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n", 31, "v1 port has a leading zero" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", 28, "v1 source port is not a number followed by one space" },
		{ "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", 21, "v1 TCP4 address has a number above 255" },
		{ "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", 20, "v1 TCP4 address has a leading zero" },
		{ "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", 17, "v1 TCP4 address is not a dotted quad" },
		{ "PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", 21, "v1 TCP4 address is not a dotted quad" },
		{ "PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n", 18, "v1 TCP4 address is not a dotted quad" },
		{ "PROXY TCP4 1.2.3.4. 5.6.7.8 1 2\r\n", 20, "v1 TCP4 address is not a dotted quad" },
		{ "PROXY TCP4 ::1 ::1 1 2\r\n", 12, "v1 TCP4 address has a character not in an IPv4 address" },
		{ "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", 19, "v1 TCP6 address is not an IPv6 address" },
		{ "PROXY TCP6 ::1 ::g 1 2\r\n", 18, "v1 TCP6 address has a character not in an IPv6 address" },
		{ "PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", 29, "v1 TCP6 address is not an IPv6 address" },
		{ "PROXY TCP6 ::1%lo ::1 1 2\r\n", 15, "v1 TCP6 address has a character not in an IPv6 address" },
		{ "PROXY TCP4 1111.2.3.4 5.6.7.8 1 2\r\n", 22, "v1 TCP4 address has a number above 255" },
		{ "PROXY TCP4 1.2.3.4444444444444 5.6.7.8 1 2\r\n", 27, "v1 address is too long" },
		{ "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", 10, "v1 protocol is not TCP4, TCP6 or UNKNOWN" },
		{ "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", 7, "v1 protocol is not TCP4, TCP6 or UNKNOWN" },
		{ "PROXY TCP4\r\n", 11, "v1 protocol is not TCP4, TCP6 or UNKNOWN" },
		{ "PROXY TCP\r\n", 10, "v1 protocol is not TCP4, TCP6 or UNKNOWN" },
		{ "PROXY UNKNOWNX\r\n", 14, "v1 protocol is not TCP4, TCP6 or UNKNOWN" },
		{ "PROXY UNKNOWN\n", 14, "v1 protocol is not TCP4, TCP6 or UNKNOWN" },
		{ "PROXY UNKNOWN\r\r\n", 15, "v1 line has a CR not followed by LF" },
		{ "PROXY UNKNOWN x\ny\r\n", 16, "v1 UNKNOWN line has a byte that is not printable ASCII" },
		{ "PROXY UNKNOWN \x80\r\n", 15, "v1 UNKNOWN line has a byte that is not printable ASCII" },
		{ "PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n", 6, "not a PROXY header (neither \"PROXY \" nor the v2 signature)" },
		{ "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 1, "not a PROXY header (neither \"PROXY \" nor the v2 signature)" },
		{ "GET / HTTP/1.1\r\n", 1, "not a PROXY header (neither \"PROXY \" nor the v2 signature)" },
		{ "\x16\x03\x01\x02\x00\x01", 1, "not a PROXY header (neither \"PROXY \" nor the v2 signature)" },
		{ "PRI * HTTP/2.0\r\n", 3, "not a PROXY header (neither \"PROXY \" nor the v2 signature)" },
		{ "\r\n\r\n\r\n", 5, "not a PROXY header (neither \"PROXY \" nor the v2 signature)" },
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		expect_error_at(bad[i].line, strlen(bad[i].line), bad[i].at, bad[i].why);
	}
}

/* No CRLF within 107 bytes: refused on the 107th, however the line goes on. */
static void
test_v1_length_bound(void **state)
{
	char			line[200];
	struct proxyproto	r;
	size_t			n;

	(void)state;
	strcpy(line, "PROXY UNKNOWN ");
	n = strlen(line);
	memset(line + n, 'a', sizeof(line) - n);
	expect_error_at(line, sizeof(line), 107, "v1 line has no CRLF within 107 bytes");
	/* 105 bytes then CRLF: the longest line, accepted. */
	memcpy(line + 105, "\r\n", 2);
	assert_int_equal(parse(line, 107, &r), PROXYPROTO_DONE);
	assert_int_equal(r.header_len, 107);
	/* 106 bytes then CR: the CR would be the 107th byte, not LF. */
	line[105] = 'a';
	line[106] = '\r';
	line[107] = '\n';
	expect_error_at(line, 108, 107, "v1 line has no CRLF within 107 bytes");
	/* A TCP6 line with 45-character addresses is over the bound too. */
	strcpy(line, "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 "
	    "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 65535 65535\r\n");
	expect_error_at(line, strlen(line), 107, "v1 line has no CRLF within 107 bytes");
}

/* At PROXYPROTO_MAX bytes of anything there is an answer. */
static void
test_max_always_answers(void **state)
{
	uint8_t			*b = xmalloc(PROXYPROTO_MAX);
	struct proxyproto	r;
	uint32_t		x = 12345;
	size_t			i, k;

	(void)state;
	for (k = 0; k < 200; k++) {
		for (i = 0; i < PROXYPROTO_MAX; i++) {
			x = x * 1103515245u + 12345u;
			b[i] = (uint8_t)(x >> 16);
		}
		/* Half of them start like a header, so that the scan goes deeper. */
		if (k % 2 == 0)
			memcpy(b, sig, sizeof(sig));
		else if (k % 4 == 1)
			memcpy(b, "PROXY UNKNOWN ", 14);
		assert_int_not_equal(proxyproto_parse(b, PROXYPROTO_MAX, &r), PROXYPROTO_NEED_MORE);
	}
	free(b);
}

static void
test_error_clears_result(void **state)
{
	struct proxyproto	r;

	(void)state;
	memset(&r, 0xa5, sizeof(r));
	assert_int_equal(parse("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r", 32, &r), PROXYPROTO_ERROR);
	assert_int_equal(r.version, 0);
	assert_false(r.has_addresses);
	assert_int_equal(r.src.ss_family, 0);
	assert_int_equal(r.header_len, 0);
	memset(&r, 0xa5, sizeof(r));
	assert_int_equal(parse("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", 31, &r), PROXYPROTO_NEED_MORE);
	assert_null(r.error);
	assert_int_equal(r.version, 0);
	assert_false(r.has_addresses);
	assert_int_equal(r.header_len, 0);
	assert_int_equal(parse("", 0, &r), PROXYPROTO_NEED_MORE);
}

static void
test_status_str(void **state)
{
	(void)state;
	assert_string_equal(proxyproto_status_str(PROXYPROTO_NEED_MORE), "need_more");
	assert_string_equal(proxyproto_status_str(PROXYPROTO_DONE), "done");
	assert_string_equal(proxyproto_status_str(PROXYPROTO_ERROR), "error");
	assert_string_equal(proxyproto_status_str((enum proxyproto_status)99), "unknown");
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_captures_parse),
		cmocka_unit_test(test_captures_rebuilt_identically),
		cmocka_unit_test(test_capture_tlvs_skipped),
		cmocka_unit_test(test_truncated_at_every_offset),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_bytes_after_header_untouched),
		cmocka_unit_test(test_build_parse_round_trip),
		cmocka_unit_test(test_build_mapped_sent_as_ipv4),
		cmocka_unit_test(test_build_v2_exact_bytes),
		cmocka_unit_test(test_build_unknown_and_unspec),
		cmocka_unit_test(test_build_short_buffer),
		cmocka_unit_test(test_build_sizes),
		cmocka_unit_test(test_v2_signature_each_byte),
		cmocka_unit_test(test_v2_version_and_command),
		cmocka_unit_test(test_v2_families),
		cmocka_unit_test(test_v2_local),
		cmocka_unit_test(test_v2_lengths),
		cmocka_unit_test(test_v2_tlv_framing),
		cmocka_unit_test(test_v2_address_layout),
		cmocka_unit_test(test_v1_valid_forms),
		cmocka_unit_test(test_v1_errors),
		cmocka_unit_test(test_v1_length_bound),
		cmocka_unit_test(test_max_always_answers),
		cmocka_unit_test(test_error_clears_result),
		cmocka_unit_test(test_status_str),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
