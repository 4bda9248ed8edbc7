/*
 * listener: the listening sockets (tcp:, unix:, and fd:/fdname: from
 * systemd socket activation), the accept loop and its throttle.  The
 * sockets themselves are opened by the sock module, with its policy.
 *
 * Running out of descriptors (EMFILE/ENFILE) or kernel memory while
 * accepting must not spin the loop: the pending connection stays in the
 * backlog, so a level-triggered watcher would report it again at once.  We
 * stop every accept watcher, resume from a short timer, and log at most
 * once a second for the daemon with a count of what was not logged.  Reaching
 * -max-connections stops them too, until there is room (listener.h).
 */
#include "snid/listener.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "snid/addrspec.h"
#include "snid/conn.h"
#include "snid/handover.h"
#include "snid/log.h"
#include "snid/shared.h"
#include "snid/sock.h"
#include "snid/util.h"
#include "snid/worker.h"

#include "listener_int.h"

/* Connections accepted per wake-up, so one busy listener cannot starve the others. */
#define LISTENER_ACCEPT_BATCH	64
/* How long accepting pauses after EMFILE and the like. */
#define LISTENER_PAUSE		0.1

static int	listener_check_unix_family(const struct config *,
		    const struct listen_spec *);

int
listener_check(const struct config *cfg)
{
	size_t	i;

	for (i = 0; i < cfg->n_listeners; i++) {
		const struct listen_spec	*s = &cfg->listeners[i];

		if (s->kind == LISTEN_UNIX &&
		    listener_check_unix_family(cfg, s) == -1)
			return -1;
	}
	return 0;
}

/*
 * systemd socket activation: see listener_int.h.  No more than this many
 * passed fds are believed (systemd's own limit is far lower in practice).
 */
#define LISTENER_ACTIVATION_MAX	4096

static void
listener_activation_get(struct listener_activation *act)
{
	const char	*pid = getenv("LISTEN_PID");
	const char	*fds = getenv("LISTEN_FDS");
	const char	*names = getenv("LISTEN_FDNAMES");
	char		*end;
	long		 v;
	int		 i;

	memset(act, 0, sizeof(*act));
	if (pid == NULL || fds == NULL) {
		snprintf(act->why, sizeof(act->why), "no LISTEN_PID and "
		    "LISTEN_FDS in the environment (not socket-activated)");
		goto out;
	}
	errno = 0;
	v = strtol(pid, &end, 10);
	if (errno != 0 || end == pid || *end != '\0' || v != (long)getpid()) {
		/* Inherited from the process they were meant for: not ours. */
		snprintf(act->why, sizeof(act->why), "LISTEN_PID=%.20s is not "
		    "our pid %ld, so the passed fds are not for us", pid,
		    (long)getpid());
		goto out;
	}
	errno = 0;
	v = strtol(fds, &end, 10);
	if (errno != 0 || end == fds || *end != '\0' || v < 0 ||
	    v > LISTENER_ACTIVATION_MAX) {
		snprintf(act->why, sizeof(act->why), "LISTEN_FDS=%.20s is not a "
		    "count of fds", fds);
		goto out;
	}
	act->n = (int)v;
	if (act->n == 0)
		snprintf(act->why, sizeof(act->why), "LISTEN_FDS=0");
	act->used = xcalloc((size_t)act->n + 1, sizeof(*act->used));
	if (names != NULL)
		act->names = xstrdup(names);
	/* Ours now: never leak them into anything we might start. */
	for (i = 0; i < act->n; i++)
		(void)fcntl(3 + i, F_SETFD, FD_CLOEXEC);
out:
	/* Children (there are none today) must not take them for theirs. */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
}

void
listener_activation_name(const struct listener_activation *act, int i,
    char *out, size_t len)
{
	const char	*p = act->names, *colon;
	size_t		 n;

	out[0] = '\0';
	if (p == NULL)
		return;
	for (; i > 0; i--) {
		p = strchr(p, ':');
		if (p == NULL)
			return;
		p++;
	}
	colon = strchr(p, ':');
	n = colon != NULL ? (size_t)(colon - p) : strlen(p);
	if (n >= len)
		n = len - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

/* Close every passed fd that no -listen took, and free act. */
static void
listener_activation_done(struct listener_activation *act)
{
	char	name[ADDRSPEC_FDNAME_MAX];

	for (int i = 0; i < act->n; i++) {
		if (act->used[i])
			continue;
		listener_activation_name(act, i, name, sizeof(name));
		log_info("socket activation: closing fd %d%s%s%s, which no "
		    "-listen uses", 3 + i, name[0] != '\0' ? " (" : "", name,
		    name[0] != '\0' ? ")" : "");
		util_close(3 + i);
	}
	free(act->names);
	free(act->used);
	memset(act, 0, sizeof(*act));
}

void
listener_add(struct worker *w, int fd, uint16_t port)
{
	struct listener	*l = &w->listeners[w->n_listeners++];

	l->w = w;
	l->fd = fd;
	l->epfd = -1;
	l->port = port;
	ev_io_init(&l->io, listener_accept_cb, fd, EV_READ);
	l->io.data = l;
	/* Once per address: the other workers' sockets are its siblings. */
	if (w->id == 0)
		log_info("listening on %s", l->text);
	else
		log_debug("listening on %s (worker %u)", l->text, w->id);
}

/* Open one listening socket on sa.  Returns 0 or -1 after logging. */
static int
listener_open_tcp(struct worker *w, const struct sockaddr *sa,
    struct listener_activation *act)
{
	struct listener		*l = &w->listeners[w->n_listeners];
	union sockaddr_inet	 bound;
	socklen_t		 bl = sizeof(bound);
	char			 addr[SOCK_ADDR_TEXT_MAX], err[SOCK_ERR_MAX];
	int			 fd;

	sock_addr_format(sa, addr, sizeof(addr));
	snprintf(l->text, sizeof(l->text), "tcp:%s", addr);
	fd = listener_adopt_stored(w->shared, act, sa);
	if (fd != -1) {
		log_info("listen %s: kept from the previous process (systemd "
		    "fd store)", l->text);
		listener_add(w, fd, sock_addr_port(sa));
		l->tcp = true;
		return 0;
	}
	/* TCP_NODELAY is inherited by every accepted socket; see dial.c for why. */
	fd = sock_listen_tcp(sa, LISTENER_BACKLOG, SOCK_LISTEN_NODELAY |
	    (w->shared->n_workers > 1 ? SOCK_LISTEN_REUSEPORT : 0), err,
	    sizeof(err));
	if (fd == -1) {
		log_error("listen %s: %s", l->text, err);
		return -1;
	}
	/* Port 0: the port the kernel picked is the default backend port. */
	memset(&bound, 0, sizeof(bound));
	if (getsockname(fd, &bound.sa, &bl) == 0)
		sa = &bound.sa;
	listener_add(w, fd, sock_addr_port(sa));
	l->tcp = true;
	return 0;
}

/*
 * unix:PATH.  A socket file left behind by a process that died is replaced;
 * one that a process still listens on is not (connect() tells them apart:
 * ECONNREFUSED means no one listens), and neither is a file that is not a
 * socket.  (Between the test and the unlink another process could start
 * listening there: two daemons started at once on one path is a mistake we
 * do not try to arbitrate.)  The socket gets mode 0666, like a TCP port
 * that every local user can connect to; restrict it with the permissions
 * of its directory.
 */
static int
listener_open_unix(struct worker *w, const struct listen_spec *s)
{
	struct listener		*l = &w->listeners[w->n_listeners];
	struct sockaddr_un	 sun;
	struct stat		 st;
	char			 why[SOCK_ERR_MAX];
	int			 fd, probe, r, err;

	snprintf(l->text, sizeof(l->text), "%s", s->text);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, s->path, sizeof(sun.sun_path));
	if (lstat(s->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_error("listen %s: %s exists and is not a socket; "
			    "not replacing it", l->text, s->path);
			return -1;
		}
		/* Non-blocking: a listener with a full backlog must not hold up the start. */
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (probe == -1) {
			log_error("listen %s: socket: %s", l->text,
			    strerror(errno));
			return -1;
		}
		r = connect(probe, (const struct sockaddr *)&sun, sizeof(sun));
		err = errno;
		util_close(probe);
		if (r == 0 || err == EAGAIN) {
			log_error("listen %s: another process is listening on "
			    "it", l->text);
			return -1;
		}
		if (err != ECONNREFUSED) {
			log_error("listen %s: connect: %s", l->text,
			    strerror(err));
			return -1;
		}
		log_info("listen %s: replacing the stale socket %s", l->text,
		    s->path);
		if (unlink(s->path) == -1 && errno != ENOENT) {
			log_error("listen %s: unlink: %s", l->text,
			    strerror(errno));
			return -1;
		}
	} else if (errno != ENOENT) {
		log_error("listen %s: %s: %s", l->text, s->path, strerror(errno));
		return -1;
	}
	fd = sock_listen_unix(&sun, LISTENER_BACKLOG, why, sizeof(why));
	if (fd == -1) {
		log_error("listen %s: %s", l->text, why);
		return -1;
	}
	/* The file is ours from here on: removed again on close (listener_close_all). */
	if (stat(s->path, &st) == 0) {
		l->unix_path = xstrdup(s->path);
		l->unix_dev = st.st_dev;
		l->unix_ino = st.st_ino;
	}
	/* Before the start is reported (ready), so no client meets the umask's mode. */
	if (chmod(s->path, 0666) == -1)
		log_warn("listen %s: chmod 0666: %s", l->text, strerror(errno));
	listener_add(w, fd, 0);
	return 0;
}

/*
 * A listener with no port (AF_UNIX) cannot give the default backend port;
 * nat46 needs the client's IPv4 address, which a unix socket peer has not.
 */
static int
listener_check_unix_family(const struct config *cfg,
    const struct listen_spec *s)
{
	const char	*text = s->text;

	if (cfg->mode == MODE_NAT46) {
		log_error("-listen %s: -mode nat46 connects from the client's "
		    "IPv4 address, and a unix socket client has none", text);
		return -1;
	}
	/* An http: listener's backends get port 80 (see conn_accept). */
	if (cfg->mode != MODE_UNIX && cfg->backend_port == 0 && !s->http) {
		log_error("-listen %s: a unix socket has no port to use as the "
		    "backend port: set -backend-port", text);
		return -1;
	}
	return 0;
}

/*
 * Take over passed fd 3+i for spec s: it must be a listening stream socket
 * (SO_ACCEPTCONN: a bound but not listening socket, or a datagram one, would
 * never accept).  Returns 0 or -1 after logging.
 */
static int
listener_open_passed(struct worker *w, const struct listen_spec *s,
    struct listener_activation *act, int i)
{
	struct listener		*l = &w->listeners[w->n_listeners];
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss);
	char			 addr[ADDRSPEC_TEXT_MAX], err[SOCK_ERR_MAX];
	int			 fd = 3 + i;

	if (act->used[i]) {
		log_error("-listen %s: fd %d is already used by another -listen",
		    s->text, fd);
		return -1;
	}
	if (sock_adopt_listener(fd, err, sizeof(err)) == -1) {
		log_error("-listen %s: fd %d: %s", s->text, fd, err);
		return -1;
	}
	memset(&ss, 0, sizeof(ss));
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == -1) {
		log_error("-listen %s: fd %d: getsockname: %s", s->text, fd,
		    strerror(errno));
		return -1;
	}
	switch (ss.ss_family) {
	case AF_INET:
	case AF_INET6:
		break;
	case AF_UNIX:
		if (listener_check_unix_family(w->cfg, s) == -1)
			return -1;
		break;
	default:
		log_error("-listen %s: fd %d is neither TCP nor a unix socket",
		    s->text, fd);
		return -1;
	}
	util_set_nodelay(fd);
	util_set_keepalive(fd);
	act->used[i] = true;
	addrspec_format((struct sockaddr *)&ss, sl, addr, sizeof(addr));
	snprintf(l->text, sizeof(l->text), "%s (fd %d, %s%s)", s->text, fd,
	    ss.ss_family == AF_UNIX ? "" : "tcp:", addr);
	listener_add(w, fd, sock_addr_port((struct sockaddr *)&ss));
	return 0;
}

/* fd:N: N must be one of the passed fds. */
static int
listener_open_fd(struct worker *w, const struct listen_spec *s,
    struct listener_activation *act)
{
	if (act->n == 0) {
		log_error("-listen %s: no fds passed: %s", s->text, act->why);
		return -1;
	}
	if (s->fd < 3 || s->fd - 3 >= act->n) {
		log_error("-listen %s: fd %d was not passed (LISTEN_FDS=%d "
		    "passes fds 3 to %d)", s->text, s->fd, act->n, 2 + act->n);
		return -1;
	}
	return listener_open_passed(w, s, act, s->fd - 3);
}

/*
 * How many passed fds are named name (a .socket unit with several
 * ListenStream= names them all alike).
 */
static int
listener_fdname_count(const struct listener_activation *act, const char *name)
{
	char	n[ADDRSPEC_FDNAME_MAX];
	int	k = 0;

	for (int i = 0; i < act->n; i++) {
		listener_activation_name(act, i, n, sizeof(n));
		if (strcmp(n, name) == 0)
			k++;
	}
	return k;
}

/* fdname:NAME: every passed fd of that name. */
static int
listener_open_fdname(struct worker *w, const struct listen_spec *s,
    struct listener_activation *act)
{
	char	n[ADDRSPEC_FDNAME_MAX];

	if (act->n == 0) {
		log_error("-listen %s: no fds passed: %s", s->text, act->why);
		return -1;
	}
	if (listener_fdname_count(act, s->fdname) == 0) {
		log_error("-listen %s: no fd named %s was passed "
		    "(LISTEN_FDNAMES=%s)", s->text, s->fdname,
		    act->names != NULL ? act->names : "(unset)");
		return -1;
	}
	for (int i = 0; i < act->n; i++) {
		listener_activation_name(act, i, n, sizeof(n));
		if (strcmp(n, s->fdname) == 0 &&
		    listener_open_passed(w, s, act, i) == -1)
			return -1;
	}
	return 0;
}

/* Open one spec: one socket, two for tcp:PORT, one per fd for fdname:. */
static int
listener_open_spec_kind(struct worker *w, const struct listen_spec *s,
    struct listener_activation *act)
{
	switch (s->kind) {
	case LISTEN_TCP:
		if (listener_open_tcp(w, (const struct sockaddr *)&s->addr,
		    act) == -1)
			return -1;
		if (s->any_family) {
			/* tcp:PORT: the spec holds [::]:PORT; add 0.0.0.0:PORT. */
			union sockaddr_inet	in;

			memset(&in, 0, sizeof(in));
			in.in.sin_family = AF_INET;
			in.in.sin_addr.s_addr = htonl(INADDR_ANY);
			sock_addr_set_port(&in.sa, sock_addr_port(
			    (const struct sockaddr *)&s->addr));
			if (listener_open_tcp(w, &in.sa, act) == -1)
				return -1;
		}
		return 0;
	case LISTEN_UNIX:
		return listener_open_unix(w, s);
	case LISTEN_FD:
		return listener_open_fd(w, s, act);
	case LISTEN_FDNAME:
		return listener_open_fdname(w, s, act);
	}
	return -1;
}

/* Open one spec, and mark its sockets with the spec's wrappers. */
static int
listener_open_spec(struct worker *w, const struct listen_spec *s,
    struct listener_activation *act)
{
	size_t	first = w->n_listeners;
	int	rc = listener_open_spec_kind(w, s, act);

	/* The wrappers apply to every socket the spec opened. */
	for (size_t i = first; i < w->n_listeners; i++) {
		w->listeners[i].proxy = s->proxy;
		w->listeners[i].http = s->http;
	}
	return rc;
}

/*
 * A previous process's handover pipes (handover.h), kept for main to
 * release once we accept; more than the array holds are released now.
 */
static void
listener_take_handover(struct shared *sh, struct listener_activation *act)
{
	char	name[ADDRSPEC_FDNAME_MAX];

	for (int i = 0; i < act->n; i++) {
		listener_activation_name(act, i, name, sizeof(name));
		if (act->used[i] || strcmp(name, HANDOVER_FDNAME) != 0)
			continue;
		act->used[i] = true;
		if (sh->n_handover < HANDOVER_MAX_FDS) {
			sh->handover_fds[sh->n_handover++] = 3 + i;
		} else {
			(void)write(3 + i, "1", 1);	/* stop accepting */
			util_close(3 + i);
		}
	}
}

int
listener_open_all(struct shared *sh)
{
	struct worker			*w = &sh->workers[0];
	const struct config		*cfg = w->cfg;
	struct listener_activation	 act;
	size_t				 i, k, max = 0;
	int				 rc = 0;

	listener_activation_get(&act);
	for (i = 0; i < cfg->n_listeners; i++) {
		const struct listen_spec	*s = &cfg->listeners[i];

		if (s->kind == LISTEN_FDNAME)
			max += (size_t)listener_fdname_count(&act, s->fdname);
		else
			max += s->any_family ? 2 : 1;
	}
	/*
	 * Never moved once filled: each watcher's data points into it.  Room
	 * for every passed fd too: a previous process with more workers left
	 * more sockets per address in the fd store (listener_adopt_extra).
	 */
	for (k = 0; k < sh->n_workers; k++) {
		sh->workers[k].listeners = xcalloc(max + (size_t)act.n + 1,
		    sizeof(*w->listeners));
		sh->workers[k].n_listeners = 0;
	}
	for (i = 0; i < cfg->n_listeners && rc == 0; i++)
		rc = listener_open_spec(w, &cfg->listeners[i], &act);
	for (k = 1; k < sh->n_workers && rc == 0; k++)
		for (i = 0; i < sh->workers[0].n_listeners && rc == 0; i++)
			rc = listener_open_sibling(&sh->workers[k],
			    &sh->workers[0].listeners[i], &act);
	if (rc == 0)
		listener_adopt_extra(sh, &act);
	listener_take_handover(sh, &act);
	listener_activation_done(&act);
	if (rc == 0 && sh->n_workers > 1)
		rc = listener_share_all(sh);
	return rc;
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

/*
 * Remove a unix: listener's socket file, if it is still the one we bound
 * (not one that another instance has put there since).  After -user the
 * directory may no longer be writable for us: then the file stays, and the
 * next start replaces it as stale.
 */
static void
listener_unlink(struct listener *l)
{
	struct stat	st;

	if (l->unix_path == NULL)
		return;
	if (stat(l->unix_path, &st) == 0 && st.st_dev == l->unix_dev &&
	    st.st_ino == l->unix_ino && unlink(l->unix_path) == -1)
		log_debug("listen %s: unlink: %s", l->text, strerror(errno));
	free(l->unix_path);
	l->unix_path = NULL;
}

/* Stop watching for room (a slot freed): accepting again, or closing. */
static void
listener_room_stop(struct worker *w)
{
	struct accept_throttle	*t = &w->accept;

	ev_prepare_stop(w->loop, &t->room);
	ev_async_stop(w->loop, &t->wake);
	if (__atomic_load_n(&t->full, __ATOMIC_SEQ_CST)) {
		__atomic_store_n(&t->full, false, __ATOMIC_SEQ_CST);
		(void)__atomic_sub_fetch(&w->shared->n_full, 1,
		    __ATOMIC_SEQ_CST);
	}
}

void
listener_close_all(struct worker *w)
{
	ev_timer_stop(w->loop, &w->accept.pause);
	listener_room_stop(w);
	for (size_t i = 0; i < w->n_listeners; i++) {
		struct listener	*l = &w->listeners[i];

		ev_io_stop(w->loop, &l->io);
		util_close(l->fd);
		l->fd = -1;
		if (l->epfd != -1)
			util_close(l->epfd);
		l->epfd = -1;
		listener_unlink(l);
	}
	free(w->listeners);
	w->listeners = NULL;
	w->n_listeners = 0;
}

/* Accept again, unless draining or still stopped for the other reason. */
static void
listener_resume(struct worker *w)
{
	if (!w->draining && !w->accept.full &&
	    !ev_is_active(&w->accept.pause))
		listener_start_all(w);
}

static void
listener_pause_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	listener_resume(t->data);
}

/* While full: is there room again (a connection of any worker closed)? */
static void
listener_room(struct worker *w)
{
	if (!w->accept.full || !shared_conn_room(w->shared))
		return;
	listener_room_stop(w);
	listener_resume(w);
}

/* While full: before each poll (a close here), or listener_wake (elsewhere). */
static void
listener_room_cb(struct ev_loop *loop, ev_prepare *p, int revents)
{
	(void)loop;
	(void)revents;
	listener_room(p->data);
}

static void
listener_wake_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	(void)loop;
	(void)revents;
	listener_room(a->data);
}

void
listener_wake(struct worker *w)
{
	if (__atomic_load_n(&w->accept.full, __ATOMIC_SEQ_CST))
		ev_async_send(w->loop, &w->accept.wake);
}

void
listener_throttle_init(struct worker *w)
{
	struct accept_throttle	*t = &w->accept;

	t->full = false;
	ev_timer_init(&t->pause, listener_pause_cb, LISTENER_PAUSE, 0.);
	t->pause.data = w;
	ev_prepare_init(&t->room, listener_room_cb);
	t->room.data = w;
	ev_async_init(&t->wake, listener_wake_cb);
	t->wake.data = w;
}

/*
 * -max-connections reached, over every worker: stop accepting until a
 * connection closes (listener_room resumes).  New clients wait in the
 * kernel's backlog meanwhile, and past it their SYNs are dropped and
 * retried: the budget of descriptors stays with the connections already
 * open.  n_full is raised before the room is looked at again (the prepare
 * watcher runs before the loop blocks): a close that comes in between
 * either sees it and wakes us, or is seen (shared_conn_release).
 */
static void
listener_full(struct worker *w)
{
	struct accept_throttle	*t = &w->accept;
	ev_tstamp		 now = ev_now(w->loop);

	if (!t->full) {
		__atomic_store_n(&t->full, true, __ATOMIC_SEQ_CST);
		(void)__atomic_add_fetch(&w->shared->n_full, 1,
		    __ATOMIC_SEQ_CST);
	}
	listener_stop_all(w);
	ev_prepare_start(w->loop, &t->room);
	ev_async_start(w->loop, &t->wake);
	/* Once a minute for the daemon, not once per worker. */
	if (shared_ratelimit(&w->shared->full_log, now, 60.0, NULL))
		log_warn("%zu connections open: -max-connections reached, "
		    "accepting again when one closes",
		    __atomic_load_n(&w->shared->n_conns, __ATOMIC_RELAXED));
}

/* Out of descriptors or memory: pause all accepting, log at most once a second. */
static void
listener_pause(struct worker *w, struct listener *l, const char *why)
{
	struct accept_throttle	*t = &w->accept;
	ev_tstamp		 now = ev_now(w->loop);
	uint64_t		 skipped;

	w->counters.accept_errors++;
	/* The descriptor limit is the process's: one line for all workers. */
	if (shared_ratelimit(&w->shared->accept_err_log, now, 1.0, &skipped)) {
		if (skipped > 0)
			log_warn("accept on %s: %s; pausing accepts "
			    "(%llu similar errors not logged)", l->text, why,
			    (unsigned long long)skipped);
		else
			log_warn("accept on %s: %s; pausing accepts", l->text,
			    why);
	}
	listener_stop_all(w);
	ev_timer_stop(w->loop, &t->pause);
	ev_timer_set(&t->pause, LISTENER_PAUSE, 0.);
	ev_timer_start(w->loop, &t->pause);
}

/*
 * A slot of the daemon's budget is reserved before each accept (so the
 * workers never pass -max-connections together), given back when there
 * was nothing to accept.  On a shared socket EAGAIN is normal.
 */
void
listener_accept_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct listener		*l = io->data;
	struct worker		*w = l->w;
	union sockaddr_inet	 peer;
	socklen_t		 peerlen;
	char			 why[SOCK_ERR_MAX];
	int			 fd, i;

	(void)loop;
	(void)revents;
	for (i = 0; i < LISTENER_ACCEPT_BATCH; i++) {
		if (!shared_conn_reserve(w->shared)) {
			listener_full(w);
			return;
		}
		peerlen = sizeof(peer);
		switch (sock_accept(l->fd, &peer.sa, &peerlen, &fd, why,
		    sizeof(why))) {
		case SOCK_ACCEPT_OK:
			conn_accept(w, fd, &peer.sa, peerlen, l);
			break;
		case SOCK_ACCEPT_EMPTY:
			shared_conn_release(w->shared);
			return;
		case SOCK_ACCEPT_RETRY:
			shared_conn_release(w->shared);
			break;
		case SOCK_ACCEPT_EXHAUSTED:
		case SOCK_ACCEPT_FATAL:
			shared_conn_release(w->shared);
			/* The connection stays queued: retrying now would spin. */
			listener_pause(w, l, why);
			return;
		}
	}
}
