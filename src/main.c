/*
 * snid: route TLS connections by their SNI to backends inside an allowed
 * address prefix, without decrypting them.
 *
 * Start-up order: configuration, log, listeners (bound while we may still
 * have the privilege), resolver, privilege drop, then the loop.  SIGTERM and
 * SIGINT close the listeners and let open connections finish within
 * -shutdown-timeout; SIGHUP will reload (not yet).
 */
#include <ares.h>
#include <errno.h>
#include <ev.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "snid/config.h"
#include "snid/conn.h"
#include "snid/listener.h"
#include "snid/log.h"
#include "snid/sdnotify.h"
#include "snid/worker.h"

/* Signal watchers: the only mutable state outside a worker. */
static struct {
	ev_signal	term, intr, hup;
	struct worker	*w;
	struct sdnotify	notify;		/* systemd's NOTIFY_SOCKET, if any */
	ev_timer	watchdog;	/* WATCHDOG=1 at half of WATCHDOG_USEC */
	ev_timer	status;		/* STATUS= for `systemctl status` */
} main_sig;

/* How often STATUS= is refreshed while systemd listens. */
#define MAIN_STATUS_INTERVAL	5.0

/*
 * The watchdog proves the loop still turns: it is sent from a timer of the
 * loop itself, so a loop stuck in a callback stops the pings and systemd
 * restarts us.
 */
static void
main_watchdog_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)t;
	(void)revents;
	(void)sdnotify_send(&main_sig.notify, "WATCHDOG=1");
}

static void
main_status_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker	*w = main_sig.w;

	(void)loop;
	(void)t;
	(void)revents;
	(void)sdnotify_sendf(&main_sig.notify,
	    "STATUS=%s%zu open connection(s), %llu accepted",
	    w->draining ? "stopping: " : "", w->n_conns,
	    (unsigned long long)w->counters.accepted);
}

static void
main_term_cb(struct ev_loop *loop, ev_signal *s, int revents)
{
	struct worker	*w = main_sig.w;

	(void)revents;
	if (w->draining) {
		/* A second signal: do not wait any longer. */
		log_info("shutdown: signal %d again, closing %zu connection(s) now",
		    s->signum, w->n_conns);
		conn_close_all(w, OUTCOME_SHUTDOWN);
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	log_info("shutdown: signal %d", s->signum);
	(void)sdnotify_send(&main_sig.notify, "STOPPING=1");
	worker_drain(w);
}

static void
main_hup_cb(struct ev_loop *loop, ev_signal *s, int revents)
{
	(void)loop;
	(void)s;
	(void)revents;
	log_warn("SIGHUP: reload not implemented yet; configuration unchanged");
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
 * -user: switch to that user's uid, gid and groups once the listeners are
 * bound, and forbid regaining privileges (no_new_privs).  Capabilities are
 * a later refinement (privs module); this is the plain switch.
 */
static int
main_drop_privileges(const char *user)
{
	struct passwd	*pw;

	errno = 0;
	pw = getpwnam(user);
	if (pw == NULL) {
		log_error("-user %s: %s", user,
		    errno != 0 ? strerror(errno) : "no such user");
		return -1;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) == -1) {
		log_error("-user %s: initgroups: %s", user, strerror(errno));
		return -1;
	}
	if (setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1) {
		log_error("-user %s: setresgid: %s", user, strerror(errno));
		return -1;
	}
	if (setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1) {
		log_error("-user %s: setresuid: %s", user, strerror(errno));
		return -1;
	}
	if (pw->pw_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		log_error("-user %s: could regain root after dropping it", user);
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		log_error("-user %s: PR_SET_NO_NEW_PRIVS: %s", user,
		    strerror(errno));
		return -1;
	}
	log_info("running as user %s (uid %u, gid %u)", user,
	    (unsigned)pw->pw_uid, (unsigned)pw->pw_gid);
	return 0;
}

int
main(int argc, char **argv)
{
	static struct config	cfg;	/* 100+ KiB: not on the stack */
	static struct worker	w;
	struct ev_loop		*loop;
	int			 rc, status = 0;

	switch (config_load(&cfg, argc, argv, stdout, stderr)) {
	case CONFIG_RUN:
		break;
	case CONFIG_EXIT_OK:
		return 0;
	case CONFIG_EXIT_USAGE:
	default:
		return 2;
	}
	log_init(2, cfg.log_level);
	if (listener_check(&cfg) == -1)
		return 2;
	/* A peer that goes away must show up as EPIPE on the write, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	main_raise_nofile();

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
	if (worker_init(&w, loop, &cfg) == -1) {
		ares_library_cleanup();
		return 1;
	}
	if (listener_open_all(&w) == -1 ||
	    (cfg.user[0] != '\0' && main_drop_privileges(cfg.user) == -1)) {
		status = 1;
		goto out;
	}
	listener_start_all(&w);

	main_sig.w = &w;
	ev_signal_init(&main_sig.term, main_term_cb, SIGTERM);
	ev_signal_init(&main_sig.intr, main_term_cb, SIGINT);
	ev_signal_init(&main_sig.hup, main_hup_cb, SIGHUP);
	ev_signal_start(loop, &main_sig.term);
	ev_signal_start(loop, &main_sig.intr);
	ev_signal_start(loop, &main_sig.hup);

	/* Type=notify: the listeners are open, the privileges dropped. */
	{
		char	err[160];

		main_sig.notify.fd = -1;
		if (sdnotify_open(&main_sig.notify, err, sizeof(err)) == -1)
			log_warn("NOTIFY_SOCKET: %s", err);
		else
			(void)sdnotify_sendf(&main_sig.notify,
			    "READY=1\nSTATUS=listening on %zu socket(s)",
			    w.n_listeners);
	}
	if (main_sig.notify.fd != -1) {
		uint64_t	usec = sdnotify_watchdog_usec();

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

	/* The loop ends by ev_break: drain done, or a second signal. */
	ev_run(loop, 0);
	ev_timer_stop(loop, &main_sig.watchdog);
	ev_timer_stop(loop, &main_sig.status);
	sdnotify_close(&main_sig.notify);

	ev_signal_stop(loop, &main_sig.term);
	ev_signal_stop(loop, &main_sig.intr);
	ev_signal_stop(loop, &main_sig.hup);
out:
	worker_destroy(&w);
	ev_loop_destroy(loop);
	ares_library_cleanup();
	if (status == 0)
		log_info("exiting");
	return status;
}
