/*
 * shared: what the workers of one daemon share (-workers N; worker.h is
 * what each keeps to itself).  Made once by main before the workers and
 * freed after their threads are gone.
 *
 *   n_conns, max_conns   -max-connections counts every worker's
 *                        connections: a worker reserves a slot before each
 *                        accept (shared_conn_reserve), so N workers never
 *                        pass the limit together; atomics, no lock
 *   srclimit             -max-connections-per-source: one table behind
 *                        src_lock, held for one table operation
 *   workers, ctl_*       the workers, and main's requests to them
 *                        (workers.h): reload, drain, statistics, handover
 *
 * Everything else a connection touches is its worker's: its loop, pipes,
 * hello memory (-hello-memory / N each), counters (summed at scrape time).
 */
#ifndef SNID_SHARED_H
#define SNID_SHARED_H

#include <ev.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snid/config.h"
#include "snid/handover.h"
#include "snid/srclimit.h"

struct worker;

/*
 * A log line limited to one per period for the whole daemon, whichever
 * worker meets its cause (shared_ratelimit).  Atomics, no lock.
 */
struct shared_ratelimit {
	int64_t		 last_ms;	/* when a caller last got true; 0: never */
	uint64_t	 skipped;	/* callers refused since then */
};

struct shared {
	/* Atomics (__atomic_*), read and written by every worker. */
	size_t		 n_conns;	/* open connections, every worker */
	size_t		 max_conns;	/* the budget (shared_set_limits) */
	unsigned	 n_full;	/* workers stopped at max_conns */
	/* Once-a-period warnings (listener.c): one line per daemon. */
	struct shared_ratelimit	 full_log;	/* -max-connections reached */
	struct shared_ratelimit	 accept_err_log; /* accept: EMFILE & co */

	size_t		 pipe_budget;	/* pipes for the whole daemon */
	size_t		 hello_mem_max;	/* -hello-memory for the whole daemon */

	pthread_mutex_t	 src_lock;	/* srclimit */
	struct srclimit	 srclimit;
	uint64_t	 src_seed;

	struct resolver_shared	*dns;	/* the DNS cache and queries (resolver.h) */

	struct worker	*workers;	/* n_workers of them (main's array) */
	size_t		 n_workers;

	/* workers.c: main's requests; under ctl_lock. */
	pthread_mutex_t	 ctl_lock;
	pthread_cond_t	 ctl_cond;
	uint64_t	 ctl_gen;	/* the latest request */
	bool		 ctl_park;	/* handover: parked workers wait while set */
	bool		 park_listen;	/* handover: parked workers keep listening */
	uint64_t	 reload_id;	/* the latest reload (workers_reload) */
	int		 reload_state;	/* its phase: WORKERS_RELOAD_* */
	uint64_t	 reload_committed; /* the latest reload all switch to */

	/* Predecessors' handover pipes passed by systemd (handover.h). */
	int		 handover_fds[HANDOVER_MAX_FDS];
	size_t		 n_handover;
	struct ev_loop	*main_loop;	/* NULL: no threads (one loop, tests) */
	ev_async	 ctl_done;	/* on main_loop: a worker's thread ended */

	/* worker.c: the drain, logged once for the daemon; atomics. */
	unsigned	 drain_started;	/* workers that began draining */
	unsigned	 drain_ended;	/* ... and ended their drain */
	bool		 drain_waited;	/* connections were open at the start */
	bool		 drain_forced;	/* some were closed, not finished */
};

/* Set up sh for the n workers of the array workers.  Returns 0 or -1. */
int	shared_init(struct shared *sh, struct worker *workers, size_t n);
void	shared_free(struct shared *sh);

/*
 * The connection and pipe budgets from cfg->max_connections and the
 * open-file limit (worker.c's arithmetic, for the whole daemon), the
 * per-source table grown to fit, and the workers stopped at the old
 * budget woken when it rose.  At start-up and on each reload.
 */
void	shared_set_limits(struct shared *sh, const struct config *cfg);

/* One more connection, unless max_conns are open: then false. */
bool	shared_conn_reserve(struct shared *sh);

/* A reserved slot is free again; wakes the workers stopped for want of one. */
void	shared_conn_release(struct shared *sh);

/* Whether a connection may be reserved now. */
bool	shared_conn_room(const struct shared *sh);

/* srclimit_acquire and srclimit_release on the daemon's table. */
bool	shared_src_acquire(struct shared *sh, const struct srclimit_key *k,
	    uint32_t limit);
void	shared_src_release(struct shared *sh, const struct srclimit_key *k);

/*
 * Whether to log now: true for at most one caller per period seconds
 * (now: a clock every worker reads alike, such as ev_now; a caller whose
 * clock lags the last winner's waits a whole period), by compare-and-swap
 * on rl->last_ms.  A caller refused is counted; the one that gets true
 * takes in *skipped (NULL: not wanted) how many were refused since the
 * last line, and the count starts again.
 */
bool	shared_ratelimit(struct shared_ratelimit *rl, double now,
	    double period, uint64_t *skipped);

/* The number of CPUs this process may run on (sched_getaffinity), >= 1. */
unsigned	shared_cpus(void);

#endif
