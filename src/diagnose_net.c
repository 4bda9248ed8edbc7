/*
 * diagnose_net: the steps of -diagnose that touch the network past DNS
 * (diagnose.h): the nat46 prefix's local route, the route to each backend
 * address, the connect (dial.c, as the daemon does it), and the big
 * ClientHello after the PROXY header the daemon would send.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "diagnose_int.h"
#include "snid/diagnose.h"
#include "snid/localroute.h"
#include "snid/proxyproto.h"
#include "snid/util.h"

/* Step nat46: the prefix the sources come from is routed to this host. */
bool
diagnose_nat46(struct diag *d)
{
	struct cidr	local[256], p;
	char		err[128], txt[CIDR_STRLEN];
	int		n, i;

	memset(&p, 0, sizeof(p));
	p.family = AF_INET6;
	p.prefixlen = 96;
	memcpy(p.addr, &d->cfg->nat46_prefix, 16);
	cidr_format(&p, txt, sizeof(txt));
	n = localroute_list(local, sizeof(local) / sizeof(local[0]), err,
	    sizeof(err));
	if (n == -1) {
		diagnose_line(d, DIAG_WARN, "nat46", "cannot read the local routes "
		    "(%s): -nat46-prefix %s not checked", err, txt);
		return true;
	}
	if ((size_t)n > sizeof(local) / sizeof(local[0]))
		n = (int)(sizeof(local) / sizeof(local[0]));
	for (i = 0; i < n; i++)
		if (local[i].family == AF_INET6 && local[i].prefixlen <= 96 &&
		    localroute_overlap(&local[i], &p)) {
			diagnose_line(d, DIAG_OK, "nat46", "-nat46-prefix %s is "
			    "routed to this host (a local route)", txt);
			return true;
		}
	diagnose_line(d, DIAG_FAIL, "nat46", "-nat46-prefix %s is not routed to "
	    "this host: the backend's answers to the nat46 sources never come "
	    "back: ip -6 route add local %s dev lo (and route it back over "
	    "the tunnel on the backend's side)", txt, txt);
	return false;
}

/* Step route: how the kernel sends to a backend address. */
static bool
diag_route(struct diag *d, const union sockaddr_inet *to, bool last)
{
	struct localroute_hop	hop;
	char			err[128], a[INET6_ADDRSTRLEN], gw[64] = "";
	char			src[64] = "", dev[IF_NAMESIZE] = "?";
	int			rc;

	diagnose_addr(&to->sa, a, sizeof(a));
	rc = localroute_get(&to->sa, &hop, err, sizeof(err));
	if (rc == -2) {
		diagnose_line(d, DIAG_WARN, "route", "cannot ask the kernel for the "
		    "route to %s (%s)", a, err);
		return true;
	}
	if (rc == -1 || (hop.type != RTN_UNICAST && hop.type != RTN_LOCAL)) {
		diagnose_line(d, last ? DIAG_FAIL : DIAG_WARN, "route", "no route "
		    "to %s (%s): route the backend's network over the tunnel "
		    "(e.g. ip -6 route add PREFIX dev wg0)%s", a,
		    rc == -1 ? err : hop.type == RTN_BLACKHOLE ? "blackhole" :
		    hop.type == RTN_PROHIBIT ? "prohibit" : "unreachable",
		    last ? "" : "; trying the next address");
		return false;
	}
	if (hop.oif != 0 && if_indextoname(hop.oif, dev) == NULL)
		snprintf(dev, sizeof(dev), "#%u", hop.oif);
	if (hop.has_gateway) {
		char	g[INET6_ADDRSTRLEN];

		snprintf(gw, sizeof(gw), " via %s", diagnose_addr(&hop.gateway.sa,
		    g, sizeof(g)));
	}
	if (hop.has_source) {
		char	s[INET6_ADDRSTRLEN];

		snprintf(src, sizeof(src), " src %s", diagnose_addr(&hop.source.sa,
		    s, sizeof(s)));
	}
	diagnose_line(d, DIAG_OK, "route", "%s %s%s dev %s%s", a,
	    hop.type == RTN_LOCAL ? "is this host:" : "is routed", gw, dev,
	    src);
	return true;
}

/* Wait for fd to be ready for events until deadline: 1, 0 (time), -1. */
static int
diag_wait(int fd, short events, double deadline)
{
	struct pollfd	pfd = { .fd = fd, .events = events };
	double		left;
	int		rc;

	for (;;) {
		left = deadline - util_now();
		if (left <= 0)
			return 0;
		rc = poll(&pfd, 1, (int)(left * 1000) + 1);
		if (rc == -1 && errno == EINTR)
			continue;
		return rc;
	}
}

/* What a failed connect means, and what to do. */
static const char *
diag_connect_hint(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return "nothing listens on that port: start the backend, or "
		    "fix -backend-port";
	case ETIMEDOUT:
		return "a firewall drops the SYN, or the backend is down";
	case EHOSTUNREACH:
	case ENETUNREACH:
		return "unreachable: check the tunnel and the backend's "
		    "network";
	case EADDRNOTAVAIL:
		return "the source address cannot be used (-nat46-prefix?)";
	default:
		return "see the error";
	}
}

/* Step connect: returns the connected socket, or -1 after a line. */
static int
diag_connect(struct diag *d, const union sockaddr_inet *to, bool last)
{
	const struct config	*cfg = d->cfg;
	struct sockaddr_in6	 src;
	union sockaddr_inet	 client;
	char			 a[SOCK_ADDR_TEXT_MAX], why[64];
	double			 t0 = util_now();
	int			 fd, err = 0, rc;
	socklen_t		 sl = sizeof(err);
	bool			 nat46 = false;

	sock_addr_format(&to->sa, a, sizeof(a));
	if (cfg->mode == MODE_NAT46) {
		memset(&client, 0, sizeof(client));
		client.in.sin_family = AF_INET;
		inet_pton(AF_INET, DIAG_NAT46_CLIENT, &client.in.sin_addr);
		nat46 = dial_nat46_source(cfg, &client.sa, &src);
	}
	fd = dial_start_from(cfg, &d->self, to, nat46 ? &src : NULL);
	if (fd == -1)
		err = errno;
	else {
		rc = diag_wait(fd, POLLOUT, t0 + cfg->connect_timeout);
		if (rc == 0)
			err = ETIMEDOUT;
		else if (rc == -1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
		    &sl) == -1)
			err = errno;
	}
	if (err != 0) {
		util_close(fd);
		if (err == ETIMEDOUT)
			snprintf(why, sizeof(why), "no answer within "
			    "-connect-timeout %.3gs", cfg->connect_timeout);
		else
			snprintf(why, sizeof(why), "%s", strerror(err));
		diagnose_line(d, last ? DIAG_FAIL : DIAG_WARN, "connect", "%s: %s: "
		    "%s%s", a, why, diag_connect_hint(err),
		    last ? "" : "; trying the next address");
		return -1;
	}
	diagnose_line(d, DIAG_OK, "connect", "connected to %s in %.1f ms%s%s", a,
	    (util_now() - t0) * 1000, nat46 ? " from " : "",
	    nat46 ? inet_ntop(AF_INET6, &src.sin6_addr, a, sizeof(a)) : "");
	return fd;
}

/* Steps route and connect for each candidate in turn, as the daemon does. */
int
diagnose_connect(struct diag *d)
{
	size_t	i;
	int	fd;

	for (i = 0; i < d->ncand; i++) {
		bool	last = i + 1 == d->ncand;

		if (!diag_route(d, &d->cand[i], last))
			continue;
		fd = diag_connect(d, &d->cand[i], last);
		if (fd != -1)
			return fd;
	}
	return -1;
}

/* unix mode: steps socket and connect. */
int
diagnose_unix(struct diag *d)
{
	struct sockaddr_un	path;
	double			t0 = util_now();
	int			fd, err = 0;
	socklen_t		sl = sizeof(err);

	memset(&path, 0, sizeof(path));
	fd = dial_unix(d->cfg, &d->self, d->name, &path);
	if (fd == -1 && (errno == ENOENT || errno == EACCES)) {
		diagnose_line(d, DIAG_FAIL, "socket", errno == ENOENT ? "neither "
		    "%s/%s nor its _.PARENT socket exists in -unix-directory: "
		    "start the backend with its socket there" : "%s/%s is snid's "
		    "own listener", d->cfg->unix_directory, d->name);
		return -1;
	}
	diagnose_line(d, DIAG_OK, "socket", "%s", path.sun_path);
	if (fd == -1)
		err = errno;
	else if (diag_wait(fd, POLLOUT, t0 + d->cfg->connect_timeout) != 1)
		err = ETIMEDOUT;
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) == -1)
		err = errno;
	if (err != 0) {
		util_close(fd);
		diagnose_line(d, DIAG_FAIL, "connect", "%s: %s: %s", path.sun_path,
		    strerror(err), err == ECONNREFUSED ? "no one listens on "
		    "it: start the backend" : "see the error");
		return -1;
	}
	diagnose_line(d, DIAG_OK, "connect", "connected to %s", path.sun_path);
	return fd;
}

/* The PROXY header the daemon would send first, into buf; its length. */
static size_t
diag_proxy_header(const struct diag *d, int fd, uint8_t *buf, size_t len)
{
	struct sockaddr_storage	src, dst;
	socklen_t		sl = sizeof(src), dl = sizeof(dst);

	if (d->cfg->proxy_proto == PROXY_PROTO_NONE)
		return 0;
	memset(&src, 0, sizeof(src));
	memset(&dst, 0, sizeof(dst));
	if (getsockname(fd, (struct sockaddr *)&src, &sl) == -1 ||
	    getpeername(fd, (struct sockaddr *)&dst, &dl) == -1)
		src.ss_family = dst.ss_family = AF_UNSPEC;
	if (d->cfg->proxy_proto == PROXY_PROTO_V1)
		return proxyproto_build_v1((struct sockaddr *)&src,
		    (struct sockaddr *)&dst, (char *)buf, len);
	return proxyproto_build_v2((struct sockaddr *)&src,
	    (struct sockaddr *)&dst, buf, len);
}

/* Send all of buf before deadline; 0 or an errno value. */
static int
diag_send(int fd, const uint8_t *buf, size_t len, double deadline)
{
	size_t	off = 0;
	ssize_t	n;

	while (off < len) {
		n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n == -1 && errno != EAGAIN && errno != EINTR)
			return errno;
		if (diag_wait(fd, POLLOUT, deadline) != 1)
			return ETIMEDOUT;
	}
	return 0;
}

/*
 * Read the backend's first bytes until they can be judged; *err: 0, an
 * errno value, or -1 for EOF.
 */
static enum diagnose_reply
diag_recv(int fd, uint8_t *buf, size_t cap, size_t *len, double deadline,
    int *err, uint8_t *alert)
{
	enum diagnose_reply	r = DIAGNOSE_REPLY_MORE;
	ssize_t			n;

	*len = 0;
	*err = 0;
	while (r == DIAGNOSE_REPLY_MORE && *len < cap) {
		n = recv(fd, buf + *len, cap - *len, 0);
		if (n > 0) {
			*len += (size_t)n;
			r = diagnose_reply_parse(buf, *len, alert);
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			*err = n == 0 ? -1 : errno;
			break;
		}
		if (diag_wait(fd, POLLIN, deadline) != 1) {
			*err = ETIMEDOUT;
			break;
		}
	}
	return r;
}

/* Step hello: a big ClientHello gets a ServerHello back. */
void
diagnose_hello(struct diag *d, int fd)
{
	uint8_t		 buf[DIAGNOSE_HELLO_SIZE + 128], reply[64];
	uint64_t	 rng;
	size_t		 n, len;
	double		 t0 = util_now();
	double		 deadline = t0 + d->cfg->connect_timeout;
	int		 err;
	uint8_t		 alert;
	const char	*pp = d->cfg->proxy_proto == PROXY_PROTO_V1 ?
			    " after a PROXY v1 header" :
			    d->cfg->proxy_proto == PROXY_PROTO_V2 ?
			    " after a PROXY v2 header" : "";
	enum diagnose_reply	 r;

	if (getrandom(&rng, sizeof(rng), 0) != (ssize_t)sizeof(rng))
		rng = (uint64_t)(t0 * 1e9);
	n = diag_proxy_header(d, fd, buf, sizeof(buf) - DIAGNOSE_HELLO_SIZE);
	n += diagnose_hello_build(d->name, &rng, buf + n, sizeof(buf) - n);
	err = diag_send(fd, buf, n, deadline);
	if (err != 0) {
		diagnose_line(d, DIAG_FAIL, "hello", "sending a %d-byte ClientHello%s:"
		    " %s", DIAGNOSE_HELLO_SIZE, pp, strerror(err));
		return;
	}
	r = diag_recv(fd, reply, sizeof(reply), &len, deadline, &err, &alert);
	if (r == DIAGNOSE_REPLY_SERVER_HELLO)
		diagnose_line(d, DIAG_OK, "hello", "a %d-byte ClientHello for %s%s "
		    "got a ServerHello in %.1f ms", DIAGNOSE_HELLO_SIZE, d->name,
		    pp, (util_now() - t0) * 1000);
	else if (r == DIAGNOSE_REPLY_ALERT)
		diagnose_line(d, DIAG_WARN, "hello", "a %d-byte ClientHello for %s%s "
		    "got TLS alert %u (%s): big packets pass, but the backend "
		    "refused this hello: does it serve %s?", DIAGNOSE_HELLO_SIZE,
		    d->name, pp, alert, diagnose_alert_name(alert), d->name);
	else if (r == DIAGNOSE_REPLY_OTHER)
		diagnose_line(d, DIAG_FAIL, "hello", "the backend answered the "
		    "ClientHello%s with something else than TLS (first byte "
		    "0x%02x): is it a TLS server%s?", pp, reply[0],
		    pp[0] == '\0' ? " (or does it want -proxy-proto?)" : "");
	else if (err == ETIMEDOUT)
		diagnose_line(d, DIAG_FAIL, "hello", "no answer to a %d-byte "
		    "ClientHello%s within %.3gs, though the connect worked: "
		    "big packets are lost on the way (an MTU blackhole: a tunnel "
		    "with a smaller MTU, ICMP \"packet too big\" filtered): "
		    "lower the tunnel's MTU or clamp the TCP MSS to it, and let "
		    "ICMPv6 packet-too-big through", DIAGNOSE_HELLO_SIZE, pp,
		    d->cfg->connect_timeout);
	else
		diagnose_line(d, DIAG_FAIL, "hello", "the backend %s the connection "
		    "without answering the ClientHello%s: %s", err == -1 ?
		    "closed" : "broke", pp, err == -1 ? "does it speak TLS, "
		    "and does it want (or refuse) a PROXY header?" :
		    strerror(err));
}

