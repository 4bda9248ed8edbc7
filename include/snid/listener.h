/*
 * listener: the listening sockets of -listen, and accepting on them: tcp:,
 * unix:, and fd:/fdname: (systemd socket activation).  The wrappers are
 * marked on each listener for conn to act on (http: route by Host;
 * proxy: read a PROXY header first).
 */
#ifndef SNID_LISTENER_H
#define SNID_LISTENER_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "snid/config.h"

struct shared;
struct worker;

/*
 * The accept throttle: when the listeners stop accepting and what starts
 * them again.  It lives in struct worker (w->accept) but belongs to this
 * module: only listener.c reads or writes it.
 *
 * Two reasons stop every accept watcher of the worker:
 *
 * - full: -max-connections connections are open, counted over every
 *   worker (shared.h): each accept first reserves a slot, which the
 *   connection gives back in conn_close.  Accepting resumes once a slot
 *   is free.  Nobody calls the listener when a connection closes:
 *   instead, while full, the listener checks the count itself from an
 *   ev_prepare watcher, which libev runs just before the loop blocks (a
 *   close in this worker), and from an ev_async that a close in another
 *   worker sends (listener_wake).  The calls thus go one way only:
 *   listener -> conn (conn_accept) and conn -> worker, shared, never
 *   back from conn_close into the listener's state.  The watchers run
 *   only while full, so they cost nothing otherwise.
 * - paused: accept failed for want of descriptors or memory (see
 *   sock_accept); a timer resumes a moment later.  Errors are logged at
 *   most once a second for the whole daemon, with a count of what was
 *   not logged (shared_ratelimit).
 */
struct accept_throttle {
	bool		 full;		/* stopped for want of a slot (atomic) */
	ev_prepare	 room;		/* while full: room yet? */
	ev_async	 wake;		/* while full: another worker freed a slot */
	ev_timer	 pause;		/* after EMFILE & co: resume */
};

/*
 * One listening socket of one worker.  With several workers, a tcp:
 * address snid binds itself has one SO_REUSEPORT socket per worker (the
 * kernel spreads the connections); any other socket (unix:, fd:, fdname:,
 * or a tcp: one that could not get a sibling) is shared: each worker holds
 * a dup of it and waits on it through an epoll set of its own (epfd).
 */
struct listener {
	ev_io		 io;		/* on fd, or on epfd when shared */
	struct worker	*w;
	int		 fd;
	int		 epfd;		/* shared: EPOLLEXCLUSIVE set; else -1 */
	/* local port, host order: the default backend port; 0: unix */
	uint16_t	 port;
	bool		 proxy;		/* proxy: wrapper: a PROXY header comes first */
	bool		 http;		/* http: wrapper: route by the Host header */
	bool		 tcp;		/* a tcp: socket snid bound (or kept from the fd store) */
	bool		 shared;	/* one socket, every worker holds a dup */
	bool		 extra;		/* a second socket of an address (fd store) */
	char		 text[2 * ADDRSPEC_TEXT_MAX + 32];	/* "tcp:0.0.0.0:443", for logs */
	char		*unix_path;	/* unix: the socket file we bound, removed on close */
	dev_t		 unix_dev;	/* ... if it is still that file */
	ino_t		 unix_ino;
};

/*
 * Whether every -listen of cfg is a kind this version can run, and fits the
 * mode (a unix: listener has no port for the default backend port, and no
 * IPv4 client address for nat46).  Returns 0, or -1 after logging why.
 */
int	listener_check(const struct config *cfg);

/*
 * Open, bind and listen on every -listen spec, for every worker of sh;
 * take over the sockets passed by systemd socket activation (LISTEN_PID,
 * LISTEN_FDS, LISTEN_FDNAMES, which are then removed from the
 * environment) and close the passed ones no -listen uses.  Worker 0 opens
 * what the specs name; every other worker gets a SO_REUSEPORT sibling of
 * each tcp: socket (on the port worker 0 got, for a port 0) or a dup of
 * the others.  Returns 0, or -1 after logging.
 */
int	listener_open_all(struct shared *sh);

/*
 * The restart handover (README, "Upgrading"): main stores the tcp:
 * listeners of every worker in systemd's fd store under this FDNAME, and
 * the next start's listener_open_all takes every one whose address a tcp:
 * -listen names instead of binding it again (spread over its workers, so
 * no socket's queue is lost; those no -listen names are closed).
 */
#define LISTENER_FDSTORE_NAME	"snid-tcp"

/* Every worker's tcp: sockets, at most max, into fds; returns how many. */
size_t	listener_store_fds(const struct shared *sh, int *fds, size_t max);

/*
 * Wake w if it stopped accepting for want of a connection slot, so that it
 * looks again (any thread; see struct accept_throttle).
 */
void	listener_wake(struct worker *w);

/* Start accepting (the watchers). */
void	listener_start_all(struct worker *w);

/* Stop accepting and close every listening socket. */
void	listener_close_all(struct worker *w);

/* Make w->accept usable (before listener_open_all). */
void	listener_throttle_init(struct worker *w);

#endif
