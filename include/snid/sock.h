/*
 * sock: the thin socket layer under listener, metricsd and dial, after
 * Redis's anet.c.  It opens listening sockets with one policy, accepts
 * with one classification of accept(2)'s errors, and answers the small
 * questions about an IPv4/IPv6 socket address (its length, its port, its
 * text) that would otherwise be a family switch at every caller.
 *
 * Helpers that can fail return -1 (or a class, for accept) and write a
 * short reason into the caller's err buffer ("bind: Address already in
 * use"); they never log.  The caller knows which flag or listener the
 * socket is for, so the caller decides how to log and what to do next.
 *
 * The listening policy, the same for every TCP listener snid opens
 * (-listen and -metrics): SO_REUSEADDR, so a restart does not wait out
 * TIME_WAIT; an IPv6 socket takes IPv6 only (IPV6_V6ONLY), whatever the
 * host's net.ipv6.bindv6only says, so "tcp:[::]:P" and "tcp:0.0.0.0:P"
 * can coexist, "tcp:PORT" is two sockets, and a client never shows up as
 * ::ffff:a.b.c.d; every socket is non-blocking and close-on-exec.
 */
#ifndef SNID_SOCK_H
#define SNID_SOCK_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

/* An IPv4 or IPv6 socket address, without the 128 bytes of sockaddr_storage. */
union sockaddr_inet {
	struct sockaddr		sa;
	struct sockaddr_in	in;
	struct sockaddr_in6	in6;
};

/* Room for sock_addr_format's text: "[" INET6_ADDRSTRLEN "]:65535". */
#define SOCK_ADDR_TEXT_MAX	(INET6_ADDRSTRLEN + 8)

/* The length of sa's family's sockaddr (0 for anything but AF_INET/AF_INET6). */
socklen_t	sock_addr_len(const struct sockaddr *sa);

/* sa's port in host byte order; 0 for anything but AF_INET/AF_INET6. */
uint16_t	sock_addr_port(const struct sockaddr *sa);

/* Set sa's port (host byte order); nothing for anything but AF_INET/AF_INET6. */
void		sock_addr_set_port(struct sockaddr *sa, uint16_t port);

/*
 * sa as text, "192.0.2.1:443" or "[2001:db8::1]:443" (addrspec_format,
 * with the length taken from the family).
 */
void		sock_addr_format(const struct sockaddr *sa, char *buf,
		    size_t len);

/* Room for any reason a helper writes into err. */
#define SOCK_ERR_MAX		128

/* sock_listen_tcp flags. */
#define SOCK_LISTEN_NODELAY	0x01	/* TCP_NODELAY, keepalive: inherited by accepted sockets */
#define SOCK_LISTEN_REUSEPORT	0x02	/* SO_REUSEPORT: one socket per worker on one address */

/*
 * A listening TCP socket on sa (AF_INET or AF_INET6) with the policy above
 * and listen(2)'s backlog.  Returns the socket, or -1 with errno set and
 * the failed step and its error in err ("bind: Address already in use").
 */
int	sock_listen_tcp(const struct sockaddr *sa, int backlog, int flags,
	    char *err, size_t errlen);

/*
 * A listening unix stream socket bound to sun (the file must not exist).
 * Returns the socket, or -1 with errno set and the reason in err.
 */
int	sock_listen_unix(const struct sockaddr_un *sun, int backlog, char *err,
	    size_t errlen);

/*
 * Take over a listening socket someone else opened (systemd socket
 * activation): it must be a listening (SO_ACCEPTCONN) stream socket; it is
 * made non-blocking and close-on-exec.  Returns 0, or -1 with the reason
 * in err ("not a listening socket").
 */
int	sock_adopt_listener(int fd, char *err, size_t errlen);

/*
 * What an accept(2) error means for the accept loop:
 *
 * SOCK_ACCEPT_EMPTY	EAGAIN: the backlog is empty; wait for readiness.
 * SOCK_ACCEPT_RETRY	that one connection failed (aborted, a network
 *			error already pending on it, refused by a firewall
 *			rule, EINTR): accept the next one at once.
 * SOCK_ACCEPT_EXHAUSTED out of descriptors or kernel memory (EMFILE,
 *			ENFILE, ENOBUFS, ENOMEM): the connection stays in
 *			the backlog, so a level-triggered watcher would
 *			report it again at once and spin.  Pause accepting.
 * SOCK_ACCEPT_FATAL	anything else (EBADF, EINVAL: the socket no longer
 *			listens): retrying now cannot help either.  Pause,
 *			and say so.
 */
enum sock_accept {
	SOCK_ACCEPT_OK,
	SOCK_ACCEPT_EMPTY,
	SOCK_ACCEPT_RETRY,
	SOCK_ACCEPT_EXHAUSTED,
	SOCK_ACCEPT_FATAL,
};

/* The class of accept(2) error err (never SOCK_ACCEPT_OK). */
enum sock_accept	sock_accept_classify(int err);

/*
 * accept4(2) on listening socket lfd: the new socket is non-blocking and
 * close-on-exec.  On SOCK_ACCEPT_OK *fd is the connection and peer (when
 * not NULL) its address, *peerlen its length.  Otherwise *fd is -1, errno
 * is accept's, and for EXHAUSTED and FATAL err holds strerror(errno).
 */
enum sock_accept	sock_accept(int lfd, struct sockaddr *peer,
			    socklen_t *peerlen, int *fd, char *err,
			    size_t errlen);

#endif
