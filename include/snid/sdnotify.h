/*
 * sdnotify: the systemd notification protocol (sd_notify(3)), implemented
 * directly: one datagram per message to the AF_UNIX socket named by
 * NOTIFY_SOCKET (a path, or an abstract name when it starts with '@').
 * Without NOTIFY_SOCKET every call is a no-op, so the daemon behaves the same
 * outside systemd.
 */
#ifndef SNID_SDNOTIFY_H
#define SNID_SDNOTIFY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

struct sdnotify {
	int			fd;	/* -1: not under systemd (or disabled) */
	struct sockaddr_un	addr;
	socklen_t		addrlen;
};

/*
 * Read NOTIFY_SOCKET and open the datagram socket.  Returns 0 (also when the
 * variable is unset: then n->fd is -1), or -1 with a message in err when it
 * is set but unusable.
 */
int	sdnotify_open(struct sdnotify *n, char *err, size_t errlen);

/* Send state ("READY=1\nSTATUS=..."); 0 on success or when disabled, -1 on error. */
int	sdnotify_send(const struct sdnotify *n, const char *state);

/*
 * Send state with nfds file descriptors attached (SCM_RIGHTS), for
 * "FDSTORE=1\nFDNAME=...": systemd keeps them (FileDescriptorStoreMax=) and
 * passes them to the next start as LISTEN_FDS.  0 on success or when
 * disabled, -1 on error.
 */
int	sdnotify_send_fds(const struct sdnotify *n, const char *state,
	    const int *fds, size_t nfds);

/* Send a printf-formatted state. */
int	sdnotify_sendf(const struct sdnotify *n, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/*
 * The watchdog interval in microseconds from WATCHDOG_USEC, when it is set and
 * WATCHDOG_PID is unset or names this process; 0 otherwise.
 */
uint64_t	sdnotify_watchdog_usec(void);

void	sdnotify_close(struct sdnotify *n);

#endif
