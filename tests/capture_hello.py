#!/usr/bin/env python3
"""Capture the first TLS ClientHello a real client sends, as raw bytes.

Usage: tests/capture_hello.py OUT.bin [--sni NAME] -- CLIENT ARGS...

Listens on 127.0.0.1 on a free port, runs the client command with every
"{port}" replaced by that port, saves the records that carry the first
handshake message (record headers included, nothing after them) to OUT.bin
and closes the connection, so the client fails its handshake and exits.
With --sni, connections whose hello names another host (a browser's
background requests) are skipped.
Only loopback is used; the client is killed by its PID after a time bound.
"""
import os
import signal
import socket
import subprocess
import sys
import time

TIMEOUT = 20.0


def hello_end(data):
    """Offset just past the records that carry the first handshake message, or None."""
    off, msg, need = 0, b"", None
    while off + 5 <= len(data):
        if data[off] != 22:
            raise ValueError("record type %d is not handshake" % data[off])
        rlen = int.from_bytes(data[off + 3:off + 5], "big")
        if off + 5 + rlen > len(data):
            return None
        msg += data[off + 5:off + 5 + rlen]
        off += 5 + rlen
        if need is None and len(msg) >= 4:
            need = 4 + int.from_bytes(msg[1:4], "big")
        if need is not None and len(msg) >= need:
            return off
    return None


def hello_sni(data):
    """The host_name of a complete capture, or None (a minimal walk: the C parser is the real one)."""
    off, msg = 0, b""
    while off < len(data):
        rlen = int.from_bytes(data[off + 3:off + 5], "big")
        msg += data[off + 5:off + 5 + rlen]
        off += 5 + rlen
    b, p = msg[4:], 2 + 32
    p += 1 + b[p]
    p += 2 + int.from_bytes(b[p:p + 2], "big")
    p += 1 + b[p]
    end = p + 2 + int.from_bytes(b[p:p + 2], "big")
    p += 2
    while p + 4 <= end:
        typ, n = int.from_bytes(b[p:p + 2], "big"), int.from_bytes(b[p + 2:p + 4], "big")
        if typ == 0:
            return b[p + 9:p + 4 + n].decode("ascii", "replace")
        p += 4 + n
    return None


def main():
    args, want_sni = sys.argv[1:], None
    if len(args) >= 3 and args[1] == "--sni":
        want_sni = args[2]
        del args[1:3]
    if len(args) < 3 or args[1] != "--":
        raise SystemExit(__doc__)
    out, cmd = args[0], args[2:]
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    port = srv.getsockname()[1]
    cmd = [a.replace("{port}", str(port)) for a in cmd]
    client = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + TIMEOUT
    try:
        end = None
        # A browser may open other connections first (plain HTTP, say):
        # skip any that is not TLS, up to a bounded number.
        for _ in range(16):
            srv.settimeout(max(deadline - time.monotonic(), 0.1))
            conn, _ = srv.accept()
            data = b""
            try:
                while end is None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise SystemExit("capture: timed out after %d bytes" % len(data))
                    conn.settimeout(left)
                    chunk = conn.recv(65536)
                    if not chunk:
                        raise ValueError("client closed after %d bytes" % len(data))
                    data += chunk
                    end = hello_end(data)
                sni = hello_sni(data[:end])
                if want_sni is not None and sni != want_sni:
                    end = None
                    raise ValueError("SNI is %r" % sni)
            except ValueError as e:
                print("capture: skipped a connection: %s: %r" % (e, data[:40]))
            finally:
                conn.close()
            if end is not None:
                break
        if end is None:
            raise SystemExit("capture: no ClientHello")
        with open(out, "wb") as f:
            f.write(data[:end])
        print("%s: %d bytes from %s" % (out, end, cmd[0]))
    finally:
        srv.close()
        try:
            client.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(client.pid, signal.SIGKILL)
            client.wait()


if __name__ == "__main__":
    main()
