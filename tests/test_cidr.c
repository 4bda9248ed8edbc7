/*
 * Unit tests for cidr: strict parsing with exact error messages, matching
 * at prefix boundaries, IPv4-mapped addresses matched as IPv4 only, and the
 * addresses snid never connects to.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <cmocka.h>

#include "snid/cidr.h"

/* A sockaddr for a textual IPv4 or IPv6 address. */
static struct sockaddr_storage
sa(const char *addr)
{
	struct sockaddr_storage	ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(addr, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(443);
		assert_int_equal(inet_pton(AF_INET6, addr, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(443);
		assert_int_equal(inet_pton(AF_INET, addr, &s4->sin_addr), 1);
	}
	return ss;
}

static struct cidr
parse_ok(const char *s)
{
	struct cidr	c;
	char		err[256] = "";

	if (cidr_parse(s, &c, err, sizeof(err)) != 0)
		fail_msg("'%s' refused: %s", s, err);
	return c;
}

static void
assert_parse_error(const char *s, const char *want)
{
	struct cidr	c;
	char		err[256] = "";

	memset(&c, 0x55, sizeof(c));
	assert_int_equal(cidr_parse(s, &c, err, sizeof(err)), -1);
	assert_string_equal(err, want);
}

static bool
matches(const char *prefix, const char *addr)
{
	struct cidr		c = parse_ok(prefix);
	struct sockaddr_storage	ss = sa(addr);

	return cidr_match(&c, (struct sockaddr *)&ss);
}

static bool
forbidden(const char *addr)
{
	struct sockaddr_storage	ss = sa(addr);

	return cidr_addr_forbidden((struct sockaddr *)&ss);
}

static void
assert_format(const char *in, const char *want)
{
	struct cidr	c = parse_ok(in);
	char		buf[CIDR_STRLEN];

	cidr_format(&c, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void
test_cidr_parse_valid(void **state)
{
	struct cidr	c;

	(void)state;
	c = parse_ok("192.0.2.0/24");
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.prefixlen, 24);
	assert_memory_equal(c.addr, "\xc0\x00\x02\x00", 4);
	c = parse_ok("2001:db8:1:2:3::/80");
	assert_int_equal(c.family, AF_INET6);
	assert_int_equal(c.prefixlen, 80);
	assert_memory_equal(c.addr, "\x20\x01\x0d\xb8\x00\x01\x00\x02\x00\x03\0\0\0\0\0\0", 16);
	assert_int_equal(parse_ok("0.0.0.0/0").prefixlen, 0);
	assert_int_equal(parse_ok("::/0").prefixlen, 0);
	assert_int_equal(parse_ok("10.1.2.3/32").prefixlen, 32);
	assert_int_equal(parse_ok("2001:db8::1/128").prefixlen, 128);
	/* Shorter than /96 is fine even though it covers ::ffff:0:0/96. */
	assert_int_equal(parse_ok("::/80").prefixlen, 80);
}

static void
test_cidr_format_canonical(void **state)
{
	(void)state;
	assert_format("2001:DB8:0:0:1::/80", "2001:db8:0:0:1::/80");
	assert_format("2001:db8:1:2:3::/80", "2001:db8:1:2:3::/80");
	assert_format("192.0.2.0/24", "192.0.2.0/24");
	assert_format("::/0", "::/0");
	assert_format("2001:0db8::/32", "2001:db8::/32");
}

static void
test_cidr_parse_host_bits_set(void **state)
{
	(void)state;
	assert_parse_error("2001:db8::1/80",
	    "2001:db8::1/80: host bits set; did you mean 2001:db8::/80?");
	assert_parse_error("10.0.0.1/8", "10.0.0.1/8: host bits set; did you mean 10.0.0.0/8?");
	assert_parse_error("192.0.2.255/25",
	    "192.0.2.255/25: host bits set; did you mean 192.0.2.128/25?");
	assert_parse_error("2001:db8:1:2:3:4::/80",
	    "2001:db8:1:2:3:4::/80: host bits set; did you mean 2001:db8:1:2:3::/80?");
	assert_parse_error("1.2.3.4/0", "1.2.3.4/0: host bits set; did you mean 0.0.0.0/0?");
	assert_parse_error("::1/127", "::1/127: host bits set; did you mean ::/127?");
}

static void
test_cidr_parse_v4mapped_refused(void **state)
{
	(void)state;
	assert_parse_error("::ffff:127.0.0.0/104",
	    "::ffff:127.0.0.0/104: IPv4-mapped IPv6 prefix; "
	    "write the IPv4 prefix 127.0.0.0/8 instead");
	assert_parse_error("::ffff:0:0/96",
	    "::ffff:0:0/96: IPv4-mapped IPv6 prefix; write the IPv4 prefix 0.0.0.0/0 instead");
	assert_parse_error("::ffff:192.0.2.1/128",
	    "::ffff:192.0.2.1/128: IPv4-mapped IPv6 prefix; "
	    "write the IPv4 prefix 192.0.2.1/32 instead");
}

static void
test_cidr_parse_syntax_errors(void **state)
{
	(void)state;
	assert_parse_error("192.0.2.0", "192.0.2.0: missing prefix length (write ADDRESS/LENGTH)");
	assert_parse_error("2001:db8::",
	    "2001:db8::: missing prefix length (write ADDRESS/LENGTH)");
	assert_parse_error("192.0.2.0/", "192.0.2.0/: invalid prefix length");
	assert_parse_error("192.0.2.0/+24", "192.0.2.0/+24: invalid prefix length");
	assert_parse_error("192.0.2.0/ 24", "192.0.2.0/ 24: invalid prefix length");
	assert_parse_error("192.0.2.0/24 ", "192.0.2.0/24 : invalid prefix length");
	assert_parse_error("192.0.2.0/-1", "192.0.2.0/-1: invalid prefix length");
	assert_parse_error("192.0.2.0/0x18", "192.0.2.0/0x18: invalid prefix length");
	assert_parse_error("192.0.2.0/0024", "192.0.2.0/0024: invalid prefix length");
	assert_parse_error("192.0.2.0/33", "192.0.2.0/33: prefix length must be 0..32");
	assert_parse_error("::/129", "::/129: prefix length must be 0..128");
	assert_parse_error("::/999", "::/999: prefix length must be 0..128");
	assert_parse_error("/24", "/24: invalid address");
	assert_parse_error("192.0.2/24", "192.0.2/24: invalid IPv4 address");
	assert_parse_error("192.0.2.01/32", "192.0.2.01/32: invalid IPv4 address");
	assert_parse_error(" 192.0.2.0/24", " 192.0.2.0/24: invalid IPv4 address");
	assert_parse_error("example.com/24", "example.com/24: invalid IPv4 address");
	assert_parse_error("2001:db8::g/64", "2001:db8::g/64: invalid IPv6 address");
	assert_parse_error("[2001:db8::]/64", "[2001:db8::]/64: invalid IPv6 address");
	assert_parse_error("fe80::1%eth0/64", "fe80::1%eth0/64: invalid IPv6 address");
	assert_parse_error("", ": missing prefix length (write ADDRESS/LENGTH)");
}

static void
test_cidr_match_ipv6_boundaries(void **state)
{
	(void)state;
	/* /80: the seed scenario. */
	assert_true(matches("2001:db8:1:2:3::/80", "2001:db8:1:2:3::"));
	assert_true(matches("2001:db8:1:2:3::/80", "2001:db8:1:2:3:ffff:ffff:ffff"));
	assert_false(matches("2001:db8:1:2:3::/80", "2001:db8:1:2:4::"));
	assert_false(matches("2001:db8:1:2:3::/80", "2001:db8:1:2:2:ffff:ffff:ffff"));
	/* /127 and /128. */
	assert_true(matches("2001:db8::/127", "2001:db8::1"));
	assert_false(matches("2001:db8::/127", "2001:db8::2"));
	assert_true(matches("2001:db8::1/128", "2001:db8::1"));
	assert_false(matches("2001:db8::1/128", "2001:db8::"));
	assert_false(matches("2001:db8::1/128", "2001:db8::3"));
	/* /1 splits the space in halves. */
	assert_true(matches("::/1", "7fff:ffff::"));
	assert_false(matches("::/1", "8000::"));
	assert_true(matches("8000::/1", "ffff::1"));
	/* /0 takes every IPv6 address. */
	assert_true(matches("::/0", "2001:db8::1"));
	assert_true(matches("::/0", "::1"));
	/* A bit boundary inside a byte: /65. */
	assert_true(matches("2001:db8:0:0:8000::/65", "2001:db8::ffff:0:0:1"));
	assert_false(matches("2001:db8:0:0:8000::/65", "2001:db8::7fff:0:0:1"));
}

static void
test_cidr_match_ipv4_boundaries(void **state)
{
	(void)state;
	assert_true(matches("192.0.2.0/24", "192.0.2.0"));
	assert_true(matches("192.0.2.0/24", "192.0.2.255"));
	assert_false(matches("192.0.2.0/24", "192.0.3.0"));
	assert_false(matches("192.0.2.0/24", "192.0.1.255"));
	assert_true(matches("192.0.2.7/32", "192.0.2.7"));
	assert_false(matches("192.0.2.7/32", "192.0.2.6"));
	assert_true(matches("0.0.0.0/0", "203.0.113.9"));
	assert_true(matches("0.0.0.0/1", "127.255.255.255"));
	assert_false(matches("0.0.0.0/1", "128.0.0.0"));
	/* Families never cross. */
	assert_false(matches("0.0.0.0/0", "2001:db8::1"));
	assert_false(matches("::/0", "192.0.2.1"));
}

static void
test_cidr_v4mapped_matched_as_ipv4(void **state)
{
	(void)state;
	/* ::ffff:127.0.0.1 reaches 127.0.0.1: never an IPv6 prefix, whatever its length. */
	assert_false(matches("::/0", "::ffff:127.0.0.1"));
	assert_false(matches("::/80", "::ffff:127.0.0.1"));
	assert_false(matches("::fffe:0:0/95", "::ffff:127.0.0.1"));
	assert_true(matches("::fffe:0:0/95", "::fffe:7f00:1"));
	assert_true(matches("127.0.0.0/8", "::ffff:127.0.0.1"));
	assert_true(matches("0.0.0.0/0", "::ffff:10.1.2.3"));
	assert_false(matches("192.0.2.0/24", "::ffff:10.1.2.3"));
	/* Not v4-mapped: ::127.0.0.1 (IPv4-compatible) and 64:ff9b::/96 stay IPv6. */
	assert_true(matches("::/0", "::127.0.0.1"));
	assert_false(matches("127.0.0.0/8", "::127.0.0.1"));
	assert_false(matches("127.0.0.0/8", "64:ff9b::127.0.0.1"));
}

static void
test_cidr_list_match_ipv6_list_refuses_v4mapped(void **state)
{
	struct cidr		list[2];
	struct sockaddr_storage	a;

	(void)state;
	list[0] = parse_ok("::/0");
	list[1] = parse_ok("2001:db8:1:2:3::/80");
	a = sa("::ffff:127.0.0.1");
	assert_false(cidr_list_match(list, 2, (struct sockaddr *)&a));
	a = sa("::ffff:0.0.0.0");
	assert_false(cidr_list_match(list, 2, (struct sockaddr *)&a));
	a = sa("2001:db8:1:2:3::10");
	assert_true(cidr_list_match(list, 2, (struct sockaddr *)&a));
	a = sa("127.0.0.1");
	assert_false(cidr_list_match(list, 2, (struct sockaddr *)&a));
	assert_false(cidr_list_match(list, 0, (struct sockaddr *)&a));
	assert_false(cidr_list_has_ipv4(list, 2));
	list[1] = parse_ok("10.0.0.0/8");
	assert_true(cidr_list_has_ipv4(list, 2));
	a = sa("::ffff:10.9.9.9");
	assert_true(cidr_list_match(list, 2, (struct sockaddr *)&a));
}

static void
test_cidr_match_other_family_never(void **state)
{
	struct cidr		c = parse_ok("::/0");
	struct sockaddr_storage	ss;

	(void)state;
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	assert_false(cidr_match(&c, (struct sockaddr *)&ss));
	assert_true(cidr_addr_forbidden((struct sockaddr *)&ss));
	assert_true(cidr_addr_forbidden(NULL));
}

static void
test_cidr_addr_forbidden(void **state)
{
	(void)state;
	assert_true(forbidden("::"));
	assert_true(forbidden("0.0.0.0"));
	assert_true(forbidden("0.1.2.3"));
	assert_true(forbidden("::ffff:0.0.0.0"));
	assert_true(forbidden("ff02::1"));
	assert_true(forbidden("ff00::"));
	assert_true(forbidden("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
	assert_true(forbidden("224.0.0.1"));
	assert_true(forbidden("239.255.255.255"));
	assert_true(forbidden("::ffff:224.0.0.1"));
	assert_true(forbidden("::ffff:239.1.2.3"));
	assert_true(forbidden("255.255.255.255"));
	assert_true(forbidden("::ffff:255.255.255.255"));

	assert_false(forbidden("2001:db8:1:2:3::1"));
	assert_false(forbidden("::1"));
	assert_false(forbidden("fe80::1"));
	assert_false(forbidden("fe00::1"));
	assert_false(forbidden("1.0.0.0"));
	assert_false(forbidden("223.255.255.255"));
	assert_false(forbidden("240.0.0.1"));
	assert_false(forbidden("255.255.255.254"));
	assert_false(forbidden("192.0.2.1"));
	assert_false(forbidden("::ffff:192.0.2.1"));
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_cidr_parse_valid),
		cmocka_unit_test(test_cidr_format_canonical),
		cmocka_unit_test(test_cidr_parse_host_bits_set),
		cmocka_unit_test(test_cidr_parse_v4mapped_refused),
		cmocka_unit_test(test_cidr_parse_syntax_errors),
		cmocka_unit_test(test_cidr_match_ipv6_boundaries),
		cmocka_unit_test(test_cidr_match_ipv4_boundaries),
		cmocka_unit_test(test_cidr_v4mapped_matched_as_ipv4),
		cmocka_unit_test(test_cidr_list_match_ipv6_list_refuses_v4mapped),
		cmocka_unit_test(test_cidr_match_other_family_never),
		cmocka_unit_test(test_cidr_addr_forbidden),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
