/*
 * Unit tests for portset: parsing with exact error messages, merging of
 * overlapping and touching ranges, membership at range edges, and the
 * canonical text that -check prints.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "snid/portset.h"

/* Parse s into an empty set and compare its canonical text with want. */
static void
assert_canonical(const char *s, const char *want)
{
	struct portset	ps;
	char		err[128], buf[PORTSET_STRLEN];

	portset_clear(&ps);
	if (portset_parse(&ps, s, err, sizeof(err)) != 0)
		fail_msg("%s: %s", s, err);
	portset_format(&ps, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void
assert_parse_error(const char *s, const char *want)
{
	struct portset	ps;
	char		err[128], buf[PORTSET_STRLEN];

	portset_clear(&ps);
	assert_int_equal(portset_add(&ps, 443), 0);
	assert_int_equal(portset_parse(&ps, s, err, sizeof(err)), -1);
	assert_string_equal(err, want);
	/* A failed parse leaves the set as it was. */
	portset_format(&ps, buf, sizeof(buf));
	assert_string_equal(buf, "443");
}

static void
test_portset_parse_and_format(void **state)
{
	(void)state;
	assert_canonical("443", "443");
	assert_canonical("8443,443", "443,8443");
	assert_canonical(" 443 , 5222-5223,5269 ", "443,5222-5223,5269");
	assert_canonical("1-65535", "1-65535");
	assert_canonical("5222-5222", "5222");
	assert_canonical("65535,1", "1,65535");
}

static void
test_portset_merges(void **state)
{
	(void)state;
	assert_canonical("443,443", "443");
	assert_canonical("5222,5223", "5222-5223");
	assert_canonical("10-20,15-30", "10-30");
	assert_canonical("10-20,21-30", "10-30");
	assert_canonical("10-20,22-30", "10-20,22-30");
	assert_canonical("30-40,10-20,21-29", "10-40");
	assert_canonical("1,3,5,7,2-6", "1-7");
	assert_canonical("100,200,300,1-1000", "1-1000");
	assert_canonical("5,1-4", "1-5");
	assert_canonical("1-4,6,5", "1-6");
}

static void
test_portset_errors(void **state)
{
	(void)state;
	assert_parse_error("", "empty element (two commas?)");
	assert_parse_error("443,,8443", "empty element (two commas?)");
	assert_parse_error("443,", "empty element (two commas?)");
	assert_parse_error("0", "0: not a port (1-65535) or a range LO-HI");
	assert_parse_error("65536", "65536: not a port (1-65535) or a range LO-HI");
	assert_parse_error("https", "https: not a port (1-65535) or a range LO-HI");
	assert_parse_error("-443", "-443: not a port (1-65535) or a range LO-HI");
	assert_parse_error("443-", "443-: not a port (1-65535) or a range LO-HI");
	assert_parse_error("1-2-3", "1-2-3: not a port (1-65535) or a range LO-HI");
	assert_parse_error("+443", "+443: not a port (1-65535) or a range LO-HI");
	assert_parse_error("0443", "0443: not a port (1-65535) or a range LO-HI");
	assert_parse_error("5223-5222", "5223-5222: range ends before it starts");
	assert_parse_error("8443,99999", "99999: not a port (1-65535) or a range LO-HI");
}

/* PORTSET_MAX separate ranges fit; one more does not, merging always does. */
static void
test_portset_full(void **state)
{
	struct portset	ps;
	char		err[128], list[PORTSET_STRLEN];
	size_t		at = 0;
	int		i;

	(void)state;
	portset_clear(&ps);
	for (i = 0; i < PORTSET_MAX; i++)
		assert_int_equal(portset_add(&ps, (uint16_t)(2 * i + 1)), 0);
	assert_int_equal(portset_add(&ps, 1000), -1);
	/* Merging needs no room. */
	assert_int_equal(portset_add(&ps, 2), 0);
	assert_int_equal(ps.n, PORTSET_MAX - 1);

	for (i = 0; i <= PORTSET_MAX; i++)
		at += (size_t)snprintf(list + at, sizeof(list) - at, "%s%d",
		    i ? "," : "", 2 * i + 1);
	portset_clear(&ps);
	assert_int_equal(portset_parse(&ps, list, err, sizeof(err)), -1);
	assert_string_equal(err, "more than 64 separate ranges");
	assert_int_equal(ps.n, 0);
}

static void
test_portset_contains(void **state)
{
	struct portset	ps;
	char		err[128];

	(void)state;
	portset_clear(&ps);
	assert_false(portset_contains(&ps, 443));
	assert_int_equal(portset_parse(&ps, "443,5222-5223,8443", err,
	    sizeof(err)), 0);
	assert_true(portset_contains(&ps, 443));
	assert_true(portset_contains(&ps, 5222));
	assert_true(portset_contains(&ps, 5223));
	assert_true(portset_contains(&ps, 8443));
	assert_false(portset_contains(&ps, 0));
	assert_false(portset_contains(&ps, 442));
	assert_false(portset_contains(&ps, 444));
	assert_false(portset_contains(&ps, 5221));
	assert_false(portset_contains(&ps, 5224));
	assert_false(portset_contains(&ps, 16379));
	assert_false(portset_contains(&ps, 65535));
	assert_int_equal(portset_add(&ps, 0), 0);
	assert_false(portset_contains(&ps, 0));
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_portset_parse_and_format),
		cmocka_unit_test(test_portset_merges),
		cmocka_unit_test(test_portset_errors),
		cmocka_unit_test(test_portset_full),
		cmocka_unit_test(test_portset_contains),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
