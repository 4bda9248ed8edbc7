/*
 * worker: the context of one event loop.  Every I/O module takes a
 * struct worker * (pump only the worker's pipe pool), so running one loop
 * per thread (SO_REUSEPORT) later means creating several of these, with
 * nothing shared but the read-only config.
 */
#ifndef SNID_WORKER_H
#define SNID_WORKER_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snid/clienthello.h"
#include "snid/config.h"
#include "snid/dial.h"
#include "snid/linger.h"
#include "snid/listener.h"
#include "snid/metrics.h"
#include "snid/outcome.h"
#include "snid/pipepool.h"
#include "snid/srclimit.h"

struct conn;
struct metricsd;
struct resolver;

struct worker_counters {
	uint64_t	accepted;
	uint64_t	closed;
	uint64_t	by_outcome[OUTCOME_COUNT];
	uint64_t	accept_errors;
};

struct worker {
	struct ev_loop		*loop;
	/*
	 * The running configuration.  A reload (SIGHUP) replaces it between
	 * two callbacks and frees the old one, so code reads w->cfg at the
	 * moment it decides and never keeps a pointer into it: a connection
	 * decides with the configuration current at each step (accept: the
	 * backend port; after the hello: default host name and DNS timeout;
	 * at connect: the allow-list and connect timeout), and one whose
	 * bytes already flow reads it no more.  Armed timers keep their time.
	 */
	const struct config	*cfg;
	struct resolver		*resolver;
	struct pipe_pool	 pipes;

	struct conn		*conns;		/* every open connection (conn.c links them) */
	size_t			 n_conns;
	/* Connections per source, -max-connections-per-source (conn.c's). */
	struct srclimit		 srclimit;
	/*
	 * The connections still reading (PROXY_HDR, HTTP_HEAD, HELLO), oldest
	 * first, and the bytes their buffers hold, for -hello-memory (conn's).
	 */
	struct conn		*hello_head, *hello_tail;
	size_t			 hello_mem, hello_mem_max;

	struct listener		*listeners;	/* array of n_listeners (listener.c) */
	size_t			 n_listeners;
	struct accept_throttle	 accept;	/* listener.c's, see listener.h */
	/* What the listeners listen on: never a backend (worker_self_refresh). */
	struct dial_self	 self;
	/* Refused clients read to their EOF before close (linger.h). */
	struct linger_set	 linger;

	bool			 draining;	/* SIGTERM: listeners closed, conns finishing */
	ev_timer		 drain_timer;	/* -shutdown-timeout */

	/* Scratch for clienthello_parse: 2.4 KiB that no conn needs to keep. */
	struct clienthello	 hello;

	struct worker_counters	 counters;
	struct metrics		 metrics;	/* -metrics: bytes, DNS, histograms */
	struct metricsd		*metricsd;	/* the -metrics endpoint; NULL: off */
};

/*
 * Set up w on loop: resolver and pipe pool.  Listeners are opened separately
 * (listener_open_all) so main can drop privileges in between.  Returns 0, or
 * -1 after logging why.
 */
int	worker_init(struct worker *w, struct ev_loop *loop,
	    const struct config *cfg);

/* Close every connection (outcome OUTCOME_SHUTDOWN), listener, pipe, the resolver. */
void	worker_destroy(struct worker *w);

/*
 * Stop accepting (close the listeners) and let the open connections finish
 * within -shutdown-timeout; the loop is broken when the last one closes or
 * the time is up.
 */
void	worker_drain(struct worker *w);

/*
 * Set the connection budget (w->accept.max_conns) and the pipe budget
 * from cfg->max_connections and the open-file limit, and size the
 * per-source table for that many sources.  A higher budget takes effect at
 * once, also while accepting is stopped at the old one.
 */
void	worker_set_limits(struct worker *w);

/*
 * (Re)build w->self from the open listeners and the host's addresses
 * (getifaddrs): after the listeners are opened, and on each reload, so an
 * address added to the host is known from the next reload on.
 */
void	worker_self_refresh(struct worker *w);

/*
 * Called by conn_close after a connection is gone (and w->n_conns counts it
 * no more): ends a drain when it was the last.  It does not call into the
 * listener: accepting resumes by itself when there is room (listener.h).
 */
void	worker_conn_closed(struct worker *w);

/*
 * Reload: make next (a freshly loaded, valid configuration) the running
 * one, built in *out: the settings the config table marks CONFIG_O_RELOAD
 * (the allow-list, -backend-port, -default-hostname, the timeouts,
 * -max-connections, the DNS servers, the log level) are taken from next;
 * every other setting keeps its running value, with a warning naming each
 * one next changes ("needs a restart").  All or nothing: returns 0 with
 * w->cfg == out (the caller may free the previous configuration), or -1
 * after logging why, nothing changed.
 */
int	worker_reload(struct worker *w, const struct config *next,
	    struct config *out);

#endif
