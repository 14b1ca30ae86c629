//! `hostscript merge` on real reports: each host's report is a real `hostscript run --format
//! json` in its own UTS namespace (so its own hostname), with vars that make the hosts differ.
//! The merged table, failing-check lines, missing hosts, the three machine formats and bad
//! reports are checked against those differences.

use std::process::Command;

use crate::support::{Output, Test, check};

/// The checks every simulated host runs: its parent interface and flintlockd, from vars.
fn fleet() -> Test {
    Test::new()
        .file("c/vars.toml", "iface = true\nflintlockd = true\n")
        .file(
            "c/host.rhai",
            &[
                check(
                    "network.parent_iface",
                    r#"if vars::iface { pass("eth0 up") } else { fail("eth0 missing") }"#,
                ),
                check(
                    "flintlockd.running",
                    r#"if vars::flintlockd { pass("active") } else { throw "flintlockd.service is inactive" }"#,
                ),
                check("kvm.device", r#"pass("/dev/kvm")"#),
            ]
            .concat(),
        )
}

/// One host's report, written to `reports/HOST.json` by a run under hostname `host`.
fn report(t: &Test, host: &str, vars: &[&str]) {
    std::fs::create_dir_all(t.path("reports")).expect("mkdir");
    let mut script = format!(
        "hostname {host} && exec {} run c --format json",
        env!("CARGO_BIN_EXE_hostscript")
    );
    for v in vars {
        script.push_str(&format!(" --var {v}"));
    }
    script.push_str(&format!(" > reports/{host}.json"));
    let out = Command::new("unshare")
        .args(["--uts", "sh", "-c", &script])
        .current_dir(t.root())
        .output()
        .expect("unshare");
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "run on {host}: {code} {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn three_hosts() -> Test {
    let t = fleet();
    report(&t, "host-a", &[]);
    report(&t, "host-b", &["iface=false"]);
    report(&t, "host-c", &["iface=false", "flintlockd=false"]);
    t
}

#[test]
#[ignore = "needs root (unshare --uts, for each simulated host's own hostname)"]
fn merge_tables_hosts_by_status_and_names_failing_checks_and_missing_hosts() {
    let t = three_hosts();
    let out = t.run(&[
        "merge",
        "reports",
        "--expect",
        "host-a,host-b,host-c,host-d",
    ]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    let row = |host: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(host))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|| panic!("no row for {host}:\n{}", out.stdout))
    };
    assert_eq!(row("host-a"), "host-a ready 3 0 0 0 0");
    assert_eq!(row("host-b"), "host-b not ready 2 0 1 0 0");
    assert_eq!(row("host-c"), "host-c not ready 1 0 1 1 0");
    assert_eq!(row("host-d"), "host-d no report");
    assert!(
        out.stdout
            .contains("network.parent_iface: fail on 2/3 hosts: host-b, host-c\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("flintlockd.running: error on 1/3 hosts: host-c\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("1/4 hosts ready, 2 not ready, 1 sent no report: host-d"),
        "{}",
        out.stdout
    );
}

#[test]
#[ignore = "needs root (unshare --uts, for each simulated host's own hostname)"]
fn a_fleet_where_every_host_is_ready_exits_zero() {
    let t = fleet();
    report(&t, "host-a", &[]);
    report(&t, "host-b", &[]);
    let out = t.run(&["merge", "reports/host-a.json", "reports/host-b.json"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("2/2 hosts ready\n"), "{}", out.stdout);
}

#[test]
#[ignore = "needs root (unshare --uts, for each simulated host's own hostname)"]
fn merge_json_junit_and_prometheus_carry_every_host() {
    let t = three_hosts();
    let json = t.run(&["merge", "reports", "--expect", "host-d", "--format", "json"]);
    let doc = json.json();
    assert_eq!(doc["kind"], "fleet");
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["ready"], serde_json::json!(["host-a"]));
    assert_eq!(doc["not_ready"], serde_json::json!(["host-b", "host-c"]));
    assert_eq!(doc["missing"], serde_json::json!(["host-d"]));
    assert_eq!(
        doc["failing"][0],
        serde_json::json!({"id": "network.parent_iface", "status": "fail",
                           "hosts": ["host-b", "host-c"], "of": 3})
    );
    let hosts = doc["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), 3);
    assert_eq!(hosts[2]["host"], "host-c");
    assert_eq!(hosts[2]["checks"][1]["status"], "error");
    let message = hosts[2]["checks"][1]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.ends_with(": flintlockd.service is inactive"),
        "{message}"
    );

    let junit = t.run(&[
        "merge", "reports", "--expect", "host-d", "--format", "junit",
    ]);
    for host in ["host-a", "host-b", "host-c", "host-d"] {
        assert!(
            junit
                .stdout
                .contains(&format!("<testsuite name=\"hostscript on {host}\"")),
            "{}",
            junit.stdout
        );
    }
    assert_eq!(junit.stdout.matches("<testsuites ").count(), 1);
    assert!(junit.stdout.contains("no report from this host"));

    let prom = t.run(&[
        "merge",
        "reports",
        "--expect",
        "host-d",
        "--format",
        "prometheus",
    ]);
    let text = &prom.stdout;
    assert!(
        text.contains("hostscript_ready{host=\"host-a\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("hostscript_ready{host=\"host-b\"} 0\n"),
        "{text}"
    );
    assert!(text.contains(
        "hostscript_check_status{host=\"host-c\",id=\"flintlockd.running\",required=\"true\",status=\"error\"} 1\n"
    ));
    assert!(text.contains("hostscript_report_received{host=\"host-d\"} 0\n"));
    // The text format allows each family's TYPE line once, whatever the number of hosts.
    assert_eq!(
        text.matches("# TYPE hostscript_ready gauge").count(),
        1,
        "{text}"
    );
}

#[test]
#[ignore = "needs root (unshare --uts, for each simulated host's own hostname)"]
fn bad_reports_are_named_and_the_others_still_merge() {
    let t = three_hosts()
        .file("reports/garbage.json", "{ not json")
        .file(
            "reports/future.json",
            r#"{"schema_version": 2, "host": "host-z", "checks": []}"#,
        )
        .file(
            "reports/other.json",
            r#"{"schema_version": 1, "host": "x"}"#,
        );
    std::fs::copy(t.path("reports/host-a.json"), t.path("reports/zz-dup.json")).expect("copy");
    let out: Output = t.run(&["merge", "reports"]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    let errors: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(errors.len(), 4, "{}", out.stderr);
    assert!(
        errors[0].starts_with("hostscript: error: reports/future.json: schema_version 2 is not one this hostscript reads (1)"),
        "{}",
        out.stderr
    );
    assert!(
        errors[1].starts_with("hostscript: error: reports/garbage.json: not JSON:"),
        "{}",
        out.stderr
    );
    assert!(
        errors[2].starts_with("hostscript: error: reports/other.json: bad report: missing field"),
        "{}",
        out.stderr
    );
    assert_eq!(
        errors[3],
        "hostscript: error: reports/zz-dup.json: host `host-a` already reported by reports/host-a.json; ignored"
    );
    for host in ["host-a", "host-b", "host-c"] {
        assert!(
            out.stdout.lines().any(|l| l.starts_with(host)),
            "{}",
            out.stdout
        );
    }
}

#[test]
fn a_missing_report_path_is_a_usage_error() {
    let t = Test::new();
    let out = t.run(&["merge", "nope"]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr.trim(),
        "hostscript: error: path `nope` does not exist"
    );
}

#[test]
fn a_directory_without_reports_is_an_error_not_an_empty_ready_fleet() {
    let t = Test::new().file("reports/notes.txt", "not a report");
    let out = t.run(&["merge", "reports"]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert_eq!(
        out.stderr.trim(),
        "hostscript: error: no .json reports found in `reports`"
    );
}
