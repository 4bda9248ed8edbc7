/*
 * conn: the per-connection state machine (see conn.h) and its single close
 * path.
 *
 * Control flow rule: every function that may call conn_close() does so as
 * its last action and its caller returns right after, so no code ever
 * touches a conn after it has been freed.
 */
#include "snid/conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "snid/cidr.h"
#include "snid/clienthello.h"
#include "snid/dial.h"
#include "snid/hostname.h"
#include "snid/httphost.h"
#include "snid/listener.h"
#include "snid/log.h"
#include "snid/metrics.h"
#include "snid/proxyproto.h"
#include "snid/pump.h"
#include "snid/resolver.h"
#include "snid/util.h"
#include "snid/worker.h"

enum conn_state {
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
#define CONN_F_PROXY_IN		0x08	/* proxy: listener, its PROXY header not read yet */
#define CONN_F_PROXY_OUT	0x10	/* -proxy-proto: the header is at the start of buf */

/* First size of the hello buffer; most ClientHellos fit, big ones grow it. */
#define CONN_HELLO_INITIAL	2048

struct conn {
	struct worker		*w;
	struct conn		*prev, *next;	/* w->conns */
	ev_io			 cio;		/* client socket (fd -1: closed) */
	ev_io			 bio;		/* backend socket (fd -1: none) */
	ev_timer		 timer;		/* the bound of the current state */
	ev_tstamp		 start;		/* accept time, for the log */
	ev_tstamp		 active;	/* PUMP: when bytes last moved (idle bound) */
	ev_tstamp		 deadline;	/* RESOLVE, CONNECT: end of the whole state (its start: metrics) */
	uint64_t		 up;		/* bytes written to the backend */
	uint64_t		 down;		/* bytes written to the client */
	uint8_t			*buf;		/* bytes from the client before the pump */
	uint32_t		 len, cap;
	uint32_t		 sent;		/* bytes of buf written to the backend */
	uint32_t		 parse_at;	/* parse again once len reaches this */
	struct lookup		*lookup;	/* RESOLVE: the pending lookup */
	union sockaddr_inet	*cand;		/* CONNECT: the allowed addresses */
	uint8_t			 ncand, icand;
	uint8_t			 state;
	uint8_t			 flags;
	uint8_t			 hello_alert;	/* the parser's alert for bad-hello */
	uint8_t			 proxy_len;	/* PROXY_OUT: header bytes at the start of buf */
	uint16_t		 port;		/* backend port, host order */
	uint16_t		 http_status;	/* http: the parser's status for bad-request */
	bool			 http;		/* http: listener: a request head, routed by Host */
	char			*sni;		/* sanitized for the log; NULL: none */
	union sockaddr_inet	 client;	/* the peer, or the one a PROXY header carried */
	union sockaddr_inet	 local;		/* the address the client reached (PROXY out); family 0: ask the socket */
	union sockaddr_inet	 backend;
	struct sockaddr_un	*unix_backend;	/* unix mode: the socket, for the log */
	const char		*srv;		/* "xmpps-client"/"xmpps-server": route by SRV */
	struct pump		 pump;
};

static void	conn_client_cb(struct ev_loop *, ev_io *, int);
static void	conn_backend_cb(struct ev_loop *, ev_io *, int);
static void	conn_timer_cb(struct ev_loop *, ev_timer *, int);
static void	conn_connect_next(struct conn *);
static void	conn_resolved(void *, const struct resolver_result *);
static void	conn_read_hello(struct conn *);
static void	conn_route(struct conn *, const char *);

size_t
conn_size(void)
{
	return sizeof(struct conn);
}

/* (Re)arm the state's bound to fire in secs. */
static void
conn_timer_arm(struct conn *c, double secs)
{
	c->timer.repeat = secs > 0 ? secs : 0.001;
	ev_timer_again(c->w->loop, &c->timer);
}

/* Set the events an fd watcher waits for; libev touches epoll only on a real change. */
static void
conn_io_want(struct conn *c, ev_io *io, int events)
{
	if (ev_is_active(io) && (io->events & (EV_READ | EV_WRITE)) == events)
		return;
	ev_io_stop(c->w->loop, io);
	if (events != 0) {
		ev_io_modify(io, events);
		ev_io_start(c->w->loop, io);
	}
}

void
conn_accept(struct worker *w, int fd, const struct sockaddr *peer,
    socklen_t peerlen, const struct listener *l)
{
	struct conn	*c = xcalloc(1, sizeof(*c));

	c->w = w;
	if (peerlen > sizeof(c->client))
		peerlen = sizeof(c->client);
	memcpy(&c->client, peer, peerlen);
	c->port = w->cfg->backend_port != 0 ? w->cfg->backend_port : l->port;
	if (l->proxy)
		c->flags |= CONN_F_PROXY_IN;
	if (l->http) {
		/*
		 * Plain HTTP goes to the port the client asked for (80 on a
		 * unix: listener, which has none), never to -backend-port:
		 * that flag names the backends' TLS port, and sending a
		 * request there in clear would only earn a TLS error.
		 */
		c->http = true;
		c->port = l->port != 0 ? l->port : 80;
	}
	c->start = ev_now(w->loop);
	c->state = CONN_HELLO;
	ev_io_init(&c->cio, conn_client_cb, fd, EV_READ);
	c->cio.data = c;
	ev_io_init(&c->bio, conn_backend_cb, -1, 0);
	c->bio.data = c;
	ev_init(&c->timer, conn_timer_cb);
	c->timer.data = c;
	pump_init(&c->pump);

	c->next = w->conns;
	if (w->conns != NULL)
		w->conns->prev = c;
	w->conns = c;
	w->n_conns++;
	w->counters.accepted++;

	ev_io_start(w->loop, &c->cio);
	conn_timer_arm(c, w->cfg->hello_timeout);
	/*
	 * The client sends its hello right after the handshake, so under
	 * load it is usually queued by the time we accept: reading now saves
	 * a trip through epoll_wait.  (libev applies the watcher start only
	 * at the next poll, so this costs no extra epoll_ctl either way; when
	 * nothing is there yet it costs one recv that says EAGAIN.)
	 */
	conn_read_hello(c);
}

/* Send the one-record fatal alert; best effort, the socket buffer is empty at this point. */
static void
conn_send_alert(int fd, int desc)
{
	unsigned char	rec[OUTCOME_ALERT_LEN];

	outcome_alert_record(desc, rec);
	(void)send(fd, rec, sizeof(rec), MSG_NOSIGNAL | MSG_DONTWAIT);
}

/*
 * http: listener: the HTTP counterpart of the alert, a minimal response
 * that closes the connection (status OUTCOME_NO_HTTP: nothing).  Best
 * effort, like the alert.  Closing a socket that still has unread bytes
 * makes the kernel send a RST instead of a FIN (RFC 1122 4.2.2.13), which
 * drops whatever of the response is still unsent and lets the client's
 * stack discard what it has not read yet: so we queue our FIN behind the
 * response and drain what already arrived (a 431's oversized head, a
 * body).  Bytes arriving after that still earn a RST; a lingering close
 * would need a state of its own for a refusal.
 */
static void
conn_send_http_status(int fd, int status)
{
	char	msg[160], sink[4096];
	int	n, i;

	if (status == OUTCOME_NO_HTTP)
		return;
	n = snprintf(msg, sizeof(msg), "HTTP/1.1 %d %s\r\nConnection: close\r\n"
	    "Content-Length: 0\r\n\r\n", status, httphost_reason_phrase(status));
	if (n <= 0 || (size_t)n >= sizeof(msg))
		return;
	(void)send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)shutdown(fd, SHUT_WR);
	for (i = 0; i < 16; i++)	/* at most 64 KiB: what a receive window holds */
		if (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) <= 0)
			break;
}

void
conn_close(struct conn *c, enum outcome o)
{
	struct worker		*w = c->w;
	struct log_access	 a;
	int			 alert, cfd = c->cio.fd, bfd = c->bio.fd;

	/*
	 * Refused clients get the alert (HTTP ones the status); once a
	 * backend has bytes, the stream is theirs.
	 */
	if (!(c->flags & CONN_F_FORWARDED) && cfd != -1 && c->http)
		conn_send_http_status(cfd, outcome_http_status(o, c->http_status));
	else if (!(c->flags & CONN_F_FORWARDED) && cfd != -1) {
		alert = outcome_alert(o, c->hello_alert);
		if (alert != OUTCOME_NO_ALERT)
			conn_send_alert(cfd, alert);
	}
	ev_io_stop(w->loop, &c->cio);
	ev_io_stop(w->loop, &c->bio);
	ev_timer_stop(w->loop, &c->timer);
	resolver_cancel(c->lookup);
	c->lookup = NULL;
	pump_release(&w->pipes, &c->pump);
	/* A reset is carried over as a reset (SO_LINGER 0), never turned into a clean FIN. */
	if (o == OUTCOME_RESET) {
		util_close_reset(cfd);
		util_close_reset(bfd);
	} else {
		util_close(cfd);
		util_close(bfd);
	}

	memset(&a, 0, sizeof(a));
	a.client = &c->client.sa;
	a.clientlen = util_sockaddr_len(&c->client.sa);
	a.sni = c->sni;
	if (c->unix_backend != NULL) {
		a.backend = (const struct sockaddr *)c->unix_backend;
		a.backendlen = sizeof(*c->unix_backend);
	} else if (c->flags & CONN_F_BACKEND) {
		a.backend = &c->backend.sa;
		a.backendlen = util_sockaddr_len(&c->backend.sa);
	}
	a.up = c->up;
	a.down = c->down;
	a.duration = ev_time() - c->start;
	a.outcome = o;
	log_access(&a);

	w->counters.closed++;
	w->counters.by_outcome[o]++;
	w->metrics.bytes[METRICS_UP] += c->up;
	w->metrics.bytes[METRICS_DOWN] += c->down;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	w->n_conns--;
	free(c->buf);
	free(c->cand);
	free(c->sni);
	free(c->unix_backend);
	free(c);
	worker_conn_closed(w);
}

void
conn_close_all(struct worker *w, enum outcome o)
{
	while (w->conns != NULL)
		conn_close(w->conns, o);
}

void
conn_bytes_open(const struct worker *w, uint64_t *up, uint64_t *down)
{
	const struct conn	*c;

	*up = *down = 0;
	for (c = w->conns; c != NULL; c = c->next) {
		*up += c->up;
		*down += c->down;
	}
}

/* Make room in the buffer: start small, double up to the largest hello. */
static void
conn_buf_grow(struct conn *c)
{
	uint32_t	cap = c->cap == 0 ? CONN_HELLO_INITIAL : c->cap * 2;

	if (cap > CLIENTHELLO_MAX_WIRE)
		cap = CLIENTHELLO_MAX_WIRE;
	c->buf = xrealloc(c->buf, cap);
	c->cap = cap;
}

/*
 * How many bytes must be buffered before parsing again can tell more than
 * NEED_MORE: the end of the first incomplete TLS record, or the end of the
 * next record header.  Without this a client trickling a 16 KiB hello one
 * byte per segment would make us re-parse the whole buffer per byte.
 * Anything not starting like a handshake record is parsed at once.
 */
static uint32_t
conn_hello_parse_at(const uint8_t *b, uint32_t len)
{
	uint32_t	pos = 0, end;

	if (len == 0 || b[0] != 0x16)
		return len + 1;
	while (pos + 5 <= len) {
		end = pos + 5 + ((uint32_t)b[pos + 3] << 8 | b[pos + 4]);
		if (end > len)
			return end;
		pos = end;
	}
	return pos + 5;
}

/*
 * unix mode: connect to DIR/NAME or DIR/_.PARENT.  A connected socket goes
 * through CONNECT like a TCP one (no candidate left to try after it), so the
 * buffered hello is forwarded by conn_forward() once it is writable.
 */
static void
conn_dial_unix(struct conn *c, const char *name)
{
	struct worker	*w = c->w;
	int		 fd, err;

	c->unix_backend = xmalloc(sizeof(*c->unix_backend));
	fd = dial_unix(w->cfg, name, c->unix_backend);
	if (fd == -1) {
		err = errno;
		log_debug("unix: %s: %s", c->unix_backend->sun_path[0] != '\0' ?
		    c->unix_backend->sun_path : name, strerror(err));
		if (err == ENOENT) {
			/* Like nxdomain: no backend, so none in the log. */
			free(c->unix_backend);
			c->unix_backend = NULL;
			conn_close(c, OUTCOME_NO_SOCKET);
		} else
			conn_close(c, OUTCOME_CONNECT_FAILED);
		return;
	}
	c->state = CONN_CONNECT;
	c->ncand = c->icand = 0;
	c->deadline = ev_now(w->loop) + w->cfg->connect_timeout;
	ev_io_set(&c->bio, fd, EV_WRITE);
	ev_io_start(w->loop, &c->bio);
	conn_timer_arm(c, w->cfg->connect_timeout);
}

/*
 * SRV by ALPN (XEP-0368, as the Go snid does): a hello that offers exactly
 * one protocol, xmpp-client or xmpp-server, is routed by the
 * _xmpps-client._tcp / _xmpps-server._tcp SRV records of its name.  Only a
 * sole protocol counts: a client offering "h2,xmpp-client" may well speak
 * h2, so it takes the plain AAAA path.  (The Go snid looks at the first
 * protocol only.)
 */
static const char *
conn_srv_service(const struct clienthello *h)
{
	if (h->alpn_count != 1)
		return NULL;
	if (h->alpn_len[0] == 11 && memcmp(h->alpn[0], "xmpp-client", 11) == 0)
		return "xmpps-client";
	if (h->alpn_len[0] == 11 && memcmp(h->alpn[0], "xmpp-server", 11) == 0)
		return "xmpps-server";
	return NULL;
}

/* The hello is complete: pick the name and route it by mode. */
static void
conn_hello_done(struct conn *c)
{
	struct worker		*w = c->w;
	const struct config	*cfg = w->cfg;
	const struct clienthello *h = &w->hello;
	char			 name[HOSTNAME_MAX + 1];
	char			 s[LOG_SNI_MAX + 1];
	const char		*why;

	if (h->has_sni) {
		log_sanitize(h->sni, h->sni_len, s, sizeof(s));
		c->sni = xstrdup(s);
		why = hostname_canonicalize(h->sni, h->sni_len, name);
		if (why != NULL) {
			log_debug("SNI %s refused: %s", s, why);
			conn_close(c, OUTCOME_BAD_NAME);
			return;
		}
	} else if (cfg->default_hostname[0] != '\0')
		memcpy(name, cfg->default_hostname, sizeof(name));
	else {
		conn_close(c, OUTCOME_NO_SNI);
		return;
	}
	c->srv = conn_srv_service(h);
	conn_route(c, name);
}

/*
 * Route name (canonical) by mode, the same way for an SNI and for an HTTP
 * Host: unix has no DNS; nat46 needs the client's IPv4 address.
 */
static void
conn_route(struct conn *c, const char *name)
{
	struct worker		*w = c->w;
	const struct config	*cfg = w->cfg;
	struct resolver_result	 now;

	if (cfg->mode == MODE_UNIX) {
		conn_dial_unix(c, name);
		return;
	}
	if (cfg->mode == MODE_NAT46) {
		struct sockaddr_in6	src;

		if (!dial_nat46_source(cfg, &c->client.sa, &src)) {
			log_info("nat46: refusing a client without an IPv4 "
			    "address: let IPv6 clients connect to the backend "
			    "directly (its AAAA record), not through snid");
			conn_close(c, OUTCOME_IPV6_CLIENT);
			return;
		}
	}

	c->state = CONN_RESOLVE;
	conn_timer_arm(c, cfg->dns_timeout);
	c->deadline = ev_now(w->loop) + cfg->dns_timeout;
	if (c->srv != NULL) {
		/* One bound, -dns-timeout, for the SRV query and its targets' addresses. */
		char	qname[HOSTNAME_MAX + 32];

		snprintf(qname, sizeof(qname), "_%s._tcp.%s", c->srv, name);
		log_debug("SRV lookup %s", qname);
		c->lookup = resolver_lookup_srv(w->resolver, qname,
		    cidr_list_has_ipv4(cfg->backend_cidrs,
		    cfg->n_backend_cidrs), conn_resolved, c, &now);
	} else
		c->lookup = resolver_lookup(w->resolver, name,
		    cidr_list_has_ipv4(cfg->backend_cidrs,
		    cfg->n_backend_cidrs), conn_resolved, c, &now);
	if (c->lookup == NULL)		/* cached, or failed at once */
		conn_resolved(c, &now);
}

/*
 * HELLO on an http: listener: judge the request head received so far
 * (fresh: how many of its bytes just arrived), and route its Host like an
 * SNI.  Returns false while more is needed; true when c has been routed or
 * closed (the caller returns at once).  Only the first request of a
 * keep-alive connection is read: later ones go, unread, to the same
 * backend.
 */
static bool
conn_http_head(struct conn *c, uint32_t fresh)
{
	struct worker		*w = c->w;
	const struct config	*cfg = w->cfg;
	struct httphost		 h;
	char			 s[LOG_SNI_MAX + 1];
	const char		*name;

	/*
	 * The parser starts from byte 0 each time, so a head trickled in
	 * one byte per segment would cost O(n^2).  So parse the first bytes
	 * at once (a TLS ClientHello is refused on its first byte), then
	 * only when a LF arrived or at the size bound: a head completes only
	 * at a LF, and a refusal is delayed at most to the end of its line
	 * (or the hello timeout, for a client that never ends it).
	 */
	if (fresh > c->len)
		fresh = c->len;
	if (fresh < c->len && c->len < HTTPHOST_MAX_HEAD &&
	    memchr(c->buf + c->len - fresh, '\n', fresh) == NULL)
		return false;
	switch (httphost_parse(c->buf, c->len, &h)) {
	case HTTPHOST_NEED_MORE:
		return false;
	case HTTPHOST_DONE:
		break;
	case HTTPHOST_ERROR:
	default:
		c->http_status = (uint16_t)h.status;
		log_debug("bad HTTP request head: %s",
		    h.error != NULL ? h.error : "?");
		conn_close(c, OUTCOME_BAD_REQUEST);
		return true;
	}
	if (h.has_host) {
		/* The log's sni= is the Host as sent, port removed. */
		log_sanitize((const char *)c->buf + h.host_off, h.host_len, s,
		    sizeof(s));
		c->sni = xstrdup(s);
		if (h.name_error != NULL) {
			log_debug("Host %s refused: %s", s, h.name_error);
			conn_close(c, OUTCOME_BAD_NAME);
			return true;
		}
		name = h.name;
	} else if (cfg->default_hostname[0] != '\0')
		name = cfg->default_hostname;	/* HTTP/1.0 without Host */
	else {
		conn_close(c, OUTCOME_NO_SNI);
		return true;
	}
	conn_route(c, name);	/* c->srv stays NULL: no ALPN, no SRV */
	return true;
}

/*
 * HELLO on a proxy: listener, before anything else: the PROXY header (v1 or
 * v2) that the load balancer in front sends first.  The hello timeout,
 * armed at accept, covers it.  Once complete, the header is cut from the
 * buffer (the backend never sees it) and what follows is the client's.
 * The addresses it carries replace the real ones wherever the client
 * address is used (access log, nat46 source, PROXY out), as does the port
 * the client connected to for the default backend port; the LOCAL command
 * (a health check) and headers without TCP addresses (v1 UNKNOWN, v2
 * UNSPEC or UNIX) keep the real peer, as the spec says.  Returns false
 * when c has been closed (an invalid header: no alert, the peer is not a
 * TLS client); else the header may still be incomplete (CONN_F_PROXY_IN).
 */
static bool
conn_proxy_in(struct conn *c)
{
	struct proxyproto	pp;
	uint16_t		dport;

	if (c->len < c->parse_at)
		return true;
	switch (proxyproto_parse(c->buf, c->len, &pp)) {
	case PROXYPROTO_NEED_MORE:
		/*
		 * A v2 header's fixed part gives its whole length: parse again
		 * only once it is all there, so one trickled byte at a time
		 * costs no re-parse of up to 2 KiB per byte.  (A v1 line is
		 * at most 107 bytes: re-parsing it is cheap.)
		 */
		if (c->len >= PROXYPROTO_V2_HEADER && c->buf[0] == 0x0d)
			c->parse_at = PROXYPROTO_V2_HEADER +
			    ((uint32_t)c->buf[14] << 8 | c->buf[15]);
		return true;
	case PROXYPROTO_DONE:
		break;
	case PROXYPROTO_ERROR:
	default:
		log_debug("bad PROXY header: %s",
		    pp.error != NULL ? pp.error : "?");
		conn_close(c, OUTCOME_BAD_PROXY);
		return false;
	}
	if (pp.command == PROXYPROTO_CMD_PROXY && pp.has_addresses) {
		memset(&c->client, 0, sizeof(c->client));
		memset(&c->local, 0, sizeof(c->local));
		if (pp.src.ss_family == AF_INET) {
			memcpy(&c->client, &pp.src, sizeof(struct sockaddr_in));
			memcpy(&c->local, &pp.dst, sizeof(struct sockaddr_in));
			dport = c->local.in.sin_port;
		} else {
			memcpy(&c->client, &pp.src, sizeof(struct sockaddr_in6));
			memcpy(&c->local, &pp.dst, sizeof(struct sockaddr_in6));
			dport = c->local.in6.sin6_port;
		}
		/* "The port the client connected to" is the one it sent to the load balancer. */
		if ((c->w->cfg->backend_port == 0 || c->http) && dport != 0)
			c->port = ntohs(dport);
	}
	c->len -= (uint32_t)pp.header_len;
	memmove(c->buf, c->buf + pp.header_len, c->len);
	c->flags &= (uint8_t)~CONN_F_PROXY_IN;
	c->parse_at = 0;
	return true;
}

/* HELLO: read, and parse whenever a record may have completed. */
static void
conn_read_hello(struct conn *c)
{
	struct worker	*w = c->w;
	ssize_t		 n;

	for (;;) {
		if (c->len == c->cap) {
			if (c->cap >= CLIENTHELLO_MAX_WIRE) {
				/* Cannot happen: the parser answers by then. */
				conn_close(c, OUTCOME_BAD_HELLO);
				return;
			}
			conn_buf_grow(c);
		}
		n = recv(c->cio.fd, c->buf + c->len, c->cap - c->len, 0);
		if (n > 0) {
			c->len += (uint32_t)n;
			if (c->flags & CONN_F_PROXY_IN) {
				if (!conn_proxy_in(c))
					return;
				if ((c->flags & CONN_F_PROXY_IN) || c->len == 0) {
					if (c->len < c->cap)
						return;
					continue;
				}
				n = (ssize_t)c->len;	/* all of it is new to the next parser */
			}
			if (c->http) {
				if (conn_http_head(c, (uint32_t)n))
					return;
				if (c->len < c->cap)
					return;
				continue;
			}
			if (c->len < c->parse_at) {
				if (c->len < c->cap)
					return;
				continue;
			}
			switch (clienthello_parse(c->buf, c->len, &w->hello)) {
			case CLIENTHELLO_NEED_MORE:
				c->parse_at = conn_hello_parse_at(c->buf, c->len);
				if (c->len < c->cap)
					return;
				continue;	/* the buffer was filled: there may be more */
			case CLIENTHELLO_DONE:
				conn_hello_done(c);
				return;
			case CLIENTHELLO_NOT_TLS:
				conn_close(c, OUTCOME_NOT_TLS);
				return;
			case CLIENTHELLO_ERROR:
			default:
				c->hello_alert = w->hello.alert;
				log_debug("bad ClientHello: %s",
				    w->hello.error != NULL ? w->hello.error :
				    "?");
				conn_close(c, OUTCOME_BAD_HELLO);
				return;
			}
		}
		if (n == 0) {
			/* EOF: nothing at all is not TLS; a cut hello is a bad one. */
			if ((c->flags & CONN_F_PROXY_IN) && c->len > 0) {
				conn_close(c, OUTCOME_BAD_PROXY);
				return;
			}
			if (c->http) {
				conn_close(c, OUTCOME_BAD_REQUEST);
				return;
			}
			conn_close(c, c->len == 0 ? OUTCOME_NOT_TLS :
			    OUTCOME_BAD_HELLO);
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return;
		conn_close(c, OUTCOME_RESET);
		return;
	}
}

/*
 * RESOLVE, CONNECT, FORWARD: keep reading what the client sends after its
 * hello (TLS early data, or a test client's request) into the same buffer,
 * to be forwarded with it in order.  This also notices a client that resets
 * while we wait.  A FIN is remembered and carried over once the backend has
 * everything: a client may well half-close right after its request.
 */
static void
conn_read_early(struct conn *c)
{
	ssize_t	n;

	if (c->len == c->cap) {
		if (c->cap >= CLIENTHELLO_MAX_WIRE) {
			/* Enough buffered: the rest waits in the kernel for the pump. */
			ev_io_stop(c->w->loop, &c->cio);
			return;
		}
		conn_buf_grow(c);
	}
	n = recv(c->cio.fd, c->buf + c->len, c->cap - c->len, 0);
	if (n > 0) {
		c->len += (uint32_t)n;
		return;
	}
	if (n == 0) {
		c->flags |= CONN_F_CLIENT_EOF;
		ev_io_stop(c->w->loop, &c->cio);
		return;
	}
	if (errno == EAGAIN || errno == EINTR)
		return;
	conn_close(c, OUTCOME_RESET);
}

/* Watch what the two directions of the pump wait for. */
static void
conn_pump_watch(struct conn *c)
{
	const struct pump_dir	*up = &c->pump.dir[PUMP_UP];
	const struct pump_dir	*down = &c->pump.dir[PUMP_DOWN];

	conn_io_want(c, &c->cio, (pump_dir_wants_read(up) ? EV_READ : 0) |
	    (pump_dir_wants_write(down) ? EV_WRITE : 0));
	conn_io_want(c, &c->bio, (pump_dir_wants_read(down) ? EV_READ : 0) |
	    (pump_dir_wants_write(up) ? EV_WRITE : 0));
}

/* After running a direction: close on reset or error.  Returns false when c is gone. */
static bool
conn_pump_check(struct conn *c, enum pump_result r, const char *dir)
{
	if (r == PUMP_AGAIN || r == PUMP_DONE)
		return true;
	if (r == PUMP_ERROR)
		log_warn("pump %s: %s", dir, strerror(errno));
	conn_close(c, OUTCOME_RESET);
	return false;
}

/*
 * The idle bound of the pump: -idle-timeout, or -half-close-timeout once one
 * direction is done.  Without it a peer that keeps a finished connection
 * open, or that vanishes without a FIN or RST, would hold two sockets for
 * ever: enough of them and snid has no descriptor left for anyone.
 */
static double
conn_idle_bound(const struct conn *c)
{
	const struct config	*cfg = c->w->cfg;

	if ((pump_dir_done(&c->pump.dir[PUMP_UP]) ||
	    pump_dir_done(&c->pump.dir[PUMP_DOWN])) &&
	    cfg->half_close_timeout < cfg->idle_timeout)
		return cfg->half_close_timeout;
	return cfg->idle_timeout;
}

/*
 * Both directions done: the normal end.  Else note the activity and wait for
 * the next events.  The idle timer is not re-armed on every event (a heap
 * update per read would cost more than the splice it guards): it fires at
 * the bound and checks c->active then.  Only when the bound shrinks (one
 * side has just finished) is it moved closer.
 */
static void
conn_pump_next(struct conn *c)
{
	double	bound;

	if (pump_dir_done(&c->pump.dir[PUMP_UP]) &&
	    pump_dir_done(&c->pump.dir[PUMP_DOWN])) {
		conn_close(c, OUTCOME_OK);
		return;
	}
	c->active = ev_now(c->w->loop);
	bound = conn_idle_bound(c);
	if (bound < c->timer.repeat || !ev_is_active(&c->timer))
		conn_timer_arm(c, bound);
	conn_pump_watch(c);
}

/* Everything buffered reached the backend: release the buffer, start splicing. */
static void
conn_pump_start(struct conn *c)
{
	struct worker	*w = c->w;

	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = c->sent = 0;
	free(c->cand);
	c->cand = NULL;
	ev_timer_stop(w->loop, &c->timer);	/* conn_pump_next arms the idle bound */
	c->state = CONN_PUMP;
	if (c->flags & CONN_F_CLIENT_EOF) {
		c->pump.dir[PUMP_UP].flags |= PUMP_F_EOF;
		if (!conn_pump_check(c, pump_dir_run(&w->pipes, &c->pump.dir[PUMP_UP],
		    c->cio.fd, c->bio.fd, &c->up), "client->backend"))
			return;
	}
	conn_pump_next(c);
}

/*
 * -proxy-proto: put the PROXY header in front of the buffered bytes, so the
 * backend gets it before the first byte of the ClientHello and in the same
 * send(2) (no backend ever sees a header cut by a segment boundary it did
 * not expect, and it costs no extra syscall).  Done once, on the first
 * attempt to write: a failed candidate leaves buf as it was for the next.
 * The addresses are the client's and the one it connected to, either the
 * real ones or those an inbound PROXY header carried; a unix: listener's
 * peer has none, which gives v1 UNKNOWN / v2 LOCAL (the backend then uses
 * the connection's own addresses).
 */
static void
conn_proxy_prepend(struct conn *c)
{
	struct sockaddr_storage	 local;
	socklen_t		 sl = sizeof(local);
	uint8_t			 hdr[PROXYPROTO_V1_BUILD_MAX > PROXYPROTO_V2_BUILD_MAX ?
				    PROXYPROTO_V1_BUILD_MAX : PROXYPROTO_V2_BUILD_MAX];
	size_t			 n;

	memset(&local, 0, sizeof(local));
	if (c->local.sa.sa_family != 0)
		memcpy(&local, &c->local, sizeof(c->local));
	else if (getsockname(c->cio.fd, (struct sockaddr *)&local, &sl) == -1)
		local.ss_family = AF_UNSPEC;	/* gives UNKNOWN / LOCAL */
	if (c->w->cfg->proxy_proto == PROXY_PROTO_V1)
		n = proxyproto_build_v1(&c->client.sa, (struct sockaddr *)&local,
		    (char *)hdr, sizeof(hdr));
	else
		n = proxyproto_build_v2(&c->client.sa, (struct sockaddr *)&local,
		    hdr, sizeof(hdr));
	c->flags |= CONN_F_PROXY_OUT;
	if (n == 0)			/* cannot happen: the buffer fits both */
		return;
	if (c->len + n > c->cap) {
		c->cap = c->len + (uint32_t)n;
		c->buf = xrealloc(c->buf, c->cap);
	}
	memmove(c->buf + n, c->buf, c->len);
	memcpy(c->buf, hdr, n);
	c->len += (uint32_t)n;
	c->proxy_len = (uint8_t)n;
}

/* The backend socket is writable in CONNECT or FORWARD: write the buffered bytes. */
static void
conn_forward(struct conn *c)
{
	ssize_t		n;
	uint32_t	hdr;

	if (c->w->cfg->proxy_proto != PROXY_PROTO_NONE &&
	    !(c->flags & CONN_F_PROXY_OUT))
		conn_proxy_prepend(c);
	n = send(c->bio.fd, c->buf + c->sent, c->len - c->sent, MSG_NOSIGNAL);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		if (c->state == CONN_CONNECT) {
			int	err = errno;

			/*
			 * The connect failed.  The first send on the socket
			 * reports its pending error (ECONNREFUSED,
			 * EHOSTUNREACH, ...) the way getsockopt(SO_ERROR)
			 * would, which saves that call on the path that
			 * succeeds.
			 */
			log_debug("connect: %s", strerror(err));
			ev_io_stop(c->w->loop, &c->bio);
			util_close(c->bio.fd);
			ev_io_set(&c->bio, -1, 0);
			if (!dial_error_try_next(err)) {
				conn_close(c, OUTCOME_CONNECT_FAILED);
				return;
			}
			c->icand++;
			conn_connect_next(c);
			return;
		}
		conn_close(c, OUTCOME_RESET);
		return;
	}
	if (c->state == CONN_CONNECT)	/* the first send tells it is connected */
		metrics_observe(&c->w->metrics.connect_seconds, ev_now(c->w->loop) -
		    (c->deadline - c->w->cfg->connect_timeout));
	c->state = CONN_FORWARD;
	c->flags |= CONN_F_FORWARDED;
	/* up counts the client's bytes only, never our PROXY header. */
	hdr = c->sent < c->proxy_len ? c->proxy_len - c->sent : 0;
	c->up += (uint64_t)n - ((uint64_t)n < hdr ? (uint64_t)n : hdr);
	c->sent += (uint32_t)n;
	if (c->sent < c->len)
		return;		/* the rest when the socket is writable again */
	conn_pump_start(c);
}

/* Connect to the next candidate, within what is left of -connect-timeout. */
static void
conn_connect_next(struct conn *c)
{
	struct worker		*w = c->w;
	struct sockaddr_in6	 src;
	double			 left;
	int			 fd;
	/* nat46: from PREFIX::<client IPv4> (checked in conn_hello_done). */
	bool			 nat46 = w->cfg->mode == MODE_NAT46 &&
				    dial_nat46_source(w->cfg, &c->client.sa, &src);

	while (c->icand < c->ncand) {
		left = c->deadline - ev_now(w->loop);
		if (left <= 0)
			break;
		c->backend = c->cand[c->icand];
		c->flags |= CONN_F_BACKEND;
		fd = dial_start_from(w->cfg, &w->self, &c->backend,
		    nat46 ? &src : NULL);
		if (fd == -1) {
			int	err = errno;

			log_debug("connect: %s", strerror(err));
			if (!dial_error_try_next(err))
				break;
			c->icand++;
			continue;
		}
		ev_io_set(&c->bio, fd, EV_WRITE);
		ev_io_start(w->loop, &c->bio);
		/*
		 * Each remaining candidate gets an equal share of the time
		 * left, so one address that drops SYNs cannot use up the
		 * whole -connect-timeout while a working one waits behind it.
		 */
		conn_timer_arm(c, left / (double)(c->ncand - c->icand));
		return;
	}
	conn_close(c, OUTCOME_CONNECT_FAILED);
}

/* Count how a lookup ended, and how long it took unless it was cached (metrics). */
static void
conn_count_lookup(struct conn *c, enum metrics_dns r)
{
	struct worker	*w = c->w;

	w->metrics.dns[r]++;
	if (r != METRICS_DNS_CACHED)
		metrics_observe(&w->metrics.dns_seconds, ev_now(w->loop) -
		    (c->deadline - w->cfg->dns_timeout));
}

/* The lookup's answer. */
static void
conn_resolved(void *arg, const struct resolver_result *res)
{
	struct conn	*c = arg;
	struct worker	*w = c->w;

	/*
	 * Called with c->lookup still set when c-ares answered, and with it
	 * NULL when resolver_lookup answered at once: OK at once means cached.
	 */
	if (res->status == RESOLVER_OK)
		conn_count_lookup(c, c->lookup == NULL ? METRICS_DNS_CACHED :
		    METRICS_DNS_OK);
	else if (res->status == RESOLVER_NXDOMAIN)
		conn_count_lookup(c, METRICS_DNS_NXDOMAIN);
	else
		conn_count_lookup(c, res->timeout ? METRICS_DNS_TIMEOUT :
		    METRICS_DNS_ERROR);
	c->lookup = NULL;	/* a pending record frees itself after this call */
	if (res->status != RESOLVER_OK) {
		log_debug("lookup %s: %s", c->sni != NULL ? c->sni : "-",
		    res->detail);
		conn_close(c, res->status == RESOLVER_NXDOMAIN ?
		    OUTCOME_NXDOMAIN : OUTCOME_DNS_ERROR);
		return;
	}
	c->cand = xmalloc(res->n * sizeof(*c->cand));
	if (res->srv) {
		/*
		 * SRV: every address keeps its target's port (-backend-port
		 * does not apply), in SRV order; the allow-list still applies
		 * to each.
		 */
		size_t	k = 0;

		for (size_t i = 0; i < res->n; i++) {
			const union sockaddr_inet *a = &res->addrs[i];

			k += dial_candidates(w->cfg, &w->self, a, 1, ntohs(a->sa.sa_family ==
			    AF_INET6 ? a->in6.sin6_port : a->in.sin_port),
			    &c->cand[k]);
		}
		c->ncand = (uint8_t)k;
	} else
		c->ncand = (uint8_t)dial_candidates(w->cfg, &w->self,
		    res->addrs, res->n,
		    c->port, c->cand);
	c->icand = 0;
	if (c->ncand == 0) {
		conn_close(c, OUTCOME_DENIED);
		return;
	}
	c->state = CONN_CONNECT;
	c->deadline = ev_now(w->loop) + w->cfg->connect_timeout;
	conn_connect_next(c);
}

static void
conn_client_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct conn	*c = io->data;
	struct worker	*w = c->w;

	(void)loop;
	switch (c->state) {
	case CONN_HELLO:
		conn_read_hello(c);
		return;
	case CONN_RESOLVE:
	case CONN_CONNECT:
	case CONN_FORWARD:
		conn_read_early(c);
		return;
	case CONN_PUMP:
	default:
		break;
	}
	if ((revents & EV_READ) && !conn_pump_check(c, pump_dir_run(&w->pipes,
	    &c->pump.dir[PUMP_UP], c->cio.fd, c->bio.fd, &c->up),
	    "client->backend"))
		return;
	if ((revents & EV_WRITE) && !conn_pump_check(c, pump_dir_run(&w->pipes,
	    &c->pump.dir[PUMP_DOWN], c->bio.fd, c->cio.fd, &c->down),
	    "backend->client"))
		return;
	conn_pump_next(c);
}

static void
conn_backend_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct conn	*c = io->data;
	struct worker	*w = c->w;

	(void)loop;
	if (c->state == CONN_CONNECT || c->state == CONN_FORWARD) {
		if (revents & (EV_WRITE | EV_READ))
			conn_forward(c);
		return;
	}
	if ((revents & EV_READ) && !conn_pump_check(c, pump_dir_run(&w->pipes,
	    &c->pump.dir[PUMP_DOWN], c->bio.fd, c->cio.fd, &c->down),
	    "backend->client"))
		return;
	if ((revents & EV_WRITE) && !conn_pump_check(c, pump_dir_run(&w->pipes,
	    &c->pump.dir[PUMP_UP], c->cio.fd, c->bio.fd, &c->up),
	    "client->backend"))
		return;
	conn_pump_next(c);
}

static void
conn_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct conn	*c = t->data;

	(void)loop;
	(void)revents;
	switch (c->state) {
	case CONN_HELLO:
		conn_close(c, OUTCOME_TIMEOUT);
		return;
	case CONN_RESOLVE:
		/* The hard bound; the lookup record outlives us, detached. */
		log_debug("lookup %s: timed out", c->sni != NULL ? c->sni : "-");
		conn_count_lookup(c, METRICS_DNS_TIMEOUT);
		conn_close(c, OUTCOME_DNS_ERROR);
		return;
	case CONN_CONNECT:
		/* This candidate's share is up: drop it, try the next. */
		ev_io_stop(c->w->loop, &c->bio);
		util_close(c->bio.fd);
		ev_io_set(&c->bio, -1, 0);
		c->icand++;
		conn_connect_next(c);
		return;
	case CONN_FORWARD:
		/* Connected, but the backend takes not even the first bytes in time. */
		conn_close(c, OUTCOME_CONNECT_FAILED);
		return;
	case CONN_PUMP: {
		double	idle = ev_now(c->w->loop) - c->active;
		double	bound = conn_idle_bound(c);

		if (idle >= bound - 0.001) {
			log_debug("%s: no traffic for %.3g s", c->sni != NULL ?
			    c->sni : "-", idle);
			conn_close(c, OUTCOME_IDLE);
			return;
		}
		conn_timer_arm(c, bound - idle);
		return;
	}
	default:
		ev_timer_stop(c->w->loop, t);
		return;
	}
}
