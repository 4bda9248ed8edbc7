/*
 * privs: each drop runs in a child process (a drop cannot be undone), which
 * reports by its exit status which check failed.  The drops need root;
 * without it those tests are skipped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "snid/log.h"
#include "snid/privs.h"

#define TARGET	"nobody"

/* Run fn in a child; returns its exit status (0: every check held). */
static int
in_child(int (*fn)(void))
{
	pid_t	pid;
	int	st;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn());
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static bool
root_or_skip(void)
{
	if (geteuid() == 0)
		return true;
	fprintf(stderr, "SKIP: needs root\n");
	return false;
}

static int
child_user(void)
{
	struct passwd	*pw = getpwnam(TARGET);
	const char	*what;

	if (pw == NULL)
		return 77;
	if (privs_drop(TARGET) != 0)
		return 1;
	if (getuid() != pw->pw_uid || geteuid() != pw->pw_uid ||
	    getgid() != pw->pw_gid || getegid() != pw->pw_gid)
		return 2;
	if (!privs_none_left(true, &what))
		return 3;
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return 4;
	if (setuid(0) == 0 || seteuid(0) == 0)
		return 5;
	return 0;
}

static void
test_privs_user_switch_drops_everything(void **state)
{
	int	rc;

	(void)state;
	if (!root_or_skip())
		return;
	rc = in_child(child_user);
	if (rc == 77) {
		fprintf(stderr, "SKIP: no user %s\n", TARGET);
		return;
	}
	assert_int_equal(rc, 0);
}

static int
child_root(void)
{
	const char	*what;

	if (privs_drop("") != 0)
		return 1;
	if (getuid() != 0 || geteuid() != 0)
		return 2;
	if (!privs_none_left(true, &what))
		return 3;
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return 4;
	return 0;
}

static void
test_privs_root_without_user_keeps_no_capability(void **state)
{
	(void)state;
	if (!root_or_skip())
		return;
	assert_int_equal(in_child(child_root), 0);
}

/*
 * A non-root process holding CAP_NET_BIND_SERVICE in every set but the
 * bounding one, ambient included (what systemd's AmbientCapabilities= gives).
 */
static int
become_nobody_with_bind_cap(void)
{
	struct passwd	*pw = getpwnam(TARGET);
	cap_value_t	 v = CAP_NET_BIND_SERVICE;
	cap_t		 c;

	if (pw == NULL)
		return 77;
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == -1 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
		return 10;
	c = cap_init();
	if (c == NULL || cap_set_flag(c, CAP_EFFECTIVE, 1, &v, CAP_SET) ||
	    cap_set_flag(c, CAP_PERMITTED, 1, &v, CAP_SET) ||
	    cap_set_flag(c, CAP_INHERITABLE, 1, &v, CAP_SET) ||
	    cap_set_proc(c) == -1 ||
	    cap_set_ambient(v, CAP_SET) == -1)
		return 11;
	cap_free(c);
	return 0;
}

static int
child_nonroot_caps(void)
{
	const char	*what;
	int		 rc = become_nobody_with_bind_cap();

	if (rc != 0)
		return rc;
	if (privs_none_left(false, &what))
		return 12;	/* the set-up did not work: the test would prove nothing */
	if (privs_drop("") != 0)
		return 1;
	if (!privs_none_left(false, &what))
		return 3;
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return 4;
	return 0;
}

static void
test_privs_nonroot_drops_ambient_capability(void **state)
{
	int	rc;

	(void)state;
	if (!root_or_skip())
		return;
	rc = in_child(child_nonroot_caps);
	if (rc == 77) {
		fprintf(stderr, "SKIP: no user %s\n", TARGET);
		return;
	}
	assert_int_equal(rc, 0);
}

static int
child_nonroot_other_user(void)
{
	struct passwd	*pw = getpwnam(TARGET);

	if (pw == NULL)
		return 77;
	if (setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
		return 10;
	if (privs_check("root") != -1 || privs_drop("root") != -1)
		return 1;
	/* Naming the user we already are is fine. */
	if (privs_check(TARGET) != 0)
		return 2;
	return 0;
}

static void
test_privs_switch_needs_root(void **state)
{
	int	rc;

	(void)state;
	if (!root_or_skip())
		return;
	rc = in_child(child_nonroot_other_user);
	if (rc == 77)
		return;
	assert_int_equal(rc, 0);
}

static void
test_privs_check_unknown_user(void **state)
{
	(void)state;
	assert_int_equal(privs_check("snid-no-such-user-test"), -1);
	assert_int_equal(privs_check(""), 0);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_privs_user_switch_drops_everything),
		cmocka_unit_test(test_privs_root_without_user_keeps_no_capability),
		cmocka_unit_test(test_privs_nonroot_drops_ambient_capability),
		cmocka_unit_test(test_privs_switch_needs_root),
		cmocka_unit_test(test_privs_check_unknown_user),
	};

	log_init(2, LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
