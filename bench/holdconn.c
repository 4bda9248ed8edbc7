/*
 * holdconn: opens many idle connections through an SNI proxy and holds
 * them, for bench/idle100k.
 *
 * Each connection sends a small TLS ClientHello naming its SNI, followed in
 * the same write by the 16-byte idle command of bench/sink (bench.h); the
 * sink answers one byte, so the ack proves the path client -> proxy ->
 * backend is established end to end.  No TLS library: the hello is built
 * here (one cipher suite, server_name and supported_versions).
 *
 *   -a ADDR:PORT   the proxy (IPv4 or [IPv6])
 *   -n N           connections to open and hold (0: only probes)
 *   -c C           at most C still opening at a time (default 256)
 *   -s SNI         the name; with -K k, connection i names n<i%k>.SNI, so
 *                  that the proxy's side spreads over k backend addresses
 *   -S IPV4 -N m   bind connection i to source IPV4 + (i % m) (127/8 is all
 *                  loopback), for more 4-tuples than one source has ports
 *   -T MS          bound on one connection's opening (default 10000)
 *   -t SEC         bound on the opening phase (default 300)
 *
 * Prints "established=N failed=N ... elapsed=S", then obeys lines on stdin:
 *
 *   probe M C P    M new connections, C at a time, to name P (full name):
 *                  each is timed from socket() to the sink's ack, then
 *                  closed; prints "probe ok=.. p50_us=.. p99_us=.. max_us=.."
 *   watch SEC      wait until every held connection was closed by the
 *                  other side, or SEC; prints "closed=N eof=N reset=N
 *                  still=N last_close_mono=T" (T: CLOCK_MONOTONIC seconds,
 *                  the clock of python's time.monotonic())
 *   status         prints "held=N dropped=N"
 *   quit, or EOF   close everything and exit
 *
 * Every wait is bounded; exit status 0 when every connection was
 * established, 1 otherwise.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum hc_state { S_FREE, S_WRITING, S_ACK, S_HELD, S_CLOSED };

struct hc_conn {
	int		fd;
	uint8_t		state;
	uint8_t		probe;
	uint16_t	off;		/* bytes of the message sent */
	uint32_t	name;		/* which of the -K names */
	uint64_t	t0;
};

static struct {
	struct sockaddr_storage addr;
	socklen_t	addrlen;
	const char	*sni;
	long		n, conc, names, nsrc;
	struct in_addr	src;
	bool		have_src;
	long		conn_ms;
	double		time_limit;
} opt = {
	.sni = "idle.test", .n = 1, .conc = 256, .names = 0, .nsrc = 0,
	.conn_ms = 10000, .time_limit = 300,
};

#define MSG_MAX	512
static uint8_t	*msgs;		/* one hello+command per name */
static uint16_t	*msg_lens;
static uint8_t	probe_msg[MSG_MAX];
static uint16_t	probe_len;

static int		ep;
static struct hc_conn	*held, *probes;
static long		nprobe_slots;
static long		opening, established, failed, dropped;
static long		f_connect, f_reset, f_timeout, f_bad;
static long		closed_eof, closed_rst;
static uint64_t		last_close;
static uint64_t		*lat;
static long		nlat, probe_fail;

static size_t
put16(uint8_t *p, size_t at, size_t v)
{
	p[at] = (uint8_t)(v >> 8);
	p[at + 1] = (uint8_t)v;
	return at + 2;
}

/*
 * A minimal TLS 1.3 ClientHello record naming sni, then the sink's idle
 * command: what an SNI proxy needs to route, nothing more.
 */
static uint16_t
build_msg(uint8_t *b, const char *sni)
{
	size_t	sl = strlen(sni), p = 0, hs, ext;

	b[p++] = 22;
	p = put16(b, p, 0x0301);
	p += 2;				/* record length, below */
	hs = p;
	b[p++] = 1;
	p += 3;				/* handshake length, below */
	p = put16(b, p, 0x0303);
	for (int i = 0; i < 32; i++)
		b[p++] = (uint8_t)(i * 13 + 7);
	b[p++] = 0;			/* no session id */
	p = put16(b, p, 2);
	p = put16(b, p, 0x1301);
	b[p++] = 1;
	b[p++] = 0;
	ext = p;
	p += 2;
	p = put16(b, p, 0x0000);	/* server_name */
	p = put16(b, p, sl + 5);
	p = put16(b, p, sl + 3);
	b[p++] = 0;
	p = put16(b, p, sl);
	memcpy(b + p, sni, sl);
	p += sl;
	p = put16(b, p, 0x002b);	/* supported_versions: TLS 1.3 */
	p = put16(b, p, 3);
	b[p++] = 2;
	p = put16(b, p, 0x0304);
	put16(b, ext, p - ext - 2);
	b[hs + 1] = 0;
	put16(b, hs + 2, p - hs - 4);
	put16(b, 3, p - 5);
	memcpy(b + p, BENCH_MAGIC, 4);
	memset(b + p + 4, 0, BENCH_CMD_LEN - 4);
	b[p + 4] = 'i';
	return (uint16_t)(p + BENCH_CMD_LEN);
}

static void
parse_addr(const char *s)
{
	struct addrinfo	*res;

	if (bench_addr(s, 0, &res) == -1) {
		fprintf(stderr, "holdconn: bad address %s\n", s);
		exit(2);
	}
	memcpy(&opt.addr, res->ai_addr, res->ai_addrlen);
	opt.addrlen = res->ai_addrlen;
	freeaddrinfo(res);
}

static void
arm(struct hc_conn *c, uint64_t cookie, uint32_t events, int op)
{
	struct epoll_event	ev = { .events = events, .data.u64 = cookie };

	if (epoll_ctl(ep, op, c->fd, &ev) < 0)
		bench_die("epoll_ctl");
}

static uint64_t
cookie_of(struct hc_conn *c)
{
	return c->probe ? (1ull << 62) | (uint64_t)(c - probes) :
	    (uint64_t)(c - held);
}

/* Opens connection c (slot i); false when socket() or bind() failed. */
static bool
conn_open(struct hc_conn *c, long i, bool probe)
{
	int	one = 1;

	memset(c, 0, sizeof(*c));
	c->probe = probe;
	c->name = opt.names > 0 ? (uint32_t)(i % opt.names) : 0;
	c->t0 = bench_now_ns();
	c->fd = socket(opt.addr.ss_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		perror("holdconn: socket");
		return false;
	}
	if (opt.have_src && opt.addr.ss_family == AF_INET) {
		struct sockaddr_in	sin = { .sin_family = AF_INET };

		sin.sin_addr.s_addr = htonl(ntohl(opt.src.s_addr) +
		    (uint32_t)(i % opt.nsrc));
		(void)setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT,
		    &one, sizeof(one));
		if (bind(c->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
			perror("holdconn: bind");
			close(c->fd);
			return false;
		}
	}
	c->state = S_WRITING;
	if (connect(c->fd, (struct sockaddr *)&opt.addr, opt.addrlen) < 0 &&
	    errno != EINPROGRESS) {
		f_connect++;
		close(c->fd);
		c->state = S_CLOSED;
		return true;
	}
	arm(c, cookie_of(c), EPOLLOUT, EPOLL_CTL_ADD);
	opening++;
	return true;
}

static void
conn_fail(struct hc_conn *c, long *why)
{
	(*why)++;
	close(c->fd);
	c->fd = -1;
	opening--;
	if (c->probe) {
		probe_fail++;
		c->state = S_FREE;
	} else {
		failed++;
		c->state = S_CLOSED;
	}
}

static void
conn_event(struct hc_conn *c, uint32_t events)
{
	const uint8_t	*m;
	uint16_t	 len;
	uint8_t		 b[16];
	ssize_t		 r;
	int		 err = 0;
	socklen_t	 l = sizeof(err);

	switch (c->state) {
	case S_WRITING:
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0 ||
		    err != 0) {
			conn_fail(c, &f_connect);
			return;
		}
		m = c->probe ? probe_msg : msgs + (size_t)c->name * MSG_MAX;
		len = c->probe ? probe_len : msg_lens[c->name];
		r = send(c->fd, m + c->off, (size_t)(len - c->off),
		    MSG_NOSIGNAL);
		if (r < 0) {
			if (errno != EAGAIN)
				conn_fail(c, &f_reset);
			return;
		}
		c->off = (uint16_t)(c->off + r);
		if (c->off == len) {
			c->state = S_ACK;
			arm(c, cookie_of(c), EPOLLIN, EPOLL_CTL_MOD);
		}
		return;
	case S_ACK:
		r = recv(c->fd, b, sizeof(b), 0);
		if (r < 0 && errno == EAGAIN)
			return;
		if (r != 1 || b[0] != BENCH_IDLE_ACK) {
			conn_fail(c, r < 0 ? &f_reset : &f_bad);
			return;
		}
		opening--;
		if (c->probe) {
			lat[nlat++] = bench_now_ns() - c->t0;
			close(c->fd);
			c->state = S_FREE;
			return;
		}
		c->state = S_HELD;
		established++;
		return;
	case S_HELD:
		r = recv(c->fd, b, sizeof(b), 0);
		if (r < 0 && errno == EAGAIN)
			return;
		if (r > 0) {
			f_bad++;
			return;
		}
		if (r == 0)
			closed_eof++;
		else
			closed_rst++;
		last_close = bench_now_ns();
		close(c->fd);
		c->fd = -1;
		c->state = S_CLOSED;
		established--;
		dropped++;
		return;
	default:
		(void)events;
		return;
	}
}

static void
dispatch(struct epoll_event *ev)
{
	uint64_t	k = ev->data.u64;

	if (k & (1ull << 62))
		conn_event(&probes[k & 0xffffffffu], ev->events);
	else
		conn_event(&held[k], ev->events);
}

/* Closes the still-opening connections that passed their bound. */
static void
expire(struct hc_conn *a, long n, uint64_t t)
{
	uint64_t	bound = (uint64_t)opt.conn_ms * 1000000u;

	for (long i = 0; i < n; i++)
		if ((a[i].state == S_WRITING || a[i].state == S_ACK) &&
		    t - a[i].t0 > bound)
			conn_fail(&a[i], &f_timeout);
}

static void
open_all(void)
{
	struct epoll_event	evs[512];
	uint64_t		t0 = bench_now_ns(), end, last_expire = t0;
	long			next = 0;

	end = t0 + (uint64_t)(opt.time_limit * 1e9);
	while (bench_now_ns() < end && (next < opt.n || opening > 0)) {
		while (next < opt.n && opening < opt.conc) {
			if (!conn_open(&held[next], next, false)) {
				failed += opt.n - next;
				next = opt.n;
				break;
			}
			if (held[next].state == S_CLOSED)
				failed++;
			next++;
		}
		int	ne = epoll_wait(ep, evs, 512, 20);

		for (int i = 0; i < ne; i++)
			dispatch(&evs[i]);
		if (bench_now_ns() - last_expire > 200000000u) {
			last_expire = bench_now_ns();
			expire(held, next, last_expire);
		}
	}
	expire(held, next, UINT64_MAX / 2 + bench_now_ns());
	failed += opt.n - next;
	printf("established=%ld failed=%ld err_connect=%ld err_reset=%ld "
	    "err_timeout=%ld err_bad=%ld elapsed=%.3f\n", established, failed,
	    f_connect, f_reset, f_timeout, f_bad,
	    (double)(bench_now_ns() - t0) / 1e9);
	fflush(stdout);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double
pct_us(double p)
{
	if (nlat == 0)
		return 0;
	return (double)lat[(long)(p * (double)(nlat - 1) + 0.5)] / 1000.0;
}

/* The event loop while holding, for at most sec seconds or until done(). */
static void
serve(double sec, bool (*done)(void))
{
	struct epoll_event	evs[512];
	uint64_t		end = bench_now_ns() + (uint64_t)(sec * 1e9);

	while (bench_now_ns() < end && !(done && done())) {
		int	ne = epoll_wait(ep, evs, 512, 20);

		for (int i = 0; i < ne; i++)
			dispatch(&evs[i]);
		expire(probes, nprobe_slots, bench_now_ns());
	}
}

static long	probe_total, probe_started, probe_conc;

static bool
probe_step(void)
{
	long	inflight = 0;

	for (long i = 0; i < nprobe_slots; i++)
		inflight += probes[i].state != S_FREE;
	for (long i = 0; i < nprobe_slots && inflight < probe_conc &&
	    probe_started < probe_total; i++) {
		if (probes[i].state != S_FREE)
			continue;
		if (!conn_open(&probes[i], i, true)) {
			probe_fail += probe_total - probe_started;
			probe_started = probe_total;
			break;
		}
		if (probes[i].state == S_CLOSED) {
			probe_fail++;
			probes[i].state = S_FREE;
		} else
			inflight++;
		probe_started++;
	}
	return probe_started == probe_total && inflight == 0;
}

static void
cmd_probe(long m, long cc, const char *name)
{
	uint64_t	t0 = bench_now_ns();

	if (m < 1 || cc < 1 || cc > nprobe_slots || strlen(name) > 200) {
		printf("probe error=usage\n");
		return;
	}
	probe_len = build_msg(probe_msg, name);
	free(lat);
	lat = calloc((size_t)m, sizeof(*lat));
	if (!lat)
		bench_die("calloc");
	nlat = probe_fail = probe_started = 0;
	probe_total = m;
	probe_conc = cc;
	serve(120, probe_step);
	for (long i = 0; i < nprobe_slots; i++)
		if (probes[i].state != S_FREE)
			conn_fail(&probes[i], &f_timeout);
	qsort(lat, (size_t)nlat, sizeof(*lat), cmp_u64);
	printf("probe ok=%ld fail=%ld p50_us=%.0f p90_us=%.0f p99_us=%.0f "
	    "max_us=%.0f elapsed=%.3f held=%ld\n", nlat, probe_fail,
	    pct_us(0.5), pct_us(0.9), pct_us(0.99), pct_us(1.0),
	    (double)(bench_now_ns() - t0) / 1e9, established);
}

static bool
all_closed(void)
{
	return established == 0;
}

int
main(int argc, char **argv)
{
	struct rlimit	rl;
	char		line[512], name[300];
	size_t		have = 0;
	int		o;

	while ((o = getopt(argc, argv, "a:n:c:s:K:S:N:T:t:")) != -1) {
		switch (o) {
		case 'a': parse_addr(optarg); break;
		case 'n': opt.n = atol(optarg); break;
		case 'c': opt.conc = atol(optarg); break;
		case 's': opt.sni = optarg; break;
		case 'K': opt.names = atol(optarg); break;
		case 'S':
			if (inet_pton(AF_INET, optarg, &opt.src) != 1)
				goto usage;
			opt.have_src = true;
			break;
		case 'N': opt.nsrc = atol(optarg); break;
		case 'T': opt.conn_ms = atol(optarg); break;
		case 't': opt.time_limit = atof(optarg); break;
		default: goto usage;
		}
	}
	if (opt.addrlen == 0 || opt.n < 0 || opt.conc < 1 ||
	    opt.names < 0 || opt.names > 4096 || strlen(opt.sni) > 200 ||
	    (opt.have_src && opt.nsrc < 1))
		goto usage;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	msgs = malloc((size_t)(opt.names > 0 ? opt.names : 1) * MSG_MAX);
	msg_lens = calloc((size_t)(opt.names > 0 ? opt.names : 1),
	    sizeof(*msg_lens));
	held = calloc((size_t)opt.n + 1, sizeof(*held));
	nprobe_slots = 64;
	probes = calloc((size_t)nprobe_slots, sizeof(*probes));
	if (!msgs || !msg_lens || !held || !probes)
		bench_die("calloc");
	if (opt.names == 0)
		msg_lens[0] = build_msg(msgs, opt.sni);
	for (long k = 0; k < opt.names; k++) {
		snprintf(name, sizeof(name), "n%ld.%s", k, opt.sni);
		msg_lens[k] = build_msg(msgs + (size_t)k * MSG_MAX, name);
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		bench_die("epoll_create1");

	open_all();

	/* Commands, one a line, until quit or EOF: bounded by the caller. */
	for (;;) {
		struct epoll_event	ev = { .events = EPOLLIN,
					    .data.u64 = 1ull << 63 };
		struct epoll_event	evs[512];
		char			*nl;
		bool			input = false;
		ssize_t			r;

		(void)epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
		while (!input) {
			int	ne = epoll_wait(ep, evs, 512, 1000);

			for (int i = 0; i < ne; i++) {
				if (evs[i].data.u64 == 1ull << 63)
					input = true;
				else
					dispatch(&evs[i]);
			}
		}
		r = read(0, line + have, sizeof(line) - 1 - have);
		if (r <= 0)
			break;
		have += (size_t)r;
		line[have] = 0;
		while ((nl = strchr(line, '\n')) != NULL) {
			long	a = 0, b = 0;
			double	sec = 0;

			*nl = 0;
			(void)epoll_ctl(ep, EPOLL_CTL_DEL, 0, NULL);
			if (sscanf(line, "probe %ld %ld %255s", &a, &b,
			    name) == 3)
				cmd_probe(a, b, name);
			else if (sscanf(line, "watch %lf", &sec) == 1) {
				long	before = established;

				closed_eof = closed_rst = 0;
				serve(sec, all_closed);
				printf("closed=%ld eof=%ld reset=%ld still=%ld "
				    "last_close_mono=%.6f\n", before -
				    established, closed_eof, closed_rst,
				    established, (double)last_close / 1e9);
			} else if (strcmp(line, "status") == 0)
				printf("held=%ld dropped=%ld\n", established,
				    dropped);
			else if (strcmp(line, "quit") == 0) {
				fflush(stdout);
				return established + dropped == opt.n ? 0 : 1;
			} else
				printf("error=unknown-command\n");
			fflush(stdout);
			(void)epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
			have -= (size_t)(nl + 1 - line);
			memmove(line, nl + 1, have + 1);
		}
		if (have >= sizeof(line) - 1)
			have = 0;
	}
	return established + dropped == opt.n ? 0 : 1;
usage:
	fprintf(stderr, "usage: holdconn -a ADDR:PORT -n N [-c C] [-s SNI] "
	    "[-K NAMES] [-S IPV4 -N COUNT] [-T MS] [-t SEC]\n");
	return 2;
}
