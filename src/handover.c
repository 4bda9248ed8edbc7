/*
 * handover: the pipe that tells a restarting snid's child when to stop
 * accepting (see handover.h).
 */
#include "snid/handover.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "snid/log.h"
#include "snid/util.h"

int
handover_offer(const struct sdnotify *n)
{
	int	p[2];

	if (n->fd == -1)
		return -1;
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) == -1) {
		log_warn("shutdown: pipe: %s", strerror(errno));
		return -1;
	}
	if (sdnotify_send_fds(n, "FDSTORE=1\nFDNAME=" HANDOVER_FDNAME, &p[1],
	    1) == -1) {
		log_warn("shutdown: FDSTORE of the handover pipe: %s",
		    strerror(errno));
		util_close(p[0]);
		util_close(p[1]);
		return -1;
	}
	/* systemd's copy must be the last: its close is the stop signal. */
	util_close(p[1]);
	return p[0];
}

void
handover_release(const struct sdnotify *n, const int *fds, size_t nfds)
{
	for (size_t i = 0; i < nfds; i++) {
		/* A full pipe or a child gone: the close says enough. */
		(void)write(fds[i], "1", 1);
		util_close(fds[i]);
	}
	if (nfds > 0) {
		log_info("the previous snid stops accepting (%zu handover "
		    "pipe(s))", nfds);
		(void)sdnotify_send(n, "FDSTOREREMOVE=1\nFDNAME="
		    HANDOVER_FDNAME);
	}
}
