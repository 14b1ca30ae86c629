//! `cargo bench --bench floor`: how far hostscript is from the floor — what the work itself
//! costs. Side by side, alternated round by round (21 rounds unless HOSTSCRIPT_BENCH_ROUNDS),
//! medians: a one-command check against the same command run directly (`true`, and
//! `containerd --version` when containerd is installed), one trivial check against
//! `hostscript --version` (the fixed cost of a run), and 10,000 trivial checks in 100 files with
//! `--format json` (wall time and peak RSS). Prints a Markdown table with each ratio beside its
//! target (docs/BENCHMARKS.md, "Close to the floor"). With HOSTSCRIPT_BENCH_BASELINE=BINARY (an
//! older hostscript), every hostscript case also runs with that binary in the same rounds, and
//! a second table gives before and after side by side.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{generate, measure, median};

struct Case {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    times: Vec<Duration>,
    rss: Vec<i64>,
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

/// A checks directory with one check whose only work is `cmd::run(argv)`.
fn one_command(dir: &Path, name: &str, argv: &[&str]) -> PathBuf {
    let root = dir.join(name);
    std::fs::create_dir_all(&root).expect("mkdir");
    let argv: Vec<String> = argv.iter().map(|a| format!("\"{a}\"")).collect();
    std::fs::write(
        root.join("a.rhai"),
        format!(
            "check(#{{ id: \"floor.{name}\", description: \"one command\", run: || {{ let r = cmd::run([{}]); if r.ok {{ pass(\"ok\") }} else {{ fail(r.stderr) }} }} }});\n",
            argv.join(", ")
        ),
    )
    .expect("write");
    root
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let rounds = common::rounds(21);
    let dir = tempfile::tempdir().expect("tempdir");
    let hs = common::hostscript();
    let arg = |p: &Path| p.display().to_string();
    let case = |name: &str, program: PathBuf, args: Vec<String>| Case {
        name: name.to_string(),
        program,
        args,
        times: Vec::new(),
        rss: Vec::new(),
    };
    let run = |p: &Path| vec!["run".to_string(), arg(p), "-q".to_string()];

    let true_bin = which("true").expect("true on PATH");
    let mut cases = vec![
        case("true", true_bin, vec![]),
        case(
            "hostscript: one check, cmd::run([\"true\"])",
            hs.clone(),
            run(&one_command(dir.path(), "true", &["true"])),
        ),
        case("hostscript --version", hs.clone(), vec!["--version".into()]),
        case(
            "hostscript: one trivial check",
            hs.clone(),
            run(&generate(dir.path(), 1, 1)),
        ),
        case(
            "hostscript: 10,000 trivial checks in 100 files, --format json",
            hs.clone(),
            vec![
                "run".into(),
                arg(&generate(dir.path(), 100, 100)),
                "--format".into(),
                "json".into(),
            ],
        ),
    ];
    let containerd = which("containerd");
    if let Some(containerd) = &containerd {
        cases.push(case(
            "containerd --version",
            containerd.clone(),
            vec!["--version".into()],
        ));
        cases.push(case(
            "hostscript: one check, cmd::run([\"containerd\", \"--version\"])",
            hs.clone(),
            run(&one_command(
                dir.path(),
                "containerd",
                &["containerd", "--version"],
            )),
        ));
    }
    let baseline = std::env::var_os("HOSTSCRIPT_BENCH_BASELINE").map(PathBuf::from);
    let measured = cases.len();
    if let Some(old) = &baseline {
        let before: Vec<Case> = cases
            .iter()
            .filter(|c| c.program == hs)
            .map(|c| case(&format!("before: {}", c.name), old.clone(), c.args.clone()))
            .collect();
        cases.extend(before);
    }
    // A warm-up round (page cache, binary load), then interleaved measured rounds.
    for c in &cases {
        measure(&c.program, &c.args);
    }
    for _ in 0..rounds {
        for c in &mut cases {
            let (t, rss) = measure(&c.program, &c.args);
            c.times.push(t);
            c.rss.push(rss);
        }
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("process start to exit, median of {rounds} alternated rounds on {cpus} CPUs\n");
    println!("| case | median | peak RSS (median) |");
    println!("|---|---:|---:|");
    for c in &cases[..measured] {
        println!(
            "| {} | {} | {:.1} MiB |",
            c.name,
            ms(median(&c.times)),
            median(&c.rss) as f64 / 1024.0
        );
    }
    let t = |i: usize| median(&cases[i].times).as_secs_f64();
    println!("\n| target | measured | goal |");
    println!("|---|---:|---:|");
    println!(
        "| one-command check vs the command, `true` | {:.2}x | ≤ 1.15x |",
        t(1) / t(0)
    );
    if containerd.is_some() {
        println!(
            "| one-command check vs the command, `containerd --version` | {:.2}x | ≤ 1.15x |",
            t(6) / t(5)
        );
    } else {
        println!(
            "| one-command check vs `containerd --version` | not measured: no containerd on PATH | ≤ 1.15x |"
        );
    }
    println!(
        "| fixed cost: one trivial check minus `--version` | {:+.2} ms | ≤ +2 ms |",
        (t(3) - t(2)) * 1000.0
    );
    println!(
        "| 10,000 trivial checks, --format json | {:.0} ms, {:.1} MiB | ≤ 250 ms, ≤ 48 MiB |",
        t(4) * 1000.0,
        median(&cases[4].rss) as f64 / 1024.0
    );
    if baseline.is_some() {
        println!("\n| case | before | after | after/before | peak RSS before | after |");
        println!("|---|---:|---:|---:|---:|---:|");
        for old in &cases[measured..] {
            let name = old.name.trim_start_matches("before: ");
            let Some(new) = cases[..measured].iter().find(|c| c.name == name) else {
                continue;
            };
            let (b, a) = (median(&old.times), median(&new.times));
            println!(
                "| {name} | {} | {} | {:.2}x | {:.1} MiB | {:.1} MiB |",
                ms(b),
                ms(a),
                a.as_secs_f64() / b.as_secs_f64(),
                median(&old.rss) as f64 / 1024.0,
                median(&new.rss) as f64 / 1024.0
            );
        }
    }
}
