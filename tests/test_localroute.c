/*
 * Unit tests for localroute: prefix overlap both ways and across
 * families, and a real netlink dump of this host's local table, which
 * always holds 127.0.0.0/8 (and ::1 where IPv6 is up); the route the
 * kernel picks for one loopback address.
 */
#include <arpa/inet.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <cmocka.h>

#include "snid/cidr.h"
#include "snid/localroute.h"

static struct cidr
pfx(const char *s)
{
	struct cidr	c;
	char		err[128];

	if (cidr_parse(s, &c, err, sizeof(err)) != 0)
		fail_msg("%s: %s", s, err);
	return c;
}

static bool
overlap(const char *a, const char *b)
{
	struct cidr	x = pfx(a), y = pfx(b);

	assert_int_equal(localroute_overlap(&x, &y), localroute_overlap(&y, &x));
	return localroute_overlap(&x, &y);
}

static void
test_localroute_overlap(void **state)
{
	(void)state;
	assert_true(overlap("2001:db8:1:2::/64", "2001:db8:1:2:3::/96"));
	assert_true(overlap("2001:db8:1:2:3::/80", "2001:db8:1:2:3:0:0:5/128"));
	assert_false(overlap("2001:db8:1:2:3::/80", "2001:db8:1:2:4::/80"));
	assert_false(overlap("2001:db8:1:2:3::/80", "64:ff9b:1::/96"));
	assert_true(overlap("::/0", "::1/128"));
	assert_true(overlap("127.0.0.0/8", "127.0.0.1/32"));
	assert_true(overlap("10.0.0.0/7", "11.1.0.0/16"));
	assert_false(overlap("10.0.0.0/8", "11.0.0.0/8"));
	assert_false(overlap("192.0.2.0/25", "192.0.2.128/25"));
	assert_true(overlap("192.0.2.0/23", "192.0.3.128/25"));
	/* Families never meet (a v4-mapped prefix cannot be written). */
	assert_false(overlap("0.0.0.0/0", "::/0"));
}

static void
test_localroute_list_has_loopback(void **state)
{
	struct cidr	r[256], lo = pfx("127.0.0.1/32");
	char		err[128], buf[CIDR_STRLEN];
	int		n, i;
	bool		found = false;

	(void)state;
	n = localroute_list(r, 256, err, sizeof(err));
	if (n == -1)
		fail_msg("localroute_list: %s", err);
	for (i = 0; i < n && i < 256; i++) {
		cidr_format(&r[i], buf, sizeof(buf));
		print_message("  local %s\n", buf);
		if (localroute_overlap(&r[i], &lo))
			found = true;
	}
	assert_true(found);
	/* Asking for fewer still counts them all. */
	assert_int_equal(localroute_list(r, 1, err, sizeof(err)), n);
}

/* localroute_get: 127.0.0.2 is delivered locally, on lo; not an IP: -2. */
static void
test_localroute_get_loopback(void **state)
{
	struct localroute_hop	hop;
	struct sockaddr_in	sin;
	struct sockaddr_un	sun;
	char			err[128], dev[IF_NAMESIZE];

	(void)state;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, "127.0.0.2", &sin.sin_addr), 1);
	if (localroute_get((struct sockaddr *)&sin, &hop, err,
	    sizeof(err)) != 0)
		fail_msg("localroute_get 127.0.0.2: %s", err);
	assert_int_equal(hop.type, RTN_LOCAL);
	assert_false(hop.has_gateway);
	assert_non_null(if_indextoname(hop.oif, dev));
	assert_string_equal(dev, "lo");
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	assert_int_equal(localroute_get((struct sockaddr *)&sun, &hop, err,
	    sizeof(err)), -2);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_localroute_overlap),
		cmocka_unit_test(test_localroute_list_has_loopback),
		cmocka_unit_test(test_localroute_get_loopback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
