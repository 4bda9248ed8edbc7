/*
 * workers: the worker threads and main's requests to them (workers.h).
 *
 * A request: main raises the request generation (ctl_gen) under
 * ctl_lock, ORs its bits into each worker's cmd_bits and sends the
 * worker's ev_async.  The worker reads the generation first, then takes
 * the bits, acts, and records the generation it read as answered: a
 * request that comes in between is taken with this one's bits or by the
 * next wake-up, and is never answered before it was acted on.
 */
#include "snid/workers.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "snid/conn.h"
#include "snid/listener.h"
#include "snid/log.h"
#include "snid/resolver.h"

/* Copy what w counted into w->stats.  Its own thread, or a stopped one. */
static void
workers_publish(struct worker *w, struct worker_stats *st)
{
	st->counters = w->counters;
	st->metrics = w->metrics;
	resolver_stats(w->resolver, &st->dns);
	st->n_conns = w->n_conns;
}

/*
 * PARK: the listeners are closed unless park_listen (they stay in systemd's
 * fd store); wait,
 * holding no lock but inside ctl_cond's wait, until main has forked (the
 * parent then exits under us) or gave up.  ctl_lock held.
 */
static void
workers_park(struct shared *sh)
{
	while (sh->ctl_park)
		(void)pthread_cond_wait(&sh->ctl_cond, &sh->ctl_lock);
}

/*
 * The worker's side of a reload (sh->reload_*, workers_reload).  What it
 * holds from an earlier reload is settled first: installed if main
 * committed that one (this worker was late to hear it), else freed (main
 * gave up on it or has moved on).  Then, in phase 1 of a reload not yet
 * prepared, it builds what can fail and answers, unless main stopped
 * waiting meanwhile: then the next turn frees it.  Each turn that
 * prepares takes a newer reload, so the loop ends.  The worker's thread,
 * or main's when the worker has none; ctl_lock not held.
 */
static void
workers_reload_step(struct worker *w)
{
	struct shared		*sh = w->shared;
	const struct config	*cfg;
	uint64_t		 id, committed;
	int			 state, rc;

	for (;;) {
		(void)pthread_mutex_lock(&sh->ctl_lock);
		id = sh->reload_id;
		state = sh->reload_state;
		committed = sh->reload_committed;
		cfg = w->cmd_cfg;
		(void)pthread_mutex_unlock(&sh->ctl_lock);
		if (w->reload_next != NULL) {
			if (w->reload_id == committed)
				worker_reload_commit(w);
			else if (w->reload_id != id ||
			    state == WORKERS_RELOAD_ABORT)
				worker_reload_abort(w);
		}
		if (state != WORKERS_RELOAD_PREPARE || w->reload_seen == id ||
		    cfg == NULL)
			return;
		w->reload_seen = id;
		rc = worker_reload_ready(w, cfg, id);
		(void)pthread_mutex_lock(&sh->ctl_lock);
		if (sh->reload_id == id &&
		    sh->reload_state == WORKERS_RELOAD_PREPARE) {
			w->cmd_rc = rc;
			w->reload_answered = id;
		}
		(void)pthread_mutex_unlock(&sh->ctl_lock);
	}
}

/* The worker's side of a request (w->cmd). */
static void
workers_cmd_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	struct worker		*w = a->data;
	struct shared		*sh = w->shared;
	uint64_t		 gen;
	unsigned		 bits;

	(void)loop;
	(void)revents;
	(void)pthread_mutex_lock(&sh->ctl_lock);
	gen = sh->ctl_gen;
	(void)pthread_mutex_unlock(&sh->ctl_lock);
	bits = __atomic_exchange_n(&w->cmd_bits, 0, __ATOMIC_ACQ_REL);
	if (bits & WORKER_CMD_RELOAD)
		workers_reload_step(w);
	if ((bits & WORKER_CMD_PARK) && w->listeners != NULL &&
	    !sh->park_listen)
		listener_close_all(w);
	if (bits & WORKER_CMD_DRAIN)
		worker_drain(w);
	if (bits & WORKER_CMD_CLOSE)
		worker_close(w);
	(void)pthread_mutex_lock(&sh->ctl_lock);
	if (bits & WORKER_CMD_STATS)
		workers_publish(w, &w->stats);
	w->acked = gen;
	(void)pthread_cond_broadcast(&sh->ctl_cond);
	if (bits & WORKER_CMD_PARK)
		workers_park(sh);
	(void)pthread_mutex_unlock(&sh->ctl_lock);
}

/* The loop turned: the watchdog may ping for this worker. */
static void
workers_beat_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker	*w = t->data;

	(void)loop;
	(void)revents;
	__atomic_store_n(&w->beat, __atomic_load_n(&w->beat, __ATOMIC_RELAXED)
	    + 1, __ATOMIC_RELAXED);
}

static void *
workers_main(void *arg)
{
	struct worker	*w = arg;
	struct shared	*sh = w->shared;

	if (w->start_drain) {
		/* The handover's child: what the parent's SIGTERM began. */
		w->start_drain = false;
		w->draining = false;
		worker_drain(w);
	}
	/* worker_drain broke a loop not yet run when nothing was open. */
	if (!w->draining || w->n_conns > 0)
		ev_run(w->loop, 0);
	(void)pthread_mutex_lock(&sh->ctl_lock);
	workers_publish(w, &w->stats);
	w->exited = true;
	(void)pthread_cond_broadcast(&sh->ctl_cond);
	(void)pthread_mutex_unlock(&sh->ctl_lock);
	ev_async_send(sh->main_loop, &sh->ctl_done);
	return NULL;
}

/* Main loop: a thread ended; once all have, the daemon is done. */
static void
workers_done_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	struct shared	*sh = a->data;
	size_t		 done = 0;

	(void)revents;
	(void)pthread_mutex_lock(&sh->ctl_lock);
	for (size_t i = 0; i < sh->n_workers; i++)
		if (!sh->workers[i].running || sh->workers[i].exited)
			done++;
	(void)pthread_mutex_unlock(&sh->ctl_lock);
	if (done == sh->n_workers)
		ev_break(loop, EVBREAK_ALL);
}

/*
 * Threads are created with every signal blocked, so that the kernel sends
 * SIGTERM, SIGHUP and the rest to main's thread, whose loop waits for them.
 */
static int
workers_spawn(struct shared *sh)
{
	sigset_t	all, old;
	int		rc = 0, e;

	sigfillset(&all);
	(void)pthread_sigmask(SIG_SETMASK, &all, &old);
	for (size_t i = 0; i < sh->n_workers && rc == 0; i++) {
		struct worker	*w = &sh->workers[i];

		(void)pthread_mutex_lock(&sh->ctl_lock);
		w->running = true;
		w->exited = false;
		(void)pthread_mutex_unlock(&sh->ctl_lock);
		e = pthread_create(&w->thread, NULL, workers_main, w);
		if (e != 0) {
			log_error("worker %zu: pthread_create: %s", i,
			    strerror(e));
			w->running = false;
			rc = -1;
		}
	}
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

int
workers_start(struct shared *sh, struct ev_loop *main_loop, double beat)
{
	sh->main_loop = main_loop;
	ev_async_init(&sh->ctl_done, workers_done_cb);
	sh->ctl_done.data = sh;
	ev_async_start(main_loop, &sh->ctl_done);
	for (size_t i = 0; i < sh->n_workers; i++) {
		struct worker	*w = &sh->workers[i];

		ev_async_init(&w->cmd, workers_cmd_cb);
		w->cmd.data = w;
		ev_async_start(w->loop, &w->cmd);
		if (beat > 0) {
			ev_timer_init(&w->beat_timer, workers_beat_cb, beat,
			    beat);
			w->beat_timer.data = w;
			ev_timer_start(w->loop, &w->beat_timer);
		}
	}
	return workers_spawn(sh);
}

void
workers_join(struct shared *sh)
{
	for (size_t i = 0; i < sh->n_workers; i++) {
		struct worker	*w = &sh->workers[i];

		if (w->running)
			(void)pthread_join(w->thread, NULL);
		w->running = false;
		if (sh->main_loop != NULL) {
			/* Out of the thread now: its loop is main's to tear down. */
			ev_async_stop(w->loop, &w->cmd);
			ev_timer_stop(w->loop, &w->beat_timer);
		}
	}
	if (sh->main_loop != NULL)
		ev_async_stop(sh->main_loop, &sh->ctl_done);
}

/* Whether every running worker answered gen.  ctl_lock held. */
static bool
workers_answered(const struct shared *sh, uint64_t gen)
{
	for (size_t i = 0; i < sh->n_workers; i++) {
		const struct worker	*w = &sh->workers[i];

		if (w->running && !w->exited && w->acked < gen)
			return false;
	}
	return true;
}

bool
workers_request(struct shared *sh, unsigned bits, bool wait, double timeout)
{
	struct timespec	dl;
	uint64_t	gen;
	bool		ok;

	(void)pthread_mutex_lock(&sh->ctl_lock);
	gen = ++sh->ctl_gen;
	(void)pthread_mutex_unlock(&sh->ctl_lock);
	for (size_t i = 0; i < sh->n_workers; i++) {
		struct worker	*w = &sh->workers[i];

		if (!w->running)
			continue;
		(void)__atomic_or_fetch(&w->cmd_bits, bits, __ATOMIC_ACQ_REL);
		ev_async_send(w->loop, &w->cmd);
	}
	if (!wait)
		return true;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += (time_t)timeout;
	dl.tv_nsec += (long)((timeout - (double)(time_t)timeout) * 1e9);
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	(void)pthread_mutex_lock(&sh->ctl_lock);
	while (!(ok = workers_answered(sh, gen)))
		if (pthread_cond_timedwait(&sh->ctl_cond, &sh->ctl_lock,
		    &dl) == ETIMEDOUT) {
			ok = workers_answered(sh, gen);
			break;
		}
	(void)pthread_mutex_unlock(&sh->ctl_lock);
	return ok;
}

/* How long main waits for a reload or a park; a stuck worker is reported. */
#define WORKERS_WAIT	10.0
/* ... and for a scrape's counters: the last copy is used after that. */
#define WORKERS_STATS_WAIT	1.0

/*
 * Ask every worker to take the reload's current phase, and with wait, wait
 * for them: running ones through their loops; one without a thread (one
 * loop, tests) is stepped here, this being its thread.  Returns whether
 * all answered in time.
 */
static bool
workers_reload_run(struct shared *sh, bool wait)
{
	for (size_t i = 0; i < sh->n_workers; i++)
		if (!sh->workers[i].running)
			workers_reload_step(&sh->workers[i]);
	return workers_request(sh, WORKER_CMD_RELOAD, wait, WORKERS_WAIT);
}

int
workers_reload(struct shared *sh, const struct config *cfg, bool *keep)
{
	size_t		 bad = SIZE_MAX;
	uint64_t	 id;
	bool		 late = false, bad_late = false;

	(void)pthread_mutex_lock(&sh->ctl_lock);
	id = ++sh->reload_id;
	sh->reload_state = WORKERS_RELOAD_PREPARE;
	for (size_t i = 0; i < sh->n_workers; i++) {
		sh->workers[i].cmd_cfg = cfg;
		sh->workers[i].cmd_rc = -1;
	}
	(void)pthread_mutex_unlock(&sh->ctl_lock);
	(void)workers_reload_run(sh, true);

	/* Phase 1's answers: all ready, or the first that is not is named. */
	(void)pthread_mutex_lock(&sh->ctl_lock);
	for (size_t i = 0; i < sh->n_workers; i++) {
		const struct worker	*w = &sh->workers[i];
		bool			 no_answer;

		if (w->running && w->exited)
			continue;
		no_answer = w->reload_answered != id;
		late |= no_answer;
		if (bad == SIZE_MAX && (no_answer || w->cmd_rc != 0)) {
			bad = i;
			bad_late = no_answer;
		}
	}
	sh->reload_state = bad == SIZE_MAX ? WORKERS_RELOAD_COMMIT :
	    WORKERS_RELOAD_ABORT;
	if (bad == SIZE_MAX)
		sh->reload_committed = id;
	(void)pthread_mutex_unlock(&sh->ctl_lock);

	if (bad != SIZE_MAX) {
		if (bad_late)
			log_error("reload: rejected: worker %zu did not answer "
			    "within %.0f s; the running configuration stays",
			    bad, WORKERS_WAIT);
		else
			log_error("reload: rejected: worker %zu could not set "
			    "up its resolver with the new DNS settings (the "
			    "resolver's error above says why); the running "
			    "configuration stays", bad);
		/*
		 * Every worker frees what it built, at its next turn: nothing
		 * waits for that.  A late one may still be reading cfg.
		 */
		(void)workers_reload_run(sh, false);
		*keep = late;
		return -1;
	}
	/* Before the workers switch: they take their shares of the budgets. */
	shared_set_limits(sh, cfg);
	*keep = !workers_reload_run(sh, true);
	if (*keep)
		log_error("reload: a worker did not switch within %.0f s; it "
		    "will at its next turn", WORKERS_WAIT);
	return 0;
}

static void
workers_hist_add(struct metrics_hist *to, const struct metrics_hist *h)
{
	for (size_t i = 0; i < METRICS_BUCKETS; i++)
		to->bucket[i] += h->bucket[i];
	to->count += h->count;
	to->sum += h->sum;
}

/* Add st into sum. */
static void
workers_add(struct worker_stats *sum, const struct worker_stats *st)
{
	size_t	i;

	sum->counters.accepted += st->counters.accepted;
	sum->counters.closed += st->counters.closed;
	sum->counters.accept_errors += st->counters.accept_errors;
	for (i = 0; i < OUTCOME_COUNT; i++)
		sum->counters.by_outcome[i] += st->counters.by_outcome[i];
	for (i = 0; i < METRICS_DIR_COUNT; i++)
		sum->metrics.bytes[i] += st->metrics.bytes[i];
	for (i = 0; i < METRICS_DNS_COUNT; i++)
		sum->metrics.dns[i] += st->metrics.dns[i];
	workers_hist_add(&sum->metrics.dns_seconds, &st->metrics.dns_seconds);
	workers_hist_add(&sum->metrics.connect_seconds,
	    &st->metrics.connect_seconds);
	sum->dns.queries += st->dns.queries;
	for (i = 0; i < DNSCACHE_KINDS; i++)
		sum->dns.cache[i] += st->dns.cache[i];
	sum->n_conns += st->n_conns;
}

void
workers_stats(struct shared *sh, struct worker_stats *sum,
    uint64_t *per_worker)
{
	struct worker_stats	 own;

	(void)workers_request(sh, WORKER_CMD_STATS, true, WORKERS_STATS_WAIT);
	memset(sum, 0, sizeof(*sum));
	(void)pthread_mutex_lock(&sh->ctl_lock);
	for (size_t i = 0; i < sh->n_workers; i++) {
		struct worker		*w = &sh->workers[i];
		const struct worker_stats *st = &w->stats;

		/* No thread (one loop, tests): this is the worker's thread. */
		if (!w->running) {
			workers_publish(w, &own);
			st = &own;
		}
		workers_add(sum, st);
		if (per_worker != NULL)
			per_worker[i] = st->counters.accepted;
	}
	(void)pthread_mutex_unlock(&sh->ctl_lock);
	/* The cache is the daemon's: counted once, not once per worker. */
	if (sh->dns != NULL) {
		struct resolver_stats	ds;

		resolver_shared_stats(sh->dns, &ds);
		memcpy(sum->dns.cache, ds.cache, sizeof(sum->dns.cache));
	}
}

bool
workers_beating(struct shared *sh)
{
	bool	ok = true;

	(void)pthread_mutex_lock(&sh->ctl_lock);
	for (size_t i = 0; i < sh->n_workers; i++) {
		struct worker	*w = &sh->workers[i];
		uint64_t	 b = __atomic_load_n(&w->beat, __ATOMIC_RELAXED);

		if (w->running && !w->exited && b == w->beat_seen) {
			ok = false;
			log_warn("watchdog: worker %zu has not turned its "
			    "loop since the last ping; not pinging", i);
		}
		w->beat_seen = b;
	}
	(void)pthread_mutex_unlock(&sh->ctl_lock);
	return ok;
}

static void
workers_unpark(struct shared *sh)
{
	(void)pthread_mutex_lock(&sh->ctl_lock);
	sh->ctl_park = false;
	(void)pthread_cond_broadcast(&sh->ctl_cond);
	(void)pthread_mutex_unlock(&sh->ctl_lock);
}

pid_t
workers_handover(struct shared *sh, bool listen)
{
	pid_t	pid;

	(void)pthread_mutex_lock(&sh->ctl_lock);
	sh->ctl_park = true;
	sh->park_listen = listen;
	(void)pthread_mutex_unlock(&sh->ctl_lock);
	if (!workers_request(sh, WORKER_CMD_PARK, true, WORKERS_WAIT)) {
		log_warn("shutdown: a worker did not stop for the handover");
		workers_unpark(sh);
		return -1;
	}
	pid = fork();
	if (pid != 0) {
		if (pid == -1)
			workers_unpark(sh);
		return pid;
	}
	/*
	 * The child has main's thread only.  The parked threads left their
	 * waits on ctl_cond behind: the lock and the condition start afresh
	 * (no thread of the child holds or waits on them), and each loop
	 * gets its own epoll and wake-up descriptors (ev_loop_fork) before
	 * a new thread runs it from where the old one parked.
	 */
	(void)pthread_mutex_init(&sh->ctl_lock, NULL);
	(void)pthread_cond_init(&sh->ctl_cond, NULL);
	(void)pthread_mutex_init(&sh->src_lock, NULL);
	sh->ctl_park = false;
	for (size_t i = 0; i < sh->n_workers; i++) {
		struct worker	*w = &sh->workers[i];

		ev_loop_fork(w->loop);
		w->start_drain = !listen;
	}
	if (workers_spawn(sh) == -1)
		log_error("shutdown: the handover's child could not start "
		    "its workers");
	return 0;
}
