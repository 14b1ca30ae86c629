//! What the process benchmarks share: generated check trees, and one whole-process measurement
//! (wall time and the child's peak RSS from wait4), so every figure is taken the same way.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Writes `files` scripts with `per_file` trivial checks each.
pub fn generate(dir: &Path, files: usize, per_file: usize) -> PathBuf {
    let root = dir.join(format!("checks-{files}x{per_file}"));
    std::fs::create_dir_all(&root).expect("mkdir");
    for f in 0..files {
        let mut text = String::from("//! generated\n");
        for c in 0..per_file {
            text.push_str(&format!(
                "check(#{{ id: \"gen.{f}.{c}\", description: \"trivial\", tags: [\"bench\"], run: || pass(\"ok\") }});\n"
            ));
        }
        std::fs::write(root.join(format!("f{f:03}.rhai")), text).expect("write");
    }
    root
}

/// Runs `program ARGS` once, output discarded; returns wall time and the child's peak RSS (KiB).
#[allow(unsafe_code)] // wait4 for the child's rusage: see the SAFETY comment
pub fn measure(program: &Path, args: &[String]) -> (Duration, i64) {
    let started = Instant::now();
    let child = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", program.display()));
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: `rusage` is plain old data that wait4 fills in; `pid` is our own child, which
    // std's `Child` will not wait for again because we forget it without calling `wait`.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let elapsed = started.elapsed();
    assert_eq!(waited, pid, "wait4 failed");
    std::mem::forget(child);
    (elapsed, usage.ru_maxrss)
}

pub fn median<T: Copy + Ord>(values: &[T]) -> T {
    let mut sorted = values.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

/// The hostscript binary the benchmark measures.
pub fn hostscript() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hostscript"))
}

/// Rounds of a side-by-side bench: `HOSTSCRIPT_BENCH_ROUNDS`, else `default`.
pub fn rounds(default: usize) -> usize {
    std::env::var("HOSTSCRIPT_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(default)
}
