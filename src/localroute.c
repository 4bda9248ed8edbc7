/*
 * localroute: one RTM_GETROUTE dump over NETLINK_ROUTE.  The kernel answers
 * a dump with every table whatever rtm_table asks for (unless the socket
 * set NETLINK_GET_STRICT_CHK, which old kernels lack), so the filter is
 * ours: table RT_TABLE_LOCAL (from RTA_TABLE when present: table ids above
 * 255 only live there) and type RTN_LOCAL (the table also holds broadcast
 * and anycast entries, which deliver nothing to a socket of ours).
 */
#include "snid/localroute.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOCALROUTE_BUF	32768

/* The prefix a route message describes, if it is a local one. */
static bool
localroute_parse(const struct nlmsghdr *h, struct cidr *c)
{
	const struct rtmsg	*rt = NLMSG_DATA(h);
	const struct rtattr	*a;
	unsigned		table = rt->rtm_table;
	size_t			alen, off, plen;
	bool			have_dst = false;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*rt)) || rt->rtm_type != RTN_LOCAL)
		return false;
	if (rt->rtm_family != AF_INET && rt->rtm_family != AF_INET6)
		return false;
	alen = rt->rtm_family == AF_INET ? 4 : 16;
	memset(c, 0, sizeof(*c));
	c->family = rt->rtm_family;
	c->prefixlen = rt->rtm_dst_len;
	if (c->prefixlen > alen * 8)
		return false;
	/* The attributes, walked by hand: the RTA_ macros mix signedness. */
	off = NLMSG_LENGTH(sizeof(*rt));
	off = RTA_ALIGN(off);
	while (off + sizeof(*a) <= h->nlmsg_len) {
		a = (const struct rtattr *)(const void *)((const char *)h + off);
		if (a->rta_len < sizeof(*a) || off + a->rta_len > h->nlmsg_len)
			break;
		plen = a->rta_len - sizeof(*a);
		if (a->rta_type == RTA_TABLE && plen >= 4)
			memcpy(&table, (const char *)a + sizeof(*a), 4);
		else if (a->rta_type == RTA_DST && plen >= alen) {
			memcpy(c->addr, (const char *)a + sizeof(*a), alen);
			have_dst = true;
		}
		off += RTA_ALIGN(a->rta_len);
	}
	return table == RT_TABLE_LOCAL && (have_dst || c->prefixlen == 0);
}

/* Send the dump request; 0 or -1 with errno. */
static int
localroute_request(int fd)
{
	struct {
		struct nlmsghdr	h;
		struct rtmsg	rt;
	}			req;
	struct sockaddr_nl	kernel;

	memset(&req, 0, sizeof(req));
	memset(&kernel, 0, sizeof(kernel));
	kernel.nl_family = AF_NETLINK;
	req.h.nlmsg_len = NLMSG_LENGTH(sizeof(req.rt));
	req.h.nlmsg_type = RTM_GETROUTE;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.h.nlmsg_seq = 1;
	req.rt.rtm_family = AF_UNSPEC;
	req.rt.rtm_table = RT_TABLE_LOCAL;
	if (sendto(fd, &req, req.h.nlmsg_len, 0, (struct sockaddr *)&kernel,
	    sizeof(kernel)) == -1)
		return -1;
	return 0;
}

int
localroute_list(struct cidr *out, size_t max, char *err, size_t errlen)
{
	static uint32_t	words[LOCALROUTE_BUF / 4];	/* aligned for nlmsghdr */
	char		*buf = (char *)words;
	int		fd, found = 0;
	ssize_t		n;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd == -1 || localroute_request(fd) == -1) {
		snprintf(err, errlen, "netlink: %s", strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	for (;;) {
		struct nlmsghdr *h = (struct nlmsghdr *)(void *)buf;
		size_t off;

		n = recv(fd, buf, sizeof(words), 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "netlink: %s",
			    n == 0 ? "closed" : strerror(errno));
			close(fd);
			return -1;
		}
		for (off = 0; off + sizeof(*h) <= (size_t)n &&
		    h->nlmsg_len >= sizeof(*h) && off + h->nlmsg_len <= (size_t)n;
		    off += NLMSG_ALIGN(h->nlmsg_len),
		    h = (struct nlmsghdr *)(void *)(buf + off)) {
			struct cidr c;

			if (h->nlmsg_type == NLMSG_DONE) {
				close(fd);
				return found;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				snprintf(err, errlen, "netlink: dump refused");
				close(fd);
				return -1;
			}
			if (h->nlmsg_type != RTM_NEWROUTE ||
			    !localroute_parse(h, &c))
				continue;
			if ((size_t)found < max)
				out[found] = c;
			found++;
		}
	}
}

bool
localroute_overlap(const struct cidr *a, const struct cidr *b)
{
	const struct cidr	*wide = a->prefixlen <= b->prefixlen ? a : b;
	const struct cidr	*narrow = wide == a ? b : a;
	unsigned		bits = wide->prefixlen, whole = bits / 8;

	if (a->family != b->family)
		return false;
	if (memcmp(wide->addr, narrow->addr, whole) != 0)
		return false;
	if (bits % 8 == 0)
		return true;
	return ((wide->addr[whole] ^ narrow->addr[whole]) &
	    (uint8_t)(0xff << (8 - bits % 8))) == 0;
}

/* The attributes of a route answer into hop. */
static void
localroute_hop_parse(const struct nlmsghdr *h, struct localroute_hop *hop)
{
	const struct rtmsg	*rt = NLMSG_DATA(h);
	const struct rtattr	*a;
	const char		*v;
	size_t			 alen, off, plen;
	union sockaddr_inet	*to;

	memset(hop, 0, sizeof(*hop));
	hop->type = rt->rtm_type;
	alen = rt->rtm_family == AF_INET ? 4 : 16;
	off = RTA_ALIGN(NLMSG_LENGTH(sizeof(*rt)));
	while (off + sizeof(*a) <= h->nlmsg_len) {
		a = (const struct rtattr *)(const void *)((const char *)h + off);
		if (a->rta_len < sizeof(*a) || off + a->rta_len > h->nlmsg_len)
			break;
		plen = a->rta_len - sizeof(*a);
		v = (const char *)a + sizeof(*a);
		to = NULL;
		if (a->rta_type == RTA_OIF && plen >= 4)
			memcpy(&hop->oif, v, 4);
		else if (a->rta_type == RTA_GATEWAY && plen >= alen) {
			to = &hop->gateway;
			hop->has_gateway = true;
		} else if (a->rta_type == RTA_PREFSRC && plen >= alen) {
			to = &hop->source;
			hop->has_source = true;
		}
		if (to != NULL && alen == 4) {
			to->in.sin_family = AF_INET;
			memcpy(&to->in.sin_addr, v, 4);
		} else if (to != NULL) {
			to->in6.sin6_family = AF_INET6;
			memcpy(&to->in6.sin6_addr, v, 16);
		}
		off += RTA_ALIGN(a->rta_len);
	}
}

/* Send the RTM_GETROUTE request for dst; 0 or -1 with errno. */
static int
localroute_get_request(int fd, const struct sockaddr *dst)
{
	struct {
		struct nlmsghdr	h;
		struct rtmsg	rt;
		struct rtattr	a;
		uint8_t		addr[16];
	}			req;
	struct sockaddr_nl	kernel;
	size_t			alen = dst->sa_family == AF_INET ? 4 : 16;

	memset(&req, 0, sizeof(req));
	memset(&kernel, 0, sizeof(kernel));
	kernel.nl_family = AF_NETLINK;
	req.h.nlmsg_len = (uint32_t)(NLMSG_LENGTH(sizeof(req.rt)) +
	    RTA_LENGTH(alen));
	req.h.nlmsg_type = RTM_GETROUTE;
	req.h.nlmsg_flags = NLM_F_REQUEST;
	req.h.nlmsg_seq = 1;
	req.rt.rtm_family = (uint8_t)dst->sa_family;
	req.rt.rtm_dst_len = (uint8_t)(alen * 8);
	req.a.rta_type = RTA_DST;
	req.a.rta_len = (unsigned short)RTA_LENGTH(alen);
	if (alen == 4)
		memcpy(req.addr,
		    &((const struct sockaddr_in *)(const void *)dst)->sin_addr, 4);
	else
		memcpy(req.addr,
		    &((const struct sockaddr_in6 *)(const void *)dst)->sin6_addr,
		    16);
	return (int)sendto(fd, &req, req.h.nlmsg_len, 0,
	    (struct sockaddr *)&kernel, sizeof(kernel)) == -1 ? -1 : 0;
}

int
localroute_get(const struct sockaddr *dst, struct localroute_hop *hop,
    char *err, size_t errlen)
{
	static uint32_t		 words[LOCALROUTE_BUF / 4];
	const struct nlmsghdr	*h = (const struct nlmsghdr *)(void *)words;
	ssize_t			 n;
	int			 fd, e;

	if (dst->sa_family != AF_INET && dst->sa_family != AF_INET6) {
		snprintf(err, errlen, "not an IP address");
		errno = EAFNOSUPPORT;
		return -2;
	}
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd == -1 || localroute_get_request(fd, dst) == -1) {
		e = errno;
		snprintf(err, errlen, "netlink: %s", strerror(e));
		if (fd != -1)
			close(fd);
		errno = e;
		return -2;
	}
	do
		n = recv(fd, words, sizeof(words), 0);
	while (n == -1 && errno == EINTR);
	e = errno;
	close(fd);
	if (n < (ssize_t)sizeof(*h) || h->nlmsg_len > (size_t)n) {
		snprintf(err, errlen, "netlink: %s", n == -1 ? strerror(e) :
		    "short answer");
		errno = n == -1 ? e : EIO;
		return -2;
	}
	if (h->nlmsg_type == NLMSG_ERROR &&
	    h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
		e = -((const struct nlmsgerr *)NLMSG_DATA(h))->error;
		snprintf(err, errlen, "%s", strerror(e));
		errno = e;
		return -1;
	}
	if (h->nlmsg_type != RTM_NEWROUTE ||
	    h->nlmsg_len < NLMSG_LENGTH(sizeof(struct rtmsg))) {
		snprintf(err, errlen, "netlink: unexpected answer");
		errno = EIO;
		return -2;
	}
	localroute_hop_parse(h, hop);
	return 0;
}
