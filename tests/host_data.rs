//! The host as data, through the binary: one snapshot per run (a question asked again is not
//! asked of the host again, unless `fresh: true`), `--record` and `--replay` (nothing on the
//! host is touched in a replay, a gap is `not_recorded`), evidence in JSON and in the human
//! report, and `hostscript test` with recorded and hand-written hosts, including the shipped
//! suite's scenarios in `tests/hosts/`.

use std::path::Path;

use crate::support::{Test, check};

/// How many times the marker command ran: each run appends one line.
fn runs(t: &Test) -> usize {
    std::fs::read_to_string(t.path("ran"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// A check that runs a command leaving a mark, so a test can count how often it really ran.
fn marking(id: &str, options: &str) -> String {
    check(
        id,
        &format!(
            r#"let out = cmd::run(["sh", "-c", "echo x >> ran; echo hello"]{options});
               if out.stdout == "hello\n" {{ pass("said hello") }} else {{ fail("no") }}"#
        ),
    )
}

#[test]
fn a_question_asked_twice_in_a_run_is_asked_of_the_host_once_unless_fresh() {
    let t = Test::new()
        .file("c/a.rhai", &marking("a", ""))
        .file("c/b.rhai", &marking("b", ""));
    let out = t.run(&["run", "c", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(runs(&t), 1, "two checks, one question: one command");
    // Each run is a snapshot of its own.
    t.run(&["run", "c"]);
    assert_eq!(runs(&t), 2);

    let t = Test::new()
        .file("c/a.rhai", &marking("a", ", #{ fresh: true }"))
        .file("c/b.rhai", &marking("b", ", #{ fresh: true }"));
    let out = t.run(&["run", "c"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(runs(&t), 2, "fresh: true asks again");
}

#[test]
fn the_clock_is_never_shared() {
    let t = Test::new().file(
        "c/a.rhai",
        &check(
            "a",
            r#"let a = sys::time(); sys::sleep(1.1); let b = sys::time();
               if b > a { pass("the clock moved") } else { fail(`${a} then ${b}`) }"#,
        ),
    );
    let out = t.run(&["run", "c"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
}

#[test]
fn a_replay_answers_from_the_recording_and_runs_nothing() {
    let t = Test::new()
        .file("c/a.rhai", &marking("a", ""))
        .file(
            "c/b.rhai",
            &check(
                "b",
                r#"let f = fs::read("data.txt"); pass(`read ${f} on ${sys::hostname()}`)"#,
            ),
        )
        .file("data.txt", "first\n");
    let live = t.run(&["run", "c", "--format", "json", "--record", "rec.json"]);
    assert_eq!(live.code, 0, "{}", live.stderr);
    assert_eq!(runs(&t), 1);
    std::fs::write(t.path("data.txt"), "changed\n").expect("write");
    let replayed = t.run(&["run", "c", "--format", "json", "--replay", "rec.json"]);
    assert_eq!(replayed.code, 0, "{}", replayed.stderr);
    assert_eq!(runs(&t), 1, "a replay starts no command");
    assert_eq!(replayed.message("b"), live.message("b"));
    assert!(replayed.message("b").starts_with("read first"));
    assert_eq!(replayed.check("a")["evidence"], live.check("a")["evidence"]);
    let evidence = &live.check("a")["evidence"][0];
    assert_eq!(
        evidence["question"],
        "cmd.run sh -c 'echo x >> ran; echo hello'"
    );
    assert_eq!(evidence["answer"], "exit 0; stdout: hello");
}

#[test]
fn a_gap_in_a_recording_is_that_checks_error_even_when_the_script_catches_it() {
    let t = Test::new()
        .file(
            "c/a.rhai",
            &check(
                "a",
                r#"try { fs::read("missing-from-recording") } catch (e) { return fail(`caught ${e.kind}`) } pass("read")"#,
            ),
        )
        .file("c/b.rhai", &check("b", r#"pass(`uid ${sys::uid()}`)"#))
        .file(
            "rec.json",
            r#"{"format":"hostscript-recording","version":1,"hostname":"h","time":"","hostscript":"0","vars":{},
                "answers":[{"ask":"sys.uid","ok":7}]}"#,
        );
    let out = t.run(&["run", "c", "--format", "json", "--replay", "rec.json"]);
    let a = out.check("a");
    assert_eq!(a["status"], "error", "{a}");
    assert_eq!(a["message"], "not recorded: fs.read missing-from-recording");
    assert_eq!(out.message("b"), "uid 7");
    assert_eq!(out.json()["host"], "h");
}

#[test]
fn a_bad_recording_is_refused_naming_the_file_and_entry() {
    let t = Test::new()
        .file("c/a.rhai", &check("a", r#"pass("x")"#))
        .file(
            "rec.json",
            r#"{"format":"hostscript-recording","version":1,"hostname":"h","time":"","hostscript":"0","vars":{},
                "answers":[{"ask":"fs.write","args":{"path":"/x"},"ok":""}]}"#,
        )
        .file(
            "v2.json",
            r#"{"format":"hostscript-recording","version":2,"hostname":"h","time":"","hostscript":"0","answers":[]}"#,
        );
    let out = t.run(&["run", "c", "--replay", "rec.json"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("--replay: rec.json: answers[0]: question `fs.write`"),
        "{}",
        out.stderr
    );
    let out = t.run(&["run", "c", "--replay", "v2.json"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("recording version 2"), "{}", out.stderr);
}

#[test]
fn nothing_changes_the_host_from_a_recording() {
    let t = Test::new()
        .file("c/a.rhai", &check("a", r#"pass("x")"#))
        .file(
            "rec.json",
            r#"{"format":"hostscript-recording","version":1,"hostname":"h","time":"","hostscript":"0","answers":[]}"#,
        );
    for args in [
        vec!["run", "c", "--replay", "rec.json", "--fix"],
        vec!["serve", "c", "--replay", "rec.json"],
        vec!["serve", "c", "--record", "rec2.json"],
        vec!["remediate", "thinpool", "--replay", "rec.json"],
    ] {
        let out = t.run(&args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("error: --re"),
            "{args:?}: {}",
            out.stderr
        );
    }
}

#[test]
fn a_recording_is_private_and_holds_no_secret() {
    let token = "s3cr3t-token-value-1234";
    let t = Test::new()
        .file(
            "c/a.rhai",
            &check(
                "a",
                r#"let out = cmd::run(["sh", "-c", "echo the token is $T"], #{ env: #{ T: vars::api_token } });
                   pass(out.stdout)"#,
            ),
        )
        .file("c/vars.toml", &format!("api_token = \"{token}\"\n"));
    let out = t.run(&["run", "c", "--format", "json", "--record", "rec.json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = std::fs::read_to_string(t.path("rec.json")).expect("recording");
    assert!(!text.contains(token), "{text}");
    assert!(text.contains("the token is ***"), "{text}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(t.path("rec.json"))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // It replays, redacted: the question and the answer were both masked the same way.
    let replayed = t.run(&["run", "c", "--format", "json", "--replay", "rec.json"]);
    assert_eq!(replayed.check("a")["status"], "pass", "{}", replayed.stdout);
    assert_eq!(replayed.message("a"), "the token is ***");
}

#[test]
fn the_human_report_shows_what_a_check_saw() {
    let t = Test::new()
        .file(
            "c/a.rhai",
            &check(
                "a",
                r#"if fs::exists("nope") { pass("y") } else { fail("no file") }"#,
            ),
        )
        .file(
            "c/b.rhai",
            &check("b", r#"let s = fs::stat("c"); pass(s.kind)"#),
        );
    let plain = t.run(&["run", "c"]);
    assert!(!plain.stdout.contains("asked "), "{}", plain.stdout);
    let verbose = t.run(&["run", "c", "-v"]);
    assert!(
        verbose
            .stdout
            .contains("asked fs.stat nope: error (not_found): `nope` does not exist"),
        "{}",
        verbose.stdout
    );
    assert!(
        !verbose.stdout.contains("asked fs.stat c:"),
        "{}",
        verbose.stdout
    );
    let explained = t.run(&["run", "c", "--explain", "b"]);
    assert!(
        explained.stdout.contains("asked fs.stat c: dir 0"),
        "{}",
        explained.stdout
    );
    assert!(
        !explained.stdout.contains("asked fs.stat nope"),
        "{}",
        explained.stdout
    );
}

/// `hostscript test` on the shipped suite's scenarios: every expectation holds.
#[test]
fn the_shipped_suites_scenarios_hold() {
    let hosts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hosts");
    let t = Test::new();
    let out = t.run(&["test", hosts.to_str().expect("utf-8")]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let files = std::fs::read_dir(&hosts)
        .expect("tests/hosts")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".test.toml"))
        .count();
    assert!(files >= 10, "{files}");
    assert!(
        out.stdout
            .contains(&format!("{files} test files: {files} ok, 0 failed, 0 bad")),
        "{}",
        out.stdout
    );
}

/// A test written by hand, no recording: one file's content decides one check. Changing one
/// byte of that answer flips that verdict and no other.
#[test]
fn a_hand_written_answer_flips_exactly_its_verdict() {
    let checks = format!(
        "{}{}",
        check(
            "conf.mode",
            r#"let c = fs::read("/etc/app.conf"); if c.contains("mode=safe") { pass("safe") } else { fail(`unsafe: ${c}`) }"#
        ),
        check(
            "kernel",
            r#"let r = sys::kernel_release(); if r.starts_with("6.") { pass(r) } else { fail(r) }"#
        ),
    );
    let test = |content: &str, conf: &str| {
        format!(
            r#"checks = ["c"]

[[answer]]
ask = "fs.read"
args = {{ path = "/etc/app.conf" }}
ok = "{content}\n"

[[answer]]
ask = "sys.kernel_release"
ok = "6.1.0-18-amd64"

[expect]
"conf.mode" = "{conf}"
kernel = {{ status = "pass", message = "6.1.0" }}
"#
        )
    };
    let t = Test::new()
        .file("c/a.rhai", &checks)
        .file("good.test.toml", &test("mode=safe", "pass"))
        .file("flipped.test.toml", &test("mode=safd", "fail"))
        .file("wrong.test.toml", &test("mode=safd", "pass"));
    let out = t.run(&["test", "good.test.toml", "flipped.test.toml"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let out = t.run(&["test", "."]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("conf.mode: expected pass, got fail: unsafe: mode=safd"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("kernel:"), "{}", out.stdout);
    let tap = t.run(&["test", ".", "--format", "tap"]);
    assert!(
        tap.stdout.starts_with("TAP version 13\n1..6\n"),
        "{}",
        tap.stdout
    );
    assert!(
        tap.stdout
            .contains("not ok 5 - ./wrong.test.toml: conf.mode is pass"),
        "{}",
        tap.stdout
    );
    let junit = t.run(&["test", ".", "--format", "junit"]);
    assert!(junit.stdout.contains("failures=\"1\""), "{}", junit.stdout);
}

#[test]
fn a_bad_test_file_names_its_line_and_the_others_still_run() {
    let t = Test::new()
        .file("c/a.rhai", &check("a", r#"pass("x")"#))
        .file("c/vars.toml", "x = 1\n")
        .file(
            "bad.test.toml",
            "checks = [\"c\"]\n\n[expect]\na = \"pass\"\n\n[[answer]]\nask = \"fs.read\"\nargs = { paht = \"/x\" }\n",
        )
        .file("good.test.toml", "checks = [\"c\"]\n[expect]\na = \"pass\"\n");
    let out = t.run(&["test", "."]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("BAD   ./bad.test.toml:6: [[answer]]: question `fs.read`"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("ok    ./good.test.toml"),
        "{}",
        out.stdout
    );
    let out = t.run(&["test", "c"]);
    assert_eq!(out.code, 2, "vars.toml is no test: {}", out.stdout);
    assert!(
        out.stderr.contains("no *.test.toml files"),
        "{}",
        out.stderr
    );
}

/// `others_unchanged = true`: a changed answer may change what `[expect]` names, and nothing
/// else; a check that changes beside them is named.
#[test]
fn others_unchanged_names_a_verdict_the_edit_changed_beside_the_expected_one() {
    let t = Test::new()
        .file(
            "c/a.rhai",
            &format!(
                "{}{}{}",
                check(
                    "one",
                    r#"if fs::read("one.txt").contains("ok") { pass("one ok") } else { fail("one broken") }"#
                ),
                check(
                    "two",
                    r#"if fs::read("one.txt").contains("ok") && fs::read("two.txt").contains("ok") { pass("two ok") } else { fail("two broken") }"#
                ),
                check(
                    "three",
                    r#"if fs::read("two.txt").contains("ok") { pass("three ok") } else { fail("three broken") }"#
                ),
            ),
        )
        .file("one.txt", "ok\n")
        .file("two.txt", "ok\n");
    let out = t.run(&["run", "c", "--record", "good.json"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let edit = |file: &str, expect: &str| {
        format!(
            "checks = [\"c\"]\nreplay = \"good.json\"\nothers_unchanged = true\n\n[[answer]]\nask = \"fs.read\"\nargs = {{ path = \"{file}\" }}\nok = \"bad\\n\"\n\n[expect]\n{expect}\n"
        )
    };
    std::fs::write(
        t.path("three.test.toml"),
        edit("two.txt", "three = \"fail\"\ntwo = \"fail\""),
    )
    .expect("write");
    std::fs::write(t.path("one.test.toml"), edit("one.txt", "one = \"fail\"")).expect("write");
    let out = t.run(&["test", "three.test.toml"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let out = t.run(&["test", "one.test.toml"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(
            "(others): not expected: two is fail (on the recording alone pass): two broken"
        ),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("three is"), "{}", out.stdout);
}

/// Every `[[answer]]` docs/HOST-AS-DATA.md shows is one `hostscript test` accepts: the syntax
/// for a command, a file, a unit and a dmsetup status cannot drift from the parser.
#[test]
fn the_documented_answers_are_valid_test_files() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/HOST-AS-DATA.md"))
            .expect("docs/HOST-AS-DATA.md");
    let blocks: Vec<String> = doc
        .split("```toml\n")
        .skip(1)
        .filter_map(|rest| rest.split_once("```").map(|(block, _)| block.to_string()))
        .filter(|block| block.contains("[[answer]]"))
        .collect();
    assert!(blocks.len() >= 5, "{}", blocks.len());
    let mut t = Test::new().file("c/a.rhai", &check("x", r#"pass("x")"#));
    for (i, block) in blocks.iter().enumerate() {
        // Without the recording or the checks the examples name: only the form is tested.
        let mut text: String = block
            .lines()
            .filter(|l| {
                let l = l.trim_start();
                !l.starts_with("replay")
                    && !l.starts_with("checks")
                    && !l.starts_with("others_unchanged")
            })
            .map(|l| format!("{l}\n"))
            .collect();
        if let Some((before, _)) = text.clone().split_once("[expect]") {
            text = before.to_string();
        }
        t = t.file(
            &format!("doc{i}.test.toml"),
            &format!("checks = [\"c\"]\n{text}\n[expect]\nx = \"pass\"\n"),
        );
    }
    let out = t.run(&["test", "."]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
}
