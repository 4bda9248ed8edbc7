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

struct worker;

/*
 * The accept throttle: when the listeners stop accepting and what starts
 * them again.  It lives in struct worker (w->accept) but belongs to this
 * module: only listener.c reads or writes it, except max_conns, which
 * worker_set_limits sets.
 *
 * Two reasons stop every accept watcher of the worker:
 *
 * - full: -max-connections connections are open.  Accepting resumes once
 *   fewer are.  The connection count (w->n_conns) is conn's; nobody tells
 *   the listener that a connection closed.  Instead, while full, the
 *   listener watches the count itself from an ev_prepare watcher, which
 *   libev runs just before the loop blocks, so the accept watchers are
 *   started again before the next poll after the close, as soon as a
 *   direct call would have.  The calls thus go one way only: listener ->
 *   conn (conn_accept) and conn -> worker (worker_conn_closed), never
 *   back from conn_close into the listener.  The watcher runs only while
 *   full, so it costs nothing otherwise.
 * - paused: accept failed for want of descriptors or memory (see
 *   sock_accept); a timer resumes a moment later.  Errors are logged at
 *   most once a second, with a count of what was not logged.
 */
struct accept_throttle {
	size_t		 max_conns;	/* the budget (worker_set_limits) */
	bool		 full;		/* stopped at max_conns */
	ev_tstamp	 full_logged;	/* last "-max-connections reached" */
	ev_prepare	 room;		/* while full: room yet? */
	ev_timer	 pause;		/* after EMFILE & co: resume */
	ev_tstamp	 err_last;	/* last accept error logged */
	uint64_t	 err_suppressed; /* ... and not logged since */
};

struct listener {
	ev_io		 io;
	struct worker	*w;
	int		 fd;
	/* local port, host order: the default backend port; 0: unix */
	uint16_t	 port;
	bool		 proxy;		/* proxy: wrapper: a PROXY header comes first */
	bool		 http;		/* http: wrapper: route by the Host header */
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
 * Open, bind and listen on every -listen spec; take over the sockets passed
 * by systemd socket activation (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES,
 * which are then removed from the environment) and close the passed ones
 * no -listen uses.  Returns 0, or -1 after logging.
 */
int	listener_open_all(struct worker *w);

/*
 * The restart handover (README, "Upgrading"): main stores the tcp:
 * listeners in systemd's fd store under this FDNAME, and the next start's
 * listener_open_all takes each one whose address a tcp: -listen names
 * instead of binding it again (those no -listen names are closed).
 */
#define LISTENER_FDSTORE_NAME	"snid-tcp"

/* The tcp: listeners' fds, at most max, into fds; returns how many. */
size_t	listener_store_fds(const struct worker *w, int *fds, size_t max);

/* Start accepting (the watchers). */
void	listener_start_all(struct worker *w);

/* Stop accepting and close every listening socket. */
void	listener_close_all(struct worker *w);

/* Make w->accept usable (before listener_open_all; max_conns is left alone). */
void	listener_throttle_init(struct worker *w);

#endif
