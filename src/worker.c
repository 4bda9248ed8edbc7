/*
 * worker: set-up, drain and tear-down of one event loop's context.
 */
#include "snid/worker.h"

#include <string.h>

#include "snid/conn.h"
#include "snid/listener.h"
#include "snid/log.h"
#include "snid/resolver.h"

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
worker_init(struct worker *w, struct ev_loop *loop, const struct config *cfg)
{
	memset(w, 0, sizeof(*w));
	w->loop = loop;
	w->cfg = cfg;
	pipe_pool_init(&w->pipes, PIPE_POOL_MAX);
	ev_init(&w->accept_pause, NULL);
	ev_timer_init(&w->drain_timer, worker_drain_timeout_cb,
	    cfg->shutdown_timeout > 0 ? cfg->shutdown_timeout : 0., 0.);
	w->drain_timer.data = w;
	w->accept_err_last = -1e9;
	w->resolver = resolver_new(w);
	if (w->resolver == NULL) {
		pipe_pool_destroy(&w->pipes);
		return -1;
	}
	return 0;
}

void
worker_destroy(struct worker *w)
{
	conn_close_all(w, OUTCOME_SHUTDOWN);
	if (w->listeners != NULL)
		listener_close_all(w);
	ev_timer_stop(w->loop, &w->drain_timer);
	/* After the conns: every lookup is detached, so no callback reaches a conn. */
	resolver_free(w->resolver);
	w->resolver = NULL;
	pipe_pool_destroy(&w->pipes);
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
