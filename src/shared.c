/*
 * shared: the daemon-wide budgets and tables the workers share (see
 * shared.h).  The connection count is the one cache line every accept and
 * close of every worker writes: one atomic compare-and-swap or subtraction
 * each, never a lock.
 */
#include "snid/shared.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "snid/listener.h"
#include "snid/log.h"
#include "snid/worker.h"

int
shared_init(struct shared *sh, struct worker *workers, size_t n)
{
	memset(sh, 0, sizeof(*sh));
	sh->workers = workers;
	sh->n_workers = n;
	if (getrandom(&sh->src_seed, sizeof(sh->src_seed), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(sh->src_seed))
		/* Early boot without entropy: still unknown to a remote client. */
		sh->src_seed = (uint64_t)time(NULL) << 20 ^ (uint64_t)getpid() ^
		    (uint64_t)(uintptr_t)sh;
	if (pthread_mutex_init(&sh->src_lock, NULL) != 0)
		return -1;
	if (pthread_mutex_init(&sh->ctl_lock, NULL) != 0 ||
	    pthread_cond_init(&sh->ctl_cond, NULL) != 0) {
		log_error("pthread_mutex_init: out of resources");
		return -1;
	}
	return 0;
}

void
shared_free(struct shared *sh)
{
	srclimit_free(&sh->srclimit);
	(void)pthread_mutex_destroy(&sh->src_lock);
	(void)pthread_mutex_destroy(&sh->ctl_lock);
	(void)pthread_cond_destroy(&sh->ctl_cond);
}

/* Descriptors kept out of every budget: listeners, DNS, logs, metrics. */
#define SHARED_FD_RESERVE	64
/* -hello-memory's default per connection: a post-quantum hello fits. */
#define SHARED_HELLO_SHARE	4096
#define SHARED_HELLO_FLOOR	((size_t)1 << 20)

/*
 * The descriptor budget.  A connection holds two sockets; pipes (two
 * descriptors each) are held only while bytes move and go back to the pool
 * on a short read (pump.c), so an idle connection holds none and pipes get
 * a budget of their own instead of a share of every connection:
 *
 *	avail		= RLIMIT_NOFILE - 64 (the reserve)
 *	connections	= avail * 8 / 17	(-max-connections unset)
 *	pipes		= min((avail - 2 * connections) / 2, 2 * connections)
 *
 * so that by default 2 * connections + 2 * pipes = avail with a pipe for
 * one connection in 16 (HAProxy budgets one in 4, for every connection it
 * splices; ours splice only in bursts).  11000 descriptors give 5146
 * connections and 322 pipes.  Past the pipe budget the pump copies (see
 * pump.c), so pipes never eat the reserve that accept, socket() and c-ares
 * need, and a -max-connections beyond the limit only loses the pipes.  The
 * descriptor table is the process's: the budgets are the daemon's, and
 * each worker gets its share of the pipes (worker_set_limits).
 */
void
shared_set_limits(struct shared *sh, const struct config *cfg)
{
	struct rlimit	rl;
	size_t		n = 1024, avail, conns, pipes;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		n = (size_t)rl.rlim_cur;
	else if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		n = 1 << 20;
	avail = n > SHARED_FD_RESERVE ? n - SHARED_FD_RESERVE : 0;
	if (cfg->max_connections != 0)
		conns = cfg->max_connections;
	else
		conns = avail * 8 / 17 > 0 ? avail * 8 / 17 : 1;
	pipes = avail > 2 * conns ? (avail - 2 * conns) / 2 : 0;
	if (pipes > 2 * conns)
		pipes = 2 * conns;
	if (cfg->max_connections != 0 && 2 * conns > avail)
		log_warn("-max-connections %zu needs %zu descriptors, the "
		    "open-file limit leaves %zu: raise it (LimitNOFILE=), or "
		    "accept may fail", conns, 2 * conns + SHARED_FD_RESERVE, n);
	sh->pipe_budget = pipes;
	/*
	 * 4 KiB each: every hello-stage connection may hold a big hello; at
	 * least 1 MiB, so that a small -max-connections still takes a few
	 * hellos of the largest size at once.
	 */
	sh->hello_mem_max = cfg->hello_memory != 0 ? cfg->hello_memory :
	    conns * SHARED_HELLO_SHARE > SHARED_HELLO_FLOOR ?
	    conns * SHARED_HELLO_SHARE : SHARED_HELLO_FLOOR;
	(void)pthread_mutex_lock(&sh->src_lock);
	if ((sh->srclimit.slot == NULL ? srclimit_init(&sh->srclimit, conns,
	    sh->src_seed) : srclimit_grow(&sh->srclimit, conns)) == -1)
		log_error("out of memory for the per-source table of %zu "
		    "connections", conns);
	(void)pthread_mutex_unlock(&sh->src_lock);
	__atomic_store_n(&sh->max_conns, conns, __ATOMIC_SEQ_CST);
	/* A higher budget takes effect at once, also where accepting stopped. */
	for (size_t i = 0; i < sh->n_workers; i++)
		listener_wake(&sh->workers[i]);
}

/*
 * A compare-and-swap loop rather than an add-then-check: the count never
 * shows more than max_conns, so no other worker is refused for a slot
 * that is given back a moment later.
 */
bool
shared_conn_reserve(struct shared *sh)
{
	size_t	cur = __atomic_load_n(&sh->n_conns, __ATOMIC_RELAXED);

	do {
		if (cur >= __atomic_load_n(&sh->max_conns, __ATOMIC_RELAXED))
			return false;
	} while (!__atomic_compare_exchange_n(&sh->n_conns, &cur, cur + 1,
	    true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
	return true;
}

/*
 * Sequentially consistent on purpose, paired with listener_full: either
 * this sees the worker's n_full and wakes it, or the worker's own check
 * after raising n_full sees the freed slot (no wake-up is lost).
 */
void
shared_conn_release(struct shared *sh)
{
	(void)__atomic_sub_fetch(&sh->n_conns, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&sh->n_full, __ATOMIC_SEQ_CST) == 0)
		return;
	for (size_t i = 0; i < sh->n_workers; i++)
		listener_wake(&sh->workers[i]);
}

bool
shared_conn_room(const struct shared *sh)
{
	return __atomic_load_n(&sh->n_conns, __ATOMIC_SEQ_CST) <
	    __atomic_load_n(&sh->max_conns, __ATOMIC_SEQ_CST);
}

bool
shared_src_acquire(struct shared *sh, const struct srclimit_key *k,
    uint32_t limit)
{
	bool	ok;

	(void)pthread_mutex_lock(&sh->src_lock);
	ok = sh->srclimit.slot != NULL &&
	    srclimit_acquire(&sh->srclimit, k, limit);
	(void)pthread_mutex_unlock(&sh->src_lock);
	return ok;
}

void
shared_src_release(struct shared *sh, const struct srclimit_key *k)
{
	(void)pthread_mutex_lock(&sh->src_lock);
	if (sh->srclimit.slot != NULL)
		srclimit_release(&sh->srclimit, k);
	(void)pthread_mutex_unlock(&sh->src_lock);
}

bool
shared_ratelimit(struct shared_ratelimit *rl, double now, double period,
    uint64_t *skipped)
{
	int64_t		now_ms, last;
	uint64_t	n;

	/* +1: a clock at 0 is a time too, and 0 means "never". */
	now_ms = (int64_t)(now * 1000.0) + 1;
	last = __atomic_load_n(&rl->last_ms, __ATOMIC_RELAXED);
	if ((last != 0 && now_ms - last < (int64_t)(period * 1000.0)) ||
	    !__atomic_compare_exchange_n(&rl->last_ms, &last, now_ms, false,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
		(void)__atomic_add_fetch(&rl->skipped, 1, __ATOMIC_RELAXED);
		return false;
	}
	n = __atomic_exchange_n(&rl->skipped, 0, __ATOMIC_RELAXED);
	if (skipped != NULL)
		*skipped = n;
	return true;
}

unsigned
shared_cpus(void)
{
	cpu_set_t	set;
	int		n;

	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set) == -1)
		return 1;
	n = CPU_COUNT(&set);
	if (n < 1)
		return 1;
	return n > CONFIG_MAX_WORKERS ? CONFIG_MAX_WORKERS : (unsigned)n;
}
