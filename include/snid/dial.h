/*
 * dial: from resolved addresses to a connecting socket.  The allow-list is
 * applied here, to the very sockaddr that is handed to connect(), so no
 * path can reach connect() with an address outside -backend-cidr.
 */
#ifndef SNID_DIAL_H
#define SNID_DIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
 * Whether a connect error concerns only this address (refused, unreachable,
 * timed out, ...), so the next candidate is worth trying; resource
 * shortages (EMFILE, ENOBUFS, ...) are not.
 */
bool	dial_error_try_next(int err);

#endif
