/*
 * pipepool: a stack of empty pipes (see pipepool.h).
 */
#include "snid/pipepool.h"

#include <fcntl.h>
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
pipe_pool_get(struct pipe_pool *pp, int fds[2])
{
	if (pp->n > 0) {
		pp->n--;
		fds[0] = pp->pipes[pp->n][0];
		fds[1] = pp->pipes[pp->n][1];
	} else if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == -1) {
		/* "No pipe held" must stay true: valgrind writes fds it then refuses. */
		fds[0] = fds[1] = -1;
		return -1;
	}
	pp->in_use++;
	return 0;
}

void
pipe_pool_put(struct pipe_pool *pp, int fds[2], bool empty)
{
	pp->in_use--;
	if (empty && pp->n < pp->cap) {
		pp->pipes[pp->n][0] = fds[0];
		pp->pipes[pp->n][1] = fds[1];
		pp->n++;
	} else {
		util_close(fds[0]);
		util_close(fds[1]);
	}
	fds[0] = fds[1] = -1;
}
