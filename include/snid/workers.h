/*
 * workers: the threads of -workers N, and what main asks of them.
 *
 * Each worker runs its own libev loop (ev_loop_new) in a thread of its
 * own, with every signal blocked: main's default loop keeps the signals,
 * sd_notify and the -metrics endpoint.  Main talks to a worker through
 * the worker's ev_async (w->cmd) and a word of request bits; the worker
 * acts on them between two callbacks of its loop, answers under
 * shared->ctl_lock and signals ctl_cond.  A request waits for every
 * worker still running, with a bound, so a stuck worker cannot hang main.
 */
#ifndef SNID_WORKERS_H
#define SNID_WORKERS_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "snid/shared.h"
#include "snid/worker.h"

/* w->cmd_bits */
#define WORKER_CMD_RELOAD	0x01	/* act on the reload's phase */
#define WORKER_CMD_DRAIN	0x02	/* worker_drain */
#define WORKER_CMD_CLOSE	0x04	/* close every connection now, end */
#define WORKER_CMD_STATS	0x08	/* copy the counters into w->stats */
#define WORKER_CMD_PARK		0x10	/* close the listeners, wait (handover) */

/*
 * Start one thread per worker of sh, each running its loop; main_loop is
 * broken once every thread has ended (all drained).  beat > 0: each
 * worker's loop bumps w->beat every beat seconds (workers_beating).
 * Returns 0, or -1 after logging (threads already started keep running:
 * drain and join them).
 */
int	workers_start(struct shared *sh, struct ev_loop *main_loop,
	    double beat);

/* Wait for every thread to end (after the drain). */
void	workers_join(struct shared *sh);

/*
 * Ask every running worker for bits; with wait, block until each has
 * answered, at most timeout seconds.  Returns whether all answered.
 */
bool	workers_request(struct shared *sh, unsigned bits, bool wait,
	    double timeout);

/* sh->reload_state */
#define WORKERS_RELOAD_PREPARE	1	/* phase 1: build what can fail */
#define WORKERS_RELOAD_COMMIT	2	/* phase 2: every worker switches */
#define WORKERS_RELOAD_ABORT	3	/* phase 2: every worker stays */

/*
 * Switch every worker to cfg (prepared by worker_reload_prepare), or none.
 * Phase 1: each worker builds what can fail (worker_reload_ready) and
 * answers; phase 2: when all are ready, the budgets of sh are set from cfg
 * (shared_set_limits) and every worker commits; when one is not, or does
 * not answer within WORKERS_WAIT, every worker aborts, and one line says
 * which worker and why ("reload: rejected: ...").  Returns 0 (committed)
 * or -1 (rejected: every worker keeps the running configuration).  *keep:
 * a late worker may still read the configuration it is leaving (the
 * previous one after a commit, cfg after a rejection): that one must stay
 * allocated; false: it may be freed now.
 */
int	workers_reload(struct shared *sh, const struct config *cfg,
	    bool *keep);

/*
 * The sum of every worker's counters (a fresh copy from each running
 * worker, the last one of a stuck worker), and each worker's accepted
 * connections into per_worker (n_workers entries; NULL: not wanted).
 */
void	workers_stats(struct shared *sh, struct worker_stats *sum,
	    uint64_t *per_worker);

/*
 * The watchdog's question: has every running worker's loop turned since
 * the last call?  A worker stuck in a callback makes it false.
 */
bool	workers_beating(struct shared *sh);

/*
 * The restart handover with threads: park every worker (waiting outside
 * any lock of snid's), fork, and in the child start a thread per worker
 * again.  With listen, the workers keep their listeners and go on
 * accepting until main asks them to drain (handover.h: until the next
 * process accepts); without, they close them before the fork and the
 * child's workers drain at once.  Returns what fork returned: the child's
 * pid in the parent (which must _exit at once), 0 in the child, -1 when it
 * could not (the workers run again; drain them).
 */
pid_t	workers_handover(struct shared *sh, bool listen);

#endif
