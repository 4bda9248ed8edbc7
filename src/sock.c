/*
 * sock: listening sockets, accept, and socket address helpers (see sock.h).
 */
#include "snid/sock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "snid/addrspec.h"
#include "snid/util.h"

/* Write "step: strerror(err)" into the caller's buffer. */
static void
sock_err(char *err, size_t errlen, const char *step, int e)
{
	snprintf(err, errlen, "%s: %s", step, strerror(e));
}

socklen_t
sock_addr_len(const struct sockaddr *sa)
{
	switch (sa->sa_family) {
	case AF_INET:
		return sizeof(struct sockaddr_in);
	case AF_INET6:
		return sizeof(struct sockaddr_in6);
	default:
		return 0;
	}
}

uint16_t
sock_addr_port(const struct sockaddr *sa)
{
	const union sockaddr_inet	*a = (const void *)sa;

	switch (sa->sa_family) {
	case AF_INET:
		return ntohs(a->in.sin_port);
	case AF_INET6:
		return ntohs(a->in6.sin6_port);
	default:
		return 0;
	}
}

void
sock_addr_set_port(struct sockaddr *sa, uint16_t port)
{
	union sockaddr_inet	*a = (void *)sa;

	switch (sa->sa_family) {
	case AF_INET:
		a->in.sin_port = htons(port);
		break;
	case AF_INET6:
		a->in6.sin6_port = htons(port);
		break;
	}
}

void
sock_addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	addrspec_format(sa, sock_addr_len(sa), buf, len);
}

/* Close fd keeping errno, and say which step failed.  Returns -1. */
static int
sock_fail(int fd, char *err, size_t errlen, const char *step)
{
	int	e = errno;

	sock_err(err, errlen, step, e);
	util_close(fd);
	errno = e;
	return -1;
}

int
sock_listen_tcp(const struct sockaddr *sa, int backlog, int flags, char *err,
    size_t errlen)
{
	int	fd, one = 1;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		return sock_fail(-1, err, errlen, "socket");
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* The policy (sock.h): an IPv6 socket takes IPv6 only. */
	if (sa->sa_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1)
		return sock_fail(fd, err, errlen, "IPV6_V6ONLY");
	/*
	 * Linux copies TCP_NODELAY from the listener to every connection it
	 * accepts, which saves a setsockopt per connection.
	 */
	if (flags & SOCK_LISTEN_NODELAY) {
		util_set_nodelay(fd);
		util_set_keepalive(fd);	/* copied to accepted sockets too */
	}
	/*
	 * Several workers: the kernel spreads the connections over every
	 * socket bound to the address with SO_REUSEPORT (by a hash of the
	 * 4-tuple), and only sockets of the same effective uid may join: all
	 * are bound before the privilege drop.
	 */
	if ((flags & SOCK_LISTEN_REUSEPORT) && setsockopt(fd, SOL_SOCKET,
	    SO_REUSEPORT, &one, sizeof(one)) == -1)
		return sock_fail(fd, err, errlen, "setsockopt SO_REUSEPORT");
	if (bind(fd, sa, sock_addr_len(sa)) == -1)
		return sock_fail(fd, err, errlen, errno == EPERM ?
		    "bind (refused by policy: does the unit's SocketBindAllow= "
		    "list this port?)" : "bind");
	if (listen(fd, backlog) == -1)
		return sock_fail(fd, err, errlen, "listen");
	return fd;
}

int
sock_listen_unix(const struct sockaddr_un *sun, int backlog, char *err,
    size_t errlen)
{
	int	fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return sock_fail(-1, err, errlen, "socket");
	if (bind(fd, (const struct sockaddr *)sun, sizeof(*sun)) == -1)
		return sock_fail(fd, err, errlen, "bind");
	if (listen(fd, backlog) == -1)
		return sock_fail(fd, err, errlen, "listen");
	return fd;
}

int
sock_adopt_listener(int fd, char *err, size_t errlen)
{
	socklen_t	ol;
	int		v, flags;

	v = 0;
	ol = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &ol) == -1) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	/* A bound but not listening socket, or a datagram one, never accepts. */
	if (v == 0) {
		snprintf(err, errlen, "not a listening socket");
		return -1;
	}
	ol = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &ol) == -1 ||
	    v != SOCK_STREAM) {
		snprintf(err, errlen, "not a stream socket");
		return -1;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
		sock_err(err, errlen, "fcntl", errno);
		return -1;
	}
	return 0;
}

enum sock_accept
sock_accept_classify(int err)
{
	switch (err) {
	case EAGAIN:
		return SOCK_ACCEPT_EMPTY;
	case EINTR:
	/*
	 * accept(2): Linux reports network errors already pending on the
	 * new connection through accept; that connection is gone, the next
	 * one may be fine.
	 */
	case ECONNABORTED:
	case EPROTO:
	case EPERM:		/* a firewall rule refused it */
	case ENOPROTOOPT:
	case EHOSTDOWN:
	case ENONET:
	case EHOSTUNREACH:
	case EOPNOTSUPP:
	case ENETUNREACH:
		return SOCK_ACCEPT_RETRY;
	case EMFILE:
	case ENFILE:
	case ENOBUFS:
	case ENOMEM:
		return SOCK_ACCEPT_EXHAUSTED;
	default:
		return SOCK_ACCEPT_FATAL;
	}
}

enum sock_accept
sock_accept(int lfd, struct sockaddr *peer, socklen_t *peerlen, int *fd,
    char *err, size_t errlen)
{
	enum sock_accept	r;
	int			e;

	*fd = accept4(lfd, peer, peer != NULL ? peerlen : NULL,
	    SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (*fd >= 0)
		return SOCK_ACCEPT_OK;
	e = errno;
	r = sock_accept_classify(e);
	if (r == SOCK_ACCEPT_EXHAUSTED || r == SOCK_ACCEPT_FATAL)
		snprintf(err, errlen, "%s", strerror(e));
	errno = e;
	return r;
}
