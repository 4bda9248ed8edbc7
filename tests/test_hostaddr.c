/*
 * Unit tests for hostaddr: the /proc/net/if_inet6 line parser, and the
 * netlink-free fallback against getifaddrs() on this host and, as root, in
 * a network namespace of the test's own with known addresses (a veth
 * interface with two IPv4 addresses, one secondary, and an IPv6 one).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "snid/hostaddr.h"
#include "snid/sock.h"
#include "testnet.h"

#define MAX_SEEN	256

struct seen {
	union sockaddr_inet	a[MAX_SEEN];
	size_t			n;
};

static void
collect(void *arg, const struct sockaddr *sa)
{
	struct seen	*s = arg;

	assert_true(sa->sa_family == AF_INET || sa->sa_family == AF_INET6);
	if (s->n == MAX_SEEN)
		return;
	memset(&s->a[s->n], 0, sizeof(s->a[s->n]));
	memcpy(&s->a[s->n], sa, sa->sa_family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	s->n++;
}

static bool
same_addr(const union sockaddr_inet *x, const union sockaddr_inet *y)
{
	if (x->sa.sa_family != y->sa.sa_family)
		return false;
	if (x->sa.sa_family == AF_INET)
		return x->in.sin_addr.s_addr == y->in.sin_addr.s_addr;
	return memcmp(&x->in6.sin6_addr, &y->in6.sin6_addr, 16) == 0;
}

static bool
has(const struct seen *s, const union sockaddr_inet *a)
{
	for (size_t i = 0; i < s->n; i++)
		if (same_addr(&s->a[i], a))
			return true;
	return false;
}

/*
 * NULL when every address of each list is in the other (duplicates aside),
 * else which one is not, in buf.  No cmocka assertion: the netns test runs
 * this in a child process.
 */
static const char *
set_diff(const struct seen *x, const struct seen *y, char *buf, size_t len)
{
	char	a[SOCK_ADDR_TEXT_MAX];

	for (int pass = 0; pass < 2; pass++) {
		const struct seen	*p = pass == 0 ? x : y;
		const struct seen	*q = pass == 0 ? y : x;

		for (size_t i = 0; i < p->n; i++) {
			if (has(q, &p->a[i]))
				continue;
			sock_addr_format(&p->a[i].sa, a, sizeof(a));
			snprintf(buf, len, "%s only in the %s list", a,
			    pass == 0 ? "getifaddrs" : "fallback");
			return buf;
		}
	}
	return NULL;
}

/* Both ways list the same addresses, with at least 127.0.0.1. */
static const char *
both_agree(char *buf, size_t len)
{
	static struct seen	viaifa, viafb;
	union sockaddr_inet	lo4 = addr("127.0.0.1", 0);

	viaifa.n = viafb.n = 0;
	if (hostaddr_getifaddrs(collect, &viaifa) != 0)
		return "getifaddrs failed";
	if (hostaddr_fallback(collect, &viafb) != 0)
		return "the fallback failed";
	if (!has(&viafb, &lo4))
		return "the fallback misses 127.0.0.1";
	return set_diff(&viaifa, &viafb, buf, len);
}

static void
test_hostaddr_parse_inet6(void **state)
{
	struct sockaddr_in6	s6;
	union sockaddr_inet	want = addr("2001:db8::7", 0);

	(void)state;
	assert_true(hostaddr_parse_inet6(
	    "20010db8000000000000000000000007 02 40 00 80     eth0\n", &s6));
	assert_int_equal(s6.sin6_family, AF_INET6);
	assert_int_equal(s6.sin6_port, 0);
	assert_memory_equal(&s6.sin6_addr, &want.in6.sin6_addr, 16);
	assert_true(hostaddr_parse_inet6(
	    "FE800000000000000000000000000001 01 80 10 80 lo", &s6));
	assert_int_equal(s6.sin6_addr.s6_addr[0], 0xfe);
	/* Short, not hex, or not followed by a field: refused. */
	assert_false(hostaddr_parse_inet6("20010db8", &s6));
	assert_false(hostaddr_parse_inet6("", &s6));
	assert_false(hostaddr_parse_inet6(
	    "20010db800000000000000000000000g 02 40 00 80 eth0", &s6));
	assert_false(hostaddr_parse_inet6(
	    "20010db80000000000000000000000071 02 40 00 80 eth0", &s6));
}

static void
test_hostaddr_fallback_matches_getifaddrs(void **state)
{
	char		 buf[128];
	const char	*why;

	(void)state;
	why = both_agree(buf, sizeof(buf));
	if (why != NULL)
		fail_msg("%s", why);
	assert_int_equal(hostaddr_each(collect, &(struct seen){ .n = 0 }),
	    HOSTADDR_GETIFADDRS);
}

/* In a child, in a new network namespace with known addresses. */
static int
netns_child(void)
{
	static struct seen	fb;
	const char		*want[] = { "192.0.2.7", "192.0.2.9",
				    "2001:db8::7", "::1", "127.0.0.1" };
	union sockaddr_inet	a;
	char			buf[128];
	const char		*why;

	if (unshare(CLONE_NEWNET) == -1)
		return 3;
	if (system("ip link set lo up && ip link add d0 type veth peer name d1 && "
	    "ip addr add 192.0.2.7/24 dev d0 && "
	    "ip addr add 192.0.2.9/24 dev d0 && "
	    "ip -6 addr add 2001:db8::7/64 dev d0 nodad && "
	    "ip link set d1 up && ip link set d0 up") != 0)
		return 4;
	if ((why = both_agree(buf, sizeof(buf))) != NULL) {
		fprintf(stderr, "in the netns: %s\n", why);
		return 5;
	}
	if (hostaddr_fallback(collect, &fb) != 0)
		return 6;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		a = addr(want[i], 0);
		if (!has(&fb, &a)) {
			fprintf(stderr, "the fallback misses %s\n", want[i]);
			return 7;
		}
	}
	return 0;
}

static void
test_hostaddr_fallback_in_netns(void **state)
{
	pid_t	pid;
	int	st;

	(void)state;
	if (geteuid() != 0 || system("command -v ip >/dev/null") != 0) {
		printf("SKIP: hostaddr in a network namespace needs root "
		    "and ip(8)\n");
		skip();
	}
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0)
		_exit(netns_child());
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_hostaddr_parse_inet6),
		cmocka_unit_test(test_hostaddr_fallback_matches_getifaddrs),
		cmocka_unit_test(test_hostaddr_fallback_in_netns),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
