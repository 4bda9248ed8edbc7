/*
 * portset: a set of TCP ports written as a list of ports and ranges
 * ("443,8443,5222-5223"), for -backend-ports: the ports snid may connect
 * to inside -backend-cidr.  Pure, no allocation: at most PORTSET_MAX
 * ranges, kept sorted and merged, so membership is a short scan.
 */
#ifndef SNID_PORTSET_H
#define SNID_PORTSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PORTSET_MAX	64	/* ranges after merging */
#define PORTSET_STRLEN	(PORTSET_MAX * 12)	/* "65534-65535," each */

struct portset {
	size_t		n;
	struct {
		uint16_t	lo, hi;	/* inclusive, lo <= hi */
	}		r[PORTSET_MAX];
};

/* Empty the set. */
void	portset_clear(struct portset *ps);

/*
 * Add the ports of s ("443", "5222-5223", "443,8443, 5269" ; blanks around
 * commas allowed) to ps.  Ports are 1..65535; a range's end is not below
 * its start.  Returns 0, or -1 with a message naming the bad element in err
 * (ps is then unchanged).
 */
int	portset_parse(struct portset *ps, const char *s, char *err,
	    size_t errlen);

/* Add one port (0 is ignored).  Returns 0, or -1 when the set is full. */
int	portset_add(struct portset *ps, uint16_t port);

/* Whether port is in ps. */
bool	portset_contains(const struct portset *ps, uint16_t port);

/* Canonical text ("443,5222-5223,8443"), "" for the empty set. */
void	portset_format(const struct portset *ps, char *buf, size_t len);

#endif
