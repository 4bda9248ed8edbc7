/*
 * Unit tests for log: the exact access-line format the test harness parses,
 * SNI sanitizing (escapes, truncation never splitting an escape), level
 * filtering, journal detection and the RFC 3339 prefix, through a real pipe;
 * a full stderr (pipe, stream socket) never blocks and is counted.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "snid/log.h"

static struct sockaddr_in
v4(const char *a, uint16_t port)
{
	struct sockaddr_in	s;

	memset(&s, 0, sizeof(s));
	s.sin_family = AF_INET;
	s.sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, a, &s.sin_addr), 1);
	return s;
}

static struct sockaddr_in6
v6(const char *a, uint16_t port)
{
	struct sockaddr_in6	s;

	memset(&s, 0, sizeof(s));
	s.sin6_family = AF_INET6;
	s.sin6_port = htons(port);
	assert_int_equal(inet_pton(AF_INET6, a, &s.sin6_addr), 1);
	return s;
}

static void
test_access_line_exact(void **state)
{
	struct sockaddr_in	c = v4("192.0.2.7", 51234);
	struct sockaddr_in6	b = v6("2001:db8::5", 443);
	struct log_access	a;
	char			buf[LOG_LINE_MAX];
	size_t			n;

	(void)state;
	memset(&a, 0, sizeof(a));
	a.client = (struct sockaddr *)&c;
	a.clientlen = sizeof(c);
	a.sni = "example.com";
	a.backend = (struct sockaddr *)&b;
	a.backendlen = sizeof(b);
	a.up = 517;
	a.down = 4096;
	a.duration = 0.0123;
	a.outcome = OUTCOME_OK;
	n = log_format_access(buf, sizeof(buf), &a);
	assert_string_equal(buf, "conn client=192.0.2.7:51234 sni=example.com "
	    "backend=[2001:db8::5]:443 up=517 down=4096 duration=0.012 outcome=ok");
	assert_int_equal(n, strlen(buf));
}

static void
test_access_line_dashes(void **state)
{
	struct sockaddr_in	c = v4("127.0.0.1", 40000);
	struct log_access	a;
	char			buf[LOG_LINE_MAX];

	(void)state;
	memset(&a, 0, sizeof(a));
	a.client = (struct sockaddr *)&c;
	a.clientlen = sizeof(c);
	a.duration = 5.0004;
	a.outcome = OUTCOME_TIMEOUT;
	log_format_access(buf, sizeof(buf), &a);
	assert_string_equal(buf, "conn client=127.0.0.1:40000 sni=- backend=- "
	    "up=0 down=0 duration=5.000 outcome=timeout");
	a.sni = "";		/* an empty SNI is shown as none */
	a.duration = -1;	/* a clock step never prints a negative duration */
	a.outcome = OUTCOME_DENIED;
	log_format_access(buf, sizeof(buf), &a);
	assert_string_equal(buf, "conn client=127.0.0.1:40000 sni=- backend=- "
	    "up=0 down=0 duration=0.000 outcome=denied");
}

static void
test_access_line_big_counters(void **state)
{
	struct sockaddr_in	c = v4("10.0.0.1", 1);
	struct log_access	a;
	char			buf[LOG_LINE_MAX];

	(void)state;
	memset(&a, 0, sizeof(a));
	a.client = (struct sockaddr *)&c;
	a.clientlen = sizeof(c);
	a.sni = "a.test";
	a.up = UINT64_MAX;
	a.down = 104857600;
	a.duration = 12.3456;
	a.outcome = OUTCOME_RESET;
	log_format_access(buf, sizeof(buf), &a);
	assert_string_equal(buf, "conn client=10.0.0.1:1 sni=a.test backend=- "
	    "up=18446744073709551615 down=104857600 duration=12.346 outcome=reset");
}

static void
test_sanitize_plain(void **state)
{
	char	out[LOG_SNI_MAX + 1];

	(void)state;
	assert_int_equal(log_sanitize("Example.COM", 11, out, sizeof(out)), 11);
	assert_string_equal(out, "Example.COM");
	assert_int_equal(log_sanitize("", 0, out, sizeof(out)), 0);
	assert_string_equal(out, "");
}

static void
test_sanitize_escapes(void **state)
{
	char	out[LOG_SNI_MAX + 1];

	(void)state;
	log_sanitize("a b", 3, out, sizeof(out));
	assert_string_equal(out, "a\\x20b");
	log_sanitize("a\0b", 3, out, sizeof(out));
	assert_string_equal(out, "a\\x00b");
	log_sanitize("x\ny\r\x7f\xff\\", 7, out, sizeof(out));
	assert_string_equal(out, "x\\x0ay\\x0d\\x7f\\xff\\x5c");
	/* '=' stays: the key is before the first '=' of a field. */
	log_sanitize("a=b", 3, out, sizeof(out));
	assert_string_equal(out, "a=b");
}

/* Cut at a character boundary, with "...", never beyond the limits. */
static void
test_sanitize_truncates(void **state)
{
	char	in[300], out[LOG_SNI_MAX + 1], small[10];
	size_t	n;

	(void)state;
	memset(in, 'a', sizeof(in));
	n = log_sanitize(in, sizeof(in), out, sizeof(out));
	assert_int_equal(n, LOG_SNI_MAX);
	assert_int_equal(strlen(out), LOG_SNI_MAX);
	assert_string_equal(out + LOG_SNI_MAX - 3, "...");

	/* Small buffer: 9 characters at most. */
	n = log_sanitize("abcdefghijkl", 12, small, sizeof(small));
	assert_string_equal(small, "abcdef...");
	assert_int_equal(n, 9);
	/* Exactly fitting: no dots. */
	n = log_sanitize("abcdefghi", 9, small, sizeof(small));
	assert_string_equal(small, "abcdefghi");

	/* An escape that does not fit whole is left out, not cut in half. */
	n = log_sanitize("abcde\x01zzz", 9, small, sizeof(small));
	assert_string_equal(small, "abcde...");
	memset(in, 0, sizeof(in));
	n = log_sanitize(in, 255, out, sizeof(out));
	assert_true(n <= LOG_SNI_MAX);
	assert_int_equal((n - 3) % 4, 0);
	assert_string_equal(out + n - 3, "...");
}

/* Read what was written to the pipe. */
static char *
drain(int fd)
{
	static char	buf[8192];
	ssize_t		n = read(fd, buf, sizeof(buf) - 1);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void
test_levels_and_prefix(void **state)
{
	int	p[2];
	char	*s;
	regex_t	re;

	(void)state;
	unsetenv("JOURNAL_STREAM");
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	log_init(p[1], LOG_LEVEL_WARN);
	assert_false(log_enabled(LOG_LEVEL_INFO));
	assert_true(log_enabled(LOG_LEVEL_ERROR));
	log_info("hidden %d", 1);
	log_debug("hidden too");
	log_warn("shown %s", "here");
	log_error("and %d", 2);
	s = drain(p[0]);
	assert_non_null(strstr(s, "warning: shown here\n"));
	assert_non_null(strstr(s, "error: and 2\n"));
	assert_null(strstr(s, "hidden"));
	/* RFC 3339 UTC with milliseconds, then a space. */
	assert_int_equal(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:"
	    "[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z warning: shown here\n[0-9]{4}-",
	    REG_EXTENDED), 0);
	assert_int_equal(regexec(&re, s, 0, NULL, 0), 0);
	regfree(&re);
	close(p[0]);
	close(p[1]);
}

/* With JOURNAL_STREAM naming our fd: "<N>" priorities, no timestamp. */
static void
test_journal_prefix(void **state)
{
	struct sockaddr_in	c = v4("192.0.2.1", 2);
	struct log_access	a;
	struct stat		st;
	char			env[64], *s;
	int			p[2];

	(void)state;
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	assert_int_equal(fstat(p[1], &st), 0);
	snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", env, 1);
	log_init(p[1], LOG_LEVEL_DEBUG);
	log_error("e");
	log_warn("w");
	log_info("i");
	log_debug("d");
	memset(&a, 0, sizeof(a));
	a.client = (struct sockaddr *)&c;
	a.clientlen = sizeof(c);
	a.outcome = OUTCOME_NO_SNI;
	log_access(&a);
	s = drain(p[0]);
	assert_string_equal(s, "<3>error: e\n<4>warning: w\n<6>info: i\n<7>debug: d\n"
	    "<6>conn client=192.0.2.1:2 sni=- backend=- up=0 down=0 "
	    "duration=0.000 outcome=no-sni\n");

	/* Another stream's identity: back to timestamps. */
	setenv("JOURNAL_STREAM", "1:1", 1);
	log_init(p[1], LOG_LEVEL_INFO);
	log_info("x");
	s = drain(p[0]);
	assert_true(s[0] >= '0' && s[0] <= '9');
	setenv("JOURNAL_STREAM", "garbage", 1);
	log_init(p[1], LOG_LEVEL_INFO);
	log_info("x");
	s = drain(p[0]);
	assert_true(s[0] >= '0' && s[0] <= '9');
	unsetenv("JOURNAL_STREAM");
	close(p[0]);
	close(p[1]);
}

/* A long message is cut, still one line ending in a newline. */
static void
test_long_line_truncated(void **state)
{
	char	big[3000], *s;
	int	p[2];

	(void)state;
	unsetenv("JOURNAL_STREAM");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	log_init(p[1], LOG_LEVEL_INFO);
	log_info("%s", big);
	s = drain(p[0]);
	assert_int_equal(strlen(s), LOG_LINE_MAX - 1);
	assert_int_equal(s[strlen(s) - 1], '\n');
	assert_ptr_equal(strchr(s, '\n'), s + strlen(s) - 1);	/* one line */
	close(p[0]);
	close(p[1]);
}

/*
 * A stderr nobody reads: logging goes on without waiting (the pipe or
 * socket is blocking, as a shell's pipe or the journal stream is), lines
 * that do not fit are counted, and once there is room the count comes
 * first, then the next line.  Every line read is whole.  The shared file
 * description is left blocking.  A hang here is killed by alarm().
 */
static void
check_full_stderr(int rfd, int wfd)
{
	static char	buf[1 << 20];
	size_t		got = 0, lines = 0, total = 3000, dropped;
	ssize_t		r;
	char		*p, *nl, *s;
	int		fl;

	unsetenv("JOURNAL_STREAM");
	alarm(10);
	log_init(wfd, LOG_LEVEL_INFO);
	for (size_t i = 0; i < total; i++)
		log_info("line %05zu of a stderr nobody reads", i);
	alarm(0);
	fl = fcntl(wfd, F_GETFL);
	assert_true(fl != -1 && !(fl & O_NONBLOCK));
	assert_int_equal(fcntl(rfd, F_SETFL, O_NONBLOCK), 0);
	while ((r = read(rfd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)r;
	buf[got] = '\0';
	assert_true(got > 0);
	for (p = buf; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		assert_non_null(strstr(p, " info: line "));
		assert_true(nl - p > 40);
		lines++;
	}
	/* The last line may be partly sent (a socket); its rest comes next. */
	log_info("after");
	s = drain(rfd);
	if (*p != '\0') {
		assert_true(strlen(p) < 60);
		assert_non_null(strstr(s, " of a stderr nobody reads\n"));
		lines++;
		s = strchr(s, '\n') + 1;
	}
	assert_int_equal(sscanf(s, "%*s warning: %zu log lines dropped (stderr "
	    "was full)\n", &dropped), 1);
	assert_int_equal(dropped, total - lines);
	assert_true(dropped > 0);
	s = strchr(s, '\n') + 1;
	assert_non_null(strstr(s, " info: after\n"));
	/* Written: no notice again. */
	log_info("later");
	s = drain(rfd);
	assert_null(strstr(s, "dropped"));
	assert_non_null(strstr(s, "info: later\n"));
}

static void
test_full_pipe_drops_and_counts(void **state)
{
	int	p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	check_full_stderr(p[0], p[1]);
	close(p[0]);
	close(p[1]);
}

/* The journal's kind of stderr: a stream socket, which may take part of a line. */
static void
test_full_socket_drops_and_counts(void **state)
{
	int	sv[2], small = 4096;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &small,
	    sizeof(small)), 0);
	check_full_stderr(sv[0], sv[1]);
	close(sv[0]);
	close(sv[1]);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_access_line_exact),
		cmocka_unit_test(test_access_line_dashes),
		cmocka_unit_test(test_access_line_big_counters),
		cmocka_unit_test(test_sanitize_plain),
		cmocka_unit_test(test_sanitize_escapes),
		cmocka_unit_test(test_sanitize_truncates),
		cmocka_unit_test(test_levels_and_prefix),
		cmocka_unit_test(test_journal_prefix),
		cmocka_unit_test(test_long_line_truncated),
		cmocka_unit_test(test_full_pipe_drops_and_counts),
		cmocka_unit_test(test_full_socket_drops_and_counts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
