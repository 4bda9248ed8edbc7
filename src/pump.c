/*
 * pump: splice(2) both ways through pooled pipes, with back-pressure and
 * half-close.  See pump.h for the model; the kernel subtleties are explained
 * where they are handled.
 */
#include "snid/pump.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/socket.h>

#include "snid/pipepool.h"

/*
 * A pipe has 16 slots by default and the kernel puts one socket buffer
 * fragment in each, often a segment of 1448 bytes (MSS with TCP
 * timestamps).  A read that brought less than this has most likely emptied
 * the socket: we then wait for the poller instead of paying for a splice
 * that would only say EAGAIN.  (Same hint as HAProxy's SPLICE_FULL_HINT.)
 */
#define PUMP_FULL_HINT		(16 * 1448)
/* Ask for as much as the pipe takes; the kernel stops when it is full. */
#define PUMP_READ_MAX		(1U << 20)
/* Fill-and-drain rounds per wake-up, for fairness between connections. */
#define PUMP_ROUNDS		8

void
pump_init(struct pump *p)
{
	for (int i = 0; i < 2; i++) {
		p->dir[i].pipe[0] = p->dir[i].pipe[1] = -1;
		p->dir[i].pending = 0;
		p->dir[i].flags = 0;
		p->dir[i].size_log2 = 0;
		p->dir[i].streak = 0;
	}
}

bool
pump_dir_wants_read(const struct pump_dir *d)
{
	/* Back-pressure: never read while the pipe still holds bytes. */
	return !(d->flags & (PUMP_F_EOF | PUMP_F_COPY_WAIT)) && d->pending == 0;
}

bool
pump_dir_wants_write(const struct pump_dir *d)
{
	return d->pending > 0 || (d->flags & PUMP_F_COPY_WAIT);
}

bool
pump_dir_done(const struct pump_dir *d)
{
	return (d->flags & PUMP_F_SHUT) != 0;
}

/* The capacity of the pipe d holds. */
static uint32_t
pump_dir_size(const struct pump_dir *d)
{
	return d->size_log2 != 0 ? 1U << d->size_log2 : PIPE_POOL_SIZE;
}

/* Give d's pipe back to pp (shrunk if it was grown). */
static void
pump_dir_put(struct pipe_pool *pp, struct pump_dir *d, bool empty)
{
	if (d->size_log2 == 0)
		pipe_pool_put(pp, d->pipe, empty);
	else
		pipe_pool_put_sized(pp, d->pipe, empty, pump_dir_size(d));
	d->size_log2 = 0;
}

/*
 * After a read of n bytes into d's pipe: count the reads that filled it
 * and grow the pipe after PUMP_GROW_AFTER of them in a row.  "Filled" is
 * measured as the short-read hint is (a slot per 1448-byte segment), per
 * page of the pipe's size.  Over the budget the pipe stays as it is and
 * the streak starts again; a refusal by the kernel (EPERM past the user's
 * soft limit) is final for this direction.
 */
static void
pump_dir_maybe_grow(struct pipe_pool *pp, struct pump_dir *d, size_t n)
{
	uint32_t	size = pump_dir_size(d);

	if (n < (size / 4096) * 1448) {
		d->streak = 0;
		return;
	}
	if (d->streak < UINT8_MAX)
		d->streak++;
	if (d->streak < PUMP_GROW_AFTER || size >= pp->size_max ||
	    (d->flags & PUMP_F_NOGROW))
		return;
	d->streak = 0;
	if (pipe_pool_grow(pp, d->pipe, &size) == 0)
		d->size_log2 = (uint8_t)(31 - __builtin_clz(size));
	else if (errno != ENOSPC)
		d->flags |= PUMP_F_NOGROW;
}

/* The source is at EOF and the pipe is empty: carry the EOF over as a FIN. */
static enum pump_result
pump_dir_finish(struct pipe_pool *pp, struct pump_dir *d, int dst)
{
	if (d->pipe[0] != -1)
		pump_dir_put(pp, d, true);
	/*
	 * ENOTCONN means the peer is already gone; its reset, if any, is
	 * reported by the other direction.
	 */
	if (shutdown(dst, SHUT_WR) == -1 && errno != ENOTCONN)
		return errno == ECONNRESET || errno == EPIPE ? PUMP_RESET :
		    PUMP_ERROR;
	d->flags |= PUMP_F_SHUT;
	return PUMP_DONE;
}

static enum pump_result	pump_error(int);

/* Bytes moved per call of the copy fallback (on the loop's stack). */
#define PUMP_COPY_MAX		16384

/*
 * The fallback when no pipe can be had (EMFILE/ENFILE: the descriptor
 * budget is spent, typically by many connections moving data at once).
 * Resetting a healthy transfer for that would be wrong, and a per-conn
 * buffer would cost memory on every idle connection, so the bytes are
 * peeked (MSG_PEEK), sent, and only what the destination took is then
 * consumed from the source: nothing is held in between, nothing is lost.
 * It costs three syscalls per chunk instead of two splices, and runs only
 * while pipes are short.
 */
static enum pump_result
pump_dir_copy(struct pump_dir *d, int src, int dst, uint64_t *count)
{
	char	buf[PUMP_COPY_MAX];
	ssize_t	n, k;

	do
		n = recv(src, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	if (n == 0) {
		d->flags |= PUMP_F_EOF;	/* the caller carries it over */
		return PUMP_DONE;
	}
	if (n == -1)
		return errno == EAGAIN ? PUMP_AGAIN : pump_error(errno);
	do
		k = send(dst, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (k == -1 && errno == EINTR);
	if (k == -1) {
		if (errno != EAGAIN)
			return pump_error(errno);
		k = 0;
	}
	/*
	 * Consume exactly what was sent: those bytes are already queued, so
	 * this cannot block or come short.
	 */
	if (k > 0 && recv(src, buf, (size_t)k, MSG_DONTWAIT) != k)
		return PUMP_ERROR;
	*count += (uint64_t)k;
	if (k < n)
		d->flags |= PUMP_F_COPY_WAIT;	/* wait for EPOLLOUT, not for more input */
	return PUMP_AGAIN;
}

/* Classify a failed splice: a peer's reset, or something else. */
static enum pump_result
pump_error(int err)
{
	switch (err) {
	case ECONNRESET:
	case EPIPE:
	case ENOTCONN:		/* closed by a reset whose error was already reported */
	case ETIMEDOUT:		/* keepalive or retransmission gave up: the peer is gone */
	case EHOSTUNREACH:
	case ENETUNREACH:
		return PUMP_RESET;
	default:
		return PUMP_ERROR;
	}
}

/*
 * Drain the pipe into the destination (HAProxy's raw_sock_from_pipe).
 * Returns true once the pipe is empty; false with *r to return when the
 * destination is full (bytes stay pending) or failed.
 */
static bool
pump_dir_drain(struct pump_dir *d, int dst, uint64_t *count,
    enum pump_result *r)
{
	ssize_t	n;

	while (d->pending > 0) {
		n = splice(d->pipe[0], NULL, dst, NULL, d->pending,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			d->pending -= (uint32_t)n;
			*count += (uint64_t)n;
			/*
			 * A partial write on a non-blocking TCP socket means
			 * its send buffer is full: another splice now would
			 * only return EAGAIN, so wait for EPOLLOUT instead.
			 */
			if (d->pending > 0) {
				*r = PUMP_AGAIN;
				return false;
			}
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		/*
		 * EAGAIN from pipe to socket: the socket's send buffer is
		 * full (the pipe is known to hold d->pending bytes, so it
		 * cannot be the pipe).  The source stays unread
		 * (back-pressure) until the destination takes these bytes.
		 * 0 is not expected with a non-empty pipe; treat it the
		 * same way.
		 */
		*r = n == 0 || errno == EAGAIN ? PUMP_AGAIN : pump_error(errno);
		return false;
	}
	return true;
}

/*
 * Fill the (empty) pipe from the source (HAProxy's raw_sock_to_pipe).
 * Returns true when bytes came, *got of them (and the pipe perhaps
 * grown); false with *r to return at EOF (carried over at once: the pipe
 * is empty), when nothing is there (the pipe goes back to the pool) or on
 * an error.
 */
static bool
pump_dir_fill(struct pipe_pool *pp, struct pump_dir *d, int src, int dst,
    size_t *got, enum pump_result *r)
{
	ssize_t	n;

	do
		n = splice(src, NULL, d->pipe[1], NULL, PUMP_READ_MAX,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	while (n == -1 && errno == EINTR);
	if (n > 0) {
		d->pending = (uint32_t)n;
		*got = (size_t)n;
		pump_dir_maybe_grow(pp, d, (size_t)n);
		return true;
	}
	if (n == 0) {
		/*
		 * EOF from the source (kernels since 2.6.27.13 report it as
		 * 0 here, older ones said EAGAIN).  The pipe is empty, so the
		 * FIN can go right away.
		 */
		d->flags |= PUMP_F_EOF;
		*r = pump_dir_finish(pp, d, dst);
		return false;
	}
	/*
	 * EAGAIN from socket to pipe has two possible causes: the socket has
	 * nothing to read, or the pipe has no free slot.  We only ever read
	 * into an empty pipe, so it can only be the first: nothing more to do
	 * until the poller reports the source readable.  (If we ever read
	 * into a partly filled pipe, an EAGAIN here would no longer prove the
	 * socket empty, and waiting for EPOLLIN could stall a connection
	 * whose pipe is full while its socket holds data that is already
	 * signalled.)
	 */
	pump_dir_put(pp, d, true);
	*r = errno == EAGAIN ? PUMP_AGAIN : pump_error(errno);
	return false;
}

enum pump_result
pump_dir_run(struct pipe_pool *pp, struct pump_dir *d, int src, int dst,
    uint64_t *count)
{
	enum pump_result	r;
	size_t			got = SIZE_MAX;

	if (d->flags & PUMP_F_SHUT)
		return PUMP_DONE;
	/* Called again after the copy fallback filled the destination: try anew. */
	d->flags &= (uint8_t)~PUMP_F_COPY_WAIT;

	for (int round = 0; round < PUMP_ROUNDS; round++) {
		/* Drain the pipe into the destination first. */
		if (!pump_dir_drain(d, dst, count, &r))
			return r;
		if (d->flags & PUMP_F_EOF)
			return pump_dir_finish(pp, d, dst);
		if (got < (pump_dir_size(d) / 4096) * 1448 ||
		    round == PUMP_ROUNDS - 1) {
			/*
			 * The last read was short: the socket is most
			 * likely empty (or this connection had its share of
			 * this wake-up).  Return the pipe now so an idle
			 * connection holds none, and let the level-triggered
			 * poller say when more is readable.  A grown pipe
			 * stays while reads bring more than a default pipe's
			 * worth: shrinking and growing it on every wake-up of
			 * a bulk stream would cost two fcntl each time.
			 */
			if (d->size_log2 == 0 || got < PUMP_FULL_HINT)
				pump_dir_put(pp, d, true);
			return PUMP_AGAIN;
		}
		if (d->pipe[0] == -1 && pipe_pool_get(pp, d->pipe) == -1) {
			/*
			 * pipe2 fails for want of descriptors (EMFILE, ENFILE;
			 * valgrind says EBADF past its own share): whatever it
			 * says, copying is always possible, so copy.
			 */
			r = pump_dir_copy(d, src, dst, count);
			return r == PUMP_DONE ? pump_dir_finish(pp, d, dst) : r;
		}
		if (!pump_dir_fill(pp, d, src, dst, &got, &r))
			return r;
	}
	return PUMP_AGAIN;	/* not reached: the last round returns */
}

void
pump_release(struct pipe_pool *pp, struct pump *p)
{
	for (int i = 0; i < 2; i++) {
		struct pump_dir	*d = &p->dir[i];

		if (d->pipe[0] != -1)
			pump_dir_put(pp, d, d->pending == 0);
		d->pending = 0;
	}
}
