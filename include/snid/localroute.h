/*
 * localroute: the prefixes this host delivers to itself (the kernel's local
 * routing table: its own addresses, 127.0.0.0/8, and prefixes routed with
 * `ip route add local`, such as a nat46 /96), so that -check can warn when
 * a -backend-cidr covers one: snid would then connect clients to the VPS's
 * own services.  Start-up only (one netlink dump); not for the event loop.
 */
#ifndef SNID_LOCALROUTE_H
#define SNID_LOCALROUTE_H

#include <stddef.h>

#include "snid/cidr.h"

/*
 * Fill out[0..max) with the local table's RTN_LOCAL prefixes (IPv4 and
 * IPv6).  Returns how many there are (possibly more than max: only max are
 * stored), or -1 with a message in err (no netlink, e.g. under a unit that
 * restricts address families).
 */
int	localroute_list(struct cidr *out, size_t max, char *err, size_t errlen);

/* Whether prefixes a and b share an address (one contains the other). */
bool	localroute_overlap(const struct cidr *a, const struct cidr *b);

#endif
