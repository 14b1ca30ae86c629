//! `cargo bench --bench state`: what remembering runs costs. The same generated trees (1 and
//! 1,000 trivial checks), alternated round by round without state and with `--state` (a file
//! that already holds every check's 20 last statuses, as on a host after a day of the timer):
//! wall time and peak RSS medians, and the state file's size, for docs/BENCHMARKS.md.

#[allow(dead_code)]
mod common;

use std::time::Duration;

fn main() {
    let rounds = common::rounds(11);
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = common::hostscript();
    for (files, per_file) in [(1, 1), (100, 10)] {
        let tree = common::generate(dir.path(), files, per_file);
        let state = dir.path().join(format!("state-{files}x{per_file}.json"));
        let plain: Vec<String> = vec![
            "run".into(),
            tree.display().to_string(),
            "--format".into(),
            "json".into(),
        ];
        let mut remembering = plain.clone();
        remembering.extend(["--state".into(), state.display().to_string()]);
        // Fill the history: 20 runs.
        for _ in 0..20 {
            common::measure(&bin, &remembering);
        }
        let mut off: Vec<(Duration, i64)> = Vec::new();
        let mut on: Vec<(Duration, i64)> = Vec::new();
        for _ in 0..rounds {
            off.push(common::measure(&bin, &plain));
            on.push(common::measure(&bin, &remembering));
        }
        let time =
            |v: &[(Duration, i64)]| common::median(&v.iter().map(|x| x.0).collect::<Vec<_>>());
        let rss =
            |v: &[(Duration, i64)]| common::median(&v.iter().map(|x| x.1).collect::<Vec<_>>());
        let size = std::fs::metadata(&state).map(|m| m.len()).unwrap_or(0);
        println!(
            "{:>5} checks: without state {:>8.1} ms {:>6.1} MiB | --state {:>8.1} ms {:>6.1} MiB | {:.2}x time, {:.2}x memory | state file {} KiB",
            files * per_file,
            time(&off).as_secs_f64() * 1e3,
            rss(&off) as f64 / 1024.0,
            time(&on).as_secs_f64() * 1e3,
            rss(&on) as f64 / 1024.0,
            time(&on).as_secs_f64() / time(&off).as_secs_f64(),
            rss(&on) as f64 / rss(&off) as f64,
            size / 1024
        );
    }
}
