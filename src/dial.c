/*
 * dial: allow-list check and non-blocking connect; the nat46 source
 * address; unix-mode socket paths.
 */
#include "snid/dial.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "snid/cidr.h"
#include "snid/hostname.h"

bool
dial_allowed(const struct config *cfg, const struct sockaddr *sa)
{
	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
		return false;
	return cidr_list_match(cfg->backend_cidrs, cfg->n_backend_cidrs, sa) &&
	    !cidr_addr_forbidden(sa);
}

/* Same address and port (scope ids are never set on resolved addresses). */
static bool
dial_same(const union sockaddr_inet *a, const union sockaddr_inet *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET)
		return a->in.sin_addr.s_addr == b->in.sin_addr.s_addr;
	return memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, 16) == 0;
}

size_t
dial_candidates(const struct config *cfg, const union sockaddr_inet *in,
    size_t n, uint16_t port, union sockaddr_inet *out)
{
	size_t	i, j, k = 0;

	for (i = 0; i < n; i++) {
		union sockaddr_inet	a;

		memset(&a, 0, sizeof(a));
		if (in[i].sa.sa_family == AF_INET) {
			a.in.sin_family = AF_INET;
			a.in.sin_addr = in[i].in.sin_addr;
			a.in.sin_port = htons(port);
		} else if (in[i].sa.sa_family == AF_INET6) {
			a.in6.sin6_family = AF_INET6;
			a.in6.sin6_addr = in[i].in6.sin6_addr;
			a.in6.sin6_port = htons(port);
		} else
			continue;
		/* Checked as built: this is the sockaddr connect() will get. */
		if (!dial_allowed(cfg, &a.sa))
			continue;
		for (j = 0; j < k; j++)
			if (dial_same(&out[j], &a))
				break;
		if (j == k)
			out[k++] = a;
	}
	return k;
}

int
dial_start(const struct config *cfg, const union sockaddr_inet *to)
{
	return dial_start_from(cfg, to, NULL);
}

bool
dial_nat46_source(const struct config *cfg, const struct sockaddr *client,
    struct sockaddr_in6 *out)
{
	const uint8_t	*v4;

	if (client->sa_family == AF_INET)
		v4 = (const uint8_t *)&((const struct sockaddr_in *)
		    (const void *)client)->sin_addr;
	else if (client->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(
	    &((const struct sockaddr_in6 *)(const void *)client)->sin6_addr))
		/* A dual-stack listener (socket activation) reports IPv4 clients so. */
		v4 = &((const struct sockaddr_in6 *)(const void *)client)->
		    sin6_addr.s6_addr[12];
	else
		return false;
	memset(out, 0, sizeof(*out));
	out->sin6_family = AF_INET6;
	memcpy(out->sin6_addr.s6_addr, cfg->nat46_prefix.s6_addr, 12);
	memcpy(out->sin6_addr.s6_addr + 12, v4, 4);
	return true;
}

/*
 * Bind fd to the nat46 source address src.  IP_FREEBIND lets bind() take
 * an address that no interface has: the operator routes the whole /96 to
 * the host with `ip route add local PREFIX/96 dev lo`, which makes every
 * address in it local for incoming packets (the replies) without listing
 * them.  (With that route bind() would work without the option too; it
 * keeps working while the route is being set up, and needs no capability,
 * unlike IP_TRANSPARENT.)  The option is at level SOL_IP but applies to
 * IPv6 sockets as well: Linux hands SOL_IP options of an AF_INET6 TCP socket
 * to the IPv4 code, and inet6_bind() honours the same freebind flag.
 * IPV6_FREEBIND (Linux 4.15) sets that very flag; IP_FREEBIND works on every
 * kernel.  IP_BIND_ADDRESS_NO_PORT defers choosing the source port to
 * connect(), which can then reuse a port towards other destinations: with
 * many connections from one client (one source address) to one backend,
 * bind() alone would run out of ports at ~28000 in total.
 */
static int
dial_bind_source(int fd, const struct sockaddr_in6 *src)
{
	int	one = 1;

	if (setsockopt(fd, SOL_IP, IP_FREEBIND, &one, sizeof(one)) == -1)
		return -1;
	(void)setsockopt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	return bind(fd, (const struct sockaddr *)src, sizeof(*src));
}

int
dial_start_from(const struct config *cfg, const union sockaddr_inet *to,
    const struct sockaddr_in6 *src)
{
	int	fd, err;

	/* Checked again right before connect(): the one place that decides. */
	if (!dial_allowed(cfg, &to->sa)) {
		errno = EACCES;
		return -1;
	}
	fd = socket(to->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		return -1;
	/*
	 * TCP_NODELAY: snid forwards whatever arrives as soon as it arrives;
	 * the endpoints already decided how to batch their writes, and Nagle
	 * here would hold back the small TLS handshake records (a 40 ms
	 * stall against a peer's delayed ACK) for no saving.
	 */
	util_set_nodelay(fd);
	if (src != NULL && (to->sa.sa_family != AF_INET6 ||
	    dial_bind_source(fd, src) == -1)) {
		err = to->sa.sa_family != AF_INET6 ? EAFNOSUPPORT : errno;
		util_close(fd);
		errno = err;
		return -1;
	}
	if (connect(fd, &to->sa, util_sockaddr_len(&to->sa)) == -1 &&
	    errno != EINPROGRESS) {
		err = errno;
		util_close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

bool
dial_error_try_next(int err)
{
	switch (err) {
	case EMFILE:
	case ENFILE:
	case ENOBUFS:
	case ENOMEM:
		return false;
	default:
		return true;
	}
}

/* Connect to the socket DIR/NAME (the path in *sun).  Returns the fd or -1 with errno. */
static int
dial_unix_path(const char *dir, size_t dirlen, const char *name,
    struct sockaddr_un *sun)
{
	int	fd, n, err;

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	n = snprintf(sun->sun_path, sizeof(sun->sun_path), "%.*s/%s",
	    (int)dirlen, dir, name);
	if (n < 0 || (size_t)n >= sizeof(sun->sun_path)) {
		/* No socket can be reached by that path: as if it did not exist. */
		sun->sun_path[0] = '\0';
		errno = ENOENT;
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	/*
	 * A non-blocking connect() on a unix stream socket never says
	 * EINPROGRESS: it either connects at once (the listener's backlog has
	 * room) or fails, EAGAIN meaning the backlog is full.  That is treated
	 * as a failure like a refused TCP connection, not waited for.
	 */
	if (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == -1) {
		err = errno;
		util_close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

int
dial_unix(const struct config *cfg, const char *name, struct sockaddr_un *path)
{
	const char	*dir = cfg->unix_directory, *dot;
	char		 wild[HOSTNAME_MAX + 2];
	size_t		 dirlen = strlen(dir);
	int		 fd;

	/* "DIR/" and "DIR" name the same directory; keep the logged path tidy. */
	while (dirlen > 1 && dir[dirlen - 1] == '/')
		dirlen--;
	if (dirlen == 1 && dir[0] == '/')
		dirlen = 0;
	fd = dial_unix_path(dir, dirlen, name, path);
	/*
	 * Only a missing socket file falls back to the wildcard: a socket
	 * that exists but refuses means its service is down, and sending its
	 * clients to the wildcard service instead would hide that.
	 */
	if (fd != -1 || errno != ENOENT)
		return fd;
	dot = strchr(name, '.');
	if (dot == NULL || dot[1] == '\0') {
		errno = ENOENT;
		return -1;
	}
	snprintf(wild, sizeof(wild), "_%s", dot);
	return dial_unix_path(dir, dirlen, wild, path);
}
