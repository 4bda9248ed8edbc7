#!/usr/bin/env python3
"""tests/deb/restart_load.py: what clients see while snid restarts (issue 12).

  restart_load.py backend CERT KEY PORT
      A TLS backend on [::1]:PORT: "GET /long" is answered with a line every
      100 ms for LONG seconds then "END"; anything else with one line.
  restart_load.py client SECONDS LONG_SECONDS CMD...
      Through snid on 127.0.0.1:443 (SNI backend.test): 50 long transfers
      and one new TLS connection every 5 ms for SECONDS; CMD (e.g.
      systemctl restart snid) runs once, 2 s in.  Prints one line:
      short=N refused=N reset=N failed=N long_ok=N long_cut=N
      cmd_s=F max_setup_ms_during=F (N conns) max_setup_ms_before=F
      and exits 0 when nothing was refused,
      reset, failed or cut.
"""
import socket, ssl, subprocess, sys, threading, time


def backend(cert, key, port):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("::1", int(port)))
    ls.listen(1024)

    def serve(c):
        try:
            s = ctx.wrap_socket(c, server_side=True)
            req = s.recv(1024)
            if req.startswith(b"GET /long/"):
                n = int(req.split(b"/")[2]) * 10
                for i in range(n):
                    s.sendall(b"tick %d\n" % i)
                    time.sleep(0.1)
                s.sendall(b"END\n")
            else:
                s.sendall(b"hello\n")
            s.close()
        except (OSError, ssl.SSLError):
            pass

    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def client(seconds, long_s, cmd):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    st = dict(short=0, refused=0, reset=0, failed=0, long_ok=0, long_cut=0)
    lat = []
    lock = threading.Lock()

    def count(k):
        with lock:
            st[k] += 1

    t0s = {}

    def one(path):
        t0s[threading.get_ident()] = time.monotonic()
        c = socket.create_connection(("127.0.0.1", 443), timeout=30)
        s = ctx.wrap_socket(c, server_hostname="backend.test")
        s.sendall(b"GET " + path + b" HTTP/1.0\r\n\r\n")
        first = s.recv(64)
        dt = time.monotonic() - t0s[threading.get_ident()]
        data = first
        while True:
            b = s.recv(4096)
            if not b:
                break
            data += b
        s.close()
        return dt, data

    def short():
        t0 = time.monotonic()
        try:
            dt, data = one(b"/")
            if data != b"hello\n":
                raise OSError("got %r" % data[:40])
            with lock:
                st["short"] += 1
                lat.append((t0, dt))
        except ConnectionRefusedError:
            count("refused")
        except ConnectionResetError:
            count("reset")
        except (OSError, ssl.SSLError) as e:
            count("failed")
            print("short: %s" % e, file=sys.stderr)

    def long():
        try:
            _, data = one(b"/long/%d/" % long_s)
            count("long_ok" if data.endswith(b"END\n") else "long_cut")
        except (OSError, ssl.SSLError) as e:
            count("long_cut")
            print("long: %s" % e, file=sys.stderr)

    longs = [threading.Thread(target=long) for _ in range(50)]
    for t in longs:
        t.start()
    cmd_s = [0.0, 0.0]

    def run_cmd():
        time.sleep(2)
        t0 = time.monotonic()
        subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL)
        cmd_s[0] = t0
        cmd_s[1] = time.monotonic() - t0

    ct = threading.Thread(target=run_cmd)
    ct.start()
    shorts = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t = threading.Thread(target=short)
        t.start()
        shorts.append(t)
        time.sleep(0.005)
    for t in shorts + longs + [ct]:
        t.join()
    # The longest setup (connect to first byte from the backend, through
    # snid: DNS and the backend's TLS included) of the connections begun
    # while CMD ran, and of those before it (the machine's own noise).
    during = [dt for t, dt in lat if cmd_s[0] <= t <= cmd_s[0] + cmd_s[1]]
    before = [dt for t, dt in lat if t < cmd_s[0]]
    print("short=%(short)d refused=%(refused)d reset=%(reset)d "
          "failed=%(failed)d long_ok=%(long_ok)d long_cut=%(long_cut)d" % st
          + " cmd_s=%.2f max_setup_ms_during=%.0f (%d conns)"
          " max_setup_ms_before=%.0f" % (
              cmd_s[1], 1000 * max(during or [0]), len(during),
              1000 * max(before or [0])))
    bad = st["refused"] + st["reset"] + st["failed"] + st["long_cut"]
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    if sys.argv[1] == "backend":
        backend(*sys.argv[2:5])
    else:
        sys.exit(client(float(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]))
