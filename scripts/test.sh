#!/usr/bin/env bash
# The whole test suite, from a fresh machine of this kind (Debian with the Rust toolchain):
# installs the system packages the tests use, then checks formatting, lints and runs every
# test. `.ci/run` calls exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."

need_packages=()
command -v ip >/dev/null 2>&1 || need_packages+=(iproute2)
command -v dmsetup >/dev/null 2>&1 || need_packages+=(dmsetup)
command -v systemctl >/dev/null 2>&1 || need_packages+=(systemd)
# Tests of unit semantics run a real systemd user manager, which needs its D-Bus socket unit.
[ -f /usr/lib/systemd/user/dbus.socket ] || need_packages+=(dbus-user-session)
command -v containerd >/dev/null 2>&1 || need_packages+=(containerd)
command -v python3 >/dev/null 2>&1 || need_packages+=(python3)
command -v setpriv >/dev/null 2>&1 || need_packages+=(util-linux)
command -v setfacl >/dev/null 2>&1 || need_packages+=(acl)
command -v prometheus >/dev/null 2>&1 || need_packages+=(prometheus)
# tests/package.rs asks man where the installed pages are.
command -v man >/dev/null 2>&1 || need_packages+=(man-db)
getent group nogroup >/dev/null 2>&1 || need_packages+=(base-passwd)
# The Ansible test gives each simulated host its own sshd.
[ -x /usr/sbin/sshd ] || need_packages+=(openssh-server)
# Ansible's apt module on those hosts runs Debian's python3 with python3-apt.
/usr/bin/python3 -c 'import apt' >/dev/null 2>&1 || need_packages+=(python3-apt)
if ((${#need_packages[@]})); then
    echo "scripts/test.sh: installing ${need_packages[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_packages[@]}" >/dev/null
fi

# tests/package.rs builds the Debian package (pinned: the test reads its output).
command -v cargo-deb >/dev/null 2>&1 || cargo install --locked --quiet cargo-deb@3.8.0

# tests/fleet.rs installs ansible-core from these wheels into a venv of its own, offline: the
# tests themselves reach no network but loopback and their own namespaces.
if [ ! -d target/ansible-wheels ]; then
    python3 -m pip download --quiet --dest target/ansible-wheels.partial ansible-core==2.19.14
    mv target/ansible-wheels.partial target/ansible-wheels
fi

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# Tests that need root, or this kind of machine (no device-mapper, systemd not PID 1), are
# #[ignore]d so a plain `cargo test` passes for a contributor and lists them; here they run.
# They run in network and mount namespaces of their own: only loopback, and the namespaces the
# tests make themselves, can be reached, so no test can touch another address even by
# mistake; and /etc/resolv.conf points at a DNS guard that refuses and records every query,
# so a name looked up fails the run, named (scripts/dns-guard.py).
guard=$(mktemp -d)
trap 'rm -rf "$guard"' EXIT
printf 'nameserver 127.0.0.9\noptions attempts:1 timeout:1\n' > "$guard/resolv.conf"
: > "$guard/queries"
unshare -m -n --propagation private sh -c '
    set -e
    ip link set lo up
    mount --bind "$1/resolv.conf" /etc/resolv.conf
    python3 scripts/dns-guard.py "$1/queries" &
    guard_pid=$!
    sleep 0.3 # bound before the first test asks
    status=0
    cargo test --locked -- --include-ignored || status=$?
    kill "$guard_pid" 2>/dev/null || true
    exit "$status"
' sh "$guard"
# The shipped suite's verdict scenarios, answered from recorded and hand-written hosts
# (tests/hosts/*.test.toml; tests/host_data.rs also runs them).
cargo run --locked --quiet -- test tests/hosts/
if [ -s "$guard/queries" ]; then
    echo "scripts/test.sh: tests looked up names outside loopback and their namespaces:" >&2
    sort -u "$guard/queries" | sed 's/^/  /' >&2
    exit 1
fi
