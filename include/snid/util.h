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

/* CLOCK_MONOTONIC in seconds: bounds measured outside the event loop's clock. */
double	 util_now(void);

/*
 * TCP keepalive, so that a client or backend that vanished (a phone that
 * lost its network, a crashed host: no FIN, no RST) does not hold its
 * connection until -idle-timeout: after UTIL_KEEPIDLE seconds of silence,
 * a probe every UTIL_KEEPINTVL seconds, and the connection ends (outcome
 * reset/error) when UTIL_KEEPCNT go unanswered: 2 minutes.  The same
 * bound (TCP_USER_TIMEOUT) applies to data sent and never acknowledged,
 * which keepalive does not cover: a peer that vanished in the middle of a
 * transfer is found in 2 minutes, not the ~15 of the kernel's
 * retransmission limit (tcp_retries2).  A live peer that merely stops
 * reading still acknowledges the zero-window probes and is not cut.  Set on
 * listening sockets, which Linux copies to each accepted one, and on each
 * TCP backend socket once its connection has spliced CONN_KEEPALIVE_AFTER
 * seconds (src/conn_int.h says why not at once).  Errors are ignored
 * (not every socket is TCP).
 */
#define UTIL_KEEPIDLE	60
#define UTIL_KEEPINTVL	15
#define UTIL_KEEPCNT	4
void	 util_set_keepalive(int fd);

#endif
