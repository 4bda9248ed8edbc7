/*
 * loadgen: the load generator of snid's benchmark.
 *
 * Every connection sends a valid TLS 1.3-style ClientHello record naming
 * -s SNI (padded to 517 bytes on the wire like a browser's) followed, in the
 * same write, by a 16-byte command for bench/sink (see bench.h).  Modes:
 *
 *   conn   -n N -c C: N connections, C at a time; each reads the sink's
 *          64-byte reply to EOF and checks it byte for byte.  Reports
 *          connections/s and the latency of each connection (socket() to
 *          EOF) as percentiles.  -c 1 gives the one-at-a-time latency.
 *   bulk   -b BYTES -d up|down|both -c C: C streams, each moving BYTES in
 *          the given direction(s).  Reports bytes moved and Gbit/s.
 *   idle   -n N -c C: opens N connections (C in flight at a time), each
 *          established end to end (the sink's one-byte ack came back),
 *          prints "established=N", then holds them until stdin reaches EOF
 *          (or -H seconds), then reports how many were dropped meanwhile.
 *   probe  one connection; prints what came back (used to verify a proxy).
 *
 * -U BASE gives connection i the name u<BASE+i>.SNI, a name of its own, so
 * that no proxy can answer from its DNS cache.
 *
 * Output is one line of key=value pairs on stdout for bench/run.py.
 * Everything is bounded: -t SEC for the whole run, -T MS per connection.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

enum lg_mode { LG_CONN, LG_BULK, LG_IDLE, LG_PROBE };
enum lg_state { ST_FREE, ST_CONNECTING, ST_RUNNING };
enum lg_err { E_CONNECT, E_RESET, E_TIMEOUT, E_MISMATCH, E_COUNT };
static const char *const lg_err_names[E_COUNT] = {
	"err_connect", "err_reset", "err_timeout", "err_mismatch"
};

struct lg_conn {
	int		fd;
	enum lg_state	state;
	uint64_t	t0, deadline;
	size_t		out_off;	/* bytes of hello+command already written */
	uint64_t	up_left;	/* payload still to send */
	uint64_t	got;		/* bytes received */
	uint8_t		reply8[8];	/* 'u' mode: the sink's count */
	uint8_t		*msg;		/* hello+command: the shared one, or its own (-U) */
	size_t		msg_len;
	bool		mismatch, rd_eof, wr_done, shut, established;
};

static struct {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	const char *sni;
	enum lg_mode mode;
	char dir; /* 'u', 'd', 'b' */
	long n, conc;
	uint64_t bytes;
	double time_limit, hold;
	long conn_timeout_ms;
	long unique;        /* -U BASE: connection i is named u<BASE+i>.SNI */
} opt = {
	.sni = "bench.test", .mode = LG_CONN, .dir = 'b', .n = 1, .conc = 1,
	.bytes = 1 << 20, .time_limit = 60, .hold = 60, .conn_timeout_ms = 10000,
	.unique = -1,
};

static uint8_t msg[2048];
static size_t msg_len;
static uint8_t cmd[BENCH_CMD_LEN];
static uint8_t *unique_bufs;  /* -U: one hello buffer per slot */
static uint8_t iobuf[256 * 1024];
static uint64_t errs[E_COUNT];

/* A small byte writer for the hello. */
struct wr {
	uint8_t	*p;
	size_t	len;
};

static void	w8(struct wr *w, unsigned v) { w->p[w->len++] = (uint8_t)v; }
static void	w16(struct wr *w, unsigned v) { w8(w, v >> 8); w8(w, v & 0xff); }
static void
wbytes(struct wr *w, const void *b, size_t n)
{
	memcpy(w->p + w->len, b, n);
	w->len += n;
}
/* Patch a big-endian length of `width` bytes at `at` to cover up to now. */
static void
wpatch(struct wr *w, size_t at, int width)
{
	size_t	v = w->len - at - (size_t)width;
	for (int i = width - 1; i >= 0; i--) {
		w->p[at + (size_t)i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}

/*
 * A ClientHello shaped like a current browser's: TLS 1.3 with a 1.2
 * fallback, x25519 key share, ALPN, and the padding extension (RFC 7685)
 * so that the handshake message is 512 bytes, as Chrome and curl send it.
 */
static size_t
build_hello(uint8_t *buf, const char *sni)
{
	static const uint16_t	suites[] = {
		0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9,
		0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
	};
	static const uint16_t	sigalgs[] = {
		0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
	};
	struct wr	w = { buf, 0 };
	size_t		rec, hs, exts, x;
	size_t		snilen = strlen(sni);

	w8(&w, 22); w16(&w, 0x0301); rec = w.len; w16(&w, 0);
	w8(&w, 1); hs = w.len; w8(&w, 0); w16(&w, 0);
	w16(&w, 0x0303);
	for (int i = 0; i < 32; i++)
		w8(&w, (unsigned)(i * 7 + 1));          /* random */
	w8(&w, 32);
	for (int i = 0; i < 32; i++)
		w8(&w, (unsigned)(0xa0 + i));           /* legacy session id */
	w16(&w, (unsigned)sizeof(suites));
	for (size_t i = 0; i < sizeof(suites) / 2; i++)
		w16(&w, suites[i]);
	w8(&w, 1); w8(&w, 0);                       /* null compression */
	exts = w.len; w16(&w, 0);

	w16(&w, 0x0000); x = w.len; w16(&w, 0);     /* server_name */
	w16(&w, (unsigned)(snilen + 3)); w8(&w, 0); w16(&w, (unsigned)snilen);
	wbytes(&w, sni, snilen); wpatch(&w, x, 2);
	w16(&w, 0x0017); w16(&w, 0);                /* extended_master_secret */
	w16(&w, 0xff01); w16(&w, 1); w8(&w, 0);     /* renegotiation_info */
	w16(&w, 0x000a); w16(&w, 8); w16(&w, 6);    /* supported_groups */
	w16(&w, 0x001d); w16(&w, 0x0017); w16(&w, 0x0018);
	w16(&w, 0x000b); w16(&w, 2); w8(&w, 1); w8(&w, 0); /* ec_point_formats */
	w16(&w, 0x0023); w16(&w, 0);                /* session_ticket */
	w16(&w, 0x0010); x = w.len; w16(&w, 0);     /* ALPN */
	w16(&w, 12); w8(&w, 2); wbytes(&w, "h2", 2);
	w8(&w, 8); wbytes(&w, "http/1.1", 8); wpatch(&w, x, 2);
	w16(&w, 0x000d); w16(&w, (unsigned)sizeof(sigalgs) + 2);
	w16(&w, (unsigned)sizeof(sigalgs));
	for (size_t i = 0; i < sizeof(sigalgs) / 2; i++)
		w16(&w, sigalgs[i]);
	w16(&w, 0x002b); w16(&w, 5); w8(&w, 4);     /* supported_versions */
	w16(&w, 0x0304); w16(&w, 0x0303);
	w16(&w, 0x002d); w16(&w, 2); w8(&w, 1); w8(&w, 1); /* psk modes */
	w16(&w, 0x0033); w16(&w, 38); w16(&w, 36);  /* key_share x25519 */
	w16(&w, 0x001d); w16(&w, 32);
	for (int i = 0; i < 32; i++)
		w8(&w, (unsigned)(0x40 + i));
	/* padding: handshake message (from its type byte) to 512 bytes */
	if (w.len - hs + 1 + 4 < 512) {
		size_t pad = 512 - (w.len - hs + 1) - 4;
		w16(&w, 0x0015); w16(&w, (unsigned)pad);
		memset(w.p + w.len, 0, pad);
		w.len += pad;
	}
	wpatch(&w, exts, 2);
	wpatch(&w, hs, 3);
	wpatch(&w, rec, 2);
	return w.len;
}

static void
parse_addr(const char *s)
{
	struct addrinfo	*res;

	if (bench_addr(s, 0, &res) == -1) {
		fprintf(stderr, "loadgen: bad address %s (want 1.2.3.4:P or [::1]:P)\n", s);
		exit(2);
	}
	memcpy(&opt.addr, res->ai_addr, res->ai_addrlen);
	opt.addrlen = res->ai_addrlen;
	freeaddrinfo(res);
}

static int ep;
static struct lg_conn *slots;
static long nslots, active, started, finished, ok;
static long established_n;   /* idle mode: open and acknowledged */
static uint8_t probe_first[64]; /* probe mode: the first bytes received */
static uint64_t probe_got;
static uint64_t *lat;    /* latency of each ok connection, ns */
static uint64_t total_up, total_down;

static void
conn_close(struct lg_conn *c)
{
	if (c->established)
		established_n--;
	close(c->fd);
	c->fd = -1;
	c->state = ST_FREE;
	active--;
	finished++;
}

static void
conn_fail(struct lg_conn *c, enum lg_err e)
{
	errs[e]++;
	conn_close(c);
}

static void
conn_events(struct lg_conn *c, uint32_t want)
{
	struct epoll_event	ev = { .events = want, .data.ptr = c };
	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		bench_die("epoll_ctl mod");
}

static void
conn_start(struct lg_conn *c)
{
	struct epoll_event	ev;

	memset(c, 0, sizeof(*c));
	c->t0 = bench_now_ns();
	if (opt.unique >= 0) {
		/*
		 * A name no proxy has seen before (u<BASE+i>.SNI; run.py gives
		 * dnsmasq a record for each), so that none can answer from a DNS
		 * cache: the resolver's cost in the open.
		 */
		char name[300];
		c->msg = unique_bufs + (size_t)(c - slots) * 1024;
		snprintf(name, sizeof(name), "u%ld.%s", opt.unique + started, opt.sni);
		c->msg_len = build_hello(c->msg, name);
		memcpy(c->msg + c->msg_len, cmd, BENCH_CMD_LEN);
		c->msg_len += BENCH_CMD_LEN;
	} else {
		c->msg = msg;
		c->msg_len = msg_len;
	}
	c->deadline = c->t0 + (uint64_t)opt.conn_timeout_ms * 1000000u;
	c->fd = socket(opt.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		bench_die("socket");
	active++;
	started++;
	c->state = ST_CONNECTING;
	if (opt.mode == LG_BULK && opt.dir != 'd')
		c->up_left = opt.bytes;
	if (connect(c->fd, (struct sockaddr *)&opt.addr, opt.addrlen) < 0 &&
	    errno != EINPROGRESS) {
		conn_fail(c, E_CONNECT);
		return;
	}
	ev.events = EPOLLOUT;
	ev.data.ptr = c;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		bench_die("epoll_ctl add");
}

/* The connection's work is complete: judge it and free the slot. */
static void
conn_finish(struct lg_conn *c)
{
	bool	good = !c->mismatch;

	switch (opt.mode) {
	case LG_CONN:
	case LG_PROBE:
		good = good && c->got == BENCH_REPLY_LEN;
		break;
	case LG_BULK:
		if (opt.dir == 'u')
			good = good && c->got == 8 && bench_get64(c->reply8) == opt.bytes;
		else
			good = good && c->got == opt.bytes;
		if (good)
			total_down += opt.dir == 'u' ? 0 : c->got;
		break;
	case LG_IDLE:
		good = false; /* an idle connection must not end */
		break;
	}
	if (!good) {
		conn_fail(c, E_MISMATCH);
		return;
	}
	if (lat)
		lat[ok] = bench_now_ns() - c->t0;
	ok++;
	conn_close(c);
}

static void
conn_write(struct lg_conn *c)
{
	while (c->out_off < c->msg_len) {
		ssize_t	r = send(c->fd, c->msg + c->out_off, c->msg_len - c->out_off, MSG_NOSIGNAL);
		if (r < 0) {
			if (errno == EAGAIN)
				return;
			conn_fail(c, E_RESET);
			return;
		}
		c->out_off += (size_t)r;
	}
	while (c->up_left > 0) {
		size_t	n = c->up_left < sizeof(iobuf) ? (size_t)c->up_left : sizeof(iobuf);
		ssize_t	r = send(c->fd, iobuf, n, MSG_NOSIGNAL);
		if (r < 0) {
			if (errno == EAGAIN)
				return;
			conn_fail(c, E_RESET);
			return;
		}
		c->up_left -= (uint64_t)r;
		total_up += (uint64_t)r;
	}
	c->wr_done = true;
}

/*
 * Bulk uploads end with shutdown(SHUT_WR): the sink reads to EOF.  'u'
 * needs the proxy to carry that half-close while the answer still comes
 * back; 'b' shuts down only once everything came back, so that it also
 * works through a proxy that closes both ways on the first FIN.
 */
static void
conn_maybe_shutdown(struct lg_conn *c)
{
	if (opt.mode != LG_BULK || opt.dir == 'd' || !c->wr_done || c->shut)
		return;
	if (opt.dir == 'b' && c->got < opt.bytes)
		return;
	shutdown(c->fd, SHUT_WR);
	c->shut = true;
}

static void
conn_read(struct lg_conn *c)
{
	for (int loops = 0; loops < 16; loops++) {
		ssize_t	r = recv(c->fd, iobuf, sizeof(iobuf), 0);
		if (r < 0) {
			if (errno == EAGAIN)
				return;
			conn_fail(c, errno == ETIMEDOUT ? E_TIMEOUT : E_RESET);
			return;
		}
		if (r == 0) {
			c->rd_eof = true;
			return;
		}
		size_t	n = (size_t)r;
		switch (opt.mode) {
		case LG_CONN:
		case LG_PROBE:
			if (opt.mode == LG_PROBE) {
				/* keep the first bytes for the probe's report */
				if (c->got < sizeof(probe_first)) {
					size_t	k = sizeof(probe_first) - c->got;
					memcpy(probe_first + c->got, iobuf, n < k ? n : k);
				}
				probe_got += n;
			}
			if (c->got + n > BENCH_REPLY_LEN ||
			    memcmp(iobuf, &BENCH_REPLY[c->got], n) != 0)
				c->mismatch = true;
			break;
		case LG_BULK:
			if (opt.dir == 'u') {
				if (c->got + n > 8)
					c->mismatch = true;
				else
					memcpy(c->reply8 + c->got, iobuf, n);
			}
			break;
		case LG_IDLE:
			if (c->got == 0 && n == 1 && iobuf[0] == BENCH_IDLE_ACK) {
				c->established = true;
				established_n++;
			} else
				c->mismatch = true;
			break;
		}
		c->got += n;
		if (opt.mode == LG_IDLE && c->established && !c->mismatch)
			return;
	}
}

static void
conn_event(struct lg_conn *c, uint32_t events)
{
	if (c->state == ST_CONNECTING) {
		int		err = 0;
		socklen_t	l = sizeof(err);
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err != 0) {
			conn_fail(c, E_CONNECT);
			return;
		}
		c->state = ST_RUNNING;
		events = EPOLLOUT;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		conn_read(c);
		if (c->state == ST_FREE)
			return;
	}
	if ((events & EPOLLOUT) && !c->wr_done) {
		conn_write(c);
		if (c->state == ST_FREE)
			return;
	}
	conn_maybe_shutdown(c);
	if (c->rd_eof && (c->wr_done || opt.mode != LG_BULK)) {
		conn_finish(c);
		return;
	}
	conn_events(c, (c->rd_eof ? 0 : EPOLLIN) | (c->wr_done ? 0 : EPOLLOUT));
}

static void
check_timeouts(uint64_t t)
{
	for (long i = 0; i < nslots; i++) {
		struct lg_conn	*c = &slots[i];
		if (c->state == ST_FREE || c->deadline > t)
			continue;
		if (opt.mode == LG_IDLE && c->established)
			continue;
		conn_fail(c, E_TIMEOUT);
	}
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double
pct(long n, double p)
{
	if (n == 0)
		return 0;
	long	i = (long)(p * (double)(n - 1) + 0.5);
	return (double)lat[i] / 1000.0;
}

static void
usage(void)
{
	fprintf(stderr,
		"usage: loadgen -a ADDR:PORT -m conn|bulk|idle|probe [-s SNI] [-n N] [-c C]\n"
		"               [-b BYTES] [-d up|down|both] [-t SEC] [-T MS]\n"
		"               [-H SEC] [-U BASE]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	int		o;
	bool		have_addr = false;
	char		m = 'c';
	struct rlimit	rl;

	while ((o = getopt(argc, argv, "a:s:m:n:c:b:d:t:T:H:U:")) != -1) {
		switch (o) {
		case 'a': parse_addr(optarg); have_addr = true; break;
		case 's': opt.sni = optarg; break;
		case 'm':
			if (!strcmp(optarg, "conn")) opt.mode = LG_CONN;
			else if (!strcmp(optarg, "bulk")) opt.mode = LG_BULK;
			else if (!strcmp(optarg, "idle")) opt.mode = LG_IDLE;
			else if (!strcmp(optarg, "probe")) opt.mode = LG_PROBE;
			else usage();
			break;
		case 'n': opt.n = atol(optarg); break;
		case 'c': opt.conc = atol(optarg); break;
		case 'b': opt.bytes = strtoull(optarg, NULL, 0); break;
		case 'd': opt.dir = optarg[0]; break;
		case 't': opt.time_limit = atof(optarg); break;
		case 'T': opt.conn_timeout_ms = atol(optarg); break;
		case 'H': opt.hold = atof(optarg); break;
		case 'U': opt.unique = atol(optarg); break;
		default: usage();
		}
	}
	if (!have_addr || opt.n < 1 || opt.conc < 1 || strlen(opt.sni) > 200 ||
	    (opt.dir != 'u' && opt.dir != 'd' && opt.dir != 'b'))
		usage();
	if (opt.mode == LG_PROBE)
		opt.n = opt.conc = 1;
	if (opt.conc > opt.n)
		opt.conc = opt.n;

	/* Thousands of idle connections need as many descriptors. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	memcpy(cmd, BENCH_MAGIC, 4);
	switch (opt.mode) {
	case LG_CONN: case LG_PROBE: m = 'c'; break;
	case LG_IDLE: m = 'i'; break;
	case LG_BULK: m = opt.dir; break;
	}
	cmd[4] = (uint8_t)m;
	bench_put64(cmd + 8, opt.mode == LG_BULK && opt.dir != 'u' ? opt.bytes : 0);
	msg_len = build_hello(msg, opt.sni);
	memcpy(msg + msg_len, cmd, BENCH_CMD_LEN);
	msg_len += BENCH_CMD_LEN;
	memset(iobuf, 'x', sizeof(iobuf));

	nslots = opt.mode == LG_IDLE ? opt.n : opt.conc;
	slots = calloc((size_t)nslots, sizeof(*slots));
	if (opt.unique >= 0 && !(unique_bufs = malloc((size_t)nslots * 1024)))
		bench_die("malloc");
	lat = calloc((size_t)opt.n, sizeof(uint64_t));
	if (!slots || !lat)
		bench_die("calloc");
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		bench_die("epoll_create1");

	uint64_t t_start = bench_now_ns();
	uint64_t t_end = t_start + (uint64_t)(opt.time_limit * 1e9);
	long next_slot = 0;
	struct epoll_event evs[256];

	while (finished < opt.n) {
		uint64_t t = bench_now_ns();
		if (t >= t_end)
			break;
		/* in flight: started and not yet finished nor established */
		while (started < opt.n && active - established_n < opt.conc) {
			/* find a free slot: idle mode never reuses one */
			struct lg_conn *c = NULL;
			for (long k = 0; k < nslots; k++) {
				long i = (next_slot + k) % nslots;
				if (slots[i].state == ST_FREE) {
					c = &slots[i];
					next_slot = i + 1;
					break;
				}
			}
			if (!c)
				break;
			conn_start(c);
		}
		if (opt.mode == LG_IDLE) {
			long open = 0, est = 0;
			for (long i = 0; i < nslots; i++) {
				if (slots[i].state != ST_FREE) {
					open++;
					est += slots[i].established;
				}
			}
			if (started == opt.n && est == open)
				break;
		}
		int ne = epoll_wait(ep, evs, 256, 50);
		if (ne < 0 && errno != EINTR)
			bench_die("epoll_wait");
		for (int i = 0; i < ne; i++)
			conn_event(evs[i].data.ptr, evs[i].events);
		check_timeouts(bench_now_ns());
	}
	double elapsed = (double)(bench_now_ns() - t_start) / 1e9;

	if (opt.mode == LG_PROBE) {
		/* "closed": EOF after something other than the sink's reply */
		const char *res = ok ? "ok" : errs[E_TIMEOUT] ? "timeout" :
				  errs[E_RESET] ? "reset" : errs[E_CONNECT] ? "connect" :
				  "closed";
		printf("result=%s got=%" PRIu64 " hex=", res, probe_got);
		for (uint64_t i = 0; i < probe_got && i < 16; i++)
			printf("%02x", probe_first[i]);
		printf(" elapsed=%.6f\n", elapsed);
		return ok ? 0 : 1;
	}

	if (opt.mode == LG_IDLE) {
		long open = 0, est = 0;
		for (long i = 0; i < nslots; i++) {
			if (slots[i].state != ST_FREE) {
				open++;
				est += slots[i].established;
			}
		}
		printf("established=%ld open=%ld elapsed=%.3f", est, open, elapsed);
		for (int e = 0; e < E_COUNT; e++)
			printf(" %s=%" PRIu64, lg_err_names[e], errs[e]);
		printf("\n");
		fflush(stdout);
		/* Hold until stdin ends (run.py closes it) or -H seconds. */
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
		/* fails for a tty or /dev/null: then only -H ends the hold */
		(void)epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
		uint64_t hold_end = bench_now_ns() + (uint64_t)(opt.hold * 1e9);
		bool stop = false;
		while (!stop && bench_now_ns() < hold_end) {
			int ne = epoll_wait(ep, evs, 256, 100);
			for (int i = 0; i < ne; i++) {
				if (evs[i].data.ptr == NULL) {
					char b[64];
					/* EOF or any line releases the connections */
					(void)read(0, b, sizeof(b));
					stop = true;
					continue;
				}
				conn_event(evs[i].data.ptr, evs[i].events);
			}
		}
		long still = 0;
		for (long i = 0; i < nslots; i++)
			still += slots[i].state != ST_FREE && slots[i].established;
		printf("released=%ld dropped=%ld\n", still, est - still);
		return est == opt.n && still == est ? 0 : 1;
	}

	qsort(lat, (size_t)ok, sizeof(uint64_t), cmp_u64);
	printf("mode=%s ok=%ld started=%ld", opt.mode == LG_CONN ? "conn" : "bulk", ok, started);
	for (int e = 0; e < E_COUNT; e++)
		printf(" %s=%" PRIu64, lg_err_names[e], errs[e]);
	printf(" elapsed=%.6f", elapsed);
	if (opt.mode == LG_CONN) {
		double sum = 0;
		for (long i = 0; i < ok; i++)
			sum += (double)lat[i];
		printf(" cps=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f mean_us=%.1f min_us=%.1f",
		    elapsed > 0 ? (double)ok / elapsed : 0, pct(ok, 0.5),
		    pct(ok, 0.9), pct(ok, 0.99),
		    ok ? sum / (double)ok / 1000.0 : 0, pct(ok, 0));
	} else {
		printf(" bytes_up=%" PRIu64 " bytes_down=%" PRIu64 " gbps=%.3f", total_up,
		    total_down, elapsed > 0 ?
		    (double)(total_up + total_down) * 8 / elapsed / 1e9 : 0);
	}
	printf("\n");
	return ok == opt.n ? 0 : 1;
}
