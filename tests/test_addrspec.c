/*
 * Unit tests for addrspec: listener specifications (every kind, both
 * wrappers in either order, every limit) and DNS server addresses.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <cmocka.h>

#include "snid/addrspec.h"

static struct listen_spec
listener_ok(const char *s)
{
	struct listen_spec	l;
	char			err[512] = "";

	if (addrspec_parse_listener(s, &l, err, sizeof(err)) != 0)
		fail_msg("'%s' refused: %s", s, err);
	assert_string_equal(l.text, s);
	return l;
}

static void
assert_listener_error(const char *s, const char *want)
{
	struct listen_spec	l;
	char			err[512] = "";

	assert_int_equal(addrspec_parse_listener(s, &l, err, sizeof(err)), -1);
	assert_string_equal(err, want);
}

/* The listener's address as addrspec_format() writes it. */
static void
assert_listener_addr(const struct listen_spec *l, const char *want)
{
	char	buf[128];

	addrspec_format((const struct sockaddr *)&l->addr, l->addrlen, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void
test_addrspec_tcp_port(void **state)
{
	struct listen_spec	l;

	(void)state;
	l = listener_ok("tcp:443");
	assert_int_equal(l.kind, LISTEN_TCP);
	assert_true(l.any_family);
	assert_false(l.proxy);
	assert_false(l.http);
	assert_int_equal(l.addr.ss_family, AF_INET6);
	assert_int_equal(l.addrlen, sizeof(struct sockaddr_in6));
	assert_listener_addr(&l, "[::]:443");
	l = listener_ok("tcp:1");
	assert_listener_addr(&l, "[::]:1");
	l = listener_ok("tcp:65535");
	assert_listener_addr(&l, "[::]:65535");
}

static void
test_addrspec_tcp_ipv4(void **state)
{
	struct listen_spec	l;

	(void)state;
	l = listener_ok("tcp:0.0.0.0:443");
	assert_false(l.any_family);
	assert_int_equal(l.addr.ss_family, AF_INET);
	assert_int_equal(l.addrlen, sizeof(struct sockaddr_in));
	assert_listener_addr(&l, "0.0.0.0:443");
	l = listener_ok("tcp:192.0.2.4:8443");
	assert_listener_addr(&l, "192.0.2.4:8443");
}

static void
test_addrspec_tcp_ipv6(void **state)
{
	struct listen_spec	l;

	(void)state;
	l = listener_ok("tcp:[::]:443");
	assert_false(l.any_family);
	assert_int_equal(l.addr.ss_family, AF_INET6);
	assert_listener_addr(&l, "[::]:443");
	l = listener_ok("tcp:[2001:DB8::1]:443");
	assert_listener_addr(&l, "[2001:db8::1]:443");
	/* Port 0 with an address: the kernel picks (tests read "ready"). */
	l = listener_ok("tcp:127.0.0.1:0");
	assert_listener_addr(&l, "127.0.0.1:0");
	l = listener_ok("tcp:[::1]:0");
	assert_listener_addr(&l, "[::1]:0");
}

static void
test_addrspec_tcp_errors(void **state)
{
	(void)state;
	assert_listener_error("tcp:0", "tcp:0: port must be a number 1..65535");
	assert_listener_error("tcp:65536", "tcp:65536: port must be a number 1..65535");
	assert_listener_error("tcp:", "tcp:: port must be a number 1..65535");
	assert_listener_error("tcp:https", "tcp:https: port must be a number 1..65535");
	assert_listener_error("tcp:+443", "tcp:+443: port must be a number 1..65535");
	assert_listener_error("tcp: 443", "tcp: 443: port must be a number 1..65535");
	assert_listener_error("tcp:443 ", "tcp:443 : port must be a number 1..65535");
	assert_listener_error("tcp:1.2.3.4:", "tcp:1.2.3.4:: port must be a number 1..65535");
	assert_listener_error("tcp:1.2.3.4:00", "tcp:1.2.3.4:00: port must be a number 1..65535");
	assert_listener_error("tcp:1.2.3:443", "tcp:1.2.3:443: invalid IPv4 address");
	assert_listener_error("tcp:localhost:443", "tcp:localhost:443: invalid IPv4 address");
	assert_listener_error("tcp::443", "tcp::443: invalid IPv4 address");
	assert_listener_error("tcp:::1:443",
	    "tcp:::1:443: an IPv6 address must be in brackets: tcp:[IPV6]:PORT");
	assert_listener_error("tcp:[::1]", "tcp:[::1]: expected tcp:[IPV6]:PORT");
	assert_listener_error("tcp:[::1]443", "tcp:[::1]443: expected tcp:[IPV6]:PORT");
	assert_listener_error("tcp:[::1:443", "tcp:[::1:443: expected tcp:[IPV6]:PORT");
	assert_listener_error("tcp:[1.2.3.4]:443", "tcp:[1.2.3.4]:443: invalid IPv6 address");
	assert_listener_error("tcp:[fe80::1%lo]:443", "tcp:[fe80::1%lo]:443: invalid IPv6 address");
}

static void
test_addrspec_unix(void **state)
{
	struct listen_spec	l;
	char			spec[200], want[400];
	size_t			max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;

	(void)state;
	l = listener_ok("unix:/run/snid.sock");
	assert_int_equal(l.kind, LISTEN_UNIX);
	assert_string_equal(l.path, "/run/snid.sock");
	l = listener_ok("unix:relative.sock");
	assert_string_equal(l.path, "relative.sock");

	/* The longest path sun_path holds with its NUL, then one more byte. */
	strcpy(spec, "unix:/");
	memset(spec + 6, 'p', max - 1);
	spec[5 + max] = '\0';
	l = listener_ok(spec);
	assert_int_equal(strlen(l.path), max);
	strcat(spec, "q");
	snprintf(want, sizeof(want), "%s: socket path longer than %zu bytes", spec, max);
	assert_listener_error(spec, want);
	assert_listener_error("unix:", "unix:: empty socket path");
}

static void
test_addrspec_fd(void **state)
{
	struct listen_spec	l;

	(void)state;
	l = listener_ok("fd:3");
	assert_int_equal(l.kind, LISTEN_FD);
	assert_int_equal(l.fd, 3);
	l = listener_ok("fd:2147483647");
	assert_int_equal(l.fd, 2147483647);
	assert_listener_error("fd:0", "fd:0: fd must be 3 or more");
	assert_listener_error("fd:2", "fd:2: fd must be 3 or more");
	assert_listener_error("fd:2147483648", "fd:2147483648: fd must be 3 or more");
	assert_listener_error("fd:99999999999", "fd:99999999999: fd must be a number");
	assert_listener_error("fd:", "fd:: fd must be a number");
	assert_listener_error("fd:-3", "fd:-3: fd must be a number");
	assert_listener_error("fd:3x", "fd:3x: fd must be a number");
}

static void
test_addrspec_fdname(void **state)
{
	struct listen_spec	l;
	char			spec[300];

	(void)state;
	l = listener_ok("fdname:https");
	assert_int_equal(l.kind, LISTEN_FDNAME);
	assert_string_equal(l.fdname, "https");
	l = listener_ok("fdname:with space~!");
	assert_string_equal(l.fdname, "with space~!");

	/* 255 characters is systemd's limit. */
	strcpy(spec, "fdname:");
	memset(spec + 7, 'n', 255);
	spec[7 + 255] = '\0';
	l = listener_ok(spec);
	assert_int_equal(strlen(l.fdname), 255);
	strcat(spec, "n");
	{
		struct listen_spec l2;
		char err[512];

		assert_int_equal(addrspec_parse_listener(spec, &l2, err, sizeof(err)), -1);
		assert_non_null(strstr(err,
		    "fd name must be 1..255 printable ASCII characters without ':'"));
	}
	assert_listener_error("fdname:",
	    "fdname:: fd name must be 1..255 printable ASCII characters without ':'");
	assert_listener_error("fdname:a:b",
	    "fdname:a:b: fd name must be 1..255 printable ASCII characters without ':'");
	assert_listener_error("fdname:tab\there",
	    "fdname:tab\there: fd name must be 1..255 printable ASCII characters without ':'");
	assert_listener_error("fdname:caf\xc3\xa9",
	    "fdname:caf\xc3\xa9: fd name must be 1..255 printable ASCII characters without ':'");
}

static void
test_addrspec_wrappers_either_order(void **state)
{
	struct listen_spec	l;

	(void)state;
	l = listener_ok("proxy:tcp:443");
	assert_true(l.proxy);
	assert_false(l.http);
	assert_int_equal(l.kind, LISTEN_TCP);
	l = listener_ok("http:tcp:0.0.0.0:80");
	assert_false(l.proxy);
	assert_true(l.http);
	assert_listener_addr(&l, "0.0.0.0:80");
	l = listener_ok("proxy:http:unix:/run/a.sock");
	assert_true(l.proxy);
	assert_true(l.http);
	assert_string_equal(l.path, "/run/a.sock");
	l = listener_ok("http:proxy:fdname:http");
	assert_true(l.proxy);
	assert_true(l.http);
	assert_string_equal(l.fdname, "http");
	l = listener_ok("proxy:fd:4");
	assert_int_equal(l.fd, 4);
}

static void
test_addrspec_wrapper_errors(void **state)
{
	(void)state;
	assert_listener_error("proxy:proxy:tcp:443", "proxy:proxy:tcp:443: proxy: given twice");
	assert_listener_error("http:proxy:http:tcp:80",
	    "http:proxy:http:tcp:80: http: given twice");
	assert_listener_error("proxy:",
	    "proxy:: unknown listener type (want tcp:, unix:, fd: or fdname:, optionally after "
	    "proxy: or http:)");
	assert_listener_error("tls:tcp:443",
	    "tls:tcp:443: unknown listener type (want tcp:, unix:, fd: or fdname:, optionally "
	    "after proxy: or http:)");
	assert_listener_error("443",
	    "443: unknown listener type (want tcp:, unix:, fd: or fdname:, optionally after "
	    "proxy: or http:)");
	assert_listener_error("TCP:443",
	    "TCP:443: unknown listener type (want tcp:, unix:, fd: or fdname:, optionally after "
	    "proxy: or http:)");
	assert_listener_error("",
	    ": unknown listener type (want tcp:, unix:, fd: or fdname:, optionally after proxy: "
	    "or http:)");
}

static void
test_addrspec_listener_too_long(void **state)
{
	char			spec[ADDRSPEC_TEXT_MAX + 10];
	struct listen_spec	l;
	char			err[512];

	(void)state;
	strcpy(spec, "unix:");
	memset(spec + 5, 'x', sizeof(spec) - 6);
	spec[sizeof(spec) - 1] = '\0';
	assert_int_equal(addrspec_parse_listener(spec, &l, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too long"));
}

static void
assert_hostport(const char *s, const char *want)
{
	struct sockaddr_storage	ss;
	socklen_t		len = 0;
	char			err[256] = "", buf[128];

	if (addrspec_parse_hostport(s, &ss, &len, err, sizeof(err)) != 0)
		fail_msg("'%s' refused: %s", s, err);
	assert_int_equal(len, ss.ss_family == AF_INET ? sizeof(struct sockaddr_in) :
	    sizeof(struct sockaddr_in6));
	addrspec_format((struct sockaddr *)&ss, len, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void
assert_hostport_error(const char *s, const char *want)
{
	struct sockaddr_storage	ss;
	socklen_t		len = 0;
	char			err[256] = "";

	assert_int_equal(addrspec_parse_hostport(s, &ss, &len, err, sizeof(err)), -1);
	assert_string_equal(err, want);
}

static void
test_addrspec_hostport(void **state)
{
	(void)state;
	assert_hostport("192.0.2.53", "192.0.2.53:53");
	assert_hostport("127.0.0.1:5353", "127.0.0.1:5353");
	assert_hostport("[::1]:5353", "[::1]:5353");
	assert_hostport("[2001:db8::53]", "[2001:db8::53]:53");
	assert_hostport("2001:db8::53", "[2001:db8::53]:53");
	/* A bare IPv6 address never carries a port: the last group is part of it. */
	assert_hostport("2001:db8::1:53", "[2001:db8::1:53]:53");
	assert_hostport("::1", "[::1]:53");
}

static void
test_addrspec_hostport_errors(void **state)
{
	(void)state;
	assert_hostport_error("", ": invalid IPv4 address");
	assert_hostport_error("dns.example", "dns.example: invalid IPv4 address");
	assert_hostport_error("127.0.0.1:0", "127.0.0.1:0: port must be a number 1..65535");
	assert_hostport_error("127.0.0.1:65536", "127.0.0.1:65536: port must be a number 1..65535");
	assert_hostport_error("127.0.0.1:", "127.0.0.1:: port must be a number 1..65535");
	assert_hostport_error("[::1]:", "[::1]:: port must be a number 1..65535");
	assert_hostport_error("[::1]x", "[::1]x: expected [IPV6]:PORT");
	assert_hostport_error("[::1", "[::1: expected [IPV6]:PORT");
	assert_hostport_error("[127.0.0.1]:53", "[127.0.0.1]:53: invalid IPv6 address");
	assert_hostport_error("2001:db8::zz", "2001:db8::zz: invalid IPv6 address");
}

static void
test_addrspec_format_unix_and_other(void **state)
{
	struct sockaddr_un	sun;
	char			buf[160];
	socklen_t		len;

	(void)state;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, "/run/x.sock");
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(sun.sun_path) + 1);
	addrspec_format((struct sockaddr *)&sun, len, buf, sizeof(buf));
	assert_string_equal(buf, "unix:/run/x.sock");
	/* Unnamed (a connected client), then abstract. */
	addrspec_format((struct sockaddr *)&sun, offsetof(struct sockaddr_un, sun_path), buf,
	    sizeof(buf));
	assert_string_equal(buf, "unix:");
	memcpy(sun.sun_path, "\0abs", 4);
	addrspec_format((struct sockaddr *)&sun,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 4), buf,
	    sizeof(buf));
	assert_string_equal(buf, "unix:@abs");
	sun.sun_family = AF_PACKET;
	addrspec_format((struct sockaddr *)&sun, sizeof(sun), buf, sizeof(buf));
	assert_string_equal(buf, "?");
	/* Truncation is safe. */
	{
		struct sockaddr_storage ss;
		socklen_t sl;
		char err[64], small[8];

		assert_int_equal(addrspec_parse_hostport("[2001:db8::53]:53", &ss, &sl, err,
		    sizeof(err)), 0);
		addrspec_format((struct sockaddr *)&ss, sl, small, sizeof(small));
		assert_string_equal(small, "[2001:d");
	}
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_addrspec_tcp_port),
		cmocka_unit_test(test_addrspec_tcp_ipv4),
		cmocka_unit_test(test_addrspec_tcp_ipv6),
		cmocka_unit_test(test_addrspec_tcp_errors),
		cmocka_unit_test(test_addrspec_unix),
		cmocka_unit_test(test_addrspec_fd),
		cmocka_unit_test(test_addrspec_fdname),
		cmocka_unit_test(test_addrspec_wrappers_either_order),
		cmocka_unit_test(test_addrspec_wrapper_errors),
		cmocka_unit_test(test_addrspec_listener_too_long),
		cmocka_unit_test(test_addrspec_hostport),
		cmocka_unit_test(test_addrspec_hostport_errors),
		cmocka_unit_test(test_addrspec_format_unix_and_other),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
