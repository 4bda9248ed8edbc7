/*
 * Unit tests for worker_drain_lead: how early a draining worker starts
 * closing the connections still open so that the last close lands by
 * -shutdown-timeout.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "snid/worker.h"

#define EPS	1e-9

/* The lead is the closing work: connections times the cost of one. */
static void
test_worker_drain_lead_is_the_closing_work(void **state)
{
	(void)state;
	assert_true(worker_drain_lead(4750, 100e-6, 5) > 0.475 - EPS);
	assert_true(worker_drain_lead(4750, 100e-6, 5) < 0.475 + EPS);
	assert_true(worker_drain_lead(1000, 50e-6, 30) > 0.05 - EPS);
	assert_true(worker_drain_lead(1000, 50e-6, 30) < 0.05 + EPS);
}

/* A handful of connections close at the bound, as before. */
static void
test_worker_drain_lead_none_for_a_handful(void **state)
{
	(void)state;
	assert_true(worker_drain_lead(0, 200e-6, 5) == 0);
	assert_true(worker_drain_lead(1, 200e-6, 5) == 0);
	assert_true(worker_drain_lead(49, 200e-6, 5) == 0);
	/* 50 * 200 us is WORKER_DRAIN_LEAD_MIN: from there on, early. */
	assert_true(worker_drain_lead(51, 200e-6, 5) > 0);
	assert_true(worker_drain_lead(100000, 0, 5) == 0);
}

/* Never more than half the timeout early: a client is owed the rest. */
static void
test_worker_drain_lead_at_most_half_the_timeout(void **state)
{
	(void)state;
	assert_true(worker_drain_lead(100000, 100e-6, 5) == 2.5);
	assert_true(worker_drain_lead(9500, 100e-6, 1) == 0.5);
	assert_true(worker_drain_lead(9500, 100e-6, 0.5) == 0.25);
}

/* -shutdown-timeout 0 (or less) closes everything at once, as asked. */
static void
test_worker_drain_lead_zero_timeout_unchanged(void **state)
{
	(void)state;
	assert_true(worker_drain_lead(9500, 100e-6, 0) == 0);
	assert_true(worker_drain_lead(9500, 100e-6, -1) == 0);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_worker_drain_lead_is_the_closing_work),
		cmocka_unit_test(test_worker_drain_lead_none_for_a_handful),
		cmocka_unit_test(test_worker_drain_lead_at_most_half_the_timeout),
		cmocka_unit_test(test_worker_drain_lead_zero_timeout_unchanged),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
