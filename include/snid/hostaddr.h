/*
 * hostaddr: the addresses of this host's interfaces, so that snid never
 * connects to itself through one of them (dial.h, struct dial_self).
 *
 * getifaddrs() asks the kernel over netlink, which snid.service does not
 * allow (RestrictAddressFamilies= has no AF_NETLINK: it would cost the
 * unit's `systemd-analyze security` rating).  Without it the same list
 * comes from interfaces that need no netlink socket: the SIOCGIFCONF ioctl
 * on an AF_INET socket for IPv4, and /proc/self/net/if_inet6 for IPv6
 * (inside the process's own /proc directory, so ProcSubset=pid leaves it
 * readable).  Start-up and reload only: not for the event loop.
 */
#ifndef SNID_HOSTADDR_H
#define SNID_HOSTADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Called once per address (port 0); sa is valid during the call only. */
typedef void hostaddr_cb(void *arg, const struct sockaddr *sa);

/* Where hostaddr_each took the addresses from. */
enum hostaddr_via {
	HOSTADDR_GETIFADDRS,
	HOSTADDR_FALLBACK,	/* SIOCGIFCONF and /proc/self/net/if_inet6 */
};

/*
 * Call cb for each address of the host's interfaces: getifaddrs(), or when
 * that fails, the fallback.  Returns how the addresses were found, or -1
 * with errno set when neither way worked (nothing was reported).
 */
int	hostaddr_each(hostaddr_cb *cb, void *arg);

/*
 * The two ways separately (tests).  Each returns 0, or -1 with errno set;
 * the fallback returns 0 when either family could be listed.
 */
int	hostaddr_getifaddrs(hostaddr_cb *cb, void *arg);
int	hostaddr_fallback(hostaddr_cb *cb, void *arg);

/*
 * Parse one line of /proc/net/if_inet6 ("20010db8...0001 02 40 00 80 eth0")
 * into *out (port 0).  Pure; returns false for a malformed line.
 */
bool	hostaddr_parse_inet6(const char *line, struct sockaddr_in6 *out);

#endif
