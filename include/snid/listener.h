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

struct listener {
	ev_io		 io;
	struct worker	*w;
	int		 fd;
	uint16_t	 port;		/* local port, host order: the default backend port; 0: unix */
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

/* Start accepting (the watchers). */
void	listener_start_all(struct worker *w);

/* Stop accepting and close every listening socket. */
void	listener_close_all(struct worker *w);

/* After a connection closed: accept again if -max-connections had stopped it. */
void	listener_resume_if_room(struct worker *w);

#endif
