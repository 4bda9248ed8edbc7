/*
 * util: aborting allocators and small descriptor helpers.
 */
#include "snid/util.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void
util_oom(size_t size)
{
	char	msg[80];
	int	n;

	n = snprintf(msg, sizeof(msg), "error: out of memory (%zu bytes)\n",
	    size);
	if (n > 0 && write(2, msg, (size_t)n) < 0) {
		/* nothing more to do */
	}
	abort();
}

void *
xmalloc(size_t size)
{
	void	*p = malloc(size != 0 ? size : 1);

	if (p == NULL)
		util_oom(size);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void	*p = calloc(n != 0 ? n : 1, size != 0 ? size : 1);

	if (p == NULL)
		util_oom(n * size);
	return p;
}

void *
xrealloc(void *p, size_t size)
{
	void	*q = realloc(p, size != 0 ? size : 1);

	if (q == NULL)
		util_oom(size);
	return q;
}

char *
xstrdup(const char *s)
{
	size_t	 n = strlen(s) + 1;
	char	*p = xmalloc(n);

	memcpy(p, s, n);
	return p;
}

void
util_close(int fd)
{
	int	saved = errno;

	if (fd >= 0)
		close(fd);
	errno = saved;
}

void
util_close_reset(int fd)
{
	struct linger	l = { .l_onoff = 1, .l_linger = 0 };

	if (fd < 0)
		return;
	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	util_close(fd);
}

void
util_set_nodelay(int fd)
{
	int	one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

void
util_set_keepalive(int fd)
{
	int	on = 1, idle = UTIL_KEEPIDLE, intvl = UTIL_KEEPINTVL;
	int	cnt = UTIL_KEEPCNT;
	/* Data unacknowledged this long ends the connection too. */
	unsigned	utmo = (UTIL_KEEPIDLE + UTIL_KEEPINTVL * UTIL_KEEPCNT) *
			    1000u;

	if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)) == -1)
		return;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl,
	    sizeof(intvl));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &utmo,
	    sizeof(utmo));
}

double
util_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
