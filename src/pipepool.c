/*
 * pipepool: a stack of empty pipes (see pipepool.h).
 */
#include "snid/pipepool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "snid/util.h"

/*
 * The daemon-wide big-pipe figures: every worker's pump charges and
 * refunds the same budget, so these are atomics (relaxed: they are a
 * budget and two metrics, nothing is published through them), not members
 * of one pool.  Globals in an I/O module, on purpose: they mirror one
 * per-user kernel limit.
 */
static uint64_t	pipe_big_bytes;		/* capacity beyond PIPE_POOL_SIZE */
static uint64_t	pipe_big_budget = 32U << 20;
static uint64_t	pipe_grown_total;

/* Pages the kernel lets an unprivileged user have in pipes by default. */
#define PIPE_USER_PAGES_SOFT	16384

void
pipe_pool_init(struct pipe_pool *pp, size_t cap)
{
	pp->pipes = cap != 0 ? xcalloc(cap, sizeof(*pp->pipes)) : NULL;
	pp->n = 0;
	pp->cap = cap;
	pp->in_use = 0;
	pp->budget = SIZE_MAX;
	pipe_pool_set_size_max(pp, PIPE_POOL_SIZE_MAX);
}

/* A number from a /proc/sys file, or dflt. */
static uint64_t
pipe_pool_sysctl(const char *path, uint64_t dflt)
{
	FILE			*f;
	unsigned long long	 v;
	int			 n;

	if ((f = fopen(path, "re")) == NULL)
		return dflt;
	n = fscanf(f, "%llu", &v);
	fclose(f);
	return n == 1 ? (uint64_t)v : dflt;
}

void
pipe_pool_set_size_max(struct pipe_pool *pp, uint32_t max)
{
	uint64_t	pmax, soft;

	pmax = pipe_pool_sysctl("/proc/sys/fs/pipe-max-size", 1U << 20);
	/* 0: no soft limit; still keep big pipes to the default's share. */
	soft = pipe_pool_sysctl("/proc/sys/fs/pipe-user-pages-soft",
	    PIPE_USER_PAGES_SOFT);
	if (soft == 0)
		soft = PIPE_USER_PAGES_SOFT;
	__atomic_store_n(&pipe_big_budget, soft * 4096 / 2, __ATOMIC_RELAXED);
	if (max > pmax)
		max = (uint32_t)pmax;
	pp->size_max = max > PIPE_POOL_SIZE ? max : PIPE_POOL_SIZE;
}

/* Take add bytes from the budget; false when they do not fit. */
static bool
pipe_pool_charge(uint64_t add)
{
	uint64_t	cur, budget;

	budget = __atomic_load_n(&pipe_big_budget, __ATOMIC_RELAXED);
	cur = __atomic_load_n(&pipe_big_bytes, __ATOMIC_RELAXED);
	do {
		if (cur + add > budget)
			return false;
	} while (!__atomic_compare_exchange_n(&pipe_big_bytes, &cur, cur + add,
	    true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	return true;
}

static void
pipe_pool_refund(uint64_t sub)
{
	__atomic_fetch_sub(&pipe_big_bytes, sub, __ATOMIC_RELAXED);
}

int
pipe_pool_grow(struct pipe_pool *pp, int fds[2], uint32_t *size)
{
	uint32_t	want = *size * 4;
	int		got;

	if (want > pp->size_max)
		want = pp->size_max;
	if (want <= *size) {
		errno = ENOSPC;
		return -1;
	}
	if (!pipe_pool_charge(want - *size)) {
		errno = ENOSPC;
		return -1;
	}
	got = fcntl(fds[1], F_SETPIPE_SZ, (int)want);
	if (got == -1 || (uint32_t)got < *size) {
		pipe_pool_refund(want - *size);
		return -1;
	}
	/* The kernel rounds up to a power of two pages: charge what it gave. */
	if ((uint32_t)got > want)
		__atomic_fetch_add(&pipe_big_bytes, (uint32_t)got - want,
		    __ATOMIC_RELAXED);
	else
		pipe_pool_refund(want - (uint32_t)got);
	*size = (uint32_t)got;
	__atomic_fetch_add(&pipe_grown_total, 1, __ATOMIC_RELAXED);
	return 0;
}

void
pipe_pool_put_sized(struct pipe_pool *pp, int fds[2], bool empty,
    uint32_t size)
{
	if (size > PIPE_POOL_SIZE) {
		pipe_pool_refund(size - PIPE_POOL_SIZE);
		/* Shrinking an empty pipe cannot fail for want of room (EBUSY). */
		if (!empty || fcntl(fds[1], F_SETPIPE_SZ,
		    (int)PIPE_POOL_SIZE) == -1) {
			pipe_pool_close(pp, fds);
			return;
		}
	}
	pipe_pool_put(pp, fds, empty);
}

void
pipe_pool_stats(struct pipe_pool_stats *st)
{
	st->grown = __atomic_load_n(&pipe_grown_total, __ATOMIC_RELAXED);
	st->big_bytes = __atomic_load_n(&pipe_big_bytes, __ATOMIC_RELAXED);
	st->budget = __atomic_load_n(&pipe_big_budget, __ATOMIC_RELAXED);
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
