//! The command line: exit codes, usage errors, output formats, colour, list and lint.

use crate::support::{Test, check};

#[test]
fn exit_codes_follow_the_required_checks() {
    let pass = Test::new().file("c/a.rhai", &check("a", r#"pass("")"#));
    assert_eq!(pass.run(&["run", "c"]).code, 0);
    let fail = Test::new().file("c/a.rhai", &check("a", r#"fail("")"#));
    assert_eq!(fail.run(&["run", "c"]).code, 1);
    let error = Test::new().file("c/a.rhai", &check("a", r#"throw "x""#));
    assert_eq!(error.run(&["run", "c"]).code, 1);
}

#[test]
fn usage_and_configuration_errors_exit_2_with_one_line() {
    let t = Test::new()
        .file("c/a.rhai", &check("a", r#"pass("")"#))
        .file("empty/README", "no scripts here")
        .file("bad.toml", "x = [1, 2\n");
    let cases: [(&[&str], &str); 6] = [
        (&["run", "c", "--no-such-flag"], "--no-such-flag"),
        (
            &["run", "missing"],
            "hostscript: error: path `missing` does not exist",
        ),
        (
            &["run", "empty"],
            "hostscript: error: no .rhai scripts found in `empty`",
        ),
        (
            &["run", "c", "--vars", "bad.toml"],
            "hostscript: error: bad.toml:1:10: malformed vars file: unclosed array",
        ),
        (
            &["run", "c", "--var", "novalue"],
            "hostscript: error: --var `novalue`: expected KEY=VALUE",
        ),
        (
            &["run", "c", "--timeout=0"],
            "for '--timeout <DURATION>': `0` is not a duration (10, 2.5, 10s, 1m30s, 500ms, 2h)",
        ),
    ];
    for (args, expected) in cases {
        let out = t.run(args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(expected), "{args:?}: {}", out.stderr);
        assert!(
            out.stdout.is_empty(),
            "{args:?} printed to stdout: {}",
            out.stdout
        );
    }
    let missing_vars = t.run(&["run", "c", "--vars", "nope.toml"]);
    assert_eq!(missing_vars.code, 2);
    assert_eq!(
        missing_vars.stderr.trim(),
        "hostscript: error: path `nope.toml` does not exist"
    );
}

#[test]
fn a_directory_whose_files_declare_nothing_is_a_usage_error() {
    let t = Test::new().file("c/a.rhai", "let x = 1;\n");
    let out = t.run(&["run", "c"]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr.trim(),
        "hostscript: error: no checks found in `c`"
    );
}

#[test]
fn files_and_globs_are_accepted_besides_directories() {
    let t = Test::new()
        .file("c/a.rhai", &check("a", r#"pass("")"#))
        .file("c/b.rhai", &check("b", r#"pass("")"#))
        .file("site/extra.rhai", &check("extra", r#"pass("")"#));
    let out = t.run(&["run", "c/a.rhai", "site/extra.rhai", "--format", "json"]);
    assert_eq!(out.json()["summary"]["total"], 2);
    let out = t.run(&["run", "c/*.rhai", "--format", "json"]);
    assert_eq!(out.json()["summary"]["total"], 2);
}

#[test]
fn json_report_follows_the_documented_schema() {
    let t = Test::new().file(
        "c/a.rhai",
        r#"print("diagnostics go to stderr");
           check(#{ id: "kvm.access", description: "KVM is usable", tags: ["kvm"], remediation: "kvm-access",
                    needs: [], required: true, remote: false, timeout: 5,
                    run: || fail("root cannot write /dev/kvm", #{ mode: "0600" }) });"#,
    );
    let out = t.run(&["run", "c", "--format", "json"]);
    let doc = out.json();
    let keys: Vec<&str> = doc
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    for key in [
        "schema_version",
        "ok",
        "host",
        "duration_ms",
        "summary",
        "checks",
    ] {
        assert!(keys.contains(&key), "missing top-level `{key}`");
    }
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["schema_version"], 1);
    assert!(doc["host"].as_str().is_some_and(|h| !h.is_empty()));
    assert_eq!(
        doc["summary"],
        serde_json::json!({"pass": 0, "warn": 0, "fail": 1, "skip": 0, "error": 0, "total": 1, "script_errors": 0})
    );
    let c = &doc["checks"][0];
    for key in [
        "id",
        "description",
        "file",
        "line",
        "status",
        "required",
        "message",
        "details",
        "duration_ms",
        "tags",
        "remediation",
    ] {
        assert!(c.get(key).is_some(), "missing check field `{key}`");
    }
    assert_eq!(c["file"], "c/a.rhai");
    assert_eq!(c["line"], 2);
    assert_eq!(c["remediation"], "kvm-access");
    assert_eq!(c["details"]["mode"], "0600");
    assert!(out.stderr.contains("diagnostics go to stderr"));
}

#[test]
fn human_report_shows_status_fix_and_summary_and_colours_only_when_asked() {
    let t = Test::new().file(
        "c/a.rhai",
        r#"check(#{ id: "kvm.access", description: "d", remediation: "kvm-access", run: || fail("root cannot write /dev/kvm") });
           check(#{ id: "kvm.device", description: "d", run: || pass("char device 10:232", #{ major: 10 }) });"#,
    );
    let out = t.run(&["run", "c"]);
    assert!(
        !out.stdout.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("FAIL   kvm.access  root cannot write /dev/kvm  ("),
        "{}",
        out.stdout
    );
    assert_eq!(lines[1].trim(), "fix: hostscript remediate kvm-access");
    assert!(
        lines[2].starts_with("PASS   kvm.device  char device 10:232"),
        "{}",
        out.stdout
    );
    // A pass's details show with -v; -q shows only what did not pass.
    assert!(!out.stdout.contains("major=10"), "{}", out.stdout);
    let verbose = t.run(&["run", "c", "-v"]);
    assert_eq!(
        verbose.stdout.lines().nth(3).map(str::trim),
        Some("major=10"),
        "{}",
        verbose.stdout
    );
    let quiet = t.run(&["run", "c", "-q"]);
    assert!(!quiet.stdout.contains("kvm.device"), "{}", quiet.stdout);
    assert!(
        quiet.stdout.contains("FAIL   kvm.access") && quiet.stdout.contains("2 checks on"),
        "{}",
        quiet.stdout
    );
    // -vv logs the host calls on stderr, not in the report.
    let traced = Test::new().file("c/a.rhai", &check("t", r#"cmd::run(["true"]); pass("")"#));
    let out_vv = traced.run(&["run", "c", "-vv"]);
    assert!(
        out_vv.stderr.contains("cmd::run argv=[\"true\"]"),
        "{}",
        out_vv.stderr
    );
    assert!(!out_vv.stdout.contains("cmd::run"), "{}", out_vv.stdout);
    assert!(out.stdout.contains("2 checks on"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("FAILED (1 required check did not pass)"),
        "{}",
        out.stdout
    );

    let coloured = t.run(&["run", "c", "--color", "always"]);
    assert!(
        coloured.stdout.contains("\x1b[1m\x1b[31mFAIL"),
        "{}",
        coloured.stdout
    );
    // The conventions: a flag beats the environment (no-color.org); with `auto`, NO_COLOR
    // beats CLICOLOR_FORCE, which beats TERM=dumb and a pipe.
    let colours = |args: &[&str], env: &[(&str, &str)]| {
        let mut full = vec!["run", "c"];
        full.extend_from_slice(args);
        t.run_with_env(&full, env).stdout.contains('\x1b')
    };
    assert!(
        colours(&["--color", "always"], &[("NO_COLOR", "1")]),
        "--color always beats NO_COLOR"
    );
    assert!(!colours(&["--color", "never"], &[("CLICOLOR_FORCE", "1")]));
    assert!(!colours(&[], &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")]));
    assert!(
        colours(&[], &[("CLICOLOR_FORCE", "1")]),
        "CLICOLOR_FORCE colours a pipe"
    );
    assert!(!colours(&[], &[("CLICOLOR_FORCE", "0")]));
    assert!(!colours(&[], &[("TERM", "dumb")]));
    assert!(!colours(&[], &[]), "a pipe gets no colour");
}

#[test]
fn list_shows_declarations_without_running_them() {
    let t = Test::new().file(
        "c/a.rhai",
        r#"check(#{ id: "thinpool.health", description: "pool is healthy", tags: ["dm"], needs: ["thinpool.present"], remediation: "thinpool", run: || { throw "must not run" } });
           check(#{ id: "thinpool.present", description: "pool exists", required: false, remote: true, run: || { throw "must not run" } });"#,
    );
    let out = t.run(&["list", "c"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("thinpool.health   yes       pool is healthy  [tags: dm; needs: thinpool.present; fix: thinpool]"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("thinpool.present  optional  pool exists  [remote]"),
        "{}",
        out.stdout
    );
    let json: serde_json::Value =
        serde_json::from_str(&t.run(&["list", "c", "--format", "json"]).stdout).expect("json");
    assert_eq!(json[0]["needs"], serde_json::json!(["thinpool.present"]));
    assert_eq!(json[1]["required"], false);
}

#[test]
fn lint_reports_every_problem_as_file_line_col() {
    let t = Test::new()
        .file("c/a.rhai", "let x = ;\n")
        .file("c/b.rhai", "\ncheck(#{ id: \"b\", description: \"d\", needs: [\"ghost\"], run: || pass(\"\") });\n")
        .file("c/c.rhai", "check(#{ id: \"c\", run: || pass(\"\") });\n")
        .file("c/d.rhai", "fn f() { undefined_variable }\n")
        .file("ok/fine.rhai", &check("fine", r#"pass("")"#));
    let out = t.run(&["lint", "c"]);
    assert_eq!(out.code, 1);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "c/a.rhai:1:9: Unexpected ';'",
            "c/d.rhai:1:10: Undefined variable: undefined_variable",
            "c/c.rhai:1: check `c` needs a `description`",
            "c/b.rhai:2: check `b` needs unknown check `ghost`",
        ],
        "{}",
        out.stdout
    );
    let clean = t.run(&["lint", "ok"]);
    assert_eq!(clean.code, 0, "{}{}", clean.stdout, clean.stderr);
    assert!(
        clean.stderr.contains("1 script, 1 check, 0 problems"),
        "{}",
        clean.stderr
    );
}

#[test]
fn shipped_checks_lint_clean_and_each_file_says_what_it_is_for() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = repo.join("checks");
    // Together, so every remediation a check names must exist.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hostscript"))
        .arg("lint")
        .arg(&root)
        .arg(repo.join("remediations"))
        .output()
        .expect("run lint");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("8 remediations, 0 problems"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files = std::fs::read_dir(&root)
        .expect("checks/")
        .chain(std::fs::read_dir(repo.join("remediations")).expect("remediations/"));
    for entry in files {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "rhai") {
            let text = std::fs::read_to_string(&path).expect("read");
            assert!(
                text.starts_with("//! "),
                "{} must start with a //! summary line",
                path.display()
            );
        }
    }
}

#[test]
fn a_reader_that_goes_away_gets_no_error_message() {
    // `hostscript run checks/ | head -1`: the pipe closes before the report is written.
    let test = Test::new().file(
        "c.rhai",
        &(0..200)
            .map(|i| check(&format!("c.{i}"), "pass(\"ok\")"))
            .collect::<String>(),
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hostscript"))
        .args(["run", "."])
        .current_dir(test.root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn lint_of_checks_with_remediations_flags_unknown_remediation_ids() {
    let t = Test::new()
        .file(
            "c/a.rhai",
            "check(#{ id: \"a\", description: \"a\", remediation: \"nope\", run: || pass(\"\") });\n",
        )
        .file(
            "r/fix.rhai",
            "remediation(#{ id: \"real\", description: \"r\", after: [\"missing\"], run: || {} });\n",
        );
    let out = t.run(&["lint", "c", "r"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout
            .contains("c/a.rhai:1: check `a` names unknown remediation `nope`"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("r/fix.rhai:1: remediation `real` runs after unknown remediation `missing`"),
        "{}",
        out.stdout
    );
}

#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn run_fix_remediates_what_failed_checks_name_and_shows_before_and_after() {
    let t = Test::new()
        .file(
            "c/a.rhai",
            "check(#{ id: \"demo.file\", description: \"d\", remediation: \"demo\", run: || if fs::exists(vars::root + \"/etc/demo.conf\") { pass(\"present\") } else { fail(\"missing\") } });\n\
             check(#{ id: \"demo.other\", description: \"d\", remediation: \"never\", run: || pass(\"fine\") });\n",
        )
        .file(
            "r/demo.rhai",
            "remediation(#{ id: \"demo\", description: \"write the demo file\", touches: [\"/etc/demo.conf\"], run: || { fix::write_file(\"/etc/demo.conf\", \"x = 1\\n\"); } });\n\
             remediation(#{ id: \"never\", description: \"must not run\", run: || { throw \"ran\"; } });\n",
        );
    let root = t.path("root");
    std::fs::create_dir_all(&root).expect("root");
    let root_text = root.to_str().expect("utf-8");
    let args = |extra: &[&'static str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "run",
            "c",
            "--fix",
            "--remediations",
            "r",
            "--root",
            root_text,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(["--var".to_string(), format!("root={root_text}")]);
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run = |extra: &[&'static str]| {
        let a = args(extra);
        t.run(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let dry = run(&["--dry-run", "--color", "never"]);
    assert_eq!(dry.code, 1, "{}", dry.stdout);
    assert!(
        dry.stdout.contains("Would remediate one: demo"),
        "{}",
        dry.stdout
    );
    assert!(dry.stdout.contains("+x = 1"), "{}", dry.stdout);
    assert!(!root.join("etc/demo.conf").exists());
    let fixed = run(&["--color", "never"]);
    assert_eq!(fixed.code, 0, "{}\n{}", fixed.stdout, fixed.stderr);
    assert!(
        fixed
            .stdout
            .contains("Before → after:\n  demo.file: fail → pass\n"),
        "{}",
        fixed.stdout
    );
    assert_eq!(
        std::fs::read_to_string(root.join("etc/demo.conf")).expect("written"),
        "x = 1\n"
    );
    let again = run(&["--format", "json"]);
    let doc = again.json();
    assert_eq!(doc["ok"], true);
    assert_eq!(
        doc["note"],
        "nothing to fix: no failed check names a remediation"
    );

    let list = t.run(&["remediate", "--list", "--remediations", "r"]);
    assert_eq!(list.code, 0);
    assert!(
        list.stdout
            .contains("demo   write the demo file  [touches: /etc/demo.conf]"),
        "{}",
        list.stdout
    );
    assert_eq!(
        t.run(&["run", "c", "--dry-run"]).code,
        2,
        "--dry-run needs --fix"
    );
    // A failed check naming a remediation nobody defined: said on stderr, the rest goes on.
    let orphan = Test::new()
        .file(
            "c/a.rhai",
            "check(#{ id: \"x\", description: \"d\", remediation: \"ghost\", run: || fail(\"no\") });\n",
        )
        .file("r/demo.rhai", "remediation(#{ id: \"demo\", description: \"d\", run: || {} });\n");
    let out = orphan.run(&[
        "run",
        "c",
        "--fix",
        "--dry-run",
        "--remediations",
        "r",
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("names remediation `ghost`, which `r` does not define"),
        "{}",
        out.stderr
    );
    assert_eq!(
        out.json()["note"],
        "nothing to fix automatically: no failed check names a remediation that applies"
    );
}

#[test]
fn fix_names_every_check_it_does_not_remediate_and_why() {
    let t = Test::new()
        .file(
            "c/a.rhai",
            r#"check(#{ id: "fixable", description: "d", remediation: "demo", run: || fail("no") });
check(#{ id: "by-hand", description: "d", run: || fail("replace the disk") });
check(#{ id: "broken", description: "d", remediation: "demo", run: || throw "cannot tell" });
check(#{ id: "damaged", description: "d", remediation: "demo",
         run: || fail("pool needs thin_repair").no_fix("repair the metadata with thin_check/thin_repair") });
check(#{ id: "fine", description: "d", remediation: "demo", run: || pass("ok") });
"#,
        )
        .file("r/demo.rhai", "remediation(#{ id: \"demo\", description: \"d\", run: || {} });\n");
    let out = t.run(&[
        "run",
        "c",
        "--fix",
        "--dry-run",
        "--remediations",
        "r",
        "--format",
        "json",
    ]);
    let doc = out.json();
    let skipped: Vec<(String, String)> = doc["not_remediated"]
        .as_array()
        .expect("not_remediated")
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap_or_default().to_string(),
                s["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let ids: Vec<&str> = skipped.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["by-hand", "broken", "damaged"], "{doc}");
    assert!(skipped[0].1.contains("names no remediation"), "{skipped:?}");
    assert!(skipped[1].1.contains("errored"), "{skipped:?}");
    assert!(skipped[2].1.contains("thin_repair"), "{skipped:?}");
    let ran: Vec<&str> = doc["remediation"]["remediations"]
        .as_array()
        .expect("remediations")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ran, ["demo"], "{doc}");
    // The report carries why the declared remediation does not apply.
    let damaged = doc["before"]["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["id"] == "damaged").cloned())
        .expect("damaged");
    assert_eq!(
        damaged["no_fix"],
        "repair the metadata with thin_check/thin_repair"
    );
    // Human: a "Not remediated" section, and the damaged check shows no remediate line.
    let human = t.run(&[
        "run",
        "c",
        "--fix",
        "--dry-run",
        "--remediations",
        "r",
        "--color",
        "never",
    ]);
    assert!(
        human
            .stdout
            .contains("Not remediated:\n  by-hand (fail): it names no remediation"),
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.contains("fix: by hand (repair the metadata"),
        "{}",
        human.stdout
    );
    assert_eq!(
        human
            .stdout
            .matches("fix: hostscript remediate demo")
            .count(),
        2,
        "{}",
        human.stdout
    );
}

#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn a_hostile_or_broken_remediation_fails_alone_within_its_budget() {
    let t = Test::new()
        .file(
            "r/loop.rhai",
            "remediation(#{ id: \"spin\", description: \"loops\", run: || { loop {} } });\n",
        )
        .file("r/broken.rhai", "remediation(#{ id: \"broken\", \n")
        .file(
            "r/fine.rhai",
            "remediation(#{ id: \"fine\", description: \"writes\", run: || { fix::write_file(\"/etc/ok\", \"ok\\n\"); } });\n",
        );
    let root = t.path("root");
    std::fs::create_dir_all(&root).expect("root");
    let started = std::time::Instant::now();
    let out = t.run(&[
        "remediate",
        "spin",
        "fine",
        "--remediations",
        "r",
        "--root",
        root.to_str().expect("utf-8"),
        "--remediation-timeout",
        "1",
        "--format",
        "json",
    ]);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("r/broken.rhai:"), "{}", out.stderr);
    let doc = out.json();
    let by_id = |id: &str| {
        doc["remediations"]
            .as_array()
            .and_then(|all| all.iter().find(|r| r["id"] == id).cloned())
            .unwrap_or_default()
    };
    assert_eq!(by_id("spin")["outcome"], "failed");
    assert!(
        by_id("spin")["error"]
            .as_str()
            .unwrap_or_default()
            .contains("timed out after 1 s"),
        "{doc}"
    );
    assert_eq!(by_id("fine")["outcome"], "changed");
    assert_eq!(
        std::fs::read_to_string(root.join("etc/ok")).expect("ok"),
        "ok\n"
    );
}

#[test]
fn prometheus_format_gives_a_series_per_check_and_status_for_the_textfile_collector() {
    let t = Test::new().file(
        "c/a.rhai",
        &[
            check("kvm.device", r#"pass("ok")"#),
            check("thinpool.present", r#"fail("missing")"#),
        ]
        .concat(),
    );
    let out = t.run(&["run", "c", "--format", "prometheus"]);
    assert_eq!(out.code, 1, "the exit code does not depend on the format");
    let host = nix::unistd::gethostname()
        .expect("hostname")
        .to_string_lossy()
        .into_owned();
    for line in [
        format!(
            "hostscript_check_status{{host=\"{host}\",id=\"kvm.device\",required=\"true\",status=\"pass\"}} 1"
        ),
        format!(
            "hostscript_check_status{{host=\"{host}\",id=\"kvm.device\",required=\"true\",status=\"fail\"}} 0"
        ),
        format!(
            "hostscript_check_status{{host=\"{host}\",id=\"thinpool.present\",required=\"true\",status=\"fail\"}} 1"
        ),
        format!("hostscript_checks{{host=\"{host}\",status=\"fail\"}} 1"),
        format!("hostscript_ready{{host=\"{host}\"}} 0"),
        "# TYPE hostscript_check_status gauge".to_string(),
    ] {
        assert!(
            out.stdout.lines().any(|l| l == line),
            "missing `{line}` in:\n{}",
            out.stdout
        );
    }
    // Every sample line is `name{labels} number`.
    for line in out.stdout.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').expect("a value");
        assert!(value.parse::<f64>().is_ok(), "{line}");
        assert!(
            series.starts_with("hostscript_") && series.ends_with('}'),
            "{line}"
        );
    }
    assert_eq!(t.run(&["list", "c", "--format", "prometheus"]).code, 2);
    assert_eq!(
        t.run(&["run", "c", "--fix", "--format", "prometheus"]).code,
        2
    );
}

#[test]
fn a_template_naming_an_unknown_var_fails_at_its_file_and_line() {
    let t = Test::new()
        .file(
            "r/t.rhai",
            "remediation(#{ id: \"t\", description: \"d\", run: || { fix::template(\"unit.conf\", \"/etc/unit.conf\"); } });\n",
        )
        .file("r/templates/unit.conf", "[Service]\nExecStart={{ binary }} --flag {{ nope }}\n")
        .file("r/vars.toml", "binary = \"/usr/bin/x\"\n");
    let root = t.path("root");
    std::fs::create_dir_all(&root).expect("root");
    let out = t.run(&[
        "remediate",
        "t",
        "--remediations",
        "r",
        "--root",
        root.to_str().expect("utf-8"),
        "--dry-run",
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let error = out.json()["remediations"][0]["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        error.ends_with("r/templates/unit.conf:2: `nope` is undefined"),
        "{error}"
    );
    assert!(!root.join("etc/unit.conf").exists());
}

#[test]
fn junit_format_maps_statuses_to_test_cases_for_ci() {
    let t = Test::new().file(
        "c/a.rhai",
        &[
            check("kvm.device", r#"pass("ok")"#),
            check("thinpool.present", r#"fail("no <pool> & no \"table\"")"#),
            check("net.bridge", r#"skip("macvtap mode")"#),
            check("flintlock.api", r#"throw "boom""#),
            check("kmod.macvtap", r#"warn("cannot determine")"#),
        ]
        .concat(),
    );
    let out = t.run(&["run", "c", "--format", "junit"]);
    assert_eq!(out.code, 1);
    // Parse it with an independent XML parser and read the counts and statuses back.
    let parsed = std::process::Command::new("python3")
        .args([
            "-c",
            r#"
import sys, xml.etree.ElementTree as E
s = E.fromstring(sys.stdin.read()).find('testsuite')
print(s.get('tests'), s.get('failures'), s.get('errors'), s.get('skipped'))
for c in s.findall('testcase'):
    kids = [k.tag for k in c if k.tag != 'properties']
    f = c.find('failure')
    print(c.get('classname'), c.get('name'), ','.join(kids), f.get('message') if f is not None else '')
"#,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(out.stdout.as_bytes())?;
            child.wait_with_output()
        })
        .expect("python3");
    assert!(
        parsed.status.success(),
        "{}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    let text = String::from_utf8_lossy(&parsed.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "5 1 1 1",
            "kvm kvm.device  ",
            "thinpool thinpool.present failure no <pool> & no \"table\"",
            "net net.bridge skipped ",
            "flintlock flintlock.api error ",
            "kmod kmod.macvtap system-out ",
        ],
        "{}",
        out.stdout
    );
}

/// `hostscript ARGS | head -c 1` in bash with pipefail: hostscript's exit status and stderr.
fn into_head(t: &Test, args: &str) -> (i32, String) {
    let out = std::process::Command::new("bash")
        .args([
            "-c",
            &format!(
                "set -o pipefail; '{}' {args} | head -c 1 >/dev/null",
                env!("CARGO_BIN_EXE_hostscript")
            ),
        ])
        .current_dir(t.root())
        .output()
        .expect("bash");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_reader_that_goes_away_changes_neither_the_status_nor_stderr() {
    // Far more output than a pipe holds, so the writes after `head` exits fail.
    let many: String = (0..3000)
        .map(|i| check(&format!("c.{i}"), &format!(r#"pass("{}")"#, "x".repeat(60))))
        .collect();
    let failing = check("c.bad", r#"fail("broken")"#);
    let passing = Test::new().file("c/a.rhai", &many);
    let failing = Test::new().file("c/a.rhai", &(many.clone() + failing.as_str()));
    for format in ["human", "json", "junit", "prometheus"] {
        let (code, stderr) = into_head(&passing, &format!("run c --format {format}"));
        assert_eq!((code, stderr.as_str()), (0, ""), "{format}");
        let (code, stderr) = into_head(&failing, &format!("run c --format {format}"));
        assert_eq!((code, stderr.as_str()), (1, ""), "{format}");
    }
    // lint with thousands of problems (duplicate ids): its status, never a panic.
    let dupes: String = (0..3000).map(|_| check("dup", r#"pass("")"#)).collect();
    let t = Test::new().file("c/a.rhai", &dupes);
    let (code, stderr) = into_head(&t, "lint c");
    assert_eq!(code, 1, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn single_files_and_globs_get_their_directorys_vars() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for path in ["checks/kvm.rhai", "checks/*.rhai"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hostscript"))
            .args(["run", path, "--format", "json", "--only", "kvm.*"])
            .current_dir(repo)
            .output()
            .expect("run");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            !stdout.contains("Variable not found") && !stdout.contains("unknown var"),
            "{path}: {stdout}"
        );
        let doc: serde_json::Value = serde_json::from_str(&stdout).expect("json");
        let kvm = doc["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["id"] == "kvm.device").cloned())
            .expect("kvm.device");
        assert!(
            kvm["message"]
                .as_str()
                .unwrap_or_default()
                .contains("/dev/kvm"),
            "{path}: {kvm}"
        );
    }
}

#[test]
fn directory_symlinks_are_walked_once_and_never_loop() {
    let t = Test::new()
        .file("c/a.rhai", &check("a", r#"pass("")"#))
        .file("c/sub/b.rhai", &check("b", r#"pass("")"#));
    std::os::unix::fs::symlink(".", t.path("c/self")).expect("symlink");
    std::os::unix::fs::symlink("..", t.path("c/sub/up")).expect("symlink");
    std::os::unix::fs::symlink("a.rhai", t.path("c/again.rhai")).expect("symlink");
    let out = t.run(&["run", "c", "--format", "json"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let ids: Vec<String> = out.json()["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| c["id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(ids, ["a", "b"], "each file once: {}", out.stderr);
    assert!(
        out.elapsed < std::time::Duration::from_secs(5),
        "{:?}",
        out.elapsed
    );
}

#[test]
fn default_directories_do_not_silently_depend_on_the_working_directory() {
    // The package test installs the suite; hold it off so the answer here is this machine's.
    let _installed = crate::support::installed_suite_lock();
    assert!(
        !std::path::Path::new("/usr/share/hostscript").exists(),
        "a hostscript package is installed on this machine; `dpkg -r hostscript` to run this test"
    );
    // The checkout has ./checks and ./remediations: neither may be picked up by accident.
    for args in [&["run"][..], &["list"], &["remediate", "--list"]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hostscript"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_remove("HOSTSCRIPT_REMEDIATIONS")
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        let flag = if args[0] == "remediate" {
            "--remediations"
        } else {
            "PATH"
        };
        assert!(
            stderr.starts_with(&format!("hostscript: error: {flag}: not given, and no suite is installed at /usr/share/hostscript/")),
            "{args:?}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    let t = Test::new().file(
        "r/x.rhai",
        "remediation(#{ id: \"x\", description: \"d\", run: || {} });\n",
    );
    let out = t.run(&[
        "remediate",
        "--list",
        "--remediations",
        "r",
        "--checks",
        "no-such-dir",
    ]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("--checks: `no-such-dir` is not a directory"),
        "{}",
        out.stderr
    );
}

#[test]
fn argument_errors_are_one_line_and_exit_2() {
    let t = Test::new().file("c/a.rhai", &check("a", r#"pass("")"#));
    for args in [
        vec!["run", "c", "--bogus"],
        vec!["run", "c", "--var", "a b\nc=1"],
        vec!["run", "c", "--timeout", "soon"],
        vec!["frobnicate"],
    ] {
        let out = t.run(&args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.starts_with("hostscript: error: "),
            "{args:?}: {}",
            out.stderr
        );
    }
    assert!(
        t.run(&["run", "c", "--var", "a b\nc=1"])
            .stderr
            .contains("a b\\nc=1")
    );
    // A non-UTF-8 --var.
    use std::os::unix::ffi::OsStrExt;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hostscript"))
        .args(["run", "c", "--var"])
        .arg(std::ffi::OsStr::from_bytes(b"k=\xff\n"))
        .current_dir(t.root())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).lines().count(),
        1,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Help is output, not an error.
    assert_eq!(t.run(&["run", "--help"]).code, 0);
}

#[test]
fn reading_a_fifo_and_calling_a_silent_server_end_within_the_budget() {
    let t = Test::new();
    let fifo = t.path("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo")
            .success()
    );
    // A TCP server that accepts and never speaks.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = silent.local_addr().expect("addr");
    let held = std::thread::spawn(move || {
        let conn = silent.accept();
        std::thread::sleep(std::time::Duration::from_secs(4));
        drop(conn);
    });
    let t = t
        .file("c/fifo.rhai", &check("fifo", &format!(r#"fs::read("{}"); pass("read")"#, fifo.display())))
        .file(
            "c/grpc.rhai",
            &check(
                "silent",
                &format!(
                    r#"let r = grpc::try_invoke("{addr}", "microvm.services.api.v1alpha1.MicroVM/ListMicroVMs", #{{}}, #{{ timeout: 1, reflection: false }});
                       pass(`${{type_of(r.code)}} ${{r.ok}}`)"#
                ),
            ),
        );
    let out = t.run(&["run", "c", "--format", "json", "--timeout", "3"]);
    assert_eq!(out.status("fifo"), "error");
    assert!(
        out.message("fifo").contains("is a FIFO"),
        "{}",
        out.message("fifo")
    );
    assert!(
        out.check("fifo")["duration_ms"]
            .as_u64()
            .unwrap_or(u64::MAX)
            < 1000
    );
    // The server never answered: no gRPC status code.
    assert_eq!(out.message("silent"), "() false", "{}", out.stdout);
    let _ = held.join();
}

#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn an_explicit_path_that_cannot_be_read_exits_2() {
    use std::os::unix::fs::PermissionsExt;
    let t = Test::new()
        .file("c/a.rhai", &check("a", r#"pass("")"#))
        .file("d/b.rhai", &check("b", r#"pass("")"#));
    std::fs::set_permissions(t.root(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(t.path("c/a.rhai"), std::fs::Permissions::from_mode(0o000))
        .expect("chmod");
    std::fs::set_permissions(t.path("d"), std::fs::Permissions::from_mode(0o000)).expect("chmod");
    for path in ["c/a.rhai", "d"] {
        let out = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_hostscript"))
            .args(["run", path])
            .current_dir(t.root())
            .output()
            .expect("setpriv");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{path}: {stderr}");
        assert!(
            stderr.contains("Permission denied") && stderr.contains(path),
            "{stderr}"
        );
    }
    std::fs::set_permissions(t.path("d"), std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

#[test]
fn dash_o_writes_other_formats_to_files_beside_stdout() {
    let t = Test::new().file(
        "c/a.rhai",
        &[
            check("a.ok", r#"pass("fine")"#),
            check("a.bad", r#"fail("broken")"#),
        ]
        .concat(),
    );
    std::fs::create_dir_all(t.path("out")).expect("out dir");
    let out = t.run(&[
        "run",
        "c",
        "--color",
        "never",
        "-o",
        "junit=out/report.xml",
        "-o",
        "json=out/report.json",
        "--output",
        "prometheus=out/hostscript.prom",
    ]);
    assert_eq!(out.code, 1);
    // stdout keeps its own format.
    assert!(
        out.stdout.starts_with("FAIL   a.bad") || out.stdout.contains("FAIL   a.bad"),
        "{}",
        out.stdout
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(t.path("out/report.json")).expect("json"))
            .expect("parses");
    assert_eq!(json["summary"]["fail"], 1);
    let xml = std::fs::read_to_string(t.path("out/report.xml")).expect("xml");
    assert!(
        xml.contains("<testsuites") && xml.contains("a.bad"),
        "{xml}"
    );
    let prom = std::fs::read_to_string(t.path("out/hostscript.prom")).expect("prom");
    assert!(
        prom.lines()
            .any(|l| l.starts_with("hostscript_ready{") && l.ends_with("} 0")),
        "{prom}"
    );
    // No temporary file is left beside them.
    let names: Vec<String> = std::fs::read_dir(t.path("out"))
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    // A bad -o is a usage error naming the flag.
    let bad = t.run(&["run", "c", "-o", "yaml=x"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("-o/--output") && bad.stderr.contains("unknown format `yaml`"),
        "{}",
        bad.stderr
    );
    // list and remediate offer only the formats they can write.
    let help = t.run(&["list", "--help"]);
    assert!(
        !help.stdout.contains("junit") && !help.stdout.contains("prometheus"),
        "{}",
        help.stdout
    );
}

#[test]
fn skip_and_waivers_leave_out_or_excuse_checks_with_the_reason_kept() {
    let t = Test::new()
        .file(
            "c/a.rhai",
            r#"check(#{ id: "disk.space", description: "d", run: || fail("97% used") });
check(#{ id: "pool.health", description: "d", run: || fail("needs_check") });
check(#{ id: "pool.usage", description: "d", needs: ["pool.health"], run: || pass("ok") });
check(#{ id: "kvm.device", description: "d", run: || pass("ok") });
check(#{ id: "old.thing", description: "d", run: || fail("gone") });
"#,
        )
        .file(
            "c/waivers.toml",
            r#"[[waiver]]
id = "disk.*"
reason = "disk replaced on Friday (OPS-12)"
expires = 2999-12-31

[[waiver]]
id = "old.thing"
reason = "was fine once"
expires = 2001-01-01

[[waiver]]
id = "kvm.device"
reason = "passes anyway"
"#,
        );
    let out = t.run(&["run", "c", "--format", "json", "--skip", "pool.health"]);
    let doc = out.json();
    let check = |id: &str| {
        doc["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["id"] == id).cloned())
            .expect("check")
    };
    // --skip: left out, and its dependent says which.
    assert_eq!(check("pool.health")["status"], "skip");
    assert!(
        check("pool.health")["message"]
            .as_str()
            .unwrap_or_default()
            .contains("--skip 'pool.health'")
    );
    assert_eq!(check("pool.usage")["status"], "skip");
    assert!(
        check("pool.usage")["message"]
            .as_str()
            .unwrap_or_default()
            .contains("needs `pool.health`, which was skipped")
    );
    // A live waiver: skip, with the reason, the date and the real status kept.
    let disk = check("disk.space");
    assert_eq!(disk["status"], "skip");
    assert_eq!(
        disk["message"],
        "waived: disk replaced on Friday (OPS-12) (until 2999-12-31); 97% used"
    );
    assert_eq!(disk["details"]["waived_status"], "fail");
    assert_eq!(disk["waiver"]["reason"], "disk replaced on Friday (OPS-12)");
    // An expired waiver no longer applies, and the run says so once on stderr.
    assert_eq!(check("old.thing")["status"], "fail");
    assert_eq!(
        out.stderr.matches("expired on 2001-01-01").count(),
        1,
        "{}",
        out.stderr
    );
    // A passing check stays a pass.
    assert_eq!(check("kvm.device")["status"], "pass");
    assert_eq!(out.code, 1, "old.thing still fails");
    // --waivers names another file; a missing one is an error.
    assert_eq!(t.run(&["run", "c", "--waivers", "nope.toml"]).code, 2);
    // lint reports a waiver that matches no check.
    let t = t.file(
        "c/waivers.toml",
        "[[waiver]]\nid = \"no.such.*\"\nreason = \"typo\"\n",
    );
    let lint = t.run(&["lint", "c"]);
    assert_eq!(lint.code, 1);
    assert!(
        lint.stdout.contains("waiver `no.such.*` matches no check"),
        "{}",
        lint.stdout
    );
}

#[test]
fn retry_timeout_waits_until_ready_and_reports_the_last_attempt() {
    let t = Test::new();
    let flag = t.path("ready");
    let t = t.file(
        "c/a.rhai",
        &[
            check("steady", r#"pass("always")"#),
            check(
                "becomes.ready",
                &format!(
                    r#"if fs::exists("{}") {{ pass("ready") }} else {{ fail("not yet") }}"#,
                    flag.display()
                ),
            ),
        ]
        .concat(),
    );
    let maker = {
        let flag = flag.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(1200));
            std::fs::write(flag, "").expect("flag");
        })
    };
    let out = t.run(&[
        "run",
        "c",
        "--format",
        "json",
        "--retry-timeout",
        "20s",
        "--sleep",
        "300ms",
    ]);
    let _ = maker.join();
    assert_eq!(out.code, 0, "{}", out.stdout);
    let doc = out.json();
    assert!(doc["attempts"].as_u64().unwrap_or(0) >= 2, "{doc}");
    assert_eq!(out.status("becomes.ready"), "pass");
    assert!(
        out.elapsed < std::time::Duration::from_secs(10),
        "{:?}",
        out.elapsed
    );
    // Never ready: the time is up, the last attempt is reported, exit 1.
    let never = Test::new().file("c/a.rhai", &check("never", r#"fail("no")"#));
    let out = never.run(&[
        "run",
        "c",
        "--retry-timeout",
        "1s",
        "--sleep",
        "200ms",
        "--color",
        "never",
    ]);
    assert_eq!(out.code, 1);
    // The summary and the verdict: on one line when they fit the width, else two.
    assert!(
        out.stdout.contains(" after 5 attempts — FAILED")
            || out.stdout.contains(" after 5 attempts\nFAILED")
            || out.stdout.contains(" attempts\nFAILED"),
        "{}",
        out.stdout
    );
    assert!(
        out.elapsed < std::time::Duration::from_secs(5),
        "{:?}",
        out.elapsed
    );
}

#[test]
fn completions_man_page_and_help_examples_come_from_the_flags() {
    let t = Test::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = t.run(&["completions", shell]);
        assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
        // fish writes `-l waivers`; bash and zsh `--waivers`.
        for flag in ["retry-timeout", "waivers", "skip"] {
            assert!(out.stdout.contains(flag), "{shell} completion lacks {flag}");
        }
    }
    // bash accepts what it generated.
    let bash = t.run(&["completions", "bash"]);
    let checked = std::process::Command::new("bash")
        .args(["-n", "-c", &bash.stdout])
        .status()
        .expect("bash");
    assert!(checked.success());
    let man = t.run(&["man"]);
    assert_eq!(man.code, 0);
    assert!(
        man.stdout.starts_with(".ie") && man.stdout.contains(".TH hostscript 1"),
        "{}",
        &man.stdout[..200.min(man.stdout.len())]
    );
    for sub in ["run", "list", "lint", "remediate"] {
        let help = t.run(&[sub, "--help"]);
        assert!(
            help.stdout.contains("Examples:\n  hostscript "),
            "{sub} --help has no examples"
        );
    }
}

#[test]
fn lint_knows_the_primitives_and_the_vars() {
    let t = Test::new()
        .file("c/vars.toml", "kvm_device = \"/dev/kvm\"\n")
        .file(
            "c/a.rhai",
            r#"check(#{ id: "x", description: "d", run: || { if fs::exsts("/x") { pass("") } else { fail(vars::kvm_devce) } } });
check(#{ id: "y", description: "d", run: || { fs::read("/a", 1, 2, 3); pass(vars::kvm_device) } });
"#,
        );
    let out = t.run(&["lint", "c"]);
    assert_eq!(out.code, 1);
    for needle in [
        "c/a.rhai:1:54: no primitive `fs::exsts`; did you mean `fs::exists`?",
        "no var `kvm_devce` in any vars file or --var; did you mean `vars::kvm_device`?",
        "c/a.rhai:2:51: `fs::read` takes 1 or 2 argument(s), not 4",
    ] {
        assert!(out.stdout.contains(needle), "{needle}\n{}", out.stdout);
    }
    assert_eq!(out.stdout.lines().count(), 3, "{}", out.stdout);
    // A var given with --var is known.
    let with = t.run(&["lint", "c", "--var", "kvm_devce=1"]);
    assert!(!with.stdout.contains("kvm_devce"), "{}", with.stdout);
}

#[test]
fn doc_lists_what_the_binary_registers_and_the_readme_agrees() {
    let t = Test::new();
    let list = t.run(&["doc"]);
    assert_eq!(list.code, 0);
    let modules: Vec<String> = list
        .stdout
        .lines()
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    assert!(
        modules.contains(&"fs".to_string()) && modules.contains(&"fix".to_string()),
        "{modules:?}"
    );
    // The explanations live in docs/WRITING-CHECKS.md (read primitives) and
    // docs/REMEDIATIONS.md (`fix::`).
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let writing = std::fs::read_to_string(docs.join("WRITING-CHECKS.md")).expect("WRITING-CHECKS");
    let readme = writing.clone()
        + std::fs::read_to_string(docs.join("REMEDIATIONS.md"))
            .expect("REMEDIATIONS")
            .as_str();
    let mut missing = Vec::new();
    let mut registered = std::collections::BTreeSet::new();
    for module in modules.iter().filter(|m| *m != "globals") {
        let out = t.run(&["doc", module]);
        let lines: Vec<&str> = out.stdout.lines().collect();
        for pair in lines.chunks(2) {
            let (line, doc) = (pair[0], pair.get(1).copied().unwrap_or_default());
            let name = line.split('(').next().unwrap_or_default().to_string();
            // Each form has its parameters named and typed, a return type and its one line.
            assert!(
                doc.starts_with("    ") && doc.trim() != "(undocumented)" && !doc.trim().is_empty(),
                "`{line}` has no line in `hostscript doc` (src/bindings/docs.rs)"
            );
            let params = line
                .split_once('(')
                .and_then(|(_, rest)| rest.rsplit_once(") -> "))
                .map(|(p, _)| p)
                .unwrap_or_else(|| panic!("`{line}`: no return type"));
            // The keys of an options map (`#{ a, b }`) are no parameters.
            let mut flat = String::new();
            let mut depth = 0;
            for c in params.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ if depth == 0 => flat.push(c),
                    _ => {}
                }
            }
            for param in flat.split(", ").filter(|p| !p.is_empty()) {
                assert!(
                    param.contains(": ") && !param.starts_with("_"),
                    "`{line}`: parameter `{param}` has no name or type"
                );
            }
            registered.insert(name.clone());
            let bare = name.split("::").nth(1).unwrap_or_default();
            // The reference names each function: `fs::exists(..)`, or in a row that starts
            // with its module (`fs::exists(p)`, `is_file`, ...).
            let named =
                readme.contains(&format!("`{name}")) || readme.contains(&format!("`{bare}`"));
            if !named {
                missing.push(name);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "registered but not explained in docs/WRITING-CHECKS.md or docs/REMEDIATIONS.md: {missing:?}"
    );
    // And every `module::function(` docs/WRITING-CHECKS.md's explanation names is registered.
    let reference = &writing[writing
        .find("## The primitives, explained")
        .expect("reference")..];
    let mut unknown = Vec::new();
    for module in &modules {
        let prefix = format!("`{module}::");
        for (at, _) in reference.match_indices(&prefix) {
            let rest = &reference[at + 1..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let followed_by_call = rest[name.len()..].starts_with('(');
            if followed_by_call && !registered.contains(&name) {
                unknown.push(name);
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "in docs/WRITING-CHECKS.md but not registered: {unknown:?}"
    );
    // Definition files for editors.
    let out = t.run(&["doc", "--definitions", "defs"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let fs_defs = std::fs::read_to_string(t.path("defs/fs.d.rhai")).expect("fs.d.rhai");
    assert!(
        fs_defs.contains("/// whether the path exists (follows symlinks; permission denied throws)\nfn exists(path: string) -> bool;"),
        "{fs_defs}"
    );
    assert!(!fs_defs.contains("EvalAltResult"), "{fs_defs}");
    let globals_defs =
        std::fs::read_to_string(t.path("defs/__static__.d.rhai")).expect("__static__.d.rhai");
    assert!(!globals_defs.contains("EvalAltResult"), "{globals_defs}");
    assert!(
        globals_defs.contains("fn fail(message: string, details: map) -> Verdict;"),
        "{globals_defs}"
    );
    // The globals: the verdicts, declarations and their keys.
    let globals = t.run(&["doc", "globals"]);
    for needle in [
        "check(spec: map #{ id, description, run,",
        "fail(message: string, details: map) -> Verdict",
        "no_fix(verdict: Verdict, reason: string)",
        "secret(value: any) -> any",
    ] {
        assert!(
            globals.stdout.contains(needle),
            "{needle}: {}",
            globals.stdout
        );
    }
}

#[test]
fn a_live_line_names_slow_checks_on_a_terminal_and_never_in_a_pipe() {
    let t = Test::new().file(
        "c/a.rhai",
        &[
            check("slow.one", r#"cmd::run(["sleep", "2"]); pass("slept")"#),
            check("fast", r#"pass("")"#),
        ]
        .concat(),
    );
    // A pipe (and so CI): no live line at all.
    let piped = t.run(&["run", "c", "--color", "never"]);
    assert!(!piped.stderr.contains("running:"), "{}", piped.stderr);
    // A terminal: util-linux `script` gives the run a pseudo-terminal.
    let out = std::process::Command::new("script")
        .args(["-qfec"])
        .arg(format!(
            "{} run c --color never",
            env!("CARGO_BIN_EXE_hostscript")
        ))
        .arg("/dev/null")
        .current_dir(t.root())
        .env_remove("CI")
        .output()
        .expect("script (util-linux)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("running: slow.one ("), "{text}");
    assert!(
        text.contains("\r\x1b[K"),
        "the line clears itself: {text:?}"
    );
}

/// docs/man holds what `hostscript man --dir` writes: the pages the package installs cannot
/// drift from the binary's options.
#[test]
fn the_man_pages_in_docs_are_what_the_binary_writes() {
    let t = Test::new();
    let out = t.run(&["man", "--dir", "man"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/man");
    let names = |dir: &std::path::Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("man dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let written = names(&t.path("man"));
    assert_eq!(
        written,
        names(&shipped),
        "regenerate with `cargo run -- man --dir docs/man`"
    );
    assert!(
        written.contains(&"hostscript-run.1".to_string()),
        "{written:?}"
    );
    for name in &written {
        let fresh = std::fs::read_to_string(t.path("man").join(name)).expect("written");
        let kept = std::fs::read_to_string(shipped.join(name)).expect("shipped");
        assert!(
            fresh == kept,
            "docs/man/{name} differs from what the binary writes: regenerate with `cargo run -- man --dir docs/man`"
        );
    }
    let run = std::fs::read_to_string(shipped.join("hostscript-run.1")).expect("run page");
    for needle in [
        "EXIT STATUS",
        "ENVIRONMENT",
        "FILES",
        "\\-\\-retry\\-timeout",
    ] {
        assert!(run.contains(needle), "{needle}");
    }
}

/// docs/primitives.md is what `hostscript doc --format markdown` writes.
#[test]
fn the_primitives_reference_in_docs_is_what_the_binary_generates() {
    let t = Test::new();
    let out = t.run(&["doc", "--format", "markdown"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let kept = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/primitives.md"),
    )
    .expect("docs/primitives.md");
    assert!(
        out.stdout == kept,
        "docs/primitives.md differs from the binary's: regenerate with `cargo run -- doc --format markdown > docs/primitives.md`"
    );
    assert!(
        kept.contains("| `fs::read(path: string, options: map #{ max_bytes, fresh }) -> string` |")
    );
}

#[test]
fn the_suite_reference_in_docs_is_what_the_binary_generates() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let t = Test::new();
    let out = t.run(&[
        "list",
        repo.join("checks").to_str().expect("utf-8"),
        repo.join("remediations").to_str().expect("utf-8"),
        "--format",
        "markdown",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let kept = std::fs::read_to_string(repo.join("docs/suite.md")).expect("docs/suite.md");
    assert!(
        out.stdout == kept,
        "docs/suite.md differs from the binary's: regenerate with `cargo run -- list checks/ remediations/ --format markdown > docs/suite.md`"
    );
    // A var read through a parameter (`hypervisor_bin("firecracker_bin", ..)`) and one read in
    // lib/ (`flintlock::flintlockd()` reads `flintlock_config_dir`) are both found.
    let row = |id: &str| {
        kept.lines()
            .find(|l| l.starts_with(&format!("| `{id}` |")))
            .unwrap_or_else(|| panic!("{id} has a row"))
            .to_string()
    };
    assert!(row("firecracker.binary").contains("`firecracker_bin`"));
    assert!(row("firecracker.binary").contains("`flintlock_config_dir`"));
    assert!(row("kvm-access").contains("`kvm_group`"));
}

#[test]
fn list_markdown_names_the_vars_a_site_check_reads_and_says_when_it_cannot_tell() {
    let t = Test::new()
        .file(
            "c/lib/site.rhai",
            "fn rack() { vars::get(\"rack\", \"r0\") }\nfn by_name(n) { vars::get(n) }\n",
        )
        .file(
            "c/a.rhai",
            r#"import "lib/site" as site;
fn mtu() { let f = || vars::mtu; f.call() }
check(#{ id: "site.a", description: "a", run: || { site::rack(); site::by_name("zone"); mtu(); pass("ok") } });
check(#{ id: "site.b", description: "b", run: || { let all = vars::all(); pass("ok") } });
check(#{ id: "site.c", description: "c", run: || pass("nothing read") });
"#,
        )
        .file("c/vars.toml", "mtu = 9000\nzone = \"z1\"\n");
    let out = t.run(&["list", "c", "--format", "markdown"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let row = |id: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(&format!("| `{id}` |")))
            .unwrap_or_else(|| panic!("{id} has a row:\n{}", out.stdout))
            .to_string()
    };
    for var in ["`mtu`", "`rack`", "`zone`"] {
        assert!(row("site.a").contains(var), "{var}: {}", row("site.a"));
    }
    assert!(!row("site.a").contains("run time"), "{}", row("site.a"));
    assert!(
        row("site.b").contains("(a var named at run time)"),
        "{}",
        row("site.b")
    );
    assert!(row("site.c").ends_with("|  |"), "{}", row("site.c"));
    // Defaults: the vars file's, else the code's literal.
    assert!(
        out.stdout.contains("`mtu` | `9000` | `site.a` |"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("`rack` | `\"r0\"` (unset; the code's default) | `site.a` |"),
        "{}",
        out.stdout
    );
}
