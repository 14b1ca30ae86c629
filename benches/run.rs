//! `cargo bench --bench run`: wall time and peak RSS of the real `hostscript` binary, from
//! process start to exit, on generated check trees. All cases run interleaved in one process so
//! that the machine's noise hits them alike; the report gives medians and the ratios between
//! cases. Results go to stdout as a Markdown table (copied into docs/BENCHMARKS.md).

mod common;

use std::path::Path;
use std::time::Duration;

use common::{generate, measure, median};

struct Case {
    name: String,
    args: Vec<String>,
    times: Vec<Duration>,
    peak_rss_kib: Vec<i64>,
}

fn main() {
    let rounds = common::rounds(11);
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let one_check = generate(dir.path(), 1, 1);
    let thousand = generate(dir.path(), 100, 10);
    let ten_thousand = generate(dir.path(), 100, 100);
    let path = |p: &Path| p.display().to_string();
    let mut cases = vec![
        Case {
            name: "empty directory (exits 2: no scripts)".into(),
            args: vec!["run".into(), path(&empty)],
            times: vec![],
            peak_rss_kib: vec![],
        },
        Case {
            name: "1 check, 1 file".into(),
            args: vec!["run".into(), path(&one_check)],
            times: vec![],
            peak_rss_kib: vec![],
        },
        Case {
            name: "1,000 checks, 100 files".into(),
            args: vec!["run".into(), path(&thousand)],
            times: vec![],
            peak_rss_kib: vec![],
        },
        Case {
            name: "10,000 checks, 100 files".into(),
            args: vec!["run".into(), path(&ten_thousand)],
            times: vec![],
            peak_rss_kib: vec![],
        },
        Case {
            name: "1,000 checks, 100 files, --format json".into(),
            args: vec![
                "run".into(),
                path(&thousand),
                "--format".into(),
                "json".into(),
            ],
            times: vec![],
            peak_rss_kib: vec![],
        },
    ];
    // One warm-up round (page cache, binary load), then interleaved measured rounds.
    for case in &cases {
        measure(&common::hostscript(), &case.args);
    }
    for _ in 0..rounds {
        for case in &mut cases {
            let (t, rss) = measure(&common::hostscript(), &case.args);
            case.times.push(t);
            case.peak_rss_kib.push(rss);
        }
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "hostscript run, process start to exit: median of {rounds} interleaved rounds on {cpus} CPUs\n"
    );
    println!("| case | median wall time | min | max | peak RSS (median) |");
    println!("|---|---|---|---|---|");
    for case in &cases {
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
        let min = case.times.iter().min().copied().unwrap_or_default();
        let max = case.times.iter().max().copied().unwrap_or_default();
        println!(
            "| {} | {} | {} | {} | {:.1} MiB |",
            case.name,
            ms(median(&case.times)),
            ms(min),
            ms(max),
            median(&case.peak_rss_kib) as f64 / 1024.0
        );
    }
    let t1k = median(&cases[2].times).as_secs_f64();
    let t10k = median(&cases[3].times).as_secs_f64();
    let base = median(&cases[1].times).as_secs_f64();
    let r1k = median(&cases[2].peak_rss_kib) as f64;
    let r10k = median(&cases[3].peak_rss_kib) as f64;
    let r1 = median(&cases[1].peak_rss_kib) as f64;
    println!();
    println!(
        "- 10,000 vs 1,000 checks, wall time: {:.2}x; beyond the 1-check start-up: {:.2}x",
        t10k / t1k,
        (t10k - base) / (t1k - base)
    );
    println!(
        "- 10,000 vs 1,000 checks, peak RSS: {:.2}x; beyond the 1-check baseline: {:.2}x",
        r10k / r1k,
        (r10k - r1) / (r1k - r1)
    );
    println!(
        "- per check at 10,000: {:.1} µs, {:.2} KiB",
        (t10k - base) / 10_000.0 * 1e6,
        (r10k - r1) / 10_000.0
    );
}
