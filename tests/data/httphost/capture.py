#!/usr/bin/env python3
"""Capture the HTTP/1.x requests real clients send (loopback only).

Usage: tests/data/httphost/capture.py OUTDIR [NAME...]

For each case below, listens on 127.0.0.1 (or ::1) on a free port, runs the
client with "{port}" replaced by that port, saves every byte of the first
request it sends (head and any body that arrives within a short wait) to
OUTDIR/NAME.bin, answers "204 No Content" and closes.  The client is
killed by its PID after a time bound.
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

TIMEOUT = 20.0
PY = "/usr/bin/python3"

CASES = [
    ("curl_get", "127.0.0.1",
     ["curl", "-s", "--max-time", "10", "--resolve", "curl.example.com:{port}:127.0.0.1",
      "http://curl.example.com:{port}/index.html?q=1"]),
    ("curl_http10", "127.0.0.1",
     ["curl", "-s", "-0", "--max-time", "10", "--resolve", "old.example.com:{port}:127.0.0.1",
      "http://old.example.com:{port}/"]),
    ("curl_post", "127.0.0.1",
     ["curl", "-s", "--max-time", "10", "--resolve", "api.example.net:{port}:127.0.0.1",
      "-H", "Content-Type: application/json", "-d", '{"a":1}', "http://api.example.net:{port}/v1/items"]),
    ("curl_proxy_absolute", "127.0.0.1",
     ["curl", "-s", "--max-time", "10", "-x", "http://127.0.0.1:{port}",
      "http://absolute.example.org/path?x=y"]),
    ("curl_ipv6_literal", "::1",
     ["curl", "-s", "--max-time", "10", "http://[::1]:{port}/"]),
    ("wget_get", "127.0.0.1",
     ["wget", "-q", "-O", "/dev/null", "--tries=1", "--timeout=10",
      "--header=Host: wget.example.com", "http://127.0.0.1:{port}/file.txt"]),
    ("python_http_client", "127.0.0.1",
     [PY, "-c",
      "import http.client,socket,sys\n"
      "c=http.client.HTTPConnection('python.example.com',int(sys.argv[1]),timeout=10)\n"
      "c.sock=socket.create_connection(('127.0.0.1',int(sys.argv[1])))\n"
      "c.request('GET','/status',headers={'Accept':'text/plain'})\n"
      "c.getresponse().read()\n", "{port}"]),
    ("chromium", "127.0.0.1",
     ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--user-data-dir={tmpdir}", "--host-resolver-rules=MAP chromium.example.com 127.0.0.1:{port}",
      "--dump-dom", "http://chromium.example.com/"]),
]


def head_end(data):
    i = data.find(b"\r\n\r\n")
    return None if i < 0 else i + 4


def run_case(outdir, name, host, argv):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    lst = socket.socket(family, socket.SOCK_STREAM)
    lst.bind((host, 0))
    lst.listen(8)
    port = lst.getsockname()[1]
    tmpdir = tempfile.mkdtemp()
    argv = [a.replace("{port}", str(port)).replace("{tmpdir}", tmpdir) for a in argv]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + TIMEOUT
    data = b""
    try:
        lst.settimeout(TIMEOUT)
        conn, _ = lst.accept()
        conn.settimeout(0.5)
        while time.time() < deadline:
            try:
                chunk = conn.recv(65536)
            except socket.timeout:
                if head_end(data) is not None:
                    break
                continue
            if not chunk:
                break
            data += chunk
        conn.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        conn.close()
        proc.wait(max(1.0, deadline - time.time()))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        lst.close()
        subprocess.run(["rm", "-rf", tmpdir], check=False)
    if head_end(data) is None:
        raise SystemExit("%s: no complete request head: %r" % (name, data[:200]))
    with open(os.path.join(outdir, name + ".bin"), "wb") as f:
        f.write(data)
    print("%s: %d bytes: %r" % (name, len(data), data[:300]))


def main():
    outdir = sys.argv[1]
    want = set(sys.argv[2:])
    for name, host, argv in CASES:
        if not want or name in want:
            run_case(outdir, name, host, argv)


if __name__ == "__main__":
    main()
