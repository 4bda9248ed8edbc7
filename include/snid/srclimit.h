/*
 * srclimit: how many connections each source holds, for
 * -max-connections-per-source.  A source is an IPv4 address, or an IPv6
 * /64: the prefix one host (one customer line, one VPS) can draw addresses
 * from at will, so counting single IPv6 addresses would count nothing.  An
 * IPv4-mapped IPv6 address counts as the IPv4 address it carries.
 *
 * An open-addressing table sized once for a connection limit: it never
 * holds more sources than connections, so it never grows, and a lookup is
 * O(1) whatever the number of open connections.  The hash is keyed by a
 * per-process random seed, so that a client choosing its /64s cannot make
 * them collide.  Pure and not thread-safe: the caller serialises.
 */
#ifndef SNID_SRCLIMIT_H
#define SNID_SRCLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct srclimit_key {
	uint64_t	bits;		/* the address (v4) or the /64 (v6) */
	uint8_t		family;		/* AF_INET or AF_INET6; 0: none */
};

struct srclimit_slot {
	uint64_t	bits;
	uint32_t	count;		/* 0: free */
	uint8_t		family;
};

struct srclimit {
	struct srclimit_slot	*slot;
	size_t			 mask;	/* slots - 1 (a power of two) */
	size_t			 used;	/* slots with count > 0 */
	size_t			 max_used;	/* used stays at or below this */
	uint64_t		 seed;
};

/*
 * The key of sa.  Returns false for addresses that are no source to limit
 * (AF_UNIX peers, a family 0 from a PROXY LOCAL header).
 */
bool	srclimit_key(const struct sockaddr *sa, struct srclimit_key *k);

/*
 * Size t for up to max_sources distinct sources (the connection limit).
 * Returns 0, or -1 when out of memory.
 */
int	srclimit_init(struct srclimit *t, size_t max_sources, uint64_t seed);
void	srclimit_free(struct srclimit *t);

/*
 * Make t hold up to max_sources (a raised connection limit) with every
 * count it holds now: a bigger table with the same seed, or t untouched
 * when it is big enough.  Returns 0, or -1 when out of memory (t stays).
 */
int	srclimit_grow(struct srclimit *t, size_t max_sources);

/*
 * Count one more connection for k, unless k already holds limit of them
 * (or the table is full): then false, and nothing changes.
 */
bool	srclimit_acquire(struct srclimit *t, const struct srclimit_key *k,
	    uint32_t limit);

/* One connection of k is gone.  k must hold at least one. */
void	srclimit_release(struct srclimit *t, const struct srclimit_key *k);

/* Connections k holds now. */
uint32_t	srclimit_count(const struct srclimit *t,
		    const struct srclimit_key *k);

#endif
