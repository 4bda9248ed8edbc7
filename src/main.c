/*
 * snid: route TLS connections by their SNI to backends inside an allowed
 * address prefix, without decrypting them.
 *
 * Start-up order: configuration, log, the workers (a loop, a resolver each),
 * listeners (bound while we may still have the privilege), privilege drop
 * (capabilities are per thread: before any thread exists), then one thread
 * per worker (workers.h) while this thread's loop keeps the signals,
 * sd_notify and -metrics.  SIGTERM and SIGINT make every worker close its
 * listeners and let its connections finish within -shutdown-timeout;
 * SIGHUP reloads the configuration (main_hup_cb) in every worker.
 */
#include <ares.h>
#include <errno.h>
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "snid/addrspec.h"
#include "snid/config.h"
#include "snid/conn.h"
#include "snid/diagnose.h"
#include "snid/handover.h"
#include "snid/listener.h"
#include "snid/localroute.h"
#include "snid/log.h"
#include "snid/metricsd.h"
#include "snid/privs.h"
#include "snid/sdnotify.h"
#include "snid/shared.h"
#include "snid/util.h"
#include "snid/worker.h"
#include "snid/workers.h"

/* Main's state: signals, systemd, -metrics, the configurations. */
static struct {
	ev_signal	term, intr, hup;
	struct shared	*sh;
	struct metricsd	*metricsd;	/* the -metrics endpoint; NULL: off */
	struct sdnotify	notify;		/* systemd's NOTIFY_SOCKET, if any */
	ev_timer	watchdog;	/* WATCHDOG=1 at half of WATCHDOG_USEC */
	ev_timer	status;		/* STATUS= for `systemctl status` */
	int		argc;		/* for the reload: flags still override the file */
	char		**argv;
	const struct config *cfg;	/* the running configuration */
	struct config	*reloaded;	/* cfg after a reload (heap); NULL: the start-up one */
	struct config	**retired;	/* kept: a worker that did not switch uses one */
	size_t		 n_retired;
	bool		 draining;	/* SIGTERM came */
	bool		 handover;	/* SNID_HANDOVER=1: SIGTERM forks a drainer */
	ev_io		 handover_io;	/* the child: the handover pipe */
	ev_timer	 handover_cap;	/* the child: accept this long at most */
} main_sig;

/* How often STATUS= is refreshed while systemd listens. */
#define MAIN_STATUS_INTERVAL	5.0

/* Connections open now, every worker's. */
static size_t
main_open_conns(void)
{
	return __atomic_load_n(&main_sig.sh->n_conns, __ATOMIC_RELAXED);
}

/*
 * The watchdog proves that every loop still turns: each worker's loop
 * bumps a heartbeat from a timer of its own (workers_beating), so a worker
 * stuck in a callback stops the pings, as a stuck main loop does, and
 * systemd restarts us.
 */
static void
main_watchdog_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)t;
	(void)revents;
	if (workers_beating(main_sig.sh))
		(void)sdnotify_send(&main_sig.notify, "WATCHDOG=1");
}

static void
main_status_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker_stats	st;

	(void)loop;
	(void)t;
	(void)revents;
	workers_stats(main_sig.sh, &st, NULL);
	(void)sdnotify_sendf(&main_sig.notify,
	    "STATUS=%s%zu open connection(s), %llu accepted",
	    main_sig.draining ? "stopping: " : "", st.n_conns,
	    (unsigned long long)st.counters.accepted);
}

static void	main_notify_stop(struct ev_loop *);

/*
 * The handover's child: the next process accepts (or the unit stopped, or
 * -shutdown-timeout passed): stop accepting and drain (handover.h).
 */
static void
main_handover_done(struct ev_loop *loop, const char *why)
{
	ev_io_stop(loop, &main_sig.handover_io);
	ev_timer_stop(loop, &main_sig.handover_cap);
	util_close(main_sig.handover_io.fd);
	log_info("shutdown: %s: no longer accepting, %zu connection(s) to "
	    "drain", why, main_open_conns());
	(void)workers_request(main_sig.sh, WORKER_CMD_DRAIN, false, 0);
}

static void
main_handover_io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	char	b;

	(void)revents;
	main_handover_done(loop, read(io->fd, &b, 1) == 1 ?
	    "the next snid accepts" : "the fd store was flushed (stop)");
}

static void
main_handover_cap_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)t;
	(void)revents;
	main_handover_done(loop, "no successor within -shutdown-timeout");
}

/*
 * The restart handover (snid(8), UPGRADING): the listening sockets are in
 * systemd's fd store, so the next process can accept as soon as it runs;
 * a child takes the open connections and drains them (-shutdown-timeout
 * as before) while this process, systemd's main one, exits at once.  With
 * the handover pipe (pipe_rd != -1, handover.h) the child accepts too
 * until the next process does.  The unit's KillMode=process leaves the
 * child alone, as sshd's sessions.  fork keeps only the calling thread,
 * so the workers park first and the child starts their threads again
 * (workers_handover).  Returns 0 in the child, -1 when it could not
 * (drain here, as without the handover); the parent does not return.
 */
static int
main_handover(struct ev_loop *loop, int pipe_rd)
{
	size_t	n = main_open_conns();
	pid_t	pid;

	pid = workers_handover(main_sig.sh, pipe_rd != -1);
	if (pid == -1) {
		log_warn("shutdown: no handover (fork: %s); draining here",
		    strerror(errno));
		return -1;
	}
	if (pid > 0) {
		log_info("shutdown: %zu connection(s) left to pid %ld to drain%s; "
		    "the listeners stay in systemd's fd store", n, (long)pid,
		    pipe_rd != -1 ? ", accepting until the next snid does" : "");
		/* No cleanup: it would close what the child now serves. */
		_exit(0);
	}
	ev_loop_fork(loop);
	/* Not systemd's main process: no notifications, no watchdog. */
	main_notify_stop(loop);
	metricsd_close(&main_sig.metricsd);
	if (pipe_rd != -1) {
		ev_io_init(&main_sig.handover_io, main_handover_io_cb, pipe_rd,
		    EV_READ);
		ev_io_start(loop, &main_sig.handover_io);
		ev_timer_init(&main_sig.handover_cap, main_handover_cap_cb,
		    main_sig.sh->workers[0].cfg->shutdown_timeout, 0.);
		ev_timer_start(loop, &main_sig.handover_cap);
	}
	return 0;
}

static void
main_term_cb(struct ev_loop *loop, ev_signal *s, int revents)
{
	(void)loop;
	(void)revents;
	if (main_sig.draining) {
		/* A second signal: do not wait any longer. */
		log_info("shutdown: signal %d again, closing %zu connection(s) now",
		    s->signum, main_open_conns());
		(void)workers_request(main_sig.sh, WORKER_CMD_CLOSE, false, 0);
		return;
	}
	main_sig.draining = true;
	log_info("shutdown: signal %d", s->signum);
	(void)sdnotify_send(&main_sig.notify, "STOPPING=1");
	if (main_sig.handover) {
		/* With the pipe the child bridges the gap, even with no conns. */
		int	rd = handover_offer(&main_sig.notify);

		if ((rd != -1 || main_open_conns() > 0) &&
		    main_handover(loop, rd) == 0)
			return;
		util_close(rd);
	}
	/* Each worker's loop ends when it is drained; main's when all are. */
	(void)workers_request(main_sig.sh, WORKER_CMD_DRAIN, false, 0);
}

/*
 * A configuration no worker may still use is freed; one that a late
 * worker may still read (it has not switched yet, or is still preparing a
 * rejected reload) stays until exit.
 */
static void
main_retire(struct config *old, bool all_switched)
{
	if (old == NULL)
		return;
	if (all_switched) {
		free(old);
		return;
	}
	main_sig.retired = xrealloc(main_sig.retired,
	    (main_sig.n_retired + 1) * sizeof(*main_sig.retired));
	main_sig.retired[main_sig.n_retired++] = old;
}

/*
 * Load and check the configuration again for a reload; the workers switch
 * to *out.  Returns 0, or -1 after logging why (nothing changes).
 */
static int
main_reload_prepare(struct config *next, struct config *out)
{
	char			 err[CONFIG_ERR_MAX];
	enum config_status	 st;

	/* No output: -help, -version and -check would have ended the start-up. */
	st = config_load(next, main_sig.argc, main_sig.argv, NULL, err,
	    sizeof(err));
	if (st != CONFIG_RUN) {
		if (st == CONFIG_EXIT_USAGE)
			log_error("reload: rejected, the running configuration "
			    "stays: %s", err);
		else
			log_error("reload: rejected, the running configuration "
			    "stays");
		return -1;
	}
	return worker_reload_prepare(&main_sig.sh->workers[0], main_sig.cfg,
	    next, out);
}

/*
 * SIGHUP: read the configuration again, exactly as at start-up (the same
 * argv, so -config names the file and flags still override it), and apply
 * it for what happens next in every worker (see worker_reload_prepare); the
 * previous one is freed once every worker has switched.  A configuration
 * that does not load or validate, or that one worker cannot set up (its
 * resolver), changes nothing in any worker: all-or-nothing.  systemd's
 * Type=notify-reload protocol: RELOADING=1 with the CLOCK_MONOTONIC time,
 * then READY=1.
 */
static void
main_hup_cb(struct ev_loop *loop, ev_signal *s, int revents)
{
	struct config		*next, *out;
	struct timespec		 ts;
	bool			 ok = false, keep;

	(void)loop;
	(void)s;
	(void)revents;
	if (main_sig.draining) {
		log_info("reload: SIGHUP ignored while shutting down");
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	(void)sdnotify_sendf(&main_sig.notify, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL);
	log_info("reload: SIGHUP, reading the configuration again");

	next = xmalloc(sizeof(*next));
	out = xmalloc(sizeof(*out));
	if (main_reload_prepare(next, out) == -1) {
		free(out);
		goto done;
	}
	/* Every worker switches to out, or none does (workers.h). */
	if (workers_reload(main_sig.sh, out, &keep) == -1) {
		if (keep)
			main_retire(out, false);	/* a late worker reads it */
		else
			free(out);
		goto done;
	}
	ok = true;
	if (out->log_level != main_sig.cfg->log_level)
		log_init(2, out->log_level);
	main_retire(main_sig.reloaded, !keep);
	main_sig.reloaded = out;
	main_sig.cfg = out;
	log_info("reload: done; new connections use the new configuration");
done:
	free(next);
	(void)sdnotify_sendf(&main_sig.notify, "READY=1\nSTATUS=%s%zu open "
	    "connection(s)", ok ? "reloaded; " : "reload failed, running on "
	    "the previous configuration; ", main_open_conns());
}

/*
 * Each connection takes two sockets and, while data moves, up to four pipe
 * ends: the default soft limit of 1024 would cap snid near 170 busy
 * connections.  Raise the soft limit to the hard one.
 */
static void
main_raise_nofile(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		log_warn("raising the open file limit: %s", strerror(errno));
}

/*
 * The addresses worker 0 listens on, each once: every other worker has a
 * socket on each of them, and an extra socket kept from the fd store is
 * one more on an address already named.
 */
static size_t
main_n_addresses(const struct worker *w)
{
	size_t	i, n = 0;

	for (i = 0; i < w->n_listeners; i++)
		if (!w->listeners[i].extra)
			n++;
	return n;
}

/*
 * "ready: N listening socket(s): ADDR ...", each address as the kernel
 * bound it (getsockname), so that a -listen on port 0 tells its port;
 * each address once, however many workers have a socket on it.
 */
static void
main_log_ready(const struct worker *w)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl;
	char			 list[LOG_LINE_MAX - 64], a[ADDRSPEC_TEXT_MAX];
	size_t			 i, n = 0;

	list[0] = '\0';
	for (i = 0; i < w->n_listeners; i++) {
		if (w->listeners[i].extra)
			continue;
		sl = sizeof(ss);
		memset(&ss, 0, sizeof(ss));
		if (getsockname(w->listeners[i].fd, (struct sockaddr *)&ss,
		    &sl) == -1)
			snprintf(a, sizeof(a), "?");
		else
			addrspec_format((struct sockaddr *)&ss, sl, a,
			    sizeof(a));
		/* Room for " ADDR" and a closing " ..." */
		if (n + 1 + strlen(a) + 5 > sizeof(list)) {
			snprintf(list + n, sizeof(list) - n, " ...");
			break;
		}
		n += (size_t)snprintf(list + n, sizeof(list) - n, " %s", a);
	}
	log_info("ready: %zu listening socket(s):%s", main_n_addresses(w), list);
}

/*
 * -check: warn (stderr; the exit status stays 0) about each -backend-cidr
 * that covers a prefix this host routes to itself (its own addresses, a
 * nat46 /96 routed `local` inside the /64 the prefix names): clients could
 * then reach the VPS's own services through snid.  Without netlink (a unit
 * restricting address families) it says it could not look.
 */
static void
main_check_local_routes(const struct config *cfg)
{
	struct cidr	local[256];
	char		err[128], a[CIDR_STRLEN], b[CIDR_STRLEN];
	int		n;

	n = localroute_list(local, sizeof(local) / sizeof(local[0]), err,
	    sizeof(err));
	if (n == -1) {
		fprintf(stderr, "snid: warning: cannot read the local routes "
		    "(%s): -backend-cidr not checked against them\n", err);
		return;
	}
	if ((size_t)n > sizeof(local) / sizeof(local[0]))
		n = (int)(sizeof(local) / sizeof(local[0]));
	for (size_t i = 0; i < cfg->n_backend_cidrs; i++)
		for (int j = 0; j < n; j++) {
			if (!localroute_overlap(&cfg->backend_cidrs[i],
			    &local[j]))
				continue;
			cidr_format(&cfg->backend_cidrs[i], a, sizeof(a));
			cidr_format(&local[j], b, sizeof(b));
			fprintf(stderr, "snid: warning: -backend-cidr %s covers "
			    "%s, which this host routes to itself (a local "
			    "route): clients could reach its own services\n",
			    a, b);
		}
}

/*
 * The configuration, the log and what must hold before any socket is
 * opened.  Returns -1 to go on, else the exit status.
 */
static int
main_configure(struct config *cfg, int argc, char **argv)
{
	char	err[CONFIG_ERR_MAX];

	switch (config_load(cfg, argc, argv, stdout, err, sizeof(err))) {
	case CONFIG_RUN:
		break;
	case CONFIG_EXIT_OK:
		if (cfg->check)
			main_check_local_routes(cfg);
		return 0;
	case CONFIG_EXIT_USAGE:
	default:
		config_usage_error(stderr, err);
		return 2;
	}
	log_init(2, cfg->log_level);
	if (listener_check(cfg) == -1)
		return 2;
	/* A -user that cannot work stops us before any socket is opened. */
	if (privs_check(cfg->user) == -1)
		return 1;
	/* A peer that goes away must show up as EPIPE on the write, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	main_raise_nofile();
	return -1;
}

/*
 * Signals are caught from before the first socket is opened: one that
 * comes during start-up waits for the loop instead of killing us (SIGHUP's
 * default action) or being lost.
 */
static void
main_signals_start(struct ev_loop *loop, struct shared *sh,
    const struct config *cfg, int argc, char **argv)
{
	main_sig.sh = sh;
	main_sig.cfg = cfg;
	main_sig.argc = argc;
	main_sig.argv = argv;
	ev_signal_init(&main_sig.term, main_term_cb, SIGTERM);
	ev_signal_init(&main_sig.intr, main_term_cb, SIGINT);
	ev_signal_init(&main_sig.hup, main_hup_cb, SIGHUP);
	ev_signal_start(loop, &main_sig.term);
	ev_signal_start(loop, &main_sig.intr);
	ev_signal_start(loop, &main_sig.hup);
}

static void
main_signals_stop(struct ev_loop *loop)
{
	ev_signal_stop(loop, &main_sig.term);
	ev_signal_stop(loop, &main_sig.intr);
	ev_signal_stop(loop, &main_sig.hup);
}

/*
 * Type=notify: READY=1 once the listeners are open and the privileges
 * dropped, then the watchdog pings and STATUS= refreshes while systemd
 * listens.
 */
static void
main_notify_start(struct ev_loop *loop, const struct worker *w)
{
	char		err[160];
	uint64_t	usec;

	main_sig.notify.fd = -1;
	if (sdnotify_open(&main_sig.notify, err, sizeof(err)) == -1)
		log_warn("NOTIFY_SOCKET: %s", err);
	else
		(void)sdnotify_sendf(&main_sig.notify,
		    "READY=1\nSTATUS=listening on %zu socket(s)",
		    main_n_addresses(w));
	if (main_sig.notify.fd == -1)
		return;
	usec = sdnotify_watchdog_usec();
	if (usec != 0) {
		ev_timer_init(&main_sig.watchdog, main_watchdog_cb, 0.,
		    (double)usec / 2e6);
		ev_timer_again(loop, &main_sig.watchdog);
		(void)sdnotify_send(&main_sig.notify, "WATCHDOG=1");
	}
	ev_timer_init(&main_sig.status, main_status_cb,
	    MAIN_STATUS_INTERVAL, MAIN_STATUS_INTERVAL);
	ev_timer_start(loop, &main_sig.status);
}

/* One message carries at most this many descriptors (the kernel's SCM_MAX_FD). */
#define MAIN_FDSTORE_MAX	253

/*
 * Hand the tcp: listeners of every worker to systemd's fd store
 * (FileDescriptorStoreMax= in the unit; without it systemd drops them):
 * the next start takes them back (listener_open_all) instead of binding,
 * so a restart never closes the port, and no worker's accept queue is
 * lost.  The old entries go first: one no -listen names any more is not
 * kept (it was closed at start-up).
 */
static void
main_store_listeners(const struct shared *sh)
{
	int	*fds;
	size_t	 n, max = 0;

	main_sig.handover = getenv("SNID_HANDOVER") != NULL &&
	    strcmp(getenv("SNID_HANDOVER"), "1") == 0;
	for (size_t k = 0; k < sh->n_workers; k++)
		max += sh->workers[k].n_listeners;
	if (main_sig.notify.fd == -1 || max == 0)
		return;
	fds = xcalloc(max, sizeof(*fds));
	n = listener_store_fds(sh, fds, max);
	if (n > MAIN_FDSTORE_MAX) {
		log_warn("FDSTORE: %zu listening sockets, only %d are stored: "
		    "fewer -workers keep every queue over a restart", n,
		    MAIN_FDSTORE_MAX);
		n = MAIN_FDSTORE_MAX;
	}
	(void)sdnotify_send(&main_sig.notify, "FDSTOREREMOVE=1\nFDNAME="
	    LISTENER_FDSTORE_NAME);
	if (n > 0 && sdnotify_send_fds(&main_sig.notify, "FDSTORE=1\nFDNAME="
	    LISTENER_FDSTORE_NAME, fds, n) == -1)
		log_warn("FDSTORE: %s", strerror(errno));
	free(fds);
}

static void
main_notify_stop(struct ev_loop *loop)
{
	ev_timer_stop(loop, &main_sig.watchdog);
	ev_timer_stop(loop, &main_sig.status);
	sdnotify_close(&main_sig.notify);
}

/*
 * The workers: -workers N of them (0: one per CPU we may run on), each on
 * a loop of its own, sharing sh.  Returns how many were set up (all of
 * them, or fewer after logging why).
 */
static size_t
main_workers_init(struct shared *sh, const struct config *cfg)
{
	size_t	k;

	for (k = 0; k < sh->n_workers; k++) {
		struct ev_loop	*wl = ev_loop_new(EVFLAG_AUTO);

		if (wl == NULL) {
			log_error("worker %zu: cannot initialise its event "
			    "loop", k);
			break;
		}
		if (worker_init(&sh->workers[k], wl, cfg, sh, (unsigned)k) ==
		    -1) {
			ev_loop_destroy(wl);
			break;
		}
	}
	return k;
}

/* Listeners, -metrics, the privilege drop, then the threads. */
static int
main_start(struct ev_loop *loop, struct shared *sh, const struct config *cfg)
{
	uint64_t	usec = sdnotify_watchdog_usec();

	if (listener_open_all(sh) == -1 || metricsd_open(&main_sig.metricsd,
	    loop, &cfg->metrics, sh) == -1 || privs_drop(cfg->user) == -1)
		return -1;
	for (size_t k = 0; k < sh->n_workers; k++) {
		worker_self_refresh(&sh->workers[k]);
		listener_start_all(&sh->workers[k]);
	}
	/* A heartbeat at a quarter of the watchdog: two between pings. */
	if (workers_start(sh, loop, usec != 0 ? (double)usec / 4e6 : 0) == -1) {
		/* The threads that did start end at once; main's loop with them. */
		(void)workers_request(sh, WORKER_CMD_CLOSE, false, 0);
		if (sh->workers[0].running)
			ev_run(loop, 0);
		return -1;
	}
	/*
	 * The log says it too: "listening on" lines come one listener at a
	 * time, "ready" once all of them take clients.
	 */
	main_log_ready(&sh->workers[0]);
	if (sh->n_workers > 1)
		log_info("%zu workers", sh->n_workers);
	main_notify_start(loop, &sh->workers[0]);
	main_store_listeners(sh);
	/* We accept: a predecessor's child may stop (handover.h). */
	handover_release(&main_sig.notify, sh->handover_fds, sh->n_handover);
	sh->n_handover = 0;
	return 0;
}

int
main(int argc, char **argv)
{
	static struct config	cfg;	/* 100+ KiB: not on the stack */
	static struct shared	sh;
	struct ev_loop		*loop;
	struct worker		*ws;
	size_t			 n, k;
	int			 rc, status = 0;

	rc = main_configure(&cfg, argc, argv);
	if (rc != -1)
		return rc;
	if (cfg.has_diagnose)		/* instead of serving: diagnose.h */
		return diagnose_run(&cfg);
	rc = ares_library_init(ARES_LIB_INIT_ALL);
	if (rc != ARES_SUCCESS) {
		log_error("ares_library_init: %s", ares_strerror(rc));
		return 1;
	}
	loop = ev_default_loop(EVFLAG_AUTO);
	if (loop == NULL) {
		log_error("cannot initialise the event loop");
		ares_library_cleanup();
		return 1;
	}
	n = cfg.workers != 0 ? cfg.workers : shared_cpus();
	ws = xcalloc(n, sizeof(*ws));
	if (shared_init(&sh, ws, n) == -1) {
		ares_library_cleanup();
		return 1;
	}
	shared_set_limits(&sh, &cfg);
	sh.dns = resolver_shared_new(&cfg);
	k = main_workers_init(&sh, &cfg);
	main_signals_start(loop, &sh, &cfg, argc, argv);
	if (k < n || main_start(loop, &sh, &cfg) == -1)
		status = 1;
	else {
		/* The loop ends when every worker's has: drained, or closed. */
		ev_run(loop, 0);
		main_notify_stop(loop);
	}
	workers_join(&sh);
	main_signals_stop(loop);
	metricsd_close(&main_sig.metricsd);
	while (k-- > 0) {
		struct ev_loop	*wl = ws[k].loop;

		worker_destroy(&ws[k]);
		ev_loop_destroy(wl);
	}
	resolver_shared_free(sh.dns);
	shared_free(&sh);
	free(ws);
	free(main_sig.reloaded);
	for (k = 0; k < main_sig.n_retired; k++)
		free(main_sig.retired[k]);
	free(main_sig.retired);
	ev_loop_destroy(loop);
	ares_library_cleanup();
	if (status == 0)
		log_info("exiting");
	return status;
}
