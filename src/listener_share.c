/*
 * listener_share: the sockets of workers 1 .. N-1 (-workers N), made after
 * worker 0 has opened what the specs name (listener.c).
 *
 * A tcp: address snid binds gets one socket per worker, all with
 * SO_REUSEPORT: the kernel hashes each connection's 4-tuple to one of
 * them, so the workers never contend for an accept.  Every other socket
 * (unix:, fd:, fdname:, and a tcp: one kept from an older process without
 * SO_REUSEPORT, to which no sibling can be bound) is shared: each worker
 * holds a dup of it.  libev's epoll backend cannot register it with
 * EPOLLEXCLUSIVE, so each worker adds it to an epoll set of its own with
 * that flag and watches the set.  (The kernel honours EPOLLEXCLUSIVE only
 * for the threads waiting in epoll_wait on a set directly: a set that is
 * itself watched from another one, as here, is woken with the others, so
 * a connection on a shared socket may wake every idle worker; the ones
 * that lose the race read EAGAIN.  Still correct, and the common tcp:
 * case has its own sockets.)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "snid/listener.h"
#include "snid/log.h"
#include "snid/sock.h"
#include "snid/util.h"
#include "snid/worker.h"

#include "listener_int.h"

/*
 * A socket from the fd store that a process with one worker (or an older
 * snid) bound without SO_REUSEPORT: setting it now still lets siblings
 * bind (Linux gives the listening socket a reuseport group when the first
 * sibling joins), so the workers need not share it.
 */
static void
listener_reuseport(const struct shared *sh, int fd)
{
	int	one = 1;

	if (sh->n_workers > 1)
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
		    sizeof(one));
}

/*
 * The listening socket on sa that the previous process left in systemd's
 * fd store (LISTENER_FDSTORE_NAME; see listener_store_fds), or -1.  The
 * kernel kept it listening in between: the clients that came meanwhile
 * wait in its queue, none is refused.  A port-0 spec never matches (it
 * asks for a new port).
 */
int
listener_adopt_stored(struct shared *sh, struct listener_activation *act,
    const struct sockaddr *sa)
{
	union sockaddr_inet	 got;
	socklen_t		 gl, sl = sock_addr_len(sa);
	char			 name[ADDRSPEC_FDNAME_MAX], err[SOCK_ERR_MAX];
	int			 i;

	if (sock_addr_port(sa) == 0)
		return -1;
	for (i = 0; i < act->n; i++) {
		listener_activation_name(act, i, name, sizeof(name));
		if (act->used[i] || strcmp(name, LISTENER_FDSTORE_NAME) != 0)
			continue;
		gl = sizeof(got);
		memset(&got, 0, sizeof(got));
		if (getsockname(3 + i, &got.sa, &gl) == -1 || gl != sl ||
		    memcmp(&got, sa, sl) != 0)
			continue;
		/* Listening, stream, non-blocking (as a passed fd: fd:N). */
		if (sock_adopt_listener(3 + i, err, sizeof(err)) == -1) {
			log_warn("fd store: fd %d: %s; binding anew", 3 + i,
			    err);
			continue;
		}
		util_set_nodelay(3 + i);
		listener_reuseport(sh, 3 + i);
		act->used[i] = true;
		return 3 + i;
	}
	return -1;
}

/* A dup of l0's socket for w; both are shared from now on. */
static int
listener_dup(struct worker *w, struct listener *l0)
{
	struct listener	*l = &w->listeners[w->n_listeners];
	int		 fd;

	fd = fcntl(l0->fd, F_DUPFD_CLOEXEC, 3);
	if (fd == -1) {
		log_error("listen %s: dup for worker %u: %s", l0->text, w->id,
		    strerror(errno));
		return -1;
	}
	l0->shared = true;
	listener_add(w, fd, l0->port);
	l->shared = true;
	return 0;
}

int
listener_open_sibling(struct worker *w, struct listener *l0,
    struct listener_activation *act)
{
	struct listener		*l = &w->listeners[w->n_listeners];
	union sockaddr_inet	 bound;
	socklen_t		 bl = sizeof(bound);
	char			 err[SOCK_ERR_MAX];
	int			 fd = -1;

	memcpy(l->text, l0->text, sizeof(l->text));
	l->proxy = l0->proxy;
	l->http = l0->http;
	if (!l0->tcp || l0->shared)
		return listener_dup(w, l0);
	memset(&bound, 0, sizeof(bound));
	if (getsockname(l0->fd, &bound.sa, &bl) == -1) {
		log_warn("listen %s: getsockname: %s; the workers share one "
		    "socket", l0->text, strerror(errno));
		return listener_dup(w, l0);
	}
	/* The port worker 0 got (also for a port 0): one address, N sockets. */
	fd = listener_adopt_stored(w->shared, act, &bound.sa);
	if (fd == -1)
		fd = sock_listen_tcp(&bound.sa, LISTENER_BACKLOG,
		    SOCK_LISTEN_NODELAY | SOCK_LISTEN_REUSEPORT, err,
		    sizeof(err));
	if (fd == -1) {
		/* E.g. worker 0's socket came from a process without SO_REUSEPORT. */
		log_warn("listen %s: no socket of its own for worker %u (%s); "
		    "the workers share one", l0->text, w->id, err);
		return listener_dup(w, l0);
	}
	listener_add(w, fd, l0->port);
	l->tcp = true;
	return 0;
}

/* Worker 0's tcp: listener bound where fd 3+i is, or NULL. */
static struct listener *
listener_stored_match(struct worker *w0, int i)
{
	union sockaddr_inet	a, b;
	socklen_t		al = sizeof(a), bl;

	memset(&a, 0, sizeof(a));
	if (getsockname(3 + i, &a.sa, &al) == -1)
		return NULL;
	for (size_t j = 0; j < w0->n_listeners; j++) {
		struct listener	*l = &w0->listeners[j];

		bl = sizeof(b);
		memset(&b, 0, sizeof(b));
		if (!l->tcp || l->extra || getsockname(l->fd, &b.sa, &bl) == -1)
			continue;
		if (al == bl && memcmp(&a, &b, al) == 0)
			return l;
	}
	return NULL;
}

void
listener_adopt_extra(struct shared *sh, struct listener_activation *act)
{
	struct listener	*l0, *l;
	struct worker	*w;
	char		 name[ADDRSPEC_FDNAME_MAX], err[SOCK_ERR_MAX];
	size_t		 next = 0;

	for (int i = 0; i < act->n; i++) {
		listener_activation_name(act, i, name, sizeof(name));
		if (act->used[i] || strcmp(name, LISTENER_FDSTORE_NAME) != 0)
			continue;
		l0 = listener_stored_match(&sh->workers[0], i);
		if (l0 == NULL || sock_adopt_listener(3 + i, err,
		    sizeof(err)) == -1)
			continue;
		w = &sh->workers[next++ % sh->n_workers];
		l = &w->listeners[w->n_listeners];
		memcpy(l->text, l0->text, sizeof(l->text));
		util_set_nodelay(3 + i);
		act->used[i] = true;
		listener_add(w, 3 + i, l0->port);
		l->proxy = l0->proxy;
		l->http = l0->http;
		l->tcp = true;
		l->extra = true;
	}
}

/* l's epoll set with l->fd in it, EPOLLEXCLUSIVE; the watcher waits on it. */
static int
listener_share(struct listener *l)
{
	struct epoll_event	ev;

	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd == -1) {
		log_error("listen %s: epoll_create1: %s", l->text,
		    strerror(errno));
		return -1;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLEXCLUSIVE;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->fd, &ev) == -1) {
		log_error("listen %s: epoll_ctl EPOLLEXCLUSIVE: %s", l->text,
		    strerror(errno));
		return -1;
	}
	ev_io_set(&l->io, l->epfd, EV_READ);
	return 0;
}

int
listener_share_all(struct shared *sh)
{
	for (size_t k = 0; k < sh->n_workers; k++) {
		struct worker	*w = &sh->workers[k];

		for (size_t i = 0; i < w->n_listeners; i++)
			if (w->listeners[i].shared &&
			    listener_share(&w->listeners[i]) == -1)
				return -1;
	}
	return 0;
}

size_t
listener_store_fds(const struct shared *sh, int *fds, size_t max)
{
	size_t	n = 0;

	/* Every worker's own socket, so that no accept queue is lost. */
	for (size_t k = 0; k < sh->n_workers; k++) {
		const struct worker	*w = &sh->workers[k];

		for (size_t i = 0; i < w->n_listeners && n < max; i++)
			if (w->listeners[i].fd != -1 && w->listeners[i].tcp)
				fds[n++] = w->listeners[i].fd;
	}
	return n;
}
