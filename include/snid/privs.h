/*
 * privs: giving up privileges once every listener is bound.  snid needs no
 * privilege at run time in any mode (tcp, nat46 with IP_FREEBIND, unix), so
 * every path ends with no capability in any set and no_new_privs.
 *
 *   root, -user NAME   switch to NAME's uid, gid and groups, empty every
 *                      capability set including the bounding set; any
 *                      step failing is fatal, and the result is checked
 *                      (root cannot be regained)
 *   root, no -user     stay uid 0 but empty every capability set (a
 *                      warning says so); failures are warnings
 *   not root           drop whatever capabilities we were given (file
 *                      capabilities, systemd's AmbientCapabilities=); the
 *                      bounding set too when CAP_SETPCAP allows it
 */
#ifndef SNID_PRIVS_H
#define SNID_PRIVS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Before anything is opened: whether -user (user, "" for none) can be
 * honoured at all: the user exists, and we are root or already that user.
 * Returns 0, or -1 after logging why.
 */
int	privs_check(const char *user);

/*
 * Drop privileges as described above; user is -user's value or "" for
 * none.  Returns 0, or -1 after logging why when snid must not run on.
 */
int	privs_drop(const char *user);

/*
 * Whether the calling thread holds no capability: effective, permitted,
 * inheritable and ambient sets empty, and the bounding set too when
 * with_bound.  On false, *what names the first set found non-empty.
 */
bool	privs_none_left(bool with_bound, const char **what);

#endif
