#!/usr/bin/env python3
"""DNS guard for the test run (scripts/test.sh): answers every query on 127.0.0.9:53 with
REFUSED and records the name asked, one per line, in the file given. The tests run with an
/etc/resolv.conf that points here, so a test whose hostscript (or anything else) looks up a
public name fails the run, naming it, instead of reaching the network."""
import socket
import sys

log = open(sys.argv[1], "a", buffering=1)
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.9", 53))
while True:
    data, peer = sock.recvfrom(4096)
    if len(data) < 12:
        continue
    labels, i = [], 12
    while i < len(data) and data[i] and len(labels) < 128:
        n = data[i]
        labels.append(data[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    log.write(".".join(labels) + "\n")
    # The header with QR set and RCODE 5 (REFUSED): the resolver gives up at once.
    reply = bytearray(data)
    reply[2] |= 0x80
    reply[3] = (reply[3] & 0xF0) | 5
    sock.sendto(bytes(reply), peer)
