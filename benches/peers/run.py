#!/usr/bin/env python3
"""The peer comparison: the same ten host checks (checks/host.rhai) run by hostscript and by a
plain Python subprocess script (peer.py), on this machine. First both must give the same
verdicts; then they run alternated for ROUNDS rounds (default 21) and the medians and their
ratio are printed. Usage: python3 benches/peers/run.py [HOSTSCRIPT_BINARY]
(default target/release/hostscript; build it with cargo build --release)."""
import json
import os
import statistics
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "../../target/release/hostscript")
rounds = int(os.environ.get("ROUNDS", "21"))
ours = [binary, "run", os.path.join(here, "checks"), "-q"]
peer = [sys.executable, os.path.join(here, "peer.py")]

report = json.loads(subprocess.run(ours[:-1] + ["--format", "json"], capture_output=True, text=True).stdout)
verdicts = {c["id"]: c["status"] for c in report["checks"]}
theirs = json.loads(subprocess.run(peer, capture_output=True, text=True, check=True).stdout)
if verdicts != theirs:
    sys.exit(f"the two disagree, so the comparison would not be fair:\nhostscript {verdicts}\npython     {theirs}")

times = {"hostscript": [], "python": []}
for _ in range(rounds):
    for name, argv in (("hostscript", ours), ("python", peer)):
        started = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times[name].append(time.perf_counter() - started)
median = {k: statistics.median(v) * 1000 for k, v in times.items()}
print(f"same verdicts on all 10 checks: {sum(v == 'pass' for v in verdicts.values())} pass here")
print(f"hostscript {median['hostscript']:.1f} ms, python subprocess script {median['python']:.1f} ms "
      f"(median of {rounds} alternated rounds): hostscript takes {median['hostscript'] / median['python']:.2f}x")
