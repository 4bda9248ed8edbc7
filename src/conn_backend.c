/*
 * conn_backend: the way from a routed name to a spliced stream (see
 * conn.h): the lookup's answer (RESOLVE), the connect attempts, one
 * candidate after the other (CONNECT), the write of the buffered bytes
 * (FORWARD, with -proxy-proto's header in front) and the pump both ways
 * (PUMP) with its idle bound.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "snid/dial.h"
#include "snid/log.h"
#include "snid/proxyproto.h"
#include "snid/resolver.h"
#include "snid/sock.h"
#include "snid/util.h"
#include "snid/worker.h"

#include "conn_int.h"

static void	conn_connect_next(struct conn *);
static bool	conn_pump_run(struct conn *, int);
static void	conn_pump_start(struct conn *);

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
conn_count_lookup(struct conn *c, enum metrics_dns r)
{
	struct worker	*w = c->w;

	w->metrics.dns[r]++;
	if (c->lookup != NULL)	/* it waited for a query */
		metrics_observe(&w->metrics.dns_seconds,
		    ev_now(w->loop) - c->since);
}

void
conn_resolved(void *arg, const struct resolver_result *res)
{
	struct conn	*c = arg;
	struct worker	*w = c->w;

	/* c->lookup is still set when the answer came later, NULL when at once. */
	conn_count_lookup(c, resolver_metric(res));
	c->lookup = NULL;	/* the resolver has freed the record already */
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

			k += dial_candidates(w->cfg, &w->self, a, 1,
			    sock_addr_port(&a->sa), &c->cand[k]);
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
	conn_set_state(c, CONN_CONNECT);
	c->deadline = c->since + w->cfg->connect_timeout;
	conn_connect_next(c);
}

/*
 * unix mode: connect to DIR/NAME or DIR/_.PARENT.  A connected socket goes
 * through CONNECT like a TCP one (no candidate left to try after it), so the
 * buffered hello is forwarded by conn_forward() once it is writable.
 */
void
conn_dial_unix(struct conn *c, const char *name)
{
	struct worker	*w = c->w;
	int		 fd, err;

	c->unix_backend = xmalloc(sizeof(*c->unix_backend));
	fd = dial_unix(w->cfg, &w->self, name, c->unix_backend);
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
			conn_close(c, err == EACCES ? OUTCOME_DENIED :
			    OUTCOME_CONNECT_FAILED);
		return;
	}
	conn_set_state(c, CONN_CONNECT);
	c->ncand = c->icand = 0;
	c->deadline = c->since + w->cfg->connect_timeout;
	ev_io_set(&c->bio, fd, EV_WRITE);
	ev_io_start(w->loop, &c->bio);
	conn_timer_arm(c, w->cfg->connect_timeout);
}

/* Connect to the next candidate, within what is left of -connect-timeout. */
static void
conn_connect_next(struct conn *c)
{
	struct worker		*w = c->w;
	struct sockaddr_in6	 src;
	double			 left;
	int			 fd;
	/* nat46: from PREFIX::<client IPv4> (checked in conn_route). */
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

/* CONNECT: stop watching and close the socket of the attempt on cand[icand]. */
static void
conn_connect_drop(struct conn *c)
{
	ev_io_stop(c->w->loop, &c->bio);
	util_close(c->bio.fd);
	ev_io_set(&c->bio, -1, 0);
}

void
conn_connect_skip(struct conn *c)
{
	conn_connect_drop(c);
	c->icand++;
	conn_connect_next(c);
}

/*
 * RESOLVE, CONNECT, FORWARD: keep reading what the client sends after its
 * hello (TLS early data, or a test client's request) into the same buffer,
 * to be forwarded with it in order.  This also notices a client that resets
 * while we wait.  A FIN is remembered and carried over once the backend has
 * everything: a client may well half-close right after its request.
 */
void
conn_read_early(struct conn *c)
{
	ssize_t	n = conn_buf_read(c);

	if (n > 0 || (n == -1 && errno == EAGAIN))
		return;
	if (n == 0)
		c->flags |= CONN_F_CLIENT_EOF;
	else if (errno != ENOBUFS) {
		conn_close(c, OUTCOME_RESET);
		return;
	}
	/* EOF, or enough buffered: the rest waits in the kernel for the pump. */
	ev_io_stop(c->w->loop, &c->cio);
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

void
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
			if (!dial_error_try_next(err)) {
				conn_connect_drop(c);
				conn_close(c, OUTCOME_CONNECT_FAILED);
				return;
			}
			conn_connect_skip(c);
			return;
		}
		conn_close(c, OUTCOME_RESET);
		return;
	}
	if (c->state == CONN_CONNECT) {	/* the first send tells it is connected */
		metrics_observe(&c->w->metrics.connect_seconds,
		    ev_now(c->w->loop) - c->since);
		conn_set_state(c, CONN_FORWARD);
	}
	c->flags |= CONN_F_FORWARDED;
	/* up counts the client's bytes only, never our PROXY header. */
	hdr = c->sent < c->proxy_len ? c->proxy_len - c->sent : 0;
	hdr = (uint32_t)n < hdr ? (uint32_t)n : hdr;
	c->up += (uint64_t)n - hdr;
	c->w->metrics.bytes[METRICS_UP] += (uint64_t)n - hdr;
	c->sent += (uint32_t)n;
	if (c->sent < c->len)
		return;		/* the rest when the socket is writable again */
	conn_pump_start(c);
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
	if (!ev_is_active(&c->timer) && !(c->flags & CONN_F_KEEPALIVE) &&
	    CONN_KEEPALIVE_AFTER < bound)
		conn_timer_arm(c, CONN_KEEPALIVE_AFTER);
	else if (bound < c->timer.repeat || !ev_is_active(&c->timer))
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
	conn_set_state(c, CONN_PUMP);
	if (c->flags & CONN_F_CLIENT_EOF) {
		c->pump.dir[PUMP_UP].flags |= PUMP_F_EOF;
		if (!conn_pump_run(c, PUMP_UP))
			return;
	}
	conn_pump_next(c);
}

/*
 * Run direction d of the pump on its two sockets.  Returns false when c is
 * gone.  The worker's byte counters grow as bytes move, so a scrape reads
 * them as they are instead of walking every open connection.
 */
static bool
conn_pump_run(struct conn *c, int d)
{
	struct worker		*w = c->w;
	enum pump_result	 r;
	uint64_t		 before;

	if (d == PUMP_UP) {
		before = c->up;
		r = pump_dir_run(&w->pipes, &c->pump.dir[PUMP_UP], c->cio.fd,
		    c->bio.fd, &c->up);
		w->metrics.bytes[METRICS_UP] += c->up - before;
		return conn_pump_check(c, r, "client->backend");
	}
	before = c->down;
	r = pump_dir_run(&w->pipes, &c->pump.dir[PUMP_DOWN], c->bio.fd,
	    c->cio.fd, &c->down);
	w->metrics.bytes[METRICS_DOWN] += c->down - before;
	return conn_pump_check(c, r, "backend->client");
}

/*
 * A socket's readability feeds the direction it is the source of, its
 * writability drains the other one: the client's watcher reads for UP and
 * writes for DOWN, the backend's the reverse.
 */
void
conn_pump_io(struct conn *c, ev_io *io, int revents)
{
	int	in = io == &c->cio ? PUMP_UP : PUMP_DOWN;
	int	out = in == PUMP_UP ? PUMP_DOWN : PUMP_UP;

	if ((revents & EV_READ) && !conn_pump_run(c, in))
		return;
	if ((revents & EV_WRITE) && !conn_pump_run(c, out))
		return;
	conn_pump_next(c);
}

void
conn_pump_timer(struct conn *c)
{
	double	idle = ev_now(c->w->loop) - c->active;
	double	bound = conn_idle_bound(c);

	if (!(c->flags & CONN_F_KEEPALIVE)) {
		/* The first firing, CONN_KEEPALIVE_AFTER in: a long one. */
		c->flags |= CONN_F_KEEPALIVE;
		if (c->unix_backend == NULL)
			util_set_keepalive(c->bio.fd);
	}
	if (idle >= bound - 0.001) {
		log_debug("%s: no traffic for %.3g s", c->sni != NULL ?
		    c->sni : "-", idle);
		conn_close(c, OUTCOME_IDLE);
		return;
	}
	conn_timer_arm(c, bound - idle);
}
