/*
 * worker: the context of one event loop.  Every I/O module takes a
 * struct worker * (pump only the worker's pipe pool).  -workers N runs N of
 * them, one thread each (workers.h); what they share is in struct shared
 * (shared.h): the connection budget, the per-source table, and the
 * configuration, read-only, that main swaps on a reload.  Everything else
 * here belongs to the worker's own thread: no other thread reads or writes
 * it, except the fields marked for workers.c.
 */
#ifndef SNID_WORKER_H
#define SNID_WORKER_H

#include <ev.h>
#include <pthread.h>
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
#include "snid/resolver.h"
#include "snid/shared.h"

struct conn;
struct metricsd;
struct resolver;

struct worker_counters {
	uint64_t	accepted;
	uint64_t	closed;
	uint64_t	by_outcome[OUTCOME_COUNT];
	uint64_t	accept_errors;
};

/*
 * What one worker counted, copied by its own thread for a scrape or
 * STATUS= (workers_stats sums them).
 */
struct worker_stats {
	struct worker_counters	 counters;
	struct metrics		 metrics;
	struct resolver_stats	 dns;
	size_t			 n_conns;
};

struct worker {
	struct ev_loop		*loop;
	struct shared		*shared;	/* the daemon's, see shared.h */
	struct shared		*own_shared;	/* a lone worker's (tests), or NULL */
	unsigned		 id;		/* 0 .. n_workers - 1 */
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
	size_t			 n_conns;	/* this worker's; shared->n_conns counts all */
	/*
	 * The connections still reading (PROXY_HDR, HTTP_HEAD, HELLO), oldest
	 * first, and the bytes their buffers hold, for -hello-memory (conn's).
	 */
	struct conn		*hello_head, *hello_tail;
	size_t			 hello_mem, hello_mem_max;	/* max: its share */

	struct listener		*listeners;	/* array of n_listeners (listener.c) */
	size_t			 n_listeners;
	struct accept_throttle	 accept;	/* listener.c's, see listener.h */
	/* What the listeners listen on: never a backend (worker_self_refresh). */
	struct dial_self	 self;
	/* Refused clients read to their EOF before close (linger.h). */
	struct linger_set	 linger;

	bool			 draining;	/* SIGTERM: listeners closed, conns finishing */
	ev_timer		 drain_timer;	/* -shutdown-timeout, less the lead */
	double			 drain_deadline; /* CLOCK_MONOTONIC s: the bound */
	double			 drain_cost;	/* s to close one conn (estimate) */
	double			 drain_t0;	/* measuring since, or 0 */
	size_t			 drain_closed;	/* ... closed since drain_t0 */
	bool			 drain_sampled;	/* drain_cost was measured */
	bool			 drain_done;	/* counted in shared->drain_ended */

	/* Scratch for clienthello_parse: 2.4 KiB that no conn needs to keep. */
	struct clienthello	 hello;

	struct worker_counters	 counters;
	struct metrics		 metrics;	/* -metrics: bytes, DNS, histograms */

	/*
	 * workers.c: main's requests (an ev_async and the bits it carries)
	 * and the heartbeat the watchdog checks.  The fields marked ctl are
	 * under shared->ctl_lock; beat and cmd_bits are atomics.
	 */
	ev_async		 cmd;
	unsigned		 cmd_bits;	/* WORKER_CMD_* pending */
	const struct config	*cmd_cfg;	/* ctl: RELOAD's configuration */
	int			 cmd_rc;	/* ctl: RELOAD phase 1: 0 ready, -1 not */
	uint64_t		 reload_answered; /* ctl: the reload cmd_rc answers */
	/* Reload phase 1's result, the worker's own until phase 2 (workers.c). */
	struct resolver		*reload_next;	/* built, not in use */
	const struct config	*reload_cfg;	/* ... for this configuration */
	uint64_t		 reload_id;	/* ... of this reload */
	uint64_t		 reload_seen;	/* the last reload prepared */
	uint64_t		 acked;		/* ctl: the last request handled */
	bool			 running;	/* ctl: a thread runs the loop */
	bool			 exited;	/* ctl: ... and has ended */
	bool			 start_drain;	/* the handover's child: drain first */
	pthread_t		 thread;
	ev_timer		 beat_timer;
	uint64_t		 beat;		/* loop turns the heartbeat saw */
	uint64_t		 beat_seen;	/* ctl: beat at the last ping */
	struct worker_stats	 stats;		/* ctl: the last copy */
};

/*
 * Set up w, worker id of sh, on loop: resolver and pipe pool.  Listeners
 * are opened separately (listener_open_all) so main can drop privileges
 * in between.  sh NULL: a lone worker with a struct shared of its own
 * (tests).  Returns 0, or -1 after logging why.
 */
int	worker_init(struct worker *w, struct ev_loop *loop,
	    const struct config *cfg, struct shared *sh, unsigned id);

/* Close every connection (outcome OUTCOME_SHUTDOWN), listener, pipe, the resolver. */
void	worker_destroy(struct worker *w);

/*
 * Stop accepting (close the listeners) and let the open connections finish
 * within -shutdown-timeout; the loop is broken when the last one closes or
 * the time is up.  The connections still open are closed early enough for
 * the last close to land by the bound (worker_drain_lead).  The drain's log
 * lines come once for the daemon (shared->drain_*), not once per worker.
 */
void	worker_drain(struct worker *w);

/* A second SIGTERM: drain if not yet, close every connection now. */
void	worker_close(struct worker *w);

/*
 * How long before the bound a worker starts closing its n open connections
 * when closing one takes cost seconds: n * cost, but 0 below
 * WORKER_DRAIN_LEAD_MIN (a handful of connections close at the bound), and
 * at most half of timeout (0 when timeout <= 0: close at once, as asked).
 */
#define WORKER_DRAIN_LEAD_MIN	0.01
double	worker_drain_lead(size_t n, double cost, double timeout);

/*
 * Take w's share of the daemon's pipe budget and -hello-memory (1/N each;
 * shared_set_limits computes them).  A lone worker computes its shared
 * budgets first.  A higher budget takes effect at once, also while
 * accepting is stopped at the old one.
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
 * Reload, main's half: build in *out what the workers switch to from cur
 * (the running configuration) and next (freshly loaded and valid): the
 * settings the config table marks CONFIG_O_RELOAD (the allow-list,
 * -backend-port, -default-hostname, the timeouts, -max-connections, the
 * DNS servers, the log level) are taken from next; every other setting
 * keeps its running value, with a warning naming each one next changes
 * ("needs a restart").  w is any worker (its listeners are checked).
 * Returns 0, or -1 after logging why.
 */
int	worker_reload_prepare(const struct worker *w, const struct config *cur,
	    const struct config *next, struct config *out);

/*
 * Reload, each worker's half, in its own thread, in two phases so that
 * every worker switches or none does (workers.h).  worker_reload_ready
 * builds what can fail for out (prepared above; the resolver, not in use)
 * and keeps it in w->reload_next for reload number id: returns 0, or -1
 * after logging why (nothing held), w unchanged either way.  Then exactly
 * one of: worker_reload_commit installs what is held and switches w->cfg
 * to it; worker_reload_abort frees it (nothing held: no-op).
 */
int	worker_reload_ready(struct worker *w, const struct config *out,
	    uint64_t id);
void	worker_reload_commit(struct worker *w);
void	worker_reload_abort(struct worker *w);

/* Both halves for a lone worker: returns 0 with w->cfg == out, or -1. */
int	worker_reload(struct worker *w, const struct config *next,
	    struct config *out);

#endif
