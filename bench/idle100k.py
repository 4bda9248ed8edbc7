#!/usr/bin/env python3
"""100 000 idle spliced connections through snid (issue 11), as root.

Runs in a network namespace of its own (the script re-executes itself under
`unshare --net`), so the wide port range and the extra loopback addresses
touch nothing outside it and vanish with its last process.  Inside:

  client (bench/holdconn) -> snid -> backend (bench/sink, idle mode)

holdconn spreads its connections over --sources addresses of 127/8 and over
--names names n<k>.idle.test whose AAAA records (dnsmasq) are k different
addresses 2001:db8:5e::k+1 on lo, so neither side runs out of 4-tuples.

snid needs two descriptors per connection.  When the hard RLIMIT_NOFILE
(which only CAP_SYS_RESOURCE may raise) is too low for -n in one process,
the connections are split over shards: one snid, one sink and one holdconn
each, each under the limit; the report says so, and the per-process figures
(RSS per connection, latency) are then those of one snid holding n/shards.

Measured: RSS per connection of snid beyond its warmed-up baseline; kernel
memory per connection (/proc/meminfo Slab and SUnreclaim, /proc/slabinfo
per cache; machine-wide, so other work on the machine is noise in it);
the latency of new connections (socket() to the backend's ack through
snid) with none and with all held; SIGTERM: the time until every held
connection was closed and snid exited, with -shutdown-timeout short.

Standard library only.  Every process is started with PDEATHSIG and killed
by PID at the end, also on errors and signals; every wait is bounded.
"""

import argparse
import datetime
import json
import math
import os
import platform
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from benchutil import kv, log, sink_stats, start, stop_all, wait_tcp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
BUILD = os.path.join(ROOT, "build", "bench")
DNS_ADDR = "127.0.0.53"
V6NET = "2001:db8:5e::"
SNI = "idle.test"
PROBE_NAME = "probe.idle.test"
PAGE = os.sysconf("SC_PAGE_SIZE")

def readline(p, timeout):
    """One line of p's stdout within timeout seconds, else ''."""
    end = time.monotonic() + timeout
    buf = b""
    fd = p.stdout.fileno()
    while time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], max(0.0, end - time.monotonic()))
        if not r:
            break
        c = os.read(fd, 1)
        if not c:
            break
        if c == b"\n":
            return buf.decode()
        buf += c
    return buf.decode()


def sh(*argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def meminfo():
    m = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":")
            m[k] = int(v.split()[0])
    return m


def slabinfo():
    """Bytes of slab pages per cache."""
    s = {}
    try:
        with open("/proc/slabinfo") as f:
            for line in f.readlines()[2:]:
                t = line.split()
                # name active num objsize objperslab pagesperslab : ... : slabdata active num
                s[t[0]] = int(t[14]) * int(t[5]) * PAGE
    except (OSError, IndexError, ValueError):
        pass
    return s


def sockstat():
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                return kv(" ".join(a + "=" + b for a, b in zip(line.split()[1::2], line.split()[2::2])))
    return {}


def kernel_snapshot():
    return {"meminfo": meminfo(), "slab": slabinfo(), "sockstat": sockstat()}


def lscpu_model():
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


class Shard:
    def __init__(self, k, tmp, a, per, maxconn):
        self.k, self.tmp, self.per = k, tmp, per
        self.port = a.base_port + k
        self.sink_port = a.base_port + 1000 + k
        self.ctl_port = a.base_port + 2000 + k
        self.sink = start([os.path.join(BUILD, "sink"), "-l", f"[::]:{self.sink_port}",
                           "-C", f"127.0.0.1:{self.ctl_port}"], f"sink{k}", tmp)
        self.snid = start([a.snid, "-listen", f"tcp:127.0.0.1:{self.port}",
                           "-backend-cidr", V6NET + "/64",
                           "-dns-server", f"{DNS_ADDR}:53",
                           "-backend-port", str(self.sink_port),
                           "-max-connections", str(maxconn),
                           "-max-connections-per-source", "0",
                           "-shutdown-timeout", str(a.shutdown_timeout),
                           "-log-level", "warn"] + a.snid_args.split(), f"snid{k}", tmp)
        self.hold = None
        self.probe = None

    def ready(self):
        return (wait_tcp("127.0.0.1", self.ctl_port, 10, self.sink) and
                wait_tcp("127.0.0.1", self.port, 10, self.snid))

    def holdconn(self, n, a, name):
        argv = [os.path.join(BUILD, "holdconn"), "-a", f"127.0.0.1:{self.port}", "-n", str(n),
                "-c", str(a.conc), "-s", SNI, "-K", str(a.names), "-T", "20000",
                "-t", str(a.open_seconds)]
        if a.sources > 1:
            # A block of sources per shard: 127.1.<k>.1 ...
            argv += ["-S", f"127.{1 + self.k // 250}.{self.k % 250}.1", "-N", str(a.sources)]
        return start(argv, name, self.tmp, pipe=True)

    def sink_stats(self):
        return sink_stats(self.ctl_port, tries=1, timeout=3)

    def err(self, name):
        try:
            with open(os.path.join(self.tmp, name + ".err"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""


def command(procs, cmd, timeout):
    """Sends cmd to every holdconn, returns their answers (bounded)."""
    for p in procs:
        p.stdin.write((cmd + "\n").encode())
        p.stdin.flush()
    return [kv(readline(p, timeout)) for p in procs]


def probe(shards, total, conc, timeout=150):
    """total new connections, spread over the shards one after the other."""
    each = max(1, total // len(shards))
    res = []
    for s in shards:
        res.append(command([s.probe], f"probe {each} {conc} {PROBE_NAME}", timeout)[0])
    ok = sum(r.get("ok", 0) for r in res)
    return {"ok": ok, "fail": sum(r.get("fail", 0) for r in res) + (each * len(shards) - ok
                                                                     - sum(r.get("fail", 0) for r in res)),
            "p50_us": sorted(r.get("p50_us", 0) for r in res)[len(res) // 2],
            "p99_us_max": max(r.get("p99_us", 0) for r in res),
            "max_us": max(r.get("max_us", 0) for r in res),
            "per_shard": res}


def setup_netns(a):
    sh("ip", "link", "set", "lo", "up")
    with open("/proc/sys/net/ipv4/ip_local_port_range", "w") as f:
        f.write("1024 65535")
    for path, v in (("/proc/sys/net/core/somaxconn", "65535"),
                    ("/proc/sys/net/ipv4/tcp_max_syn_backlog", "65535")):
        try:
            with open(path, "w") as f:
                f.write(v)
        except OSError:
            pass
    for k in range(a.names + 1):
        sh("ip", "-6", "addr", "add", f"{V6NET}{k + 1:x}/128", "dev", "lo", "nodad")


def main_inside(a, tmp):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # snid: 2 descriptors a connection, its reserve, the probes, pipes.
    cap = (hard - 1000) // 2
    shards_n = a.shards or max(1, math.ceil(a.n / cap))
    per = math.ceil(a.n / shards_n)
    counts = [a.n // shards_n + (k < a.n % shards_n) for k in range(shards_n)]
    if per > cap:
        raise SystemExit(f"{per} connections per snid need {2 * per + 1000} descriptors; "
                         f"the hard limit is {hard}")
    maxconn = min((hard - 200) // 2, per + 1000)
    res = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "cpu": lscpu_model(), "cpus": os.cpu_count(), "linux": platform.release(),
           "mem_total_kib": meminfo()["MemTotal"], "n": a.n, "shards": shards_n,
           "per_shard": per, "nofile_hard": hard, "names": a.names, "sources": a.sources,
           "shutdown_timeout": a.shutdown_timeout, "snid_max_connections": maxconn,
           "loadavg": open("/proc/loadavg").read().split()[:3]}
    log(f"idle100k: {a.n} connections, {shards_n} snid(s) of {per} "
        f"(hard RLIMIT_NOFILE {hard}), {a.names} backend addresses, {a.sources} sources")
    setup_netns(a)
    conf = os.path.join(tmp, "dnsmasq.conf")
    with open(conf, "w") as f:
        for k in range(a.names):
            f.write(f"host-record=n{k}.{SNI},{V6NET}{k + 1:x}\n")
        f.write(f"host-record={PROBE_NAME},{V6NET}{a.names + 1:x}\n")
    start(["dnsmasq", "--no-daemon", f"--conf-file={conf}", "--pid-file=", "--port=53",
           f"--listen-address={DNS_ADDR}", "--bind-interfaces", "--no-resolv", "--no-hosts",
           f"--local=/{SNI}/", "--local-ttl=3600", "--log-facility=-"], "dnsmasq", tmp)
    shards = [Shard(k, tmp, a, per, maxconn) for k in range(shards_n)]
    for s in shards:
        if not s.ready():
            raise SystemExit(f"shard {s.k} did not start: {s.err(f'snid{s.k}')[-400:]}")
        s.probe = s.holdconn(0, a, f"probe{s.k}")
        first = kv(readline(s.probe, 10))
        if first.get("established") != 0:
            raise SystemExit(f"probe holdconn {s.k} did not start: {first}")

    # Warm-up (one at a time: no pool grows), then the baselines.
    res["warmup"] = probe(shards, 50 * shards_n, 1)
    if res["warmup"]["ok"] < 50 * shards_n * 0.98:
        raise SystemExit(f"warm-up failed: {res['warmup']}; see {tmp}")
    res["latency_empty"] = probe(shards, a.probe_n, a.probe_conc)
    time.sleep(0.5)
    base_rss = [status_kib(s.snid.pid, "VmRSS") for s in shards]
    base_fds = [len(os.listdir(f"/proc/{s.snid.pid}/fd")) for s in shards]
    k0 = kernel_snapshot()

    # Open everything, every shard at once.
    t0 = time.monotonic()
    for s in shards:
        s.hold = s.holdconn(counts[s.k], a, f"hold{s.k}")
    opened = [kv(readline(s.hold, a.open_seconds + 30)) for s in shards]
    res["open_seconds"] = time.monotonic() - t0
    res["established"] = sum(o.get("established", 0) for o in opened)
    res["open_failed"] = sum(o.get("failed", c) for o, c in zip(opened, counts))
    res["open_per_shard"] = opened
    log(f"idle100k: {res['established']} established in {res['open_seconds']:.1f} s, "
        f"{res['open_failed']} failed")
    time.sleep(2)
    # Before listing /proc/PID/fd, which makes a proc inode per descriptor.
    k1 = kernel_snapshot()
    held_rss = [status_kib(s.snid.pid, "VmRSS") for s in shards]
    held_anon = [status_kib(s.snid.pid, "RssAnon") for s in shards]
    held_fds = [len(os.listdir(f"/proc/{s.snid.pid}/fd")) for s in shards]
    sinks = [s.sink_stats() for s in shards]
    res["sink_idle"] = sum(x.get("idle", 0) for x in sinks)
    est = max(1, res["established"])
    res["snid_rss_base_kib"] = base_rss
    res["snid_rss_held_kib"] = held_rss
    res["snid_rss_anon_held_kib"] = held_anon
    res["rss_per_conn_bytes"] = sum(h - b for h, b in zip(held_rss, base_rss)) * 1024 / est
    res["snid_fds_base"] = base_fds
    res["snid_fds_held"] = held_fds
    res["fds_per_conn"] = sum(h - b for h, b in zip(held_fds, base_fds)) / est
    m0, m1 = k0["meminfo"], k1["meminfo"]
    res["kernel"] = {
        "slab_per_conn_bytes": (m1["Slab"] - m0["Slab"]) * 1024 / est,
        "sunreclaim_per_conn_bytes": (m1["SUnreclaim"] - m0["SUnreclaim"]) * 1024 / est,
        "used_per_conn_bytes": ((m0["MemAvailable"] - m1["MemAvailable"]) * 1024) / est,
        "tcp_mem_pages": [k0["sockstat"].get("mem"), k1["sockstat"].get("mem")],
        "tcp_inuse": [k0["sockstat"].get("inuse"), k1["sockstat"].get("inuse")],
        "slab_top_per_conn_bytes": dict(sorted(
            ((c, (k1["slab"].get(c, 0) - k0["slab"].get(c, 0)) / est)
             for c in k1["slab"]), key=lambda x: -x[1])[:12]),
    }
    log(f"idle100k: snid RSS {res['rss_per_conn_bytes']:.0f} B/conn, "
        f"SUnreclaim {res['kernel']['sunreclaim_per_conn_bytes']:.0f} B/conn")

    res["latency_held"] = probe(shards, a.probe_n, a.probe_conc)
    log(f"idle100k: latency while held {res['latency_held']['p50_us']} µs p50, "
        f"{res['latency_held']['p99_us_max']} µs p99 (max over shards)")
    res["still_held_before_term"] = sum(
        r.get("held", 0) for r in command([s.hold for s in shards], "status", 10))

    # SIGTERM: every held connection must be closed within the bound.
    for s in shards:
        s.hold.stdin.write(f"watch {a.shutdown_timeout + 20}\n".encode())
        s.hold.stdin.flush()
    time.sleep(0.5)
    t_term = time.monotonic()
    for s in shards:
        s.snid.send_signal(signal.SIGTERM)
    exits = []
    for s in shards:
        try:
            rc = s.snid.wait(timeout=max(1.0, t_term + a.shutdown_timeout + 15 - time.monotonic()))
            exits.append((rc, time.monotonic() - t_term))
        except subprocess.TimeoutExpired:
            exits.append((None, None))
    watched = [kv(readline(s.hold, a.shutdown_timeout + 25)) for s in shards]
    time.sleep(0.5)
    sinks = [s.sink_stats() for s in shards]
    last = max((w.get("last_close_mono", 0) for w in watched), default=0)
    res["term"] = {
        "exit_codes": [e[0] for e in exits],
        "exit_seconds_max": max((e[1] for e in exits if e[1] is not None), default=None),
        "exit_seconds": [e[1] for e in exits],
        "closed": sum(w.get("closed", 0) for w in watched),
        "closed_eof": sum(w.get("eof", 0) for w in watched),
        "closed_reset": sum(w.get("reset", 0) for w in watched),
        "still_open": sum(w.get("still", 0) for w in watched),
        "last_close_seconds": (last - t_term) if last else None,
        "sink_open_after": sum(x.get("open", 0) for x in sinks),
        "snid_stderr": [s.err(f"snid{s.k}")[-300:] for s in shards][:3],
    }
    t = res["term"]
    log(f"idle100k: SIGTERM: exits {set(t['exit_codes'])} after {t['exit_seconds_max']} s, "
        f"{t['closed']} closed ({t['closed_eof']} EOF, {t['closed_reset']} RST), "
        f"{t['still_open']} still open, sink open {t['sink_open_after']}")
    return res


def report(res):
    k = res["kernel"]
    L = [f"idle100k {res['date']}: {res['cpu']}, {res['cpus']} CPUs, Linux {res['linux']}, "
         f"load {' '.join(res['loadavg'])}",
         f"  {res['established']}/{res['n']} established in {res['open_seconds']:.1f} s through "
         f"{res['shards']} snid(s) of {res['per_shard']} (hard nofile {res['nofile_hard']})",
         f"  snid RSS per connection: {res['rss_per_conn_bytes']:.0f} B; fds per connection "
         f"{res['fds_per_conn']:.2f}",
         f"  kernel per proxied connection (4 sockets): Slab {k['slab_per_conn_bytes']:.0f} B, "
         f"SUnreclaim {k['sunreclaim_per_conn_bytes']:.0f} B, MemAvailable drop "
         f"{k['used_per_conn_bytes']:.0f} B (includes all processes' RSS)",
         "  slab caches per connection: " + ", ".join(
             f"{c} {v:.0f}" for c, v in k["slab_top_per_conn_bytes"].items() if v > 8),
         f"  new connections, socket() to the backend's ack: empty p50 "
         f"{res['latency_empty']['p50_us']} µs p99 {res['latency_empty']['p99_us_max']} µs; "
         f"with all held p50 {res['latency_held']['p50_us']} µs p99 "
         f"{res['latency_held']['p99_us_max']} µs max {res['latency_held']['max_us']} µs "
         f"({res['latency_held']['ok']} ok, {res['latency_held']['fail']} failed)",
         f"  SIGTERM (-shutdown-timeout {res['shutdown_timeout']}): {res['term']['closed']} closed "
         f"({res['term']['closed_eof']} EOF, {res['term']['closed_reset']} RST), last after "
         f"{res['term']['last_close_seconds']} s, snid exited {res['term']['exit_codes'][:4]} "
         f"after {res['term']['exit_seconds_max']} s, {res['term']['still_open']} left open, "
         f"sink open {res['term']['sink_open_after']}"]
    return "\n".join(L)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=100000, help="idle connections to hold")
    ap.add_argument("--shards", type=int, default=0,
                    help="snid processes (default: as few as the hard open-file limit allows)")
    ap.add_argument("--names", type=int, default=4, help="backend addresses (names)")
    ap.add_argument("--sources", type=int, default=8, help="client source addresses per shard")
    ap.add_argument("--conc", type=int, default=128, help="connections opening at a time per shard")
    ap.add_argument("--open-seconds", type=float, default=300)
    ap.add_argument("--probe-n", type=int, default=2000,
                    help="new connections timed, with none and with all held")
    ap.add_argument("--probe-conc", type=int, default=1)
    ap.add_argument("--shutdown-timeout", type=int, default=5)
    ap.add_argument("--base-port", type=int, default=20000)
    ap.add_argument("--snid", default=os.path.join(ROOT, "snid"))
    ap.add_argument("--snid-args", default="")
    ap.add_argument("--json", default=os.path.join(BUILD, "idle100k.json"))
    ap.add_argument("--keep", action="store_true", help="keep the logs' directory")
    ap.add_argument("--in-netns", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("idle100k: needs root (a network namespace, sysctls in it)")
    os.makedirs(BUILD, exist_ok=True)
    if not a.in_netns:
        for prog in ("holdconn", "sink"):
            subprocess.run(["cc", "-std=c11", "-O2", "-g", "-Wall", "-Wextra", "-o",
                            os.path.join(BUILD, prog), os.path.join(BENCH, prog + ".c")],
                           check=True)
        os.execvp("unshare", ["unshare", "--net", "--", sys.executable,
                              os.path.abspath(__file__), "--in-netns"] + sys.argv[1:])

    def on_signal(signum, frame):
        raise SystemExit(f"signal {signum}")
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    tmp = tempfile.mkdtemp(prefix="snid-idle100k.")
    try:
        res = main_inside(a, tmp)
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
        print(report(res))
        t = res["term"]
        ok = (res["established"] == a.n and t["still_open"] == 0 and t["sink_open_after"] == 0
              and all(c == 0 for c in t["exit_codes"]))
        log(f"idle100k: wrote {a.json}; {'ok' if ok else 'NOT CLEAN'}")
        return 0 if ok else 1
    finally:
        stop_all("idle100k")
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log(f"idle100k: kept {tmp}")


if __name__ == "__main__":
    sys.exit(main())
