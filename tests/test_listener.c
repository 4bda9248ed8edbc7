/*
 * Unit tests for the listener's accept throttle, with a real worker, a
 * real event loop and real loopback clients: at -max-connections the
 * listener stops accepting (clients wait in the backlog); a connection
 * closing makes room, and accepting resumes from the listener's own
 * watcher on the next loop iteration, not from a call out of conn_close;
 * a higher budget (a reload) resumes accepting without any close.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "snid/addrspec.h"
#include "snid/conn.h"
#include "snid/listener.h"
#include "snid/sock.h"
#include "snid/worker.h"

static struct config	cfg;
static struct worker	w;
static uint16_t		port;

/* A port free just now on 127.0.0.1. */
static uint16_t
free_port(void)
{
	union sockaddr_inet	lo;
	socklen_t		len = sizeof(lo);
	int			fd;

	memset(&lo, 0, sizeof(lo));
	lo.in.sin_family = AF_INET;
	lo.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, &lo.sa, sizeof(lo.in)), 0);
	assert_int_equal(getsockname(fd, &lo.sa, &len), 0);
	close(fd);
	return sock_addr_port(&lo.sa);
}

/* A client connected to the listener (the kernel completes it: backlog). */
static int
client(void)
{
	union sockaddr_inet	lo;
	int			c;

	memset(&lo, 0, sizeof(lo));
	lo.in.sin_family = AF_INET;
	lo.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sock_addr_set_port(&lo.sa, port);
	c = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(c >= 0);
	assert_int_equal(connect(c, &lo.sa, sizeof(lo.in)), 0);
	return c;
}

/* Run the loop until n connections are open, or about a second. */
static void
run_until_open(size_t n)
{
	for (int i = 0; i < 1000 && w.n_conns != n; i++) {
		ev_run(w.loop, EVRUN_NOWAIT);
		if (w.n_conns != n)
			usleep(1000);
	}
}

/* A few loop iterations, for what must not happen. */
static void
run_a_while(void)
{
	for (int i = 0; i < 50; i++) {
		ev_run(w.loop, EVRUN_NOWAIT);
		usleep(1000);
	}
}

static int
setup(void **state)
{
	struct ev_loop	*loop = ev_loop_new(EVFLAG_AUTO);
	char		 spec[64], err[256];
	int		 tries;

	(void)state;
	assert_non_null(loop);
	config_defaults(&cfg);
	cfg.max_connections = 1;
	cfg.n_listeners = 1;
	assert_int_equal(worker_init(&w, loop, &cfg, NULL, 0), 0);
	assert_int_equal(w.shared->max_conns, 1);
	for (tries = 0; tries < 20; tries++) {
		port = free_port();
		snprintf(spec, sizeof(spec), "tcp:127.0.0.1:%u", port);
		assert_int_equal(addrspec_parse_listener(spec, &cfg.listeners[0],
		    err, sizeof(err)), 0);
		if (listener_open_all(w.shared) == 0)
			break;
		listener_close_all(&w);		/* taken meanwhile: another port */
	}
	assert_int_equal(w.n_listeners, 1);
	listener_start_all(&w);
	return 0;
}

static int
teardown(void **state)
{
	struct ev_loop	*loop = w.loop;

	(void)state;
	worker_destroy(&w);
	ev_loop_destroy(loop);
	return 0;
}

static void
test_full_stops_until_a_close(void **state)
{
	int	a, b;

	(void)state;
	a = client();
	run_until_open(1);
	assert_int_equal(w.n_conns, 1);

	/* At the budget: b waits in the backlog, nothing spins. */
	b = client();
	run_a_while();
	assert_int_equal(w.n_conns, 1);
	assert_true(w.accept.full);
	assert_false(ev_is_active(&w.listeners[0].io));
	assert_int_equal(w.counters.accepted, 1);

	/* conn_close only counts: the listener notices by itself. */
	conn_close_all(&w, OUTCOME_SHUTDOWN);
	assert_int_equal(w.n_conns, 0);
	assert_true(w.accept.full);
	assert_false(ev_is_active(&w.listeners[0].io));
	run_until_open(1);
	assert_int_equal(w.n_conns, 1);
	assert_int_equal(w.counters.accepted, 2);
	close(a);
	close(b);
}

static void
test_higher_budget_resumes_without_a_close(void **state)
{
	int	a, b;

	(void)state;
	a = client();
	run_until_open(1);
	b = client();
	run_a_while();
	assert_int_equal(w.n_conns, 1);
	assert_true(w.accept.full);

	/* What a reload of -max-connections does. */
	cfg.max_connections = 2;
	worker_set_limits(&w);
	run_until_open(2);
	assert_int_equal(w.n_conns, 2);
	close(a);
	close(b);
}

/* Draining closes the listeners: no watcher of the throttle stays behind. */
static void
test_close_all_stops_the_throttle(void **state)
{
	int	a, b;

	(void)state;
	a = client();
	run_until_open(1);
	b = client();
	run_a_while();
	assert_true(w.accept.full);
	assert_true(ev_is_active(&w.accept.room));
	listener_close_all(&w);
	assert_false(ev_is_active(&w.accept.room));
	assert_false(ev_is_active(&w.accept.pause));
	close(a);
	close(b);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test_setup_teardown(test_full_stops_until_a_close,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_higher_budget_resumes_without_a_close, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_close_all_stops_the_throttle, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
