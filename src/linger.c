/*
 * linger: refused sockets read to their EOF before close (see linger.h).
 */
#include "snid/linger.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "snid/util.h"

struct linger_sock {
	ev_io			 io;
	ev_timer		 timer;
	struct linger_set	*ls;
	struct linger_sock		*prev, *next;
	size_t			 dropped;	/* bytes read and discarded */
};

/*
 * What is read goes nowhere: one buffer for every socket of a worker
 * (per thread: the workers' reads must not race on it).
 */
static _Thread_local uint8_t	linger_sink[16384];

void
linger_init(struct linger_set *ls, struct ev_loop *loop)
{
	ls->loop = loop;
	ls->head = ls->tail = NULL;
	ls->n = 0;
}

/*
 * Read what is there, up to what is left of the byte bound.  Returns 1 when
 * the socket is done with (EOF, an error, the bound), 0 when more may come.
 */
static int
linger_drain(int fd, size_t *dropped)
{
	ssize_t	n;

	while (*dropped < LINGER_MAX_BYTES) {
		n = recv(fd, linger_sink, sizeof(linger_sink), MSG_DONTWAIT);
		if (n > 0) {
			*dropped += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		return n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK) ?
		    0 : 1;
	}
	return 1;
}

static void
linger_free(struct linger_sock *l)
{
	struct linger_set	*ls = l->ls;

	ev_io_stop(ls->loop, &l->io);
	ev_timer_stop(ls->loop, &l->timer);
	util_close(l->io.fd);
	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		ls->head = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	else
		ls->tail = l->prev;
	ls->n--;
	free(l);
}

static void
linger_io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct linger_sock	*l = io->data;

	(void)loop;
	(void)revents;
	if (linger_drain(io->fd, &l->dropped))
		linger_free(l);
}

static void
linger_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	linger_free(t->data);
}

void
linger_close(struct linger_set *ls, int fd)
{
	struct linger_sock	*l;
	size_t		 dropped = 0;

	if (fd < 0)
		return;
	/*
	 * The FIN goes out behind what we wrote; the client sees the refusal,
	 * then EOF, and closes its side, which is what we wait for.
	 */
	(void)shutdown(fd, SHUT_WR);
	if (linger_drain(fd, &dropped)) {
		util_close(fd);
		return;
	}
	if (ls->n == LINGER_MAX)
		linger_free(ls->tail);
	l = xcalloc(1, sizeof(*l));
	l->ls = ls;
	l->dropped = dropped;
	ev_io_init(&l->io, linger_io_cb, fd, EV_READ);
	l->io.data = l;
	ev_timer_init(&l->timer, linger_timer_cb, LINGER_SECONDS, 0.);
	l->timer.data = l;
	l->next = ls->head;
	if (ls->head != NULL)
		ls->head->prev = l;
	else
		ls->tail = l;
	ls->head = l;
	ls->n++;
	ev_io_start(ls->loop, &l->io);
	ev_timer_start(ls->loop, &l->timer);
}

void
linger_close_all(struct linger_set *ls)
{
	while (ls->head != NULL)
		linger_free(ls->head);
}
