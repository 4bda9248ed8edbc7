/*
 * dial: allow-list check and non-blocking connect.
 */
#include "snid/dial.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "snid/cidr.h"

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
