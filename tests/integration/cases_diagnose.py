"""snid -diagnose NAME: one line per step ("ok", "WARN" or "FAIL", the
step's word, what was found), exit 0 when no step failed, else 1.  Every
failing step is provoked for real: on loopback (name, dns, aaaa, port,
connect) and, as root, in network namespaces (a, route, nat46, and the
hello that a tunnel losing big packets never answers)."""

import os
import re

from fixtures import RECORDS, ip, topology, world
from snidtest import (REGISTRY, SLOW, SNID, VALGRIND, PPBackend, Proc, Skip,
                      check, free_port, make_cert, run, valgrind_argv)

# With an A record, which is snid's own address (127.0.0.1 is outside the
# allow-list): the a step passes.
DIAG_RECORDS = dict(RECORDS, **{"diag.test": ["::1", "127.0.0.1"],
                                "out.diag.test": ["2001:db8::dead", "127.0.0.1"],
                                "two.diag.test": ["::1", "127.0.0.2"]})
STEP = re.compile(r"^(ok|WARN|FAIL) +([a-z0-9]+): (.*)$")


def diagnose(case, args, name, netns=None, tag="diagnose"):
    """Run snid ARGS -diagnose NAME to its end: (rc, {step: [(level,
    text)]}, stdout).  Every stdout line must be a step line.  Under
    SNID_VALGRIND=1 it runs under memcheck too (exit 99: a memory error)."""
    argv = [SNID] + list(args) + ["-diagnose", name]
    if VALGRIND:
        argv = valgrind_argv(os.path.join(case.dir, tag + ".valgrind.log")) + argv
    rc, out, err = run(argv, timeout=30 * SLOW, netns=netns)
    with open(os.path.join(case.dir, tag + ".log"), "a") as f:
        f.write("$ %s\n%s%s(exit %d)\n" % (" ".join(argv), out, err, rc))
    check(rc != 99, "valgrind found errors: see %s.valgrind.log" % tag)
    steps = {}
    for line in out.splitlines():
        m = STEP.match(line)
        check(m is not None, "not a step line: %r (all: %r)" % (line, out))
        steps.setdefault(m.group(2), []).append((m.group(1), m.group(3)))
    return rc, steps, out


def expect(case, args, name, word, level, rc_want, text=None, netns=None, tag="diagnose"):
    """-diagnose NAME must exit rc_want and print a LEVEL line for step
    word (containing text if given); returns the steps."""
    rc, steps, out = diagnose(case, args, name, netns=netns, tag=tag)
    check(rc == rc_want, "-diagnose %s: exit %d, want %d:\n%s" % (name, rc, rc_want, out))
    lines = steps.get(word, [])
    check(any(lv == level and (text is None or text in t) for lv, t in lines),
          "-diagnose %s: no '%s %s:' line%s:\n%s" % (
              name, level, word, " with %r" % text if text else "", out))
    if level == "FAIL":
        fails = [w for w, ls in steps.items() for lv, _ in ls if lv == "FAIL"]
        check(fails == [word], "-diagnose %s: failing steps %s, want only %s:\n%s"
              % (name, fails, word, out))
    return steps


def all_ok(steps, words, out=""):
    for w in words:
        check(any(lv == "ok" for lv, _ in steps.get(w, [])),
              "no 'ok %s:' line: %s" % (w, steps))


def test_diagnose_all_steps_pass(case):
    """A name that works: every step ok, exit 0, on loopback (the backend
    is openssl s_server, which answers the 2000-byte hello)."""
    w = world(case, ("alpha",), tls=True, dns=case.dnsmasq(DIAG_RECORDS),
              start_snid=False)
    rc, steps, out = diagnose(case, w.args, "Diag.Test.")
    check(rc == 0, "exit %d:\n%s" % (rc, out))
    all_ok(steps, ("name", "dns", "a", "aaaa", "port", "route", "connect", "hello"))
    check("diag.test is a valid host name" in steps["name"][0][1], out)
    check("ServerHello" in steps["hello"][0][1] and "2000-byte" in steps["hello"][0][1], out)
    check(not any(lv != "ok" for ls in steps.values() for lv, _ in ls), out)


def test_diagnose_failures_on_loopback(case):
    """Each of these fails its own step with exit 1: an invalid name, a
    name that does not exist, an AAAA outside -backend-cidr, a port outside
    -backend-ports, a port nothing listens on.  Bad flags stay exit 2."""
    w = world(case, ("alpha",), tls=True, dns=case.dnsmasq(DIAG_RECORDS),
              start_snid=False)
    expect(case, w.args, "bad..name", "name", "FAIL", 1, "empty label")
    expect(case, w.args, "192.0.2.1", "name", "FAIL", 1)
    expect(case, w.args, "nope.test", "dns", "FAIL", 1, "neither an AAAA nor an A")
    expect(case, w.args, "out.diag.test", "aaaa", "FAIL", 1, "outside -backend-cidr")
    expect(case, w.args + ["-backend-ports", "443"], "diag.test", "port", "FAIL", 1,
           "not in -backend-ports 443")
    closed = free_port()            # held, never listened on
    args = [a if a != str(w.B) else str(closed) for a in w.args]
    expect(case, args, "diag.test", "connect", "FAIL", 1, "Connection refused")
    for bad in (["-diagnose"], ["-check", "-diagnose", "alpha.test"]):
        rc, out, err = run([SNID] + w.args + bad, timeout=10)
        check(rc == 2 and out == "", "%s: exit %d, stdout %r" % (bad, rc, out))


class AlertBackend(Proc):
    """openssl s_server that serves other.test only and answers any other
    SNI with a fatal unrecognized_name alert."""
    ready = r"^ACCEPT"

    def __init__(self, case, port):
        super().__init__(case, "s_server-alert")
        cert, key = make_cert(case.run_dir, "other.test")
        self.start(["openssl", "s_server", "-accept", "[::1]:%d" % port, "-6",
                    "-cert", cert, "-key", key, "-cert2", cert, "-key2", key,
                    "-servername", "other.test", "-servername_fatal", "-HTTP"])


def test_diagnose_warnings_keep_exit_0(case):
    """WARN lines do not change the exit status: a backend that answers the
    big hello with a TLS alert (the path works) names the alert; of two
    backend addresses, one refusing before the other answers is a WARN,
    as the daemon goes on to the next."""
    # A host-record holds one A: snid's own address comes from a second one.
    dns = case.dnsmasq(DIAG_RECORDS, extra=["--host-record=two.diag.test,127.0.0.1"])
    w = world(case, ("beta",), tls=True, dns=dns, start_snid=False)
    steps = expect(case, w.args, "two.diag.test", "connect", "WARN", 0,
                   "trying the next address")
    all_ok(steps, ("a", "aaaa", "connect", "hello"))
    check("127.0.0.2" in steps["aaaa"][0][1] and "::1" in steps["aaaa"][0][1], steps)
    AlertBackend(case, w.B)
    steps = expect(case, w.args, "diag.test", "hello", "WARN", 0,
                   "TLS alert 112 (unrecognized_name)")
    all_ok(steps, ("connect",))


def mtu_path(vps, home, k, pid):
    """A second way from the VPS to 2001:db8:0:1:3::/80 on home, through a
    router namespace whose link to home has MTU 1280 and which has no route
    back to the VPS's source: what it cannot forward it drops without an
    ICMPv6 packet-too-big anyone receives (an MTU blackhole).  Answers come
    back over the first veth, whose MTU is 1500, so home advertises an MSS
    of 1440."""
    mid = "snidd-mid-%s" % pid
    REGISTRY.netns.append(mid)
    ip("netns", "add", mid)
    ip("link", "set", "lo", "up", ns=mid)
    for a, da, b, db in ((vps, "x%s%s" % (k, pid), mid, "y%s%s" % (k, pid)),
                         (mid, "z%s%s" % (k, pid), home, "u%s%s" % (k, pid))):
        ip("link", "add", da, "netns", a, "type", "veth", "peer", "name", db, "netns", b)
        ip("link", "set", da, "up", ns=a)
        ip("link", "set", db, "up", ns=b)
    ip("addr", "add", "2001:db8:3::1/64", "dev", "x%s%s" % (k, pid), "nodad", ns=vps)
    ip("addr", "add", "2001:db8:3::2/64", "dev", "y%s%s" % (k, pid), "nodad", ns=mid)
    ip("addr", "add", "2001:db8:4::1/64", "dev", "z%s%s" % (k, pid), "nodad", ns=mid)
    ip("addr", "add", "2001:db8:4::2/64", "dev", "u%s%s" % (k, pid), "nodad", ns=home)
    ip("link", "set", "z%s%s" % (k, pid), "mtu", "1280", ns=mid)
    ip("link", "set", "u%s%s" % (k, pid), "mtu", "1280", ns=home)
    rc, out, err = run(["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"], netns=mid)
    check(rc == 0, "sysctl forwarding in %s: %s" % (mid, err))
    ip("-6", "route", "add", "2001:db8:0:1:3::/80", "via", "2001:db8:3::2",
       "src", "2001:db8:1::1", ns=vps)
    ip("-6", "route", "add", "2001:db8:0:1:3::/80", "via", "2001:db8:4::2", ns=mid)
    ip("-6", "route", "add", "2001:db8:0:1:1::/80", "via", "2001:db8:4::2", ns=mid)
    return mid


def wait_connect(ns, addr, port, timeout=10):
    """A TCP connect from namespace ns to [addr]:port works (fresh links
    may take a moment), or the case fails."""
    code = ("import socket,sys,time\n"
            "for i in range(%d):\n"
            "    try:\n"
            "        socket.create_connection((%r, %d), 0.5).close(); sys.exit(0)\n"
            "    except OSError:\n"
            "        time.sleep(0.1)\n"
            "sys.exit(1)\n" % (timeout * 5, addr, port))
    rc, out, err = run(["python3", "-c", code], netns=ns, timeout=timeout + 10)
    check(rc == 0, "no TCP connect from %s to [%s]:%d within %ss" % (ns, addr, port, timeout))


def test_diagnose_in_namespaces(case):
    """The seed scenario: snid on the VPS (192.0.2.1), backends at home
    behind a veth.  A good name passes every step; then a wrong A record,
    an AAAA outside the prefix, one without a route, a closed port, a
    backend behind an MTU blackhole, and nat46 without and with its local
    route, each fail (or pass) their own step; and from a host with private
    IPv4 addresses only, a public A record is a WARN (a 1:1 NAT)."""
    if os.geteuid() != 0:
        raise Skip("needs root (creates network namespaces)")
    vps, home, cli = topology("snidd")
    pid = str(os.getpid())
    for a in ("2001:db8:0:1:1::10", "2001:db8:0:1:1::11", "2001:db8:0:1:3::10"):
        ip("addr", "add", a + "/128", "dev", "lo", ns=home)
    ip("-6", "route", "add", "default", "via", "2001:db8:1::1", ns=home)
    mid = mtu_path(vps, home, "d", pid)
    recs = {"good.home.test": ["192.0.2.1", "2001:db8:0:1:1::10"],
            "wronga.home.test": ["198.51.100.7", "2001:db8:0:1:1::10"],
            "outside.home.test": ["192.0.2.1", "2001:db8:0:1:2::10"],
            "noroute.home.test": ["192.0.2.1", "2001:db8:5::10"],
            "closed.home.test": ["192.0.2.1", "2001:db8:0:1:1::11"],
            "mtu.home.test": ["192.0.2.1", "2001:db8:0:1:3::10"],
            "nat.home.test": ["198.51.100.7", "2001:db8:0:1:1::10"]}
    case.dnsmasq(recs, port=53, netns=vps)
    case.tls_backend("good", "2001:db8:0:1:1::10", 443, netns=home, cert_name="good.home.test")
    case.tls_backend("mtu", "2001:db8:0:1:3::10", 443, netns=home, cert_name="mtu.home.test")
    args = ["-listen", "tcp:192.0.2.1:443", "-backend-cidr", "2001:db8:0:1:1::/80",
            "-backend-cidr", "2001:db8:0:1:3::/80", "-backend-cidr", "2001:db8:5::/64",
            "-dns-server", "127.0.0.1:53", "-connect-timeout", str(2 * SLOW)]
    wait_connect(vps, "2001:db8:0:1:1::10", 443)
    rc, steps, out = diagnose(case, args, "good.home.test", netns=vps)
    check(rc == 0, "good.home.test: exit %d:\n%s" % (rc, out))
    all_ok(steps, ("name", "dns", "a", "aaaa", "port", "route", "connect", "hello"))
    check("via 2001:db8:1::2 dev vd%s" % pid in steps["route"][0][1], out)
    expect(case, args, "wronga.home.test", "a", "FAIL", 1,
           "198.51.100.7 is not an address of this host", netns=vps)
    expect(case, args, "outside.home.test", "aaaa", "FAIL", 1,
           "2001:db8:0:1:2::10 is outside -backend-cidr", netns=vps)
    expect(case, args, "noroute.home.test", "route", "FAIL", 1,
           "no route to 2001:db8:5::10", netns=vps)
    expect(case, args, "closed.home.test", "connect", "FAIL", 1,
           "Connection refused", netns=vps)
    n46 = ["-listen", "tcp:192.0.2.1:443", "-mode", "nat46", "-nat46-prefix",
           "64:ff9b:1::", "-backend-cidr", "2001:db8:0:1:1::/80",
           "-dns-server", "127.0.0.1:53", "-connect-timeout", str(2 * SLOW)]
    expect(case, n46, "good.home.test", "nat46", "FAIL", 1,
           "is not routed to this host", netns=vps)
    ip("-6", "route", "add", "local", "64:ff9b:1::/96", "dev", "lo", ns=vps)
    ip("-6", "route", "add", "64:ff9b:1::/96", "via", "2001:db8:1::1", ns=home)
    rc, steps, out = diagnose(case, n46, "good.home.test", netns=vps)
    check(rc == 0, "nat46 good.home.test: exit %d:\n%s" % (rc, out))
    all_ok(steps, ("nat46", "route", "connect", "hello"))
    check("from 64:ff9b:1::c000:201" in steps["connect"][0][1], out)
    # A host with private IPv4 addresses only, as behind a cloud's 1:1 NAT
    # (the router namespace, whose own packets home fit its 1280-byte
    # link): a public A record that is not its own is a WARN, exit 0.
    ip("addr", "add", "10.0.0.4/32", "dev", "lo", ns=mid)
    case.dnsmasq(recs, port=53, netns=mid)
    natted = ["-listen", "tcp:10.0.0.4:443", "-backend-cidr", "2001:db8:0:1:1::/80",
              "-dns-server", "127.0.0.1:53", "-connect-timeout", str(2 * SLOW)]
    steps = expect(case, natted, "nat.home.test", "a", "WARN", 0, "1:1 NAT", netns=mid)
    all_ok(steps, ("aaaa", "route", "connect", "hello"))
    # Last: the MTU blackhole leaves its s_server (one connection at a
    # time) waiting for the rest of a hello that never comes.
    wait_connect(vps, "2001:db8:0:1:3::10", 443)
    steps = expect(case, args, "mtu.home.test", "hello", "FAIL", 1,
                   "no answer to a 2000-byte ClientHello", netns=vps)
    all_ok(steps, ("connect",))
    case.note("namespaces %s, %s, %s, snidd-mid-%s" % (vps, home, cli, pid))


class UnixTlsBackend(Proc):
    """openssl s_server on the unix socket DIR/NAME (unix mode's TLS
    backend).  The path is given relative to DIR, its working directory:
    openssl 3.0 fails to print a long socket path, and exits."""
    ready = r"^ACCEPT"

    def __init__(self, case, d, name):
        super().__init__(case, "s_server-unix")
        cert, key = make_cert(case.run_dir, name)
        self.start(["openssl", "s_server", "-unix", name, "-cert", cert,
                    "-key", key, "-HTTP"], cwd=d)


def test_diagnose_unix_mode_and_proxy_out(case):
    """unix mode: the socket step finds DIR/NAME (openssl s_server there
    answers the hello) or fails naming the directory; the A lookup goes to
    /etc/resolv.conf there, whatever it answers.  -proxy-proto: the hello
    goes after the PROXY v2 header the daemon would send, as a PROXY
    backend records it."""
    d = os.path.join(case.dir, "sock")
    os.mkdir(d)
    UnixTlsBackend(case, d, "diag.test")
    args = ["-listen", "tcp:127.0.0.1:0", "-mode", "unix", "-unix-directory", d,
            "-dns-timeout", "0.5", "-connect-timeout", str(2 * SLOW)]
    rc, steps, out = diagnose(case, args, "diag.test")
    all_ok(steps, ("name", "socket", "connect", "hello"))
    dns_ok = all(lv != "FAIL" for w in ("dns", "a") for lv, _ in steps.get(w, []))
    check(rc == (0 if dns_ok else 1), "unix diag.test: exit %d:\n%s" % (rc, out))
    rc, steps, out = diagnose(case, args, "none.diag.test")
    check(rc == 1 and any(lv == "FAIL" and d in t for lv, t in steps.get("socket", [])),
          "unix none.diag.test: exit %d, want FAIL socket naming %s:\n%s" % (rc, d, out))
    check("connect" not in steps and "hello" not in steps, out)

    w = world(case, (), dns=case.dnsmasq(DIAG_RECORDS), start_snid=False,
              extra=["-proxy-proto"])
    pp = PPBackend(case, "tcp:::1:%d" % w.B, "alpha")
    rc, steps, out = diagnose(case, w.args, "diag.test")
    ev = pp.events(1)
    check(len(ev) == 1 and ev[0].get("version") == 2 and ev[0].get("hello_len") == 2000,
          "the PROXY backend saw %s" % ev)
    # Its answer is a line of text, not TLS: the hello step says so.
    check(rc == 1 and any(lv == "FAIL" and "after a PROXY v2 header" in t and
                          "something else than TLS" in t for lv, t in steps.get("hello", [])),
          "-proxy-proto: exit %d:\n%s" % (rc, out))
