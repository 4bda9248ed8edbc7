"""What bench/run.py, bench/idle100k.py and bench/soak.py share: logging,
children that die with us and are stopped by PID, loadgen's key=value
lines, waiting for a TCP port."""

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time

STARTED = []  # every child start() made, for stop_all()


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def pdeathsig():
    """preexec_fn: the child gets SIGKILL when we die (PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)


def start(argv, name, tmp, pipe=False, env=None):
    """A child with its stderr (and stdout unless pipe) in tmp/NAME.err."""
    out = open(os.path.join(tmp, name + ".err"), "wb")
    p = subprocess.Popen(argv, stdin=subprocess.PIPE if pipe else subprocess.DEVNULL,
                         stdout=subprocess.PIPE if pipe else out, stderr=out,
                         preexec_fn=pdeathsig, env=env)
    p.name = name
    STARTED.append(p)
    return p


def stop_all(who):
    """SIGKILL every child start() made that still runs, and reap them."""
    for p in reversed(STARTED):
        if p.poll() is None:
            try:
                p.kill()
            except ProcessLookupError:
                pass
    for p in STARTED:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            log(f"{who}: pid {p.pid} ({p.name}) did not die")


def kv(line):
    """loadgen's and the sink's "key=value ..." lines, numbers as numbers."""
    out = {}
    for tok in line.split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            try:
                out[k] = float(v) if "." in v else int(v)
            except ValueError:
                out[k] = v
    return out


def sink_stats(ctl_port, tries=20, timeout=2.0):
    """bench/sink's counters from its control port on 127.0.0.1."""
    for _ in range(tries):
        try:
            with socket.create_connection(("127.0.0.1", ctl_port), timeout=timeout) as s:
                data = b""
                while True:
                    b = s.recv(4096)
                    if not b:
                        break
                    data += b
            return kv(data.decode())
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("sink control port does not answer")


def wait_tcp(host, port, timeout=5.0, proc=None):
    """Whether host:port accepts within timeout (False at once if proc ended)."""
    end = time.monotonic() + timeout
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            return False
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            try:
                s.connect((host, port))
                return True
            except OSError:
                time.sleep(0.05)
    return False
