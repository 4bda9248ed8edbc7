/*
 * Unit tests for sock: the address helpers (length, port, text with
 * brackets for IPv6), and on real loopback sockets the listening policy
 * (IPV6_V6ONLY, so [::]:P and 0.0.0.0:P coexist; non-blocking,
 * close-on-exec, TCP_NODELAY inherited), the error text naming the failed
 * step, adopting a passed socket, and accept's classes: empty backlog, a
 * connection, descriptor exhaustion (a lowered RLIMIT_NOFILE), and a socket
 * that does not listen.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "snid/sock.h"

#include "testnet.h"

/* The port a listening socket got. */
static uint16_t
bound_port(int fd)
{
	union sockaddr_inet	s;
	socklen_t		len = sizeof(s);

	assert_int_equal(getsockname(fd, &s.sa, &len), 0);
	return sock_addr_port(&s.sa);
}

static void
test_addr_len_and_port(void **state)
{
	union sockaddr_inet	v4 = addr("192.0.2.1", 443);
	union sockaddr_inet	v6 = addr("2001:db8::1", 8443);
	struct sockaddr_un	sun;

	(void)state;
	assert_int_equal(sock_addr_len(&v4.sa), sizeof(struct sockaddr_in));
	assert_int_equal(sock_addr_len(&v6.sa), sizeof(struct sockaddr_in6));
	assert_int_equal(sock_addr_port(&v4.sa), 443);
	assert_int_equal(sock_addr_port(&v6.sa), 8443);
	sock_addr_set_port(&v4.sa, 1);
	sock_addr_set_port(&v6.sa, 65535);
	assert_int_equal(ntohs(v4.in.sin_port), 1);
	assert_int_equal(ntohs(v6.in6.sin6_port), 65535);

	/* Not IP: no length, no port, and setting one writes nothing. */
	memset(&sun, 0xaa, sizeof(sun));
	sun.sun_family = AF_UNIX;
	assert_int_equal(sock_addr_len((struct sockaddr *)&sun), 0);
	assert_int_equal(sock_addr_port((struct sockaddr *)&sun), 0);
	sock_addr_set_port((struct sockaddr *)&sun, 80);
	assert_int_equal((unsigned char)sun.sun_path[0], 0xaa);
	assert_int_equal((unsigned char)sun.sun_path[1], 0xaa);
}

static void
test_addr_format_brackets_v6(void **state)
{
	union sockaddr_inet	v4 = addr("192.0.2.1", 443);
	union sockaddr_inet	v6 = addr("2001:db8::1", 443);
	union sockaddr_inet	lo = addr("::ffff:127.0.0.1", 80);
	char			buf[SOCK_ADDR_TEXT_MAX];

	(void)state;
	sock_addr_format(&v4.sa, buf, sizeof(buf));
	assert_string_equal(buf, "192.0.2.1:443");
	sock_addr_format(&v6.sa, buf, sizeof(buf));
	assert_string_equal(buf, "[2001:db8::1]:443");
	sock_addr_format(&lo.sa, buf, sizeof(buf));
	assert_string_equal(buf, "[::ffff:127.0.0.1]:80");
	/* A long one fits. */
	v6 = addr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
	sock_addr_format(&v6.sa, buf, sizeof(buf));
	assert_string_equal(buf,
	    "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
}

/* fd is non-blocking and close-on-exec. */
static void
assert_nonblock_cloexec(int fd)
{
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
}

/*
 * [::]:P takes IPv6 only whatever net.ipv6.bindv6only says: 0.0.0.0:P can
 * be bound next to it, and an IPv4 client is not taken by the v6 socket.
 */
static void
test_listen_v6only(void **state)
{
	union sockaddr_inet	any6 = addr("::", 0), any4;
	char			err[SOCK_ERR_MAX] = "";
	int			fd6, fd4, v = 0;
	socklen_t		len = sizeof(v);
	uint16_t		port;

	(void)state;
	fd6 = sock_listen_tcp(&any6.sa, 16, 0, err, sizeof(err));
	assert_true(fd6 >= 0);
	assert_int_equal(getsockopt(fd6, IPPROTO_IPV6, IPV6_V6ONLY, &v, &len),
	    0);
	assert_int_equal(v, 1);
	assert_nonblock_cloexec(fd6);
	v = 0;
	len = sizeof(v);
	assert_int_equal(getsockopt(fd6, SOL_SOCKET, SO_REUSEADDR, &v, &len), 0);
	assert_int_equal(v, 1);
	port = bound_port(fd6);
	any4 = addr("0.0.0.0", port);
	fd4 = sock_listen_tcp(&any4.sa, 16, 0, err, sizeof(err));
	assert_true(fd4 >= 0);
	close(fd4);
	close(fd6);
}

static void
test_listen_error_names_step(void **state)
{
	union sockaddr_inet	lo = addr("127.0.0.1", 0);
	char			err[SOCK_ERR_MAX] = "";
	int			fd, fd2;

	(void)state;
	fd = sock_listen_tcp(&lo.sa, 16, 0, err, sizeof(err));
	assert_true(fd >= 0);
	lo = addr("127.0.0.1", bound_port(fd));
	errno = 0;
	fd2 = sock_listen_tcp(&lo.sa, 16, 0, err, sizeof(err));
	assert_int_equal(fd2, -1);
	assert_int_equal(errno, EADDRINUSE);
	assert_string_equal(err, "bind: Address already in use");
	close(fd);
}

/* poll for readability; true when ready within a second. */
static bool
ready(int fd)
{
	struct pollfd	p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 1000) == 1;
}

/* A blocking client connected to sa. */
static int
client_to(const union sockaddr_inet *sa)
{
	int	c = socket(sa->sa.sa_family, SOCK_STREAM, 0);

	assert_true(c >= 0);
	assert_int_equal(connect(c, &sa->sa, sock_addr_len(&sa->sa)), 0);
	return c;
}

static void
test_accept_empty_then_ok(void **state)
{
	union sockaddr_inet	lo = addr("::1", 0), peer;
	socklen_t		peerlen = sizeof(peer);
	char			err[SOCK_ERR_MAX] = "";
	int			l, c, fd = 123, v = 0;
	socklen_t		len = sizeof(v);

	(void)state;
	l = sock_listen_tcp(&lo.sa, 16, SOCK_LISTEN_NODELAY, err, sizeof(err));
	assert_true(l >= 0);
	assert_int_equal(sock_accept(l, &peer.sa, &peerlen, &fd, err,
	    sizeof(err)), SOCK_ACCEPT_EMPTY);
	assert_int_equal(fd, -1);
	lo = addr("::1", bound_port(l));
	c = client_to(&lo);
	assert_true(ready(l));
	assert_int_equal(sock_accept(l, &peer.sa, &peerlen, &fd, err,
	    sizeof(err)), SOCK_ACCEPT_OK);
	assert_true(fd >= 0);
	assert_int_equal(peerlen, sizeof(struct sockaddr_in6));
	assert_int_equal(peer.sa.sa_family, AF_INET6);
	assert_nonblock_cloexec(fd);
	/* The listener's TCP_NODELAY came along. */
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
	assert_int_not_equal(v, 0);
	close(fd);
	/* No peer wanted (metricsd). */
	close(c);
	c = client_to(&lo);
	assert_true(ready(l));
	assert_int_equal(sock_accept(l, NULL, NULL, &fd, err, sizeof(err)),
	    SOCK_ACCEPT_OK);
	close(fd);
	close(c);
	close(l);
}

/*
 * Out of descriptors: EXHAUSTED, err says why, and accepting works again
 * once there is room.  (The kernel keeps the connection queued, which is
 * why the listener pauses; not checked here, since valgrind emulates the
 * limit by closing the accepted socket itself.)
 */
static void
test_accept_exhausted_then_recovers(void **state)
{
	union sockaddr_inet	lo = addr("127.0.0.1", 0);
	struct rlimit		rl, low;
	char			err[SOCK_ERR_MAX] = "";
	int			l, c, c2, fd, next;

	(void)state;
	l = sock_listen_tcp(&lo.sa, 16, 0, err, sizeof(err));
	assert_true(l >= 0);
	lo = addr("127.0.0.1", bound_port(l));
	c = client_to(&lo);
	assert_true(ready(l));
	next = dup(0);
	assert_true(next >= 0);
	close(next);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	low = rl;
	low.rlim_cur = (rlim_t)next;	/* the lowest free fd is over it */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	assert_int_equal(sock_accept(l, NULL, NULL, &fd, err, sizeof(err)),
	    SOCK_ACCEPT_EXHAUSTED);
	assert_int_equal(errno, EMFILE);
	assert_int_equal(fd, -1);
	assert_string_equal(err, strerror(EMFILE));
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	c2 = client_to(&lo);
	assert_true(ready(l));
	assert_int_equal(sock_accept(l, NULL, NULL, &fd, err, sizeof(err)),
	    SOCK_ACCEPT_OK);
	close(fd);
	close(c2);
	close(c);
	close(l);
}

static void
test_accept_not_listening_is_fatal(void **state)
{
	char	err[SOCK_ERR_MAX] = "";
	int	s, fd;

	(void)state;
	s = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s >= 0);
	assert_int_equal(sock_accept(s, NULL, NULL, &fd, err, sizeof(err)),
	    SOCK_ACCEPT_FATAL);
	assert_int_equal(fd, -1);
	assert_string_equal(err, strerror(EINVAL));
	close(s);
}

static void
test_accept_classify(void **state)
{
	static const int	retry[] = { EINTR, ECONNABORTED, EPROTO, EPERM,
	    ENOPROTOOPT, EHOSTDOWN, ENONET, EHOSTUNREACH, EOPNOTSUPP,
	    ENETUNREACH };
	static const int	exhausted[] = { EMFILE, ENFILE, ENOBUFS, ENOMEM };
	static const int	fatal[] = { EBADF, EINVAL, ENOTSOCK, EFAULT };
	size_t			i;

	(void)state;
	assert_int_equal(sock_accept_classify(EAGAIN), SOCK_ACCEPT_EMPTY);
	assert_int_equal(sock_accept_classify(EWOULDBLOCK), SOCK_ACCEPT_EMPTY);
	for (i = 0; i < sizeof(retry) / sizeof(retry[0]); i++)
		assert_int_equal(sock_accept_classify(retry[i]),
		    SOCK_ACCEPT_RETRY);
	for (i = 0; i < sizeof(exhausted) / sizeof(exhausted[0]); i++)
		assert_int_equal(sock_accept_classify(exhausted[i]),
		    SOCK_ACCEPT_EXHAUSTED);
	for (i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		assert_int_equal(sock_accept_classify(fatal[i]),
		    SOCK_ACCEPT_FATAL);
}

static void
test_adopt_listener(void **state)
{
	union sockaddr_inet	lo = addr("127.0.0.1", 0);
	char			err[SOCK_ERR_MAX] = "";
	int			s, u;

	(void)state;
	/* Bound, not listening: would never accept. */
	s = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s >= 0);
	assert_int_equal(bind(s, &lo.sa, sizeof(lo.in)), 0);
	assert_int_equal(sock_adopt_listener(s, err, sizeof(err)), -1);
	assert_string_equal(err, "not a listening socket");
	/* Listening, blocking, inheritable: taken over, made ours. */
	assert_int_equal(listen(s, 4), 0);
	assert_false(fcntl(s, F_GETFL) & O_NONBLOCK);
	assert_int_equal(sock_adopt_listener(s, err, sizeof(err)), 0);
	assert_nonblock_cloexec(s);
	close(s);
	/* A datagram socket never listens. */
	u = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(u >= 0);
	assert_int_equal(sock_adopt_listener(u, err, sizeof(err)), -1);
	assert_string_equal(err, "not a listening socket");
	close(u);
	/* Not a descriptor at all. */
	assert_int_equal(sock_adopt_listener(u, err, sizeof(err)), -1);
	assert_string_equal(err, strerror(EBADF));
}

static void
test_listen_unix(void **state)
{
	struct sockaddr_un	sun;
	char			dir[] = "/tmp/test_sock.XXXXXX";
	char			err[SOCK_ERR_MAX] = "";
	int			l, l2, c;

	(void)state;
	assert_non_null(mkdtemp(dir));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/s", dir);
	l = sock_listen_unix(&sun, 4, err, sizeof(err));
	assert_true(l >= 0);
	assert_nonblock_cloexec(l);
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(c, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(c);
	/* The file exists: never replaced here (listener.c decides). */
	l2 = sock_listen_unix(&sun, 4, err, sizeof(err));
	assert_int_equal(l2, -1);
	assert_string_equal(err, "bind: Address already in use");
	close(l);
	unlink(sun.sun_path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_addr_len_and_port),
		cmocka_unit_test(test_addr_format_brackets_v6),
		cmocka_unit_test(test_listen_v6only),
		cmocka_unit_test(test_listen_error_names_step),
		cmocka_unit_test(test_accept_empty_then_ok),
		cmocka_unit_test(test_accept_exhausted_then_recovers),
		cmocka_unit_test(test_accept_not_listening_is_fatal),
		cmocka_unit_test(test_accept_classify),
		cmocka_unit_test(test_adopt_listener),
		cmocka_unit_test(test_listen_unix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
