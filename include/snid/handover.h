/*
 * handover: no gap in accepting across a restart (snid(8), UPGRADING).
 *
 * On SIGTERM under systemd with the fd store (SNID_HANDOVER=1), the
 * listeners are already in the store; the old process forks a child that
 * keeps its connections.  Until the next process accepts, that child keeps
 * accepting too, so a client never waits for systemd to stop one process
 * and set up the next (~200 ms measured; snid itself starts in ~10 ms).
 *
 * The signal is a pipe: the old process stores its write end in the fd
 * store under HANDOVER_FDNAME and keeps no copy, the child watches the
 * read end.  The next process finds the write end among its passed fds
 * and, once it accepts, writes a byte, closes it and removes the entry
 * (handover_release): the child stops accepting and drains.  A plain stop
 * flushes the store, which closes the last write end: the child reads EOF
 * and stops accepting just the same.  A child whose successor never says
 * so stops after -shutdown-timeout anyway.
 */
#ifndef SNID_HANDOVER_H
#define SNID_HANDOVER_H

#include <stddef.h>

#include "snid/sdnotify.h"

#define HANDOVER_FDNAME		"snid-handover"
#define HANDOVER_MAX_FDS	8	/* predecessors' pipes taken at start */

/*
 * The old process: a pipe whose write end goes to the fd store.  Returns
 * the read end (non-blocking, close-on-exec), or -1 (no notify socket,
 * the store refused it: no overlap, as before).
 */
int	handover_offer(const struct sdnotify *n);

/*
 * The new process, once it accepts: tell each predecessor's child through
 * fds[0..nfds) (a byte, then close) and drop the entries from the store.
 */
void	handover_release(const struct sdnotify *n, const int *fds,
	    size_t nfds);

#endif
