/*
 * localroute: the prefixes this host delivers to itself (the kernel's local
 * routing table: its own addresses, 127.0.0.0/8, and prefixes routed with
 * `ip route add local`, such as a nat46 /96), so that -check can warn when
 * a -backend-cidr covers one: snid would then connect clients to the VPS's
 * own services; and the route to one address, for -diagnose.  Start-up
 * only (one netlink dump); not for the event loop.
 */
#ifndef SNID_LOCALROUTE_H
#define SNID_LOCALROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "snid/cidr.h"
#include "snid/sock.h"

/*
 * Fill out[0..max) with the local table's RTN_LOCAL prefixes (IPv4 and
 * IPv6).  Returns how many there are (possibly more than max: only max are
 * stored), or -1 with a message in err (no netlink, e.g. under a unit that
 * restricts address families).
 */
int	localroute_list(struct cidr *out, size_t max, char *err, size_t errlen);

/* The route the kernel picks for one destination (`ip route get`). */
struct localroute_hop {
	unsigned		type;		/* RTN_UNICAST, RTN_LOCAL, RTN_UNREACHABLE, ... */
	unsigned		oif;		/* the interface's index; 0: none */
	bool			has_gateway;
	bool			has_source;
	union sockaddr_inet	gateway;	/* port 0 */
	union sockaddr_inet	source;		/* the preferred source address */
};

/*
 * Ask the kernel (RTM_GETROUTE) how it would send a packet to dst
 * (AF_INET or AF_INET6).  Returns 0 with *hop filled; -1 when the kernel
 * has no way there, with errno set (ENETUNREACH: no route; EHOSTUNREACH,
 * EACCES: an unreachable or prohibit route) and its message in err; -2
 * when it could not be asked (no netlink), with a message in err.
 * -diagnose only.
 */
int	localroute_get(const struct sockaddr *dst, struct localroute_hop *hop,
	    char *err, size_t errlen);

/* Whether prefixes a and b share an address (one contains the other). */
bool	localroute_overlap(const struct cidr *a, const struct cidr *b);

#endif
