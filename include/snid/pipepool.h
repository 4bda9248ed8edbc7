/*
 * pipepool: the spare pipes of one worker, for the pump.  A pipe is held
 * by a connection only while it carries bytes (see pump.h), so a busy
 * worker keeps taking and giving back the same few pipes: pooling them
 * saves a pipe2(2) and two close(2) per burst of data.
 *
 * Limits: at most cap empty pipes are kept (PIPE_POOL_MAX in a worker);
 * more are closed when given back.  At most budget pipes exist at once,
 * pooled ones included (the worker's share of the descriptors for pipes,
 * see worker_set_limits): past it the pool refuses a new pipe as the kernel
 * would (EMFILE), and the pump copies instead, so pipes never take the
 * descriptors that accept, socket() and DNS need.
 *
 * Big pipes: a pipe holds 64 KiB by default, so a bulk transfer costs two
 * splices per 64 KiB; through a 1 MiB pipe, two per MiB and about half the
 * CPU (see doc/ARCHITECTURE.md).  A direction that keeps filling its pipe
 * gets it grown (pipe_pool_grow, F_SETPIPE_SZ) by the pump, within one
 * daemon-wide budget of big-pipe bytes shared by every worker (atomic): the
 * kernel charges every pipe's capacity to the user and, past
 * fs.pipe-user-pages-soft (64 MiB by default), gives every new pipe of that
 * user one or two pages, which would hurt every connection.  The budget is
 * half of that limit.  A grown pipe is shrunk back (pipe_pool_shrink)
 * before it goes back to the pool, so the pool only ever holds pipes of
 * the default size.
 */
#ifndef SNID_PIPEPOOL_H
#define SNID_PIPEPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Spare empty pipes kept per worker; more are closed when given back. */
#define PIPE_POOL_MAX	64

/* The capacity of a new pipe (the kernel's default: 16 pages). */
#define PIPE_POOL_SIZE		65536U
/*
 * The largest a pipe is grown to; fs.pipe-max-size caps it further.  Grown
 * by a factor of 4 a step: 256 KiB, then 1 MiB.
 */
#ifndef PIPE_POOL_SIZE_MAX
#define PIPE_POOL_SIZE_MAX	(1U << 20)
#endif

struct pipe_pool {
	int		(*pipes)[2];	/* [0] read end, [1] write end; all empty */
	size_t		n;		/* pooled pipes */
	size_t		cap;		/* at most this many pooled */
	size_t		in_use;		/* pipes handed out and not yet returned */
	size_t		budget;		/* in_use + n stays at or below this */
	uint32_t	size_max;	/* grown up to this; PIPE_POOL_SIZE: never */
};

/* Daemon-wide figures of big pipes, for the metrics (any thread). */
struct pipe_pool_stats {
	uint64_t	grown;		/* successful grow steps, ever */
	uint64_t	big_bytes;	/* capacity beyond PIPE_POOL_SIZE, now */
	uint64_t	budget;		/* the most big_bytes may reach */
};

/*
 * An empty pool that keeps up to cap pipes, with no budget (SIZE_MAX),
 * growing pipes up to PIPE_POOL_SIZE_MAX (pipe_pool_set_size_max).
 */
void	pipe_pool_init(struct pipe_pool *pp, size_t cap);

/*
 * Let at most budget pipes exist at once; pooled pipes beyond a lowered
 * budget are closed now, pipes in use as they come back.
 */
void	pipe_pool_set_budget(struct pipe_pool *pp, size_t budget);

/*
 * Read fs.pipe-max-size and fs.pipe-user-pages-soft and set the daemon-wide
 * big-pipe budget (half the soft limit) and pp's largest pipe, max capped
 * by pipe-max-size (PIPE_POOL_SIZE or less: pipes are never grown).  Any
 * thread, any time: the budget is one atomic, set alike by every worker.
 */
void	pipe_pool_set_size_max(struct pipe_pool *pp, uint32_t max);

/*
 * Grow the pipe fds of capacity *size (bytes) by one step (x4, at most
 * pp->size_max), charging the daemon-wide budget.  Returns 0 with *size
 * the new capacity, or -1 with *size unchanged: at pp->size_max, over the
 * budget, or F_SETPIPE_SZ failed (errno; EPERM past the user's soft
 * limit).  The pipe keeps its bytes either way.
 */
int	pipe_pool_grow(struct pipe_pool *pp, int fds[2], uint32_t *size);

/*
 * Give back a pipe of capacity size (grown or not) as pipe_pool_put does;
 * a grown one is first shrunk to PIPE_POOL_SIZE if empty (closed if it is
 * not, or if shrinking fails), and its bytes go back to the budget.
 */
void	pipe_pool_put_sized(struct pipe_pool *pp, int fds[2], bool empty,
	    uint32_t size);

/* The daemon-wide figures (relaxed atomic loads). */
void	pipe_pool_stats(struct pipe_pool_stats *st);

/* Close every pooled pipe and free the pool (pipes in use are their holders' business). */
void	pipe_pool_destroy(struct pipe_pool *pp);

/* The slow paths of the two below: a new pipe, and closing one.  Not for callers. */
int	pipe_pool_make(struct pipe_pool *pp, int fds[2]);
void	pipe_pool_close(struct pipe_pool *pp, int fds[2]);

/*
 * Put an empty non-blocking pipe in fds: a pooled one, or a new one.
 * Returns 0, or -1 (errno from pipe2, or EMFILE at the budget) with both
 * fds -1.  Inline, like
 * pipe_pool_put: the pump takes and gives back a pipe on most of its
 * wake-ups, and the pooled case is a few loads and stores.
 */
static inline int
pipe_pool_get(struct pipe_pool *pp, int fds[2])
{
	if (pp->n == 0)
		return pipe_pool_make(pp, fds);
	pp->n--;
	fds[0] = pp->pipes[pp->n][0];
	fds[1] = pp->pipes[pp->n][1];
	pp->in_use++;
	return 0;
}

/*
 * Give back the pipe in fds (taken with pipe_pool_get) and set both to -1.
 * Only an empty pipe is pooled: one that still holds bytes (a connection
 * that ended mid-transfer) is closed, or its stale bytes would reach the
 * next connection.  So is any pipe beyond the pool's cap or budget.
 */
static inline void
pipe_pool_put(struct pipe_pool *pp, int fds[2], bool empty)
{
	if (!empty || pp->n >= pp->cap || pp->in_use + pp->n > pp->budget) {
		pipe_pool_close(pp, fds);
		return;
	}
	pp->in_use--;
	pp->pipes[pp->n][0] = fds[0];
	pp->pipes[pp->n][1] = fds[1];
	pp->n++;
	fds[0] = fds[1] = -1;
}

#endif
