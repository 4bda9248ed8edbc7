/*
 * privs: the privilege drop, with libcap (see privs.h for the three cases).
 *
 * Kernel rules this relies on (capabilities(7)):
 * - The bounding set can only be reduced with CAP_SETPCAP in the effective
 *   set, so it is emptied first, while we are still root.
 * - setresuid() from uid 0 to non-zero ids clears the permitted, effective
 *   and ambient sets, unless PR_SET_KEEPCAPS (or SECBIT_KEEP_CAPS) is set,
 *   and unless SECBIT_NO_SETUID_FIXUP is set, which a parent may have set
 *   and execve() keeps.  So KEEPCAPS is switched off explicitly before, and
 *   the sets are emptied explicitly after, and then checked.
 * - capset() changes the calling thread only: this runs before snid has any
 *   other thread (c-ares and libev start none).
 * - no_new_privs makes execve() unable to grant anything (setuid bits, file
 *   capabilities); snid never executes anything, this is a second lock.
 */
#include "snid/privs.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <unistd.h>

#include "snid/config.h"
#include "snid/log.h"
#include "snid/util.h"

/* Supplementary groups checked after the switch (NGROUPS_MAX is 65536, be reasonable). */
#define PRIVS_MAX_GROUPS	1024

bool
privs_none_left(bool with_bound, const char **what)
{
	cap_t		 now, empty;
	cap_value_t	 c, max = cap_max_bits();
	int		 same;

	now = cap_get_proc();
	empty = cap_init();
	same = now != NULL && empty != NULL ? cap_compare(now, empty) : -1;
	cap_free(now);
	cap_free(empty);
	if (same != 0) {
		*what = "effective/permitted/inheritable";
		return false;
	}
	for (c = 0; c < max; c++) {
		/* -1: the kernel has no ambient set (before 4.3): nothing to hold. */
		if (cap_get_ambient(c) > 0) {
			*what = "ambient";
			return false;
		}
		if (with_bound && cap_get_bound(c) > 0) {
			*what = "bounding";
			return false;
		}
	}
	return true;
}

/* Empty the bounding set.  Returns 0, or -1 with errno (EPERM: no CAP_SETPCAP). */
static int
privs_drop_bound(void)
{
	cap_value_t	c, max = cap_max_bits();

	for (c = 0; c < max; c++)
		if (cap_get_bound(c) > 0 && cap_drop_bound(c) == -1)
			return -1;
	return 0;
}

/* Empty the ambient, effective, permitted and inheritable sets.  Returns 0 or -1 with errno. */
static int
privs_drop_sets(void)
{
	cap_t	empty;
	int	rc;

	/* EINVAL: no ambient set on this kernel, so nothing to reset. */
	if (cap_reset_ambient() == -1 && errno != EINVAL)
		return -1;
	empty = cap_init();
	if (empty == NULL)
		return -1;
	rc = cap_set_proc(empty);
	cap_free(empty);
	return rc;
}

/* Whether this process may empty its bounding set (CAP_SETPCAP effective). */
static bool
privs_have_setpcap(void)
{
	cap_t			now = cap_get_proc();
	cap_flag_value_t	v = CAP_CLEAR;

	if (now != NULL)
		(void)cap_get_flag(now, CAP_SETPCAP, CAP_EFFECTIVE, &v);
	cap_free(now);
	return v == CAP_SET;
}

static int
privs_gid_cmp(const void *a, const void *b)
{
	gid_t	x = *(const gid_t *)a, y = *(const gid_t *)b;

	return x < y ? -1 : x > y;
}

/* Whether getgroups() holds exactly the n groups of want (in any order). */
static bool
privs_groups_are(gid_t *want, int n)
{
	gid_t	*have = xcalloc(PRIVS_MAX_GROUPS, sizeof(*have));
	int	 k = getgroups(PRIVS_MAX_GROUPS, have);
	bool	 ok;

	/*
	 * getgrouplist may list the primary group twice; getgroups after
	 * setgroups keeps it so too.
	 */
	ok = k == n;
	if (ok) {
		qsort(want, (size_t)n, sizeof(*want), privs_gid_cmp);
		qsort(have, (size_t)k, sizeof(*have), privs_gid_cmp);
		ok = memcmp(want, have, (size_t)n * sizeof(*want)) == 0;
	}
	free(have);
	return ok;
}

/*
 * Everything that must hold after the switch to uid/gid: all three ids of
 * each kind, the groups, no capability anywhere, no_new_privs, and no way
 * back to root.
 */
static int
privs_verify_user(const char *user, uid_t uid, gid_t gid, gid_t *groups,
    int ngroups)
{
	uid_t		 ru, eu, su;
	gid_t		 rg, eg, sg;
	const char	*what = "";

	if (getresuid(&ru, &eu, &su) == -1 || ru != uid || eu != uid ||
	    su != uid) {
		log_error("-user %s: uids are %u/%u/%u after the switch, want %u",
		    user, (unsigned)ru, (unsigned)eu, (unsigned)su,
		    (unsigned)uid);
		return -1;
	}
	if (getresgid(&rg, &eg, &sg) == -1 || rg != gid || eg != gid ||
	    sg != gid) {
		log_error("-user %s: gids are %u/%u/%u after the switch, want %u",
		    user, (unsigned)rg, (unsigned)eg, (unsigned)sg,
		    (unsigned)gid);
		return -1;
	}
	if (!privs_groups_are(groups, ngroups)) {
		log_error("-user %s: supplementary groups differ from the "
		    "user's after setgroups", user);
		return -1;
	}
	if (!privs_none_left(true, &what)) {
		log_error("-user %s: the %s capability set is not empty after "
		    "dropping it", user, what);
		return -1;
	}
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
		log_error("-user %s: no_new_privs is not set", user);
		return -1;
	}
	/* The proof: asking for root back must fail (it never does with privilege left). */
	if (uid != 0 && (setresuid(0, 0, 0) == 0 || setuid(0) == 0 ||
	    seteuid(0) == 0 || setresgid(0, 0, 0) == 0)) {
		log_error("-user %s: could regain root after dropping it", user);
		return -1;
	}
	return 0;
}

/* Root with -user: every step must succeed. */
static int
privs_switch_user(const char *user)
{
	struct passwd	*pw;
	gid_t		*groups;
	uid_t		 uid;
	gid_t		 gid;
	int		 ngroups = PRIVS_MAX_GROUPS, rc = -1;
	char		 name[CONFIG_USER_MAX];

	errno = 0;
	pw = getpwnam(user);
	if (pw == NULL) {
		log_error("-user %s: %s", user,
		    errno != 0 ? strerror(errno) : "no such user");
		return -1;
	}
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	snprintf(name, sizeof(name), "%s", pw->pw_name);
	groups = xcalloc(PRIVS_MAX_GROUPS, sizeof(*groups));
	if (getgrouplist(name, gid, groups, &ngroups) == -1) {
		log_error("-user %s: member of more than %d groups", user,
		    PRIVS_MAX_GROUPS);
		goto out;
	}
	/* setuid below must clear the capability sets, not keep them. */
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) == -1) {
		log_error("-user %s: PR_SET_KEEPCAPS: %s", user, strerror(errno));
		goto out;
	}
	/* Needs CAP_SETPCAP, which setresuid takes away: first. */
	if (privs_drop_bound() == -1) {
		log_error("-user %s: emptying the capability bounding set: %s",
		    user, strerror(errno));
		goto out;
	}
	if (setgroups((size_t)ngroups, groups) == -1) {
		log_error("-user %s: setgroups: %s", user, strerror(errno));
		goto out;
	}
	if (setresgid(gid, gid, gid) == -1) {
		log_error("-user %s: setresgid(%u): %s", user, (unsigned)gid,
		    strerror(errno));
		goto out;
	}
	if (setresuid(uid, uid, uid) == -1) {
		log_error("-user %s: setresuid(%u): %s", user, (unsigned)uid,
		    strerror(errno));
		goto out;
	}
	if (privs_drop_sets() == -1) {
		log_error("-user %s: emptying the capability sets: %s", user,
		    strerror(errno));
		goto out;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		log_error("-user %s: PR_SET_NO_NEW_PRIVS: %s", user,
		    strerror(errno));
		goto out;
	}
	if (privs_verify_user(user, uid, gid, groups, ngroups) == -1)
		goto out;
	if (uid == 0)
		log_warn("-user %s: that is root; capabilities dropped, but "
		    "files owned by root stay writable", user);
	log_info("running as user %s (uid %u, gid %u), no capabilities",
	    name, (unsigned)uid, (unsigned)gid);
	rc = 0;
out:
	free(groups);
	return rc;
}

/* No -user: keep our ids, drop every capability. */
static int
privs_drop_caps(bool root)
{
	const char	*what = "";
	bool		 bound = false;

	if (privs_have_setpcap()) {
		if (privs_drop_bound() == -1)
			log_warn("emptying the capability bounding set: %s",
			    strerror(errno));
		else
			bound = true;
	}
	if (privs_drop_sets() == -1) {
		log_error("emptying the capability sets: %s", strerror(errno));
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		log_error("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return -1;
	}
	if (!privs_none_left(bound, &what)) {
		log_error("the %s capability set is not empty after dropping it",
		    what);
		return -1;
	}
	/* Logged once done, so that the line means what it says. */
	if (root)
		log_warn("running as root: consider -user; every capability "
		    "is dropped all the same");
	log_debug("capabilities dropped%s", bound ? ", bounding set too" : "");
	return 0;
}

int
privs_check(const char *user)
{
	struct passwd	*pw;
	uid_t		 euid = geteuid();

	if (user[0] == '\0')
		return 0;
	errno = 0;
	pw = getpwnam(user);
	if (pw == NULL) {
		log_error("-user %s: %s", user,
		    errno != 0 ? strerror(errno) : "no such user");
		return -1;
	}
	/* Already started as that user (systemd's User=): fine, nothing to switch. */
	if (euid != 0 && (pw->pw_uid != euid || pw->pw_uid != getuid())) {
		log_error("-user %s: switching users needs root (running as "
		    "uid %u)", user, (unsigned)euid);
		return -1;
	}
	return 0;
}

int
privs_drop(const char *user)
{
	if (user[0] == '\0')
		return privs_drop_caps(geteuid() == 0);
	if (geteuid() == 0)
		return privs_switch_user(user);
	if (privs_check(user) == -1)
		return -1;
	return privs_drop_caps(false);
}
