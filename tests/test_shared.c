/*
 * Unit tests for shared: the daemon-wide connection budget and per-source
 * table under threads that reserve at once (as the workers' accepts do):
 * together they never pass the limit, and every slot comes back; and the
 * watchdog's rule over the workers' heartbeats; the daemon-wide rate
 * limit of a warning; a reload over workers without threads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <cmocka.h>

#include "snid/config.h"
#include "snid/shared.h"
#include "snid/worker.h"
#include "snid/workers.h"

#define THREADS	4
#define TRIES	5000

static struct shared	sh;
static struct worker	workers[THREADS];
static int		got[THREADS];

static void *
reserver(void *arg)
{
	int	*n = arg;

	for (int i = 0; i < TRIES; i++)
		if (shared_conn_reserve(&sh))
			(*n)++;
	return NULL;
}

/* 4 threads reserve 5000 times each against a budget of 1000: 1000 win. */
static void
test_shared_reserve_never_passes_the_limit(void **state)
{
	pthread_t	t[THREADS];
	int		total = 0, i;

	(void)state;
	assert_int_equal(shared_init(&sh, workers, THREADS), 0);
	__atomic_store_n(&sh.max_conns, 1000, __ATOMIC_SEQ_CST);
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, reserver, &got[i]), 0);
	for (i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		total += got[i];
	}
	assert_int_equal(total, 1000);
	assert_int_equal(sh.n_conns, 1000);
	assert_false(shared_conn_room(&sh));
	shared_conn_release(&sh);
	assert_true(shared_conn_room(&sh));
	assert_true(shared_conn_reserve(&sh));
	assert_false(shared_conn_reserve(&sh));
	for (i = 0; i < 1000; i++)
		shared_conn_release(&sh);
	assert_int_equal(sh.n_conns, 0);
	shared_free(&sh);
}

static struct srclimit_key	src;
static int			src_got[THREADS];

static void *
acquirer(void *arg)
{
	int	*n = arg;

	for (int i = 0; i < TRIES; i++)
		if (shared_src_acquire(&sh, &src, 256))
			(*n)++;
	return NULL;
}

/* One source from 4 workers at once: 256 connections in all, not 4 x 256. */
static void
test_shared_per_source_limit_counts_every_thread(void **state)
{
	struct config		cfg;
	struct sockaddr_in	sin;
	pthread_t		t[THREADS];
	int			total = 0, i;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.max_connections = 10000;
	assert_int_equal(shared_init(&sh, workers, THREADS), 0);
	shared_set_limits(&sh, &cfg);
	assert_int_equal(sh.max_conns, 10000);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(0xc0000207);
	assert_true(srclimit_key((struct sockaddr *)&sin, &src));
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, acquirer,
		    &src_got[i]), 0);
	for (i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		total += src_got[i];
	}
	assert_int_equal(total, 256);
	for (i = 0; i < 256; i++)
		shared_src_release(&sh, &src);
	assert_int_equal(srclimit_count(&sh.srclimit, &src), 0);
	/* A raised limit keeps the counts (the table grows). */
	assert_true(shared_src_acquire(&sh, &src, 256));
	cfg.max_connections = 100000;
	shared_set_limits(&sh, &cfg);
	assert_int_equal(srclimit_count(&sh.srclimit, &src), 1);
	shared_free(&sh);
}

/*
 * The watchdog's rule (workers_beating): a ping only when every running
 * worker's heartbeat moved since the last one; a worker whose thread has
 * ended (drained) does not hold the pings back.
 */
static void
test_shared_watchdog_needs_every_heartbeat(void **state)
{
	(void)state;
	memset(workers, 0, sizeof(workers));
	assert_int_equal(shared_init(&sh, workers, 2), 0);
	workers[0].running = workers[1].running = true;
	workers[0].beat = workers[1].beat = 1;
	assert_true(workers_beating(&sh));
	/* Worker 1 is stuck in a callback: its beat stays. */
	workers[0].beat++;
	assert_false(workers_beating(&sh));
	workers[0].beat++;
	workers[1].beat++;
	assert_true(workers_beating(&sh));
	/* Worker 1 drained and ended: only worker 0 counts. */
	workers[1].exited = true;
	workers[0].beat++;
	assert_true(workers_beating(&sh));
	assert_false(workers_beating(&sh));
	shared_free(&sh);
}

/* One line per period, whoever asks; the refused are counted for the next. */
static void
test_shared_ratelimit_one_per_period(void **state)
{
	struct shared_ratelimit	rl;
	uint64_t		skipped = 99;

	(void)state;
	memset(&rl, 0, sizeof(rl));
	assert_true(shared_ratelimit(&rl, 1000.0, 60.0, &skipped));
	assert_int_equal(skipped, 0);
	assert_false(shared_ratelimit(&rl, 1000.5, 60.0, &skipped));
	assert_false(shared_ratelimit(&rl, 1059.9, 60.0, NULL));
	/* A worker whose clock lags the winner's is refused too. */
	assert_false(shared_ratelimit(&rl, 999.0, 60.0, NULL));
	assert_true(shared_ratelimit(&rl, 1060.0, 60.0, &skipped));
	assert_int_equal(skipped, 3);
	assert_false(shared_ratelimit(&rl, 1060.0, 60.0, NULL));
	assert_true(shared_ratelimit(&rl, 1200.0, 60.0, &skipped));
	assert_int_equal(skipped, 1);
	/* A clock at 0 is a time, not "never". */
	memset(&rl, 0, sizeof(rl));
	assert_true(shared_ratelimit(&rl, 0.0, 1.0, NULL));
	assert_false(shared_ratelimit(&rl, 0.5, 1.0, NULL));
}

static struct shared_ratelimit	rl_threads;

static void *
ratelimiter(void *arg)
{
	int	*n = arg;

	for (int i = 0; i < TRIES; i++)
		if (shared_ratelimit(&rl_threads, 500.0, 60.0, NULL))
			(*n)++;
	return NULL;
}

/* 4 threads at the same moment, 5000 times each: exactly one line. */
static void
test_shared_ratelimit_once_across_threads(void **state)
{
	pthread_t	t[THREADS];
	uint64_t	skipped;
	int		total = 0;

	(void)state;
	memset(&rl_threads, 0, sizeof(rl_threads));
	memset(got, 0, sizeof(got));
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, ratelimiter,
		    &got[i]), 0);
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		total += got[i];
	}
	assert_int_equal(total, 1);
	assert_true(shared_ratelimit(&rl_threads, 560.0, 60.0, &skipped));
	assert_int_equal(skipped, THREADS * TRIES - 1);
}

/*
 * A reload with workers that have no thread (one loop, as here): main
 * takes both phases for them, every worker ends on the new configuration
 * with nothing left prepared, and the daemon-wide budget is the new one.
 */
static void
test_shared_reload_switches_threadless_workers(void **state)
{
	struct config	cfg, out;
	struct ev_loop	*loops[2];
	bool		 keep = true;

	(void)state;
	memset(workers, 0, sizeof(workers));
	config_defaults(&cfg);
	cfg.max_connections = 50;
	assert_int_equal(shared_init(&sh, workers, 2), 0);
	shared_set_limits(&sh, &cfg);
	for (unsigned i = 0; i < 2; i++) {
		loops[i] = ev_loop_new(EVFLAG_AUTO);
		assert_non_null(loops[i]);
		assert_int_equal(worker_init(&workers[i], loops[i], &cfg, &sh,
		    i), 0);
	}
	out = cfg;
	out.max_connections = 7;
	assert_int_equal(workers_reload(&sh, &out, &keep), 0);
	assert_false(keep);
	assert_int_equal(__atomic_load_n(&sh.max_conns, __ATOMIC_SEQ_CST), 7);
	for (unsigned i = 0; i < 2; i++) {
		assert_ptr_equal(workers[i].cfg, &out);
		assert_null(workers[i].reload_next);
		worker_destroy(&workers[i]);
		ev_loop_destroy(loops[i]);
	}
	shared_free(&sh);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_shared_reserve_never_passes_the_limit),
		cmocka_unit_test(test_shared_per_source_limit_counts_every_thread),
		cmocka_unit_test(test_shared_watchdog_needs_every_heartbeat),
		cmocka_unit_test(test_shared_ratelimit_one_per_period),
		cmocka_unit_test(test_shared_ratelimit_once_across_threads),
		cmocka_unit_test(test_shared_reload_switches_threadless_workers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
