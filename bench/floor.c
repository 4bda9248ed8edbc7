/*
 * floor: the per-connection floor for bench/ (issue 11).  The least a
 * splicing TCP proxy can do: accept, read the first bytes (the hello and
 * the sink's command, not parsed), connect to one fixed backend, write
 * them, splice both ways until both sides said EOF (carrying each FIN
 * over), close.  No names, no DNS, no allow-list, no limits, no timers,
 * no logs.  One thread, level-triggered epoll, a blocking connect (on
 * loopback it completes inside the call), default-size pipes from a small
 * stack of spare ones.  What snid spends per connection above this
 * is snid's own work; the rest is the kernel's for two TCP connections.
 *
 *   floor -l 127.0.0.1:PORT -b [::1]:PORT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define HELLO_MAX	4096
#define SPARE_MAX	64

struct side {
	struct fconn	*c;
	int		 fd;
	int		 i;		/* 0: client, 1: backend */
	unsigned	 ev;		/* events registered now */
};

struct fconn {
	struct side	s[2];
	int		pipe[2][2];	/* pipe[d]: the bytes from side d */
	size_t		pend[2];
	int		eof[2];		/* side d said EOF and it was carried over */
	int		closed;
	char		*hello;
	struct fconn	*next_dead;
};

static int	ep;
static int	spare[SPARE_MAX][2];
static int	nspare;
static struct sockaddr_storage	backend;
static socklen_t	backend_len;
/* Closed during this batch of events: freed after it (a later event may name them). */
static struct fconn	*dead;

static int
addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char		host[64];
	const char	*colon = strrchr(s, ':');
	int		port;

	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	port = atoi(colon + 1);
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		host[strlen(host) - 1] = '\0';
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a);
		return inet_pton(AF_INET6, host + 1, &a->sin6_addr) == 1 ? 0 : -1;
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;

	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	*len = sizeof(*a);
	return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

static void
watch(struct side *s, unsigned ev)
{
	struct epoll_event	e = { .events = ev, .data.ptr = s };

	if (ev == s->ev)
		return;
	if (s->ev == 0)
		epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &e);
	else if (ev == 0)
		epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
	else
		epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &e);
	s->ev = ev;
}

static void
pipe_put(int p[2], int empty)
{
	if (p[0] == -1)
		return;
	if (empty && nspare < SPARE_MAX) {
		spare[nspare][0] = p[0];
		spare[nspare][1] = p[1];
		nspare++;
	} else {
		close(p[0]);
		close(p[1]);
	}
	p[0] = p[1] = -1;
}

static int
pipe_get(int p[2])
{
	if (p[0] != -1)
		return 0;
	if (nspare > 0) {
		nspare--;
		p[0] = spare[nspare][0];
		p[1] = spare[nspare][1];
		return 0;
	}
	return pipe2(p, O_NONBLOCK | O_CLOEXEC);
}

static void
fconn_close(struct fconn *c)
{
	for (int d = 0; d < 2; d++) {
		if (c->s[d].fd != -1) {
			close(c->s[d].fd);	/* also leaves the epoll set */
		}
		pipe_put(c->pipe[d], c->pend[d] == 0);
	}
	c->closed = 1;
	c->next_dead = dead;
	dead = c;
}

/* Move what can be moved from side d to the other; -1: close the conn. */
static int
pump(struct fconn *c, int d)
{
	int	src = c->s[d].fd, dst = c->s[!d].fd;
	ssize_t	n;

	for (int round = 0; round < 8; round++) {
		while (c->pend[d] > 0) {
			n = splice(c->pipe[d][0], NULL, dst, NULL, c->pend[d],
			    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				c->pend[d] -= (size_t)n;
				continue;
			}
			return n == -1 && errno == EAGAIN ? 0 : -1;
		}
		if (c->eof[d])
			return 0;
		if (pipe_get(c->pipe[d]) == -1)
			return -1;
		n = splice(src, NULL, c->pipe[d][1], NULL, 1 << 20,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n == 0) {
			c->eof[d] = 1;
			pipe_put(c->pipe[d], 1);
			shutdown(dst, SHUT_WR);
			return 0;
		}
		if (n < 0) {
			pipe_put(c->pipe[d], 1);
			return errno == EAGAIN ? 0 : -1;
		}
		c->pend[d] = (size_t)n;
	}
	return 0;
}

/* Interest of both sockets from the two directions' states. */
static void
rewatch(struct fconn *c)
{
	for (int i = 0; i < 2; i++) {
		unsigned	ev = 0;

		if (!c->eof[i] && c->pend[i] == 0)
			ev |= EPOLLIN;
		if (c->pend[!i] > 0)
			ev |= EPOLLOUT;
		watch(&c->s[i], ev);
	}
}

/*
 * The hello came: connect to the backend and send it.  A blocking connect:
 * on loopback the handshake completes inside the call, which spares a
 * wait for EPOLLOUT (two epoll_ctl and a wake-up); then non-blocking for
 * the splices.  The client stays watched for EPOLLIN throughout.
 */
static void
on_first_bytes(struct fconn *c)
{
	ssize_t	n;
	int	fd, on = 1;

	c->hello = malloc(HELLO_MAX);
	n = c->hello ? recv(c->s[0].fd, c->hello, HELLO_MAX, 0) : -1;
	if (n <= 0) {
		if (n == -1 && errno == EAGAIN)
			return;
		fconn_close(c);
		return;
	}
	fd = socket(backend.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || connect(fd, (struct sockaddr *)&backend,
	    backend_len) == -1 || send(fd, c->hello, (size_t)n,
	    MSG_NOSIGNAL) != n || ioctl(fd, FIONBIO, &on) == -1) {
		if (fd != -1)
			close(fd);
		fconn_close(c);
		return;
	}
	free(c->hello);
	c->hello = NULL;
	c->s[1].fd = fd;
	watch(&c->s[1], EPOLLIN);
}

static void
on_event(struct side *s, unsigned ev)
{
	struct fconn	*c = s->c;

	if (c->closed)
		return;
	if (c->s[1].fd == -1) {
		on_first_bytes(c);
		return;
	}
	if (((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) && pump(c, s->i) == -1) ||
	    ((ev & EPOLLOUT) && pump(c, !s->i) == -1)) {
		fconn_close(c);
		return;
	}
	if (c->eof[0] && c->eof[1] && c->pend[0] == 0 && c->pend[1] == 0) {
		fconn_close(c);
		return;
	}
	rewatch(c);
}

static void
on_accept(int l)
{
	int	fd;

	while ((fd = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
		struct fconn *c = calloc(1, sizeof(*c));

		if (c == NULL) {
			close(fd);
			continue;
		}
		for (int i = 0; i < 2; i++) {
			c->s[i].c = c;
			c->s[i].i = i;
			c->s[i].fd = -1;
			c->pipe[i][0] = c->pipe[i][1] = -1;
		}
		c->s[0].fd = fd;
		watch(&c->s[0], EPOLLIN);
	}
}

int
main(int argc, char **argv)
{
	struct sockaddr_storage	la;
	socklen_t		llen;
	struct epoll_event	evs[256], e = { .events = EPOLLIN };
	const char		*lstr = NULL, *bstr = NULL;
	int			opt, l, one = 1;

	while ((opt = getopt(argc, argv, "l:b:")) != -1) {
		if (opt == 'l')
			lstr = optarg;
		else if (opt == 'b')
			bstr = optarg;
	}
	if (lstr == NULL || bstr == NULL || addr_parse(lstr, &la, &llen) == -1 ||
	    addr_parse(bstr, &backend, &backend_len) == -1) {
		fprintf(stderr, "usage: floor -l ADDR:PORT -b ADDR:PORT\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	l = socket(la.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l == -1 || bind(l, (struct sockaddr *)&la, llen) == -1 ||
	    listen(l, 4096) == -1) {
		perror("floor: listen");
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	e.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, l, &e);
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);

		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL)
				on_accept(l);
			else
				on_event(evs[i].data.ptr, evs[i].events);
		}
		while (dead != NULL) {
			struct fconn *c = dead;

			dead = c->next_dead;
			free(c->hello);
			free(c);
		}
	}
}
