/*
 * linger: the graceful end of a refused client.  Closing a socket that
 * still has unread bytes makes the kernel answer with a RST instead of a
 * FIN (RFC 1122 4.2.2.13), and a RST lets the client's stack throw away
 * what it has not read yet: the very alert or HTTP status that says why.
 * A client that sent more than snid read (early data, a body, a pipelined
 * request) would see ECONNRESET instead of the refusal.  So a refusal is
 * written, the write side shut down (our FIN queued behind it), and the
 * socket handed here: it is read and discarded until the client's EOF,
 * LINGER_MAX_BYTES or LINGER_SECONDS, then closed.
 *
 * Owned by the worker, not by a connection: a lingering socket costs a
 * descriptor and about 150 bytes, not a connection's buffers and slot, and
 * at most LINGER_MAX of them linger at once (a flood of refusals that
 * would need more closes the oldest, which had the most time).  They come
 * out of the descriptors kept outside the connection budget (worker.c's
 * reserve), hence so few: a well-behaved client reads the refusal and
 * closes within a round trip, so a slot is rarely held for long.
 */
#ifndef SNID_LINGER_H
#define SNID_LINGER_H

#include <ev.h>
#include <stddef.h>

#define LINGER_MAX		16		/* sockets lingering at once */
#define LINGER_MAX_BYTES	(256 * 1024)	/* read and dropped per socket */
#define LINGER_SECONDS		2.0		/* for the client's EOF */

struct linger_sock;

struct linger_set {
	struct ev_loop	*loop;
	struct linger_sock	*head, *tail;	/* newest first */
	size_t		 n;
};

/* An empty set on loop. */
void	linger_init(struct linger_set *ls, struct ev_loop *loop);

/*
 * Close fd gracefully: shut down its write side, drop what it has
 * received, and close it at its EOF or within the bounds above (at once
 * when the EOF is already there).  Takes fd in every case.
 */
void	linger_close(struct linger_set *ls, int fd);

/* Close every lingering socket now (worker tear-down). */
void	linger_close_all(struct linger_set *ls);

#endif
