/*
 * Unit tests for dnscache, on a fake clock (plain doubles): positive TTL
 * with every address kept, negative TTL from the SOA, the stale window,
 * errors over a positive entry, LRU replacement that keeps hot names, and
 * the SOA finder on hand-built messages.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "snid/dnscache.h"

static void
addr6(union sockaddr_inet *a, uint8_t last)
{
	memset(a, 0, sizeof(*a));
	a->in6.sin6_family = AF_INET6;
	a->in6.sin6_addr.s6_addr[0] = 0xfd;
	a->in6.sin6_addr.s6_addr[15] = last;
}

static void
test_positive_keeps_every_address_for_its_ttl(void **state)
{
	struct dnscache			*c = dnscache_new(16);
	union sockaddr_inet		 a[DNSCACHE_MAX_ADDRS];
	const struct dnscache_entry	*e;
	enum dnscache_hit		 hit;

	(void)state;
	for (int i = 0; i < DNSCACHE_MAX_ADDRS; i++)
		addr6(&a[i], (uint8_t)i);
	dnscache_put_positive(c, "a.test", true, a, DNSCACHE_MAX_ADDRS, 60,
	    100.0);
	e = dnscache_get(c, "a.test", true, 159.9, 0, &hit);
	assert_non_null(e);
	assert_int_equal(hit, DNSCACHE_FRESH);
	assert_int_equal(e->kind, DNSCACHE_POSITIVE);
	assert_int_equal(e->n, DNSCACHE_MAX_ADDRS);
	assert_memory_equal(e->addrs, a, sizeof(a));
	/* want_a is part of the key. */
	assert_null(dnscache_get(c, "a.test", false, 101.0, 0, &hit));
	assert_int_equal(hit, DNSCACHE_MISS);
	/* Expired, no stale window: gone. */
	assert_null(dnscache_get(c, "a.test", true, 160.0, 0, &hit));
	assert_int_equal(dnscache_count(c, DNSCACHE_POSITIVE), 0);
	/* TTL 0 is not cached; a huge TTL is capped. */
	dnscache_put_positive(c, "z.test", false, a, 1, 0, 0.0);
	assert_null(dnscache_get(c, "z.test", false, 0.0, 0, &hit));
	dnscache_put_positive(c, "b.test", false, a, 1, 999999, 0.0);
	assert_null(dnscache_get(c, "b.test", false, DNSCACHE_MAX_TTL, 0,
	    &hit));
	dnscache_free(c);
}

static void
test_negative_ttl_rfc2308(void **state)
{
	(void)state;
	assert_int_equal(dnscache_negative_ttl(true, 10, 20, 30), 10);
	assert_int_equal(dnscache_negative_ttl(true, 20, 10, 30), 10);
	assert_int_equal(dnscache_negative_ttl(true, 3600, 900, 30), 30);
	assert_int_equal(dnscache_negative_ttl(true, 0, 900, 30), 0);
	assert_int_equal(dnscache_negative_ttl(false, 0, 0, 30),
	    DNSCACHE_NOSOA_TTL);
	assert_int_equal(dnscache_negative_ttl(false, 0, 0, 2), 2);
}

static void
test_negative_entry_expires(void **state)
{
	struct dnscache			*c = dnscache_new(16);
	const struct dnscache_entry	*e;
	enum dnscache_hit		 hit;

	(void)state;
	dnscache_put_failure(c, "gone.test", false, DNSCACHE_NEGATIVE,
	    "NXDOMAIN", false, 5, 10.0);
	e = dnscache_get(c, "gone.test", false, 14.9, 3600, &hit);
	assert_non_null(e);
	assert_int_equal(hit, DNSCACHE_FRESH);
	assert_int_equal(e->kind, DNSCACHE_NEGATIVE);
	assert_string_equal(e->detail, "NXDOMAIN");
	assert_int_equal(dnscache_count(c, DNSCACHE_NEGATIVE), 1);
	/* A negative entry is never served stale. */
	assert_null(dnscache_get(c, "gone.test", false, 15.0, 3600, &hit));
	assert_int_equal(dnscache_count(c, DNSCACHE_NEGATIVE), 0);
	dnscache_free(c);
}

static void
test_stale_window_and_failed_refresh(void **state)
{
	struct dnscache			*c = dnscache_new(16);
	union sockaddr_inet		 a;
	const struct dnscache_entry	*e;
	enum dnscache_hit		 hit;

	(void)state;
	addr6(&a, 1);
	dnscache_put_positive(c, "s.test", false, &a, 1, 10, 0.0);
	e = dnscache_get(c, "s.test", false, 50.0, 100, &hit);
	assert_non_null(e);
	assert_int_equal(hit, DNSCACHE_STALE);
	assert_true(e->retry_after <= 50.0);
	/* The refresh fails: the positive entry stays, marked until 53. */
	dnscache_put_failure(c, "s.test", false, DNSCACHE_ERROR, "SERVFAIL",
	    false, 3, 50.0);
	e = dnscache_get(c, "s.test", false, 51.0, 100, &hit);
	assert_non_null(e);
	assert_int_equal(hit, DNSCACHE_STALE);
	assert_int_equal(e->kind, DNSCACHE_POSITIVE);
	assert_true(e->retry_after > 51.0 && e->retry_after <= 53.0);
	assert_int_equal(dnscache_count(c, DNSCACHE_ERROR), 0);
	/* Past the window: gone.  Stale 0 never serves stale. */
	assert_null(dnscache_get(c, "s.test", false, 110.0, 100, &hit));
	dnscache_put_positive(c, "s.test", false, &a, 1, 10, 0.0);
	assert_null(dnscache_get(c, "s.test", false, 10.0, 0, &hit));
	/* An NXDOMAIN does replace a positive entry: the name is gone. */
	dnscache_put_positive(c, "s.test", false, &a, 1, 10, 0.0);
	dnscache_put_failure(c, "s.test", false, DNSCACHE_NEGATIVE, "NXDOMAIN",
	    false, 5, 11.0);
	e = dnscache_get(c, "s.test", false, 12.0, 100, &hit);
	assert_non_null(e);
	assert_int_equal(e->kind, DNSCACHE_NEGATIVE);
	dnscache_free(c);
}

static void
test_error_entry_is_short(void **state)
{
	struct dnscache			*c = dnscache_new(16);
	const struct dnscache_entry	*e;
	enum dnscache_hit		 hit;

	(void)state;
	dnscache_put_failure(c, "e.test", true, DNSCACHE_ERROR, "Timeout",
	    true, DNSCACHE_ERROR_TTL, 0.0);
	e = dnscache_get(c, "e.test", true, 1.0, 3600, &hit);
	assert_non_null(e);
	assert_int_equal(e->kind, DNSCACHE_ERROR);
	assert_true(e->timeout);
	assert_null(dnscache_get(c, "e.test", true, DNSCACHE_ERROR_TTL, 3600,
	    &hit));
	dnscache_free(c);
}

/* Two names that a direct-mapped table could make fight: both stay. */
static void
test_lru_keeps_hot_names(void **state)
{
	struct dnscache		*c = dnscache_new(8);
	union sockaddr_inet	 a;
	enum dnscache_hit	 hit;
	char			 name[32];

	(void)state;
	addr6(&a, 1);
	dnscache_put_positive(c, "hot.test", false, &a, 1, 300, 0.0);
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "cold%d.test", i);
		dnscache_put_positive(c, name, false, &a, 1, 300, 0.0);
		/* Used between every insertion: always the most recent. */
		assert_non_null(dnscache_get(c, "hot.test", false, 1.0, 0,
		    &hit));
	}
	assert_int_equal(dnscache_count(c, DNSCACHE_POSITIVE), 8);
	/* The oldest cold names went; the last ones are there. */
	assert_null(dnscache_get(c, "cold0.test", false, 1.0, 0, &hit));
	assert_non_null(dnscache_get(c, "cold99.test", false, 1.0, 0, &hit));
	dnscache_free(c);
}

/* A flood of negative answers recycles its own quarter of the table. */
static void
test_negative_flood_cannot_evict_positive(void **state)
{
	struct dnscache		*c = dnscache_new(16);
	union sockaddr_inet	 a;
	enum dnscache_hit	 hit;
	char			 name[32];

	(void)state;
	addr6(&a, 1);
	for (int i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "pos%d.test", i);
		dnscache_put_positive(c, name, false, &a, 1, 300, 0.0);
	}
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "rnd%d.test", i);
		dnscache_put_failure(c, name, false, DNSCACHE_NEGATIVE,
		    "NXDOMAIN", false, 30, 0.0);
	}
	assert_int_equal(dnscache_count(c, DNSCACHE_POSITIVE), 12);
	assert_int_equal(dnscache_count(c, DNSCACHE_NEGATIVE), 4);
	for (int i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "pos%d.test", i);
		assert_non_null(dnscache_get(c, name, false, 1.0, 0, &hit));
	}
	assert_non_null(dnscache_get(c, "rnd999.test", false, 1.0, 0, &hit));
	/* A positive answer may take a negative entry's place. */
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "more%d.test", i);
		dnscache_put_positive(c, name, false, &a, 1, 300, 0.0);
	}
	assert_int_equal(dnscache_count(c, DNSCACHE_NEGATIVE), 0);
	assert_int_equal(dnscache_count(c, DNSCACHE_POSITIVE), 16);
	dnscache_clear(c);
	assert_int_equal(dnscache_count(c, DNSCACHE_POSITIVE), 0);
	assert_null(dnscache_get(c, "pos0.test", false, 1.0, 0, &hit));
	dnscache_free(c);
}

/* NXDOMAIN for x.test: question, no answer, SOA in authority (TTL 300, MINIMUM 60). */
static const uint8_t nx_soa[] = {
	0x12, 0x34, 0x81, 0x83, 0, 1, 0, 0, 0, 1, 0, 0,
	1, 'x', 4, 't', 'e', 's', 't', 0, 0, 28, 0, 1,
	0xc0, 14, 0, 6, 0, 1, 0, 0, 0x01, 0x2c, 0, 29,
	2, 'n', 's', 0xc0, 14,			/* mname ns.test */
	1, 'h', 0xc0, 14,			/* rname h.test */
	0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4,
	0, 0, 0, 60,
};

static void
test_find_soa(void **state)
{
	uint32_t	ttl = 0, min = 0;
	uint8_t		buf[sizeof(nx_soa)];

	(void)state;
	assert_true(dnscache_find_soa(nx_soa, sizeof(nx_soa), &ttl, &min));
	assert_int_equal(ttl, 300);
	assert_int_equal(min, 60);
	/* Every truncation is refused, never read past. */
	for (size_t n = 0; n < sizeof(nx_soa); n++)
		assert_false(dnscache_find_soa(nx_soa, n, &ttl, &min));
	/* No authority record: none. */
	memcpy(buf, nx_soa, sizeof(buf));
	buf[9] = 0;
	assert_false(dnscache_find_soa(buf, sizeof(buf), &ttl, &min));
	/* A label type other than length or pointer is refused. */
	memcpy(buf, nx_soa, sizeof(buf));
	buf[12] = 0x41;
	assert_false(dnscache_find_soa(buf, sizeof(buf), &ttl, &min));
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_positive_keeps_every_address_for_its_ttl),
		cmocka_unit_test(test_negative_ttl_rfc2308),
		cmocka_unit_test(test_negative_entry_expires),
		cmocka_unit_test(test_stale_window_and_failed_refresh),
		cmocka_unit_test(test_error_entry_is_short),
		cmocka_unit_test(test_lru_keeps_hot_names),
		cmocka_unit_test(test_negative_flood_cannot_evict_positive),
		cmocka_unit_test(test_find_soa),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
