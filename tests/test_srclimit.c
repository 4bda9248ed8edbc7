/*
 * Unit tests for srclimit: what counts as one source (an IPv4 address, an
 * IPv6 /64, a v4-mapped address as its IPv4 address), the limit at its
 * edge, and the table against a plain model through a long random run of
 * acquires and releases in a table small enough to collide all the time.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <cmocka.h>

#include "snid/srclimit.h"

static struct srclimit_key
key(const char *addr)
{
	struct sockaddr_storage	ss;
	struct srclimit_key	k;

	memset(&ss, 0, sizeof(ss));
	if (strchr(addr, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, addr, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, addr, &s4->sin_addr), 1);
	}
	assert_true(srclimit_key((struct sockaddr *)&ss, &k));
	return k;
}

static bool
same(struct srclimit_key a, struct srclimit_key b)
{
	return a.family == b.family && a.bits == b.bits;
}

static void
test_srclimit_what_is_a_source(void **state)
{
	struct sockaddr_un	sun;
	struct srclimit_key	k;

	(void)state;
	assert_true(same(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9")));
	assert_false(same(key("2001:db8:1:2::1"), key("2001:db8:1:3::1")));
	assert_true(same(key("::ffff:192.0.2.7"), key("192.0.2.7")));
	assert_false(same(key("192.0.2.7"), key("192.0.2.8")));
	/* 0.0.0.1 and ::1's /64 (all zero) must not meet either. */
	assert_false(same(key("0.0.0.0"), key("::1")));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	assert_false(srclimit_key((struct sockaddr *)&sun, &k));
	assert_false(srclimit_key(NULL, &k));
}

/* The case: 300 from one address with limit 256: 44 refused. */
static void
test_srclimit_limit_per_source(void **state)
{
	struct srclimit		t;
	struct srclimit_key	a = key("192.0.2.7"), b = key("192.0.2.8");
	struct srclimit_key	v6 = key("2001:db8::1"), v6b = key("2001:db8::2");
	int			i, refused = 0;

	(void)state;
	assert_int_equal(srclimit_init(&t, 1000, 42), 0);
	for (i = 0; i < 300; i++)
		if (!srclimit_acquire(&t, &a, 256))
			refused++;
	assert_int_equal(refused, 44);
	assert_int_equal(srclimit_count(&t, &a), 256);
	assert_true(srclimit_acquire(&t, &b, 256));
	srclimit_release(&t, &a);
	assert_true(srclimit_acquire(&t, &a, 256));
	assert_false(srclimit_acquire(&t, &a, 256));
	/* Two addresses of one /64 share its count. */
	assert_true(srclimit_acquire(&t, &v6, 2));
	assert_true(srclimit_acquire(&t, &v6b, 2));
	assert_false(srclimit_acquire(&t, &v6, 2));
	for (i = 0; i < 256; i++)
		srclimit_release(&t, &a);
	assert_int_equal(srclimit_count(&t, &a), 0);
	assert_int_equal(t.used, 2);
	/* Releasing what is not held changes nothing. */
	srclimit_release(&t, &a);
	assert_int_equal(t.used, 2);
	assert_false(srclimit_acquire(&t, &a, 0));
	srclimit_free(&t);
}

/* A raised connection limit: a bigger table keeps every count. */
static void
test_srclimit_grow_keeps_the_counts(void **state)
{
	struct srclimit		t;
	struct srclimit_key	k;
	char			a[32];
	int			i;

	(void)state;
	assert_int_equal(srclimit_init(&t, 8, 7), 0);
	for (i = 0; i < 8; i++) {
		snprintf(a, sizeof(a), "192.0.2.%d", i);
		k = key(a);
		assert_true(srclimit_acquire(&t, &k, 100));
		assert_true(srclimit_acquire(&t, &k, 100));
	}
	k = key("198.51.100.1");
	assert_false(srclimit_acquire(&t, &k, 100));	/* full at 8 sources */
	assert_int_equal(srclimit_grow(&t, 4), 0);	/* big enough: kept */
	assert_int_equal(t.max_used, 8);
	assert_int_equal(srclimit_grow(&t, 1000), 0);
	assert_true(t.max_used >= 1000);
	assert_int_equal(t.used, 8);
	assert_true(srclimit_acquire(&t, &k, 100));
	for (i = 0; i < 8; i++) {
		snprintf(a, sizeof(a), "192.0.2.%d", i);
		k = key(a);
		assert_int_equal(srclimit_count(&t, &k), 2);
		assert_false(srclimit_acquire(&t, &k, 2));
	}
	srclimit_free(&t);
}

#define MODEL_SOURCES	40

/* Random acquires and releases against counts kept in a plain array. */
static void
test_srclimit_against_model(void **state)
{
	struct srclimit		t;
	struct srclimit_key	keys[MODEL_SOURCES];
	uint32_t		count[MODEL_SOURCES] = { 0 };
	size_t			distinct = 0;
	uint64_t		rnd = 0x9e3779b97f4a7c15ULL;
	char			a[64];
	int			i, op;

	(void)state;
	for (i = 0; i < MODEL_SOURCES; i++) {
		snprintf(a, sizeof(a), i % 2 ? "198.51.100.%d" :
		    "2001:db8:%x::1", i);
		keys[i] = key(a);
	}
	/* 16 slots, at most 8 sources: collisions and a full table. */
	assert_int_equal(srclimit_init(&t, 8, 7), 0);
	assert_int_equal(t.mask, 15);
	for (op = 0; op < 200000; op++) {
		size_t s;
		bool want, got;

		rnd ^= rnd << 13;
		rnd ^= rnd >> 7;
		rnd ^= rnd << 17;
		s = (size_t)(rnd >> 8) % MODEL_SOURCES;
		if ((rnd & 3) != 0 && count[s] > 0) {
			srclimit_release(&t, &keys[s]);
			if (--count[s] == 0)
				distinct--;
		} else {
			want = count[s] < 3 && (count[s] > 0 || distinct < 8);
			got = srclimit_acquire(&t, &keys[s], 3);
			assert_int_equal(got, want);
			if (got && count[s]++ == 0)
				distinct++;
		}
		if (op % 97 == 0)
			for (i = 0; i < MODEL_SOURCES; i++)
				assert_int_equal(srclimit_count(&t, &keys[i]),
				    count[i]);
		assert_int_equal(t.used, distinct);
	}
	srclimit_free(&t);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_srclimit_what_is_a_source),
		cmocka_unit_test(test_srclimit_limit_per_source),
		cmocka_unit_test(test_srclimit_grow_keeps_the_counts),
		cmocka_unit_test(test_srclimit_against_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
