#!/usr/bin/env python3
"""Capture real DNS responses from dnsmasq, as raw bytes (tests/data/dnsanswer).

Usage: tests/capture_dnsanswer.py OUTDIR

Runs dnsmasq (authoritative for example.test, with --host-record and
--srv-host records) on 127.0.0.1 on a free high port, asks it each question
below over UDP and saves each response to OUTDIR/NAME.bin.  dnsmasq is
stopped by its PID.  The message ids are random, so a new capture differs
from the committed one in its first two bytes.
"""
import os
import random
import socket
import struct
import subprocess
import sys
import time

QUESTIONS = [
    ('aaaa', 'www.example.test', 28),
    ('aaaa-multi', 'multi.example.test', 28),
    ('a', 'www.example.test', 1),
    ('a-multi', 'multi.example.test', 1),
    ('cname-aaaa', 'alias.example.test', 28),
    ('srv', '_xmpps-client._tcp.example.test', 33),
    ('srv-dot', '_imaps._tcp.example.test', 33),
    ('nxdomain-soa', 'nothere.example.test', 28),
    ('nodata-aaaa', 'v4only.example.test', 28),
    ('nodata-srv', 'www.example.test', 33),
]

ARGS = [
    '--auth-server=ns.example.test,127.0.0.1', '--auth-zone=example.test',
    '--auth-soa=2026120401,hostmaster.example.test',
    '--host-record=www.example.test,192.0.2.10,2001:db8::10',
    '--host-record=multi.example.test,192.0.2.11,2001:db8::11',
    '--host-record=multi.example.test,192.0.2.12,2001:db8::12',
    '--host-record=multi.example.test,2001:db8::13',
    '--host-record=v4only.example.test,192.0.2.20',
    '--cname=alias.example.test,www.example.test',
    '--srv-host=_xmpps-client._tcp.example.test,xmpp1.example.test,5223,10,60',
    '--srv-host=_xmpps-client._tcp.example.test,xmpp2.example.test,5223,10,20',
    '--srv-host=_xmpps-client._tcp.example.test,xmpp3.example.test,443,10,0',
    '--srv-host=_xmpps-client._tcp.example.test,backup.example.test,5223,20,0',
    '--srv-host=_imaps._tcp.example.test',
]


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def ask(port, name, qtype):
    hdr = struct.pack('>HHHHHH', random.randrange(65536), 0x0100, 1, 0, 0, 0)
    qn = b''.join(bytes([len(l)]) + l.encode() for l in name.split('.'))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.sendto(hdr + qn + b'\0' + struct.pack('>HH', qtype, 1),
             ('127.0.0.1', port))
    return s.recv(4096)


def main():
    out = sys.argv[1]
    port = free_port()
    dm = subprocess.Popen(['dnsmasq', '-k', '-C', '/dev/null', '-p', str(port),
                           '--listen-address=127.0.0.1', '--bind-interfaces',
                           '--no-resolv', '--no-hosts', '--pid-file='] + ARGS)
    try:
        time.sleep(1)
        for fn, name, qtype in QUESTIONS:
            r = ask(port, name, qtype)
            with open(os.path.join(out, fn + '.bin'), 'wb') as f:
                f.write(r)
            print(fn, len(r), 'bytes, rcode', r[3] & 15, 'answers', r[7])
    finally:
        dm.terminate()
        dm.wait(5)


if __name__ == '__main__':
    main()
