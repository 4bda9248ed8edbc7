#!/usr/bin/env python3
"""Check that a real haproxy (accept-proxy) takes the headers snid's builders send.

Usage: python3 tests/data/proxyproto/haproxy_accepts.py

The headers below are byte for byte what proxyproto_build_v1/_v2 produce for
these addresses (tests/test_proxyproto.c asserts the same bytes).  haproxy
(Debian package haproxy) listens on 127.0.0.1 with accept-proxy and forwards
to a listener of ours; each header is sent followed by "hello", and the
check is that "hello" arrives and haproxy logs the carried client address.
"v2 PROXY UNSPEC" is there to show why the v2 builder sends LOCAL instead:
haproxy 2.6 refuses it.  Loopback only; haproxy is stopped by its PID.
Exit status 0 when every header behaves as expected.
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

SIG = b"\r\n\r\n\x00\r\nQUIT\n"
CASES = [
    # name, header, expected log ("" = the real peer), forwarded?
    ("v1 TCP4", b"PROXY TCP4 192.0.2.1 198.51.100.7 50000 443\r\n",
     "src=192.0.2.1:50000 dst=198.51.100.7:443", True),
    ("v1 TCP6", b"PROXY TCP6 2001:db8::1 2001:db8:ffff::443 40000 443\r\n",
     "src=2001:db8::1:40000 dst=2001:db8:ffff::443:443", True),
    ("v1 UNKNOWN", b"PROXY UNKNOWN\r\n", "", True),
    ("v2 TCP4", SIG + b"\x21\x11\x00\x0c" + bytes([192, 0, 2, 1, 198, 51, 100, 7, 0xc3, 0x50, 0x01, 0xbb]),
     "src=192.0.2.1:50000 dst=198.51.100.7:443", True),
    ("v2 TCP6 mapped", SIG + b"\x21\x21\x00\x24" + bytes(10) + b"\xff\xff" + bytes([192, 0, 2, 1]) +
     bytes(10) + b"\xff\xff" + bytes([198, 51, 100, 7]) + b"\x04\xd2\x01\xbb",
     "src=::ffff:192.0.2.1:1234 dst=::ffff:198.51.100.7:443", True),
    ("v2 LOCAL UNSPEC", SIG + b"\x20\x00\x00\x00", "", True),
    ("v2 PROXY UNSPEC", SIG + b"\x21\x00\x00\x00", None, False),
]


def main():
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(8)
    lport = lst.getsockname()[1]
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    fport = s.getsockname()[1]
    s.close()
    lg = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    lg.bind(("127.0.0.1", 0))
    cfg = ("global\n  log 127.0.0.1:%d local0\n"
           "defaults\n  mode tcp\n  log global\n  log-format \"src=%%ci:%%cp dst=%%fi:%%fp\"\n"
           "  timeout connect 2s\n  timeout client 3s\n  timeout server 3s\n"
           "frontend f\n  bind 127.0.0.1:%d accept-proxy\n  default_backend b\n"
           "backend b\n  server s 127.0.0.1:%d\n") % (lg.getsockname()[1], fport, lport)
    with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as f:
        f.write(cfg)
        path = f.name
    proc = subprocess.Popen(["haproxy", "-db", "-f", path],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ok = True
    try:
        lst.settimeout(2)
        lg.settimeout(2)
        for name, hdr, want, fwd in CASES:
            c = None
            for _ in range(50):
                try:
                    c = socket.create_connection(("127.0.0.1", fport), timeout=2)
                    break
                except OSError:
                    time.sleep(0.1)
            if c is None:
                raise SystemExit("haproxy never listened")
            c.sendall(hdr + b"hello")
            try:
                a, _ = lst.accept()
                a.settimeout(2)
                data = a.recv(100)
                a.close()
            except socket.timeout:
                data = None
            c.close()
            try:
                log = lg.recv(1000).decode(errors="replace").split("]: ", 1)[-1].strip()
            except socket.timeout:
                log = "(no log)"
            good = (data == b"hello") == fwd
            if fwd and want:
                good = good and log == want
            elif fwd:
                good = good and log.startswith("src=127.0.0.1:")
            print("%-4s %-16s forwarded=%-5s %s" % ("ok" if good else "FAIL", name, data == b"hello", log))
            ok = ok and good
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.unlink(path)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
