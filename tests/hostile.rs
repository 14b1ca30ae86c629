//! Hostile scripts: each must end as `error` within its budget plus one second, name its
//! file and line, and leave the other checks of the run passing.

use std::time::Duration;

use crate::support::{Test, check};

const BUDGET_MS: u64 = 1000;

fn hostile_run() -> (crate::support::Output, Test) {
    let t = Test::new()
        .file("checks/good.rhai", &[check("good.one", r#"pass("fine")"#), check("good.two", r#"pass("fine")"#)].concat())
        .file("checks/loop.rhai", &check("h.loop", "loop { }"))
        .file("checks/while.rhai", &check("h.while", "let i = 0; while true { i += 1; }"))
        .file(
            "checks/recurse.rhai",
            "fn down(n) { down(n + 1) }\ncheck(#{ id: \"h.recurse\", description: \"d\", run: || down(0) });\n",
        )
        .file("checks/string.rhai", &check("h.string", r#"let s = "x"; loop { s += s; }"#))
        .file("checks/array.rhai", &check("h.array", "let a = []; loop { a.push(1); }"))
        .file("checks/hang.rhai", &check("h.hang", r#"cmd::run(["sleep", "60"]); pass("never")"#))
        .file("checks/pipe.rhai", &check("h.pipe", r#"cmd::run(["sh", "-c", "sleep 60 & sleep 60"]); pass("never")"#))
        .file("checks/write.rhai", &check("h.write", r#"fs::write("/tmp/hostscript-must-not-exist", "x"); pass("wrote")"#))
        .file("checks/fix.rhai", &check("h.fix", r#"fix::write_file("/tmp/hostscript-must-not-exist", "x"); pass("wrote")"#));
    let out = t.run(&[
        "run",
        "checks",
        "--format",
        "json",
        "--timeout",
        "1",
        "--jobs",
        "4",
    ]);
    (out, t)
}

#[test]
fn hostile_scripts_end_as_errors_within_budget_and_others_pass() {
    let (out, _t) = hostile_run();
    assert_eq!(out.code, 1);
    assert_eq!(out.status("good.one"), "pass");
    assert_eq!(out.status("good.two"), "pass");
    let expectations = [
        ("h.loop", "checks/loop.rhai:1:", "timed out after 1 s"),
        ("h.while", "checks/while.rhai:1:", "timed out after 1 s"),
        ("h.recurse", "checks/recurse.rhai:", "stack overflow"),
        (
            "h.string",
            "checks/string.rhai:1:",
            "over the script limits",
        ),
        (
            "h.hang",
            "checks/hang.rhai:1:",
            "`sleep` was killed: the check timed out after 1 s",
        ),
        (
            "h.pipe",
            "checks/pipe.rhai:1:",
            "`sh` was killed: the check timed out after 1 s",
        ),
        ("h.write", "checks/write.rhai:1:", "checks are read-only"),
        (
            "h.fix",
            "checks/fix.rhai:1:",
            "fix:: is for remediations; checks are read-only",
        ),
    ];
    for (id, place, reason) in expectations {
        let record = out.check(id);
        let message = record["message"].as_str().unwrap_or_default();
        assert_eq!(record["status"], "error", "{id}: {message}");
        assert!(
            message.starts_with(place),
            "{id}: `{message}` should start with `{place}`"
        );
        assert!(
            message.contains(reason),
            "{id}: `{message}` should say `{reason}`"
        );
        let took = record["duration_ms"].as_u64().unwrap_or(u64::MAX);
        assert!(
            took <= BUDGET_MS + 1000,
            "{id} took {took} ms, over its budget plus one second"
        );
    }
    // Rhai re-measures an array on every push, so a runaway array may hit the clock before
    // the size limit; either way it must end as an error within the budget.
    let array = out.check("h.array");
    let message = array["message"].as_str().unwrap_or_default();
    assert_eq!(array["status"], "error");
    assert!(
        message.contains("over the script limits") || message.contains("timed out after 1 s"),
        "{message}"
    );
    assert!(array["duration_ms"].as_u64().unwrap_or(u64::MAX) <= BUDGET_MS + 1000);
    assert!(!std::path::Path::new("/tmp/hostscript-must-not-exist").exists());
}

#[test]
fn a_killed_command_leaves_no_process_behind() {
    let t = Test::new().file(
        "checks/h.rhai",
        &check(
            "h.marker",
            r#"cmd::run(["sh", "-c", "exec sleep 61.4242"]); pass("never")"#,
        ),
    );
    let out = t.run(&["run", "checks", "--timeout", "0.5"]);
    assert_eq!(out.code, 1);
    std::thread::sleep(Duration::from_millis(200));
    let survivors = std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path().join("cmdline")).ok())
        .filter(|cmdline| cmdline.contains("61.4242"))
        .count();
    assert_eq!(survivors, 0, "the timed-out command is still running");
}

#[test]
fn a_script_that_loops_while_loading_fails_alone() {
    let t = Test::new()
        .file("checks/a.rhai", "loop { }\n")
        .file("checks/b.rhai", &check("b.ok", r#"pass("")"#));
    let out = t.run(&["run", "checks", "--format", "json", "--timeout", "0.5"]);
    assert_eq!(out.status("a.rhai"), "error");
    assert!(
        out.message("a.rhai").contains("timed out after 500 ms"),
        "{}",
        out.message("a.rhai")
    );
    assert_eq!(out.status("b.ok"), "pass");
    assert!(out.elapsed < Duration::from_secs(3));
}

#[test]
fn parse_errors_name_file_line_and_character_column_and_spare_other_files() {
    let t = Test::new()
        .file(
            "checks/broken.rhai",
            "// première ligne\nlet cafe = \"crème brûlée\"; let x = ;\n",
        )
        .file("checks/fine.rhai", &check("fine", r#"pass("ok")"#));
    let out = t.run(&["run", "checks", "--format", "json"]);
    assert_eq!(out.code, 1);
    // `;` is the 36th character of line 2 (the line holds multi-byte characters).
    assert_eq!(
        out.message("broken.rhai"),
        "checks/broken.rhai:2:36: Unexpected ';'"
    );
    assert_eq!(out.status("fine"), "pass");
    assert!(
        out.stderr.contains("checks/broken.rhai:2:36"),
        "JSON mode repeats diagnostics on stderr"
    );
}

/// Processes whose command line holds `needle`, anywhere on this machine.
fn processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push(format!(
                "{}: {cmdline}",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    found
}

#[test]
fn nothing_a_check_starts_outlives_it() {
    // A unique sleep length per daemon, to find them afterwards. Each escapes the command's
    // process group in its own way: backgrounded with TERM/HUP ignored, `setsid -f` into a
    // new session (keeping the output pipe open), and a double fork inside a new session.
    let tag = std::process::id() % 1000 + 7000;
    let body = format!(
        r#"let out = cmd::run(["sh", "-c", "(trap '' TERM HUP; exec sleep {tag}1) & setsid -f sleep {tag}2; setsid -f sh -c '(sleep {tag}3 &) ; sleep {tag}4'; echo started"], #{{ timeout: 20 }});
           pass(`${{out.stdout}} in ${{out.duration_ms}} ms`)"#
    );
    let t = Test::new().file("c/d.rhai", &check("daemons", &body));
    let out = t.run(&["run", "c", "--format", "json", "--timeout", "30"]);
    assert_eq!(out.status("daemons"), "pass", "{}", out.stdout);
    // The check took its command's time, not the budget: the leftovers holding the output
    // pipe were killed as soon as the command ended.
    let ms: u64 = out.check("daemons")["duration_ms"]
        .as_u64()
        .unwrap_or(u64::MAX);
    assert!(ms < 5000, "the check took {ms} ms: {}", out.stdout);
    for n in 1..=4 {
        let left = processes_with(&format!("sleep {tag}{n}"));
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}

/// Starts `hostscript ARGS` in `dir`, waits `after`, sends `signals` (100 ms apart), and
/// returns its exit code, stdout and how long it took after the first signal.
fn interrupted(
    dir: &std::path::Path,
    args: &[&str],
    after: Duration,
    signals: &[nix::sys::signal::Signal],
) -> (Option<i32>, String, Duration) {
    use std::io::Read;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hostscript"))
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    std::thread::sleep(after);
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let sent = std::time::Instant::now();
    for s in signals {
        nix::sys::signal::kill(pid, *s).expect("signal");
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = child.wait().expect("wait");
    let took = sent.elapsed();
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read");
    (status.code(), out, took)
}

#[test]
fn a_signal_prints_the_partial_report_kills_every_command_and_exits_128_plus_it() {
    use nix::sys::signal::Signal;
    let tag = std::process::id() % 1000 + 8000;
    let t = Test::new()
        .file("c/quick.rhai", &check("quick", r#"pass("done")"#))
        .file(
            "c/slow.rhai",
            &check(
                "slow",
                &format!(r#"cmd::run(["sleep", "{tag}"], #{{ timeout: 60 }}); pass("slept")"#),
            ),
        )
        .file("c/spin.rhai", &check("spin", "loop { }"));
    for (signal, code) in [(Signal::SIGINT, 130), (Signal::SIGTERM, 143)] {
        let (status, out, took) = interrupted(
            t.root(),
            &["run", "c", "--format", "json", "--timeout", "60"],
            Duration::from_millis(1500),
            &[signal],
        );
        assert_eq!(status, Some(code), "{signal}: {out}");
        assert!(took < Duration::from_secs(8), "{signal}: took {took:?}");
        let doc: serde_json::Value = serde_json::from_str(&out).expect("a whole JSON report");
        let status_of = |id: &str| {
            doc["checks"]
                .as_array()
                .and_then(|c| c.iter().find(|c| c["id"] == id).cloned())
                .map(|c| (c["status"].clone(), c["message"].clone()))
                .unwrap_or_default()
        };
        assert_eq!(status_of("quick").0, "pass");
        for id in ["slow", "spin"] {
            let (status, message) = status_of(id);
            assert_eq!(status, "error", "{id}: {message}");
            assert!(
                message.as_str().unwrap_or_default().contains("interrupted"),
                "{id}: {message}"
            );
        }
        assert!(processes_with(&format!("sleep {tag}")).is_empty());
    }
    // The human report is printed too, and a second Ctrl-C exits at once.
    let (status, out, took) = interrupted(
        t.root(),
        &["run", "c", "--timeout", "60", "--color", "never"],
        Duration::from_millis(1500),
        &[Signal::SIGINT, Signal::SIGINT],
    );
    assert_eq!(status, Some(130), "{out}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
    assert!(processes_with(&format!("sleep {tag}")).is_empty());
}

#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn a_signal_stops_a_remediation_after_its_step_and_the_log_says_so() {
    use nix::sys::signal::Signal;
    let t = Test::new().file(
        "r/slow.rhai",
        r#"remediation(#{ id: "slow", description: "d", run: || {
               fix::write_file("/etc/one.conf", "1\n");
               fix::command(["sleep", "30"]);
               fix::write_file("/etc/two.conf", "2\n");
           } });
           remediation(#{ id: "later", description: "d", after: ["slow"], run: || { fix::write_file("/etc/three.conf", "3\n"); } });
        "#,
    );
    let root = t.path("root");
    std::fs::create_dir_all(root.join("etc")).expect("etc");
    let (status, out, took) = interrupted(
        t.root(),
        &[
            "remediate",
            "slow",
            "later",
            "--remediations",
            "r",
            "--root",
            root.to_str().expect("utf-8"),
            "--format",
            "json",
        ],
        Duration::from_millis(1500),
        &[Signal::SIGTERM],
    );
    assert_eq!(status, Some(143), "{out}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
    // The first write happened whole; nothing after the interrupted step.
    assert_eq!(
        std::fs::read_to_string(root.join("etc/one.conf"))
            .ok()
            .as_deref(),
        Some("1\n")
    );
    assert!(!root.join("etc/two.conf").exists() && !root.join("etc/three.conf").exists());
    let log = std::fs::read_to_string(root.join("var/log/hostscript/changes.log")).expect("log");
    assert!(log.contains("state=interrupted signal=15"), "{log}");
    // The lock is free: another run starts at once.
    let again = t.run(&[
        "remediate",
        "slow",
        "--remediations",
        "r",
        "--root",
        root.to_str().expect("utf-8"),
        "--dry-run",
    ]);
    assert_ne!(again.code, 2, "{}", again.stderr);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("a whole JSON report");
    assert!(doc.to_string().contains("interrupted"), "{doc}");
}

#[test]
fn a_huge_jobs_count_starts_no_more_threads_than_checks_and_warns() {
    // Each check reads its own process's thread count while it runs. `--jobs 1000000` used to
    // start a million threads (a machine's thread and mapping limits, then an abort before any
    // report); now at most one worker per check, and never more than the limit.
    let body = r#"let status = fs::read("/proc/self/status");
                  let line = status.split("\n").filter(|l| l.starts_with("Threads:"))[0];
                  pass(line)"#;
    let t = Test::new()
        .file("c/a.rhai", &check("a", body))
        .file("c/b.rhai", &check("b", body))
        .file("c/c.rhai", &check("c", body));
    for jobs in ["1000000", "65", "2"] {
        let out = t.run(&["run", "c", "--format", "json", "--jobs", jobs]);
        assert_eq!(out.code, 0, "--jobs {jobs}: {}\n{}", out.stdout, out.stderr);
        for id in ["a", "b", "c"] {
            let threads: usize = out
                .message(id)
                .trim_start_matches("Threads:")
                .trim()
                .parse()
                .expect("thread count");
            // Three workers, the main thread, the runtime's two, and a few of the libraries'.
            assert!(threads <= 12, "--jobs {jobs}: {threads} threads");
        }
        if jobs == "2" {
            assert!(!out.stderr.contains("over the limit"), "{}", out.stderr);
        } else {
            assert!(
                out.stderr
                    .contains(&format!("--jobs {jobs} is over the limit of 64")),
                "{}",
                out.stderr
            );
        }
    }
}
