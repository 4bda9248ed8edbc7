/*
 * conn_int: what the three files of the conn module share, and nothing
 * for any other module (their interface is conn.h).
 *
 *   conn.c          the life of a connection: accept, the watchers' and
 *                   the timer's dispatch by state, close
 *   (here)          the one state setter and the timer, inline
 *   conn_hello.c    the reading phases (PROXY_HDR, HTTP_HEAD, HELLO) and
 *                   the routing of the name they yield
 *   conn_backend.c  the way to the backend (RESOLVE, CONNECT, FORWARD)
 *                   and the PUMP
 *
 * Control flow rule: every function that may call conn_close() does so as
 * its last action and its caller returns right after, so no code ever
 * touches a conn after it has been freed.  Functions that may close c
 * say so.
 */
#ifndef SNID_CONN_INT_H
#define SNID_CONN_INT_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

#include "snid/conn.h"
#include "snid/metrics.h"
#include "snid/pump.h"
#include "snid/srclimit.h"
#include "snid/util.h"
#include "snid/worker.h"

struct resolver_result;

/* The states, in the order a connection goes through them (see conn.h). */
enum conn_state {
	CONN_PROXY_HDR,		/* proxy: listener: reading the PROXY header */
	CONN_HTTP_HEAD,		/* http: listener: reading the request head */
	CONN_HELLO,		/* reading the ClientHello */
	CONN_RESOLVE,		/* waiting for the DNS answer */
	CONN_CONNECT,		/* a connect() to cand[icand] is in progress */
	CONN_FORWARD,		/* connected; writing the buffered bytes */
	CONN_PUMP,		/* splicing both ways */
};

/* conn.flags */
#define CONN_F_CLIENT_EOF	0x01	/* the client sent FIN before the pump started */
#define CONN_F_FORWARDED	0x02	/* bytes reached a backend: no alert from us any more */
#define CONN_F_BACKEND		0x04	/* backend holds an address for the log */
#define CONN_F_HTTP		0x08	/* http: listener: a request head, routed by Host */
#define CONN_F_PROXY_OUT	0x10	/* -proxy-proto: the header is at the start of buf */
#define CONN_F_READING		0x20	/* on w's hello list, buf counted in hello_mem */
#define CONN_F_KEEPALIVE	0x40	/* PUMP: the backend socket runs keepalive */

/*
 * A TCP backend socket gets its keepalive (five setsockopt calls, see
 * util.h) only once its connection has spliced this long: most
 * connections end sooner and never need it (the first probe would come 60 s
 * after the last byte), and those calls were a twentieth of snid's own
 * cost per connection.  A backend that vanishes in the first seconds is
 * found this much later, which is nothing against the 2-minute bound.
 */
#define CONN_KEEPALIVE_AFTER	5.0

struct httphost_resume;

struct conn {
	struct worker		*w;
	struct conn		*prev, *next;	/* w->conns */
	struct conn		*hprev, *hnext;	/* w->hello_head: CONN_F_READING */
	ev_io			 cio;		/* client socket (fd -1: closed) */
	ev_io			 bio;		/* backend socket (fd -1: none) */
	ev_timer		 timer;		/* the bound of the current state */
	ev_tstamp		 start;		/* accept time, for the log */
	ev_tstamp		 since;		/* when the current state began (conn_set_state) */
	union {
		ev_tstamp	 deadline;	/* CONNECT: end of the whole state */
		ev_tstamp	 active;	/* PUMP: when bytes last moved (idle bound) */
	};
	uint64_t		 up;		/* bytes written to the backend */
	uint64_t		 down;		/* bytes written to the client */
	uint8_t			*buf;		/* bytes from the client before the pump */
	uint32_t		 len, cap;
	uint32_t		 sent;		/* bytes of buf written to the backend */
	uint32_t		 parse_at;	/* parse again once len reaches this */
	struct httphost_resume	*http_resume;	/* HTTP_HEAD: where the parse goes on */
	struct lookup		*lookup;	/* RESOLVE: the pending lookup */
	union sockaddr_inet	*cand;		/* CONNECT: the allowed addresses */
	uint8_t			 ncand, icand;
	uint8_t			 state;		/* enum conn_state */
	uint8_t			 flags;
	uint8_t			 hello_alert;	/* the parser's alert for bad-hello */
	uint8_t			 proxy_len;	/* PROXY_OUT: header bytes at the start of buf */
	uint16_t		 port;		/* backend port, host order */
	uint16_t		 http_status;	/* http: the parser's status for bad-request */
	char			*sni;		/* sanitized for the log; NULL: none */
	union sockaddr_inet	 client;	/* the peer, or the one a PROXY header carried */
	/* the address the client reached (PROXY out); family 0: ask the socket */
	union sockaddr_inet	 local;
	union sockaddr_inet	 backend;
	struct srclimit_key	 src;		/* its slot in shared->srclimit; 0: none */
	struct sockaddr_un	*unix_backend;	/* unix mode: the socket, for the log */
	const char		*srv;		/* "xmpps-client"/"xmpps-server": route by SRV */
	struct pump		 pump;
};

/*
 * The one way into a state, so that when it began is always known: the
 * metrics time RESOLVE and CONNECT from c->since (a start derived from the
 * bound, deadline - timeout, would be wrong once a reload changed the
 * timeout in between).  Inline: it runs on every step of every connection.
 */
static inline void
conn_set_state(struct conn *c, enum conn_state s)
{
	c->state = (uint8_t)s;
	c->since = ev_now(c->w->loop);
}

/* (Re)arm the state's bound to fire in secs. */
static inline void
conn_timer_arm(struct conn *c, double secs)
{
	c->timer.repeat = secs > 0 ? secs : 0.001;
	ev_timer_again(c->w->loop, &c->timer);
}

/* conn.c */

/*
 * Admit c->client (at accept, and again for the client a PROXY header
 * names): the client lists unless lists is false (a load balancer, vetted
 * by -proxy-from instead), then the per-source count, whose slot for an
 * earlier address of c (the load balancer's) is given back first.
 * Returns OUTCOME_OK, or the outcome to close c with.
 */
enum outcome	conn_admit(struct conn *c, bool lists);

/*
 * c leaves the reading phases: off w's hello list, its buffer no longer
 * counted against -hello-memory (it is bounded by the DNS and connect
 * timeouts from now on).  No-op when c is not on the list.
 */
void	conn_reading_done(struct conn *c);

/* conn_hello.c */

/*
 * Read what the client sent into c->buf, growing it up to
 * CLIENTHELLO_MAX_WIRE.  Returns the bytes read (> 0), 0 at EOF, or -1
 * with errno EAGAIN (nothing now), ENOBUFS (the buffer is at its bound and
 * full), ENOMEM (-hello-memory is spent and c is the oldest reader: close
 * it as limited) or recv's error.  EINTR is retried.  Growing a reader's
 * buffer past -hello-memory first closes the oldest readers (outcome
 * limited), never c.
 */
ssize_t	conn_buf_read(struct conn *c);

/* PROXY_HDR, HTTP_HEAD, HELLO: read and parse what came.  May close c. */
void	conn_hello_read(struct conn *c);

/* conn_backend.c */

/* The lookup's answer (resolver callback, arg is c): go on to CONNECT.  May close c. */
void	conn_resolved(void *arg, const struct resolver_result *res);

/* Count how a lookup ended, and how long RESOLVE took unless it was cached. */
void	conn_count_lookup(struct conn *c, enum metrics_dns r);

/* unix mode: connect to the socket for name.  May close c. */
void	conn_dial_unix(struct conn *c, const char *name);

/* CONNECT: drop the attempt on cand[icand] and try the next one.  May close c. */
void	conn_connect_skip(struct conn *c);

/* CONNECT, FORWARD: the backend socket is writable: write the buffered bytes.  May close c. */
void	conn_forward(struct conn *c);

/* RESOLVE, CONNECT, FORWARD: read what the client sends early.  May close c. */
void	conn_read_early(struct conn *c);

/* PUMP: io (the client's or the backend's watcher) has revents.  May close c. */
void	conn_pump_io(struct conn *c, ev_io *io, int revents);

/* PUMP: the idle timer fired.  May close c. */
void	conn_pump_timer(struct conn *c);

#endif
