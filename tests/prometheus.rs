//! A real Prometheus (Debian's package, run as a plain process on loopback) scrapes
//! `hostscript serve`; its HTTP API then returns the values hostscript reported.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Test, check};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn http_get(addr: &str, path: &str) -> String {
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

/// The value of the first sample of an instant query, once Prometheus has one.
fn query(prom: &str, expr: &str, deadline: Instant) -> Option<String> {
    let encoded: String = expr
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    while Instant::now() < deadline {
        let body = http_get(prom, &format!("/api/v1/query?query={encoded}"));
        if let Ok(doc) = serde_json::from_str::<serde_json::Value>(&body)
            && let Some(value) = doc["data"]["result"][0]["value"][1].as_str()
        {
            return Some(value.to_string());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    None
}

#[test]
#[ignore = "needs prometheus: scripts/test.sh installs it"]
fn a_real_prometheus_scrapes_serve_and_gets_what_hostscript_reported() {
    assert!(
        Command::new("prometheus").arg("--version").output().is_ok(),
        "prometheus is not installed (scripts/test.sh installs it)"
    );
    let t = Test::new().file(
        "c/a.rhai",
        &[
            check("a.ok", r#"pass("fine")"#),
            check("a.bad", r#"fail("broken")"#),
        ]
        .concat(),
    );
    // What runs remember (--state): a.bad has been failing since a known time.
    std::fs::write(
        t.path("s.json"),
        r#"{"schema_version": 1, "runs": 1, "checks": {"a.bad": {"status": "fail", "since": 1700000000, "last_pass": null, "last_run": 1, "history": [[1700000000, "fail"]]}}, "remediations": {}}"#,
    )
    .expect("state");
    std::fs::set_permissions(
        t.path("s.json"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("chmod");
    let serve = crate::serve::serve(&t, &["--interval", "1s", "--state", "s.json"]);
    let target = serve.addr.clone();
    let prom = format!("127.0.0.1:{}", free_port());
    std::fs::write(
        t.path("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: hostscript\n    static_configs:\n      - targets: [\"{target}\"]\n"
        ),
    )
    .expect("config");
    let prometheus = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            t.path("prometheus.yml").display()
        ))
        .arg(format!("--storage.tsdb.path={}", t.path("tsdb").display()))
        .arg(format!("--web.listen-address={prom}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus");
    let _prometheus = Killed(prometheus);
    let deadline = Instant::now() + Duration::from_secs(60);
    assert_eq!(
        query(&prom, "hostscript_ready", deadline).as_deref(),
        Some("0")
    );
    assert_eq!(
        query(
            &prom,
            r#"hostscript_check_status{id="a.bad",status="fail"}"#,
            deadline
        )
        .as_deref(),
        Some("1")
    );
    assert_eq!(
        query(
            &prom,
            r#"hostscript_check_status{id="a.ok",status="pass"}"#,
            deadline
        )
        .as_deref(),
        Some("1")
    );
    assert_eq!(
        query(
            &prom,
            r#"hostscript_check_status_since_timestamp_seconds{id="a.bad"}"#,
            deadline
        )
        .as_deref(),
        Some("1700000000")
    );
    assert_eq!(
        query(&prom, r#"hostscript_check_flapping{id="a.bad"}"#, deadline).as_deref(),
        Some("0")
    );
}
