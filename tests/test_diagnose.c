/*
 * Unit tests for the pure half of -diagnose (diagnose_hello.c): the probe
 * ClientHello is one record of DIAGNOSE_HELLO_SIZE bytes that snid's own
 * parser reads back (SNI, ALPN, TLS 1.3), with a well-formed
 * X25519MLKEM768 share; the judgement of a backend's first bytes; the
 * addresses a NATed host has.  The network steps are covered by
 * tests/integration/cases_diagnose.py against real servers.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "snid/clienthello.h"
#include "snid/diagnose.h"
#include "snid/hostname.h"

/* The offset of extension type in the hello's extensions, or 0. */
static size_t
find_ext(const uint8_t *h, size_t len, unsigned type)
{
	size_t	off = 5 + 4 + 2 + 32, end;

	off += 1 + h[off];				/* session id */
	off += 2 + (size_t)(h[off] << 8 | h[off + 1]);	/* suites */
	off += 1 + h[off];				/* compression */
	end = off + 2 + (size_t)(h[off] << 8 | h[off + 1]);
	assert_int_equal(end, len);
	for (off += 2; off + 4 <= end;
	    off += 4 + (size_t)(h[off + 2] << 8 | h[off + 3]))
		if ((unsigned)(h[off] << 8 | h[off + 1]) == type)
			return off;
	return 0;
}

static void
test_diagnose_hello_parses(void **state)
{
	static const char	*names[] = { "a.example", "git.example.com", NULL };
	uint8_t			 buf[DIAGNOSE_HELLO_SIZE + 64];
	struct clienthello	 h;
	uint64_t		 rng = 1;
	size_t			 n, i;

	(void)state;
	for (i = 0; names[i] != NULL; i++) {
		n = diagnose_hello_build(names[i], &rng, buf, sizeof(buf));
		assert_int_equal(n, DIAGNOSE_HELLO_SIZE);
		assert_int_equal(buf[0], 22);
		assert_int_equal((size_t)(buf[3] << 8 | buf[4]), n - 5);
		assert_int_equal(clienthello_parse(buf, n, &h),
		    CLIENTHELLO_DONE);
		assert_true(h.has_sni);
		assert_string_equal(h.sni, names[i]);
		assert_int_equal(h.wire_len, n);
		assert_int_equal(h.alpn_count, 2);
		assert_string_equal(h.alpn[0], "h2");
		assert_int_equal(h.versions_count, 2);
		assert_int_equal(h.versions[0], 0x0304);
		assert_true(find_ext(buf, n, 21) != 0);	/* padding */
	}
}

/* The longest name still fits; the key share is X25519MLKEM768 first. */
static void
test_diagnose_hello_key_share(void **state)
{
	uint8_t		buf[DIAGNOSE_HELLO_SIZE], again[DIAGNOSE_HELLO_SIZE];
	char		name[HOSTNAME_MAX + 2];
	uint64_t	rng = 7, rng2 = 7;
	size_t		n, ks, i;
	unsigned	c0, c1;

	(void)state;
	for (i = 0; i < HOSTNAME_MAX; i++)
		name[i] = i % 64 == 63 ? '.' : 'x';
	name[HOSTNAME_MAX] = '\0';
	n = diagnose_hello_build(name, &rng, buf, sizeof(buf));
	assert_int_equal(n, DIAGNOSE_HELLO_SIZE);
	/* Deterministic for a seed (the caller seeds it from getrandom). */
	assert_int_equal(diagnose_hello_build(name, &rng2, again,
	    sizeof(again)), n);
	assert_memory_equal(buf, again, n);
	ks = find_ext(buf, n, 51);
	assert_true(ks != 0);
	assert_int_equal(buf[ks + 6] << 8 | buf[ks + 7], 0x11ec);
	assert_int_equal(buf[ks + 8] << 8 | buf[ks + 9], 1184 + 32);
	/* Every 12-bit coefficient of the ML-KEM key is below q = 3329. */
	for (i = 0; i < 1152; i += 3) {
		const uint8_t *p = buf + ks + 10 + i;

		c0 = p[0] | (unsigned)(p[1] & 0x0f) << 8;
		c1 = (unsigned)p[1] >> 4 | (unsigned)p[2] << 4;
		assert_true(c0 < 3329 && c1 < 3329);
	}
	assert_int_equal(buf[ks + 10 + 1216] << 8 | buf[ks + 11 + 1216],
	    0x001d);
	/* Too long a name, too small a buffer: nothing. */
	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_int_equal(diagnose_hello_build(name, &rng, buf, sizeof(buf)), 0);
	assert_int_equal(diagnose_hello_build("a.example", &rng, buf,
	    sizeof(buf) - 1), 0);
}

static void
test_diagnose_reply(void **state)
{
	static const uint8_t	sh[] = { 22, 3, 3, 0, 90, 2, 0, 0, 86 };
	static const uint8_t	al[] = { 21, 3, 3, 0, 2, 2, 112 };
	static const uint8_t	fin[] = { 22, 3, 3, 0, 4, 20 };
	uint8_t			a;

	(void)state;
	assert_int_equal(diagnose_reply_parse(sh, 0, &a), DIAGNOSE_REPLY_MORE);
	assert_int_equal(diagnose_reply_parse(sh, 5, &a), DIAGNOSE_REPLY_MORE);
	assert_int_equal(diagnose_reply_parse(sh, sizeof(sh), &a),
	    DIAGNOSE_REPLY_SERVER_HELLO);
	assert_int_equal(diagnose_reply_parse(al, 6, &a), DIAGNOSE_REPLY_MORE);
	assert_int_equal(diagnose_reply_parse(al, sizeof(al), &a),
	    DIAGNOSE_REPLY_ALERT);
	assert_int_equal(a, 112);
	assert_string_equal(diagnose_alert_name(a), "unrecognized_name");
	assert_string_equal(diagnose_alert_name(40), "handshake_failure");
	assert_string_equal(diagnose_alert_name(255), "?");
	assert_int_equal(diagnose_reply_parse(fin, sizeof(fin), &a),
	    DIAGNOSE_REPLY_OTHER);
	assert_int_equal(diagnose_reply_parse((const uint8_t *)"HTTP/1.1", 8,
	    &a), DIAGNOSE_REPLY_OTHER);
	assert_int_equal(diagnose_reply_parse((const uint8_t *)"\x16\x01", 2,
	    &a), DIAGNOSE_REPLY_OTHER);
}

static uint32_t
v4(const char *s)
{
	struct in_addr	a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

static void
test_diagnose_ipv4_private(void **state)
{
	static const char	*priv[] = { "10.0.0.4", "172.16.0.1",
		"172.31.255.255", "192.168.1.1", "100.64.0.1", "100.127.1.1",
		"169.254.169.254", "127.0.0.1", NULL };
	static const char	*pub[] = { "192.0.2.1", "203.0.113.9",
		"172.32.0.1", "100.128.0.1", "8.8.8.8", "11.0.0.1", NULL };
	size_t			 i;

	(void)state;
	for (i = 0; priv[i] != NULL; i++)
		if (!diagnose_ipv4_private(v4(priv[i])))
			fail_msg("%s should be private", priv[i]);
	for (i = 0; pub[i] != NULL; i++)
		if (diagnose_ipv4_private(v4(pub[i])))
			fail_msg("%s should be public", pub[i]);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_diagnose_hello_parses),
		cmocka_unit_test(test_diagnose_hello_key_share),
		cmocka_unit_test(test_diagnose_reply),
		cmocka_unit_test(test_diagnose_ipv4_private),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
