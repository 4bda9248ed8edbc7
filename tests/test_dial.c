/*
 * Unit tests for dial: the allow-list applied to the exact sockaddr given to
 * connect() (IPv4-mapped counts as IPv4, :: / multicast refused inside an
 * allowed prefix), candidate order and de-duplication, and dial_start on
 * real loopback sockets: an allowed address connects, a refused one never
 * reaches connect() (a decoy listener sees nothing); snid's own listening
 * addresses (exact and wildcard, with the port) refused the same way; the nat46 source
 * address; unix-mode paths (exact name, one-level wildcard, a dead socket
 * is not replaced by the wildcard) on real unix sockets.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "snid/cidr.h"
#include "snid/config.h"
#include "snid/dial.h"

#include "testnet.h"

static struct config cfg;

static void
allow(const char *const *prefixes)
{
	char	err[256];

	config_defaults(&cfg);
	cfg.n_backend_cidrs = 0;
	/* Every port: these tests are about addresses (ports: test_ports_*). */
	assert_int_equal(portset_parse(&cfg.backend_ports, "1-65535", err,
	    sizeof(err)), 0);
	for (; *prefixes != NULL; prefixes++)
		assert_int_equal(cidr_parse(*prefixes,
		    &cfg.backend_cidrs[cfg.n_backend_cidrs++], err, sizeof(err)), 0);
}

static bool
allowed(const char *a)
{
	union sockaddr_inet	s = addr(a, 443);

	return dial_allowed(&cfg, &s.sa);
}

static void
test_allowed_v6_prefix(void **state)
{
	static const char *const p[] = { "2001:db8:1:2:3::/80", NULL };

	(void)state;
	allow(p);
	assert_true(allowed("2001:db8:1:2:3::5"));
	assert_true(allowed("2001:db8:1:2:3:ffff:ffff:ffff"));
	assert_false(allowed("2001:db8:1:2:4::5"));
	assert_false(allowed("::1"));
	assert_false(allowed("127.0.0.1"));
	assert_false(allowed("::ffff:127.0.0.1"));
	assert_false(allowed("fe80::1"));
}

static void
test_mapped_counts_as_v4(void **state)
{
	static const char *const p4[] = { "127.0.0.0/8", NULL };
	static const char *const p6[] = { "::/0", NULL };

	(void)state;
	allow(p4);
	assert_true(allowed("127.0.0.1"));
	assert_true(allowed("::ffff:127.0.0.1"));
	assert_false(allowed("::1"));
	allow(p6);		/* an IPv6-only list never lets a v4-mapped address through */
	assert_false(allowed("::ffff:127.0.0.1"));
	assert_true(allowed("::1"));
}

static void
test_forbidden_even_inside(void **state)
{
	static const char *const p[] = { "::/0", "0.0.0.0/0", NULL };

	(void)state;
	allow(p);
	assert_false(allowed("::"));
	assert_false(allowed("0.0.0.0"));
	assert_false(allowed("::ffff:0.0.0.0"));
	assert_false(allowed("ff02::1"));
	assert_false(allowed("224.0.0.1"));
	assert_false(allowed("255.255.255.255"));
	assert_true(allowed("2001:db8::1"));
	assert_true(allowed("192.0.2.1"));
}

static void
test_candidates_order_port_dedup(void **state)
{
	static const char *const p[] = { "2001:db8::/64", "192.0.2.0/24", NULL };
	union sockaddr_inet	in[6], out[6];
	char			txt[INET6_ADDRSTRLEN];
	size_t			n;

	(void)state;
	allow(p);
	in[0] = addr("2001:db8:ffff::1", 0);	/* outside */
	in[1] = addr("2001:db8::7", 0);
	in[2] = addr("2001:db8::7", 0);		/* duplicate */
	in[3] = addr("2001:db8::", 0);		/* inside; not forbidden (only :: is) */
	in[4] = addr("192.0.2.9", 0);
	in[5] = addr("198.51.100.1", 0);	/* outside */
	n = dial_candidates(&cfg, NULL, in, 6, 8443, out);
	assert_int_equal(n, 3);
	inet_ntop(AF_INET6, &out[0].in6.sin6_addr, txt, sizeof(txt));
	assert_string_equal(txt, "2001:db8::7");
	assert_int_equal(ntohs(out[0].in6.sin6_port), 8443);
	inet_ntop(AF_INET6, &out[1].in6.sin6_addr, txt, sizeof(txt));
	assert_string_equal(txt, "2001:db8::");
	assert_int_equal(out[2].sa.sa_family, AF_INET);
	assert_int_equal(ntohs(out[2].in.sin_port), 8443);
	assert_int_equal(dial_candidates(&cfg, NULL, in, 1, 443, out), 0);
}

/*
 * -backend-ports: only its ports; unset, -backend-port's and the
 * listeners'.  Checked on candidates and again in dial_start.
 */
static void
test_ports_allowed(void **state)
{
	static const char *const p[] = { "2001:db8::/64", NULL };
	struct dial_self	self;
	union sockaddr_inet	in[1], out[1], l, to;
	char			err[256];

	(void)state;
	allow(p);
	portset_clear(&cfg.backend_ports);
	memset(&self, 0, sizeof(self));
	in[0] = addr("2001:db8::7", 0);
	/* Default, no listener known: -backend-port alone. */
	assert_false(dial_port_allowed(&cfg, NULL, 443));
	cfg.backend_port = 8443;
	assert_true(dial_port_allowed(&cfg, NULL, 8443));
	assert_false(dial_port_allowed(&cfg, NULL, 0));
	assert_int_equal(dial_candidates(&cfg, NULL, in, 1, 16379, out), 0);
	assert_int_equal(dial_candidates(&cfg, NULL, in, 1, 8443, out), 1);
	/* A listener's port counts; another port does not. */
	l = addr("::", 443);
	dial_self_add_listen(&self, &l.sa, false);
	assert_true(dial_port_allowed(&cfg, &self, 443));
	assert_false(dial_port_allowed(&cfg, &self, 444));
	assert_int_equal(dial_candidates(&cfg, &self, in, 1, 16379, out), 0);
	assert_int_equal(dial_candidates(&cfg, &self, in, 1, 443, out), 1);
	/* The list replaces the default. */
	assert_int_equal(portset_parse(&cfg.backend_ports, "5222,5269", err,
	    sizeof(err)), 0);
	assert_false(dial_port_allowed(&cfg, &self, 443));
	assert_false(dial_port_allowed(&cfg, &self, 8443));
	assert_true(dial_port_allowed(&cfg, &self, 5269));
	to = addr("2001:db8::7", 16379);
	errno = 0;
	assert_int_equal(dial_start(&cfg, &self, &to), -1);
	assert_int_equal(errno, EACCES);
	cfg.backend_port = 0;
	dial_self_clear(&self);
}

/* A loopback listener on an ephemeral port. */
static int
listener(const char *a, uint16_t *port)
{
	union sockaddr_inet	s = addr(a, 0);
	socklen_t		sl = sizeof(s);
	int			fd = socket(s.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, &s.sa, sock_addr_len(&s.sa)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, &s.sa, &sl), 0);
	*port = sock_addr_port(&s.sa);
	return fd;
}

static void
test_start_connects_to_allowed(void **state)
{
	static const char *const p[] = { "::1/128", NULL };
	struct pollfd		pfd;
	union sockaddr_inet	to;
	uint16_t		port;
	int			l, fd, a, err = -1;
	socklen_t		el = sizeof(err);

	(void)state;
	allow(p);
	l = listener("::1", &port);
	to = addr("::1", port);
	fd = dial_start(&cfg, NULL, &to);
	assert_true(fd >= 0);
	pfd.fd = fd;
	pfd.events = POLLOUT;
	assert_int_equal(poll(&pfd, 1, 2000), 1);
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el), 0);
	assert_int_equal(err, 0);
	a = accept(l, NULL, NULL);
	assert_true(a >= 0);
	close(a);
	close(fd);
	close(l);
}

/* Refused addresses never reach connect(): the decoy sees no connection. */
static void
test_start_refuses_outside(void **state)
{
	static const char *const p[] = { "2001:db8::/64", NULL };
	union sockaddr_inet	to;
	uint16_t		port;
	int			l, a;

	(void)state;
	allow(p);
	l = listener("127.0.0.1", &port);
	to = addr("127.0.0.1", port);
	errno = 0;
	assert_int_equal(dial_start(&cfg, NULL, &to), -1);
	assert_int_equal(errno, EACCES);
	to = addr("::ffff:127.0.0.1", port);
	assert_int_equal(dial_start(&cfg, NULL, &to), -1);
	assert_int_equal(errno, EACCES);
	usleep(50000);
	a = accept(l, NULL, NULL);
	assert_int_equal(a, -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	close(l);
}

static bool
self_has(const struct dial_self *self, const char *a, uint16_t port)
{
	union sockaddr_inet	s = addr(a, port);

	return dial_self_match(self, &s.sa);
}

static void
self_listen(struct dial_self *self, const char *a, uint16_t port, bool v6only)
{
	union sockaddr_inet	s = addr(a, port);

	dial_self_add_listen(self, &s.sa, v6only);
}

/* A listener bound to one address: that address (or its mapped form) and port only. */
static void
test_self_exact_listener(void **state)
{
	struct dial_self	self;

	(void)state;
	memset(&self, 0, sizeof(self));
	self_listen(&self, "127.0.0.1", 8443, false);
	self_listen(&self, "2001:db8::5", 443, false);
	assert_true(self_has(&self, "127.0.0.1", 8443));
	assert_true(self_has(&self, "::ffff:127.0.0.1", 8443));
	assert_false(self_has(&self, "127.0.0.1", 8444));	/* another port: fine */
	assert_false(self_has(&self, "127.0.0.2", 8443));	/* not bound there */
	assert_false(self_has(&self, "::1", 8443));
	assert_true(self_has(&self, "2001:db8::5", 443));
	assert_false(self_has(&self, "2001:db8::6", 443));
	assert_false(self_has(&self, "2001:db8::5", 8443));
	assert_false(dial_self_match(NULL, &(union sockaddr_inet){
	    .in = addr("127.0.0.1", 8443).in }.sa));
	dial_self_clear(&self);
	assert_false(self_has(&self, "127.0.0.1", 8443));
}

/* 0.0.0.0: every IPv4 address of the host, 127/8 always; never IPv6 ones. */
static void
test_self_wildcard_v4(void **state)
{
	struct dial_self	self;
	union sockaddr_inet	l;

	(void)state;
	memset(&self, 0, sizeof(self));
	self_listen(&self, "0.0.0.0", 443, false);
	assert_true(self_has(&self, "127.0.0.1", 443));
	assert_true(self_has(&self, "127.255.0.9", 443));
	assert_true(self_has(&self, "::ffff:127.0.0.9", 443));
	assert_false(self_has(&self, "127.0.0.1", 444));
	assert_false(self_has(&self, "::1", 443));
	assert_false(self_has(&self, "192.0.2.1", 443));
	l = addr("192.0.2.1", 0);
	dial_self_add_local(&self, &l.sa);
	l = addr("2001:db8::1", 0);
	dial_self_add_local(&self, &l.sa);
	assert_true(self_has(&self, "192.0.2.1", 443));
	assert_true(self_has(&self, "::ffff:192.0.2.1", 443));
	assert_false(self_has(&self, "192.0.2.1", 8443));
	assert_false(self_has(&self, "2001:db8::1", 443));	/* an IPv4 socket */
	dial_self_clear(&self);
}

/* ::: the host's IPv6 addresses and ::1, and IPv4 ones unless IPV6_V6ONLY. */
static void
test_self_wildcard_v6(void **state)
{
	struct dial_self	self;
	union sockaddr_inet	l;

	(void)state;
	memset(&self, 0, sizeof(self));
	self_listen(&self, "::", 443, false);
	l = addr("2001:db8::1", 0);
	dial_self_add_local(&self, &l.sa);
	assert_true(self_has(&self, "::1", 443));
	assert_true(self_has(&self, "2001:db8::1", 443));
	assert_false(self_has(&self, "2001:db8::2", 443));
	assert_true(self_has(&self, "127.0.0.1", 443));
	assert_true(self_has(&self, "::ffff:127.0.0.1", 443));
	assert_false(self_has(&self, "::1", 80));
	dial_self_clear(&self);
	self_listen(&self, "::", 443, true);
	assert_true(self_has(&self, "::1", 443));
	assert_false(self_has(&self, "127.0.0.1", 443));
	assert_false(self_has(&self, "::ffff:127.0.0.1", 443));
	dial_self_clear(&self);
}

/*
 * On real sockets: the listener's own address from getsockname, the host's
 * addresses from getifaddrs; candidates and dial_start leave them out, and
 * nothing reaches the listener (which stands for snid itself).
 */
static void
test_self_refused_before_connect(void **state)
{
	static const char *const p[] = { "127.0.0.0/8", "::/0", NULL };
	struct dial_self	self;
	union sockaddr_inet	in[2], out[2], to, lo;
	uint16_t		port;
	int			l, fd;

	(void)state;
	allow(p);
	memset(&self, 0, sizeof(self));
	l = listener("127.0.0.1", &port);
	assert_int_equal(dial_self_add_fd(&self, l), 0);
	assert_int_equal(dial_self_load_host(&self), 0);
	assert_true(self.n_local >= 1);		/* at least lo's 127.0.0.1 */
	assert_true(self_has(&self, "127.0.0.1", port));
	in[0] = addr("127.0.0.1", 0);
	in[1] = addr("::ffff:127.0.0.1", 0);
	assert_int_equal(dial_candidates(&cfg, &self, in, 2, port, out), 0);
	/* Another port of the same address is a backend like any other. */
	assert_int_equal(dial_candidates(&cfg, &self, in, 1, (uint16_t)(port + 1),
	    out), 1);
	to = addr("127.0.0.1", port);
	errno = 0;
	assert_int_equal(dial_start(&cfg, &self, &to), -1);
	assert_int_equal(errno, EACCES);
	usleep(20000);
	assert_int_equal(accept(l, NULL, NULL), -1);
	/* Without the set the same connect goes through: the check is what refused. */
	fd = dial_start(&cfg, NULL, &to);
	assert_true(fd >= 0);
	close(fd);
	/* A wildcard listener with that port: every address getifaddrs gave. */
	dial_self_clear(&self);
	self_listen(&self, "::", port, false);
	assert_int_equal(dial_self_load_host(&self), 0);
	for (size_t i = 0; i < self.n_local; i++) {
		lo = self.local[i];
		if (lo.sa.sa_family == AF_INET)
			lo.in.sin_port = htons(port);
		else {
			lo.in6.sin6_port = htons(port);
			lo.in6.sin6_scope_id = 0;
		}
		assert_true(dial_self_match(&self, &lo.sa));
	}
	dial_self_clear(&self);
	close(l);
}

static void
test_try_next_errors(void **state)
{
	(void)state;
	assert_true(dial_error_try_next(ECONNREFUSED));
	assert_true(dial_error_try_next(EHOSTUNREACH));
	assert_true(dial_error_try_next(ENETUNREACH));
	assert_true(dial_error_try_next(ETIMEDOUT));
	assert_true(dial_error_try_next(EACCES));
	assert_false(dial_error_try_next(EMFILE));
	assert_false(dial_error_try_next(ENFILE));
	assert_false(dial_error_try_next(ENOBUFS));
}

static void
test_nat46_source(void **state)
{
	union sockaddr_inet	client;
	struct sockaddr_in6	src;
	struct sockaddr_un	un;
	char			txt[INET6_ADDRSTRLEN];

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(inet_pton(AF_INET6, "64:ff9b:1::", &cfg.nat46_prefix), 1);
	cfg.has_nat46_prefix = true;
	client = addr("192.0.2.7", 51234);
	assert_true(dial_nat46_source(&cfg, &client.sa, &src));
	assert_int_equal(src.sin6_family, AF_INET6);
	assert_int_equal(src.sin6_port, 0);
	inet_ntop(AF_INET6, &src.sin6_addr, txt, sizeof(txt));
	assert_string_equal(txt, "64:ff9b:1::c000:207");
	/* A dual-stack listener's IPv4 client. */
	client = addr("::ffff:198.51.100.255", 1);
	assert_true(dial_nat46_source(&cfg, &client.sa, &src));
	inet_ntop(AF_INET6, &src.sin6_addr, txt, sizeof(txt));
	assert_string_equal(txt, "64:ff9b:1::c633:64ff");
	/* Only the first 12 bytes of the prefix count. */
	cfg.nat46_prefix.s6_addr[15] = 0xee;
	client = addr("10.0.0.1", 1);
	assert_true(dial_nat46_source(&cfg, &client.sa, &src));
	inet_ntop(AF_INET6, &src.sin6_addr, txt, sizeof(txt));
	assert_string_equal(txt, "64:ff9b:1::a00:1");
	client = addr("2001:db8::7", 1);
	assert_false(dial_nat46_source(&cfg, &client.sa, &src));
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	assert_false(dial_nat46_source(&cfg, (struct sockaddr *)&un, &src));
}

/* A nat46 source never goes with an IPv4 backend: refused before connect(). */
static void
test_start_from_source_needs_ipv6_backend(void **state)
{
	static const char *const p[] = { "127.0.0.0/8", NULL };
	union sockaddr_inet	to, client;
	struct sockaddr_in6	src;
	uint16_t		port;
	int			l;

	(void)state;
	allow(p);
	assert_int_equal(inet_pton(AF_INET6, "64:ff9b:1::", &cfg.nat46_prefix), 1);
	client = addr("192.0.2.7", 1);
	assert_true(dial_nat46_source(&cfg, &client.sa, &src));
	l = listener("127.0.0.1", &port);
	to = addr("127.0.0.1", port);
	errno = 0;
	assert_int_equal(dial_start_from(&cfg, NULL, &to, &src), -1);
	assert_int_equal(errno, EAFNOSUPPORT);
	usleep(20000);
	assert_int_equal(accept(l, NULL, NULL), -1);
	close(l);
}

static char unix_dir[64];

/* A listening unix socket at unix_dir/name. */
static int
unix_listener(const char *name)
{
	struct sockaddr_un	un;
	int			fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	snprintf(un.sun_path, sizeof(un.sun_path), "%s/%s", unix_dir, name);
	assert_int_equal(bind(fd, (struct sockaddr *)&un, sizeof(un)), 0);
	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

/* Whether l has a connection waiting (accepting and closing it). */
static bool
unix_accepted(int l)
{
	int	a = accept(l, NULL, NULL);

	if (a == -1)
		return false;
	close(a);
	return true;
}

static void
test_unix_exact_wildcard_and_refusals(void **state)
{
	struct sockaddr_un	path;
	char			want[sizeof(path.sun_path)], longname[HOSTNAME_MAX + 1];
	int			exact, wild, dead, fd;

	(void)state;
	snprintf(unix_dir, sizeof(unix_dir), "/tmp/snid-test-dial-XXXXXX");
	assert_non_null(mkdtemp(unix_dir));
	config_defaults(&cfg);
	cfg.mode = MODE_UNIX;
	/* A trailing slash names the same directory. */
	snprintf(cfg.unix_directory, sizeof(cfg.unix_directory), "%s/", unix_dir);
	exact = unix_listener("www.example.com");
	wild = unix_listener("_.example.com");
	dead = unix_listener("down.example.com");
	close(dead);		/* the file stays; no one listens */

	fd = dial_unix(&cfg, NULL, "www.example.com", &path);
	assert_true(fd >= 0);
	snprintf(want, sizeof(want), "%s/www.example.com", unix_dir);
	assert_string_equal(path.sun_path, want);
	assert_true(unix_accepted(exact));
	assert_false(unix_accepted(wild));
	close(fd);

	fd = dial_unix(&cfg, NULL, "other.example.com", &path);
	assert_true(fd >= 0);
	snprintf(want, sizeof(want), "%s/_.example.com", unix_dir);
	assert_string_equal(path.sun_path, want);
	assert_true(unix_accepted(wild));
	close(fd);

	/* One level only; no parent for one label; no socket at all. */
	errno = 0;
	assert_int_equal(dial_unix(&cfg, NULL, "a.www.example.com", &path), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(dial_unix(&cfg, NULL, "example", &path), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(dial_unix(&cfg, NULL, "example.org", &path), -1);
	assert_int_equal(errno, ENOENT);
	/* The dead service's clients do not go to the wildcard. */
	assert_int_equal(dial_unix(&cfg, NULL, "down.example.com", &path), -1);
	assert_int_equal(errno, ECONNREFUSED);
	assert_false(unix_accepted(wild));
	/*
	 * Longer than sun_path: no such socket can exist, so the wildcard
	 * serves the name, as for any name without its own socket...
	 */
	memset(longname, 'a', 120);
	memcpy(longname + 120, ".example.com", 13);
	fd = dial_unix(&cfg, NULL, longname, &path);
	assert_true(fd >= 0);
	assert_true(unix_accepted(wild));
	close(fd);
	/* ...of its own parent only: _.bbb...example.com does not exist. */
	memset(longname, 'a', 63);
	longname[63] = '.';
	memset(longname + 64, 'b', 63);
	memcpy(longname + 127, ".example.com", 13);
	errno = 0;
	assert_int_equal(dial_unix(&cfg, NULL, longname, &path), -1);
	assert_int_equal(errno, ENOENT);
	assert_false(unix_accepted(wild));

	close(exact);
	close(wild);
	snprintf(want, sizeof(want), "rm -rf '%s'", unix_dir);
	assert_int_equal(system(want), 0);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_allowed_v6_prefix),
		cmocka_unit_test(test_mapped_counts_as_v4),
		cmocka_unit_test(test_forbidden_even_inside),
		cmocka_unit_test(test_candidates_order_port_dedup),
		cmocka_unit_test(test_ports_allowed),
		cmocka_unit_test(test_start_connects_to_allowed),
		cmocka_unit_test(test_start_refuses_outside),
		cmocka_unit_test(test_self_exact_listener),
		cmocka_unit_test(test_self_wildcard_v4),
		cmocka_unit_test(test_self_wildcard_v6),
		cmocka_unit_test(test_self_refused_before_connect),
		cmocka_unit_test(test_try_next_errors),
		cmocka_unit_test(test_nat46_source),
		cmocka_unit_test(test_start_from_source_needs_ipv6_backend),
		cmocka_unit_test(test_unix_exact_wildcard_and_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
