//! `hostscript serve` as a real HTTP server on loopback: status codes, bodies, the cache and
//! single flight, malformed requests, and a clean SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::Duration;

use crate::support::{Test, check};

/// A `hostscript serve` on a free loopback port, killed when dropped (prometheus.rs and
/// secrets.rs use it too).
pub(crate) struct Served {
    pub child: Child,
    pub addr: String,
    /// The line that announced the address.
    pub announced: String,
    /// The rest of its stderr, to read once it has stopped.
    pub stderr: BufReader<ChildStderr>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn serve(t: &Test, extra: &[&str]) -> Served {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hostscript"));
    command
        .args(["serve", "c", "--listen", "127.0.0.1:0"])
        .args(extra)
        .current_dir(t.root());
    spawn(command)
}

/// Starts `command` (a `hostscript serve .. --listen 127.0.0.1:0`) and waits for the address
/// it announces on stderr.
pub(crate) fn spawn(mut command: Command) -> Served {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut announced = String::new();
    stderr.read_line(&mut announced).expect("first line");
    let addr = announced
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in `{announced}`"))
        .to_string();
    Served {
        child,
        addr,
        announced,
        stderr,
    }
}

/// One raw request; returns the status code and the body.
fn request(addr: &str, raw: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    s.write_all(raw.as_bytes()).expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (code, body)
}

pub(crate) fn get(addr: &str, path: &str) -> (u16, String) {
    request(addr, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"))
}

#[test]
fn serve_answers_health_metrics_and_report_and_runs_once_per_interval() {
    let t = Test::new();
    let counter = t.path("runs");
    let t = t.file(
        "c/a.rhai",
        &[
            check(
                "a.ok",
                &format!(r#"cmd::run(["sh", "-c", "echo run >> {}; sleep 0.3"]); pass("fine")"#, counter.display()),
            ),
            check("a.bad", r#"fail("broken")"#),
            "check(#{ id: \"a.tagged\", description: \"d\", tags: [\"net\"], run: || pass(\"up\") });\n".to_string(),
        ]
        .concat(),
    );
    let s = serve(&t, &["--interval", "1m"]);
    // Many clients at once: one run serves them all.
    let clients: Vec<_> = (0..10)
        .map(|_| {
            let addr = s.addr.clone();
            std::thread::spawn(move || get(&addr, "/healthz"))
        })
        .collect();
    for c in clients {
        let (code, body) = c.join().expect("client");
        assert_eq!(code, 503, "{body}");
        assert!(body.contains("FAIL   a.bad"), "{body}");
    }
    assert_eq!(
        std::fs::read_to_string(&counter)
            .expect("runs")
            .lines()
            .count(),
        1
    );
    assert_eq!(get(&s.addr, "/healthz/a.ok").0, 200);
    assert_eq!(get(&s.addr, "/healthz/a.bad").0, 503);
    assert_eq!(get(&s.addr, "/healthz/nope").0, 404);
    assert_eq!(get(&s.addr, "/healthz?tag=net").0, 200);
    assert_eq!(get(&s.addr, "/healthz?tag=none").0, 404);
    let (code, metrics) = get(&s.addr, "/metrics");
    assert_eq!(code, 200);
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("hostscript_ready{") && l.ends_with("} 0")),
        "{metrics}"
    );
    let (code, report) = get(&s.addr, "/report");
    assert_eq!(code, 200);
    let doc: serde_json::Value = serde_json::from_str(&report).expect("JSON report");
    assert_eq!(doc["summary"]["fail"], 1);
    // Malformed requests get 400/404/405 and the server stays up.
    assert_eq!(request(&s.addr, "GARBAGE\r\n\r\n").0, 400);
    assert_eq!(request(&s.addr, "POST /healthz HTTP/1.1\r\n\r\n").0, 405);
    assert_eq!(get(&s.addr, "/nowhere").0, 404);
    assert_eq!(get(&s.addr, "/healthz/a.ok").0, 200);
    // Still one run: everything above came from the cache.
    assert_eq!(
        std::fs::read_to_string(&counter)
            .expect("runs")
            .lines()
            .count(),
        1
    );
}

#[test]
fn serve_stops_cleanly_on_sigterm_and_refuses_to_remediate() {
    let t = Test::new().file("c/a.rhai", &check("a", r#"pass("")"#));
    let mut s = serve(&t, &[]);
    assert_eq!(get(&s.addr, "/healthz").0, 200);
    let pid = nix::unistd::Pid::from_raw(s.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("signal");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = s.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still running after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    let fix = t.run(&["serve", "c", "--fix"]);
    assert_eq!(fix.code, 2);
    assert!(fix.stderr.contains("read-only"), "{}", fix.stderr);
}
