"""Admission: who may hold a connection at all, decided before a byte is
read: the client lists (-client-cidr, -deny-client-cidr) and the trusted
PROXY senders (-proxy-from).  (The per-source limit and -hello-memory are
in cases_limits.py.)  Layout as in fixtures.py; client addresses are other
127.0.0.x addresses of the loopback."""

import socket

from snidtest import (check, client_hello, read_all, read_line, want_reply,
                      SLOW)
from fixtures import world


def _from(src, port):
    """A client socket bound to src, connected to 127.0.0.1:port."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5 * SLOW)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def _served(w, src, port=None):
    """A client from src reaches alpha.  Returns its port."""
    hello = client_hello("alpha.test")
    s = _from(src, port or w.L)
    try:
        s.sendall(hello)
        line = read_line(s, 5 * SLOW)
        check(line == want_reply("alpha", hello), "client %s not served: %r"
              % (src, line))
        return s.getsockname()[1]
    finally:
        s.close()


def _closed_silently(w, src, data, outcome, port=None, logged_port=None):
    """A client from src that sends data is closed without a byte, and its
    access line (found by logged_port, default its own) says outcome."""
    s = _from(src, port or w.L)
    try:
        cport = s.getsockname()[1]
        try:
            s.sendall(data)
        except OSError:
            pass            # closed before the send: as good
        got, how = read_all(s, 5 * SLOW)
    finally:
        s.close()
    check(got == b"", "client %s got %r, want nothing" % (src, got[:20]))
    check(how in ("eof", "reset"), "client %s not closed: %s" % (src, how))
    c = w.snid.conn_for(logged_port or cport)
    check(c["outcome"] == outcome, "client %s: %s, want outcome %s"
          % (src, c["line"], outcome))


def test_denied_client_closed_without_a_byte(case):
    """-deny-client-cidr: a client inside it is closed at accept, without an
    alert or any other byte (outcome denied-client), and the backend never
    sees it; a client outside it is served."""
    w = world(case, ("alpha",), extra=["-deny-client-cidr", "127.0.0.3/32"])
    _closed_silently(w, "127.0.0.3", client_hello("alpha.test"), "denied-client")
    check(len(w.backends["alpha"].accepts()) == 0, "a denied client reached the backend")
    _served(w, "127.0.0.1")


def test_client_allow_list_excludes_others(case):
    """-client-cidr: only clients inside it are served; the rest are closed
    as denied-client."""
    w = world(case, ("alpha",), extra=["-client-cidr", "127.0.0.1/32",
              "-client-cidr", "127.0.0.6/32"])
    _served(w, "127.0.0.1")
    _served(w, "127.0.0.6")
    _closed_silently(w, "127.0.0.4", client_hello("alpha.test"), "denied-client")


def _proxy_world(case, extra=()):
    """world() plus a proxy: listener on 127.0.0.1:P (the second listener)."""
    w = world(case, ("alpha",), extra=extra, start_snid=False)
    w.picked["P"] = ("127.0.0.1", 1)
    w.args += ["-listen", "proxy:tcp:127.0.0.1:0"]
    w.start_snid(case)
    return w


def test_client_lists_apply_to_proxy_header_client(case):
    """Behind proxy:, the lists judge the client the header names, not the
    load balancer: a denied one is closed as denied-client, another served."""
    w = _proxy_world(case, extra=["-deny-client-cidr", "192.0.2.0/24"])
    hello = client_hello("alpha.test")
    hdr = b"PROXY TCP4 192.0.2.9 127.0.0.1 5555 443\r\n"
    _closed_silently(w, "127.0.0.1", hdr + hello, "denied-client", port=w.P,
                     logged_port=5555)
    s = _from("127.0.0.1", w.P)
    try:
        s.sendall(b"PROXY TCP4 198.51.100.9 127.0.0.1 5555 443\r\n" + hello)
        line = read_line(s, 5 * SLOW)
        check(line == want_reply("alpha", hello), "allowed client not served: %r" % line)
    finally:
        s.close()


def test_untrusted_proxy_sender_closed(case):
    """-proxy-from: a proxy: listener reads headers only from those senders;
    any other peer is closed before a byte is read, as bad-proxy, even with
    a valid header."""
    w = _proxy_world(case, extra=["-proxy-from", "127.0.0.5/32"])
    hdr = b"PROXY TCP4 192.0.2.9 127.0.0.1 5555 443\r\n"
    _closed_silently(w, "127.0.0.1", hdr + client_hello("alpha.test"),
                     "bad-proxy", port=w.P)
    check(len(w.backends["alpha"].accepts()) == 0,
          "an untrusted PROXY sender reached the backend")
    hello = client_hello("alpha.test")
    s = _from("127.0.0.5", w.P)
    try:
        s.sendall(hdr + hello)
        line = read_line(s, 5 * SLOW)
        check(line == want_reply("alpha", hello), "trusted sender not served: %r" % line)
    finally:
        s.close()
    # The plain listener is no proxy: listener: -proxy-from does not apply.
    _served(w, "127.0.0.1")


def test_per_source_limit_counts_proxy_header_client(case):
    """Behind proxy:, the per-source limit counts the client the header
    names, not the balancer: with a limit of 2, a third connection naming
    the same client is closed as limited, while one naming another client
    is served, though the balancer then holds four."""
    w = _proxy_world(case, extra=["-max-connections-per-source", "2"])
    hello = client_hello("alpha.test")
    held = []
    try:
        for client in ("192.0.2.9", "192.0.2.9", "192.0.2.10"):
            s = _from("127.0.0.1", w.P)
            held.append(s)
            s.sendall(b"PROXY TCP4 %s 127.0.0.1 5555 443\r\n" % client.encode()
                      + hello + b"hold\n")
            line = read_line(s, 5 * SLOW)
            check(line == want_reply("alpha", hello), "client %s not served: %r"
                  % (client, line))
        hdr = b"PROXY TCP4 192.0.2.9 127.0.0.1 5556 443\r\n"
        _closed_silently(w, "127.0.0.1", hdr + hello, "limited", port=w.P,
                         logged_port=5556)
        s = _from("127.0.0.1", w.P)
        held.append(s)
        s.sendall(b"PROXY TCP4 192.0.2.11 127.0.0.1 5557 443\r\n" + hello + b"hold\n")
        line = read_line(s, 5 * SLOW)
        check(line == want_reply("alpha", hello), "another client not served: %r" % line)
    finally:
        for s in held:
            s.close()
