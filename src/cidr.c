/*
 * cidr: the allow-list.  Parsing is strict because a typo here silently
 * changes which hosts snid will connect to: the address must be what
 * inet_pton(3) accepts, the length is required, and host bits must be zero.
 *
 * Matching normalises the address first: an IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d, what an AF_INET6 socket reports for an IPv4 peer, and
 * what a hostile AAAA record may contain) is compared as the IPv4 address
 * it carries.  Connecting to it reaches that IPv4 host, so it must only ever
 * pass an IPv4 prefix; in particular "::/0" does not allow 127.0.0.1.
 */
#include "snid/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* An address reduced to what it reaches: family and 4 or 16 bytes. */
struct cidr_addr {
	int	family;
	uint8_t	b[16];
};

static const uint8_t cidr_v4mapped_prefix[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

static bool
cidr_is_v4mapped(const uint8_t b[16])
{
	return memcmp(b, cidr_v4mapped_prefix, sizeof(cidr_v4mapped_prefix)) == 0;
}

/* Reduce sa to the address it reaches; false for other families. */
static bool
cidr_addr_from_sockaddr(const struct sockaddr *sa, struct cidr_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in	*sin = (const struct sockaddr_in *)(const void *)sa;

		a->family = AF_INET;
		memcpy(a->b, &sin->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		const uint8_t *b = sin6->sin6_addr.s6_addr;

		if (cidr_is_v4mapped(b)) {
			a->family = AF_INET;
			memcpy(a->b, b + 12, 4);
		} else {
			a->family = AF_INET6;
			memcpy(a->b, b, 16);
		}
		return true;
	}
	return false;
}

/* Whether the first prefixlen bits of x and y are equal. */
static bool
cidr_prefix_equal(const uint8_t *x, const uint8_t *y, unsigned prefixlen)
{
	unsigned	whole = prefixlen / 8, rest = prefixlen % 8;

	if (memcmp(x, y, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((x[whole] ^ y[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

/* Clear every bit after the first prefixlen; returns whether any was set. */
static bool
cidr_clear_host_bits(uint8_t *b, size_t n, unsigned prefixlen)
{
	bool	had = false;
	size_t	i;

	for (i = 0; i < n; i++) {
		unsigned first = (unsigned)i * 8;
		uint8_t keep;

		if (first + 8 <= prefixlen)
			keep = 0xff;
		else if (first >= prefixlen)
			keep = 0;
		else
			keep = (uint8_t)(0xff << (8 - (prefixlen - first)));
		if (b[i] & (uint8_t)~keep)
			had = true;
		b[i] &= keep;
	}
	return had;
}

int
cidr_parse(const char *s, struct cidr *out, char *err, size_t errlen)
{
	char		addr[INET6_ADDRSTRLEN + 1], fixed[CIDR_STRLEN];
	const char	*slash, *p;
	unsigned	len = 0, max;
	size_t		alen;
	struct cidr	c;

	memset(&c, 0, sizeof(c));
	slash = strchr(s, '/');
	if (slash == NULL) {
		snprintf(err, errlen, "%s: missing prefix length (write ADDRESS/LENGTH)", s);
		return -1;
	}
	alen = (size_t)(slash - s);
	if (alen == 0 || alen >= sizeof(addr)) {
		snprintf(err, errlen, "%s: invalid address", s);
		return -1;
	}
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (strchr(addr, ':') != NULL) {
		c.family = AF_INET6;
		max = 128;
	} else {
		c.family = AF_INET;
		max = 32;
	}
	if (inet_pton(c.family, addr, c.addr) != 1) {
		snprintf(err, errlen, "%s: invalid %s address", s,
		    c.family == AF_INET ? "IPv4" : "IPv6");
		return -1;
	}

	/* Plain decimal only: no sign, no space, no hex, at most 3 digits. */
	p = slash + 1;
	if (*p == '\0' || strlen(p) > 3) {
		snprintf(err, errlen, "%s: invalid prefix length", s);
		return -1;
	}
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9') {
			snprintf(err, errlen, "%s: invalid prefix length", s);
			return -1;
		}
		len = len * 10 + (unsigned)(*p - '0');
	}
	if (len > max) {
		snprintf(err, errlen, "%s: prefix length must be 0..%u", s, max);
		return -1;
	}
	c.prefixlen = len;

	/*
	 * Matching sees a v4-mapped address as IPv4, so an IPv6 prefix inside
	 * ::ffff:0:0/96 could never match anything: refuse it and say what to
	 * write instead.
	 */
	if (c.family == AF_INET6 && len >= 96 && cidr_is_v4mapped(c.addr)) {
		struct cidr v4;

		memset(&v4, 0, sizeof(v4));
		v4.family = AF_INET;
		v4.prefixlen = len - 96;
		memcpy(v4.addr, c.addr + 12, 4);
		cidr_clear_host_bits(v4.addr, 4, v4.prefixlen);
		cidr_format(&v4, fixed, sizeof(fixed));
		snprintf(err, errlen, "%s: IPv4-mapped IPv6 prefix; "
		    "write the IPv4 prefix %s instead",
		    s, fixed);
		return -1;
	}
	if (cidr_clear_host_bits(c.addr, c.family == AF_INET ? 4 : 16, len)) {
		cidr_format(&c, fixed, sizeof(fixed));
		snprintf(err, errlen, "%s: host bits set; did you mean %s?", s, fixed);
		return -1;
	}
	*out = c;
	return 0;
}

void
cidr_format(const struct cidr *c, char *buf, size_t len)
{
	char	a[INET6_ADDRSTRLEN];

	if (inet_ntop(c->family, c->addr, a, sizeof(a)) == NULL) {
		snprintf(buf, len, "?");
		return;
	}
	snprintf(buf, len, "%s/%u", a, c->prefixlen);
}

bool
cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
	struct cidr_addr	a;

	if (!cidr_addr_from_sockaddr(sa, &a) || a.family != c->family)
		return false;
	return cidr_prefix_equal(a.b, c->addr, c->prefixlen);
}

bool
cidr_list_match(const struct cidr *list, size_t n, const struct sockaddr *sa)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (cidr_match(&list[i], sa))
			return true;
	return false;
}

bool
cidr_list_has_ipv4(const struct cidr *list, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (list[i].family == AF_INET)
			return true;
	return false;
}

bool
cidr_addr_forbidden(const struct sockaddr *sa)
{
	static const uint8_t	zero16[16];
	struct cidr_addr	a;

	/* Unknown families are never connected to. */
	if (!cidr_addr_from_sockaddr(sa, &a))
		return true;
	if (a.family == AF_INET) {
		/*
		 * 0.0.0.0/8: on Linux connect() to 0.0.0.0 reaches the local
		 * host, and the rest of "this network" is never a real
		 * backend.  224.0.0.0/4 is multicast, 255.255.255.255 the
		 * limited broadcast.
		 */
		if (a.b[0] == 0 || (a.b[0] & 0xf0) == 224)
			return true;
		return a.b[0] == 255 && a.b[1] == 255 && a.b[2] == 255 && a.b[3] == 255;
	}
	/* :: connects to the local host like 0.0.0.0; ff00::/8 is multicast. */
	return memcmp(a.b, zero16, 16) == 0 || a.b[0] == 0xff;
}
