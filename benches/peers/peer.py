#!/usr/bin/env python3
"""The ten checks of checks/host.rhai as a plain Python script, one after another with
subprocess, as a hand-written healthcheck would: the fair peer of benches/peers/run.py. Prints
{id: "pass" | "fail"} as JSON."""
import json
import os
import socket
import stat
import subprocess


def char_device(path):
    try:
        return stat.S_ISCHR(os.stat(path).st_mode)
    except OSError:
        return False


def runs(argv):
    try:
        return subprocess.run(argv, capture_output=True, timeout=30).returncode == 0
    except OSError:
        return False


def listens(port):
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    # local address HEX:PORT, state 0A = LISTEN
                    if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except OSError:
            pass
    return False


def is_socket(path):
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def cpu_virt():
    with open("/proc/cpuinfo") as f:
        text = f.read()
    return "vmx" in text or "svm" in text


results = {
    "p.kvm": char_device("/dev/kvm"),
    "p.tun": char_device("/dev/net/tun"),
    "p.containerd": runs(["containerd", "--version"]),
    "p.dmsetup": runs(["dmsetup", "version"]),
    "p.systemctl": runs(["systemctl", "--version"]),
    "p.cpu": cpu_virt(),
    "p.hostname": socket.gethostname() != "",
    "p.disk": os.statvfs("/").f_bavail > 0,
    "p.port": listens(9090),
    "p.socket": is_socket("/run/containerd/containerd.sock"),
}
print(json.dumps({k: "pass" if v else "fail" for k, v in results.items()}))
