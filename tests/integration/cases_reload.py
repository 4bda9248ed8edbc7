"""Reload cases: SIGHUP re-reads -config and applies it to what happens next;
connections already moving bytes are untouched, a configuration that does
not load or validate changes nothing.  Same loopback world as cases.py, but
snid is started with `-config FILE` only, and the cases rewrite FILE.
"""

import hashlib
import os
import re
import signal
import socket
import time

from snidtest import (Skip, check, client_hello, connect,
                      gen_chunks, read_all, read_line, wait_until,
                      SLOW)
from fixtures import NotifySocket, world, good_client, recv_stream, refused


def _write_conf(w, cidrs=("::1/128", "127.0.0.2/32"), dns_port=None, more=(),
                listen=None):
    lines = ["# written by %s" % __name__,
             "listen %s" % (listen or w.listen_spec),
             "backend-port %d" % w.B,
             "dns-server 127.0.0.1:%d" % (dns_port or w.dns_port),
             "log-level debug"]
    lines += ["backend-cidr %s" % c for c in cidrs]
    lines += list(more)
    tmp = w.conf + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.rename(tmp, w.conf)      # a reload never sees half a file


def conf_world(case, backends=("alpha",), dns=None, env=None, **kw):
    w = world(case, backends, dns=dns, start_snid=False)
    w.conf = os.path.join(case.dir, "snid.conf")
    # Port 0 while snid is down; the same text on every reload (a changed
    # listener would be a warning).
    w.listen_spec = "tcp:127.0.0.1:%d" % w.L
    _write_conf(w, **kw)
    w.snid = case.snid(["-config", w.conf], env=env)
    return w


RELOAD_END = re.compile(r"reload: (done|rejected)")


def _reloads(w):
    return RELOAD_END.findall(w.snid.text())


def reload(w, want="done"):
    """SIGHUP, and wait for the reload's outcome line; returns the log
    lines the reload wrote."""
    before_text = w.snid.text()
    n = len(RELOAD_END.findall(before_text))
    os.kill(w.snid.p.pid, signal.SIGHUP)
    check(wait_until(lambda: len(_reloads(w)) > n, 5 * SLOW),
          "no reload line within %.0fs of SIGHUP: %s" % (5 * SLOW, w.snid.tail()))
    w.snid.check_alive()
    got = _reloads(w)[n]
    new = w.snid.text()[len(before_text):]
    check(got == want, "reload %s, want %s: %s" % (got, want, new.strip()))
    return new


def test_reload_under_live_transfer_changes_next_connection_only(case):
    """A transfer to alpha ([::1]) runs; the reload drops ::1/128 from the
    allow-list.  The next connection to alpha is denied, beta still served,
    and the live transfer completes with every byte, both ways (sha256)."""
    w = conf_world(case, ("alpha", "beta"))
    down, up = 3000000, 1500000
    s = connect("127.0.0.1", w.L, 5 * SLOW)
    cport = s.getsockname()[1]
    s.sendall(client_hello("alpha.test") + b"slow %d 3\n" % down)
    line = read_line(s, 5 * SLOW)
    check(line.startswith("backend=alpha"), line)
    s.settimeout(10 * SLOW)
    first = s.recv(65536)
    check(first, "no data before the reload")

    _write_conf(w, cidrs=("127.0.0.2/32",))
    reload(w)
    refused(w, client_hello("alpha.test"), 112, "denied", "alpha.test after the reload")
    good_client(w, "beta")

    recv_stream(s, first, down, 7, "live transfer after the reload")
    hu = hashlib.sha256()
    for ch in gen_chunks(11, up):
        s.sendall(ch)
        hu.update(ch)
    s.shutdown(socket.SHUT_WR)
    rest, how = read_all(s, 10 * SLOW)
    s.close()
    want = "recv=%d sha256=%s" % (up, hu.hexdigest())
    check(how == "eof" and rest.decode(errors="replace").strip() == want,
          "backend got %r (%s), want %r" % (rest[:120], how, want))
    c = w.snid.conn_for(cport)
    check(c["outcome"] == "ok" and c["backend"] == "[::1]:%d" % w.B, c["line"])


def test_reload_default_hostname_changes_backend(case):
    """-default-hostname alpha.test, then beta.test: a hello without SNI
    goes to the new default after the reload."""
    w = conf_world(case, ("alpha", "beta"), more=["default-hostname alpha.test"])

    def no_sni_backend():
        s = connect("127.0.0.1", w.L, 5 * SLOW)
        try:
            s.sendall(client_hello(None))
            return read_line(s, 5 * SLOW).split()[0]
        finally:
            s.close()
    check(no_sni_backend() == "backend=alpha", "before the reload")
    _write_conf(w, more=["default-hostname beta.test"])
    reload(w)
    got = no_sni_backend()
    check(got == "backend=beta", "no-SNI client after the reload reached %s" % got)


def test_reload_broken_config_keeps_old(case):
    """A syntax error (named as FILE:LINE) and a validation error are each
    rejected whole: the old allow-list keeps routing, snid keeps running."""
    w = conf_world(case, ("alpha",))
    good = open(w.conf).read()
    with open(w.conf, "w") as f:
        f.write(good.replace("backend-cidr 127.0.0.2/32",
                             "backend-cidr 127.0.0.2/32\nno-such-setting 1"))
    lineno = open(w.conf).read().splitlines().index("no-such-setting 1") + 1
    new = reload(w, "rejected")
    check("%s:%d" % (w.conf, lineno) in new and "no-such-setting" in new,
          "the error does not name %s:%d: %s" % (w.conf, lineno, new.strip()))
    good_client(w, "alpha")
    # Valid syntax, invalid whole: tcp mode without any -backend-cidr.
    _write_conf(w, cidrs=())
    new = reload(w, "rejected")
    check("backend-cidr" in new, "the error does not say what is wrong: %s" % new.strip())
    good_client(w, "alpha")
    # A changed listener is not applied, and said so; the rest is.
    other = "tcp:127.0.0.1:%d" % w.B
    _write_conf(w, cidrs=("127.0.0.2/32",), listen=other)
    new = reload(w)
    check("listener changes need a restart" in new, "no warning: %s" % new.strip())
    refused(w, client_hello("alpha.test"), 112, "denied", "alpha.test after the reload")


def test_reload_storm_is_harmless(case):
    """20 SIGHUPs back to back, alternating two allow-lists, while clients
    connect: snid survives, serves throughout, and ends on the last file."""
    w = conf_world(case, ("alpha", "beta"))
    for i in range(20):
        _write_conf(w, cidrs=("::1/128", "127.0.0.2/32") if i % 2 else ("127.0.0.2/32",))
        os.kill(w.snid.p.pid, signal.SIGHUP)
        if i % 5 == 0:
            good_client(w, "beta")
    # The last file written allows both; wait for a reload that read it.
    # (Access lines of the clients above may come after it: look at the
    # last reload line, not the last line.)
    def last_reload_done():
        lines = [l for l in w.snid.text().splitlines() if "reload:" in l]
        return bool(lines) and lines[-1].endswith(
            "reload: done; new connections use the new configuration")
    check(wait_until(lambda: last_reload_done() or not w.snid.alive(), 5 * SLOW),
          "no final reload line: %s" % w.snid.tail())
    time.sleep(0.3 * SLOW)
    w.snid.check_alive()
    n = len(_reloads(w))
    check(1 <= n <= 20, "%d reloads for 20 SIGHUPs" % n)
    case.note("%d reloads ran for 20 SIGHUPs (signals coalesce)" % n)
    good_client(w, "alpha")
    good_client(w, "beta")


def test_reload_lookup_in_progress_finishes_on_old_servers(case):
    """A connection waiting for its DNS answer when the DNS server changes
    gets the old server's answer; the next lookup asks the new server, and
    a cached answer from the old server is not used (cache flushed)."""
    old = case.dns_responder({"alpha.test": "aaaa:::1",
                              "slow.test": "delay:1.5:::1"})
    new = case.dns_responder({"alpha.test": "aaaa:::ffff:127.0.0.2"})
    w = conf_world(case, ("alpha", "beta"), dns=old)
    good_client(w, "alpha", sni="alpha.test")        # cached for 5 s now
    s = connect("127.0.0.1", w.L, 5 * SLOW)
    s.sendall(client_hello("slow.test"))
    check(wait_until(lambda: any(e.get("name", "").lower() == "slow.test" for e in old.events()),
                     3 * SLOW), "slow.test never asked")
    _write_conf(w, dns_port=new.port)
    reload(w)
    line = read_line(s, 5 * SLOW)
    s.close()
    check(line.startswith("backend=alpha"), "lookup in progress at the reload: %r" % line)
    good_client(w, "beta", sni="alpha.test")
    check(any(e.get("name", "").lower() == "alpha.test" for e in new.events()),
          "the new server was not asked")
    check(wait_until(lambda: "no lookup left" in w.snid.text(), 5 * SLOW),
          "the old DNS channel was not closed: %s" % w.snid.tail())


def test_reload_sd_notify_reloading_then_ready(case):
    """Type=notify-reload: RELOADING=1 with MONOTONIC_USEC (CLOCK_MONOTONIC,
    taken when the reload starts), then READY=1, on NOTIFY_SOCKET."""
    n = NotifySocket("notify-reload")
    rx, got, drain = n.rx, n.got, n.drain
    try:
        w = conf_world(case, ("alpha",), env=n.env)
        check(wait_until(lambda: drain() or any("READY=1" in g for g in got), 5 * SLOW),
              "no READY=1 at start: %s" % got)
        del got[:]
        t0 = int(time.monotonic() * 1e6)
        _write_conf(w, cidrs=("127.0.0.2/32",))
        reload(w)
        t1 = int(time.monotonic() * 1e6)
        drain()
        rel = [i for i, g in enumerate(got) if g.startswith("RELOADING=1")]
        check(len(rel) == 1, "want one RELOADING=1: %s" % got)
        m = re.search(r"\nMONOTONIC_USEC=(\d+)$", got[rel[0]])
        check(m, "RELOADING=1 without MONOTONIC_USEC: %r" % got[rel[0]])
        usec = int(m.group(1))
        check(t0 <= usec <= t1, "MONOTONIC_USEC=%d not between %d and %d" % (usec, t0, t1))
        ready = [i for i, g in enumerate(got) if g.startswith("READY=1")]
        check(ready and ready[0] > rel[0], "no READY=1 after RELOADING=1: %s" % got)
        # A rejected reload ends in READY=1 too, saying so.
        with open(w.conf, "a") as f:
            f.write("no-such-setting 1\n")
        del got[:]
        reload(w, "rejected")
        drain()
        check(any(g.startswith("RELOADING=1") for g in got) and
              any(g.startswith("READY=1") and "reload failed" in g for g in got),
              "rejected reload: %s" % got)
        w.snid.stop()
    finally:
        rx.close()


def test_reload_after_user_switch(case):
    """With `user nobody` in the file (as root): the reload runs as nobody,
    re-reads the file (readable by all here) and applies the new allow-list;
    the user switch itself is not redone."""
    if os.geteuid() != 0:
        raise Skip("needs root (starts snid as root with user nobody)")
    w = conf_world(case, ("alpha", "beta"), more=["user nobody"])
    check(wait_until(lambda: "running as user nobody" in w.snid.text(), 5 * SLOW),
          "no user switch: %s" % w.snid.tail())
    good_client(w, "alpha")
    _write_conf(w, cidrs=("127.0.0.2/32",), more=["user nobody"])
    new = reload(w)
    check("needs a restart" not in new, "an unchanged user was reported: %s" % new.strip())
    refused(w, client_hello("alpha.test"), 112, "denied", "alpha.test after the reload")
    good_client(w, "beta")
