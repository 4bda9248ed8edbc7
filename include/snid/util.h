/*
 * util: allocation that cannot fail in practice (it aborts with a message
 * instead of spreading NULL checks), and small descriptor helpers.  Socket
 * addresses and listening sockets are the sock module's.
 */
#ifndef SNID_UTIL_H
#define SNID_UTIL_H

#include <stddef.h>

/* union sockaddr_inet, for the modules that reach it through this header. */
#include "snid/sock.h"


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
