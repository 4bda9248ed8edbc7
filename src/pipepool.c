/*
 * pipepool: a stack of empty pipes (see pipepool.h).
 */
#include "snid/pipepool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "snid/util.h"

void
pipe_pool_init(struct pipe_pool *pp, size_t cap)
{
	pp->pipes = cap != 0 ? xcalloc(cap, sizeof(*pp->pipes)) : NULL;
	pp->n = 0;
	pp->cap = cap;
	pp->in_use = 0;
	pp->budget = SIZE_MAX;
}

void
pipe_pool_set_budget(struct pipe_pool *pp, size_t budget)
{
	pp->budget = budget;
	while (pp->n > 0 && pp->in_use + pp->n > budget) {
		pp->n--;
		util_close(pp->pipes[pp->n][0]);
		util_close(pp->pipes[pp->n][1]);
	}
}

void
pipe_pool_destroy(struct pipe_pool *pp)
{
	while (pp->n > 0) {
		pp->n--;
		util_close(pp->pipes[pp->n][0]);
		util_close(pp->pipes[pp->n][1]);
	}
	free(pp->pipes);
	pp->pipes = NULL;
	pp->cap = 0;
}

int
pipe_pool_make(struct pipe_pool *pp, int fds[2])
{
	/* Called with no pipe pooled, so in_use is every pipe there is. */
	if (pp->in_use >= pp->budget) {
		fds[0] = fds[1] = -1;
		errno = EMFILE;
		return -1;
	}
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == -1) {
		/* "No pipe held" must stay true: valgrind writes fds it then refuses. */
		fds[0] = fds[1] = -1;
		return -1;
	}
	pp->in_use++;
	return 0;
}

void
pipe_pool_close(struct pipe_pool *pp, int fds[2])
{
	pp->in_use--;
	util_close(fds[0]);
	util_close(fds[1]);
	fds[0] = fds[1] = -1;
}
