/*
 * util: allocation that cannot fail in practice (it aborts with a message
 * instead of spreading NULL checks), and small socket helpers.
 */
#ifndef SNID_UTIL_H
#define SNID_UTIL_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

/* An IPv4 or IPv6 socket address, without the 128 bytes of sockaddr_storage. */
union sockaddr_inet {
	struct sockaddr		sa;
	struct sockaddr_in	in;
	struct sockaddr_in6	in6;
};

/* The length of sa's family's sockaddr (0 for anything but AF_INET/AF_INET6). */
socklen_t util_sockaddr_len(const struct sockaddr *sa);

void	*xmalloc(size_t size);
void	*xcalloc(size_t n, size_t size);
void	*xrealloc(void *p, size_t size);
char	*xstrdup(const char *s);

/* close(2) that keeps errno and ignores -1. */
void	 util_close(int fd);

/*
 * Close a TCP socket so that the peer sees a reset (RST) rather than an
 * orderly FIN: SO_LINGER {1, 0} then close.
 */
void	 util_close_reset(int fd);

/* Set TCP_NODELAY; errors are ignored (not every socket is TCP). */
void	 util_set_nodelay(int fd);

#endif
