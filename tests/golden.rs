//! The human, JUnit and Prometheus reports of a fixed set of checks, compared whole against
//! the files in `tests/golden/` after the values that change from run to run (durations,
//! timestamps, the host name) are replaced by placeholders. `UPDATE_GOLDEN=1 cargo test
//! golden` rewrites the files after an intended change; review the diff before committing.

use crate::support::Test;

const CHECKS: &str = r#"check(#{ id: "g.pass", description: "passes", tags: ["t"], run: || pass("all good", #{ version: "1.2.3" }) });
check(#{ id: "g.warn", description: "warns", run: || warn("almost full") });
check(#{ id: "g.fail", description: "fails", remediation: "fixit", run: || fail("broken thing") });
check(#{ id: "g.skip", description: "skips", run: || skip("tap mode") });
check(#{ id: "g.error", description: "errors", run: || { throw "cannot tell" } });
check(#{ id: "g.optional", description: "optional", required: false, run: || fail("not needed") });
check(#{ id: "g.manual", description: "manual", remediation: "fixit", run: || fail("damaged").no_fix("repair by hand") });
"#;

/// Replaces what differs between runs: `(3 ms)`, `in 1.2 s`, `time="0.001"`, the values of
/// duration and timestamp series, and the host name.
fn normalize(text: &str) -> String {
    let host = hostname();
    let mut out = String::new();
    for line in text.lines() {
        let mut line = line
            .replace(&format!("\"{host}\""), "\"HOST\"")
            .replace(&format!(" on {host}"), " on HOST");
        // Human: a duration in parentheses at the end of a check line.
        if (line.ends_with("ms)") || line.ends_with(" s)"))
            && let Some(at) = line.rfind(" (")
        {
            line = format!("{} (T)", &line[..at]);
        }
        // Human summary: "... in 17 ms — OK".
        if let (Some(a), Some(b)) = (line.find(" in "), line.find(" — "))
            && a < b
            && line[a + 4..b]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit())
        {
            line = format!("{} in T{}", &line[..a], &line[b..]);
        }
        // ... or the summary alone on its line, the verdict on the next: "... in 17 ms".
        if line.contains(" checks on ")
            && (line.ends_with(" ms") || line.ends_with(" s"))
            && let Some(a) = line.rfind(" in ")
        {
            line = format!("{} in T", &line[..a]);
        }
        // JUnit: time="0.001".
        while let Some(at) = line.find("time=\"") {
            let rest = &line[at + 6..];
            let Some(end) = rest.find('"') else { break };
            if &rest[..end] == "T" {
                break;
            }
            line = format!("{}time=\"T\"{}", &line[..at], &rest[end + 1..]);
        }
        // Nagios perfdata: duration=0.012s.
        if let Some(at) = line.find("duration=")
            && let Some(end) = line[at..].find("s;")
        {
            line = format!("{}duration=T{}", &line[..at], &line[at + end..]);
        }
        // Prometheus: duration and timestamp series.
        if (line.starts_with("hostscript_check_duration_seconds")
            || line.starts_with("hostscript_run_duration_seconds")
            || line.starts_with("hostscript_run_timestamp_seconds"))
            && let Some(at) = line.rfind(' ')
        {
            line = format!("{} T", &line[..at]);
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

fn golden(name: &str, args: &[&str]) {
    let t = Test::new().file("c/a.rhai", CHECKS);
    let mut full = vec!["run", "c", "--jobs", "1", "--color", "never"];
    full.extend_from_slice(args);
    let out = t.run(&full);
    // Nagios exits with the plugin state (2, CRITICAL); every other format 1.
    let want_code = if args.contains(&"nagios") { 2 } else { 1 };
    assert_eq!(out.code, want_code, "{}", out.stderr);
    let got = normalize(&out.stdout);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).expect("write golden");
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(got, want, "{name} differs from its golden file");
}

#[test]
fn the_human_report_matches_its_golden_file() {
    golden("human.txt", &[]);
}

#[test]
fn the_junit_report_matches_its_golden_file() {
    golden("junit.xml", &["--format", "junit"]);
}

#[test]
fn the_prometheus_report_matches_its_golden_file() {
    golden("prometheus.prom", &["--format", "prometheus"]);
}

#[test]
fn the_tap_report_matches_its_golden_file() {
    golden("tap.txt", &["--format", "tap"]);
}

#[test]
fn the_nagios_line_matches_its_golden_file() {
    golden("nagios.txt", &["--format", "nagios"]);
}

#[test]
fn nagios_exit_codes_are_plugin_states() {
    for (body, code, word) in [
        (r#"pass("ok")"#, 0, "HOSTSCRIPT OK"),
        (r#"warn("hmm")"#, 1, "HOSTSCRIPT WARNING"),
        (r#"fail("no")"#, 2, "HOSTSCRIPT CRITICAL"),
        (r#"throw "cannot tell""#, 3, "HOSTSCRIPT UNKNOWN"),
    ] {
        let t = Test::new().file("c/a.rhai", &crate::support::check("x", body));
        let out = t.run(&["run", "c", "--format", "nagios"]);
        assert_eq!(out.code, code, "{body}: {}", out.stdout);
        assert!(out.stdout.starts_with(word), "{body}: {}", out.stdout);
        assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    }
}
