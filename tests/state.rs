//! Runs remember (`--state FILE`), through the binary with the state in a temp dir. Times are
//! tested by ageing the times recorded in the state file, so no test waits for a clock.

use serde_json::Value;

use crate::support::{Output, Test, check};

/// Unix seconds as the reports write them.
fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .to_string()
}

/// Check `a` passes unless var `ok` is false; `b` always passes.
fn two_checks() -> Test {
    Test::new().file(
        "c/a.rhai",
        &format!(
            "{}{}",
            check(
                "a",
                r#"if vars::get("ok", true) { pass("fine") } else { fail("broken") }"#,
            ),
            check("b", r#"pass("b")"#)
        ),
    )
}

fn state(t: &Test) -> Value {
    serde_json::from_str(&std::fs::read_to_string(t.path("s.json")).expect("state")).expect("json")
}

fn write_state(t: &Test, value: &Value) {
    std::fs::write(
        t.path("s.json"),
        serde_json::to_string_pretty(value).expect("json"),
    )
    .expect("write");
}

/// Every time in the state file moved `secs` into the past.
fn age(t: &Test, secs: u64) {
    fn walk(v: &mut Value, secs: u64) {
        match v {
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if matches!(k.as_str(), "since" | "last_pass" | "at" | "next_try")
                        && let Some(n) = v.as_u64()
                    {
                        *v = Value::from(n - secs);
                    } else {
                        walk(v, secs);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| walk(v, secs)),
            _ => {}
        }
    }
    let mut s = state(t);
    walk(&mut s, secs);
    write_state(t, &s);
}

fn run(t: &Test, ok: bool, extra: &[&str]) -> Output {
    let var = format!("ok={ok}");
    let mut args = vec!["run", "c", "--state", "s.json", "--var", &var];
    args.extend_from_slice(extra);
    t.run(&args)
}

#[test]
fn since_last_pass_and_flapping_follow_the_runs() {
    let t = two_checks();
    // Without --state a report carries none of it, and no file appears.
    let plain = t.run(&["run", "c", "--format", "json"]);
    assert!(plain.check("a").get("since").is_none(), "{}", plain.stdout);
    assert!(!plain.stdout.contains("flapping"));
    assert!(!t.path("s.json").exists());

    let first = run(&t, true, &["--format", "json"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let passed_at = state(&t)["checks"]["a"]["since"].as_u64().expect("since");
    assert_eq!(
        first.check("a")["since"],
        first.check("a")["last_pass"],
        "{}",
        first.stdout
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(t.path("s.json"))
            .expect("state")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    // It breaks, and stays broken for 3 days 4 hours.
    run(&t, false, &[]);
    age(&t, 3 * 86_400 + 4 * 3600);
    let later = run(&t, false, &[]);
    for line in later
        .stdout
        .lines()
        .filter(|l| l.contains("  a  ") || l.contains("  b  "))
    {
        assert!(line.ends_with(", since 3d 4h)"), "{}", later.stdout);
    }
    let json = run(&t, false, &["--format", "json"]);
    let a = json.check("a");
    let failed_at = state(&t)["checks"]["a"]["since"].as_u64().expect("since");
    assert_eq!(a["since"], rfc3339(failed_at), "{a}");
    // The last pass is the aged first run's.
    assert_eq!(
        a["last_pass"],
        rfc3339(passed_at - (3 * 86_400 + 4 * 3600)),
        "{a}"
    );
    assert_eq!(a["flapping"], false);
    // Prometheus: since as a timestamp, flapping as 0/1.
    let prom = run(&t, false, &["--format", "prometheus"]);
    assert!(
        prom.stdout.contains(&format!(
            "hostscript_check_status_since_timestamp_seconds{{host=\"{}\",id=\"a\"}} {failed_at}\n",
            prom_host(&prom)
        )),
        "{}",
        prom.stdout
    );

    // A status that just changed says no "since".
    let changed = run(&t, true, &[]);
    let a_line = changed
        .stdout
        .lines()
        .find(|l| l.starts_with("PASS   a"))
        .expect("a");
    assert!(!a_line.contains("since"), "{}", changed.stdout);
    // Flapping: four changes within the kept statuses.
    for ok in [false, true] {
        run(&t, ok, &[]);
    }
    let flapping = run(&t, false, &["--format", "json"]);
    assert_eq!(flapping.check("a")["flapping"], true, "{}", flapping.stdout);
    assert_eq!(flapping.check("b")["flapping"], false);
    let human = run(&t, true, &[]);
    assert!(
        human.stdout.contains("flapping: 6 changes in 10 runs"),
        "{}",
        human.stdout
    );
    let prom = run(&t, false, &["--format", "prometheus"]);
    assert!(
        prom.stdout.contains("hostscript_check_flapping{"),
        "{}",
        prom.stdout
    );
    assert!(prom.stdout.contains(",id=\"a\"} 1\n"), "{}", prom.stdout);
    // K and N are flags: with K = 10 nothing flaps; with N = 3 the older changes fall out.
    let calm = run(&t, true, &["--flap-changes", "10", "--format", "json"]);
    assert_eq!(calm.check("a")["flapping"], false);
    let short = run(&t, true, &["--history", "3", "--format", "json"]);
    assert_eq!(short.check("a")["flapping"], false, "{}", short.stdout);
    assert_eq!(
        state(&t)["checks"]["a"]["history"].as_array().map(Vec::len),
        Some(3)
    );
}

fn prom_host(out: &Output) -> String {
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix("hostscript_ready{host=\""))
        .and_then(|l| l.split('"').next())
        .expect("host label")
        .to_string()
}

#[test]
fn a_run_remembers_only_the_checks_it_ran_and_forgets_ids_that_stop_running() {
    let t = two_checks();
    run(&t, true, &[]);
    let before = state(&t)["checks"]["b"].clone();
    run(&t, true, &["--only", "a"]);
    run(&t, true, &["--skip", "a"]);
    let s = state(&t);
    assert_eq!(s["runs"], 3);
    // b did not run in the second run: its entry is as the first and the third left it.
    assert_eq!(
        s["checks"]["b"]["history"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(
        s["checks"]["a"]["history"].as_array().map(Vec::len),
        Some(2)
    );
    assert_ne!(s["checks"]["b"], before);
    // An id that has not run for N runs is forgotten.
    for _ in 0..3 {
        run(&t, true, &["--only", "a", "--history", "3"]);
    }
    let s = state(&t);
    assert!(s["checks"].get("b").is_none(), "{s}");
    assert!(s["checks"].get("a").is_some());
    // The file holds statuses and times, never a message.
    let text = std::fs::read_to_string(t.path("s.json")).expect("state");
    assert!(!text.contains("fine") && !text.contains("broken"), "{text}");
}

#[test]
fn a_state_file_it_cannot_trust_or_read_is_set_aside_and_the_run_goes_on() {
    for (name, content, mode, says) in [
        (
            "corrupt",
            "{\"schema_version\": 1, \"checks\": [",
            0o600,
            "is not JSON",
        ),
        (
            "newer",
            "{\"schema_version\": 2, \"runs\": 1, \"checks\": {}, \"remediations\": {}}",
            0o600,
            "is from a newer hostscript (schema_version 2",
        ),
        (
            "foreign",
            "{\"schema_version\": 1, \"runs\": 1, \"checks\": {}, \"remediations\": {}, \"extra\": 1}",
            0o600,
            "is not a state file",
        ),
        (
            "readable",
            "{\"schema_version\": 1, \"runs\": 1, \"checks\": {}, \"remediations\": {}}",
            0o644,
            "has mode 0644, not 0600",
        ),
    ] {
        let t = two_checks();
        std::fs::write(t.path("s.json"), content).expect("write");
        std::fs::set_permissions(
            t.path("s.json"),
            std::os::unix::fs::PermissionsExt::from_mode(mode),
        )
        .expect("chmod");
        let out = run(&t, true, &["--format", "json"]);
        assert_eq!(out.code, 0, "{name}: {}", out.stderr);
        let warnings: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.contains("warning"))
            .collect();
        assert_eq!(warnings.len(), 1, "{name}: {}", out.stderr);
        assert!(
            warnings[0].contains("s.json") && warnings[0].contains(says),
            "{name}: {}",
            warnings[0]
        );
        // The run started from nothing and wrote a good file; the bad one is kept aside.
        assert_eq!(
            out.check("a")["last_pass"],
            out.check("a")["since"],
            "{name}"
        );
        assert_eq!(state(&t)["runs"], 1, "{name}");
        let aside: Vec<String> = std::fs::read_dir(t.root())
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("s.json.bad-"))
            .collect();
        assert_eq!(aside.len(), 1, "{name}: {aside:?}");
        assert_eq!(
            std::fs::read_to_string(t.path(&aside[0])).expect("aside"),
            content,
            "{name}"
        );
    }
}

#[test]
fn two_runs_at_once_never_lose_each_others_update() {
    let t = two_checks();
    let bin = env!("CARGO_BIN_EXE_hostscript");
    // Eight runs at once, half of each check: every one is counted, every status kept.
    let children: Vec<std::process::Child> = (0..8)
        .map(|i| {
            std::process::Command::new(bin)
                .args(["run", "c", "--state", "s.json", "--only"])
                .arg(if i % 2 == 0 { "a" } else { "b" })
                .current_dir(t.root())
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("run")
        })
        .collect();
    for mut child in children {
        assert!(child.wait().expect("wait").success());
    }
    let s = state(&t);
    assert_eq!(s["runs"], 8, "{s}");
    for id in ["a", "b"] {
        assert_eq!(
            s["checks"][id]["history"].as_array().map(Vec::len),
            Some(4),
            "{id}: {s}"
        );
    }
}

/// A remediation that fails while var `fail` is true (the default), under `--root`.
fn flaky_remediation() -> Test {
    Test::new()
        .file(
            "r/flaky.rhai",
            r#"remediation(#{ id: "flaky", description: "fails while var fail is true", run: || {
    if vars::get("fail", true) { throw "the thing is broken"; }
    fix::ensure_dir("/made");
} });
"#,
        )
        .file("root/.keep", "")
}

/// `COMMAND.. --remediations r --root ROOT --state s.json --format json EXTRA..`: a change under
/// the test's root, remembered in its state.
fn changing(t: &Test, command: &[&str], extra: &[&str]) -> Output {
    let root = t.path("root");
    let mut args = command.to_vec();
    args.extend_from_slice(&[
        "--remediations",
        "r",
        "--root",
        root.to_str().expect("utf-8"),
        "--log",
        "changes.log",
        "--state",
        "s.json",
        "--format",
        "json",
    ]);
    args.extend_from_slice(extra);
    t.run(&args)
}

fn remediate(t: &Test, extra: &[&str]) -> Output {
    changing(t, &["remediate", "flaky"], extra)
}

fn outcome(out: &Output) -> Value {
    out.json()["remediations"][0].clone()
}

#[test]
#[ignore = "needs root (remediations apply as root): scripts/test.sh runs it"]
fn a_failed_remediation_backs_off_doubling_until_a_success_or_force() {
    let t = flaky_remediation();
    let first = remediate(&t, &[]);
    assert_eq!(outcome(&first)["outcome"], "failed", "{}", first.stdout);
    assert_eq!(first.code, 1);
    let r = &state(&t)["remediations"]["flaky"];
    assert_eq!(
        (r["failures"].as_u64(), r["outcome"].as_str()),
        (Some(1), Some("failed"))
    );
    assert_eq!(
        r["next_try"].as_u64().unwrap_or(0) - r["at"].as_u64().unwrap_or(0),
        600
    );

    // Within its back-off it is not tried, says when it will be, and the exit code is 0.
    let held = remediate(&t, &[]);
    let o = outcome(&held);
    assert_eq!(o["outcome"], "skipped", "{}", held.stdout);
    assert!(
        o["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("backing off after 1 failure in a row: next try in "),
        "{o}"
    );
    assert!(
        o["next_try"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{o}"
    );
    assert_eq!(held.code, 0, "{}", held.stderr);
    assert!(!t.path("root/made").exists());

    // Past it, it is tried again; failing again doubles the wait: 20 min.
    age(&t, 601);
    let second = remediate(&t, &[]);
    assert_eq!(outcome(&second)["outcome"], "failed");
    let r = &state(&t)["remediations"]["flaky"];
    assert_eq!(r["failures"], 2);
    assert_eq!(
        r["next_try"].as_u64().unwrap_or(0) - r["at"].as_u64().unwrap_or(0),
        1200
    );

    // --force tries it now; a success resets the back-off.
    let forced = remediate(&t, &["--force", "--var", "fail=false"]);
    assert_eq!(outcome(&forced)["outcome"], "changed", "{}", forced.stdout);
    assert!(t.path("root/made").is_dir());
    let r = &state(&t)["remediations"]["flaky"];
    assert_eq!(r["failures"], 0, "{r}");
    assert!(r["next_try"].is_null(), "{r}");
    // A dry run neither waits for the back-off nor counts.
    let runs = state(&t)["runs"].clone();
    remediate(&t, &["--dry-run"]);
    assert_eq!(state(&t)["runs"], runs);
}

#[test]
#[ignore = "needs root (remediations apply as root): scripts/test.sh runs it"]
fn run_fix_backs_off_too_and_skips_a_remediation_whose_checks_pass_again() {
    let t = flaky_remediation()
        .file(
            "c/a.rhai",
            &(r#"check(#{ id: "a", description: "a", remediation: "flaky", run: || if vars::get("fail", true) { fail("broken") } else { pass("fine") } });"#.to_string()
                + "\n"),
        );
    let fix = |extra: &[&str]| changing(&t, &["run", "c", "--fix"], extra);
    let first = fix(&[]);
    assert_eq!(
        first.json()["remediation"]["remediations"][0]["outcome"],
        "failed",
        "{}",
        first.stdout
    );
    let held = fix(&[]);
    let doc = held.json();
    let r = &doc["remediation"]["remediations"][0];
    assert_eq!(r["outcome"], "skipped", "{doc}");
    assert!(r["next_try"].is_string(), "{r}");
    // The exit code is the re-check's: the check still fails.
    assert_eq!(held.code, 1);
    let forced = fix(&["--force"]);
    assert_eq!(
        forced.json()["remediation"]["remediations"][0]["outcome"],
        "failed",
        "{}",
        forced.stdout
    );
}

/// After a remediation changed something, `run --fix` checks again before the next one, and
/// does not run one whose checks pass now.
#[test]
#[ignore = "needs root (remediations apply as root): scripts/test.sh runs it"]
fn run_fix_does_not_run_a_remediation_whose_checks_pass_again() {
    let t = Test::new()
        .file(
            "r/first.rhai",
            r#"remediation(#{ id: "first", description: "makes the flag", run: || { fix::write_file("/flag", "x"); } });"#,
        )
        .file(
            "r/second.rhai",
            r#"remediation(#{ id: "second", description: "must not run", after: ["first"], run: || { throw "second ran"; } });"#,
        )
        .file(
            "c/a.rhai",
            r#"check(#{ id: "one", description: "one", remediation: "first", run: || if fs::exists(vars::flag) { pass("flag") } else { fail("no flag") } });
check(#{ id: "two", description: "two", remediation: "second", run: || if fs::exists(vars::flag) { pass("flag") } else { fail("no flag") } });
"#,
        )
        .file("root/.keep", "");
    let root = t.path("root");
    let flag = format!("flag={}", root.join("flag").display());
    let out = t.run(&[
        "run",
        "c",
        "--fix",
        "--remediations",
        "r",
        "--root",
        root.to_str().expect("utf-8"),
        "--log",
        "changes.log",
        "--var",
        &flag,
        "--format",
        "json",
    ]);
    let doc = out.json();
    let done = &doc["remediation"]["remediations"];
    assert_eq!(done[0]["outcome"], "changed", "{doc}");
    assert_eq!(done[1]["outcome"], "skipped", "{doc}");
    assert_eq!(done[1]["error"], "its checks pass again: two", "{doc}");
    assert_eq!(out.code, 0, "{}", out.stderr);
}

/// `serve` keeps the same state across rounds and across a restart.
#[test]
fn serve_remembers_across_rounds_and_a_restart() {
    let t = two_checks().file("c/vars.toml", "ok = false\n");
    let since_of = |addr: &str| -> u64 {
        let (code, body) = crate::serve::get(addr, "/report");
        assert_eq!(code, 200, "{body}");
        let doc: Value = serde_json::from_str(&body).expect("report");
        let a = doc["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["id"] == "a"))
            .expect("a")
            .clone();
        humantime::parse_rfc3339(a["since"].as_str().expect("since"))
            .expect("rfc3339")
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs()
    };
    let first = crate::serve::serve(&t, &["--interval", "100ms", "--state", "s.json"]);
    let since = since_of(&first.addr);
    std::thread::sleep(std::time::Duration::from_millis(200));
    // A second round: the same failure, the same since; two runs remembered.
    assert_eq!(since_of(&first.addr), since);
    drop(first);
    let runs = state(&t)["runs"].as_u64().expect("runs");
    assert!(runs >= 2, "{runs}");
    // An hour passes; a new server picks the state up where the old one left it.
    age(&t, 3600);
    let second = crate::serve::serve(&t, &["--interval", "100ms", "--state", "s.json"]);
    assert_eq!(since_of(&second.addr), since - 3600);
    drop(second);
    assert!(state(&t)["runs"].as_u64().expect("runs") > runs);
}

/// `merge` shows since when each host has been as it is, and since when each failing check
/// has failed on each host, from reports of runs with --state.
#[test]
fn merge_shows_since_when_from_reports_of_runs_with_state() {
    let t = two_checks();
    run(&t, false, &[]);
    age(&t, 2 * 3600 + 5 * 60);
    let failing = run(&t, false, &["--format", "json"]);
    let passing = t.run(&["run", "c", "--format", "json"]);
    let rename = |out: &Output, host: &str| {
        let mut doc = out.json();
        doc["host"] = Value::from(host);
        serde_json::to_string(&doc).expect("json")
    };
    let t = t
        .file("reports/host-a.json", &rename(&failing, "host-a"))
        .file("reports/host-b.json", &rename(&passing, "host-b"));
    let out = t.run(&["merge", "reports"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].ends_with("  SINCE"), "{}", out.stdout);
    let a = lines
        .iter()
        .find(|l| l.starts_with("host-a"))
        .expect("host-a");
    assert!(
        a.contains("not ready") && a.ends_with("  2h 5m"),
        "{}",
        out.stdout
    );
    // A report without --state has no since to show.
    let b = lines
        .iter()
        .find(|l| l.starts_with("host-b"))
        .expect("host-b");
    assert!(b.ends_with("   0"), "{}", out.stdout);
    assert!(
        out.stdout.contains("a: fail on 1/2 hosts: host-a (2h 5m)"),
        "{}",
        out.stdout
    );
}
