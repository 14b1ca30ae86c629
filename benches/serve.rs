//! `cargo bench --bench serve`: 100 concurrent clients for 10 s against `hostscript serve`
//! (release build, loopback) with cached results: requests per second and p50/p99 latency for
//! `/healthz` and `/metrics`, the server's RSS before and after 100,000 requests, and how many
//! times the checks ran (one per interval is the promise, whatever the load).

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn get(addr: &str, path: &str) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.1 ")
}

fn load(
    addr: &str,
    path: &str,
    clients: usize,
    for_how_long: Duration,
) -> (f64, Duration, Duration, usize) {
    let stop = Instant::now() + for_how_long;
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let addr = addr.to_string();
            let path = path.to_string();
            std::thread::spawn(move || {
                let mut latencies = Vec::new();
                let mut failed = 0;
                while Instant::now() < stop {
                    let t = Instant::now();
                    if get(&addr, &path) {
                        latencies.push(t.elapsed());
                    } else {
                        failed += 1;
                    }
                }
                (latencies, failed)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut failed = 0;
    for h in handles {
        let (l, f) = h.join().expect("client");
        all.extend(l);
        failed += f;
    }
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    (
        all.len() as f64 / for_how_long.as_secs_f64(),
        pct(0.5),
        pct(0.99),
        failed,
    )
}

fn main() {
    let exe = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/hostscript");
    let status = Command::new("cargo")
        .args(["build", "--release", "--quiet"])
        .status()
        .expect("cargo");
    assert!(status.success());
    let dir = tempfile::tempdir().expect("dir");
    let counter = dir.path().join("runs");
    std::fs::create_dir_all(dir.path().join("c")).expect("c");
    let mut checks = String::new();
    checks.push_str(&format!(
        "check(#{{ id: \"counted\", description: \"d\", run: || {{ cmd::run([\"sh\", \"-c\", \"echo run >> {}\"]); pass(\"\") }} }});\n",
        counter.display()
    ));
    for i in 0..30 {
        checks.push_str(&format!(
            "check(#{{ id: \"c.{i}\", description: \"d\", run: || pass(\"ok\") }});\n"
        ));
    }
    std::fs::write(dir.path().join("c/a.rhai"), checks).expect("checks");
    let mut server = Command::new(&exe)
        .args(["serve", "c", "--listen", "127.0.0.1:0", "--interval", "30s"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    let mut line = String::new();
    BufReader::new(server.stderr.take().expect("stderr"))
        .read_line(&mut line)
        .expect("addr");
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("addr")
        .to_string();
    assert!(get(&addr, "/healthz"));
    let before = rss_kib(server.id());
    let mut total = 0usize;
    for path in ["/healthz", "/metrics"] {
        let (rps, p50, p99, failed) = load(&addr, path, 100, Duration::from_secs(10));
        total += (rps * 10.0) as usize;
        println!(
            "{path}: {rps:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {failed} failed (100 clients, 10 s)",
            p50.as_secs_f64() * 1000.0,
            p99.as_secs_f64() * 1000.0
        );
    }
    while total < 100_000 {
        let (rps, ..) = load(&addr, "/healthz", 100, Duration::from_secs(2));
        total += (rps * 2.0) as usize;
    }
    let after = rss_kib(server.id());
    let runs = std::fs::read_to_string(&counter)
        .map(|s| s.lines().count())
        .unwrap_or(0);
    println!(
        "RSS before {before} KiB, after {total} requests {after} KiB; checks ran {runs} time(s)"
    );
    let _ = server.kill();
    let _ = server.wait();
}
