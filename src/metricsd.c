/*
 * metricsd: the -metrics endpoint (see metricsd.h).
 *
 * One connection, one request: read the head (at most
 * METRICS_HTTP_HEAD_MAX bytes), answer with Content-Length, write without
 * blocking (the rest on EV_WRITE), then half-close and read until the
 * client closes.  That last step matters: closing a socket that still has
 * unread request bytes makes the kernel send a RST, and a RST reaching the
 * client before it has read the answer throws the answer away.  The whole
 * life of a connection is bounded by METRICSD_TIMEOUT, and at most
 * METRICSD_MAX_CLIENTS are open: beyond that the listener is not watched
 * and new scrapers wait in the kernel's backlog.
 *
 * The listening sockets follow the same policy as -listen's (sock.h): an
 * IPv6 socket takes IPv6 only, so tcp:PORT is two sockets and
 * tcp:[::]:PORT serves no IPv4 scraper, whatever net.ipv6.bindv6only says.
 */
#include "snid/metricsd.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "snid/addrspec.h"
#include "snid/log.h"
#include "snid/metrics.h"
#include "snid/sock.h"
#include "snid/util.h"
#include "snid/worker.h"
#include "snid/workers.h"

#define METRICSD_MAX_CLIENTS	16
#define METRICSD_TIMEOUT	2.0	/* seconds, a whole scrape connection */
#define METRICSD_BACKLOG	16
#define METRICSD_MAX_SOCKETS	2	/* tcp:PORT: [::]:PORT and 0.0.0.0:PORT */
#define METRICSD_PAUSE		1.0	/* accepting pauses this long after EMFILE & co */
#define METRICSD_BODY_INITIAL	8192	/* the text is about 5 KiB */

struct metricsd;

struct metricsd_client {
	struct metricsd		*d;
	struct metricsd_client	*prev, *next;
	ev_io			 io;
	ev_timer		 timer;
	char			*out;		/* the response; NULL: still reading */
	size_t			 outlen, sent;
	bool			 lingering;	/* answered and half-closed: reading to EOF */
	size_t			 len;
	char			 req[METRICS_HTTP_HEAD_MAX];
};

struct metricsd {
	struct ev_loop		*loop;		/* main's */
	struct shared		*sh;		/* the workers whose counters it sums */
	ev_io			 io[METRICSD_MAX_SOCKETS];
	size_t			 n_io;
	ev_timer		 pause;
	struct metricsd_client	*clients;
	size_t			 n_clients;
};

static void	metricsd_client_cb(struct ev_loop *, ev_io *, int);

/* Resume accepting, unless closed, paused or full. */
static void
metricsd_resume(struct metricsd *d)
{
	struct ev_loop	*loop = d->loop;

	if (ev_is_active(&d->pause) || d->n_clients >= METRICSD_MAX_CLIENTS)
		return;
	for (size_t i = 0; i < d->n_io; i++)
		if (d->io[i].fd != -1 && !ev_is_active(&d->io[i]))
			ev_io_start(loop, &d->io[i]);
}

/* Stop accepting on every socket (full, or paused). */
static void
metricsd_stop(struct metricsd *d)
{
	for (size_t i = 0; i < d->n_io; i++)
		ev_io_stop(d->loop, &d->io[i]);
}

static void
metricsd_client_close(struct metricsd_client *cl)
{
	struct metricsd	*d = cl->d;
	struct ev_loop	*loop = d->loop;

	ev_io_stop(loop, &cl->io);
	ev_timer_stop(loop, &cl->timer);
	util_close(cl->io.fd);
	if (cl->prev != NULL)
		cl->prev->next = cl->next;
	else
		d->clients = cl->next;
	if (cl->next != NULL)
		cl->next->prev = cl->prev;
	d->n_clients--;
	free(cl->out);
	free(cl);
	metricsd_resume(d);
}

static void
metricsd_client_timeout_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	metricsd_client_close(t->data);
}

/* Descriptors open now: the entries of /proc/self/fd, less the one reading it.  -1 if unknown. */
static long
metricsd_open_fds(void)
{
	DIR		*dir = opendir("/proc/self/fd");
	struct dirent	*e;
	long		 n = 0;

	if (dir == NULL)
		return -1;
	while ((e = readdir(dir)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(dir);
	return n > 0 ? n - 1 : 0;
}

/*
 * Render the current metrics, the sum of every worker's; returns a
 * malloc'd text of *len bytes.
 */
static char *
metricsd_scrape(struct shared *sh, size_t *len)
{
	struct metrics_snapshot	 s;
	struct worker_stats	 st;
	uint64_t		*per = xcalloc(sh->n_workers + 1, sizeof(*per));
	struct pipe_pool_stats	 ps;
	size_t			 cap = METRICSD_BODY_INITIAL, n;
	char			*body;

	workers_stats(sh, &st, per);
	memset(&s, 0, sizeof(s));
	s.version = SNID_VERSION;
	s.accepted = st.counters.accepted;
	s.active = st.n_conns;
	s.accept_errors = st.counters.accept_errors;
	memcpy(s.outcomes, st.counters.by_outcome, sizeof(s.outcomes));
	/* Counted as bytes move (conn_backend.c): a long transfer shows progress. */
	s.bytes[METRICS_UP] = st.metrics.bytes[METRICS_UP];
	s.bytes[METRICS_DOWN] = st.metrics.bytes[METRICS_DOWN];
	memcpy(s.dns, st.metrics.dns, sizeof(s.dns));
	s.dns_seconds = st.metrics.dns_seconds;
	s.connect_seconds = st.metrics.connect_seconds;
	s.open_fds = metricsd_open_fds();
	s.dns_queries = st.dns.queries;
	for (size_t k = 0; k < DNSCACHE_KINDS && k < 3; k++)
		s.dns_cache[k] = st.dns.cache[k];
	s.worker_accepted = per;
	s.n_workers = sh->n_workers;
	/* Grown pipes: one daemon-wide budget (atomics, any thread). */
	pipe_pool_stats(&ps);
	s.pipes_grown = ps.grown;
	s.pipe_big_bytes = ps.big_bytes;

	body = xmalloc(cap);
	n = metrics_render(&s, body, cap);
	if (n >= cap) {
		cap = n + 1;
		body = xrealloc(body, cap);
		(void)metrics_render(&s, body, cap);
	}
	free(per);
	*len = n;
	return body;
}

/* Build the whole response for status into cl->out. */
static void
metricsd_respond(struct metricsd_client *cl, int status)
{
	char		 head[256];
	char		*body;
	const char	*reason, *extra = "", *type = "text/plain; charset=utf-8";
	size_t		 blen;
	int		 hlen;

	switch (status) {
	case 200:
		reason = "OK";
		type = "text/plain; version=0.0.4; charset=utf-8";
		body = metricsd_scrape(cl->d->sh, &blen);
		break;
	case 404:
		reason = "Not Found";
		body = xstrdup("not found: metrics are at /metrics\n");
		blen = strlen(body);
		break;
	case 405:
		reason = "Method Not Allowed";
		extra = "Allow: GET\r\n";
		body = xstrdup("method not allowed: use GET\n");
		blen = strlen(body);
		break;
	default:
		status = 400;
		reason = "Bad Request";
		body = xstrdup("bad request\n");
		blen = strlen(body);
		break;
	}
	hlen = snprintf(head, sizeof(head), "HTTP/1.0 %d %s\r\n"
	    "Content-Type: %s\r\nContent-Length: %zu\r\n%s"
	    "Connection: close\r\n\r\n", status, reason, type, blen, extra);
	cl->outlen = (size_t)hlen + blen;
	cl->out = xmalloc(cl->outlen);
	memcpy(cl->out, head, (size_t)hlen);
	memcpy(cl->out + hlen, body, blen);
	free(body);
	cl->sent = 0;
}

/* Set what the client's watcher waits for. */
static void
metricsd_client_want(struct metricsd_client *cl, int events)
{
	struct ev_loop	*loop = cl->d->loop;

	if ((cl->io.events & (EV_READ | EV_WRITE)) == events)
		return;
	ev_io_stop(loop, &cl->io);
	ev_io_modify(&cl->io, events);
	ev_io_start(loop, &cl->io);
}

/* Write what is left of the response.  Returns false when cl is gone. */
static bool
metricsd_client_write(struct metricsd_client *cl)
{
	ssize_t	n;

	while (cl->sent < cl->outlen) {
		n = send(cl->io.fd, cl->out + cl->sent, cl->outlen - cl->sent,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				metricsd_client_want(cl, EV_WRITE);
				return true;
			}
			metricsd_client_close(cl);
			return false;
		}
		cl->sent += (size_t)n;
	}
	free(cl->out);
	cl->out = NULL;
	/* Done: FIN, then read to EOF so no unread byte turns our close into a RST. */
	(void)shutdown(cl->io.fd, SHUT_WR);
	cl->lingering = true;
	metricsd_client_want(cl, EV_READ);
	return true;
}

/* Read the request head; answer once it is complete. */
static void
metricsd_client_read(struct metricsd_client *cl)
{
	ssize_t	n;
	int	status;

	n = recv(cl->io.fd, cl->req + cl->len, sizeof(cl->req) - cl->len, 0);
	if (n == 0) {
		metricsd_client_close(cl);	/* gone before asking anything */
		return;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			metricsd_client_close(cl);
		return;
	}
	cl->len += (size_t)n;
	if (metrics_http_parse(cl->req, cl->len, &status) ==
	    METRICS_HTTP_NEED_MORE)
		return;
	metricsd_respond(cl, status);
	(void)metricsd_client_write(cl);
}

/* After the answer: discard what the client still sends until it closes. */
static void
metricsd_client_linger(struct metricsd_client *cl)
{
	char	scratch[512];
	ssize_t	n;

	n = recv(cl->io.fd, scratch, sizeof(scratch), 0);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		metricsd_client_close(cl);
}

static void
metricsd_client_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct metricsd_client	*cl = io->data;

	(void)loop;
	(void)revents;
	if (cl->lingering)
		metricsd_client_linger(cl);
	else if (cl->out != NULL)
		(void)metricsd_client_write(cl);
	else
		metricsd_client_read(cl);
}

static void
metricsd_client_new(struct metricsd *d, int fd)
{
	struct metricsd_client	*cl = xmalloc(sizeof(*cl));
	struct ev_loop		*loop = d->loop;

	cl->d = d;
	cl->out = NULL;
	cl->outlen = cl->sent = cl->len = 0;
	cl->lingering = false;
	ev_io_init(&cl->io, metricsd_client_cb, fd, EV_READ);
	cl->io.data = cl;
	ev_timer_init(&cl->timer, metricsd_client_timeout_cb, METRICSD_TIMEOUT,
	    0.);
	cl->timer.data = cl;
	cl->prev = NULL;
	cl->next = d->clients;
	if (d->clients != NULL)
		d->clients->prev = cl;
	d->clients = cl;
	d->n_clients++;
	ev_io_start(loop, &cl->io);
	ev_timer_start(loop, &cl->timer);
}

static void
metricsd_pause_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	metricsd_resume(t->data);
}

static void
metricsd_accept_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct metricsd	*d = io->data;
	char		 why[SOCK_ERR_MAX];
	int		 fd, i;

	(void)revents;
	for (i = 0; i < METRICSD_MAX_CLIENTS; i++) {
		if (d->n_clients >= METRICSD_MAX_CLIENTS) {
			/* Full: the next scrapers wait in the backlog until one closes. */
			metricsd_stop(d);
			return;
		}
		switch (sock_accept(io->fd, NULL, NULL, &fd, why, sizeof(why))) {
		case SOCK_ACCEPT_OK:
			metricsd_client_new(d, fd);
			break;
		case SOCK_ACCEPT_EMPTY:
			return;
		case SOCK_ACCEPT_RETRY:
			break;
		case SOCK_ACCEPT_EXHAUSTED:
		case SOCK_ACCEPT_FATAL:
			/* Queued still: a level-triggered watcher would spin, so pause. */
			log_warn("metrics: accept: %s", why);
			metricsd_stop(d);
			ev_timer_start(loop, &d->pause);
			return;
		}
	}
}

/* One listening socket on sa (sock.h's policy).  Returns 0 or -1 after logging. */
static int
metricsd_listen(struct metricsd *d, const char *text, const struct sockaddr *sa)
{
	char	why[SOCK_ERR_MAX];
	int	fd;

	fd = sock_listen_tcp(sa, METRICSD_BACKLOG, 0, why, sizeof(why));
	if (fd == -1) {
		log_error("-metrics %s: %s", text, why);
		return -1;
	}
	ev_io_init(&d->io[d->n_io], metricsd_accept_cb, fd, EV_READ);
	d->io[d->n_io].data = d;
	d->n_io++;
	return 0;
}

/*
 * The sockets of spec: like a -listen, tcp:PORT is two, [::]:PORT (IPv6
 * only) and 0.0.0.0:PORT.
 */
static int
metricsd_listen_spec(struct metricsd *d, const struct listen_spec *spec)
{
	union sockaddr_inet	in;

	if (metricsd_listen(d, spec->text,
	    (const struct sockaddr *)&spec->addr) == -1)
		return -1;
	if (!spec->any_family)
		return 0;
	memset(&in, 0, sizeof(in));
	in.in.sin_family = AF_INET;
	in.in.sin_addr.s_addr = htonl(INADDR_ANY);
	sock_addr_set_port(&in.sa,
	    sock_addr_port((const struct sockaddr *)&spec->addr));
	return metricsd_listen(d, spec->text, &in.sa);
}

/* The serving line names each socket as bound: a port 0 as the one picked. */
static void
metricsd_log_bound(const struct metricsd *d, const char *text)
{
	union sockaddr_inet	bound;
	socklen_t		bl;
	char			list[METRICSD_MAX_SOCKETS * (SOCK_ADDR_TEXT_MAX + 1)];
	char			one[SOCK_ADDR_TEXT_MAX];
	size_t			i, at = 0;

	list[0] = '\0';
	for (i = 0; i < d->n_io; i++) {
		bl = sizeof(bound);
		memset(&bound, 0, sizeof(bound));
		if (getsockname(d->io[i].fd, &bound.sa, &bl) == -1)
			continue;
		sock_addr_format(&bound.sa, one, sizeof(one));
		at += (size_t)snprintf(list + at, sizeof(list) - at, "%s%s",
		    at ? " " : "", one);
		if (at >= sizeof(list))
			break;
	}
	log_info("metrics: serving /metrics on %s (%s)", text, list);
}

int
metricsd_open(struct metricsd **dp, struct ev_loop *loop,
    const struct listen_spec *spec, struct shared *sh)
{
	struct metricsd	*d;

	*dp = NULL;
	if (spec->text[0] == '\0')
		return 0;
	if (spec->kind != LISTEN_TCP || spec->proxy || spec->http) {
		log_error("-metrics %s: only tcp: listeners are supported",
		    spec->text);
		return -1;
	}
	d = xcalloc(1, sizeof(*d));
	d->loop = loop;
	d->sh = sh;
	ev_timer_init(&d->pause, metricsd_pause_cb, METRICSD_PAUSE, 0.);
	d->pause.data = d;
	*dp = d;
	if (metricsd_listen_spec(d, spec) == -1) {
		metricsd_close(dp);
		return -1;
	}
	metricsd_resume(d);
	metricsd_log_bound(d, spec->text);
	return 0;
}

void
metricsd_close(struct metricsd **dp)
{
	struct metricsd	*d = *dp;

	if (d == NULL)
		return;
	metricsd_stop(d);
	ev_timer_stop(d->loop, &d->pause);
	/* fd -1: so closing the clients does not resume accepting. */
	for (size_t i = 0; i < d->n_io; i++) {
		util_close(d->io[i].fd);
		d->io[i].fd = -1;
	}
	while (d->clients != NULL)
		metricsd_client_close(d->clients);
	free(d);
	*dp = NULL;
}
