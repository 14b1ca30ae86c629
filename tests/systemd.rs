//! `systemd::unit` and `systemd::expand` against a real systemd manager (a user manager in a
//! private mount namespace, `support::user_manager`): unit files and drop-ins are loaded by
//! systemd's own parser, and the argv a started process really received is the reference for
//! our expansion. Plus the real systemctl of this machine, where systemd is not PID 1.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::support::user_manager::{UserManager, unit_quote};
use crate::support::{Output, Test, check, with_suite_lib};

/// Runs one check `s` whose body is `body` against the manager; returns the report.
fn run_against(manager: &UserManager, body: &str) -> Output {
    let t = with_suite_lib(body);
    let env = manager.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = t.run_with_env(&["run", "c", "--format", "json"], &env);
    assert!(
        out.stdout.starts_with('{'),
        "no report: {}\n{}",
        out.stdout,
        out.stderr
    );
    out
}

/// A small deterministic generator, so a failing case can be found again from its seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[usize::try_from(self.next() % items.len() as u64).unwrap_or(0)]
    }
}

#[test]
#[ignore = "needs root and systemd (a user manager in a mount namespace): scripts/test.sh runs it"]
fn exec_start_argv_and_expansion_equal_what_the_real_manager_passed() {
    let manager = UserManager::start();
    let out_file = manager.dir.path().join("argv.jsonl");
    // Values with everything systemd's word splitting treats specially.
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let pieces = [
        "a", "b", " ", "  ", "'", "\"", "\\", "$", "{", "}", "\t", "x y", "''", "\"\"", "#",
    ];
    let mut env = vec![
        ("A".to_string(), "x y".to_string()),
        ("EMPTY".to_string(), String::new()),
        ("Q".to_string(), "a \"b c\" d".to_string()),
        ("SPACES".to_string(), "   ".to_string()),
    ];
    for i in 0..6 {
        let n = 1 + rng.next() % 6;
        let value: String = (0..n).map(|_| rng.pick(&pieces)).collect();
        env.push((format!("R{i}"), value));
    }
    let mut names: Vec<String> = env.iter().map(|(k, _)| k.clone()).collect();
    names.push("UNSET".into());
    // Fixed words first: the cases the issue names, then generated ones.
    let fixed = [
        "plain",
        "--tag",
        "#blue",
        "sp ace",
        "a\nb",
        "x\"y",
        "it's",
        "$A",
        "${A}",
        "$EMPTY",
        "$UNSET",
        "${UNSET}",
        "$$",
        "$$A",
        "${A:-d}",
        "${UNSET:-d}",
        "${A:+d}",
        "pre${A}post",
        "--x=$A",
        "$A/b",
        "$",
        "${",
        "${A",
        "a$",
        "$Q",
        "${Q}",
        "$SPACES",
        "${}",
        "$${A}",
    ];
    let mut commands: Vec<Vec<String>> = vec![fixed.iter().map(|w| w.to_string()).collect()];
    for _ in 0..40 {
        let len = 1 + rng.next() % 5;
        let words = (0..len)
            .map(|_| {
                let name =
                    names[usize::try_from(rng.next() % names.len() as u64).unwrap_or(0)].clone();
                match rng.next() % 6 {
                    0 => format!("${name}"),
                    1 => format!("${{{name}}}"),
                    2 => format!("-{}${{{name}}}{}", rng.pick(&pieces), rng.pick(&pieces)),
                    3 => format!("$${name}"),
                    4 => rng.pick(&pieces).to_string(),
                    _ => format!("--{name}=${name}"),
                }
            })
            .collect();
        commands.push(words);
    }
    let script = "import sys, json; print(json.dumps(sys.argv[1:]))";
    let mut unit = format!(
        "[Service]\nType=oneshot\nStandardOutput=append:{}\n",
        out_file.display()
    );
    for (k, v) in &env {
        unit.push_str(&format!(
            "Environment={}\n",
            unit_quote(&format!("{k}={v}"))
        ));
    }
    for words in &commands {
        let quoted: Vec<String> = words.iter().map(|w| unit_quote(w)).collect();
        unit.push_str(&format!(
            "ExecStart=/usr/bin/python3 -c {} {}\n",
            unit_quote(script),
            quoted.join(" ")
        ));
    }
    manager.write("argv.service", &unit);
    manager.reload();
    manager.ok(&["start", "argv.service"]);
    let received: Vec<Vec<String>> = std::fs::read_to_string(&out_file)
        .expect("the service wrote its argv")
        .lines()
        .map(|l| serde_json::from_str(l).expect("argv JSON"))
        .collect();
    assert_eq!(received.len(), commands.len(), "one line per ExecStart");

    // hostscript: the unit's argv as the manager holds it, then the suite's expansion.
    let out = run_against(
        &manager,
        r#"let u = systemd::unit("argv.service");
           let raw = [];
           let expanded = [];
           for c in u.exec_start {
               raw.push(c.argv.extract(3));
               expanded.push(flintlock::expand(c.argv, u.environment).extract(3));
           }
           pass("read", #{ raw: raw, expanded: expanded })"#,
    );
    assert_eq!(out.status("s"), "pass", "{}", out.stdout);
    let details = &out.check("s")["details"];
    let raw: Vec<Vec<String>> = serde_json::from_value(details["raw"].clone()).expect("raw");
    let expanded: Vec<Vec<String>> =
        serde_json::from_value(details["expanded"].clone()).expect("expanded");
    // The argv before expansion is exactly what the unit file says: `#`, spaces, newlines
    // and quotes included.
    assert_eq!(raw, commands);
    for (i, (ours, theirs)) in expanded.iter().zip(&received).enumerate() {
        assert_eq!(
            ours, theirs,
            "command {i}: {:?} with env {env:?}",
            commands[i]
        );
    }
}

#[test]
#[ignore = "needs root and systemd (a user manager in a mount namespace): scripts/test.sh runs it"]
fn unit_semantics_come_from_systemd_itself() {
    let manager = UserManager::start();
    let env_file = manager.dir.path().join("flintlockd.env");
    std::fs::write(
        &env_file,
        "FLINTLOCKD_INSECURE=true\nFLINTLOCKD_PARENT-IFACE=eth9\n",
    )
    .expect("env file");
    manager.write(
        "containerd.service",
        "[Service]\nExecStart=/bin/sleep 600\n",
    );
    manager.write(
        "containerd-dev.service",
        "[Service]\nType=notify\nExecStart=/bin/sleep 600\n[Install]\nWantedBy=default.target\n",
    );
    manager.write(
        "flintlockd.service",
        &format!(
            "[Unit]\nRequires=containerd.service\nAfter=containerd.service\n[Service]\nUser=root\n\
             Environment=\"FLINTLOCKD_INSECURE=false\" \"A-B=1\" GREETING=hi\n\
             EnvironmentFile=-{}\nEnvironmentFile=-/nonexistent/env\n\
             ExecStart=/usr/bin/flintlockd run --parent-iface eth0\n",
            env_file.display()
        ),
    );
    // The drop-in resets ExecStart and adds a dependency: it cannot remove Requires=.
    manager.write(
        "flintlockd.service.d/10-dev.conf",
        "[Unit]\nRequires=containerd-dev.service\nAfter=containerd-dev.service\n[Service]\nExecStart=\nExecStart=/usr/bin/flintlockd run --containerd-socket /run/containerd-dev/containerd.sock\n",
    );
    manager.reload();
    manager.ok(&["enable", "containerd-dev.service"]);
    let out = run_against(
        &manager,
        r#"let u = systemd::unit("flintlockd");
           let dev = systemd::unit("containerd-dev");
           let plain = systemd::unit("containerd");
           let gone = systemd::unit("nosuch");
           pass("read", #{
               name: u.name, load: u.load_state, active: u.active_state, user: u.user,
               argv: u.exec_start.map(|c| c.argv), drop_ins: u.drop_in_paths,
               requires: u.requires, after: u.after, env: u.environment,
               files: u.environment_files, dev_file_state: dev.unit_file_state,
               dev_type: dev.type, plain_file_state: plain.unit_file_state,
               gone: gone.exists, gone_load: gone.load_state,
               reload: u.need_daemon_reload,
           })"#,
    );
    let d = &out.check("s")["details"];
    assert_eq!(out.status("s"), "pass", "{}", out.stdout);
    assert_eq!(d["name"], "flintlockd.service");
    assert_eq!(d["load"], manager.property("flintlockd", "LoadState"));
    assert_eq!(d["active"], "inactive");
    assert_eq!(
        d["argv"],
        serde_json::json!([[
            "/usr/bin/flintlockd",
            "run",
            "--containerd-socket",
            "/run/containerd-dev/containerd.sock"
        ]])
    );
    assert_eq!(d["drop_ins"].as_array().map(Vec::len), Some(1));
    for unit in ["containerd.service", "containerd-dev.service"] {
        assert!(
            d["requires"]
                .as_array()
                .is_some_and(|r| r.iter().any(|x| x == unit)),
            "Requires= lacks {unit}: {}",
            d["requires"]
        );
        assert!(
            d["after"]
                .as_array()
                .is_some_and(|r| r.iter().any(|x| x == unit)),
            "After= lacks {unit}"
        );
    }
    // systemd itself dropped `A-B`; what it kept is what we report.
    assert_eq!(
        d["env"],
        serde_json::json!({"FLINTLOCKD_INSECURE": "false", "GREETING": "hi"})
    );
    assert_eq!(d["files"][0]["path"], env_file.display().to_string());
    assert_eq!(d["files"][0]["optional"], true);
    assert_eq!(d["files"][1]["path"], "/nonexistent/env");
    assert_eq!(d["dev_file_state"], "enabled");
    assert_eq!(d["dev_type"], "notify");
    assert_eq!(
        d["plain_file_state"],
        manager.property("containerd", "UnitFileState")
    );
    assert_eq!(d["gone"], false);
    assert_eq!(d["gone_load"], "not-found");
    assert_eq!(d["reload"], false);
}

#[test]
#[ignore = "needs root and systemd (a user manager in a mount namespace): scripts/test.sh runs it"]
fn two_exec_starts_on_a_simple_service_are_refused_by_systemd_and_by_the_check() {
    let manager = UserManager::start();
    manager.write(
        "flintlockd.service",
        "[Service]\nExecStart=/usr/bin/flintlockd run --insecure\n",
    );
    manager.write(
        "flintlockd.service.d/override.conf",
        "[Service]\nExecStart=/usr/bin/flintlockd run --parent-iface eth0\n",
    );
    manager.reload();
    assert_eq!(manager.property("flintlockd", "LoadState"), "bad-setting");
    let out = run_against(
        &manager,
        r#"let u = systemd::unit("flintlockd");
           pass(`${u.load_state} ${u.exists}`)"#,
    );
    assert_eq!(out.message("s"), "bad-setting true");
}

#[test]
#[ignore = "needs root and systemd (a user manager in a mount namespace): scripts/test.sh runs it"]
fn a_changed_unit_file_needs_a_reload_and_the_start_time_is_the_processs() {
    let manager = UserManager::start();
    manager.write("svc.service", "[Service]\nExecStart=/bin/sleep 600\n");
    manager.reload();
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    manager.ok(&["start", "svc.service"]);
    let body = r#"let u = systemd::unit("svc");
                  pass(`${u.active_state} ${u.need_daemon_reload} ${u.main_started} ${u.main_pid}`)"#;
    let out = run_against(&manager, body);
    let m = out.message("s");
    let fields: Vec<&str> = m.split(' ').collect();
    assert_eq!(fields[..2], ["active", "false"], "{m}");
    let started: u64 = fields[2].parse().expect("seconds");
    assert!(
        started >= before && started <= before + 60,
        "{started} vs {before}"
    );
    assert_eq!(fields[3], manager.property("svc", "MainPID"));
    // A file changed on disk: systemd says so until daemon-reload.
    manager.write("svc.service", "[Service]\nExecStart=/bin/sleep 700\n");
    let out = run_against(&manager, body);
    assert!(
        out.message("s").starts_with("active true "),
        "{}",
        out.message("s")
    );
    manager.reload();
    let out = run_against(&manager, body);
    assert!(
        out.message("s").starts_with("active false "),
        "{}",
        out.message("s")
    );
}

#[test]
#[ignore = "needs a host where systemd is not PID 1 (CI's kind of machine)"]
fn real_systemctl_without_systemd_as_pid_1_says_systemd_is_not_running() {
    assert!(
        !std::path::Path::new("/run/systemd/system").exists(),
        "this test needs a host where systemd is not PID 1"
    );
    let t = Test::new().file(
        "c/s.rhai",
        &check("s", r#"systemd::unit("containerd-dev"); pass("")"#),
    );
    let out = t.run(&["run", "c", "--format", "json"]);
    let message = out.message("s");
    assert_eq!(out.status("s"), "error");
    assert!(
        message.contains("systemd is not running on this host")
            || message.contains("systemd is not installed on this host"),
        "{message}"
    );
}

#[test]
#[ignore = "needs root and systemd (a user manager in a mount namespace): scripts/test.sh runs it"]
fn quoted_words_reach_the_process_as_they_are_and_prefixes_are_read() {
    let manager = UserManager::start();
    let out_file = manager.dir.path().join("argv.jsonl");
    let words = [
        "plain",
        "sp ace",
        "a\nb",
        "tab\there",
        "x\"y",
        "back\\slash",
        "100%",
        "$A",
        "${A}",
        "$$",
        "; b",
        ";",
        "{}",
        "'q'",
        "é",
        "\u{1}ctl",
    ];
    // hostscript spells each word for the unit file (systemd::quote), as flintlockd-unit does.
    // JSON string escapes are Rhai's too (\u0001, not Rust's \u{1}).
    let list: Vec<String> = words
        .iter()
        .map(|w| serde_json::to_string(w).expect("json"))
        .collect();
    let out = run_against(
        &manager,
        &format!(
            "pass(\"\", #{{ line: [{}].map(|w| systemd::quote(w)).reduce(|a, w| if a == () {{ w }} else {{ a + \" \" + w }}) }})",
            list.join(", ")
        ),
    );
    let line = out.check("s")["details"]["line"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let script = "import sys, json; print(json.dumps(sys.argv[1:]))";
    manager.write(
        "quoted.service",
        &format!(
            "[Service]\nType=oneshot\nEnvironment=A=expanded\nStandardOutput=append:{out}\n\
             ExecStart=/usr/bin/python3 -c {script} {line}\n\
             ExecStart=:/usr/bin/python3 -c {script} $A ${{A}}\n\
             ExecStart=@/usr/bin/python3 renamed -c {script} x\n",
            out = out_file.display(),
            script = unit_quote(script),
        ),
    );
    manager.reload();
    manager.ok(&["start", "quoted.service"]);
    let received: Vec<Vec<String>> = std::fs::read_to_string(&out_file)
        .expect("argv")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(
        received[0], words,
        "systemd::quote must be an exact spelling"
    );
    // `:` passes $A unexpanded; hostscript reads the flag and its expansion leaves it too.
    assert_eq!(received[1], ["$A", "${A}"]);
    let out = run_against(
        &manager,
        r#"let u = systemd::unit("quoted.service");
           let c = u.exec_start[1];
           let e = u.exec_start[2];
           pass("", #{ flags: c.flags, exact: c.exact, path: e.path, argv0: e.argv[0] })"#,
    );
    let d = &out.check("s")["details"];
    assert!(
        d["flags"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == "no-env-expand")),
        "{d}"
    );
    assert_eq!(d["exact"], true);
    // `@`: the binary is the path; argv[0] is what the process is told it is.
    assert_eq!(d["path"], "/usr/bin/python3");
    assert_eq!(d["argv0"], "renamed");
}
