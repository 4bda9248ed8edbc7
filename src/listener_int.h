/*
 * listener_int: what listener.c (opening, accepting) and listener_share.c
 * (the other workers' sockets) share, and nothing for any other module.
 */
#ifndef SNID_LISTENER_INT_H
#define SNID_LISTENER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "snid/listener.h"
#include "snid/shared.h"

/* 1024, or the kernel's SOMAXCONN when that is higher. */
#define LISTENER_BACKLOG	(1024 < SOMAXCONN ? SOMAXCONN : 1024)

/*
 * systemd socket activation (sd_listen_fds(3), implemented in listener.c):
 * the passed sockets are fds 3 .. 3+LISTEN_FDS-1, meant for us only when
 * LISTEN_PID is our pid (otherwise the variables were inherited from a
 * process they were meant for, and the fds may be anything); their names,
 * in order, are LISTEN_FDNAMES, colon-separated.
 */
struct listener_activation {
	int		 n;		/* fds 3 .. 3+n-1 are ours; 0: none */
	char		*names;		/* copy of LISTEN_FDNAMES, or NULL */
	bool		*used;		/* n flags: taken by a -listen */
	char		 why[160];	/* when n is 0: why, for error messages */
};

/* listener.c */

/* The name of passed fd 3+i ("" when LISTEN_FDNAMES has fewer entries). */
void	listener_activation_name(const struct listener_activation *act, int i,
	    char *out, size_t len);

/* w's next free slot (its text already set), set up around socket fd. */
void	listener_add(struct worker *w, int fd, uint16_t port);

void	listener_accept_cb(struct ev_loop *, ev_io *, int);

/* listener_share.c */

/*
 * The listening socket on sa that the previous process left in systemd's
 * fd store (LISTENER_FDSTORE_NAME), marked used, or -1.
 */
int	listener_adopt_stored(struct shared *sh,
	    struct listener_activation *act, const struct sockaddr *sa);

/*
 * Give w (a worker other than 0) its socket for l0, worker 0's: a
 * SO_REUSEPORT sibling of a tcp: socket (kept from the fd store, or bound
 * on the same address and port), else a dup of l0's, which then becomes
 * shared.  Returns 0, or -1 after logging.
 */
int	listener_open_sibling(struct worker *w, struct listener *l0,
	    struct listener_activation *act);

/*
 * The fd store's sockets left over once every worker has one per address
 * (the previous process ran more workers): each goes to a worker in turn,
 * so that the connections waiting in its queue are served.
 */
void	listener_adopt_extra(struct shared *sh,
	    struct listener_activation *act);

/* Set up every worker's shared listeners' epoll sets.  Returns 0 or -1. */
int	listener_share_all(struct shared *sh);

#endif
