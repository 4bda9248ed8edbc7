#!/usr/bin/env python3
"""Capture PROXY protocol headers sent by a real haproxy (loopback only).

Usage: tests/data/proxyproto/capture.py OUTDIR

For each case below, runs haproxy (Debian package haproxy) with one TCP
frontend on 127.0.0.1 or [::1] whose server line sends a PROXY header to a
listener of ours, connects to the frontend, sends PAYLOAD, and saves every
byte the listener received (header, then PAYLOAD) to OUTDIR/NAME.bin.  The
"local" cases save the first health check haproxy sends (v2 LOCAL, or v1).
haproxy is stopped by its PID; every wait is bounded.
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

PAYLOAD = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
TIMEOUT = 10.0

# name, frontend family, server-line options, extra frontend lines, health-check case
CASES = [
    ("haproxy_v1_tcp4", socket.AF_INET, "send-proxy", "", False),
    ("haproxy_v1_tcp6", socket.AF_INET6, "send-proxy", "", False),
    ("haproxy_v2_tcp4", socket.AF_INET, "send-proxy-v2", "", False),
    ("haproxy_v2_tcp6", socket.AF_INET6, "send-proxy-v2", "", False),
    ("haproxy_v2_tlvs", socket.AF_INET,
     "send-proxy-v2 proxy-v2-options crc32c,unique-id,authority,ssl",
     "  unique-id-format %{+X}o\\ %ci:%cp_%fi:%fp_%Ts_%rt:%pid\n", False),
    ("haproxy_v2_local", socket.AF_INET, "send-proxy-v2 check check-send-proxy inter 100ms", "", True),
    ("haproxy_v1_check", socket.AF_INET, "send-proxy check check-send-proxy inter 100ms", "", True),
    # A client on a unix-socket frontend: no addresses to carry.
    ("haproxy_v2_unix_client", socket.AF_UNIX, "send-proxy-v2", "", False),
    ("haproxy_v1_unix_client", socket.AF_UNIX, "send-proxy", "", False),
]


def free_port(family, host):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def recv_all(conn, deadline):
    data = b""
    conn.settimeout(0.3)
    while time.time() < deadline:
        try:
            chunk = conn.recv(4096)
        except socket.timeout:
            if data:
                break
            continue
        except ConnectionResetError:
            break  # a health check resets its connection once done
        if not chunk:
            break
        data += chunk
    return data


def run_case(outdir, name, family, opts, extra, health):
    sockdir = None
    if family == socket.AF_UNIX:
        # The frontend listens on a unix socket; the listener of ours stays on TCP.
        sockdir = tempfile.mkdtemp()
        upath = os.path.join(sockdir, "f.sock")
        host, family = "127.0.0.1", socket.AF_INET
    else:
        host = "127.0.0.1" if family == socket.AF_INET else "::1"
    lst = socket.socket(family, socket.SOCK_STREAM)
    lst.bind((host, 0))
    lst.listen(8)
    lport = lst.getsockname()[1]
    fport = free_port(family, host)
    bhost = host if family == socket.AF_INET else "[%s]" % host
    bind = "unix@" + upath if sockdir else "%s:%d" % (bhost, fport)
    cfg = ("global\n  maxconn 16\n"
           "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n"
           "frontend f\n  bind %s\n%s  default_backend b\n"
           "backend b\n  server s %s:%d %s\n") % (bind, extra, bhost, lport, opts)
    with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as f:
        f.write(cfg)
        path = f.name
    proc = subprocess.Popen(["haproxy", "-db", "-f", path],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + TIMEOUT
    try:
        lst.settimeout(TIMEOUT)
        if not health:
            # Retry until haproxy listens, within the deadline.
            cli = None
            while time.time() < deadline:
                try:
                    if sockdir:
                        cli = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                        cli.settimeout(1)
                        cli.connect(upath)
                    else:
                        cli = socket.create_connection((host, fport), timeout=1)
                    break
                except OSError:
                    cli = None
                    time.sleep(0.1)
            if cli is None:
                raise SystemExit("%s: haproxy never listened" % name)
            cli.sendall(PAYLOAD)
        data = b""
        while not data and time.time() < deadline:
            conn, _ = lst.accept()
            data = recv_all(conn, deadline)
            conn.close()
        if not health:
            cli.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.unlink(path)
        lst.close()
        if sockdir:
            subprocess.run(["rm", "-rf", sockdir], check=False)
    with open(os.path.join(outdir, name + ".bin"), "wb") as f:
        f.write(data)
    print("%s: %d bytes: %r" % (name, len(data), data[:120]))


def main():
    outdir = sys.argv[1]
    for case in CASES:
        run_case(outdir, *case)


if __name__ == "__main__":
    main()
