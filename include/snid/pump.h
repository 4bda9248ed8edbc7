/*
 * pump: moving a connection's bytes with splice(2), client to backend and
 * backend to client, through one pipe per direction, so the data never
 * enters user space.  Back-pressure: a direction reads from its source only
 * while its pipe is empty, so nothing is read that the other side has not
 * taken.  Half-close: when a source reaches EOF, its pipe is drained and the
 * destination is shut down for writing (shutdown(SHUT_WR)).
 *
 * Pipes come from a pipe pool (pipepool.h, one per worker) and are held
 * only while they carry bytes: an idle connection owns no pipe.  When no
 * pipe can be had, a direction copies through a stack buffer instead.
 *
 * Bulk: a direction whose reads fill its pipe PUMP_GROW_AFTER times in a
 * row gets the pipe grown (x4 a step, up to the pool's size_max, within
 * the daemon-wide budget: pipepool.h), and keeps a grown pipe between
 * wake-ups while its reads stay big; a read that brought less than a
 * default pipe's worth, EOF, an empty source or the end of the connection
 * gives it back, shrunk.
 */
#ifndef SNID_PUMP_H
#define SNID_PUMP_H

#include <stdbool.h>
#include <stdint.h>

struct pipe_pool;

/* The two directions. */
#define PUMP_UP		0	/* client -> backend */
#define PUMP_DOWN	1	/* backend -> client */

/* pump_dir.flags */
#define PUMP_F_EOF		0x01	/* the source said EOF */
#define PUMP_F_SHUT		0x02	/* the destination was shut down: direction done */
#define PUMP_F_COPY_WAIT	0x04	/* copy fallback: the destination was full */
#define PUMP_F_NOGROW		0x08	/* F_SETPIPE_SZ refused: do not ask again */

/* Full reads in a row after which a pipe is grown. */
#define PUMP_GROW_AFTER		4

struct pump_dir {
	int		pipe[2];	/* -1 when no pipe is held */
	uint32_t	pending;	/* bytes in the pipe */
	uint8_t		flags;
	uint8_t		size_log2;	/* log2 of a grown pipe's size; 0: PIPE_POOL_SIZE */
	uint8_t		streak;		/* reads in a row that filled the pipe */
};

struct pump {
	struct pump_dir	dir[2];
};

enum pump_result {
	PUMP_AGAIN,	/* wait for what pump_dir_wants_read/_write say */
	PUMP_DONE,	/* this direction is finished (EOF carried over) */
	PUMP_RESET,	/* a peer reset the connection (ECONNRESET, EPIPE) */
	PUMP_ERROR,	/* another error; errno is set */
};

void	pump_init(struct pump *p);

/*
 * Move what can be moved now from src to dst in direction d, with a pipe
 * from pp, and add the bytes written to dst to *count.  Bounded work per
 * call, so one fast connection cannot starve the others: the caller is
 * woken again by the level-triggered poller.
 */
enum pump_result	pump_dir_run(struct pipe_pool *pp, struct pump_dir *d,
	    int src, int dst, uint64_t *count);

/* Whether d wants to read from its source / write to its destination. */
bool	pump_dir_wants_read(const struct pump_dir *d);
bool	pump_dir_wants_write(const struct pump_dir *d);

/* Whether d is finished. */
bool	pump_dir_done(const struct pump_dir *d);

/* Give back to pp (empty) or close (holding data) the pipes of p. */
void	pump_release(struct pipe_pool *pp, struct pump *p);

#endif
