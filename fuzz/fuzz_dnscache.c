/*
 * libFuzzer target for dnscache: the SOA finder reads DNS answers from the
 * network, so beyond "no crash, no read outside the buffer" (the message
 * is copied to exactly its size for ASan) it checks that a found SOA lies
 * inside the message.  The rest of the input drives the cache itself
 * (puts, gets, time steps) and checks its bookkeeping: the entries by kind
 * never exceed the size, negative ones never a quarter of it, and a fresh
 * hit is never past its TTL.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snid/dnscache.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)	do { if (!(cond)) __builtin_trap(); } while (0)
#define FUZZ_CACHE	16

static void
fuzz_cache(const uint8_t *data, size_t size)
{
	struct dnscache			*c = dnscache_new(FUZZ_CACHE);
	const struct dnscache_entry	*e;
	union sockaddr_inet		 a[DNSCACHE_MAX_ADDRS];
	enum dnscache_hit		 hit;
	double				 now = 0;
	char				 name[16];

	memset(a, 0, sizeof(a));
	for (size_t i = 0; i + 1 < size; i += 2) {
		uint8_t	op = data[i], arg = data[i + 1];

		snprintf(name, sizeof(name), "n%u.test", arg % 40);
		switch (op % 5) {
		case 0:
			dnscache_put_positive(c, name, op & 8, a,
			    1 + arg % DNSCACHE_MAX_ADDRS, arg % 7, now);
			break;
		case 1:
			dnscache_put_failure(c, name, op & 8, DNSCACHE_NEGATIVE,
			    "NXDOMAIN", false, arg % 5, now);
			break;
		case 2:
			dnscache_put_failure(c, name, op & 8, DNSCACHE_ERROR,
			    "SERVFAIL", true, arg % 4, now);
			break;
		case 3:
			e = dnscache_get(c, name, op & 8, now, arg % 9, &hit);
			CHECK((e == NULL) == (hit == DNSCACHE_MISS));
			CHECK(hit != DNSCACHE_FRESH || now < e->expires);
			CHECK(hit != DNSCACHE_STALE ||
			    e->kind == DNSCACHE_POSITIVE);
			break;
		default:
			now += arg / 16.0;
			break;
		}
		CHECK(dnscache_count(c, DNSCACHE_POSITIVE) +
		    dnscache_count(c, DNSCACHE_NEGATIVE) +
		    dnscache_count(c, DNSCACHE_ERROR) <= FUZZ_CACHE);
		CHECK(dnscache_count(c, DNSCACHE_NEGATIVE) +
		    dnscache_count(c, DNSCACHE_ERROR) <= FUZZ_CACHE / 4);
	}
	dnscache_free(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t		*copy = malloc(size > 0 ? size : 1);
	uint32_t	 ttl, min;

	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	if (dnscache_find_soa(copy, size, &ttl, &min))
		CHECK(size >= 12 + 10 + 22 && ttl <= INT32_MAX);
	free(copy);
	fuzz_cache(data, size);
	return 0;
}
