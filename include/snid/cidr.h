/*
 * cidr: strict parsing of IPv4 and IPv6 prefixes and matching of socket
 * addresses against them.  An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is
 * matched as the IPv4 address it carries, so it never passes an IPv6-only
 * list.  Pure, no allocation.
 */
#ifndef SNID_CIDR_H
#define SNID_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define CIDR_STRLEN	64	/* enough for "ffff:...:ffff/128" and the NUL */

struct cidr {
	int		family;		/* AF_INET or AF_INET6 */
	unsigned	prefixlen;	/* 0..32 or 0..128 */
	uint8_t		addr[16];	/* network byte order; 4 used for AF_INET */
};

/*
 * Parse "192.0.2.0/24" or "2001:db8::/80".  The "/len" is required; host
 * bits set is an error whose message shows the correct prefix; an
 * IPv4-mapped IPv6 prefix is refused (write the IPv4 prefix instead).
 * Returns 0, or -1 with a message in err.
 */
int	cidr_parse(const char *s, struct cidr *out, char *err, size_t errlen);

/* Canonical text form ("2001:db8::/80") into buf (CIDR_STRLEN bytes). */
void	cidr_format(const struct cidr *c, char *buf, size_t len);

/* Whether sa (AF_INET or AF_INET6) lies inside c. */
bool	cidr_match(const struct cidr *c, const struct sockaddr *sa);

/* Whether sa lies inside any of list[0..n). */
bool	cidr_list_match(const struct cidr *list, size_t n,
	    const struct sockaddr *sa);

/* Whether list[0..n) holds an IPv4 prefix (then A records are looked up too). */
bool	cidr_list_has_ipv4(const struct cidr *list, size_t n);

/*
 * Whether sa is an address snid never connects to whatever the allow-list
 * says: unspecified (:: or 0.0.0.0, also v4-mapped), multicast, broadcast
 * 255.255.255.255.
 */
bool	cidr_addr_forbidden(const struct sockaddr *sa);

#endif
