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

static void
worker_drain_timeout_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker	*w = t->data;

	(void)revents;
	log_info("shutdown: -shutdown-timeout reached, closing %zu connection(s)",
	    w->n_conns);
	conn_close_all(w, OUTCOME_SHUTDOWN);
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
	if (w->draining)
		return;
	w->draining = true;
	if (w->listeners != NULL)
		listener_close_all(w);
	if (w->n_conns == 0) {
		log_info("shutdown: no connection open");
		ev_break(w->loop, EVBREAK_ALL);
		return;
	}
	log_info("shutdown: listeners closed, waiting up to %.3g s for %zu "
	    "connection(s)", w->cfg->shutdown_timeout, w->n_conns);
	/* Set now, not at init: a reload may have changed -shutdown-timeout. */
	ev_timer_set(&w->drain_timer, w->cfg->shutdown_timeout > 0 ?
	    w->cfg->shutdown_timeout : 0., 0.);
	ev_timer_start(w->loop, &w->drain_timer);
}

void
worker_conn_closed(struct worker *w)
{
	if (w->draining && w->n_conns == 0) {
		/* Not when the drain timer itself is closing the rest. */
		if (ev_is_active(&w->drain_timer)) {
			ev_timer_stop(w->loop, &w->drain_timer);
			log_info("shutdown: every connection finished");
		}
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
