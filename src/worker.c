/*
 * worker: set-up, drain and tear-down of one event loop's context.
 */
#include "snid/worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "snid/conn.h"
#include "snid/listener.h"
#include "snid/log.h"
#include "snid/resolver.h"
#include "snid/util.h"

static void
worker_free_own_shared(struct worker *w)
{
	if (w->own_shared == NULL)
		return;
	shared_free(w->own_shared);
	free(w->own_shared);
	w->own_shared = NULL;
}

/*
 * The forced close at -shutdown-timeout is not free: each connection takes
 * two closes and the kernel's FINs, about 50 us of CPU here and more on a
 * loaded machine, so 10 000 connections closed "at" the bound would close
 * half a second after it.  A worker therefore starts closing early, by what
 * closing its own connections will take (workers close in parallel):
 *
 *   - first at DRAIN_COST_GUESS a connection, a generous guess, so that
 *     the first timer fires early enough to learn from;
 *   - when many are open then, it closes them DRAIN_SLICE at a time for
 *     DRAIN_SAMPLE_TIME and times that, letting its loop turn between
 *     slices: wall time over a stretch, not a burst, so that what the
 *     closes cost the rest of the machine (the peers' reactions to the
 *     FINs, other processes on the same cores) slows it as it will slow
 *     the rest; then it waits again until DRAIN_MARGIN times the measured
 *     cost before the bound, and closes the rest at once;
 *   - a connection that finishes by itself meanwhile shortens the work:
 *     each time the timer fires the lead is computed again from those
 *     still open, so it fires later rather than closing too early.
 *
 * worker_drain_lead clamps the lead: none for a handful of connections,
 * never more than half the timeout (a client is owed most of it), so
 * -shutdown-timeout 0 still closes everything at once.
 */
#define DRAIN_COST_GUESS	200e-6	/* s a connection, before measuring */
#define DRAIN_MARGIN		1.5	/* on the measured cost */
#define DRAIN_SLICE		64	/* connections closed per loop turn */
#define DRAIN_SAMPLE_TIME	0.02	/* s of closing to measure */
#define DRAIN_SLACK		0.005	/* s: closer than that is now */

double
worker_drain_lead(size_t n, double cost, double timeout)
{
	double	lead = (double)n * cost;

	if (timeout <= 0 || lead < WORKER_DRAIN_LEAD_MIN)
		return 0;
	return lead < timeout / 2 ? lead : timeout / 2;
}

/* The daemon's last worker to end its drain logs how it ended. */
static void
worker_drain_end(struct worker *w)
{
	struct shared	*sh = w->shared;

	if (w->drain_done)
		return;
	w->drain_done = true;
	if (__atomic_add_fetch(&sh->drain_ended, 1, __ATOMIC_SEQ_CST) ==
	    sh->n_workers && __atomic_load_n(&sh->drain_waited,
	    __ATOMIC_SEQ_CST) && !__atomic_load_n(&sh->drain_forced,
	    __ATOMIC_SEQ_CST))
		log_info("shutdown: every connection finished");
}

/*
 * The first worker to close connections itself says so, once for the
 * daemon, with every worker's open connections: the others close theirs
 * at about the same time, by the same bound.  lead: how early.
 */
static void
worker_drain_forced(struct worker *w, double lead)
{
	struct shared	*sh = w->shared;
	size_t		 n;

	if (__atomic_exchange_n(&sh->drain_forced, true, __ATOMIC_SEQ_CST))
		return;
	n = __atomic_load_n(&sh->n_conns, __ATOMIC_SEQ_CST);
	if (lead > 0)
		log_info("shutdown: closing %zu connection(s) now, %.3g s "
		    "early, so the last closes by -shutdown-timeout", n, lead);
	else
		log_info("shutdown: -shutdown-timeout reached, closing %zu "
		    "connection(s)", n);
}

static void
worker_drain_timeout_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker	*w = t->data;
	double		 timeout = w->cfg->shutdown_timeout, left, lead, took;

	(void)revents;
	for (;;) {
		left = w->drain_deadline - util_now();
		lead = worker_drain_lead(w->n_conns, w->drain_cost, timeout);
		if (w->drain_t0 == 0 && left - lead > DRAIN_SLACK) {
			/* Fewer to close than planned (or a learned rate). */
			ev_now_update(loop);
			ev_timer_set(t, left - lead, 0.);
			ev_timer_start(loop, t);
			return;
		}
		if (lead == 0 || w->drain_sampled ||
		    w->n_conns < 2 * DRAIN_SLICE)
			break;
		/* Learn this machine's cost on a stretch, then plan the rest. */
		if (w->drain_t0 == 0) {
			worker_drain_forced(w, left > 0 ? left : 0);
			w->drain_t0 = util_now();
			w->drain_closed = 0;
		}
		for (size_t i = 0; i < DRAIN_SLICE; i++)
			conn_close(w->conns, OUTCOME_SHUTDOWN);
		w->drain_closed += DRAIN_SLICE;
		took = util_now() - w->drain_t0;
		if (took < DRAIN_SAMPLE_TIME) {
			/* The loop (and the machine) turns in between. */
			ev_timer_set(t, 0., 0.);
			ev_timer_start(loop, t);
			return;
		}
		w->drain_cost = took / (double)w->drain_closed * DRAIN_MARGIN;
		w->drain_sampled = true;
		w->drain_t0 = 0;
		log_debug("shutdown: worker %u closed %zu connection(s) in "
		    "%.3g ms; %zu left", w->id, w->drain_closed, took * 1e3,
		    w->n_conns);
	}
	worker_drain_forced(w, lead > 0 && left > 0 ? left : 0);
	conn_close_all(w, OUTCOME_SHUTDOWN);
	worker_drain_end(w);
	ev_break(loop, EVBREAK_ALL);
}

int
worker_init(struct worker *w, struct ev_loop *loop, const struct config *cfg,
    struct shared *sh, unsigned id)
{
	memset(w, 0, sizeof(*w));
	w->loop = loop;
	w->cfg = cfg;
	w->id = id;
	if (sh == NULL) {
		w->own_shared = xcalloc(1, sizeof(*w->own_shared));
		if (shared_init(w->own_shared, w, 1) == -1) {
			free(w->own_shared);
			return -1;
		}
		sh = w->own_shared;
	}
	w->shared = sh;
	pipe_pool_init(&w->pipes, PIPE_POOL_MAX);
	linger_init(&w->linger, loop);
	listener_throttle_init(w);
	ev_timer_init(&w->drain_timer, worker_drain_timeout_cb,
	    cfg->shutdown_timeout > 0 ? cfg->shutdown_timeout : 0., 0.);
	w->drain_timer.data = w;
	worker_set_limits(w);
	w->resolver = resolver_new(w);
	if (w->resolver == NULL) {
		pipe_pool_destroy(&w->pipes);
		worker_free_own_shared(w);
		return -1;
	}
	return 0;
}

/*
 * A worker's share of the budgets: the descriptors and -hello-memory are
 * the daemon's (shared_set_limits has the arithmetic), and SO_REUSEPORT
 * spreads the connections evenly, so each worker takes 1/N of the pipes
 * and of the hello memory (at least room for one hello).
 */
void
worker_set_limits(struct worker *w)
{
	struct shared	*sh = w->shared;
	size_t		 n = sh->n_workers > 0 ? sh->n_workers : 1;

	if (w->own_shared != NULL)
		shared_set_limits(sh, w->cfg);
	pipe_pool_set_budget(&w->pipes, sh->pipe_budget / n);
	/* At least one hello of the largest size, however many workers. */
	w->hello_mem_max = sh->hello_mem_max / n;
	if (w->hello_mem_max < CLIENTHELLO_MAX_WIRE)
		w->hello_mem_max = CLIENTHELLO_MAX_WIRE;
}

void
worker_destroy(struct worker *w)
{
	conn_close_all(w, OUTCOME_SHUTDOWN);
	linger_close_all(&w->linger);
	if (w->listeners != NULL)
		listener_close_all(w);
	ev_timer_stop(w->loop, &w->drain_timer);
	/* After the conns: every lookup is detached, so no callback reaches a conn. */
	worker_reload_abort(w);
	resolver_free(w->resolver);
	w->resolver = NULL;
	pipe_pool_destroy(&w->pipes);
	dial_self_clear(&w->self);
	worker_free_own_shared(w);
}

void
worker_self_refresh(struct worker *w)
{
	dial_self_clear(&w->self);
	for (size_t i = 0; i < w->n_listeners; i++)
		if (w->listeners[i].fd != -1 &&
		    dial_self_add_fd(&w->self, w->listeners[i].fd) == -1)
			log_warn("listener %s: getsockname: %s",
			    w->listeners[i].text, strerror(errno));
	if (dial_self_load_host(&w->self) == -1)
		log_warn("the host's addresses: %s: only the loopback addresses count as "
		    "snid's own for wildcard listeners", strerror(errno));
}

void
worker_drain(struct worker *w)
{
	struct shared	*sh = w->shared;
	double		 timeout = w->cfg->shutdown_timeout > 0 ?
			    w->cfg->shutdown_timeout : 0.;
	size_t		 n;

	if (w->draining)
		return;
	w->draining = true;
	if (w->listeners != NULL)
		listener_close_all(w);
	/*
	 * The last worker to get here logs for the daemon: every listener is
	 * closed by then, and shared->n_conns counts every worker's
	 * connections.  It logs before it can end its own drain, so the last
	 * to end (worker_drain_end) sees drain_waited.
	 */
	if (__atomic_add_fetch(&sh->drain_started, 1, __ATOMIC_SEQ_CST) ==
	    sh->n_workers) {
		n = __atomic_load_n(&sh->n_conns, __ATOMIC_SEQ_CST);
		if (n == 0)
			log_info("shutdown: no connection open");
		else {
			log_info("shutdown: listeners closed, waiting up to "
			    "%.3g s for %zu connection(s)", timeout, n);
			__atomic_store_n(&sh->drain_waited, true,
			    __ATOMIC_SEQ_CST);
		}
	}
	if (w->n_conns == 0) {
		worker_drain_end(w);
		ev_break(w->loop, EVBREAK_ALL);
		return;
	}
	/*
	 * Set now, not at init: a reload may have changed -shutdown-timeout.
	 * The timer fires the lead early (see worker_drain_timeout_cb).
	 */
	w->drain_deadline = util_now() + timeout;
	w->drain_cost = DRAIN_COST_GUESS;
	ev_timer_set(&w->drain_timer, timeout - worker_drain_lead(w->n_conns,
	    w->drain_cost, timeout), 0.);
	ev_timer_start(w->loop, &w->drain_timer);
}

void
worker_close(struct worker *w)
{
	worker_drain(w);
	ev_timer_stop(w->loop, &w->drain_timer);
	/* Not "every connection finished": main logged the signal. */
	__atomic_store_n(&w->shared->drain_forced, true, __ATOMIC_SEQ_CST);
	conn_close_all(w, OUTCOME_SHUTDOWN);
	worker_drain_end(w);
	ev_break(w->loop, EVBREAK_ALL);
}

void
worker_conn_closed(struct worker *w)
{
	if (w->draining && w->n_conns == 0) {
		/* The drain timer, when it is not the one closing the rest. */
		ev_timer_stop(w->loop, &w->drain_timer);
		worker_drain_end(w);
		ev_break(w->loop, EVBREAK_ALL);
	}
}

/*
 * Warn once for each setting next changes that a running snid cannot take
 * (a row of the config table without CONFIG_O_RELOAD): cfg keeps the running
 * value of those.
 */
static void
worker_warn_kept(const struct config *next, const struct config *cfg)
{
	const struct config_option	*o;
	size_t				 i;

	for (i = 0; i < config_n_options; i++) {
		o = &config_options[i];
		/* A command-line flag comes from the same argv: it cannot change. */
		if ((o->flags & (CONFIG_O_RELOAD | CONFIG_O_CMDLINE)) ||
		    config_option_equal(o, next, cfg))
			continue;
		if (o->kind == CONFIG_K_LISTENERS)
			log_warn("reload: listener changes need a restart; "
			    "still listening as before");
		else
			log_warn("reload: %s changed: needs a restart; keeping "
			    "the running value", o->name);
	}
}

int
worker_reload_prepare(const struct worker *w, const struct config *cur,
    const struct config *next, struct config *out)
{
	char	err[CONFIG_ERR_MAX];

	/*
	 * Start from the running configuration and take over only what can
	 * change under running connections (the table's CONFIG_O_RELOAD
	 * rows); everything else (listeners, workers, mode, user, nat46
	 * prefix, unix directory, proxy-proto, metrics) is bound to sockets,
	 * threads or privileges set up at start-up.
	 */
	memcpy(out, cur, sizeof(*out));
	config_take_reloadable(out, next);

	/* The combination must be valid by itself (e.g. a mode change it does not follow). */
	if (config_validate(out, err, sizeof(err)) == -1) {
		log_error("reload: rejected, the new settings do not fit the "
		    "running ones (a restart would apply them): %s", err);
		return -1;
	}
	if (listener_check(out) == -1) {
		log_error("reload: rejected, see the line above");
		return -1;
	}
	/* An open listener without a port (unix:, or fd: of a unix socket) has no default. */
	for (size_t i = 0; i < w->n_listeners; i++)
		if (out->mode != MODE_UNIX && out->backend_port == 0 &&
		    w->listeners[i].port == 0) {
			log_error("reload: rejected: listener %s has no port to "
			    "use as the backend port: keep -backend-port",
			    w->listeners[i].text);
			return -1;
		}
	worker_warn_kept(next, out);
	return 0;
}

int
worker_reload_ready(struct worker *w, const struct config *out, uint64_t id)
{
	worker_reload_abort(w);
	/* resolver_prepare says why; the caller says what it means. */
	if ((w->reload_next = resolver_prepare(w->resolver, out)) == NULL)
		return -1;
	w->reload_cfg = out;
	w->reload_id = id;
	return 0;
}

void
worker_reload_commit(struct worker *w)
{
	if (w->reload_next == NULL)
		return;
	resolver_commit(&w->resolver, w->reload_next);
	w->reload_next = NULL;
	/* The host's addresses may have changed since start-up. */
	worker_self_refresh(w);
	/*
	 * The switch.  No module keeps a pointer into the configuration
	 * across callbacks (see worker.h), so from the next decision on every
	 * connection reads the new one, and the caller may free the old one
	 * once every worker has switched.
	 */
	w->cfg = w->reload_cfg;
	w->reload_cfg = NULL;
	worker_set_limits(w);
}

void
worker_reload_abort(struct worker *w)
{
	resolver_abort(w->reload_next);
	w->reload_next = NULL;
	w->reload_cfg = NULL;
}

int
worker_reload(struct worker *w, const struct config *next, struct config *out)
{
	const struct config	*cur = w->cfg;

	/* The same two phases as with threads, for one worker. */
	if (worker_reload_prepare(w, cur, next, out) == -1)
		return -1;
	if (worker_reload_ready(w, out, w->reload_id + 1) == -1) {
		log_error("reload: rejected: the resolver could not be set up "
		    "with the new DNS settings; the running configuration "
		    "stays");
		return -1;
	}
	worker_reload_commit(w);
	if (out->log_level != cur->log_level)
		log_init(2, out->log_level);
	return 0;
}
