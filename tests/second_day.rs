//! The second day (issue 25), through the binary: script bugs never hide as warnings, vars
//! keep their types, a gate cannot go green on a run that checked nothing, flags are checked
//! before the run, command-line errors stay one line with clap's hints, Nagios gets UNKNOWN
//! for what it cannot run, a cut-off report in a merge is a missing host, and `-vv` names the
//! check that asked.

use crate::support::{Test, check};

fn optional(id: &str, body: &str) -> String {
    format!(
        "check(#{{ id: \"{id}\", description: \"{id}\", required: false, run: || {{ {body} }} }});\n"
    )
}

#[test]
fn a_script_bug_is_an_error_even_in_an_optional_check_and_is_counted_apart() {
    let t = Test::new().file(
        "c/a.rhai",
        &format!(
            "{}{}{}",
            optional("bug", r#"let x = no_such_function(1); pass("x")"#),
            optional("host", r#"fs::read("/nonexistent/file"); pass("x")"#),
            check("fine", r#"pass("ok")"#),
        ),
    );
    let out = t.run(&["run", "c", "--format", "json"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let bug = out.check("bug");
    assert_eq!(bug["status"], "error", "{bug}");
    assert_eq!(bug["script_error"], true, "{bug}");
    assert!(
        bug["message"]
            .as_str()
            .unwrap_or_default()
            .contains("no_such_function"),
        "{bug}"
    );
    // A host error in an optional check is still a warning: it says something of the host.
    assert_eq!(out.check("host")["status"], "warn");
    assert_eq!(out.json()["summary"]["script_errors"], 1);
    let human = t.run(&["run", "c"]);
    assert!(
        human
            .stdout
            .contains("FAILED (1 required check did not pass, 1 script error)"),
        "{}",
        human.stdout
    );
}

#[test]
fn a_var_keeps_the_type_of_its_default() {
    let t = Test::new()
        .file(
            "c/a.rhai",
            &check(
                "a",
                r#"pass(`${type_of(vars::images)} ${type_of(vars::iface)}`)"#,
            ),
        )
        .file("c/vars.toml", "images = [\"a:1\"]\niface = \"eth0\"\n")
        .file("site.toml", "images = \"ghcr.io/x:1\"\n");
    let out = t.run(&["run", "c", "--vars", "site.toml"]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("var `images` is a list in c/vars.toml but a string in site.toml"),
        "{}",
        out.stderr
    );
    let out = t.run(&["run", "c", "--var", "images=5"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("but an integer in --var images=5"),
        "{}",
        out.stderr
    );
    // Where the default is a string, a flag's value is that string as typed.
    let out = t.run(&["run", "c", "--var", "iface=123", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.message("a"), "array string");
}

#[test]
fn a_run_that_checked_nothing_is_no_pass() {
    let t = Test::new().file(
        "c/a.rhai",
        &format!(
            "{}{}",
            check("one", r#"pass("x")"#),
            check("two", r#"skip("not here")"#)
        ),
    );
    let out = t.run(&["run", "c", "--skip", "one", "--format", "json"]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("nothing was checked"), "{}", out.stderr);
    // The report is still written, and says it is not ok.
    assert_eq!(out.json()["ok"], false);
    let human = t.run(&["run", "c", "--skip", "one"]);
    assert!(human.stdout.contains("NOTHING CHECKED"), "{}", human.stdout);
    let nagios = t.run(&["run", "c", "--skip", "one", "--format", "nagios"]);
    assert_eq!(nagios.code, 3);
    assert!(
        nagios
            .stdout
            .starts_with("HOSTSCRIPT UNKNOWN - nothing was checked"),
        "{}",
        nagios.stdout
    );
    // A waiver is a decision: a waived check counts as checked.
    let t = t.file(
        "c/waivers.toml",
        "[[waiver]]\nid = \"two\"\nreason = \"no such thing here\"\nexpires = \"2099-01-01\"\n",
    );
    let out = t.run(&["run", "c", "--skip", "one"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
}

#[test]
fn flags_are_checked_before_the_run() {
    let t = Test::new().file(
        "c/a.rhai",
        &check("a", r#"cmd::run(["sh", "-c", "echo x >> ran"]); pass("x")"#),
    );
    let out = t.run(&["run", "c", "-o", "json=missing/dir/report.json"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("directory `missing/dir` does not exist"),
        "{}",
        out.stderr
    );
    assert!(!t.path("ran").exists(), "the run must not have happened");
    let out = t.run(&["run", "c", "--skip", "b", "--var", "typo_var=1"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("warning: --skip 'b' matches no check"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("warning: --var typo_var: no vars file defines"),
        "{}",
        out.stderr
    );
}

#[test]
fn command_line_errors_are_one_line_with_clap_hints() {
    let t = Test::new();
    let out = t.run(&["run", "--onyl", "x"]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr.trim_end(),
        "hostscript: error: unexpected argument '--onyl' found; tip: a similar argument exists: '--only'"
    );
    let out = t.run(&["run", "--format", "xml"]);
    assert!(
        out.stderr
            .contains("[possible values: human, json, prometheus, junit, tap, nagios]"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("\\n"), "{}", out.stderr);
    assert_eq!(out.stderr.trim_end().lines().count(), 1, "{}", out.stderr);
}

#[test]
fn nagios_gets_unknown_for_what_it_cannot_run_and_critical_names_errors() {
    let t = Test::new().file(
        "c/a.rhai",
        &format!(
            "{}{}",
            check("broken", r#"fail("down")"#),
            check("odd", r#"throw "cannot tell""#)
        ),
    );
    let out = t.run(&["run", "nowhere", "--format", "nagios"]);
    assert_eq!(out.code, 3, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .starts_with("HOSTSCRIPT UNKNOWN - path `nowhere` does not exist"),
        "{}",
        out.stdout
    );
    let out = t.run(&["run", "c", "--format", "nagios", "--bogus"]);
    assert_eq!(out.code, 3);
    assert!(
        out.stdout
            .starts_with("HOSTSCRIPT UNKNOWN - unexpected argument '--bogus'")
    );
    let out = t.run(&["run", "c", "--format", "nagios"]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stdout
            .starts_with("HOSTSCRIPT CRITICAL - 1 required check failed: broken; 1 errored: odd"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_cut_off_report_in_a_merge_is_a_missing_host() {
    let t = Test::new().file("c/a.rhai", &check("a", r#"pass("x")"#));
    let out = t.run(&["run", "c", "--format", "json"]);
    std::fs::create_dir_all(t.path("reports")).expect("mkdir");
    std::fs::write(t.path("reports/good.json"), &out.stdout).expect("write");
    std::fs::write(t.path("reports/node-7.json"), "").expect("write");
    std::fs::write(
        t.path("reports/node-8.json"),
        &out.stdout[..out.stdout.len() / 2],
    )
    .expect("write");
    let merged = t.run(&["merge", "reports", "--format", "json"]);
    assert_eq!(merged.code, 1, "{}{}", merged.stdout, merged.stderr);
    let missing = &merged.json()["missing"];
    assert_eq!(
        missing,
        &serde_json::json!(["node-7", "node-8"]),
        "{}",
        merged.stdout
    );
    assert!(
        merged.stderr.contains("node-7.json: empty"),
        "{}",
        merged.stderr
    );
}

#[test]
fn the_debug_log_names_the_check_that_asked() {
    let t = Test::new().file("c/a.rhai", &check("asker", r#"fs::exists("x"); pass("x")"#));
    let out = t.run(&["run", "c", "-vv"]);
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains(" host question=fs.stat x"))
        .unwrap_or_else(|| panic!("{}", out.stderr));
    assert!(line.contains(" ms="), "{line}");
    assert!(line.ends_with("check=asker"), "{line}");
}

#[test]
fn a_misspelt_check_key_breaks_that_check_alone_with_a_did_you_mean() {
    let t = Test::new().file(
        "c/a.rhai",
        r#"check(#{ id: "one", descripton: "typo", run: || pass("x") });
check(#{ id: "two", description: "fine", run: || pass("y") });
check(#{ id: "three", description: "d", requird: false, run: || pass("z") });
"#,
    );
    let out = t.run(&["run", "c", "--format", "json"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(out.check("two")["status"], "pass");
    let one = out.check("one");
    assert_eq!(one["status"], "error");
    assert_eq!(one["script_error"], true);
    assert!(
        one["message"].as_str().unwrap_or_default().contains(
            "c/a.rhai:1: check `one`: unknown key `descripton`; did you mean `description`?"
        ),
        "{one}"
    );
    // Not demoted, though it meant to be optional: the declaration is what is wrong.
    assert_eq!(out.check("three")["status"], "error");
    let lint = t.run(&["lint", "c"]);
    assert_eq!(lint.code, 1);
    assert!(
        lint.stdout.contains("did you mean `description`"),
        "{}",
        lint.stdout
    );
    assert!(
        lint.stdout.contains("did you mean `required`"),
        "{}",
        lint.stdout
    );
}

#[test]
fn lint_points_at_the_value_of_an_in_place_method() {
    let t = Test::new().file(
        "c/a.rhai",
        &check(
            "sysctl",
            r#"let key = "net.ipv4.ip_forward";
               key.replace(".", "/");
               let path = "/proc/sys/" + key.replace(".", "/");
               pass(path)"#,
        ),
    );
    let lint = t.run(&["lint", "c"]);
    assert_eq!(lint.code, 1, "{}{}", lint.stdout, lint.stderr);
    let problems: Vec<&str> = lint.stdout.lines().collect();
    assert_eq!(problems.len(), 1, "{}", lint.stdout);
    assert!(
        problems[0].contains(":3:")
            && problems[0].contains("`.replace(..)` changes its receiver in place and returns ()"),
        "{}",
        lint.stdout
    );
}

#[test]
fn a_wrong_call_names_the_forms_it_could_have_been_at_run_time_and_in_lint() {
    let t = Test::new().file(
        "c/a.rhai",
        &format!(
            "{}{}",
            check("args", r#"net::listening("9090", "tcp"); pass("x")"#),
            check("name", r#"fs::exsts("/x"); pass("x")"#),
        ),
    );
    let out = t.run(&["run", "c", "--format", "json"]);
    assert!(
        out.message("args").ends_with(
            "`net::listening(port: int) -> bool` or `net::listening(address: string, port: int) -> bool`: called with (string, string)"
        ),
        "{}",
        out.message("args")
    );
    assert!(
        out.message("name")
            .ends_with("no function `fs::exsts`; did you mean `fs::exists`? (hostscript doc fs)"),
        "{}",
        out.message("name")
    );
    let lint = t.run(&["lint", "c"]);
    assert!(
        lint.stdout.contains("called with (string, string)"),
        "{}",
        lint.stdout
    );
}

/// A systemctl that says what systemctl says where systemd is not PID 1.
fn no_systemd(t: &Test) -> String {
    let path = t.path("bin/systemctl");
    std::fs::create_dir_all(t.path("bin")).expect("mkdir");
    std::fs::write(
        &path,
        "#!/bin/sh\necho 'System has not been booted with systemd as init system (PID 1). Can'\"'\"'t operate.' >&2\necho 'Failed to connect to bus: Host is down' >&2\nexit 1\n",
    )
    .expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path.display().to_string()
}

#[test]
fn one_missing_systemd_is_said_once_and_the_checks_that_need_it_skip() {
    let checks = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("checks");
    let t = Test::new();
    let systemctl = no_systemd(&t);
    let out = t.run_with_env(
        &[
            "run",
            checks.to_str().expect("utf-8"),
            "--var",
            "check_registries=false",
            "--format",
            "json",
        ],
        &[("HOSTSCRIPT_SYSTEMCTL", &systemctl)],
    );
    let host = out.check("host.systemd");
    assert_eq!(host["status"], "fail", "{host}");
    assert!(
        host["message"]
            .as_str()
            .unwrap_or_default()
            .contains("systemd is not running on this host"),
        "{host}"
    );
    let doc = out.json();
    let mentions = doc["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| {
            c["message"]
                .as_str()
                .unwrap_or_default()
                .contains("systemd is not running on this host")
        })
        .count();
    assert_eq!(mentions, 1, "said once: {}", out.stdout);
    for id in [
        "containerd.service",
        "flintlockd.service",
        "flintlockd.config",
        "firecracker.binary",
        "disk.space",
        "net.mode_provider",
    ] {
        assert_eq!(out.check(id)["status"], "skip", "{id}");
        assert_eq!(out.message(id), "needs `host.systemd`, which failed");
    }
    // A fix that restarts units cannot help here: no `fix:` naming it.
    let config = out.check("containerd.config");
    assert_eq!(config["status"], "fail", "{config}");
    assert!(config["remediation"].is_null(), "{config}");
    assert!(
        config["no_fix"]
            .as_str()
            .unwrap_or_default()
            .contains("reloads and restarts units"),
        "{config}"
    );
}

#[test]
fn a_checkout_finds_its_remediations_beside_its_checks_and_the_hint_works_as_printed() {
    let t = Test::new()
        .file(
            "checks/a.rhai",
            "check(#{ id: \"a\", description: \"d\", remediation: \"x\", run: || fail(\"broken\") });\n",
        )
        .file("checks/vars.toml", "marker = \"from-checks\"\n")
        .file(
            "remediations/x.rhai",
            "remediation(#{ id: \"x\", description: \"fixes a\", run: || { fix::require(vars::marker == \"from-checks\", \"the checks' vars\"); } });\n",
        );
    let out = t.run(&["run", "checks"]);
    assert!(
        out.stdout
            .contains("fix: hostscript remediate --remediations remediations --checks checks x"),
        "{}",
        out.stdout
    );
    // The hint, as printed: it finds the remediation and the checks' vars.
    let out = t.run(&[
        "remediate",
        "--remediations",
        "remediations",
        "--checks",
        "checks",
        "x",
        "--dry-run",
    ]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    // And without --checks: the checks/ beside remediations/.
    let out = t.run(&[
        "remediate",
        "--remediations",
        "remediations",
        "x",
        "--dry-run",
    ]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    // `run --fix` in the checkout: the remediations/ beside checks/.
    let out = t.run(&["run", "checks", "--fix", "--dry-run"]);
    assert!(
        !out.stderr.contains("no suite is installed"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("x"), "{}{}", out.stdout, out.stderr);
    // lint takes --waivers.
    let t = t.file(
        "w.toml",
        "[[waiver]]\nid = \"nothing.here\"\nreason = \"r\"\nexpires = \"2099-01-01\"\n",
    );
    let lint = t.run(&["lint", "checks", "--waivers", "w.toml"]);
    assert!(
        lint.stdout
            .contains("waiver `nothing.here` matches no check"),
        "{}{}",
        lint.stdout,
        lint.stderr
    );
}

#[test]
fn the_report_and_list_fit_a_hundred_columns_with_long_ids_on_lines_of_their_own() {
    let long_id = format!("site.{}", "x".repeat(60));
    let t = Test::new().file(
        "c/a.rhai",
        &format!(
            "{}{}",
            check(
                "wordy",
                &format!(
                    r#"fail("{}")"#,
                    "a very long message about the host ".repeat(8)
                )
            ),
            check(&long_id, r#"pass("ok")"#),
        ),
    );
    for args in [vec!["run", "c", "-v"], vec!["list", "c"]] {
        let out = t.run_with_env(&args, &[("COLUMNS", "")]);
        for line in out.stdout.lines() {
            assert!(
                line.chars().count() <= 100,
                "{args:?}: {} > 100: {line}",
                line.chars().count()
            );
        }
        assert!(
            out.stdout.lines().any(|l| l.trim_end().ends_with(&long_id)),
            "{}",
            out.stdout
        );
    }
    let narrow = t.run_with_env(&["run", "c"], &[("COLUMNS", "60")]);
    assert!(
        narrow.stdout.lines().all(|l| l.chars().count() <= 60),
        "{}",
        narrow.stdout
    );
}

#[test]
fn lint_points_at_a_var_that_landed_inside_a_table() {
    let t = Test::new()
        .file("c/a.rhai", &check("a", r#"pass(vars::iface)"#))
        .file(
            "c/vars.toml",
            "iface = \"eth0\"\n[metadata]\nowner = \"ops\"\n",
        )
        .file("site.toml", "# site values\n[metadata]\niface = \"eth1\"\n");
    let lint = t.run(&["lint", "c", "--vars", "site.toml"]);
    assert_eq!(lint.code, 1, "{}{}", lint.stdout, lint.stderr);
    assert_eq!(
        lint.stdout.trim_end(),
        "site.toml:3: `iface` is inside [metadata] (it follows that header), but `iface` is a top-level var: move it above the first [table]"
    );
}

#[test]
fn a_near_miss_only_names_the_id_it_meant() {
    let t = Test::new().file("c/a.rhai", &check("kvm.device", r#"pass("x")"#));
    let out = t.run(&["run", "c", "--only", "kvm.devce"]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr.trim_end(),
        "hostscript: error: no checks match the selection (--only 'kvm.devce'): did you mean `kvm.device` for 'kvm.devce'?"
    );
}

#[test]
fn a_failed_step_is_said_once_and_messages_do_not_repeat_their_fix_line() {
    let t = Test::new()
        .file(
            "checks/a.rhai",
            "check(#{ id: \"a\", description: \"d\", remediation: \"x\", run: || fail(\"broken\") });\n",
        )
        .file(
            "remediations/x.rhai",
            "remediation(#{ id: \"x\", description: \"fixes a\", run: || { fix::require(false, \"the pool is damaged\"); } });\n",
        );
    let out = t.run(&["remediate", "--remediations", "remediations", "x"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout.matches("the pool is damaged").count(),
        1,
        "{}",
        out.stdout
    );
    // The shipped suite's messages leave the remediation to the `fix:` line.
    let checks = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("checks");
    let run = t.run(&[
        "run",
        checks.to_str().expect("utf-8"),
        "--var",
        "check_registries=false",
        "--format",
        "json",
    ]);
    for c in run.json()["checks"].as_array().expect("checks") {
        let message = c["message"].as_str().unwrap_or_default();
        assert!(
            !message.contains("(hostscript remediate"),
            "{}: {message}",
            c["id"]
        );
        assert!(!message.contains(" ms)"), "{}: {message}", c["id"]);
    }
}
