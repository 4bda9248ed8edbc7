/*
 * dial: from resolved addresses to a connecting socket.  The allow-list is
 * applied here, to the very sockaddr that is handed to connect(), so no
 * path can reach connect() with an address outside -backend-cidr.  Also the
 * nat46 source address, and the unix-mode socket paths.
 */
#ifndef SNID_DIAL_H
#define SNID_DIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

#include "snid/config.h"
#include "snid/sock.h"

/*
 * Whether snid may connect to sa: inside one of -backend-cidr (an
 * IPv4-mapped IPv6 address counts as IPv4) and not an address that is
 * always refused (unspecified, multicast, broadcast).
 */
bool	dial_allowed(const struct config *cfg, const struct sockaddr *sa);

struct dial_self;

/*
 * Whether snid may connect to port: one of -backend-ports, or when that is
 * not set, -backend-port or the port of one of snid's listeners (self;
 * NULL: none).  Port 0 never.
 */
bool	dial_port_allowed(const struct config *cfg,
	    const struct dial_self *self, uint16_t port);

/*
 * What snid itself listens on, so that it never connects to itself: a name
 * that resolves to one of its own addresses, with the backend port equal to
 * a listening port (the default), would make every connection open another
 * one to snid, until it runs out of descriptors.
 *
 * The listeners' addresses come from getsockname() of the listening
 * sockets.  A wildcard listener (0.0.0.0 or ::) is reached through every
 * address of the host: those are taken from getifaddrs() when the set is
 * built (start-up and each SIGHUP reload, never per connection), so an
 * address added to the host later is known only after the next reload;
 * 127.0.0.0/8 and ::1 always count as the host's.  IPv4-mapped IPv6
 * addresses count as IPv4.  The port must match too: a backend on another
 * port of the same host is legitimate.
 */
struct dial_listen {
	union sockaddr_inet	addr;		/* port set; may be the wildcard */
	bool			v6only;		/* an :: listener that takes no IPv4 */
};

/* A unix listener's socket file, by identity: a path may have many spellings. */
struct dial_unix_self {
	dev_t			 dev;
	ino_t			 ino;
};

struct dial_self {
	struct dial_listen	*listen;
	size_t			 n_listen;
	struct dial_unix_self	*unix_listen;	/* unix listeners' socket files */
	size_t			 n_unix_listen;
	union sockaddr_inet	*local;		/* the host's addresses; port 0 */
	size_t			 n_local;
};

/* Empty the set (freeing what it holds); also makes a zeroed struct usable. */
void	dial_self_clear(struct dial_self *self);

/*
 * Add the address of listening socket fd (getsockname; IPV6_V6ONLY).  For
 * a unix socket, the identity (device, inode) of its socket file, which
 * dial_unix then never connects to; an abstract or unnamed one, or one
 * whose file is gone, is skipped.  Returns 0, or -1 with errno set.
 */
int	dial_self_add_fd(struct dial_self *self, int fd);

/* Add a listening address directly (what dial_self_add_fd adds). */
void	dial_self_add_listen(struct dial_self *self, const struct sockaddr *sa,
	    bool v6only);

/* Add one address of the host (what dial_self_load_host adds). */
void	dial_self_add_local(struct dial_self *self, const struct sockaddr *sa);

/*
 * Replace the host's addresses with those of hostaddr_each() (getifaddrs,
 * or without netlink its fallback).  Returns 0, or
 * -1 with errno set (the loopback addresses still count).
 */
int	dial_self_load_host(struct dial_self *self);

/* Whether connecting to sa (address and port) would reach one of snid's listeners. */
bool	dial_self_match(const struct dial_self *self, const struct sockaddr *sa);

/*
 * Copy the allowed addresses of in[0..n), in order and without duplicates,
 * into out (room for n) with port set (host byte order); none when port is
 * not allowed (dial_port_allowed).  An address that is one of snid's own
 * listeners (self; NULL: no such check) is left out,
 * with a warning (at most one a second).  Returns how many.
 */
size_t	dial_candidates(const struct config *cfg, struct dial_self *self,
	    const union sockaddr_inet *in, size_t n, uint16_t port,
	    union sockaddr_inet *out);

/*
 * Start a non-blocking connect to *to.  Returns the socket (connected or
 * connecting: wait for it to be writable), or -1 with errno set; EACCES if
 * *to is not allowed (address or port) or is one of snid's listeners
 * (self, as above).
 */
int	dial_start(const struct config *cfg, struct dial_self *self,
	    const union sockaddr_inet *to);

/*
 * dial_start, from source address src when it is not NULL (nat46): the
 * socket is bound to src before connect(), with IP_FREEBIND so the address
 * need not be configured on an interface.
 */
int	dial_start_from(const struct config *cfg, struct dial_self *self,
	    const union sockaddr_inet *to, const struct sockaddr_in6 *src);

/*
 * nat46: the source address for a connection from client: the first 12
 * bytes of -nat46-prefix, then the client's IPv4 address (an IPv4-mapped
 * IPv6 address counts as IPv4), port 0.  Returns false when the client has
 * no IPv4 address (an IPv6 client, a unix socket peer).
 */
bool	dial_nat46_source(const struct config *cfg, const struct sockaddr *client,
	    struct sockaddr_in6 *out);

/*
 * unix mode: connect (non-blocking) to the stream socket DIR/NAME, else,
 * when DIR/NAME does not exist, to DIR/_.PARENT (NAME without its first
 * label; one level only).  name must be canonical (hostname_canonicalize):
 * that is what keeps the path inside DIR.  Returns the socket, connected or
 * connecting (wait for it to be writable), or -1 with errno set: ENOENT when
 * neither socket file exists (or a path does not fit in sun_path), anything
 * else when a socket file exists but connecting failed (ECONNREFUSED: no one
 * listens; EAGAIN: its backlog is full; EACCES: it is one of snid's own
 * unix listeners (self; NULL: no such check), which would connect snid to
 * itself, again for each connection, until out of descriptors).  *path is
 * set to the socket tried last.
 */
int	dial_unix(const struct config *cfg, struct dial_self *self,
	    const char *name, struct sockaddr_un *path);

/*
 * Whether a connect error concerns only this address (refused, unreachable,
 * timed out, ...), so the next candidate is worth trying; resource
 * shortages (EMFILE, ENOBUFS, ...) are not.
 */
bool	dial_error_try_next(int err);

#endif
