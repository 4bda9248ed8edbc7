"""Privilege cases: what is left of snid's privileges once it listens, read
from /proc/PID/status (Uid, Gid, Groups, the five capability sets and
NoNewPrivs).  Every case needs root (to start snid as root, or to hand a
non-root snid an ambient capability with setpriv) and says SKIP otherwise.
The loopback world of fixtures.py.
"""

import os
import pwd
import shutil
import socket

import snidtest
from snidtest import Fail, Skip, check, run, wait_until, SLOW, SNID, VALGRIND
from fixtures import world, good_client

TARGET_USER = "nobody"


def _need_root():
    if os.geteuid() != 0:
        raise Skip("needs root")


def _status(pid):
    """The fields of /proc/PID/status, as strings."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def _caps(st, sets=("CapInh", "CapPrm", "CapEff", "CapAmb")):
    return {k: int(st[k], 16) for k in sets}


def _target():
    try:
        pw = pwd.getpwnam(TARGET_USER)
    except KeyError:
        raise Skip("no user %s on this system" % TARGET_USER)
    groups = set(os.getgrouplist(pw.pw_name, pw.pw_gid))
    return pw, groups


def prefixed_snid(case, prefix, args, owner=None):
    """snid started through a wrapper (setpriv): argv = prefix + [snid] + args;
    under valgrind the wrapper runs valgrind, which runs snid."""
    s = snidtest.Snid(case, args, start=False)
    if VALGRIND and owner is not None:
        # valgrind opens its log as the user the wrapper made it.
        open(s.vglog, "w").close()
        os.chown(s.vglog, *owner)
    s.start(list(prefix) + s.command(args))
    case.snids.append(s)
    return s


def _wait_dropped(snid, word):
    """The status once the log says the drop is done (it follows 'listening on')."""
    check(wait_until(lambda: word in snid.text() or not snid.alive(), 5 * SLOW),
          "no %r line in the log: %s" % (word, snid.tail()))
    snid.check_alive()
    return _status(snid.p.pid)


def test_user_switch_leaves_no_privilege(case):
    """As root with -user nobody: every uid and gid is the user's, the groups
    are the user's, all five capability sets are empty, NoNewPrivs is set,
    and the proxy still routes."""
    _need_root()
    pw, groups = _target()
    w = world(case, ("alpha",), extra=["-user", TARGET_USER])
    st = _wait_dropped(w.snid, "running as user %s" % TARGET_USER)
    uids = st["Uid"].split()
    gids = st["Gid"].split()
    check(uids == [str(pw.pw_uid)] * 4, "Uid: %s, want %d x4" % (st["Uid"], pw.pw_uid))
    check(gids == [str(pw.pw_gid)] * 4, "Gid: %s, want %d x4" % (st["Gid"], pw.pw_gid))
    have = {int(g) for g in st["Groups"].split()}
    check(have == groups, "Groups: %s, want %s" % (sorted(have), sorted(groups)))
    caps = _caps(st, ("CapInh", "CapPrm", "CapEff", "CapAmb", "CapBnd"))
    check(all(v == 0 for v in caps.values()),
          "capability sets not all empty: %s" % {k: "%x" % v for k, v in caps.items()})
    check(st["NoNewPrivs"] == "1", "NoNewPrivs: %s" % st["NoNewPrivs"])
    good_client(w, "alpha")
    c = w.snid.wait_conns(1)
    check(c and c[0]["outcome"] == "ok", "access line: %s" % [x["line"] for x in c])


def test_unknown_user_exits_1_without_listening(case):
    """-user with a user that does not exist: exit status 1, a line naming
    the user, and no socket left listening (the port can be bound again)."""
    port = snidtest.free_port(("127.0.0.1",))
    user = "snid-no-such-user-%d" % os.getpid()
    rc, out, err = run([SNID, "-listen", "tcp:127.0.0.1:%d" % port, "-backend-cidr",
                        "::1/128", "-dns-server", "127.0.0.1:9", "-user", user],
                       timeout=10 * SLOW)
    check(rc == 1, "exit %d, want 1; stderr: %s" % (rc, err.strip()))
    check(user in err and "no such user" in err, "stderr does not name the user: %s" % err.strip())
    check("listening on" not in err, "it listened before failing: %s" % err.strip())
    # free_port holds the port (SO_REUSEADDR, not listening): one may
    # listen on it again unless snid left a listening socket behind.
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(1)
    except OSError as e:
        raise Fail("port %d still taken after the failed start: %s" % (port, e))
    finally:
        s.close()


def test_user_switch_without_root_refused(case):
    """A non-root snid asked to become another user cannot: exit 1 before
    listening, with a line saying why."""
    _need_root()
    if shutil.which("setpriv") is None:
        raise Skip("no setpriv (util-linux)")
    pw, _ = _target()
    other = "daemon" if TARGET_USER != "daemon" else "bin"
    rc, out, err = run(["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid,
                        "--clear-groups", SNID, "-listen", "tcp:127.0.0.1:0",
                        "-backend-cidr", "::1/128", "-dns-server", "127.0.0.1:9",
                        "-user", other], timeout=10 * SLOW)
    check(rc == 1 and "needs root" in err and "listening on" not in err,
          "rc=%d stderr: %s" % (rc, err.strip()))


def test_root_without_user_drops_every_capability(case):
    """As root without -user: uid 0 stays (with a warning), but every
    capability set, the bounding set included, is empty."""
    _need_root()
    w = world(case, ("alpha",))
    st = _wait_dropped(w.snid, "running as root")
    check(st["Uid"].split() == ["0"] * 4, "Uid: %s" % st["Uid"])
    caps = _caps(st, ("CapInh", "CapPrm", "CapEff", "CapAmb", "CapBnd"))
    check(all(v == 0 for v in caps.values()),
          "capability sets not all empty: %s" % {k: "%x" % v for k, v in caps.items()})
    check(st["NoNewPrivs"] == "1", "NoNewPrivs: %s" % st["NoNewPrivs"])
    good_client(w, "alpha")


def _privileged_port():
    """A port below 1024 free on 127.0.0.1 (we are root here), held for snid
    as free_port holds its ports (the kernel picks none below 1024)."""
    for port in range(900, 1000):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        snidtest.REGISTRY.holds.append(s)
        return port
    raise Skip("no free port in 900..999")


def test_ambient_bind_capability_dropped_after_listening(case):
    """Non-root with an ambient CAP_NET_BIND_SERVICE (what systemd's
    AmbientCapabilities= gives): it binds a port below 1024, then holds no
    capability at all.  Without the capability the same bind fails, so the
    capability was really needed and really there."""
    _need_root()
    if shutil.which("setpriv") is None:
        raise Skip("no setpriv (util-linux)")
    with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
        if int(f.read()) <= 900:
            raise Skip("ports below 1024 need no capability here")
    pw, _ = _target()
    w = world(case, ("alpha",), start_snid=False)
    port = _privileged_port()
    args = ["-listen", "tcp:127.0.0.1:%d" % port] + w.args[2:]
    base = ["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid, "--clear-groups"]
    rc, out, err = run(base + [SNID] + args, timeout=10 * SLOW)
    check(rc == 1 and "Permission denied" in err,
          "control: without the capability the bind should fail; rc=%d %s" % (rc, err.strip()))
    snid = prefixed_snid(case, base + ["--inh-caps=+net_bind_service",
                                      "--ambient-caps=+net_bind_service"], args,
                         owner=(pw.pw_uid, pw.pw_gid))
    w.snid, w.L = snid, port
    st = _wait_dropped(snid, "listening on")
    # The drop comes right after listening; give it the moment it needs.
    check(wait_until(lambda: _caps(_status(snid.p.pid)) ==
                     {"CapInh": 0, "CapPrm": 0, "CapEff": 0, "CapAmb": 0}, 3 * SLOW),
          "capabilities left: %s" % {k: "%x" % v for k, v in _caps(_status(snid.p.pid)).items()})
    st = _status(snid.p.pid)
    check(st["Uid"].split() == [str(pw.pw_uid)] * 4, "Uid: %s" % st["Uid"])
    check(st["NoNewPrivs"] == "1", "NoNewPrivs: %s" % st["NoNewPrivs"])
    good_client(w, "alpha")
