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
#include <sys/un.h>

#include "snid/config.h"
#include "snid/util.h"

/*
 * Whether snid may connect to sa: inside one of -backend-cidr (an
 * IPv4-mapped IPv6 address counts as IPv4) and not an address that is
 * always refused (unspecified, multicast, broadcast).
 */
bool	dial_allowed(const struct config *cfg, const struct sockaddr *sa);

/*
 * Copy the allowed addresses of in[0..n), in order and without duplicates,
 * into out (room for n) with port set (host byte order).  Returns how many.
 */
size_t	dial_candidates(const struct config *cfg, const union sockaddr_inet *in,
	    size_t n, uint16_t port, union sockaddr_inet *out);

/*
 * Start a non-blocking connect to *to.  Returns the socket (connected or
 * connecting: wait for it to be writable), or -1 with errno set; EACCES if
 * *to is not allowed.
 */
int	dial_start(const struct config *cfg, const union sockaddr_inet *to);

/*
 * dial_start, from source address src when it is not NULL (nat46): the
 * socket is bound to src before connect(), with IP_FREEBIND so the address
 * need not be configured on an interface.
 */
int	dial_start_from(const struct config *cfg, const union sockaddr_inet *to,
	    const struct sockaddr_in6 *src);

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
 * listens; EAGAIN: its backlog is full).  *path is set to the socket tried
 * last.
 */
int	dial_unix(const struct config *cfg, const char *name,
	    struct sockaddr_un *path);

/*
 * Whether a connect error concerns only this address (refused, unreachable,
 * timed out, ...), so the next candidate is worth trying; resource
 * shortages (EMFILE, ENOBUFS, ...) are not.
 */
bool	dial_error_try_next(int err);

#endif
