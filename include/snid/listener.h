/*
 * listener: the listening sockets of -listen, and accepting on them.
 * This issue supports tcp: listeners; the others (unix:, fd:, fdname:, and
 * the proxy: and http: wrappers) are refused at start-up.
 */
#ifndef SNID_LISTENER_H
#define SNID_LISTENER_H

#include <ev.h>
#include <stdint.h>

#include "snid/config.h"

struct worker;

struct listener {
	ev_io		 io;
	struct worker	*w;
	int		 fd;
	uint16_t	 port;		/* local port, host order: the default backend port */
	char		 text[ADDRSPEC_TEXT_MAX + 8];	/* "tcp:0.0.0.0:443", for logs */
};

/* At most two sockets per spec (tcp:PORT opens IPv6 and IPv4). */
#define LISTENER_MAX	(2 * CONFIG_MAX_LISTENERS)

/*
 * Whether every -listen of cfg is a kind this version can run.  Returns 0,
 * or -1 after logging which one is not supported yet.
 */
int	listener_check(const struct config *cfg);

/* Open, bind and listen on every -listen spec.  Returns 0, or -1 after logging. */
int	listener_open_all(struct worker *w);

/* Start accepting (the watchers). */
void	listener_start_all(struct worker *w);

/* Stop accepting and close every listening socket. */
void	listener_close_all(struct worker *w);

#endif
