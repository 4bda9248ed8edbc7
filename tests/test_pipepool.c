/*
 * Unit tests for pipepool: a pipe comes from the pool when it has one and
 * from pipe2 otherwise, only empty pipes are pooled and only up to the
 * cap, the count of pipes in use follows every get and put, and a failed
 * get leaves no descriptor behind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
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

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_get_makes_a_nonblocking_pipe),
		cmocka_unit_test(test_put_empty_is_reused),
		cmocka_unit_test(test_put_nonempty_closes),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_get_without_descriptors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
