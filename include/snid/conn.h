/*
 * conn: one client connection, one state machine, one way out.
 *
 *   PROXY_HDR  on a proxy: listener, the PROXY header first, cut off
 *   HTTP_HEAD  on an http: listener, the request head, routed by its Host
 *   HELLO      otherwise the ClientHello, routed by its SNI
 *              (-hello-timeout bounds these three together)
 *   RESOLVE    AAAA (and A) lookup of the name (-dns-timeout)
 *   CONNECT    try the allowed addresses in order (-connect-timeout in
 *              all); in unix mode, the socket of the name
 *   FORWARD    connected: write every byte received so far, unchanged
 *              (after the PROXY header, with -proxy-proto, in the same
 *              write)
 *   PUMP       splice both ways until both directions are done (the
 *              idle bounds: -idle-timeout, -half-close-timeout)
 *
 * Any state may end in conn_close(), the only exit: it stops every watcher,
 * detaches the lookup, closes or pools every fd and pipe, writes the
 * connection's one access-log line and frees it.
 */
#ifndef SNID_CONN_H
#define SNID_CONN_H

#include <stdint.h>
#include <sys/socket.h>

#include "snid/outcome.h"

struct worker;
struct conn;
struct listener;

/*
 * Take over the socket fd from peer, accepted on listener l (its port is
 * the backend port unless -backend-port is set; its wrappers say what comes
 * before the ClientHello), with the slot of w->shared's connection budget
 * the caller reserved (shared_conn_reserve): conn_close gives it back.
 */
void	conn_accept(struct worker *w, int fd, const struct sockaddr *peer,
	    socklen_t peerlen, const struct listener *l);

/* End c with outcome o (see conn.h's banner). */
void	conn_close(struct conn *c, enum outcome o);

/* End every connection of w with outcome o. */
void	conn_close_all(struct worker *w, enum outcome o);

#endif
