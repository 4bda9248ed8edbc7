#!/usr/bin/env python3
"""Benchmark snid against nginx (stream + ssl_preread), HAProxy and sniproxy.

Runs on loopback only.  Starts one dnsmasq, one sink (bench/sink.c) and every
proxy once, verifies each proxy really proxies (the right reply comes back
through it; a name that does not resolve, and where the proxy has an address
allow-list a name outside it, never reaches the sink), then measures them
interleaved (direct A B C D, direct A B C D, ...) for several rounds, then
measures idle-connection memory on fresh instances, and writes a Markdown
table (see bench/README.md for what each figure means).

Standard library only.  Everything it starts is killed by PID at the end,
also on errors and on SIGINT/SIGTERM.  Every loop is bounded in count and
time.  Use bench/run.sh, which raises the descriptor limit first.
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from benchutil import kv, log, sink_stats, wait_tcp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
BUILD = os.path.join(ROOT, "build", "bench")
CLK_TCK = os.sysconf("SC_CLK_TCK")

# sniproxy 0.6 (udns) always queries port 53 and ignores a port after the
# nameserver address, so the one dnsmasq every proxy shares listens on port
# 53 of a loopback address of its own (anything in 127/8 is loopback on Linux).
DNS_ADDR = "127.83.78.68"
DNS_PORT = 53

NAME_OK = "bench.test"           # AAAA ::1: the sink
NAME_NX = "nx.bench.test"        # NXDOMAIN
NAME_DECOY = "decoy.bench.test"  # AAAA ::ffff:127.0.0.1: the decoy listener, outside ::1/128
NAME_UNIQUE = "u.bench.test"     # loadgen -U: u<n>.u.bench.test, each a host-record AAAA ::1

STARTED = []  # every Popen we started, for cleanup by PID
# The sink's pid: its CPU and the load generator's are the load side's,
# which shares the machine's cores with the proxy (see issue11_lines).
SINK_PIDS = []


# ---------------------------------------------------------------- processes

def proc_children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        ppid = int(s[s.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def proc_tree(pid):
    """pid and all its descendants (nginx workers, sniproxy's helper...)."""
    kids = proc_children_map()
    out, todo = [], [pid]
    while todo and len(out) < 1000:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def cpu_ticks(pids):
    """utime+stime of the processes, in clock ticks (/proc/PID/stat)."""
    t = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                s = f.read()
        except OSError:
            continue
        fields = s[s.rindex(")") + 2:].split()
        t += int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat(5)
    return t


def sched_ns(pids):
    """Time on CPU in ns from /proc/PID/task/*/schedstat (a cross-check)."""
    t = 0
    for p in pids:
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{p}/task/{tid}/schedstat") as f:
                    t += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    return t


def rss_kib(pids):
    """(VmRSS, RssAnon) summed over the processes, in KiB."""
    rss = anon = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
                    elif line.startswith("RssAnon:"):
                        anon += int(line.split()[1])
        except OSError:
            pass
    return rss, anon


def fd_count(pids):
    n = 0
    for p in pids:
        try:
            n += len(os.listdir(f"/proc/{p}/fd"))
        except OSError:
            pass
    return n


def start(argv, name, tmp, **kw):
    out = open(os.path.join(tmp, f"{name}.out"), "wb")
    p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, **kw)
    p.bench_name = name
    STARTED.append(p)
    return p


def stop(p, grace=3.0):
    """SIGTERM the process, then SIGKILL whatever of its tree is left, by PID."""
    if p.poll() is not None:
        return
    tree = proc_tree(p.pid)
    try:
        p.send_signal(signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        p.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    for pid in tree:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        p.wait(timeout=2)
    except subprocess.TimeoutExpired:
        pass
    if p in STARTED:
        STARTED.remove(p)


def stop_all():
    for p in list(reversed(STARTED)):
        stop(p, grace=2.0)


def free_port_block(n, start=24000, end=30000):
    """A run of n consecutive ports free on 127.0.0.1 and ::1 (TCP)."""
    for base in range(start, end, n + 1):
        ok = True
        for port in range(base, base + n):
            for fam, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
                s = socket.socket(fam, socket.SOCK_STREAM)
                try:
                    s.bind((addr, port))
                except OSError:
                    ok = False
                finally:
                    s.close()
            if not ok:
                break
        if ok:
            return base
    raise SystemExit("no free port block")


# ------------------------------------------------------------------ loadgen

def loadgen(addr, args, timeout):
    argv = [os.path.join(BUILD, "loadgen"), "-a", addr, "-t", str(timeout)] + [str(a) for a in args]
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, timeout=timeout + 10)
    except subprocess.TimeoutExpired:
        return {"error": "loadgen timed out"}
    lines = r.stdout.decode().strip().splitlines()
    res = kv(lines[-1]) if lines else {}
    res["rc"] = r.returncode
    if r.stderr:
        res["stderr"] = r.stderr.decode()[-300:]
    return res


def dns_query(name, qtype=28, timeout=1.0):
    """A minimal stdlib DNS query: returns (rcode, number of answers)."""
    qid = os.getpid() & 0xFFFF
    q = qid.to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00" + qtype.to_bytes(2, "big") + b"\x00\x01"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(q, (DNS_ADDR, DNS_PORT))
        r, _ = s.recvfrom(4096)
    return r[3] & 0x0F, int.from_bytes(r[6:8], "big")


class Dnsmasq:
    def __init__(self, tmp, n_unique):
        self.log = os.path.join(tmp, "dnsmasq.log")
        # One record per name loadgen -U will ask for.  (A wildcard
        # --address=/u.bench.test/::1 answers A queries with NXDOMAIN, which
        # makes nginx, asking A and AAAA, refuse the name.)
        conf = os.path.join(tmp, "dnsmasq.conf")
        with open(conf, "w") as f:
            for i in range(n_unique):
                f.write(f"host-record=u{i}.{NAME_UNIQUE},::1\n")
        argv = ["dnsmasq", "--no-daemon", f"--conf-file={conf}", "--pid-file=",
                f"--port={DNS_PORT}", f"--listen-address={DNS_ADDR}", "--bind-interfaces",
                "--no-resolv", "--no-hosts", "--local=/bench.test/",
                f"--host-record={NAME_OK},::1",
                f"--host-record={NAME_DECOY},::ffff:127.0.0.1",
                "--local-ttl=300", "--cache-size=10000", f"--log-facility={self.log}"]
        self.p = start(argv, "dnsmasq", tmp)
        for _ in range(50):
            try:
                if dns_query(NAME_OK, timeout=0.2) == (0, 1):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit("dnsmasq did not answer (see %s)" % self.log)
        if dns_query(NAME_NX)[0] != 3:
            raise SystemExit("dnsmasq does not answer NXDOMAIN for %s" % NAME_NX)

    def queries(self):
        """'queries answered locally' from dnsmasq's SIGUSR1 statistics.

        SIGUSR1 also dumps the whole cache, the unique-name records included
        (~0.2 s of dnsmasq's CPU): this waits until the dump is written, so
        that it never overlaps a measurement, then empties the log.
        """
        try:
            size0 = os.path.getsize(self.log)
        except OSError:
            size0 = 0
        self.p.send_signal(signal.SIGUSR1)
        end = time.monotonic() + 5
        last, stable, answer = size0, 0, None
        while time.monotonic() < end and stable < 3:
            time.sleep(0.03)
            size = os.path.getsize(self.log)
            stable = stable + 1 if size == last and size > size0 else 0
            last = size
        with open(self.log, errors="replace") as f:
            f.seek(size0)
            for line in f:
                if "answered locally" in line:
                    answer = int(line.rsplit("answered locally", 1)[1].split()[0].strip(","))
        os.truncate(self.log, 0)  # dnsmasq appends (O_APPEND): it goes on at 0
        return answer


# -------------------------------------------------------------------- peers

class Peer:
    name = "?"
    addr_allowlist = False   # refuses resolved addresses outside a prefix
    routes_by_name = True    # False: the floor, which connects every client to the sink
    dns_cache = "?"

    def __init__(self, tmp, port, sink_port):
        self.tmp, self.port, self.sink_port = tmp, port, sink_port
        self.p = None
        self.version = "?"

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"

    def argv(self):
        raise NotImplementedError

    def start(self):
        self.p = start(self.argv(), f"{self.name}-{self.port}", self.tmp)
        if not wait_tcp("127.0.0.1", self.port, 5.0, self.p):
            out = self.output()
            stop(self.p)
            raise RuntimeError(f"{self.name} did not start listening: {out[-500:]}")
        time.sleep(0.1)
        return self

    def output(self):
        try:
            with open(os.path.join(self.tmp, f"{self.name}-{self.port}.out"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def pids(self):
        return proc_tree(self.p.pid) if self.p and self.p.poll() is None else []

    def stop(self):
        if self.p:
            stop(self.p)


class Nginx(Peer):
    name = "nginx"
    dns_cache = "caches answers for their TTL (300 s here)"
    workers = 1

    def argv(self):
        d = os.path.join(self.tmp, f"nginx-{self.port}")
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
master_process on;
worker_processes {self.workers};
worker_rlimit_nofile {resource.getrlimit(resource.RLIMIT_NOFILE)[0]};
pid {d}/nginx.pid;
error_log {d}/error.log error;
events {{ worker_connections 9000; }}
stream {{
    resolver {DNS_ADDR}:{DNS_PORT} ipv6=on;
    resolver_timeout 2s;
    server {{
        listen 127.0.0.1:{self.port} backlog=4096;
        ssl_preread on;
        preread_timeout 10s;
        proxy_pass $ssl_preread_server_name:{self.sink_port};
        proxy_half_close on;
        proxy_connect_timeout 2s;
        proxy_timeout 600s;
    }}
}}
""")
        return ["nginx", "-p", d, "-c", conf, "-e", f"{d}/error.log"]


class Haproxy(Peer):
    name = "haproxy"
    addr_allowlist = True
    dns_cache = "caches answers ('hold valid', 10 s by default)"
    threads = 1

    def argv(self):
        conf = os.path.join(self.tmp, f"haproxy-{self.port}.cfg")
        with open(conf, "w") as f:
            f.write(f"""
global
    nbthread {self.threads}
    maxconn 9000
    # splice-auto reserves maxconn/4 pipes (2 descriptors each) by default,
    # past a 20000-descriptor hard limit; a few streams splice at once here.
    maxpipes 256
defaults
    mode tcp
    # Let HAProxy splice bulk data as snid does (it copies otherwise; nginx stream cannot splice).
    option splice-auto
    timeout connect 2s
    timeout client 600s
    timeout server 600s
resolvers dns
    nameserver d1 {DNS_ADDR}:{DNS_PORT}
    resolve_retries 2
    timeout resolve 1s
    timeout retry 1s
frontend fe
    bind 127.0.0.1:{self.port}
    tcp-request inspect-delay 10s
    tcp-request content reject unless {{ req.ssl_hello_type 1 }}
    tcp-request content do-resolve(sess.dstip,dns,ipv6) req.ssl_sni,lower
    tcp-request content reject unless {{ var(sess.dstip) -m ip ::1/128 }}
    default_backend be
backend be
    tcp-request content set-dst var(sess.dstip)
    server s1 0.0.0.0:{self.sink_port}
""")
        return ["haproxy", "-db", "-f", conf]


class Nginx2(Nginx):
    name = "nginx-2w"
    workers = 2


class Haproxy2(Haproxy):
    name = "haproxy-2t"
    threads = 2


class Floor(Peer):
    """bench/floor.c: accept, read, connect, splice both ways, close; no
    names, no DNS: the per-connection floor (see floor.c)."""
    name = "floor"
    routes_by_name = False
    dns_cache = "no DNS"

    def argv(self):
        return [os.path.join(BUILD, "floor"), "-l", f"127.0.0.1:{self.port}",
                "-b", f"[::1]:{self.sink_port}"]


class Sniproxy(Peer):
    name = "sniproxy"
    dns_cache = "no cache: one AAAA query per connection"

    def argv(self):
        d = os.path.join(self.tmp, f"sniproxy-{self.port}")
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o777)
        conf = os.path.join(d, "sniproxy.conf")
        with open(conf, "w") as f:
            f.write(f"""
user nobody
pidfile {d}/sniproxy.pid
error_log {{
    filename {d}/error.log
    priority error
}}
resolver {{
    nameserver {DNS_ADDR}
    mode ipv6_only
}}
listener 127.0.0.1:{self.port} {{
    protocol tls
    table bench
}}
table bench {{
    .* *:{self.sink_port}
}}
""")
        return ["sniproxy", "-f", "-c", conf]


class Snid(Peer):
    name = "snid"
    addr_allowlist = True
    dns_cache = "no cache: one AAAA query per connection"
    extra = []
    binary = os.path.join(ROOT, "snid")  # run.py points this at a private copy

    def argv(self):
        base = [self.binary, "-listen", f"tcp:127.0.0.1:{self.port}",
                "-backend-cidr", "::1/128", "-dns-server", f"{DNS_ADDR}:{DNS_PORT}",
                "-backend-port", str(self.sink_port),
                # Every load comes from 127.0.0.1: no per-source limit.
                "-max-connections-per-source", "0"]
        return base + (self.extra if self.name == "snid" else [])


class SnidLog(Snid):
    """snid writing its one access line per connection (to a file)."""
    name = "snid+log"

    def argv(self):
        return super().argv() + ["-log-level", "info"]


class SnidOld(Snid):
    """Another snid binary (SNID_OLD=path), e.g. the last release, measured
    in the same run: before/after figures without a second machine state.
    Older binaries may lack -max-connections-per-source: given only if the
    binary's -help names it."""
    name = "snid-old"
    old_binary = os.environ.get("SNID_OLD", "")

    def argv(self):
        argv = Snid.argv(self)
        argv[0] = self.old_binary
        helptext = subprocess.run([self.old_binary, "-help"], capture_output=True,
                                  text=True).stdout
        if "max-connections-per-source" not in helptext:
            i = argv.index("-max-connections-per-source")
            del argv[i:i + 2]
        return argv


class SnidWorkers(Snid):
    """snid -workers N (issue 11).  A binary without the flag runs one
    loop: snid-w1 runs it as it is, snid-w2 is skipped."""
    name = "snid-w1"
    workers = 1

    def start(self):
        helptext = subprocess.run([self.binary, "-help"], capture_output=True, text=True)
        self.has_workers = "-workers" in helptext.stdout + helptext.stderr
        if not self.has_workers and self.workers != 1:
            raise RuntimeError(f"{self.binary} -help has no -workers: this snid runs one loop "
                               f"only, so {self.name} is not measured")
        return super().start()

    def argv(self):
        argv = Snid.argv(self) + Snid.extra
        return argv + (["-workers", str(self.workers)] if self.has_workers else [])


class SnidW2(SnidWorkers):
    name = "snid-w2"
    workers = 2


class Direct:
    """No proxy: loadgen straight to the sink, the ceiling."""
    name = "direct"
    addr_allowlist = False
    dns_cache = "-"

    def __init__(self, sink_port):
        self.addr = f"[::1]:{sink_port}"

    def pids(self):
        return []


def versions():
    v = {}
    def first(argv, pat=None):
        try:
            r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=5)
            lines = r.stdout.decode(errors="replace").splitlines()
            for line in lines:
                if pat is None or pat in line:
                    return line.strip()
        except (OSError, subprocess.TimeoutExpired):
            pass
        return "?"
    v["nginx"] = first(["nginx", "-v"])
    v["haproxy"] = first(["haproxy", "-v"], "version")
    v["sniproxy"] = first(["sniproxy", "-V"])
    v["dnsmasq"] = first(["dnsmasq", "--version"])
    try:
        v["snid"] = "git " + subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                            stdout=subprocess.PIPE, timeout=5).stdout.decode().strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "src", "include"],
                               stdout=subprocess.PIPE, timeout=5).stdout.decode().strip()
        if dirty:
            v["snid"] += " + uncommitted changes in src/include"
    except (OSError, subprocess.TimeoutExpired):
        v["snid"] = "?"
    return v


def machine():
    m = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    m["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    m["cpus"] = os.cpu_count()
    m["kernel"] = platform.release()
    try:
        with open("/proc/meminfo") as f:
            m["mem"] = f.readline().split(":")[1].strip()
    except OSError:
        pass
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    m["os"] = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    m["loadavg"] = open("/proc/loadavg").read().split()[:3]
    return m


# ------------------------------------------------------------- verification

def verify(peer, ctl_port):
    """Returns (ok, notes).  Proves the peer proxies, and refuses what it must."""
    notes = []
    s0 = sink_stats(ctl_port)
    r = loadgen(peer.addr, ["-m", "probe", "-s", NAME_OK, "-T", 3000], 10)
    s1 = sink_stats(ctl_port)
    if r.get("result") != "ok" or s1["accepted"] - s0["accepted"] != 1:
        return False, [f"{NAME_OK}: expected the sink's reply through the proxy, got {r}"]
    notes.append(f"{NAME_OK}: reply ok, sink accepted 1 ({len(peer.pids())} processes measured)")
    if not peer.routes_by_name:
        notes.append("no routing by name (every client goes to the sink): name checks skipped")
        return verify_bulk(peer, notes)

    r = loadgen(peer.addr, ["-m", "probe", "-s", NAME_NX, "-T", 3000], 10)
    time.sleep(0.2)
    s2 = sink_stats(ctl_port)
    reached = (s2["accepted"] - s1["accepted"]) + (s2["decoy"] - s1["decoy"])
    if r.get("result") == "ok" or reached:
        return False, notes + [f"{NAME_NX}: NXDOMAIN name reached the sink ({r})"]
    notes.append(f"{NAME_NX}: refused ({r.get('result')}, {r.get('got')} bytes back: "
                 f"{r.get('hex') or '-'}), sink untouched")

    r = loadgen(peer.addr, ["-m", "probe", "-s", NAME_DECOY, "-T", 3000], 10)
    time.sleep(0.2)
    s3 = sink_stats(ctl_port)
    decoy = s3["decoy"] - s2["decoy"]
    if peer.addr_allowlist:
        if decoy or r.get("result") == "ok":
            return False, notes + [f"{NAME_DECOY} (::ffff:127.0.0.1, outside ::1/128) reached the decoy"]
        notes.append(f"{NAME_DECOY} (outside the allow-list): refused ({r.get('result')}, "
                     f"{r.get('got')} bytes back: {r.get('hex') or '-'}), decoy untouched")
    else:
        notes.append(f"{NAME_DECOY}: no address allow-list in this proxy; decoy reached: "
                     f"{'yes' if decoy else 'no'}")
    return verify_bulk(peer, notes)


def verify_bulk(peer, notes):
    """The bulk and half-close half of verify()."""
    r = loadgen(peer.addr, ["-m", "bulk", "-d", "b", "-b", 4 << 20, "-T", 10000], 15)
    if r.get("ok") != 1:
        return False, notes + [f"bulk 4 MiB both ways through the proxy failed: {r}"]
    notes.append("4 MiB both ways: ok")
    # Half-close: the client's FIN must reach the sink while the sink's
    # answer still comes back (the sink counts the upload, then answers).
    r = loadgen(peer.addr, ["-m", "bulk", "-d", "u", "-b", 4 << 20, "-T", 5000], 10)
    peer.half_close = r.get("ok") == 1
    notes.append("half-close (4 MiB up, shutdown, then the sink's count back): " +
                 ("ok" if peer.half_close else f"NOT SUPPORTED ({r.get('err_mismatch') and 'no answer after the FIN' or r})"))
    return True, notes


# -------------------------------------------------------------- measurement

def measure(target, args, timeout, dns=None):
    pids = target.pids()
    dpids = [dns.p.pid] if dns else []
    q0 = dns.queries() if dns else None  # before the CPU readings: see queries()
    c0, n0, d0 = cpu_ticks(pids), sched_ns(pids), cpu_ticks(dpids)
    k0, ru0 = cpu_ticks(SINK_PIDS), resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    r = loadgen(target.addr, args, timeout)
    r["wall"] = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    # loadgen is the one child reaped in between; plus the sink's ticks.
    r["load_cpu_s"] = (ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime
                       + (cpu_ticks(SINK_PIDS) - k0) / CLK_TCK)
    r["cpu_ticks"] = cpu_ticks(pids) - c0
    r["cpu_sched_ns"] = sched_ns(pids) - n0
    r["dns_ticks"] = cpu_ticks(dpids) - d0
    if dns:
        q1 = dns.queries()
        r["dns_queries"] = (q1 - q0) if (q0 is not None and q1 is not None) else None
    return r


def same_name_bursts(target, dns, first, bursts, conc):
    """Bursts of conc connections at once, all naming the same name that no
    proxy has seen (u<first+b>.u.bench.test for burst b): how many DNS
    queries a crowd costs (one if the proxy merges identical lookups, up to
    conc if not), and the p50 latency of such a burst."""
    q0 = dns.queries()
    ok, p50s = 0, []
    for b in range(bursts):
        r = loadgen(target.addr, ["-m", "conn", "-n", conc, "-c", conc, "-s",
                                  f"u{first + b}.{NAME_UNIQUE}"], 60)
        ok += r.get("ok", 0)
        if r.get("p50_us") is not None:
            p50s.append(r["p50_us"])
    q1 = dns.queries()
    return {"ok": ok, "rc": 0, "bursts": bursts,
            "dns_queries": (q1 - q0) if (q0 is not None and q1 is not None) else None,
            "p50_us": statistics.median(p50s) if p50s else None}


def idle_rss(peer_cls, tmp, port, sink_port, ctl_port, count, conc):
    """RSS per idle established connection on a fresh instance, in bytes."""
    peer = peer_cls(tmp, port, sink_port).start()
    try:
        # Warm up one connection at a time (so no pool grows beyond one or two).
        loadgen(peer.addr, ["-m", "conn", "-n", 50, "-c", 1], 20)
        time.sleep(0.3)
        base_rss, base_anon = rss_kib(peer.pids())
        base_fds = fd_count(peer.pids())
        s0 = sink_stats(ctl_port)
        argv = [os.path.join(BUILD, "loadgen"), "-a", peer.addr, "-m", "idle", "-n", str(count),
                "-c", str(conc), "-t", "60", "-H", "60", "-T", "20000"]
        lg = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
        STARTED.append(lg)
        try:
            ready, _, _ = select.select([lg.stdout], [], [], 70)
            line = lg.stdout.readline().decode() if ready else ""
            res = kv(line)
            time.sleep(0.5)
            hold_rss, hold_anon = rss_kib(peer.pids())
            hold_fds = fd_count(peer.pids())
            s1 = sink_stats(ctl_port)
            lg.stdin.close()
            rest = lg.stdout.read().decode() if lg.wait(timeout=30) is not None else ""
        finally:
            stop(lg)
        est = res.get("established", 0)
        out = {"established": est, "sink_idle": s1["idle"] - s0["idle"],
               "base_rss_kib": base_rss, "hold_rss_kib": hold_rss,
               "base_anon_kib": base_anon, "hold_anon_kib": hold_anon,
               "release": rest.strip()}
        if est > 0:
            out["fds_per_conn"] = (hold_fds - base_fds) / est
            out["rss_per_conn"] = (hold_rss - base_rss) * 1024 / est
            out["anon_per_conn"] = (hold_anon - base_anon) * 1024 / est
        return out
    finally:
        peer.stop()


def syscall_profile(target, tmp, n=1000, bulk=100_000_000):
    """strace -c over n connections and over one bulk transfer (not timed)."""
    out = {}
    for phase, args, per in (("conn", ["-m", "conn", "-n", n, "-c", 32, "-s", NAME_OK], n),
                             ("bulk", ["-m", "bulk", "-d", "b", "-b", bulk, "-T", 60000, "-s", NAME_OK],
                              2 * bulk / 1e6)):
        f = os.path.join(tmp, f"strace-{target.name}-{phase}.txt")
        argv = ["strace", "-c", "-f", "-o", f]
        for pid in target.pids():
            argv += ["-p", str(pid)]
        st = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        STARTED.append(st)
        time.sleep(0.5)
        r = loadgen(target.addr, args, 120)
        time.sleep(0.2)
        st.send_signal(signal.SIGINT)
        try:
            st.wait(timeout=10)
        finally:
            stop(st)
        calls = {}
        try:
            with open(f) as fh:
                for line in fh:
                    p = line.split()
                    if len(p) >= 5 and p[0][0].isdigit() and p[-1] != "total":
                        calls[p[-1]] = int(p[3])
        except OSError:
            pass
        out[phase] = {"per": per, "ok": r.get("ok"), "calls": calls}
    return out


BULK_SYSCALLS = ("splice", "epoll_wait", "epoll_pwait", "epoll_ctl", "read", "write", "readv", "writev",
                 "recvfrom", "sendto", "recvmsg", "sendmsg", "fcntl", "pipe2", "close", "ioctl",
                 "clock_gettime", "shutdown")


def bulk_profile(target, tmp, bulk=200_000_000):
    """Syscalls per MB of a bulk transfer, per direction (up, down, both), by
    perf's syscall tracepoints (the proxy runs at full speed, nothing is
    stopped), then the bytes per splice call from an strace of the same
    transfer (strace slows the proxy, which may lengthen its splices)."""
    out = {}
    pids = target.pids()
    for d in ("up", "down", "both"):
        mb = (2 if d == "both" else 1) * bulk / 1e6
        args = ["-m", "bulk", "-d", d[0], "-b", bulk, "-T", 60000, "-s", NAME_OK]
        f = os.path.join(tmp, f"perf-{target.name}-{d}.txt")
        ev = ",".join(f"syscalls:sys_enter_{s}" for s in BULK_SYSCALLS)
        argv = ["perf", "stat", "-x", ",", "-o", f, "-e", ev, "-p", ",".join(map(str, pids))]
        st = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        STARTED.append(st)
        time.sleep(0.5)
        c0 = cpu_ticks(pids)
        r = loadgen(target.addr, args, 120)
        cpu = (cpu_ticks(pids) - c0) / CLK_TCK
        st.send_signal(signal.SIGINT)
        try:
            st.wait(timeout=10)
        finally:
            stop(st)
        calls = {}
        try:
            with open(f) as fh:
                for line in fh:
                    p = line.strip().split(",")
                    if len(p) > 2 and p[2].startswith("syscalls:sys_enter_") and p[0].isdigit():
                        calls[p[2][len("syscalls:sys_enter_"):]] = int(p[0])
        except OSError:
            pass
        out[d] = {"mb": mb, "ok": r.get("rc") == 0, "gbps": r.get("gbps"), "cpu_s": cpu,
                  "per_mb": {k: v / mb for k, v in calls.items() if v}}
        # Bytes per splice, from strace (a smaller transfer: strace is slow).
        f = os.path.join(tmp, f"strace-{target.name}-{d}.txt")
        argv = ["strace", "-f", "-qq", "-e", "trace=splice", "-o", f]
        for pid in pids:
            argv += ["-p", str(pid)]
        st = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        STARTED.append(st)
        time.sleep(0.5)
        loadgen(target.addr, ["-m", "bulk", "-d", d[0], "-b", bulk // 4, "-T", 60000, "-s", NAME_OK], 120)
        time.sleep(0.2)
        st.send_signal(signal.SIGINT)
        try:
            st.wait(timeout=10)
        finally:
            stop(st)
        sizes = []
        try:
            with open(f) as fh:
                for line in fh:
                    m = re.search(r"splice\(.*\)\s+=\s+(\d+)", line)
                    if m and int(m.group(1)) > 0:
                        sizes.append(int(m.group(1)))
        except OSError:
            pass
        out[d]["splice_bytes"] = sum(sizes) / len(sizes) if sizes else None
        out[d]["splice_max"] = max(sizes) if sizes else None
    return out


# ------------------------------------------------------------------- report

def fmt(v, spec, unit=""):
    return "n/a" if v is None else format(v, spec) + unit


def spread(vals, spec):
    vals = [v for v in vals if v is not None]
    if len(vals) < 2:
        return ""
    return f" ({format(min(vals), spec)}–{format(max(vals), spec)})"


def summarize(results, names):
    """Per target: pooled CPU, medians of the per-round figures."""
    summ = {}
    for name in names:
        rs = results["rounds"].get(name, [])
        s = {}
        def pooled(phase, per):
            ticks = sum(r[phase]["cpu_ticks"] for r in rs if phase in r)
            units = sum(per(r[phase]) for r in rs if phase in r)
            return ticks / CLK_TCK / units if units else None
        def per_round(phase, key):
            return [r[phase].get(key) for r in rs if phase in r and r[phase].get(key) is not None]
        if name != "direct":
            s["cpu_conn_us"] = (pooled("conc", lambda m: m.get("ok", 0)) or 0) * 1e6
            s["cpu_conn_us_rounds"] = [r["conc"]["cpu_ticks"] / CLK_TCK / r["conc"]["ok"] * 1e6
                                       for r in rs if r.get("conc", {}).get("ok")]
            s["cpu_conn_sched_us"] = (sum(r["conc"]["cpu_sched_ns"] for r in rs) /
                                      max(1, sum(r["conc"].get("ok", 0) for r in rs)) / 1e3)
            s["cpu_seq_us"] = (pooled("seq", lambda m: m.get("ok", 0)) or 0) * 1e6
            s["cpu_gb_s"] = pooled("bulk", lambda m: (m.get("bytes_up", 0) + m.get("bytes_down", 0)) / 1e9)
            s["cpu_gb_rounds"] = [r["bulk"]["cpu_ticks"] / CLK_TCK /
                                  ((r["bulk"]["bytes_up"] + r["bulk"]["bytes_down"]) / 1e9)
                                  for r in rs if r.get("bulk", {}).get("bytes_up")]
            s["cpu_gb1_s"] = pooled("bulk1", lambda m: (m.get("bytes_up", 0) + m.get("bytes_down", 0)) / 1e9)
            dq = [r["conc"].get("dns_queries") for r in rs if r["conc"].get("dns_queries") is not None]
            okc = sum(r["conc"].get("ok", 0) for r in rs if r["conc"].get("dns_queries") is not None)
            s["dns_q_per_conn"] = sum(dq) / okc if okc else None
            s["dns_cpu_us"] = (sum(r["conc"]["dns_ticks"] for r in rs) / CLK_TCK /
                               max(1, sum(r["conc"].get("ok", 0) for r in rs)) * 1e6)
        p50 = per_round("seq", "p50_us")
        s["p50_us"] = statistics.median(p50) if p50 else None
        s["p50_rounds"] = p50
        # Added latency: this round's p50 minus the direct run's p50 of the same round.
        direct = results["rounds"].get("direct", [])
        adds = []
        for i, r in enumerate(rs):
            if i < len(direct) and "seq" in r and "seq" in direct[i]:
                adds.append(r["seq"]["p50_us"] - direct[i]["seq"]["p50_us"])
        s["added_us"] = statistics.median(adds) if adds and name != "direct" else None
        s["added_rounds"] = adds
        uadds = []
        for i, r in enumerate(rs):
            if i < len(direct) and "useq" in r and "useq" in direct[i] and r["useq"].get("p50_us") is not None:
                uadds.append(r["useq"]["p50_us"] - direct[i]["useq"]["p50_us"])
        s["uadded_us"] = statistics.median(uadds) if uadds and name != "direct" else None
        s["uadded_rounds"] = uadds
        if name != "direct":
            s["ucpu_conn_us"] = (pooled("uconc", lambda m: m.get("ok", 0)) or 0) * 1e6
            s["ucpu_conn_us_rounds"] = [r["uconc"]["cpu_ticks"] / CLK_TCK / r["uconc"]["ok"] * 1e6
                                        for r in rs if r.get("uconc", {}).get("ok")]
            dq = [r["uconc"].get("dns_queries") for r in rs if r.get("uconc", {}).get("dns_queries") is not None]
            okc = sum(r["uconc"].get("ok", 0) for r in rs if r.get("uconc", {}).get("dns_queries") is not None)
            s["udns_q_per_conn"] = sum(dq) / okc if okc else None
            sq = [r["same"] for r in rs if r.get("same", {}).get("dns_queries") is not None]
            s["same_q_per_conn"] = (sum(x["dns_queries"] for x in sq) / sum(x["ok"] for x in sq)
                                    if sq and sum(x["ok"] for x in sq) else None)
            sp = [r["same"]["p50_us"] for r in rs if r.get("same", {}).get("p50_us") is not None]
            s["same_p50_us"] = statistics.median(sp) if sp else None
        ucps = per_round("uconc", "cps")
        s["ucps"] = statistics.median(ucps) if ucps else None
        cps = per_round("conc", "cps")
        s["cps"] = statistics.median(cps) if cps else None
        s["cps_rounds"] = cps
        g = per_round("bulk", "gbps")
        s["gbps"] = statistics.median(g) if g else None
        s["gbps_rounds"] = g
        g1 = per_round("bulk1", "gbps")
        s["gbps1"] = statistics.median(g1) if g1 else None
        errs = 0
        for r in rs:
            for m in r.values():
                errs += sum(m.get(k, 0) for k in ("err_connect", "err_reset", "err_timeout", "err_mismatch"))
        s["errors"] = errs
        idle = [x.get("rss_per_conn") for x in results["idle"].get(name, []) if x.get("rss_per_conn") is not None]
        s["rss_conn"] = statistics.median(idle) if idle else None
        s["rss_rounds"] = idle
        anon = [x.get("anon_per_conn") for x in results["idle"].get(name, []) if x.get("anon_per_conn") is not None]
        s["anon_conn"] = statistics.median(anon) if anon else None
        fds = [x.get("fds_per_conn") for x in results["idle"].get(name, []) if x.get("fds_per_conn") is not None]
        s["fds_conn"] = statistics.median(fds) if fds else None
        summ[name] = s
    return summ


def round_ratios(results, a, b, f):
    """Per round, f(a's round) / f(b's round) where both are known."""
    out = []
    for ra, rb in zip(results["rounds"].get(a, []), results["rounds"].get(b, [])):
        x, y = f(ra), f(rb)
        if x is not None and y:
            out.append(x / y)
    return out


def cpu_conn(r):
    return r["conc"]["cpu_ticks"] / r["conc"]["ok"] if r["conc"].get("ok") else None


def cpu_gb(r):
    b = r["bulk"].get("bytes_up", 0) + r["bulk"].get("bytes_down", 0)
    return r["bulk"]["cpu_ticks"] / b if b else None


def issue11_lines(results, summ):
    """Issue 11's targets, each a ratio of two targets' figures in the same
    round: the median ratio, its range over rounds, met or missed."""
    L = []
    checks = [
        ("snid", "nginx", cpu_conn, 0.7, "proxy CPU per connection ≤ 0.7 × nginx-1w's"),
        ("snid", "nginx", cpu_gb, 0.7, "proxy CPU per GB ≤ 0.7 × nginx-1w's"),
        ("snid", "snid-old", cpu_gb, None, "proxy CPU per GB, this snid / snid-old"),
        ("snid", "snid-old", cpu_conn, None, "proxy CPU per connection, this snid / snid-old"),
        ("snid-w2", "snid-w1", lambda r: r["conc"].get("cps"), 1.25,
         "conns/s, 2 workers ≥ 1.25 × 1 worker's"),
        ("snid-w2", "snid-w1", cpu_conn, 1.1, "proxy CPU per connection, 2 workers ≤ 1.1 × 1 worker's"),
        ("nginx-2w", "nginx", lambda r: r["conc"].get("cps"), None, "nginx conns/s, 2 workers / 1"),
        ("haproxy-2t", "haproxy", lambda r: r["conc"].get("cps"), None, "HAProxy conns/s, 2 threads / 1"),
    ]
    # Added latency is a round's p50 minus direct's in the same round (summary()).
    checks.insert(2, ("snid", "nginx", "added_rounds", 0.7,
                      "p50 added latency, one at a time, ≤ 0.7 × nginx-1w's"))
    # Gbit/s per core is bytes / CPU-seconds: the inverse of CPU per GB.
    checks.insert(3, ("snid", "nginx", lambda r: 1 / cpu_gb(r) if cpu_gb(r) else None, 1.0,
                      "bulk Gbit/s per core ≥ nginx-1w's"))
    for a, b, f, bound, what in checks:
        if a not in summ or b not in summ:
            continue
        if isinstance(f, str):
            rr = [x / y for x, y in zip(summ[a][f], summ[b][f]) if y > 0]
        else:
            rr = round_ratios(results, a, b, f)
        if not rr:
            continue
        m = statistics.median(rr)
        if bound is None:
            verdict_ = ""
        elif "≥" in what:
            verdict_ = ": **met**" if m >= bound else ": **missed**"
        else:
            verdict_ = ": **met**" if m <= bound else ": **missed**"
        L.append(f"- {what}: {m:.2f}{spread(rr, '.2f')}{verdict_}")
    # What 2 workers could reach at most here: the cores / (the proxy's CPU
    # per connection + the load generator's and sink's), against 1 worker's.
    ceil = []
    for r in results["rounds"].get("snid-w1", []):
        c = r.get("conc", {})
        if c.get("ok") and c.get("cps") and c.get("load_cpu_s") is not None:
            per = (c["cpu_ticks"] / CLK_TCK + c["load_cpu_s"]) / c["ok"]
            ceil.append((os.cpu_count() or 1) / per / c["cps"])
    if ceil:
        load = [r["conc"]["load_cpu_s"] / r["conc"]["ok"] * 1e6 for r in results["rounds"]["snid-w1"]
                if r.get("conc", {}).get("ok") and r["conc"].get("load_cpu_s") is not None]
        L.append(f"- the most 2 workers can add on this machine: {os.cpu_count()} CPUs / (snid-w1's "
                 f"CPU + the load generator's and sink's, {statistics.median(load):.0f} µs, per "
                 f"connection) ÷ snid-w1's conns/s = {statistics.median(ceil):.2f}{spread(ceil, '.2f')}")
    if "floor" in summ:
        for name in ("snid", "snid-old", "snid-w1", "nginx", "haproxy"):
            if name not in summ:
                continue
            d = []
            for ra, rb in zip(results["rounds"].get(name, []), results["rounds"]["floor"]):
                if cpu_conn(ra) is not None and cpu_conn(rb) is not None:
                    d.append((cpu_conn(ra) - cpu_conn(rb)) / CLK_TCK * 1e6)
            if d:
                L.append(f"- {name}'s proxy CPU per connection above the floor (bench/floor.c): "
                         f"{statistics.median(d):+.0f} µs{spread(d, '+.0f')}, ratio "
                         f"{statistics.median(round_ratios(results, name, 'floor', cpu_conn)):.2f}")
    if L:
        L = ["", "Targets of issue 11 (ratios per round in this run; median and range over rounds):", ""] + L
    return L


def markdown(results, summ, names):
    cfg = results["config"]
    m, v = results["machine"], results["versions"]
    L = []
    L.append(f"Run of {results['date']} ({results['duration_s']:.0f} s), {cfg['rounds']} interleaved rounds "
             f"({' '.join(names)}); per round and target: {cfg['seq_n']} connections one at a time, "
             f"{cfg['conc_n']} connections {cfg['conc']} at a time, {cfg['bulk_bytes'] / 1e6:.0f} MB each way "
             f"on one connection, {cfg['bulk_bytes'] / 1e6:.0f} MB one way (sink to client); then "
             f"{cfg['idle_rounds']} rounds of {cfg['idle_n']} idle connections per proxy on fresh instances.")
    L.append("")
    L.append(f"Machine: {m.get('cpu', '?')}, {m.get('cpus')} CPUs (shared with other work; load average at start "
             f"{' '.join(m.get('loadavg', []))}), {m.get('mem', '?')} RAM, {m.get('os', '?')}, Linux {m.get('kernel')}.")
    L.append(f"Versions: snid {v.get('snid')}; {v.get('nginx')}; {v.get('haproxy')}; {v.get('sniproxy')}; "
             f"{v.get('dnsmasq')}.")
    L.append("")
    L.append("| | proxy CPU per connection | p50 added latency (1 at a time) | proxy CPU per GB moved "
             "| RSS per idle connection | connections/s (noisy) | Gbit/s both ways (noisy) | DNS queries per connection |")
    L.append("|---|---|---|---|---|---|---|---|")
    for name in names:
        s = summ[name]
        if name == "direct":
            L.append(f"| direct (ceiling) | – | p50 itself {fmt(s['p50_us'], '.0f', ' µs')} | – | – "
                     f"| {fmt(s['cps'], '.0f')} | {fmt(s['gbps'], '.1f')} | – |")
            continue
        L.append(f"| {name} | {fmt(s['cpu_conn_us'], '.0f', ' µs')}{spread(s['cpu_conn_us_rounds'], '.0f')} "
                 f"| {fmt(s['added_us'], '+.0f', ' µs')}{spread(s['added_rounds'], '+.0f')} "
                 f"| {fmt(s['cpu_gb_s'], '.2f', ' s')}{spread(s['cpu_gb_rounds'], '.2f')} "
                 f"| {fmt(None if s['rss_conn'] is None else s['rss_conn'] / 1024, '.2f', ' KiB')}"
                 f"{spread([x / 1024 for x in s['rss_rounds']], '.2f')} "
                 f"| {fmt(s['cps'], '.0f')}{spread(s['cps_rounds'], '.0f')} "
                 f"| {fmt(s['gbps'], '.1f')}{spread(s['gbps_rounds'], '.1f')} "
                 f"| {fmt(s['dns_q_per_conn'], '.3f')} |")
    L.append("")
    L.append("Ranges in parentheses are the lowest and highest single round.  Secondary figures:")
    L.append("")
    L.append("| | CPU/conn, one at a time | CPU/conn by schedstat (ns clock) | CPU per GB one way "
             "| Gbit/s one way | anon RSS per idle conn | fds per idle conn | dnsmasq CPU per conn | p50 latency | errors |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for name in names:
        s = summ[name]
        if name == "direct":
            L.append(f"| direct | – | – | – | {fmt(s['gbps1'], '.1f')} | – | – | – | {fmt(s['p50_us'], '.0f', ' µs')} "
                     f"| {s['errors']} |")
            continue
        L.append(f"| {name} | {fmt(s['cpu_seq_us'], '.0f', ' µs')} | {fmt(s['cpu_conn_sched_us'], '.0f', ' µs')} "
                 f"| {fmt(s['cpu_gb1_s'], '.2f', ' s')} | {fmt(s['gbps1'], '.1f')} "
                 f"| {fmt(None if s['anon_conn'] is None else s['anon_conn'] / 1024, '.2f', ' KiB')} "
                 f"| {fmt(s['fds_conn'], '.1f')} "
                 f"| {fmt(s['dns_cpu_us'], '.0f', ' µs')} | {fmt(s['p50_us'], '.0f', ' µs')} | {s['errors']} |")
    L.append("")
    L.append("A new name for every connection (`loadgen -U`, u<n>.u.bench.test), so that no proxy can "
             "answer from a DNS cache: every proxy pays a lookup per connection here.")
    L.append("")
    L.append("| | proxy CPU per connection | p50 added latency (1 at a time) | connections/s (noisy) "
             "| DNS queries per connection |")
    L.append("|---|---|---|---|---|")
    for name in names:
        s = summ[name]
        if name == "direct":
            continue
        L.append(f"| {name} | {fmt(s.get('ucpu_conn_us'), '.0f', ' µs')}{spread(s.get('ucpu_conn_us_rounds', []), '.0f')} "
                 f"| {fmt(s.get('uadded_us'), '+.0f', ' µs')}{spread(s.get('uadded_rounds', []), '+.0f')} "
                 f"| {fmt(s.get('ucps'), '.0f')} | {fmt(s.get('udns_q_per_conn'), '.3f')} |")
    L.append("")
    L.append(f"The same name, new to every proxy, {cfg['conc']} connections at a time "
             f"({cfg.get('same_bursts')} such bursts per round and target, a new name each): "
             "a proxy that merges identical lookups asks once per burst.")
    L.append("")
    L.append("| | DNS queries per connection | p50 latency of a burst's connections |")
    L.append("|---|---|---|")
    for name in names:
        s = summ[name]
        if name == "direct":
            continue
        L.append(f"| {name} | {fmt(s.get('same_q_per_conn'), '.3f')} | {fmt(s.get('same_p50_us'), '.0f', ' µs')} |")
    L.append("")
    L.append("Paired with nginx in the same round (median over rounds of the per-round difference; "
             "negative is better than nginx):")
    L.append("")
    L.append("| | CPU per connection − nginx's | p50 latency − nginx's | CPU per GB − nginx's |")
    L.append("|---|---|---|---|")
    ng = results["rounds"].get("nginx", [])
    for name in names:
        if name in ("direct", "nginx") or not ng:
            continue
        rs = results["rounds"][name]
        dc, dl, dg = [], [], []
        for i, r in enumerate(rs):
            if i >= len(ng):
                break
            n = ng[i]
            if r["conc"].get("ok") and n["conc"].get("ok"):
                dc.append((r["conc"]["cpu_ticks"] / r["conc"]["ok"] - n["conc"]["cpu_ticks"] / n["conc"]["ok"])
                          / CLK_TCK * 1e6)
            if r["seq"].get("p50_us") is not None and n["seq"].get("p50_us") is not None:
                dl.append(r["seq"]["p50_us"] - n["seq"]["p50_us"])
            gb = lambda m: (m.get("bytes_up", 0) + m.get("bytes_down", 0)) / 1e9
            if gb(r["bulk"]) and gb(n["bulk"]):
                dg.append((r["bulk"]["cpu_ticks"] / gb(r["bulk"]) - n["bulk"]["cpu_ticks"] / gb(n["bulk"])) / CLK_TCK)
        med = lambda v: statistics.median(v) if v else None
        L.append(f"| {name} | {fmt(med(dc), '+.0f', ' µs')}{spread(dc, '+.0f')} "
                 f"| {fmt(med(dl), '+.0f', ' µs')}{spread(dl, '+.0f')} "
                 f"| {fmt(med(dg), '+.2f', ' s')}{spread(dg, '+.2f')} |")
    if "snid" in summ:
        sn = summ["snid"]
        L.append("")
        L.append("Targets of issue 3 for snid, in this run:")
        L.append("")
        def verdict(ok):
            return "**met**" if ok else "**missed**"
        if "nginx" in summ:
            n = summ["nginx"]
            L.append(f"- CPU per connection below nginx's: {fmt(sn['cpu_conn_us'], '.0f', ' µs')} vs "
                     f"{fmt(n['cpu_conn_us'], '.0f', ' µs')}: "
                     f"{verdict(sn['cpu_conn_us'] < n['cpu_conn_us'])} "
                     f"({(sn['cpu_conn_us'] / n['cpu_conn_us'] - 1) * 100:+.0f} %)")
            if sn["added_us"] is not None and n["added_us"] is not None:
                L.append(f"- p50 added latency below nginx's: {sn['added_us']:+.0f} µs vs {n['added_us']:+.0f} µs: "
                         f"{verdict(sn['added_us'] < n['added_us'])} ({sn['added_us'] - n['added_us']:+.0f} µs)")
        if sn.get("cpu_gb_s") is not None:
            L.append(f"- CPU per GB below 0.8 s: {sn['cpu_gb_s']:.2f} s (both ways), "
                     f"{fmt(sn.get('cpu_gb1_s'), '.2f', ' s')} (one way): {verdict(sn['cpu_gb_s'] < 0.8)}")
        if "haproxy" in summ and sn["rss_conn"] is not None and summ["haproxy"]["rss_conn"] is not None:
            h = summ["haproxy"]["rss_conn"]
            L.append(f"- RSS per idle connection below HAProxy's: {sn['rss_conn'] / 1024:.2f} KiB vs "
                     f"{h / 1024:.2f} KiB: {verdict(sn['rss_conn'] < h)}")
    L.extend(issue11_lines(results, summ))
    if results.get("syscalls"):
        L.append("")
        L.append("System calls (strace -c -f, a separate untimed run): per connection, 32 at a time; "
                 "per MB moved in the bulk run (both ways).")
        L.append("")
        L.append("| | syscalls per connection | most frequent per connection | syscalls per MB | most frequent per MB |")
        L.append("|---|---|---|---|---|")
        for name, prof in results["syscalls"].items():
            cells = []
            for ph in ("conn", "bulk"):
                c, per = prof[ph]["calls"], prof[ph]["per"]
                top = sorted(c.items(), key=lambda kv_: -kv_[1])[:8]
                cells.append(f"{sum(c.values()) / per:.1f}")
                cells.append(", ".join(f"{k} {v / per:.2g}" for k, v in top))
            L.append(f"| {name} | " + " | ".join(cells) + " |")
    if results.get("bulk_profile"):
        L.append("")
        L.append("Bulk transfer profile (`--bulk-profile`, untimed): system calls per MB moved "
                 "(perf syscall tracepoints), proxy CPU per GB, bytes per splice call (strace).")
        L.append("")
        L.append("| | direction | syscalls per MB | splice | epoll_wait (wake-ups) | epoll_ctl | "
                 "other | CPU per GB | Gbit/s | bytes per splice (max) |")
        L.append("|---|---|---|---|---|---|---|---|---|---|")
        for name, prof in results["bulk_profile"].items():
            for d, x in prof.items():
                pm = x["per_mb"]
                main_ = ("splice", "epoll_wait", "epoll_pwait", "epoll_ctl")
                other = ", ".join(f"{k} {v:.2g}" for k, v in sorted(pm.items(), key=lambda kv_: -kv_[1])
                                  if k not in main_ and v >= 0.005)
                sb, smax = x.get("splice_bytes"), x.get("splice_max")
                sbs = "-" if sb is None else f"{sb / 1024:.0f} KiB ({smax // 1024} KiB)"
                L.append(f"| {name} | {d} | {sum(pm.values()):.1f} | {pm.get('splice', 0):.1f} | "
                         f"{pm.get('epoll_wait', 0) + pm.get('epoll_pwait', 0):.2f} | "
                         f"{pm.get('epoll_ctl', 0):.2f} | {other or '-'} | "
                         f"{x['cpu_s'] / (x['mb'] / 1000):.2f} s | {x.get('gbps')} | {sbs} |")
    L.append("")
    L.append("Verification before measuring:")
    L.append("")
    for name, (ok, notes) in results["verify"].items():
        L.append(f"- {name}: {'verified' if ok else 'NOT MEASURED'}: " + "; ".join(notes))
    for name, why in results.get("skipped", {}).items():
        L.append(f"- {name}: skipped: {why}")
    return "\n".join(L) + "\n"


# --------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seq-n", type=int, default=1000, help="connections one at a time per round")
    ap.add_argument("--conc-n", type=int, default=4000, help="connections per round in the concurrent phase")
    ap.add_argument("--conc", type=int, default=32, help="concurrency of that phase")
    ap.add_argument("--same-bursts", type=int, default=20,
                    help="bursts of --conc connections to one new name per round and target")
    ap.add_argument("--bulk-bytes", type=int, default=1000_000_000, help="bytes each way per bulk run")
    ap.add_argument("--idle-n", type=int, default=3000)
    ap.add_argument("--idle-rounds", type=int, default=3)
    ap.add_argument("--targets", default="direct,snid,nginx,haproxy,sniproxy")
    ap.add_argument("--snid-args", default="-log-level error",
                    help="extra snid flags (default: no per-connection log line, like the peers)")
    ap.add_argument("--max-seconds", type=float, default=540, help="stop starting new rounds after this")
    ap.add_argument("--out", default=os.path.join(BUILD, "results.md"))
    ap.add_argument("--json", default=os.path.join(BUILD, "results.json"))
    ap.add_argument("--verify-only", action="store_true")
    ap.add_argument("--syscalls", action="store_true",
                    help="also count each proxy's system calls with strace -c (after the timed runs)")
    ap.add_argument("--bulk-profile", action="store_true",
                    help="after the timed runs: syscalls per MB (perf) and bytes per splice (strace) "
                         "of a bulk transfer up, down and both ways, per proxy")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (configs, logs)")
    a = ap.parse_args()

    t_start = time.monotonic()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 4 * a.idle_n + 1000:
        log(f"warning: RLIMIT_NOFILE {resource.getrlimit(resource.RLIMIT_NOFILE)[0]} is low for "
            f"{a.idle_n} idle connections; run through bench/run.sh")

    os.makedirs(BUILD, exist_ok=True)
    for prog in ("loadgen", "sink", "floor"):
        subprocess.run(["cc", "-std=c11", "-O2", "-g", "-Wall", "-Wextra", "-Wshadow", "-Wconversion",
                        "-Wstrict-prototypes", "-Wmissing-prototypes", "-Wcast-qual", "-Wformat=2", "-Wvla",
                        "-o", os.path.join(BUILD, prog),
                        os.path.join(BENCH, prog + ".c")], check=True)

    tmp = tempfile.mkdtemp(prefix="snid-bench.")
    os.chmod(tmp, 0o755)
    names = [n for n in a.targets.split(",") if n]
    results = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "machine": machine(), "versions": versions(), "verify": {}, "skipped": {},
               "rounds": {}, "idle": {}, "config": {
                   "rounds": a.rounds, "seq_n": a.seq_n, "conc_n": a.conc_n, "conc": a.conc,
                   "bulk_bytes": a.bulk_bytes, "idle_n": a.idle_n, "idle_rounds": a.idle_rounds,
                   "snid_args": a.snid_args, "same_bursts": a.same_bursts}}

    def on_signal(signum, frame):
        raise SystemExit(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    try:
        base = free_port_block(24)
        sink_port, ctl_port = base, base + 1
        peer_ports = {"nginx": base + 2, "haproxy": base + 3, "sniproxy": base + 4, "snid": base + 5,
                      "snid+log": base + 10, "snid-old": base + 12, "floor": base + 14,
                      "nginx-2w": base + 15, "haproxy-2t": base + 16, "snid-w1": base + 17,
                      "snid-w2": base + 18}
        idle_ports = {"nginx": base + 6, "haproxy": base + 7, "sniproxy": base + 8, "snid": base + 9,
                      "snid+log": base + 11, "snid-old": base + 13, "floor": base + 19,
                      "nginx-2w": base + 20, "haproxy-2t": base + 21, "snid-w1": base + 22,
                      "snid-w2": base + 23}
        classes = {"nginx": Nginx, "haproxy": Haproxy, "sniproxy": Sniproxy, "snid": Snid,
                   "snid+log": SnidLog, "snid-old": SnidOld, "floor": Floor,
                   "nginx-2w": Nginx2, "haproxy-2t": Haproxy2, "snid-w1": SnidWorkers,
                   "snid-w2": SnidW2}
        Snid.extra = a.snid_args.split()
        log(f"bench: tmp {tmp}, ports {base}..{base + 23}, dns {DNS_ADDR}:{DNS_PORT}")

        # One snid binary for the whole run, even if ./snid is rebuilt meanwhile.
        if os.access(os.path.join(ROOT, "snid"), os.X_OK):
            Snid.binary = os.path.join(tmp, "snid")
            shutil.copy2(os.path.join(ROOT, "snid"), Snid.binary)
            st = os.stat(Snid.binary)
            results["versions"]["snid"] += ", ./snid built " + datetime.datetime.fromtimestamp(
                st.st_mtime, datetime.timezone.utc).strftime("%H:%M UTC")
        per_round = a.seq_n + a.conc_n + a.same_bursts
        dns = Dnsmasq(tmp, a.rounds * per_round)
        sink = start([os.path.join(BUILD, "sink"), "-l", f"[::1]:{sink_port}", "-D",
                      f"127.0.0.1:{sink_port}", "-C", f"127.0.0.1:{ctl_port}"], "sink", tmp)
        if not wait_tcp("127.0.0.1", ctl_port, 5, sink):
            raise SystemExit("sink did not start")
        SINK_PIDS.append(sink.pid)

        targets = []
        for name in names:
            if name == "direct":
                targets.append(Direct(sink_port))
                continue
            if name not in classes:
                raise SystemExit(f"unknown target {name}")
            if name.startswith("snid") and not os.access(os.path.join(ROOT, "snid"), os.X_OK):
                results["skipped"][name] = "./snid is not built (make snid)"
                log("skip snid: ./snid is not built (make snid)")
                continue
            try:
                peer = classes[name](tmp, peer_ports[name], sink_port).start()
            except RuntimeError as e:
                results["skipped"][name] = str(e)
                log(f"skip {name}: {e}")
                continue
            ok, notes = verify(peer, ctl_port)
            results["verify"][name] = (ok, notes)
            log(f"verify {name}: {'ok' if ok else 'FAILED'}")
            for n in notes:
                log(f"    {n}")
            if ok:
                targets.append(peer)
            else:
                peer.stop()
        if a.verify_only:
            return 0

        # Interleaved rounds: every target once per round, in the same order.
        names = [t.name for t in targets]
        bulk = a.bulk_bytes
        for rnd in range(a.rounds):
            if time.monotonic() - t_start > a.max_seconds:
                log(f"bench: time budget spent, stopping after {rnd} rounds")
                break
            for t in targets:
                r = {}
                r["seq"] = measure(t, ["-m", "conn", "-n", a.seq_n, "-c", 1, "-s", NAME_OK], 60)
                r["conc"] = measure(t, ["-m", "conn", "-n", a.conc_n, "-c", a.conc, "-s", NAME_OK], 60,
                                    dns=dns if t.name != "direct" else None)
                # A new name per connection: no proxy can use a DNS cache.
                u0 = rnd * per_round
                r["useq"] = measure(t, ["-m", "conn", "-n", a.seq_n, "-c", 1, "-s", NAME_UNIQUE, "-U", u0], 60)
                r["uconc"] = measure(t, ["-m", "conn", "-n", a.conc_n, "-c", a.conc, "-s", NAME_UNIQUE,
                                         "-U", u0 + a.seq_n], 60,
                                     dns=dns if t.name != "direct" else None)
                if t.name != "direct":
                    r["same"] = same_name_bursts(t, dns, u0 + a.seq_n + a.conc_n, a.same_bursts, a.conc)
                r["bulk"] = measure(t, ["-m", "bulk", "-d", "b", "-b", bulk, "-T", 60000, "-s", NAME_OK], 60)
                r["bulk1"] = measure(t, ["-m", "bulk", "-d", "d", "-b", bulk, "-T", 60000, "-s", NAME_OK], 60)
                results["rounds"].setdefault(t.name, []).append(r)
                log(f"round {rnd + 1} {t.name:9s} p50 {r['seq'].get('p50_us')} µs, "
                    f"cpu/conn {r['conc']['cpu_ticks'] / CLK_TCK / max(1, r['conc'].get('ok', 0)) * 1e6:.0f} µs, "
                    f"{r['conc'].get('cps')} conn/s, {r['bulk'].get('gbps')} Gbit/s, "
                    f"cpu {r['bulk']['cpu_ticks'] / CLK_TCK:.2f} s for bulk, "
                    f"dns queries {r['conc'].get('dns_queries')}")
                for ph, m in r.items():
                    if m.get("rc") != 0:
                        log(f"    {ph}: {m}")

        # Idle memory, on fresh instances so no earlier peak is reused.
        for rnd in range(a.idle_rounds):
            if time.monotonic() - t_start > a.max_seconds + 60:
                break
            for t in targets:
                if t.name == "direct":
                    continue
                x = idle_rss(classes[t.name], tmp, idle_ports[t.name], sink_port, ctl_port, a.idle_n, 200)
                results["idle"].setdefault(t.name, []).append(x)
                log(f"idle {rnd + 1} {t.name:9s} {x}")

        if a.syscalls and shutil.which("strace"):
            results["syscalls"] = {}
            for t in targets:
                if t.name != "direct":
                    results["syscalls"][t.name] = syscall_profile(t, tmp)
                    log(f"syscalls {t.name}: {results['syscalls'][t.name]}")

        if a.bulk_profile and shutil.which("perf") and shutil.which("strace"):
            results["bulk_profile"] = {}
            for t in targets:
                if t.name != "direct":
                    results["bulk_profile"][t.name] = bulk_profile(t, tmp)
                    log(f"bulk profile {t.name}: {results['bulk_profile'][t.name]}")

        results["duration_s"] = time.monotonic() - t_start
        summ = summarize(results, names)
        results["summary"] = summ
        md = markdown(results, summ, names)
        with open(a.out, "w") as f:
            f.write(md)
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
        print(md)
        log(f"bench: wrote {a.out} and {a.json} in {results['duration_s']:.0f} s")
        return 0
    finally:
        stop_all()
        if a.keep:
            log(f"bench: kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
