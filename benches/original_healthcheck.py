#!/usr/bin/env python3
"""The original bootstrap healthcheck, reconstructed for benchmarks only.

test/e2e/bootstrap-healthcheck.py (microscaler @ 853d12b) is not on this machine; this script
follows its description in ../shared/FLINTLOCK_FACTS.md section 1.2: the same eleven checks in
the same order, the same subprocess calls (capture_output, text, timeout=30), the same flags
and output. It keeps the original's flaws on purpose (substring matches, tag-stripped image
matching, R_OK only on /dev/kvm); `cargo bench --bench suite` times it against hostscript.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9090)
    p.add_argument("--containerd-socket", default="/run/containerd-dev/containerd.sock")
    p.add_argument("--parent-iface", default=os.environ.get("FLINTLOCK_PARENT_IFACE", ""))
    p.add_argument("--root-image", default="ghcr.io/liquidmetal-dev/capmvm-kubernetes:1.23.10")
    p.add_argument("--kernel-image", default="ghcr.io/liquidmetal-dev/flintlock-kernel:5.10.77")
    p.add_argument("--json", action="store_true")
    p.add_argument("--skip-root-only", action="store_true")
    a = p.parse_args()
    remote = a.host != "127.0.0.1"
    skip_root = a.skip_root_only or remote
    checks = []

    def add(name, ok, message):
        checks.append({"check": name, "ok": ok, "message": message})

    def unit(name):
        if remote:
            return add(name + ".service", True, "skipped (remote)")
        r = run(["systemctl", "is-active", "--quiet", name])
        add(name + ".service", r.returncode == 0,
            "active" if r.returncode == 0 else (r.stdout or r.stderr or "inactive").strip())

    unit("containerd-dev")
    if remote:
        add("containerd-dev.socket", True, "skipped (remote)")
    else:
        s = a.containerd_socket
        ok = os.path.exists(s) and not os.path.isdir(s)
        add("containerd-dev.socket", ok, "socket exists" if ok else s + " missing")
    unit("flintlockd")
    try:
        socket.create_connection((a.host, a.port), timeout=5).close()
        add("flintlock.port", True, "%s:%d reachable" % (a.host, a.port))
    except OSError as e:
        add("flintlock.port", False, str(e))
    if skip_root:
        add("devmapper.thinpool", True, "skipped (--skip-root-only or remote)")
        add("containerd.images", True, "skipped (--skip-root-only or remote)")
    else:
        r = run(["dmsetup", "ls"])
        ok = "flintlock-dev-thinpool" in r.stdout
        add("devmapper.thinpool", ok, "thinpool 'flintlock-dev-thinpool' present" if ok
            else "flintlock-dev-thinpool not in dmsetup ls (run as root)")
        r = run(["ctr", "-a", a.containerd_socket, "-n", "flintlock", "images", "ls", "-q"])
        missing = [i for i in (a.root_image, a.kernel_image)
                   if not (i in r.stdout or any(i.split(":")[0] in line for line in r.stdout.splitlines()))]
        add("containerd.images", not missing, "images present" if not missing else "missing: " + ", ".join(missing))
    if remote:
        for name in ("kvm", "firecracker", "macvlan", "parent_interface"):
            add(name, True, "skipped (remote)")
    else:
        ok = os.path.exists("/dev/kvm") and os.access("/dev/kvm", os.R_OK)
        add("kvm", ok, "/dev/kvm readable" if ok else "/dev/kvm missing or not readable")
        fc = shutil.which("firecracker")
        if fc:
            r = run([fc, "--version"])
            add("firecracker", r.returncode == 0, r.stdout.strip() or r.stderr.strip())
        else:
            add("firecracker", False, "firecracker not in PATH")
        try:
            r = run(["lsmod"])
            out = r.stdout
        except OSError:
            out = ""
        ok = "macvlan" in out
        add("macvlan", ok, "macvlan loaded" if ok else "macvlan not loaded (modprobe macvlan)")
        if not a.parent_iface:
            add("parent_interface", True, "skipped (no --parent-iface)")
        else:
            r = run(["ip", "link", "show", a.parent_iface])
            if r.returncode != 0:
                add("parent_interface", False, a.parent_iface + " not found")
            else:
                ok = "state UP" in r.stdout or "state UNKNOWN" in r.stdout
                add("parent_interface", ok, a.parent_iface + " is UP" if ok else
                    a.parent_iface + " exists but not UP (connect cable or ip link set %s up)" % a.parent_iface)
    if shutil.which("grpcurl"):
        r = run(["grpcurl", "-plaintext", "%s:%d" % (a.host, a.port), "list"])
        ok = "microvm.services.api.v1alpha1.MicroVM" in r.stdout
        add("grpcurl.list", ok, "MicroVM service listed" if ok else (r.stdout + r.stderr).strip())
    else:
        add("grpcurl.list", True, "skip (grpcurl not installed)")
    overall = all(c["ok"] for c in checks)
    if a.json:
        print(json.dumps({"ok": overall, "checks": checks}, indent=2))
    else:
        for c in checks:
            print("  [%s] %s: %s" % ("PASS" if c["ok"] else "FAIL", c["check"], c["message"]))
        print("\nOverall: %s" % ("PASS" if overall else "FAIL"))
    sys.exit(0 if overall else 1)


if __name__ == "__main__":
    main()
