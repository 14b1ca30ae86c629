//! `cargo bench --bench jobs`: what a large `--jobs` costs now that workers are bounded by the
//! number of checks and by `limits::MAX_JOBS` (issue 23: `--jobs 16000` with 3 checks took
//! 1.8 s and 165 MB, and `--jobs 16365` aborted). Three trivial checks, `--jobs 1000` against
//! `--jobs 2`, alternated round by round (21 rounds unless HOSTSCRIPT_BENCH_ROUNDS), medians of
//! wall time and peak RSS, printed as a Markdown table (docs/BENCHMARKS.md, "--jobs").

// The shared helpers; this bench needs only some of them.
#[allow(dead_code)]
mod common;

use std::time::Duration;

use common::{hostscript, measure, median};

fn main() {
    let rounds = common::rounds(21);
    let dir = tempfile::tempdir().expect("tempdir");
    let checks = dir.path().join("c");
    std::fs::create_dir_all(&checks).expect("mkdir");
    for id in ["a", "b", "c"] {
        std::fs::write(
            checks.join(format!("{id}.rhai")),
            format!("check(#{{ id: \"{id}\", description: \"{id}\", run: || pass(\"ok\") }});\n"),
        )
        .expect("write check");
    }
    let program = hostscript();
    let cases = ["2", "1000"];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); cases.len()];
    let mut rss: Vec<Vec<i64>> = vec![Vec::new(); cases.len()];
    for _ in 0..rounds {
        for (i, jobs) in cases.iter().enumerate() {
            let args: Vec<String> = [
                "run",
                checks.to_str().expect("utf-8"),
                "--format",
                "json",
                "--jobs",
                jobs,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            let (t, r) = measure(&program, &args);
            times[i].push(t);
            rss[i].push(r);
        }
    }
    println!("| 3 trivial checks | median wall time | median peak RSS |");
    println!("|---|---|---|");
    for (i, jobs) in cases.iter().enumerate() {
        println!(
            "| `--jobs {jobs}` | {:.1} ms | {:.1} MiB |",
            median(&times[i]).as_secs_f64() * 1000.0,
            median(&rss[i]) as f64 / 1024.0
        );
    }
    let ratio = median(&times[1]).as_secs_f64() / median(&times[0]).as_secs_f64();
    let mem = median(&rss[1]) as f64 / median(&rss[0]) as f64;
    println!(
        "\n`--jobs 1000` / `--jobs 2`: {ratio:.2}x the time, {mem:.2}x the memory ({rounds} rounds, alternated)"
    );
}
