/*
 * Unit tests for hostname_canonicalize(): every acceptance rule and every
 * refusal reason, with the exact canonical output or reason string.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "snid/hostname.h"

/* Canonicalise a C string; returns the reason (NULL when valid). */
static const char *
canon(const char *in, char out[HOSTNAME_MAX + 1])
{
	return hostname_canonicalize(in, strlen(in), out);
}

static void
assert_valid(const char *in, const char *want)
{
	char		out[HOSTNAME_MAX + 1];
	const char	*reason = canon(in, out);

	if (reason != NULL)
		fail_msg("'%s' refused: %s", in, reason);
	assert_string_equal(out, want);
}

static void
assert_refused(const char *in, const char *want_reason)
{
	char		out[HOSTNAME_MAX + 1];
	const char	*reason;

	memset(out, 'x', sizeof(out));
	reason = canon(in, out);
	if (reason == NULL)
		fail_msg("'%s' accepted as '%s'", in, out);
	assert_string_equal(reason, want_reason);
	assert_string_equal(out, "");
}

/* A name of n characters: labels of 'a' of at most label_len, dot-separated. */
static void
make_name(char *buf, size_t n, size_t label_len)
{
	size_t	i, in_label = 0;

	for (i = 0; i < n; i++) {
		if (in_label == label_len && i + 1 < n) {
			buf[i] = '.';
			in_label = 0;
		} else {
			buf[i] = 'a';
			in_label++;
		}
	}
	buf[n] = '\0';
}

static void
test_hostname_simple_names(void **state)
{
	(void)state;
	assert_valid("example.com", "example.com");
	assert_valid("a", "a");
	assert_valid("localhost", "localhost");
	assert_valid("www.example.co.uk", "www.example.co.uk");
	assert_valid("xn--bcher-kva.example", "xn--bcher-kva.example");
	assert_valid("0.example.com", "0.example.com");
	assert_valid("123.example.com", "123.example.com");
	assert_valid("a1", "a1");
}

static void
test_hostname_lower_case(void **state)
{
	(void)state;
	assert_valid("WWW.Example.COM", "www.example.com");
	assert_valid("ABCDEFGHIJKLMNOPQRSTUVWXYZ.z", "abcdefghijklmnopqrstuvwxyz.z");
}

static void
test_hostname_one_trailing_dot_removed(void **state)
{
	(void)state;
	assert_valid("example.com.", "example.com");
	assert_valid("Example.COM.", "example.com");
	assert_refused("example.com..", "empty label");
	assert_refused(".", "empty");
	assert_refused("..", "empty label");
}

static void
test_hostname_underscore_and_hyphen(void **state)
{
	(void)state;
	assert_valid("_xmpps-client._tcp.example.com", "_xmpps-client._tcp.example.com");
	assert_valid("_.example.com", "_.example.com");
	assert_valid("a-b.c_d.example", "a-b.c_d.example");
	assert_valid("a--b.example", "a--b.example");
	assert_valid("xn--bcher-kva.example", "xn--bcher-kva.example");
}

/* RFC 952 / 1123: no label starts or ends with '-'. */
static void
test_hostname_hyphen_at_label_edge(void **state)
{
	const char	*why = "label starts or ends with '-'";

	(void)state;
	assert_refused("-leading.example", why);
	assert_refused("trailing-.example", why);
	assert_refused("a.-b.example", why);
	assert_refused("a.b-.example", why);
	assert_refused("example.-zz", why);
	assert_refused("example.zz-", why);
	assert_refused("example.zz-.", why);
	assert_refused("-", why);
	assert_refused("-zz.test", why);
}

static void
test_hostname_empty(void **state)
{
	char	out[HOSTNAME_MAX + 1];

	(void)state;
	assert_refused("", "empty");
	assert_string_equal(hostname_canonicalize("example.com", 0, out), "empty");
}

static void
test_hostname_empty_labels(void **state)
{
	(void)state;
	assert_refused(".example.com", "empty label");
	assert_refused("example..com", "empty label");
	assert_refused("a...b", "empty label");
}

static void
test_hostname_label_63_ok_64_refused(void **state)
{
	char	name[100];

	(void)state;
	memset(name, 'a', 63);
	strcpy(name + 63, ".com");
	assert_valid(name, name);
	memset(name, 'b', 64);
	strcpy(name + 64, ".com");
	assert_refused(name, "label longer than 63");
	/* Also as the last label. */
	strcpy(name, "x.");
	memset(name + 2, 'c', 64);
	name[66] = '\0';
	assert_refused(name, "label longer than 63");
}

static void
test_hostname_total_253_ok_254_refused(void **state)
{
	char	name[300], dotted[310];

	(void)state;
	make_name(name, 253, 63);
	assert_int_equal(strlen(name), 253);
	assert_valid(name, name);
	/* 253 plus the one trailing dot allowed is still fine. */
	snprintf(dotted, sizeof(dotted), "%s.", name);
	assert_valid(dotted, name);
	make_name(name, 254, 63);
	assert_refused(name, "too long");
	make_name(name, 299, 10);
	assert_refused(name, "too long");
}

static void
test_hostname_invalid_characters(void **state)
{
	(void)state;
	assert_refused("exa mple.com", "invalid character");
	assert_refused("example.com/", "invalid character");
	assert_refused("../etc/passwd", "empty label");
	assert_refused("a./etc", "invalid character");
	assert_refused("a/b", "invalid character");
	assert_refused("*.example.com", "invalid character");
	assert_refused("example.com\n", "invalid character");
	assert_refused("ex@mple.com", "invalid character");
	assert_refused("a\\b", "invalid character");
	assert_refused("host:443", "invalid character");
	assert_refused("[example.com]", "invalid character");
}

static void
test_hostname_nul_inside(void **state)
{
	char	out[HOSTNAME_MAX + 1];

	(void)state;
	assert_string_equal(hostname_canonicalize("good.com\0evil.com", 17, out), "NUL character");
	assert_string_equal(out, "");
	assert_string_equal(hostname_canonicalize("\0", 1, out), "NUL character");
	/* Only len bytes are looked at: a NUL after them does not matter. */
	assert_null(hostname_canonicalize("abc\0def", 3, out));
	assert_string_equal(out, "abc");
}

static void
test_hostname_non_ascii(void **state)
{
	(void)state;
	assert_refused("b\xc3\xbc" "cher.example", "non-ASCII character");
	assert_refused("\xff", "non-ASCII character");
	assert_refused("example.com\x80", "non-ASCII character");
}

static void
test_hostname_ipv4_literals(void **state)
{
	(void)state;
	assert_refused("192.0.2.1", "IPv4 literal");
	assert_refused("192.0.2.1.", "IPv4 literal");
	assert_refused("127.0.0.1", "IPv4 literal");
	/* Forms inet_aton() accepts: a resolver might treat them as addresses. */
	assert_refused("127.1", "IPv4 literal");
	assert_refused("3232235777", "IPv4 literal");
	assert_refused("0x7f000001", "IPv4 literal");
	assert_refused("0X7F000001", "IPv4 literal");
	assert_refused("017700000001", "IPv4 literal");
	assert_refused("0x7f.1", "IPv4 literal");
}

static void
test_hostname_numeric_top_level_label(void **state)
{
	(void)state;
	assert_refused("example.123", "numeric top-level label");
	assert_refused("1.2.3.4.5", "numeric top-level label");
	assert_refused("99999999999", "numeric top-level label");
	assert_refused("256.256.256.256", "numeric top-level label");
	assert_valid("example.123a", "example.123a");
	assert_valid("123.example", "123.example");
}

static void
test_hostname_ipv6_literals(void **state)
{
	(void)state;
	assert_refused("::1", "IPv6 literal");
	assert_refused("[::1]", "IPv6 literal");
	assert_refused("2001:db8::1", "IPv6 literal");
	assert_refused("[2001:DB8::1]", "IPv6 literal");
	assert_refused("::ffff:127.0.0.1", "IPv6 literal");
	assert_refused("[::1", "invalid character");
	assert_refused("fe80::1%eth0", "invalid character");
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_hostname_simple_names),
		cmocka_unit_test(test_hostname_lower_case),
		cmocka_unit_test(test_hostname_one_trailing_dot_removed),
		cmocka_unit_test(test_hostname_underscore_and_hyphen),
		cmocka_unit_test(test_hostname_hyphen_at_label_edge),
		cmocka_unit_test(test_hostname_empty),
		cmocka_unit_test(test_hostname_empty_labels),
		cmocka_unit_test(test_hostname_label_63_ok_64_refused),
		cmocka_unit_test(test_hostname_total_253_ok_254_refused),
		cmocka_unit_test(test_hostname_invalid_characters),
		cmocka_unit_test(test_hostname_nul_inside),
		cmocka_unit_test(test_hostname_non_ascii),
		cmocka_unit_test(test_hostname_ipv4_literals),
		cmocka_unit_test(test_hostname_numeric_top_level_label),
		cmocka_unit_test(test_hostname_ipv6_literals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
