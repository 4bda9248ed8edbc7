/* sdnotify: datagrams really arrive on a socket of our own, path and abstract. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "snid/sdnotify.h"

/* A receiving datagram socket bound to name (path, or "@abstract"). */
static int
receiver(const char *name)
{
	struct sockaddr_un	sun;
	socklen_t		len;
	int			fd;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, name, strlen(name));
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name));
	if (name[0] == '@')
		sun.sun_path[0] = '\0';
	else
		len++;
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, len), 0);
	return fd;
}

static void
expect_datagram(int fd, const char *want)
{
	char	buf[600];
	ssize_t	r;

	r = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	assert_true(r >= 0);
	buf[r] = '\0';
	assert_string_equal(buf, want);
}

static void
test_sdnotify_path_socket(void **state)
{
	char		dir[] = "/tmp/snid-sdnotify-XXXXXX", path[128], err[256];
	struct sdnotify	n;
	int		fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/notify", dir);
	fd = receiver(path);
	setenv("NOTIFY_SOCKET", path, 1);
	assert_int_equal(sdnotify_open(&n, err, sizeof(err)), 0);
	assert_true(n.fd >= 0);
	assert_int_equal(sdnotify_send(&n, "READY=1"), 0);
	expect_datagram(fd, "READY=1");
	assert_int_equal(sdnotify_sendf(&n, "STATUS=%d connections", 42), 0);
	expect_datagram(fd, "STATUS=42 connections");
	sdnotify_close(&n);
	close(fd);
	unlink(path);
	rmdir(dir);
}

static void
test_sdnotify_abstract_socket(void **state)
{
	char		name[64], err[256];
	struct sdnotify	n;
	int		fd;

	(void)state;
	snprintf(name, sizeof(name), "@snid-test-%ld", (long)getpid());
	fd = receiver(name);
	setenv("NOTIFY_SOCKET", name, 1);
	assert_int_equal(sdnotify_open(&n, err, sizeof(err)), 0);
	assert_int_equal(sdnotify_send(&n, "STOPPING=1"), 0);
	expect_datagram(fd, "STOPPING=1");
	sdnotify_close(&n);
	close(fd);
}

static void
test_sdnotify_unset_is_noop(void **state)
{
	char		err[256];
	struct sdnotify	n;

	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(sdnotify_open(&n, err, sizeof(err)), 0);
	assert_int_equal(n.fd, -1);
	assert_int_equal(sdnotify_send(&n, "READY=1"), 0);
}

static void
test_sdnotify_bad_socket_name(void **state)
{
	char		err[256];
	struct sdnotify	n;

	(void)state;
	setenv("NOTIFY_SOCKET", "relative/path", 1);
	assert_int_equal(sdnotify_open(&n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "relative/path"));
	unsetenv("NOTIFY_SOCKET");
}

static void
test_sdnotify_watchdog(void **state)
{
	char	pid[32];

	(void)state;
	unsetenv("WATCHDOG_PID");
	unsetenv("WATCHDOG_USEC");
	assert_int_equal(sdnotify_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "30000000", 1);
	assert_int_equal(sdnotify_watchdog_usec(), 30000000);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(sdnotify_watchdog_usec(), 30000000);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid() + 1);
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(sdnotify_watchdog_usec(), 0);
	unsetenv("WATCHDOG_PID");
	setenv("WATCHDOG_USEC", "12x", 1);
	assert_int_equal(sdnotify_watchdog_usec(), 0);
	unsetenv("WATCHDOG_USEC");
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_sdnotify_path_socket),
		cmocka_unit_test(test_sdnotify_abstract_socket),
		cmocka_unit_test(test_sdnotify_unset_is_noop),
		cmocka_unit_test(test_sdnotify_bad_socket_name),
		cmocka_unit_test(test_sdnotify_watchdog),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
