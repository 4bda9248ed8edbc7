/*
 * sdnotify: systemd's readiness protocol without libsystemd.  The protocol is
 * small and stable (sd_notify(3)): a datagram of newline-separated
 * VARIABLE=value assignments sent to NOTIFY_SOCKET.  Implementing it here
 * keeps snid's dependencies to libev, c-ares and libcap.
 */
#include "snid/sdnotify.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

int
sdnotify_open(struct sdnotify *n, char *err, size_t errlen)
{
	const char	*path = getenv("NOTIFY_SOCKET");
	size_t		len;

	memset(n, 0, sizeof(*n));
	n->fd = -1;
	if (path == NULL || path[0] == '\0')
		return 0;
	len = strlen(path);
	/* Only AF_UNIX is meant for us; systemd also knows vsock:, which we do not use. */
	if (path[0] != '/' && path[0] != '@') {
		snprintf(err, errlen, "NOTIFY_SOCKET=%s: not an absolute "
		    "path or abstract name", path);
		return -1;
	}
	if (len >= sizeof(n->addr.sun_path)) {
		snprintf(err, errlen, "NOTIFY_SOCKET=%s: name too long", path);
		return -1;
	}
	n->addr.sun_family = AF_UNIX;
	memcpy(n->addr.sun_path, path, len);
	/* An abstract name starts with a NUL byte and is not NUL-terminated. */
	if (path[0] == '@')
		n->addr.sun_path[0] = '\0';
	n->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
	    (path[0] == '@' ? 0 : 1));
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (n->fd == -1) {
		snprintf(err, errlen, "NOTIFY_SOCKET: socket: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int
sdnotify_send(const struct sdnotify *n, const char *state)
{
	ssize_t	r;

	if (n->fd == -1)
		return 0;
	/*
	 * MSG_DONTWAIT: systemd drains the socket promptly, but the event loop
	 * must never block on it; a notification lost to a full queue is
	 * repeated by the next one (STATUS, WATCHDOG) or is harmless.
	 */
	r = sendto(n->fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT,
	    (const struct sockaddr *)&n->addr, n->addrlen);
	return r == -1 ? -1 : 0;
}

/*
 * FDSTORE=1 and the like: the fds travel as SCM_RIGHTS with the state.
 * Blocking on purpose (it is sent once, at start-up): a lost FDSTORE
 * would cost the next restart its listeners.
 */
int
sdnotify_send_fds(const struct sdnotify *n, const char *state, const int *fds,
    size_t nfds)
{
	struct msghdr	 mh;
	struct iovec	 iov;
	struct cmsghdr	*cm;
	char		*ctl;
	size_t		 ctllen;
	ssize_t		 r;

	if (n->fd == -1 || nfds == 0)
		return 0;
	ctllen = CMSG_SPACE(nfds * sizeof(int));
	ctl = calloc(1, ctllen);
	if (ctl == NULL)
		return -1;
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = (void *)(uintptr_t)state;
	iov.iov_len = strlen(state);
	mh.msg_name = (void *)(uintptr_t)&n->addr;
	mh.msg_namelen = n->addrlen;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl;
	mh.msg_controllen = ctllen;
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	r = sendmsg(n->fd, &mh, MSG_NOSIGNAL);
	free(ctl);
	return r == -1 ? -1 : 0;
}

int
sdnotify_sendf(const struct sdnotify *n, const char *fmt, ...)
{
	char	buf[512];
	va_list	ap;

	if (n->fd == -1)
		return 0;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return sdnotify_send(n, buf);
}

uint64_t
sdnotify_watchdog_usec(void)
{
	const char		*usec = getenv("WATCHDOG_USEC");
	const char		*pid = getenv("WATCHDOG_PID");
	unsigned long long	v;
	char			*end;

	if (usec == NULL || usec[0] < '0' || usec[0] > '9')
		return 0;
	errno = 0;
	v = strtoull(usec, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0)
		return 0;
	if (pid != NULL && pid[0] != '\0') {
		long p;

		errno = 0;
		p = strtol(pid, &end, 10);
		if (errno != 0 || *end != '\0' || p != (long)getpid())
			return 0;
	}
	return (uint64_t)v;
}

void
sdnotify_close(struct sdnotify *n)
{
	if (n->fd != -1)
		close(n->fd);
	n->fd = -1;
}
