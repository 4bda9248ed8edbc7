/*
 * sink: the backend of snid's benchmark.
 *
 * Accepts on -l ADDR:PORT (the backend the proxies route to), optionally on
 * -D ADDR:PORT (a decoy that no proxy with an allow-list may ever reach),
 * skips the TLS ClientHello record by its length, and acts on the 16-byte
 * command that follows it (see bench.h).  Single-threaded epoll, so that
 * thousands of idle connections cost it nothing.
 *
 * -C ADDR:PORT is a control port: each connection to it gets one line
 *   accepted=N decoy=N bad=N open=N idle=N bytes_in=N bytes_out=N
 * and is closed.  run.py reads it before and after each check to prove that
 * a refused name never reached the backend.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

enum sk_phase { P_HDR, P_HELLO, P_CMD, P_RUN };
enum sk_kind { K_MAIN, K_DECOY };

struct sk_conn {
	int		fd;
	enum sk_kind	kind;
	enum sk_phase	phase;
	uint8_t		hdr[5];
	uint8_t		cmd[BENCH_CMD_LEN];
	size_t		have;		/* bytes of hdr or cmd so far */
	size_t		skip;		/* hello body bytes still to skip */
	char		mode;
	uint64_t	send_left;	/* bulk bytes still to send */
	uint8_t		small[8];	/* reply / count / ack */
	const uint8_t	*out;
	size_t		out_len, out_off;
	uint64_t	got;		/* payload bytes after the command */
	bool		rd_eof, acked;
};

static struct {
	uint64_t accepted, decoy, bad, open, idle, bytes_in, bytes_out;
} st;

static int ep;
static int lfd_main = -1, lfd_decoy = -1, lfd_ctl = -1;
/* epoll cookies for the listeners */
static char tag_main, tag_decoy, tag_ctl;
static uint8_t iobuf[256 * 1024];

static int
listen_on(const char *s)
{
	struct addrinfo	*res;
	int		 fd, one = 1;

	if (bench_addr(s, AI_PASSIVE, &res) == -1) {
		fprintf(stderr, "sink: bad address %s\n", s);
		exit(2);
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		bench_die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (res->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0)
		bench_die(s);
	if (listen(fd, 4096) < 0)
		bench_die("listen");
	freeaddrinfo(res);
	return fd;
}

static void
watch(int fd, uint32_t events, void *ptr, int op)
{
	struct epoll_event	ev = { .events = events, .data.ptr = ptr };
	if (epoll_ctl(ep, op, fd, &ev) < 0)
		bench_die("epoll_ctl");
}

static void
conn_free(struct sk_conn *c)
{
	if (c->acked)
		st.idle--;
	st.open--;
	close(c->fd);
	free(c);
}

/* The command is complete: set up what to send. */
static bool
conn_command(struct sk_conn *c)
{
	if (memcmp(c->cmd, BENCH_MAGIC, 4) != 0)
		return false;
	c->mode = (char)c->cmd[4];
	switch (c->mode) {
	case 'c':
		c->out = (const uint8_t *)BENCH_REPLY;
		c->out_len = BENCH_REPLY_LEN;
		break;
	case 'd':
	case 'b':
		c->send_left = bench_get64(c->cmd + 8);
		break;
	case 'u':
		break;
	case 'i':
		c->small[0] = BENCH_IDLE_ACK;
		c->out = c->small;
		c->out_len = 1;
		c->acked = true;
		st.idle++;
		break;
	default:
		return false;
	}
	return true;
}

/* Feed received bytes through the hello/command parser; false: bad input. */
static bool
conn_consume(struct sk_conn *c, const uint8_t *p, size_t n)
{
	while (n > 0) {
		size_t	k;
		switch (c->phase) {
		case P_HDR:
			k = 5 - c->have < n ? 5 - c->have : n;
			memcpy(c->hdr + c->have, p, k);
			c->have += k;
			p += k;
			n -= k;
			if (c->have == 5) {
				if (c->hdr[0] != 22)
					return false;
				c->skip = (size_t)c->hdr[3] << 8 | c->hdr[4];
				c->have = 0;
				c->phase = P_HELLO;
			}
			break;
		case P_HELLO:
			k = c->skip < n ? c->skip : n;
			c->skip -= k;
			p += k;
			n -= k;
			if (c->skip == 0)
				c->phase = P_CMD;
			break;
		case P_CMD:
			k = BENCH_CMD_LEN - c->have < n ? BENCH_CMD_LEN - c->have : n;
			memcpy(c->cmd + c->have, p, k);
			c->have += k;
			p += k;
			n -= k;
			if (c->have == BENCH_CMD_LEN) {
				if (!conn_command(c))
					return false;
				c->phase = P_RUN;
			}
			break;
		case P_RUN:
			c->got += n;
			st.bytes_in += n;
			n = 0;
			break;
		}
	}
	return true;
}

/* Returns false when the connection was freed. */
static bool
conn_write(struct sk_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t	r = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (r < 0) {
			if (errno == EAGAIN)
				return true;
			conn_free(c);
			return false;
		}
		c->out_off += (size_t)r;
		st.bytes_out += (uint64_t)r;
	}
	while (c->send_left > 0) {
		size_t	n = c->send_left < sizeof(iobuf) ? (size_t)c->send_left : sizeof(iobuf);
		ssize_t	r = send(c->fd, iobuf, n, MSG_NOSIGNAL);
		if (r < 0) {
			if (errno == EAGAIN)
				return true;
			conn_free(c);
			return false;
		}
		c->send_left -= (uint64_t)r;
		st.bytes_out += (uint64_t)r;
	}
	return true;
}

static void
conn_event(struct sk_conn *c, uint32_t events)
{
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		for (int loops = 0; loops < 16 && !c->rd_eof; loops++) {
			ssize_t	r = recv(c->fd, iobuf, sizeof(iobuf), 0);
			if (r < 0) {
				if (errno == EAGAIN)
					break;
				conn_free(c);
				return;
			}
			if (r == 0) {
				c->rd_eof = true;
				break;
			}
			if (!conn_consume(c, iobuf, (size_t)r)) {
				st.bad++;
				conn_free(c);
				return;
			}
		}
	}
	if (c->phase != P_RUN) {
		if (c->rd_eof) {
			st.bad++;
			conn_free(c);
		}
		return;
	}
	/* 'u': once everything arrived, answer with the count. */
	if (c->mode == 'u' && c->rd_eof && c->out == NULL) {
		bench_put64(c->small, c->got);
		c->out = c->small;
		c->out_len = 8;
	}
	if (!conn_write(c))
		return;
	bool	sent = c->out_off == c->out_len && c->send_left == 0;
	bool	done;
	switch (c->mode) {
	case 'c': case 'd': done = sent; break;
	default: done = sent && c->rd_eof; break; /* 'u', 'b', 'i' */
	}
	if (done) {
		conn_free(c);
		return;
	}
	watch(c->fd, (c->rd_eof ? 0 : EPOLLIN) | (sent ? 0 : EPOLLOUT), c, EPOLL_CTL_MOD);
}

static void
accept_all(int lfd, enum sk_kind kind)
{
	for (int i = 0; i < 256; i++) {
		int	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != ECONNABORTED)
				perror("sink: accept4");
			return;
		}
		struct sk_conn	*c = calloc(1, sizeof(*c));
		if (!c)
			bench_die("calloc");
		c->fd = fd;
		c->kind = kind;
		if (kind == K_DECOY)
			st.decoy++;
		else
			st.accepted++;
		st.open++;
		watch(fd, EPOLLIN, c, EPOLL_CTL_ADD);
	}
}

static void
control(void)
{
	for (int i = 0; i < 16; i++) {
		char	line[256];
		int	fd = accept4(lfd_ctl, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			return;
		int	n = snprintf(line, sizeof(line),
				 "accepted=%" PRIu64 " decoy=%" PRIu64 " bad=%" PRIu64
				 " open=%" PRIu64 " idle=%" PRIu64 " bytes_in=%" PRIu64
				 " bytes_out=%" PRIu64 "\n",
				 st.accepted, st.decoy, st.bad, st.open, st.idle,
				 st.bytes_in, st.bytes_out);
		(void)send(fd, line, (size_t)n, MSG_NOSIGNAL);
		close(fd);
	}
}

int
main(int argc, char **argv)
{
	int			o;
	struct rlimit		rl;
	struct epoll_event	evs[256];

	signal(SIGPIPE, SIG_IGN);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		bench_die("epoll_create1");
	while ((o = getopt(argc, argv, "l:D:C:")) != -1) {
		switch (o) {
		case 'l': lfd_main = listen_on(optarg); break;
		case 'D': lfd_decoy = listen_on(optarg); break;
		case 'C': lfd_ctl = listen_on(optarg); break;
		default:
			fprintf(stderr, "usage: sink -l ADDR:PORT [-D ADDR:PORT] [-C ADDR:PORT]\n");
			return 2;
		}
	}
	if (lfd_main < 0) {
		fprintf(stderr, "usage: sink -l ADDR:PORT [-D ADDR:PORT] [-C ADDR:PORT]\n");
		return 2;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	memset(iobuf, 'y', sizeof(iobuf));
	watch(lfd_main, EPOLLIN, &tag_main, EPOLL_CTL_ADD);
	if (lfd_decoy >= 0)
		watch(lfd_decoy, EPOLLIN, &tag_decoy, EPOLL_CTL_ADD);
	if (lfd_ctl >= 0)
		watch(lfd_ctl, EPOLLIN, &tag_ctl, EPOLL_CTL_ADD);
	printf("sink: ready\n");
	fflush(stdout);

	/* Runs until killed: run.py ends it by PID. */
	for (;;) {
		int ne = epoll_wait(ep, evs, 256, -1);
		if (ne < 0) {
			if (errno == EINTR)
				continue;
			bench_die("epoll_wait");
		}
		for (int i = 0; i < ne; i++) {
			void *p = evs[i].data.ptr;
			if (p == &tag_main)
				accept_all(lfd_main, K_MAIN);
			else if (p == &tag_decoy)
				accept_all(lfd_decoy, K_DECOY);
			else if (p == &tag_ctl)
				control();
			else
				conn_event(p, evs[i].events);
		}
	}
}
