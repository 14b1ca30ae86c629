#!/usr/bin/env bash
# The fleet benchmark: deploy/ansible's check.yml against HOSTS simulated hosts (default 50,
# tests/fixtures/fleet/fleet.sh: each a network namespace with its own sshd, host name and
# /etc, /usr, /var), with forks 10 and forks 50 alternated for ROUNDS rounds (default 5). For each
# run: the playbook's wall time, the sum of hostscript's own run durations (each report's
# duration_ms), and what is left: Ansible's overhead (ssh, module transfer, Python on both
# ends, the fetch and the merge). Needs root, openssh-server, and what scripts/test.sh sets up
# (the ansible-core wheels in target/ansible-wheels, cargo-deb).
#   sudo benches/fleet.sh            # about 10 minutes on 2 cores
#   HOSTS=20 ROUNDS=3 benches/fleet.sh
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
hosts=${HOSTS:-50}
rounds=${ROUNDS:-5}

work=$(mktemp -d /tmp/hostscript-fleet-bench.XXXXXX)
trap 'tests/fixtures/fleet/fleet.sh down "$work"; rm -rf "$work"' EXIT

cargo build --release --locked --quiet --bin hostscript
deb=$(cargo deb --locked --no-build 2>/dev/null | tail -n1)
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --no-index --find-links target/ansible-wheels ansible-core

tests/fixtures/fleet/fleet.sh up "$work" "$hosts"
ctl=$(cat "$work/ctl")
mkdir -p "$work/group_vars"
cat > "$work/group_vars/all.yml" <<EOF
hostscript_install: package
hostscript_deb: $deb
hostscript_controller_bin: $repo/target/release/hostscript
hostscript_reports: $work/reports
# The whole shipped suite, as an operator runs it; no registry probes (no network but the fleet's).
hostscript_vars:
  network_mode: macvtap
  parent_iface: uplink0
  check_registries: false
EOF

playbook() {
    ip netns exec "$ctl" env ANSIBLE_CONFIG="$repo/deploy/ansible/ansible.cfg" \
        ANSIBLE_HOME="$work/ansible-home" ANSIBLE_LOCAL_TEMP="$work/ansible-tmp" \
        "$work/venv/bin/ansible-playbook" -i "$work/inventory.yml" "$@"
}

start=$(date +%s.%N)
(cd deploy/ansible && playbook install.yml --forks 50 > "$work/install.log")
end=$(date +%s.%N)
echo "install.yml, $hosts hosts, forks 50: $(echo "$end - $start" | bc) s (package copied and installed on every host)"

echo "round forks wall_s hostscript_sum_s hostscript_mean_ms ansible_overhead_s hostscript_share"
for ((round = 1; round <= rounds; round++)); do
    for forks in 10 50; do
        start=$(date +%s.%N)
        (cd deploy/ansible && playbook check.yml --forks "$forks" > "$work/check.log") || {
            tail -n 40 "$work/check.log" >&2
            exit 1
        }
        end=$(date +%s.%N)
        # hostscript's own time on every host, from the reports the playbook fetched. With F
        # forks at most F hosts run at once, so hostscript accounts for sum/min(F, hosts) of the
        # wall time at best; the rest is Ansible's.
        python3 - "$work/reports" "$hosts" "$forks" "$start" "$end" "$round" <<'PY'
import json, pathlib, sys
reports, hosts, forks, start, end, rnd = sys.argv[1:]
durations = [json.loads(p.read_text())["duration_ms"] for p in pathlib.Path(reports).glob("*.json")]
if len(durations) != int(hosts):
    sys.exit(f"only {len(durations)} of {hosts} reports")
wall = float(end) - float(start)
total = sum(durations) / 1000
lanes = min(int(forks), int(hosts))
part = total / lanes
print(f"{rnd} {forks} {wall:.2f} {total:.2f} {1000 * total / len(durations):.0f} {wall - part:.2f} {part / wall:.1%}")
PY
    done
done
