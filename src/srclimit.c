/*
 * srclimit: linear probing at a load factor of at most one half, with
 * backward-shift deletion (no tombstones, so a long-running daemon's probe
 * sequences never degrade), over a keyed 64-bit mix of the source.
 */
#include "snid/srclimit.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t srclimit_v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

bool
srclimit_key(const struct sockaddr *sa, struct srclimit_key *k)
{
	const uint8_t	*b;
	uint64_t	v = 0;
	int		i;

	memset(k, 0, sizeof(*k));
	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		b = (const uint8_t *)&((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr;
		k->family = AF_INET;
		k->bits = (uint64_t)b[0] << 24 | (uint64_t)b[1] << 16 |
		    (uint64_t)b[2] << 8 | b[3];
		return true;
	}
	if (sa->sa_family != AF_INET6)
		return false;
	b = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
	if (memcmp(b, srclimit_v4mapped, sizeof(srclimit_v4mapped)) == 0) {
		k->family = AF_INET;
		k->bits = (uint64_t)b[12] << 24 | (uint64_t)b[13] << 16 |
		    (uint64_t)b[14] << 8 | b[15];
		return true;
	}
	for (i = 0; i < 8; i++)
		v = v << 8 | b[i];
	k->family = AF_INET6;
	k->bits = v;
	return true;
}

/* A keyed mix (the finaliser of SplitMix64 over key ^ seed, twice). */
static size_t
srclimit_hash(const struct srclimit *t, const struct srclimit_key *k)
{
	uint64_t	x = k->bits ^ t->seed ^ ((uint64_t)k->family << 56);

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	x ^= x >> 31;
	x ^= t->seed >> 7;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	return (size_t)(x ^ (x >> 31));
}

int
srclimit_init(struct srclimit *t, size_t max_sources, uint64_t seed)
{
	size_t	n = 16;

	memset(t, 0, sizeof(*t));
	while (n < 2 * max_sources && n < ((size_t)1 << 40))
		n <<= 1;
	t->slot = calloc(n, sizeof(*t->slot));
	if (t->slot == NULL)
		return -1;
	t->mask = n - 1;
	t->max_used = n / 2;
	t->seed = seed;
	return 0;
}

void
srclimit_free(struct srclimit *t)
{
	free(t->slot);
	memset(t, 0, sizeof(*t));
}

/* The slot of k, or of the free slot where k would go. */
static size_t
srclimit_find(const struct srclimit *t, const struct srclimit_key *k)
{
	size_t	i = srclimit_hash(t, k) & t->mask;

	while (t->slot[i].count != 0 && (t->slot[i].bits != k->bits ||
	    t->slot[i].family != k->family))
		i = (i + 1) & t->mask;
	return i;
}

int
srclimit_grow(struct srclimit *t, size_t max_sources)
{
	struct srclimit	n;
	size_t		i, j;

	if (t->slot != NULL && t->max_used >= max_sources)
		return 0;
	if (srclimit_init(&n, max_sources, t->seed) == -1)
		return -1;
	for (i = 0; t->slot != NULL && i <= t->mask; i++) {
		struct srclimit_key	k = { t->slot[i].bits, t->slot[i].family };

		if (t->slot[i].count == 0)
			continue;
		j = srclimit_find(&n, &k);
		n.slot[j] = t->slot[i];
		n.used++;
	}
	srclimit_free(t);
	*t = n;
	return 0;
}

bool
srclimit_acquire(struct srclimit *t, const struct srclimit_key *k,
    uint32_t limit)
{
	size_t	i = srclimit_find(t, k);

	if (t->slot[i].count != 0) {
		if (t->slot[i].count >= limit)
			return false;
		t->slot[i].count++;
		return true;
	}
	if (limit == 0 || t->used >= t->max_used)
		return false;
	t->slot[i].bits = k->bits;
	t->slot[i].family = k->family;
	t->slot[i].count = 1;
	t->used++;
	return true;
}

void
srclimit_release(struct srclimit *t, const struct srclimit_key *k)
{
	size_t	i = srclimit_find(t, k), j, home;

	if (t->slot[i].count == 0)
		return;		/* not held: a caller's bug, but no harm */
	if (--t->slot[i].count != 0)
		return;
	t->used--;
	/*
	 * Backward-shift deletion: move later members of the probe run into
	 * the hole when the hole lies between their home and their slot.
	 */
	for (j = (i + 1) & t->mask; t->slot[j].count != 0;
	    j = (j + 1) & t->mask) {
		struct srclimit_key	kj = { t->slot[j].bits, t->slot[j].family };

		home = srclimit_hash(t, &kj) & t->mask;
		if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
			t->slot[i] = t->slot[j];
			t->slot[j].count = 0;
			i = j;
		}
	}
}

uint32_t
srclimit_count(const struct srclimit *t, const struct srclimit_key *k)
{
	return t->slot[srclimit_find(t, k)].count;
}
