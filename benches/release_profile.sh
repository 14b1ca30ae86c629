#!/bin/sh
# Re-run with: sh benches/release_profile.sh (about 10 minutes on 2 cores; builds in /tmp/relm).
# Clean release builds of hostscript under three profiles (each set in full, whatever Cargo.toml says), one after another on this machine:
# wall time of the build, binary size, and the mean wall time of 30 runs of a small check dir.
set -u
cd "$(dirname "$0")/.."
mkdir -p /tmp/relm/c
cat > /tmp/relm/c/a.rhai <<'R'
check(#{ id: "a.one", description: "x", run: || pass(sys::hostname()) });
check(#{ id: "a.two", description: "x", run: || { let l = net::listeners(); pass(`${l.len()}`) } });
R
for cfg in "default:CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_STRIP=none:" "thin:CARGO_PROFILE_RELEASE_LTO=thin CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_STRIP=none:" "fat+cgu1:CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 CARGO_PROFILE_RELEASE_STRIP=none:"; do
  name=${cfg%%:*}; rest=${cfg#*:}; envs=${rest%%:*}
  dir=/tmp/relm/t-$name
  rm -rf "$dir"
  start=$(date +%s.%N)
  env $envs CARGO_TARGET_DIR=$dir cargo build --release --locked --quiet --bin hostscript >/dev/null 2>&1 || { echo "$name: build failed"; continue; }
  end=$(date +%s.%N)
  size=$(stat -c %s $dir/release/hostscript); cp $dir/release/hostscript $dir/stripped; strip $dir/stripped; ssize=$(stat -c %s $dir/stripped)
  rs=$(date +%s.%N)
  i=0; while [ $i -lt 30 ]; do $dir/release/hostscript run /tmp/relm/c -q >/dev/null 2>&1; i=$((i+1)); done
  re=$(date +%s.%N)
  echo "$name build_s=$(echo "$end - $start" | bc) size_bytes=$size stripped_bytes=$ssize run_ms=$(echo "($re - $rs) * 1000 / 30" | bc)"
done
