/*
 * conn: the life of a connection (see conn.h): accept, the dispatch of
 * its watchers and its timer by state, and the single close path.  The
 * states' work is in conn_hello.c and conn_backend.c; conn_int.h says what
 * the three share.
 */
#include "snid/conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "snid/cidr.h"
#include "snid/httphost.h"
#include "snid/linger.h"
#include "snid/listener.h"
#include "snid/log.h"
#include "snid/outcome.h"
#include "snid/resolver.h"
#include "snid/sock.h"
#include "snid/srclimit.h"
#include "snid/util.h"
#include "snid/worker.h"

#include "conn_int.h"

static void	conn_io_cb(struct ev_loop *, ev_io *, int);
static void	conn_timer_cb(struct ev_loop *, ev_timer *, int);

/*
 * Whether sa may send PROXY headers: inside -proxy-from, by default the
 * loopback (a balancer on the same host).  A unix-socket peer is local too.
 */
static bool
conn_proxy_trusted(const struct config *cfg, const struct sockaddr *sa)
{
	static const struct cidr	loopback[] = {
		{ AF_INET, 8, { 127 } },
		{ AF_INET6, 128, { [15] = 1 } },
	};

	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
		return true;
	if (cfg->n_proxy_from == 0)
		return cidr_list_match(loopback, 2, sa);
	return cidr_list_match(cfg->proxy_from, cfg->n_proxy_from, sa);
}

enum outcome
conn_admit(struct conn *c, bool lists)
{
	struct worker		*w = c->w;
	const struct config	*cfg = w->cfg;
	const struct sockaddr	*sa = &c->client.sa;
	uint32_t		 limit;

	if (c->src.family != 0)
		shared_src_release(w->shared, &c->src);
	/* The lists name IP clients: a unix-socket peer is local, never listed. */
	if (lists && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) &&
	    (cidr_list_match(cfg->deny_client_cidrs, cfg->n_deny_client_cidrs,
	    sa) || (cfg->n_client_cidrs != 0 && !cidr_list_match(
	    cfg->client_cidrs, cfg->n_client_cidrs, sa)))) {
		c->src.family = 0;
		return OUTCOME_DENIED_CLIENT;
	}
	/* A unix-socket peer, or a PROXY LOCAL header: no source to count. */
	if (!srclimit_key(&c->client.sa, &c->src))
		return OUTCOME_OK;
	limit = cfg->max_connections_per_source != 0 ?
	    cfg->max_connections_per_source : UINT32_MAX;
	if (!shared_src_acquire(w->shared, &c->src, limit)) {
		c->src.family = 0;
		return OUTCOME_LIMITED;
	}
	return OUTCOME_OK;
}

void
conn_accept(struct worker *w, int fd, const struct sockaddr *peer,
    socklen_t peerlen, const struct listener *l)
{
	struct conn	*c = xcalloc(1, sizeof(*c));
	enum outcome	 o;

	c->w = w;
	if (peerlen > sizeof(c->client))
		peerlen = sizeof(c->client);
	memcpy(&c->client, peer, peerlen);
	c->port = w->cfg->backend_port != 0 ? w->cfg->backend_port : l->port;
	if (l->http) {
		/*
		 * Plain HTTP goes to the port the client asked for (80 on a
		 * unix: listener, which has none), never to -backend-port:
		 * that flag names the backends' TLS port, and sending a
		 * request there in clear would only earn a TLS error.
		 */
		c->flags |= CONN_F_HTTP;
		c->port = l->port != 0 ? l->port : 80;
	}
	c->start = ev_now(w->loop);
	/* What comes first: a PROXY header, then a request head or a hello. */
	conn_set_state(c, l->proxy ? CONN_PROXY_HDR : l->http ? CONN_HTTP_HEAD :
	    CONN_HELLO);
	ev_io_init(&c->cio, conn_io_cb, fd, EV_READ);
	c->cio.data = c;
	ev_io_init(&c->bio, conn_io_cb, -1, 0);
	c->bio.data = c;
	ev_init(&c->timer, conn_timer_cb);
	c->timer.data = c;
	pump_init(&c->pump);

	c->next = w->conns;
	if (w->conns != NULL)
		w->conns->prev = c;
	w->conns = c;
	w->n_conns++;
	/* The hello list is in accept order: its head is the oldest reader. */
	c->hprev = w->hello_tail;
	if (w->hello_tail != NULL)
		w->hello_tail->hnext = c;
	else
		w->hello_head = c;
	w->hello_tail = c;
	c->flags |= CONN_F_READING;
	w->counters.accepted++;

	/*
	 * Refused before a byte is read: no alert, nothing to answer yet.
	 * On a proxy: listener the peer is the load balancer: it must be one
	 * we trust to name the client, and the lists are for that client.
	 */
	o = l->proxy && !conn_proxy_trusted(w->cfg, &c->client.sa) ?
	    OUTCOME_BAD_PROXY : conn_admit(c, !l->proxy);
	if (o != OUTCOME_OK) {
		conn_close(c, o);
		return;
	}
	ev_io_start(w->loop, &c->cio);
	conn_timer_arm(c, w->cfg->hello_timeout);
	/*
	 * The client sends its hello right after the handshake, so under
	 * load it is usually queued by the time we accept: reading now saves
	 * a trip through epoll_wait.  (libev applies the watcher start only
	 * at the next poll, so this costs no extra epoll_ctl either way; when
	 * nothing is there yet it costs one recv that says EAGAIN.)
	 */
	conn_hello_read(c);
}

void
conn_reading_done(struct conn *c)
{
	struct worker	*w = c->w;

	if (!(c->flags & CONN_F_READING))
		return;
	c->flags &= (uint8_t)~CONN_F_READING;
	w->hello_mem -= c->cap;
	if (c->hprev != NULL)
		c->hprev->hnext = c->hnext;
	else
		w->hello_head = c->hnext;
	if (c->hnext != NULL)
		c->hnext->hprev = c->hprev;
	else
		w->hello_tail = c->hprev;
	c->hprev = c->hnext = NULL;
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
 * effort, like the alert.  Returns whether it sent one.
 */
static bool
conn_send_http_status(int fd, int status)
{
	char	msg[160];
	int	n;

	if (status == OUTCOME_NO_HTTP)
		return false;
	n = snprintf(msg, sizeof(msg), "HTTP/1.1 %d %s\r\nConnection: close\r\n"
	    "Content-Length: 0\r\n\r\n", status, httphost_reason_phrase(status));
	if (n <= 0 || (size_t)n >= sizeof(msg))
		return false;
	(void)send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	return true;
}

/* The connection's one access-log line. */
static void
conn_log(const struct conn *c, enum outcome o)
{
	struct log_access	a;

	memset(&a, 0, sizeof(a));
	a.client = &c->client.sa;
	a.clientlen = sock_addr_len(&c->client.sa);
	a.sni = c->sni;
	if (c->unix_backend != NULL) {
		a.backend = (const struct sockaddr *)c->unix_backend;
		a.backendlen = sizeof(*c->unix_backend);
	} else if (c->flags & CONN_F_BACKEND) {
		a.backend = &c->backend.sa;
		a.backendlen = sock_addr_len(&c->backend.sa);
	}
	a.up = c->up;
	a.down = c->down;
	a.duration = ev_time() - c->start;
	a.outcome = o;
	log_access(&a);
}

void
conn_close(struct conn *c, enum outcome o)
{
	struct worker	*w = c->w;
	int		 alert, cfd = c->cio.fd, bfd = c->bio.fd;
	bool		 told = false;

	/*
	 * Refused clients get the alert (HTTP ones the status); once a
	 * backend has bytes, the stream is theirs.
	 */
	if (!(c->flags & CONN_F_FORWARDED) && cfd != -1 &&
	    (c->flags & CONN_F_HTTP))
		told = conn_send_http_status(cfd,
		    outcome_http_status(o, c->http_status));
	else if (!(c->flags & CONN_F_FORWARDED) && cfd != -1) {
		alert = outcome_alert(o, c->hello_alert);
		if (alert != OUTCOME_NO_ALERT) {
			conn_send_alert(cfd, alert);
			told = true;
		}
	}
	ev_io_stop(w->loop, &c->cio);
	ev_io_stop(w->loop, &c->bio);
	ev_timer_stop(w->loop, &c->timer);
	resolver_cancel(c->lookup);
	c->lookup = NULL;
	pump_release(&w->pipes, &c->pump);
	if (c->src.family != 0)
		shared_src_release(w->shared, &c->src);
	conn_reading_done(c);
	/* A reset is carried over as a reset (SO_LINGER 0), never turned into a clean FIN. */
	if (o == OUTCOME_RESET) {
		util_close_reset(cfd);
		util_close_reset(bfd);
	} else if (told && o != OUTCOME_SHUTDOWN) {
		/*
		 * A close with unread bytes is a RST, which can cost the
		 * client the refusal it has not read yet: linger.h.
		 */
		linger_close(&w->linger, cfd);
		util_close(bfd);
	} else {
		util_close(cfd);
		util_close(bfd);
	}

	conn_log(c, o);

	w->counters.closed++;
	w->counters.by_outcome[o]++;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	w->n_conns--;
	/* The slot listener_accept_cb reserved for c. */
	shared_conn_release(w->shared);
	free(c->buf);
	free(c->cand);
	free(c->http_resume);
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

/*
 * Both watchers' callback.  Before the pump, each state waits for one
 * thing: the client's bytes while reading the hello (and early data later),
 * the backend's writability while connecting; the pump is one callback for
 * both directions (conn_pump_io).
 */
static void
conn_io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct conn	*c = io->data;

	(void)loop;
	switch (c->state) {
	case CONN_PROXY_HDR:
	case CONN_HTTP_HEAD:
	case CONN_HELLO:
		conn_hello_read(c);
		return;
	case CONN_RESOLVE:
		conn_read_early(c);
		return;
	case CONN_CONNECT:
	case CONN_FORWARD:
		if (io == &c->cio)
			conn_read_early(c);
		else if (revents & (EV_WRITE | EV_READ))
			conn_forward(c);
		return;
	case CONN_PUMP:
	default:
		conn_pump_io(c, io, revents);
		return;
	}
}

static void
conn_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct conn	*c = t->data;

	(void)loop;
	(void)revents;
	switch (c->state) {
	case CONN_PROXY_HDR:
	case CONN_HTTP_HEAD:
	case CONN_HELLO:
		/* -hello-timeout, armed at accept, bounds the three together. */
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
		conn_connect_skip(c);
		return;
	case CONN_FORWARD:
		/* Connected, but the backend takes not even the first bytes in time. */
		conn_close(c, OUTCOME_CONNECT_FAILED);
		return;
	case CONN_PUMP:
		conn_pump_timer(c);
		return;
	default:
		ev_timer_stop(c->w->loop, t);
		return;
	}
}
