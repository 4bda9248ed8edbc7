/*
 * listener: tcp listening sockets and the accept loop.
 *
 * Running out of descriptors (EMFILE/ENFILE) or kernel memory while
 * accepting must not spin the loop: the pending connection stays in the
 * backlog, so a level-triggered watcher would report it again at once.  We
 * stop every accept watcher, resume from a short timer, and log at most
 * once a second with a count of what was not logged.
 */
#include "snid/listener.h"

#include <errno.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "snid/addrspec.h"
#include "snid/conn.h"
#include "snid/log.h"
#include "snid/util.h"
#include "snid/worker.h"

#define LISTENER_BACKLOG	1024
/* Connections accepted per wake-up, so one busy listener cannot starve the others. */
#define LISTENER_ACCEPT_BATCH	64
/* How long accepting pauses after EMFILE and the like. */
#define LISTENER_PAUSE		0.1

int
listener_check(const struct config *cfg)
{
	size_t	i;

	for (i = 0; i < cfg->n_listeners; i++) {
		const struct listen_spec	*s = &cfg->listeners[i];
		const char			*what = NULL;

		if (s->proxy)
			what = "proxy: listeners (inbound PROXY protocol)";
		else if (s->http)
			what = "http: listeners";
		else if (s->kind == LISTEN_UNIX)
			what = "unix: listeners";
		else if (s->kind == LISTEN_FD || s->kind == LISTEN_FDNAME)
			what = "socket activation (fd:, fdname:)";
		if (what != NULL) {
			log_error("-listen %s: %s are not supported yet", s->text,
			    what);
			return -1;
		}
	}
	if (cfg->mode != MODE_TCP) {
		log_error("-mode %s is not supported yet",
		    cfg->mode == MODE_NAT46 ? "nat46" : "unix");
		return -1;
	}
	/* Accepted by the parser, but a backend expecting a header must not get none. */
	if (cfg->proxy_proto != PROXY_PROTO_NONE) {
		log_error("-proxy-proto is not supported yet");
		return -1;
	}
	return 0;
}

static void	listener_accept_cb(struct ev_loop *, ev_io *, int);

/* Open one listening socket on sa.  Returns 0 or -1 after logging. */
static int
listener_open(struct worker *w, const struct sockaddr *sa, socklen_t salen)
{
	struct listener	*l = &w->listeners[w->n_listeners];
	char		 addr[ADDRSPEC_TEXT_MAX];
	int		 fd, one = 1;

	addrspec_format(sa, salen, addr, sizeof(addr));
	snprintf(l->text, sizeof(l->text), "tcp:%s", addr);
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_error("listen %s: socket: %s", l->text, strerror(errno));
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/*
	 * An IPv6 socket takes only IPv6: IPv4 gets its own socket, so
	 * "tcp:[::]:443" and "tcp:0.0.0.0:443" can coexist and a client never
	 * shows up as ::ffff:a.b.c.d.
	 */
	if (sa->sa_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1) {
		log_error("listen %s: IPV6_V6ONLY: %s", l->text, strerror(errno));
		util_close(fd);
		return -1;
	}
	/*
	 * TCP_NODELAY on the listener is inherited by every accepted socket
	 * (Linux copies it when the connection is cloned), which saves a
	 * setsockopt per connection; see dial.c for why Nagle is off.
	 */
	util_set_nodelay(fd);
	if (bind(fd, sa, salen) == -1) {
		log_error("listen %s: bind: %s", l->text, strerror(errno));
		util_close(fd);
		return -1;
	}
	if (listen(fd, LISTENER_BACKLOG < SOMAXCONN ? SOMAXCONN :
	    LISTENER_BACKLOG) == -1) {
		log_error("listen %s: listen: %s", l->text, strerror(errno));
		util_close(fd);
		return -1;
	}
	l->w = w;
	l->fd = fd;
	l->port = ntohs(sa->sa_family == AF_INET ?
	    ((const struct sockaddr_in *)sa)->sin_port :
	    ((const struct sockaddr_in6 *)sa)->sin6_port);
	ev_io_init(&l->io, listener_accept_cb, fd, EV_READ);
	l->io.data = l;
	w->n_listeners++;
	log_info("listening on %s", l->text);
	return 0;
}

int
listener_open_all(struct worker *w)
{
	const struct config	*cfg = w->cfg;
	size_t			 i;

	w->listeners = xcalloc(LISTENER_MAX, sizeof(*w->listeners));
	w->n_listeners = 0;
	for (i = 0; i < cfg->n_listeners; i++) {
		const struct listen_spec	*s = &cfg->listeners[i];

		if (listener_open(w, (const struct sockaddr *)&s->addr,
		    s->addrlen) == -1)
			return -1;
		if (s->any_family) {
			/* tcp:PORT: the spec holds [::]:PORT; add 0.0.0.0:PORT. */
			struct sockaddr_in	in;

			memset(&in, 0, sizeof(in));
			in.sin_family = AF_INET;
			in.sin_addr.s_addr = htonl(INADDR_ANY);
			in.sin_port =
			    ((const struct sockaddr_in6 *)&s->addr)->sin6_port;
			if (listener_open(w, (const struct sockaddr *)&in,
			    sizeof(in)) == -1)
				return -1;
		}
	}
	return 0;
}

void
listener_start_all(struct worker *w)
{
	for (size_t i = 0; i < w->n_listeners; i++)
		if (w->listeners[i].fd != -1)
			ev_io_start(w->loop, &w->listeners[i].io);
}

static void
listener_stop_all(struct worker *w)
{
	for (size_t i = 0; i < w->n_listeners; i++)
		ev_io_stop(w->loop, &w->listeners[i].io);
}

void
listener_close_all(struct worker *w)
{
	ev_timer_stop(w->loop, &w->accept_pause);
	for (size_t i = 0; i < w->n_listeners; i++) {
		struct listener	*l = &w->listeners[i];

		ev_io_stop(w->loop, &l->io);
		util_close(l->fd);
		l->fd = -1;
	}
	free(w->listeners);
	w->listeners = NULL;
	w->n_listeners = 0;
}

static void
listener_resume_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker	*w = t->data;

	(void)loop;
	(void)revents;
	if (!w->draining)
		listener_start_all(w);
}

/* Out of descriptors or memory: pause all accepting, log at most once a second. */
static void
listener_pause(struct worker *w, struct listener *l, int err)
{
	ev_tstamp	now = ev_now(w->loop);

	w->counters.accept_errors++;
	if (now - w->accept_err_last >= 1.0) {
		if (w->accept_err_suppressed > 0)
			log_warn("accept on %s: %s; pausing accepts "
			    "(%llu similar errors not logged)", l->text,
			    strerror(err),
			    (unsigned long long)w->accept_err_suppressed);
		else
			log_warn("accept on %s: %s; pausing accepts", l->text,
			    strerror(err));
		w->accept_err_last = now;
		w->accept_err_suppressed = 0;
	} else
		w->accept_err_suppressed++;
	listener_stop_all(w);
	ev_timer_stop(w->loop, &w->accept_pause);
	ev_timer_init(&w->accept_pause, listener_resume_cb, LISTENER_PAUSE, 0.);
	w->accept_pause.data = w;
	ev_timer_start(w->loop, &w->accept_pause);
}

static void
listener_accept_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct listener		*l = io->data;
	struct worker		*w = l->w;
	union sockaddr_inet	 peer;
	socklen_t		 peerlen;
	int			 fd, i;

	(void)loop;
	(void)revents;
	for (i = 0; i < LISTENER_ACCEPT_BATCH; i++) {
		peerlen = sizeof(peer);
		fd = accept4(l->fd, &peer.sa, &peerlen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			conn_accept(w, fd, &peer.sa, peerlen, l->port);
			continue;
		}
		switch (errno) {
		case EAGAIN:
			return;		/* the backlog is empty */
		case EINTR:
		/*
		 * accept(2): Linux reports network errors already pending on
		 * the new connection through accept; that connection is gone,
		 * the next one may be fine.
		 */
		case ECONNABORTED:
		case EPROTO:
		case EPERM:		/* a firewall rule refused it */
		case ENOPROTOOPT:
		case EHOSTDOWN:
		case ENONET:
		case EHOSTUNREACH:
		case EOPNOTSUPP:
		case ENETUNREACH:
			continue;
		default:
			/*
			 * EMFILE, ENFILE, ENOBUFS, ENOMEM, or anything
			 * unexpected: the connection stays queued, so
			 * retrying now would spin.  Pause instead.
			 */
			listener_pause(w, l, errno);
			return;
		}
	}
}
