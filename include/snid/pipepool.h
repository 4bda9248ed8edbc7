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
 */
#ifndef SNID_PIPEPOOL_H
#define SNID_PIPEPOOL_H

#include <stdbool.h>
#include <stddef.h>

/* Spare empty pipes kept per worker; more are closed when given back. */
#define PIPE_POOL_MAX	64

struct pipe_pool {
	int	(*pipes)[2];	/* [0] read end, [1] write end; all empty */
	size_t	n;		/* pooled pipes */
	size_t	cap;		/* at most this many pooled */
	size_t	in_use;		/* pipes handed out and not yet returned */
	size_t	budget;		/* in_use + n stays at or below this */
};

/* An empty pool that keeps up to cap pipes, with no budget (SIZE_MAX). */
void	pipe_pool_init(struct pipe_pool *pp, size_t cap);

/*
 * Let at most budget pipes exist at once; pooled pipes beyond a lowered
 * budget are closed now, pipes in use as they come back.
 */
void	pipe_pool_set_budget(struct pipe_pool *pp, size_t budget);

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
