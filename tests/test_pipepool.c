/*
 * Unit tests for pipepool: a pipe comes from the pool when it has one and
 * from pipe2 otherwise, only empty pipes are pooled and only up to the
 * cap, the count of pipes in use follows every get and put, and a failed
 * get leaves no descriptor behind; grown pipes are charged to the
 * daemon-wide budget, never beyond it (also from two threads at once), and
 * come back to the pool shrunk to the default size.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>
#include <cmocka.h>

#include "snid/pipepool.h"

/* Whether fd is an open descriptor. */
static int
is_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

/* A fresh pipe is non-blocking and close-on-exec at both ends. */
static void
test_get_makes_a_nonblocking_pipe(void **state)
{
	struct pipe_pool	pp;
	int			fds[2];
	char			c;

	(void)state;
	pipe_pool_init(&pp, 4);
	assert_int_equal(pipe_pool_get(&pp, fds), 0);
	assert_int_equal(pp.in_use, 1);
	assert_int_equal(pp.n, 0);
	for (int i = 0; i < 2; i++) {
		assert_true(fcntl(fds[i], F_GETFL) & O_NONBLOCK);
		assert_true(fcntl(fds[i], F_GETFD) & FD_CLOEXEC);
	}
	assert_int_equal(write(fds[1], "x", 1), 1);
	assert_int_equal(read(fds[0], &c, 1), 1);
	assert_int_equal(read(fds[0], &c, 1), -1);
	assert_int_equal(errno, EAGAIN);
	pipe_pool_put(&pp, fds, true);
	pipe_pool_destroy(&pp);
}

/* An empty pipe given back is the next one handed out. */
static void
test_put_empty_is_reused(void **state)
{
	struct pipe_pool	pp;
	int			fds[2], again[2], r, w;

	(void)state;
	pipe_pool_init(&pp, 4);
	assert_int_equal(pipe_pool_get(&pp, fds), 0);
	r = fds[0];
	w = fds[1];
	pipe_pool_put(&pp, fds, true);
	assert_int_equal(fds[0], -1);
	assert_int_equal(fds[1], -1);
	assert_int_equal(pp.in_use, 0);
	assert_int_equal(pp.n, 1);
	assert_true(is_open(r) && is_open(w));
	assert_int_equal(pipe_pool_get(&pp, again), 0);
	assert_int_equal(again[0], r);
	assert_int_equal(again[1], w);
	assert_int_equal(pp.n, 0);
	assert_int_equal(pp.in_use, 1);
	pipe_pool_put(&pp, again, true);
	pipe_pool_destroy(&pp);
	assert_false(is_open(r));
	assert_false(is_open(w));
}

/* A pipe that still holds bytes is closed, never pooled. */
static void
test_put_nonempty_closes(void **state)
{
	struct pipe_pool	pp;
	int			fds[2], r, w;

	(void)state;
	pipe_pool_init(&pp, 4);
	assert_int_equal(pipe_pool_get(&pp, fds), 0);
	r = fds[0];
	w = fds[1];
	assert_int_equal(write(fds[1], "stale", 5), 5);
	pipe_pool_put(&pp, fds, false);
	assert_int_equal(fds[0], -1);
	assert_int_equal(pp.n, 0);
	assert_int_equal(pp.in_use, 0);
	assert_false(is_open(r));
	assert_false(is_open(w));
	pipe_pool_destroy(&pp);
}

/* Beyond the cap, pipes given back are closed; a cap of 0 pools none. */
static void
test_cap(void **state)
{
	struct pipe_pool	pp, none;
	int			fds[3][2], last[2];

	(void)state;
	pipe_pool_init(&pp, 2);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pipe_pool_get(&pp, fds[i]), 0);
	assert_int_equal(pp.in_use, 3);
	last[0] = fds[2][0];
	last[1] = fds[2][1];
	for (int i = 0; i < 3; i++)
		pipe_pool_put(&pp, fds[i], true);
	assert_int_equal(pp.n, 2);
	assert_int_equal(pp.in_use, 0);
	assert_false(is_open(last[0]));
	assert_false(is_open(last[1]));
	pipe_pool_destroy(&pp);

	pipe_pool_init(&none, 0);
	assert_int_equal(pipe_pool_get(&none, fds[0]), 0);
	last[0] = fds[0][0];
	pipe_pool_put(&none, fds[0], true);
	assert_int_equal(none.n, 0);
	assert_false(is_open(last[0]));
	pipe_pool_destroy(&none);
}

/*
 * The budget counts pooled pipes and pipes in use: past it get refuses
 * (EMFILE, both fds -1) until one comes back; lowering it closes pooled
 * pipes beyond it at once.
 */
static void
test_budget(void **state)
{
	struct pipe_pool	pp;
	int		 fds[3][2], last[2];

	(void)state;
	pipe_pool_init(&pp, 4);
	pipe_pool_set_budget(&pp, 2);
	assert_int_equal(pipe_pool_get(&pp, fds[0]), 0);
	assert_int_equal(pipe_pool_get(&pp, fds[1]), 0);
	errno = 0;
	assert_int_equal(pipe_pool_get(&pp, fds[2]), -1);
	assert_int_equal(errno, EMFILE);
	assert_int_equal(fds[2][0], -1);
	assert_int_equal(fds[2][1], -1);
	assert_int_equal(pp.in_use, 2);
	pipe_pool_put(&pp, fds[0], true);
	assert_int_equal(pipe_pool_get(&pp, fds[2]), 0);
	pipe_pool_put(&pp, fds[2], true);
	last[0] = fds[1][0];
	last[1] = fds[1][1];
	pipe_pool_put(&pp, fds[1], true);
	assert_int_equal(pp.n, 2);
	pipe_pool_set_budget(&pp, 1);
	assert_int_equal(pp.n, 1);
	assert_false(is_open(last[0]));
	assert_false(is_open(last[1]));
	/* Given back over the budget: closed, not pooled. */
	pipe_pool_set_budget(&pp, 0);
	assert_int_equal(pp.n, 0);
	pipe_pool_set_budget(&pp, 1);
	assert_int_equal(pipe_pool_get(&pp, fds[0]), 0);
	pipe_pool_set_budget(&pp, 0);
	pipe_pool_put(&pp, fds[0], true);
	assert_int_equal(pp.n, 0);
	assert_int_equal(pp.in_use, 0);
	pipe_pool_destroy(&pp);
}

/*
 * Out of descriptors: get fails with both fds -1 and nothing counted as in
 * use, unless the pool has a pipe, which needs no new descriptor.
 */
static void
test_get_without_descriptors(void **state)
{
	struct pipe_pool	pp;
	struct rlimit		rl, low;
	int			fds[2] = { 7, 7 }, spare[2], lowest;

	(void)state;
	pipe_pool_init(&pp, 4);
	assert_int_equal(pipe_pool_get(&pp, spare), 0);
	lowest = open("/dev/null", O_RDONLY);
	assert_true(lowest >= 0);
	close(lowest);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	low = rl;
	low.rlim_cur = (rlim_t)lowest + 1;	/* one descriptor left: a pipe needs two */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);

	assert_int_equal(pipe_pool_get(&pp, fds), -1);
	assert_int_equal(fds[0], -1);
	assert_int_equal(fds[1], -1);
	assert_int_equal(pp.in_use, 1);
	pipe_pool_put(&pp, spare, true);
	assert_int_equal(pipe_pool_get(&pp, fds), 0);	/* the pooled one */
	assert_true(fds[0] >= 0 && fds[1] >= 0);

	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	pipe_pool_put(&pp, fds, true);
	assert_int_equal(pp.in_use, 0);
	pipe_pool_destroy(&pp);
}

/* Grow x4 a step up to size_max; back in the pool at 64 KiB, budget refunded. */
static void
test_grow_and_shrink_back(void **state)
{
	struct pipe_pool	pp;
	struct pipe_pool_stats	st0, st;
	uint32_t		size = PIPE_POOL_SIZE;
	int			fds[2];

	(void)state;
	pipe_pool_init(&pp, 4);
	pipe_pool_set_size_max(&pp, 1U << 20);
	if (pp.size_max < (1U << 20))
		skip();		/* fs.pipe-max-size below 1 MiB here */
	pipe_pool_stats(&st0);
	assert_int_equal(pipe_pool_get(&pp, fds), 0);
	assert_int_equal(pipe_pool_grow(&pp, fds, &size), 0);
	assert_int_equal(size, 256U << 10);
	assert_int_equal(fcntl(fds[1], F_GETPIPE_SZ), 256 << 10);
	assert_int_equal(pipe_pool_grow(&pp, fds, &size), 0);
	assert_int_equal(size, 1U << 20);
	/* At size_max: refused, unchanged. */
	assert_int_equal(pipe_pool_grow(&pp, fds, &size), -1);
	assert_int_equal(size, 1U << 20);
	pipe_pool_stats(&st);
	assert_int_equal(st.grown, st0.grown + 2);
	assert_int_equal(st.big_bytes, st0.big_bytes + (1U << 20) - PIPE_POOL_SIZE);
	pipe_pool_put_sized(&pp, fds, true, size);
	assert_int_equal(pp.n, 1);
	assert_int_equal(fcntl(pp.pipes[0][1], F_GETPIPE_SZ), (int)PIPE_POOL_SIZE);
	pipe_pool_stats(&st);
	assert_int_equal(st.big_bytes, st0.big_bytes);
	/* A grown pipe holding bytes cannot be pooled: closed, refunded. */
	assert_int_equal(pipe_pool_get(&pp, fds), 0);
	size = PIPE_POOL_SIZE;
	assert_int_equal(pipe_pool_grow(&pp, fds, &size), 0);
	assert_int_equal(write(fds[1], "x", 1), 1);
	pipe_pool_put_sized(&pp, fds, false, size);
	assert_int_equal(pp.n, 0);
	assert_int_equal(pp.in_use, 0);
	pipe_pool_stats(&st);
	assert_int_equal(st.big_bytes, st0.big_bytes);
	/* size_max at the default: never grown. */
	pipe_pool_set_size_max(&pp, PIPE_POOL_SIZE);
	assert_int_equal(pipe_pool_get(&pp, fds), 0);
	assert_int_equal(pipe_pool_grow(&pp, fds, &size), -1);
	pipe_pool_put(&pp, fds, true);
	pipe_pool_destroy(&pp);
}

#define GROW_PIPES	48
#define GROW_ROUNDS	20

/*
 * One worker's share of the race below: grow its pipes as far as the
 * budget lets, checking the sum never passes it, then give them all back.
 */
static void *
grow_worker(void *arg)
{
	struct pipe_pool	pp;
	struct pipe_pool_stats	st;
	int			fds[GROW_PIPES][2];
	uint32_t		size[GROW_PIPES];
	long			over = 0;

	(void)arg;
	pipe_pool_init(&pp, GROW_PIPES);
	for (int r = 0; r < GROW_ROUNDS; r++) {
		for (int i = 0; i < GROW_PIPES; i++) {
			if (pipe_pool_get(&pp, fds[i]) != 0)
				return (void *)-1L;
			size[i] = PIPE_POOL_SIZE;
			while (pipe_pool_grow(&pp, fds[i], &size[i]) == 0)
				;
			pipe_pool_stats(&st);
			if (st.big_bytes > st.budget)
				over++;
		}
		for (int i = 0; i < GROW_PIPES; i++)
			pipe_pool_put_sized(&pp, fds[i], true, size[i]);
	}
	pipe_pool_destroy(&pp);
	return (void *)over;
}

/*
 * Two workers' pumps charge one budget: together they fill it but never
 * pass it (48 pipes of 1 MiB each are more than the default budget of
 * 32 MiB), and once every pipe is back the big bytes are 0 again.
 */
static void
test_budget_shared_by_threads(void **state)
{
	struct pipe_pool_stats	st;
	pthread_t		t[2];
	void			*over[2];

	(void)state;
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, grow_worker, NULL), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(t[i], &over[i]), 0);
		assert_int_equal((long)over[i], 0);
	}
	pipe_pool_stats(&st);
	assert_int_equal(st.big_bytes, 0);
	assert_true(st.grown > 0);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_get_makes_a_nonblocking_pipe),
		cmocka_unit_test(test_put_empty_is_reused),
		cmocka_unit_test(test_put_nonempty_closes),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_get_without_descriptors),
		cmocka_unit_test(test_grow_and_shrink_back),
		cmocka_unit_test(test_budget_shared_by_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
