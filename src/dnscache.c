/*
 * dnscache: a fixed-size hash table of answers with two LRU lists, one for
 * positive entries and one for negative and error entries.  Entries live
 * in one array and are linked by index + 1 (0 ends a list), so the table
 * never allocates per lookup; only a stored answer's name and addresses
 * are allocated, to their exact size.
 */
#include "snid/dnscache.h"

#include <stdlib.h>
#include <string.h>

#define LIST_POS	0
#define LIST_NEG	1

struct dnscache {
	size_t			 cap;
	size_t			 nbuckets;	/* a power of two */
	struct dnscache_entry	*e;
	uint32_t		*buckets;	/* index + 1 of a chain's first entry */
	uint32_t		 free_head;	/* unused entries, chained by hnext */
	uint32_t		 head[2], tail[2];	/* head: most recently used */
	size_t			 nlist[2];
	size_t			 count[DNSCACHE_KINDS];
};

static uint32_t
dnscache_hash(const char *name, bool want_a)
{
	uint32_t	h = 2166136261u;

	for (const char *p = name; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return (h ^ (want_a ? 1u : 0u)) * 16777619u;
}

static int
dnscache_list_of(enum dnscache_kind kind)
{
	return kind == DNSCACHE_POSITIVE ? LIST_POS : LIST_NEG;
}

static void
dnscache_unlink(struct dnscache *c, uint32_t i)
{
	struct dnscache_entry	*e = &c->e[i - 1];
	int			 l = dnscache_list_of(e->kind);

	if (e->prev != 0)
		c->e[e->prev - 1].next = e->next;
	else
		c->head[l] = e->next;
	if (e->next != 0)
		c->e[e->next - 1].prev = e->prev;
	else
		c->tail[l] = e->prev;
	e->prev = e->next = 0;
	c->nlist[l]--;
}

static void
dnscache_push(struct dnscache *c, uint32_t i)
{
	struct dnscache_entry	*e = &c->e[i - 1];
	int			 l = dnscache_list_of(e->kind);

	e->prev = 0;
	e->next = c->head[l];
	if (c->head[l] != 0)
		c->e[c->head[l] - 1].prev = i;
	else
		c->tail[l] = i;
	c->head[l] = i;
	c->nlist[l]++;
}

struct dnscache *
dnscache_new(size_t capacity)
{
	struct dnscache	*c;

	if (capacity < 4)
		capacity = 4;
	if (capacity > UINT32_MAX / 2)
		capacity = UINT32_MAX / 2;
	c = xcalloc(1, sizeof(*c));
	c->cap = capacity;
	for (c->nbuckets = 1; c->nbuckets < capacity; c->nbuckets <<= 1)
		;
	c->e = xcalloc(capacity, sizeof(*c->e));
	c->buckets = xcalloc(c->nbuckets, sizeof(*c->buckets));
	dnscache_clear(c);
	return c;
}

void
dnscache_clear(struct dnscache *c)
{
	size_t	i;

	for (i = 0; i < c->cap; i++) {
		free(c->e[i].name);
		free(c->e[i].addrs);
		memset(&c->e[i], 0, sizeof(c->e[i]));
		c->e[i].hnext = i + 1 < c->cap ? (uint32_t)(i + 2) : 0;
	}
	c->free_head = 1;
	memset(c->buckets, 0, c->nbuckets * sizeof(*c->buckets));
	memset(c->head, 0, sizeof(c->head));
	memset(c->tail, 0, sizeof(c->tail));
	memset(c->nlist, 0, sizeof(c->nlist));
	memset(c->count, 0, sizeof(c->count));
}

void
dnscache_free(struct dnscache *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->cap; i++) {
		free(c->e[i].name);
		free(c->e[i].addrs);
	}
	free(c->e);
	free(c->buckets);
	free(c);
}

/* The index + 1 of (name, want_a), or 0. */
static uint32_t
dnscache_find(const struct dnscache *c, const char *name, bool want_a,
    uint32_t h)
{
	uint32_t	i;

	for (i = c->buckets[h & (c->nbuckets - 1)]; i != 0;
	    i = c->e[i - 1].hnext) {
		const struct dnscache_entry *e = &c->e[i - 1];

		if (e->hash == h && e->want_a == want_a &&
		    strcmp(e->name, name) == 0)
			return i;
	}
	return 0;
}

/* Take entry i out of the table and put it on the free list. */
static void
dnscache_remove(struct dnscache *c, uint32_t i)
{
	struct dnscache_entry	*e = &c->e[i - 1];
	uint32_t		*p;

	for (p = &c->buckets[e->hash & (c->nbuckets - 1)]; *p != i;
	    p = &c->e[*p - 1].hnext)
		;
	*p = e->hnext;
	dnscache_unlink(c, i);
	c->count[e->kind]--;
	free(e->name);
	free(e->addrs);
	memset(e, 0, sizeof(*e));
	e->hnext = c->free_head;
	c->free_head = i;
}

/*
 * A free entry for an answer of kind, evicting the least recently used
 * entry when needed: a negative or error one first; a positive one only
 * for a positive answer.  Negative and error entries are at most a quarter
 * of the table.  Returns 0 when the answer is not worth a positive entry.
 */
static uint32_t
dnscache_alloc(struct dnscache *c, enum dnscache_kind kind)
{
	uint32_t	i;

	if (kind != DNSCACHE_POSITIVE && c->nlist[LIST_NEG] >= c->cap / 4)
		dnscache_remove(c, c->tail[LIST_NEG]);
	if (c->free_head == 0) {
		if (c->nlist[LIST_NEG] > 0)
			dnscache_remove(c, c->tail[LIST_NEG]);
		else if (kind == DNSCACHE_POSITIVE)
			dnscache_remove(c, c->tail[LIST_POS]);
		else
			return 0;
	}
	i = c->free_head;
	c->free_head = c->e[i - 1].hnext;
	return i;
}

/* Fill and link a new entry for (name, want_a); NULL when there is no room. */
static struct dnscache_entry *
dnscache_insert(struct dnscache *c, const char *name, bool want_a,
    enum dnscache_kind kind, unsigned ttl, double now)
{
	uint32_t		 h = dnscache_hash(name, want_a), i;
	struct dnscache_entry	*e;

	if ((i = dnscache_find(c, name, want_a, h)) != 0)
		dnscache_remove(c, i);
	if ((i = dnscache_alloc(c, kind)) == 0)
		return NULL;
	e = &c->e[i - 1];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->expires = now + ttl;
	e->name = xstrdup(name);
	e->want_a = want_a;
	e->hash = h;
	e->hnext = c->buckets[h & (c->nbuckets - 1)];
	c->buckets[h & (c->nbuckets - 1)] = i;
	dnscache_push(c, i);
	c->count[kind]++;
	return e;
}

const struct dnscache_entry *
dnscache_get(struct dnscache *c, const char *name, bool want_a, double now,
    double stale, enum dnscache_hit *hit)
{
	uint32_t		 i;
	struct dnscache_entry	*e;

	*hit = DNSCACHE_MISS;
	i = dnscache_find(c, name, want_a, dnscache_hash(name, want_a));
	if (i == 0)
		return NULL;
	e = &c->e[i - 1];
	if (now < e->expires)
		*hit = DNSCACHE_FRESH;
	else if (e->kind == DNSCACHE_POSITIVE && now < e->expires + stale)
		*hit = DNSCACHE_STALE;
	else {
		dnscache_remove(c, i);
		return NULL;
	}
	dnscache_unlink(c, i);
	dnscache_push(c, i);
	return e;
}

void
dnscache_put_positive(struct dnscache *c, const char *name, bool want_a,
    const union sockaddr_inet *addrs, size_t n, unsigned ttl, double now)
{
	struct dnscache_entry	*e;

	if (n == 0 || ttl == 0)
		return;
	if (n > DNSCACHE_MAX_ADDRS)
		n = DNSCACHE_MAX_ADDRS;
	if (ttl > DNSCACHE_MAX_TTL)
		ttl = DNSCACHE_MAX_TTL;
	if ((e = dnscache_insert(c, name, want_a, DNSCACHE_POSITIVE, ttl,
	    now)) == NULL)
		return;
	e->addrs = xmalloc(n * sizeof(*addrs));
	memcpy(e->addrs, addrs, n * sizeof(*addrs));
	e->n = n;
}

void
dnscache_put_failure(struct dnscache *c, const char *name, bool want_a,
    enum dnscache_kind kind, const char *detail, bool timeout, unsigned ttl,
    double now)
{
	uint32_t		 h = dnscache_hash(name, want_a), i;
	struct dnscache_entry	*e;

	if (ttl == 0 || kind == DNSCACHE_POSITIVE)
		return;
	i = dnscache_find(c, name, want_a, h);
	if (i != 0 && kind == DNSCACHE_ERROR &&
	    c->e[i - 1].kind == DNSCACHE_POSITIVE) {
		/* Keep the addresses for serve-stale; do not ask again for ttl. */
		c->e[i - 1].retry_after = now + ttl;
		return;
	}
	if ((e = dnscache_insert(c, name, want_a, kind, ttl, now)) == NULL)
		return;
	e->detail = detail;
	e->timeout = timeout;
}

size_t
dnscache_count(const struct dnscache *c, enum dnscache_kind kind)
{
	return kind < DNSCACHE_KINDS ? c->count[kind] : 0;
}

unsigned
dnscache_negative_ttl(bool has_soa, uint32_t soa_ttl, uint32_t soa_minimum,
    unsigned cap)
{
	uint32_t	t;

	if (!has_soa)
		return DNSCACHE_NOSOA_TTL < cap ? DNSCACHE_NOSOA_TTL : cap;
	t = soa_ttl < soa_minimum ? soa_ttl : soa_minimum;
	return t < cap ? (unsigned)t : cap;
}

/* Skip a (possibly compressed) name at msg[*pos]; false when malformed. */
static bool
dnscache_skip_name(const uint8_t *msg, size_t len, size_t *pos)
{
	size_t	p = *pos;

	for (int labels = 0; labels < 128; labels++) {
		if (p >= len)
			return false;
		if ((msg[p] & 0xc0) == 0xc0) {
			*pos = p + 2;
			return *pos <= len;
		}
		if ((msg[p] & 0xc0) != 0)
			return false;
		if (msg[p] == 0) {
			*pos = p + 1;
			return true;
		}
		p += 1 + (size_t)msg[p];
	}
	return false;
}

static uint32_t
dnscache_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

bool
dnscache_find_soa(const uint8_t *msg, size_t len, uint32_t *ttl,
    uint32_t *minimum)
{
	size_t		pos = 12, i, rdlen;
	unsigned	qd, an, ns;

	if (len < 12)
		return false;
	qd = (unsigned)msg[4] << 8 | msg[5];
	an = (unsigned)msg[6] << 8 | msg[7];
	ns = (unsigned)msg[8] << 8 | msg[9];
	for (i = 0; i < qd; i++) {
		if (!dnscache_skip_name(msg, len, &pos) || pos + 4 > len)
			return false;
		pos += 4;
	}
	for (i = 0; i < (size_t)an + ns; i++) {
		unsigned	type;

		if (!dnscache_skip_name(msg, len, &pos) || pos + 10 > len)
			return false;
		type = (unsigned)msg[pos] << 8 | msg[pos + 1];
		rdlen = (size_t)msg[pos + 8] << 8 | msg[pos + 9];
		if (pos + 10 + rdlen > len)
			return false;
		/* SOA: two names, then serial, refresh, retry, expire, minimum. */
		if (i >= an && type == 6 && rdlen >= 22) {
			*ttl = dnscache_u32(&msg[pos + 4]);
			*minimum = dnscache_u32(&msg[pos + 10 + rdlen - 4]);
			/* RFC 2181: a TTL with the top bit set is 0. */
			if (*ttl > INT32_MAX)
				*ttl = 0;
			return true;
		}
		pos += 10 + rdlen;
	}
	return false;
}
