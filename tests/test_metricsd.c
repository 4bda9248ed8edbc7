/*
 * Unit tests for metricsd's sockets, on real loopback sockets and a real
 * event loop: -metrics opens its sockets with the listeners' policy, so
 * tcp:[::]:P serves IPv6 only (an IPv4 scraper is refused, whatever
 * net.ipv6.bindv6only says) and tcp:P serves both families, each through
 * its own socket.  (The HTTP side is covered by the integration cases.)
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
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "snid/addrspec.h"
#include "snid/metricsd.h"
#include "snid/sock.h"
#include "snid/shared.h"
#include "snid/worker.h"

#include "testnet.h"

static struct config	cfg;
static struct worker	w;
static struct shared	sh;
static struct metricsd	*d;

/* A port that is free in both families just now. */
static uint16_t
free_port(void)
{
	union sockaddr_inet	any = addr("::", 0);
	socklen_t		len = sizeof(any);
	int			fd, zero = 0;

	fd = socket(AF_INET6, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	/* Dual-stack, so the port is free for IPv4 too. */
	assert_int_equal(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero,
	    sizeof(zero)), 0);
	assert_int_equal(bind(fd, &any.sa, sizeof(any.in6)), 0);
	assert_int_equal(getsockname(fd, &any.sa, &len), 0);
	close(fd);
	return sock_addr_port(&any.sa);
}

/* Start -metrics on prefix and a free port.  Returns the port. */
static uint16_t
start(const char *prefix)
{
	char		spec[64], err[256];
	uint16_t	port;
	int		tries;

	for (tries = 0; tries < 20; tries++) {
		port = free_port();
		snprintf(spec, sizeof(spec), "%s%u", prefix, port);
		assert_int_equal(addrspec_parse_listener(spec, &cfg.metrics,
		    err, sizeof(err)), 0);
		/* Taken meanwhile by someone else: another port. */
		if (metricsd_open(&d, w.loop, &cfg.metrics, &sh) == 0)
			return port;
	}
	fail_msg("no free port for -metrics %s", prefix);
	return 0;
}

/* GET /metrics from sa, running the loop meanwhile.  Returns the status line. */
static void
scrape(const union sockaddr_inet *sa, char *line, size_t len)
{
	static const char	req[] = "GET /metrics HTTP/1.0\r\n\r\n";
	char			buf[16384];
	size_t			got = 0;
	ssize_t			n;
	int			c, i;

	c = socket(sa->sa.sa_family, SOCK_STREAM, 0);
	assert_true(c >= 0);
	assert_int_equal(connect(c, &sa->sa, sock_addr_len(&sa->sa)), 0);
	assert_int_equal(send(c, req, sizeof(req) - 1, 0), sizeof(req) - 1);
	for (i = 0; i < 2000; i++) {
		ev_run(w.loop, EVRUN_NOWAIT);
		n = recv(c, buf + got, sizeof(buf) - 1 - got, MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n > 0)
			got += (size_t)n;
		else {
			assert_int_equal(errno, EAGAIN);
			usleep(1000);
		}
	}
	close(c);
	buf[got] = '\0';
	snprintf(line, len, "%.*s", (int)strcspn(buf, "\r\n"), buf);
}

/* Whether a TCP connection to sa is refused (nothing listens there). */
static bool
refused(const union sockaddr_inet *sa)
{
	int	c, r, err;

	c = socket(sa->sa.sa_family, SOCK_STREAM, 0);
	assert_true(c >= 0);
	r = connect(c, &sa->sa, sock_addr_len(&sa->sa));
	err = errno;
	close(c);
	return r == -1 && err == ECONNREFUSED;
}

static int
setup(void **state)
{
	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	memset(&w, 0, sizeof(w));
	w.loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(w.loop);
	w.cfg = &cfg;
	/* One worker without a thread: a scrape reads its counters directly. */
	assert_int_equal(shared_init(&sh, &w, 1), 0);
	w.shared = &sh;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	metricsd_close(&d);
	ev_loop_destroy(w.loop);
	shared_free(&sh);
	return 0;
}

static void
test_v6_wildcard_is_v6_only(void **state)
{
	union sockaddr_inet	v6, v4;
	char			line[128];
	uint16_t		port;

	(void)state;
	port = start("tcp:[::]:");
	v6 = addr("::1", port);
	v4 = addr("127.0.0.1", port);
	scrape(&v6, line, sizeof(line));
	assert_string_equal(line, "HTTP/1.0 200 OK");
	assert_true(refused(&v4));
}

static void
test_port_only_serves_both_families(void **state)
{
	union sockaddr_inet	v6, v4;
	char			line[128];
	uint16_t		port;

	(void)state;
	port = start("tcp:");
	v6 = addr("::1", port);
	v4 = addr("127.0.0.1", port);
	scrape(&v6, line, sizeof(line));
	assert_string_equal(line, "HTTP/1.0 200 OK");
	scrape(&v4, line, sizeof(line));
	assert_string_equal(line, "HTTP/1.0 200 OK");
}

static void
test_v4_address(void **state)
{
	union sockaddr_inet	v4, v6;
	char			line[128];
	uint16_t		port;

	(void)state;
	port = start("tcp:127.0.0.1:");
	v4 = addr("127.0.0.1", port);
	v6 = addr("::1", port);
	scrape(&v4, line, sizeof(line));
	assert_string_equal(line, "HTTP/1.0 200 OK");
	assert_true(refused(&v6));
}

/* Closing stops the sockets: nothing listens on the port any more. */
static void
test_close_closes_every_socket(void **state)
{
	union sockaddr_inet	v6, v4;
	uint16_t		port;

	(void)state;
	port = start("tcp:");
	metricsd_close(&d);
	assert_null(d);
	v6 = addr("::1", port);
	v4 = addr("127.0.0.1", port);
	assert_true(refused(&v6));
	assert_true(refused(&v4));
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test_setup_teardown(test_v6_wildcard_is_v6_only,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_port_only_serves_both_families, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v4_address, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_close_closes_every_socket,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
