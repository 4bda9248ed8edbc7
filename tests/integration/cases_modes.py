"""Cases for the modes and listener kinds beyond plain tcp: -mode unix,
-mode nat46 (root: network namespaces), unix: listeners, socket activation
(fd:, fdname:) with systemd-socket-activate and a launcher of our own, and
IPv4/IPv6 listeners sharing a port.

The unix-mode services are the unix-backend of servers.py: per
connection it reads a whole ClientHello, answers "backend=NAME
hello_sha256=HEX hello_len=N\\n" and closes; each connection is logged as
a JSON line.
"""

import os
import re
import socket
import subprocess
import time

from snidtest import (Fail, PortInUse, Skip, Snid, UnixBackend, check, check_alert,
                      client_hello, connect, describe, free_port, read_all,
                      run, talk, valgrind_argv, wait_until, want_reply,
                      SLOW, VALGRIND, PY, SNID)
from fixtures import (RECORDS, good_client, launch_activated, nat46_routes,
                      no_accepts, probe_from, refused, topology, world)


# --- helpers -----------------------------------------------------------------

def unix_exchange(path, hello, timeout=5.0):
    """Send hello over the unix socket path; (reply bytes, how)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout * SLOW)
    try:
        s.connect(path)
        s.sendall(hello)
        s.shutdown(socket.SHUT_WR)      # the raw backend closes at EOF
        return read_all(s, timeout * SLOW)
    finally:
        s.close()


def client_over(host, port, sni):
    """Raw client over TCP: (reply bytes, how, client port)."""
    return talk(host, port, client_hello(sni), 5 * SLOW)


def snid_fails(args, words, rc_want=(1, 2), env=None, pass_fds=()):
    """snid with args must exit (status in rc_want) naming every word."""
    try:
        p = subprocess.run([SNID] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=10 * SLOW, env=env, pass_fds=pass_fds)
    except subprocess.TimeoutExpired:
        raise Fail("snid %s kept running; it should have refused to start" % " ".join(args))
    err = p.stderr.decode(errors="replace")
    check(p.returncode in rc_want, "snid %s: exit %d, want %s; stderr: %s" %
          (" ".join(args), p.returncode, rc_want, err.strip()))
    for w in words:
        check(w in err, "snid %s: stderr does not say %r: %s" % (" ".join(args), w, err.strip()))
    return err


def vg(case, argv):
    """argv under valgrind memcheck when SNID_VALGRIND=1 (as the Snid class
    does): valgrind runs snid in its own pid, so LISTEN_PID still matches."""
    if not VALGRIND:
        return argv
    return valgrind_argv(os.path.join(case.dir, "snid.valgrind.log")) + argv


# --- unix mode ---------------------------------------------------------------

def _unix_world(case, extra=()):
    d = os.path.join(case.dir, "sockets")
    os.makedirs(d)
    snid = case.snid(["-listen", "tcp:127.0.0.1:0", "-mode", "unix",
                      "-unix-directory", d + "/", "-log-level", "debug"] + list(extra))
    return d, snid.port, snid


def test_unix_mode_exact_name_then_wildcard(case):
    """DIR/NAME first, else DIR/_.PARENT (one level only), else
    unrecognized_name with outcome no-socket; the log names the socket."""
    d, L, snid = _unix_world(case)
    alpha = UnixBackend(case, os.path.join(d, "alpha.test"), "alpha")
    wild = UnixBackend(case, os.path.join(d, "_.wild.test"), "wild")
    # The wildcard's own name has a socket too: an exact match wins over it.
    exact = UnixBackend(case, os.path.join(d, "exact.wild.test"), "exact")
    for sni, name, path in (("alpha.test", "alpha", "alpha.test"),
                            ("ALPHA.test.", "alpha", "alpha.test"),
                            ("www.wild.test", "wild", "_.wild.test"),
                            ("exact.wild.test", "exact", "exact.wild.test")):
        cport = good_client(None, name, sni=sni, port=L)
        c = snid.conn_for(cport)
        check(c["backend"] == "unix:%s/%s" % (d, path) and c["outcome"] == "ok",
              "sni %s: %s" % (sni, c["line"]))
    for sni in ("a.b.wild.test", "nope.test", "wild.test", "test"):
        got, how, cport = client_over("127.0.0.1", L, sni)
        check_alert(got, 112, "sni %s" % sni)
        c = snid.conn_for(cport)
        check(c["outcome"] == "no-socket" and c["backend"] == "-", "sni %s: %s" % (sni, c["line"]))
    check(len(alpha.accepts()) == 2 and len(wild.accepts()) == 1 and len(exact.accepts()) == 1,
          "accepts: alpha %d, wild %d, exact %d" %
          (len(alpha.accepts()), len(wild.accepts()), len(exact.accepts())))


def test_unix_mode_dead_socket_not_sent_to_wildcard(case):
    """A socket file nobody listens on is a service that is down: the
    client gets internal_error (connect-failed), not the wildcard service."""
    d, L, snid = _unix_world(case)
    wild = UnixBackend(case, os.path.join(d, "_.test"), "wild")
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(os.path.join(d, "alpha.test"))
    dead.close()                    # the file stays, no one listens
    got, how, cport = client_over("127.0.0.1", L, "alpha.test")
    check_alert(got, 80, "dead socket")
    c = snid.conn_for(cport)
    check(c["outcome"] == "connect-failed" and c["backend"] == "unix:%s/alpha.test" % d, c["line"])
    check(not wild.accepts(), "the wildcard backend got the dead service's client")
    good_client(None, "wild", sni="beta.test", port=L)     # beta.test: to _.test


def test_unix_mode_path_escape_names_refused(case):
    """Names that would leave DIR or name a directory are refused as bad
    names before any file is looked at: sockets placed exactly where those
    names would lead see nothing."""
    d, L, snid = _unix_world(case)
    traps = {}
    # Where an escape would land: DIR/../b, DIR/%2e%2e, DIR/..., DIR/a..b.
    for rel in ("../b", "../escape.test", "%2e%2e", "...", "a..b", "x y"):
        path = os.path.normpath(os.path.join(d, rel))
        traps[rel] = UnixBackend(case, path, "trap" + str(len(traps)))
    catch_all = UnixBackend(case, os.path.join(d, "_.test"), "catchall")
    for sni in ("..", ".", "a/../b", "../escape.test", "/etc/passwd", "%2e%2e", "...",
                "a..b", "x y", "a\\b", "..%2fescape.test", "a/b.test"):
        got, how, cport = client_over("127.0.0.1", L, sni)
        check_alert(got, 112, "sni %r" % sni)
        c = snid.conn_for(cport)
        check(c["outcome"] == "bad-name" and c["backend"] == "-", "sni %r: %s" % (sni, c["line"]))
    time.sleep(0.2)
    for rel, b in list(traps.items()) + [("_.test", catch_all)]:
        check(not b.accepts(), "the socket at %s was reached" % rel)
    # The traps are live: a valid name does reach the catch-all.
    good_client(None, "catchall", sni="ok.test", port=L)


# --- nat46 -------------------------------------------------------------------

def test_nat46_ipv6_client_refused(case):
    """nat46 has no IPv4 address to map for an IPv6 client: refused with
    unrecognized_name, outcome ipv6-client, and a line saying what to do."""
    w = world(case, ("alpha",), cidrs=("::1/128",), start_snid=False)
    w.snid = case.snid(["-listen", "tcp:[::1]:0", "-mode", "nat46",
                        "-nat46-prefix", "64:ff9b:1::", "-backend-cidr", "::1/128",
                        "-backend-port", str(w.B), "-dns-server", "127.0.0.1:%d" % w.dns_port])
    L6 = w.snid.port_of("::1")
    got, how, cport = client_over("::1", L6, "alpha.test")
    check_alert(got, 112, "IPv6 client in nat46 mode")
    c = w.snid.conn_for(cport)
    check(c["outcome"] == "ipv6-client", c["line"])
    check("connect to the backend directly" in w.snid.text(), "no advice in the log: %s" % w.snid.tail())
    no_accepts(w, "IPv6 client in nat46 mode")


def test_nat46_backend_sees_prefix_plus_client_ipv4(case):
    """Root: client 192.0.2.2 -> snid (VPS 192.0.2.1:443, nat46 prefix
    64:ff9b:1::/96 routed locally) -> backend 2001:db8:0:1:1::10 in the
    home namespace, which must see the source 64:ff9b:1::c000:202; the
    reply reaches the client."""
    if os.geteuid() != 0:
        raise Skip("needs root (creates network namespaces)")
    vps, home, cli = topology("snidn")
    nat46_routes(vps, home)
    case.dnsmasq({"probe.test": ["2001:db8:0:1:1::10"]}, port=53, netns=vps)
    backend = case.raw_backend("alpha", "2001:db8:0:1:1::10", 443, netns=home)
    snid = case.snid(["-listen", "tcp:192.0.2.1:443", "-mode", "nat46",
                      "-nat46-prefix", "64:ff9b:1::/96",
                      "-backend-cidr", "2001:db8:0:1:1::/80",
                      "-dns-server", "127.0.0.1:53", "-log-level", "debug"], netns=vps)
    rc, out, err = probe_from(cli, "192.0.2.1", 443, timeout=15 * SLOW)
    check(rc == 0 and out.startswith("backend=alpha"),
          "client in its namespace got no reply: rc=%d out=%r err=%r; snid: %s" %
          (rc, out, err[-300:], snid.tail()))
    acc = backend.accepts()
    check(len(acc) == 1, "backend accepts: %s" % acc)
    peer = acc[0]["peer"].rsplit(":", 1)[0]
    check(peer == "64:ff9b:1::c000:202",
          "backend saw the connection from %s, want 64:ff9b:1::c000:202 (192.0.2.2)" % peer)
    c = snid.wait_conns(1)[0]
    check(c["outcome"] == "ok" and c["client"].startswith("192.0.2.2:") and
          c["backend"] == "[2001:db8:0:1:1::10]:443", c["line"])
    case.note("backend saw %s" % acc[0]["peer"])
    snid.stop()


# --- listeners -----------------------------------------------------------------

def test_unix_listener_stale_replaced_live_and_file_kept(case):
    """unix:PATH: a stale socket file is replaced; a path another snid
    listens on, or a regular file, is an error (and the file is left as it
    was); clients over the socket are routed; SIGTERM removes the file; a
    unix listener needs -backend-port in tcp mode."""
    path = os.path.join(case.dir, "snid.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()
    check(os.path.exists(path), "no stale socket file to start with")
    w = world(case, ("alpha",), extra=["-listen", "unix:" + path])
    check("replacing the stale socket" in w.snid.text(), "no line about the stale socket: %s" % w.snid.tail())
    check(oct(os.stat(path).st_mode & 0o777) == oct(0o666), "socket mode %o" % (os.stat(path).st_mode & 0o777))
    hello = client_hello("alpha.test")
    got, how = unix_exchange(path, hello)
    check(got.decode(errors="replace").startswith(want_reply("alpha", hello)),
          "over the unix listener: %s" % describe(got))
    c = w.snid.wait_conns(1)[0]
    check(c["client"] == "unix:" and c["outcome"] == "ok", c["line"])
    # A second snid on the same live path must not steal it.
    args = ["-listen", "unix:" + path, "-backend-cidr", "::1/128", "-backend-port", str(w.B),
            "-dns-server", "127.0.0.1:9"]
    snid_fails(args, ["another process is listening"], rc_want=(1,))
    got, how = unix_exchange(path, hello)
    check(got.startswith(b"backend=alpha"), "the first snid lost its socket: %s" % describe(got))
    w.snid.stop()
    check(not os.path.exists(path), "socket file left behind after SIGTERM")
    # A regular file is never replaced.
    with open(path, "w") as f:
        f.write("precious\n")
    snid_fails(args, ["is not a socket"], rc_want=(1,))
    check(open(path).read() == "precious\n", "the regular file was touched")
    os.unlink(path)
    # No port to take the backend port from.
    snid_fails(["-listen", "unix:" + path, "-backend-cidr", "::1/128", "-dns-server", "127.0.0.1:9"],
               ["-backend-port"], rc_want=(2,))
    snid_fails(["-listen", "unix:" + path, "-mode", "nat46", "-nat46-prefix", "64:ff9b:1::",
                "-backend-cidr", "::1/128", "-backend-port", "443"], ["nat46"], rc_want=(2,))


def test_ipv4_and_ipv6_listeners_share_a_port(case):
    """tcp:[::1]:P and tcp:127.0.0.1:P side by side (IPV6_V6ONLY), and
    tcp:Q on both families; IPv4 clients are logged as IPv4 everywhere and
    the default backend port is the port connected to."""
    P = free_port(("127.0.0.1", "::1"))
    Q = free_port(("127.0.0.1", "::1"))
    w = world(case, ("alpha",), extra=["-listen", "tcp:[::1]:%d" % P, "-listen", "tcp:127.0.0.1:%d" % P,
                                       "-listen", "tcp:%d" % Q])
    clients = []
    for host, port in (("::1", P), ("127.0.0.1", P), ("::1", Q), ("127.0.0.1", Q)):
        clients.append((host, good_client(w, "alpha", host=host, port=port)))
    conns = w.snid.wait_conns(4)
    got = sorted(c["client"] for c in conns)
    want = sorted(("[%s]:%d" % (h, p)) if ":" in h else "%s:%d" % (h, p) for h, p in clients)
    check(got == want, "clients logged as %s, want %s" % (got, want))


def test_port_zero_listeners_named_in_ready_line(case):
    """-listen tcp:ADDR:0 takes any free port: the ready line names every
    socket as bound, in -listen order (as does the -metrics line), and the
    picked port is that listener's default backend port.  tcp:0 is refused:
    its two sockets would get two ports."""
    dns = case.dnsmasq(RECORDS)
    snid = case.snid(["-listen", "tcp:127.0.0.1:0", "-listen", "tcp:[::1]:0",
                      "-metrics", "tcp:127.0.0.1:0", "-backend-cidr", "::1/128",
                      "-dns-server", "127.0.0.1:%d" % dns.port])
    m = re.search(r"info: ready: 2 listening socket\(s\): 127\.0\.0\.1:(\d+) "
                  r"\[::1\]:(\d+)$", snid.text(), re.M)
    check(m, "ready line does not name both sockets: %s" % snid.tail())
    P, Q = int(m.group(1)), int(m.group(2))
    check(P > 0 and Q > 0, "port 0 in the ready line: %s" % m.group(0))
    mm = re.search(r"metrics: serving /metrics on tcp:127\.0\.0\.1:0 \(127\.0\.0\.1:(\d+)\)",
                   snid.text())
    check(mm and int(mm.group(1)) > 0, "metrics line names no port: %s" % snid.tail())
    connect("127.0.0.1", int(mm.group(1)), 5 * SLOW).close()
    try:
        backend = case.raw_backend("alpha", "::1", P)
    except PortInUse:
        raise Skip("port %d, picked on 127.0.0.1, is taken on ::1" % P)
    c = snid.conn_for(good_client(None, "alpha", port=P))
    check(c["outcome"] == "ok" and c["backend"] == "[::1]:%d" % P,
          "client on 127.0.0.1:%d: want ok via [::1]:%d: %s" % (P, P, c["line"]))
    # On [::1]:Q the default backend, [::1]:Q, is snid itself: refused so.
    got, how, cport = talk("::1", Q, client_hello("alpha.test"), 5 * SLOW)
    check_alert(got, 112, "client on [::1]:%d" % Q)
    c = snid.conn_for(cport)
    check(c["outcome"] == "denied", "client on [::1]:%d: %s" % (Q, c["line"]))
    check("backend [::1]:%d is snid's own listener" % Q in snid.text(),
          "no own-listener line for [::1]:%d: %s" % (Q, snid.tail()))
    check(len(backend.accepts()) == 1, "backend accepts: %s" % backend.accepts())
    snid_fails(["-listen", "tcp:0", "-backend-cidr", "::1/128"],
               ["tcp:0: port must be a number 1..65535"])


def _listening(addr="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((addr, 0))
    s.listen(16)
    return s


def test_socket_activation_fdname_with_systemd_socket_activate(case):
    """systemd-socket-activate -l 127.0.0.1:L --fdname=https snid -listen
    fdname:https: snid takes the passed socket (default backend port = L)."""
    if subprocess.run(["sh", "-c", "command -v systemd-socket-activate"],
                      stdout=subprocess.DEVNULL).returncode != 0:
        raise Skip("systemd-socket-activate not installed (Debian package systemd)")
    w = world(case, ("alpha",), backend_port=False, start_snid=False)
    args = [a for a in w.args if a != "tcp:127.0.0.1:%d" % w.L]
    args.remove("-listen")
    argv = vg(case, [SNID, "-listen", "fdname:https"] + args)
    log = os.path.join(case.dir, "snid.log")
    p = case.spawn("systemd-socket-activate",
                   ["systemd-socket-activate", "-l", "127.0.0.1:%d" % w.L, "--fdname=https"] + argv,
                   stdout=open(log, "ab"), stderr=open(log, "ab"))
    w.snid = Snid.adopt(case, p, log)
    check(wait_until(lambda: "Listening on" in w.snid.text() or p.poll() is not None, 10),
          "systemd-socket-activate did not listen: %s" % w.snid.tail())
    # The first connection makes it exec snid, which must then serve it.
    cport = good_client(w, "alpha")
    check(wait_until(lambda: "listening on fdname:https (fd 3, tcp:127.0.0.1:%d)" % w.L
                     in w.snid.text(), 5 * SLOW), "no listening line: %s" % w.snid.tail())
    c = w.snid.conn_for(cport)
    check(c["backend"] == "[::1]:%d" % w.L and c["outcome"] == "ok", c["line"])
    good_client(w, "alpha")


def test_socket_activation_fd_number_unused_fds_closed(case):
    """Three sockets passed: fd:3 is used; fd 4 (named "spare") and fd 5
    are closed by snid, so their ports refuse connections once the
    launcher's copies are gone."""
    w = world(case, ("alpha",), start_snid=False)
    socks = [_listening(), _listening(), _listening()]
    ports = [s.getsockname()[1] for s in socks]
    inodes = ["socket:[%d]" % os.fstat(s.fileno()).st_ino for s in socks]
    args = [a for a in w.args if a != "tcp:127.0.0.1:%d" % w.L]
    args.remove("-listen")
    p, log = launch_activated(case, socks, {"LISTEN_FDNAMES": "https:spare:"},
                       vg(case, [SNID, "-listen", "fd:3"] + args))
    for s in socks:
        s.close()                   # snid holds the only copies now
    w.snid = Snid.adopt(case, p, log)
    check(wait_until(lambda: "listening on fd:3" in w.snid.text() or p.poll() is not None, 10 * SLOW),
          "snid did not start: %s" % w.snid.tail())
    good_client(w, "alpha", port=ports[0])
    text = w.snid.text()
    check("closing fd 4 (spare)" in text and "closing fd 5," in text,
          "no lines about closing fds 4 and 5: %s" % w.snid.tail())
    for port in ports[1:]:
        try:
            connect("127.0.0.1", port, 2).close()
            raise Fail("port %d of an unused passed fd still accepts" % port)
        except ConnectionRefusedError:
            pass
    d = "/proc/%d/fd" % p.pid
    held = {os.readlink(os.path.join(d, f)) for f in os.listdir(d)}
    check(inodes[0] in held and not (set(inodes[1:]) & held),
          "snid's sockets %s; passed %s (only the first should be open)" % (sorted(held), inodes))


def test_socket_activation_mismatch_and_bad_fds_refused(case):
    """LISTEN_PID of another process: the variables are ignored, so
    fdname:https and fd:3 find nothing; fd:N outside LISTEN_FDS, an unknown
    name and a passed socket that is not listening are errors too."""
    base = ["-backend-cidr", "::1/128", "-backend-port", "443", "-dns-server", "127.0.0.1:9"]
    code = ("import os,sys\n"
            "os.dup2(int(sys.argv[1]), 3); os.set_inheritable(3, True)\n"
            "os.environ.update(LISTEN_PID=sys.argv[2] or str(os.getpid()), LISTEN_FDS='1',"
            " LISTEN_FDNAMES='https')\n"
            "os.execv(sys.argv[3], sys.argv[3:])\n")

    def launch(sock, pid, args, words):
        try:
            r = subprocess.run([PY, "-c", code, str(sock.fileno()), pid, SNID] + args + base,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=10 * SLOW, pass_fds=[sock.fileno()])
        except subprocess.TimeoutExpired:
            raise Fail("snid %s started; it should have refused" % args)
        err = r.stderr.decode(errors="replace")
        check(r.returncode == 1, "%s (LISTEN_PID %s): exit %d, want 1: %s" %
              (args, pid or "ours", r.returncode, err.strip()))
        for wd in words:
            check(wd in err, "%s: stderr does not say %r: %s" % (args, wd, err.strip()))

    s = _listening()
    try:
        launch(s, "1", ["-listen", "fdname:https"], ["LISTEN_PID=1 is not our pid"])
        launch(s, "1", ["-listen", "fd:3"], ["LISTEN_PID=1 is not our pid"])
        launch(s, "", ["-listen", "fd:4"], ["fd 4 was not passed"])
        launch(s, "", ["-listen", "fdname:http"], ["no fd named http"])
        port = s.getsockname()[1]
    finally:
        s.close()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        launch(u, "", ["-listen", "fd:3"], ["not a listening socket"])
    finally:
        u.close()
    b = socket.socket(socket.AF_INET, socket.SOCK_STREAM)   # bound, never listen()ed
    try:
        b.bind(("127.0.0.1", 0))
        launch(b, "", ["-listen", "fdname:https"], ["not a listening socket"])
    finally:
        b.close()
    snid_fails(["-listen", "fdname:https"] + base, ["not socket-activated"], rc_want=(1,))


def test_socket_activation_dual_stack_proxy_out_ipv4(case):
    """A dual-stack fd: listener ([::]:P without IPV6_V6ONLY) sees an IPv4
    client as ::ffff:127.0.0.1; -proxy-proto (v1 and v2) must tell the
    backend TCP4 127.0.0.1, as haproxy does, not TCP6 ::ffff:127.0.0.1.
    An IPv6 client on the same socket stays TCP6."""
    from snidtest import PPBackend
    w = world(case, (), start_snid=False)
    pp = PPBackend(case, "tcp:::1:%d" % w.B, "alpha")
    args = [a for a in w.args if a != "tcp:127.0.0.1:%d" % w.L]
    args.remove("-listen")
    hello = client_hello("alpha.test")
    n = 0
    for ver in ("v1", "v2"):
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", 0))
        s.listen(16)
        port = s.getsockname()[1]
        p, log = launch_activated(case, [s], {}, vg(case, [SNID, "-listen", "fd:3", "-proxy-proto", ver]
                                             + args))
        s.close()
        snid = Snid.adopt(case, p, log)
        check(wait_until(lambda: "listening on fd:3" in snid.text() or p.poll() is not None,
                         10 * SLOW), "snid did not start: %s" % snid.tail())
        for host in ("127.0.0.1", "::1"):
            c = connect(host, port, 5 * SLOW)
            try:
                me = c.getsockname()[1]
                c.sendall(hello)
                line = c.recv(200).decode(errors="replace").strip()
            finally:
                c.close()
            check(line == want_reply("alpha", hello), "%s via %s: got %r" % (ver, host, line))
            n += 1
            evs = wait_until(lambda: len(pp.events(n)) >= n and pp.events(n), 5 * SLOW)
            check(evs and len(evs) >= n, "backend saw no header: %s" % evs)
            ev = evs[n - 1]
            check(ev.get("error") is None, "backend: %s" % ev.get("error"))
            fam, a = ("TCP4", "127.0.0.1") if host == "127.0.0.1" else ("TCP6", "::1")
            if ver == "v1":
                want = "PROXY %s %s %s %d %d\r\n" % (fam, a, a, me, port)
                check(ev["line"] == want, "v1 via %s: want %r, got %r" % (host, want, ev["line"]))
            else:
                check(ev["family"] == fam and ev["src"] == a and ev["dst"] == a
                      and ev["sport"] == me and ev["dport"] == port,
                      "v2 via %s: want %s %s, got %s" % (host, fam, a, ev))


def test_unix_mode_own_listener_in_directory_refused(case):
    """A unix: listener inside -unix-directory (spelt another way: DIR/./)
    is never dialled: a client naming it is refused as denied (alert 112)
    with a warning, instead of snid connecting to itself again and again;
    a real backend in the same directory is still served."""
    d = os.path.join(case.dir, "sockets")
    os.makedirs(d)
    alpha = UnixBackend(case, os.path.join(d, "alpha.test"), "alpha")
    snid = case.snid(["-listen", "tcp:127.0.0.1:0", "-listen", "unix:%s/./loop.test" % d,
                      "-mode", "unix", "-unix-directory", d, "-max-connections", "20",
                      "-log-level", "debug"])
    L = snid.ports_of("127.0.0.1")[0]
    got, how, cport = client_over("127.0.0.1", L, "loop.test")
    check_alert(got, 112, "sni loop.test (snid's own socket)")
    c = snid.conn_for(cport)
    check(c["outcome"] == "denied", c["line"])
    check("backend %s/loop.test is snid's own listener" % d in snid.text(),
          "no own-listener warning: %s" % snid.tail())
    time.sleep(0.3)
    check(len(snid.conns()) == 1, "more connections than the client's: %s"
          % [x["line"] for x in snid.conns()])
    good_client(None, "alpha", sni="alpha.test", port=L)
    check(wait_until(lambda: len(alpha.accepts()) == 1, 5 * SLOW),
          "alpha accepts: %s" % alpha.accepts())


def test_fdstore_listener_adopted_by_address(case):
    """The restart handover (issue 12): sockets systemd's fd store hands
    back (FDNAME snid-tcp) are taken by the tcp: -listen of the same
    address instead of binding it (which would fail: it is bound), and
    one that no -listen names is closed."""
    w = world(case, ("alpha",), start_snid=False)
    socks = [_listening(), _listening()]
    ports = [s.getsockname()[1] for s in socks]
    args = [a for a in w.args if a != "tcp:127.0.0.1:%d" % w.L]
    args.remove("-listen")
    p, log = launch_activated(case, socks, {"LISTEN_FDNAMES": "snid-tcp:snid-tcp"},
                       vg(case, [SNID, "-listen", "tcp:127.0.0.1:%d" % ports[0]] + args))
    for s in socks:
        s.close()                   # snid holds the only copies now
    w.snid = Snid.adopt(case, p, log)
    check(wait_until(lambda: "ready:" in w.snid.text() or p.poll() is not None, 10 * SLOW),
          "snid did not start: %s" % w.snid.tail())
    check("listen tcp:127.0.0.1:%d: kept from the previous process" % ports[0]
          in w.snid.text(), "no 'kept' line: %s" % w.snid.tail())
    good_client(w, "alpha", port=ports[0])
    try:
        connect("127.0.0.1", ports[1], 2).close()
        raise Fail("port %d, stored but no longer configured, still accepts" % ports[1])
    except ConnectionRefusedError:
        pass
