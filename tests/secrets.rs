//! Secrets never leave the host. Distinct canary secrets, one per way a secret arrives (a var
//! listed in `secrets`, a flintlockd ExecStart in `systemctl show` and in the unit file, a
//! password in a config file a remediation rewrites, gRPC metadata a server echoes back in an
//! error, a value a site check marks with `secret()`, a command's argv), then every output of
//! every command is searched for them: each report format, `-o` files, `run --fix`, `remediate`
//! dry run and apply, the change log, `-vv` traces, `serve` responses and a merged fleet report.
//! Each canary is also shown to have reached the output it was aimed at, as `***`, so the test
//! cannot pass because a canary never travelled.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;

use crate::remediate::Staged;
use crate::support::Output;
use crate::support::grpc_server::{FlintlockOptions, start_flintlock};

/// What every canary starts with; no output may contain it.
const CANARY: &str = "hsCANARY";

/// Every output with a name for the failure message.
struct Seen(Vec<(String, String)>);

impl Seen {
    fn add(&mut self, name: impl Into<String>, text: impl Into<String>) {
        self.0.push((name.into(), text.into()));
    }

    fn output(&mut self, name: &str, out: &Output) {
        self.add(format!("{name} stdout"), out.stdout.clone());
        self.add(format!("{name} stderr"), out.stderr.clone());
    }

    /// Asserts that the output `name` holds every one of `wants`: a canary reached it, masked.
    fn has(&self, name: &str, wants: &[&str]) {
        let text = self.get(name);
        for want in wants {
            assert!(text.contains(want), "no `{want}` in {name}:\n{text}");
        }
    }

    /// The text of the output `name`, for the checks that a canary reached it.
    fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.as_str())
            .unwrap_or_else(|| panic!("no output `{name}`"))
    }
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn a_canary_secret_reaches_no_output() {
    let host = Staged::new();
    let root = host.root().to_path_buf();
    let root_text = root.display().to_string();
    let work = tempfile::tempdir().expect("work");
    let w = work.path();

    // flintlockd's token, in `systemctl show` and in the unit file.
    host.set_flintlockd_command(
        "/usr/local/bin/flintlockd run --basic-auth-token hsCANARYunit7x8y",
    );
    let unit = root.join("etc/systemd/system/flintlockd.service");
    let text = std::fs::read_to_string(&unit).expect("unit file");
    std::fs::write(
        &unit,
        text.replace(
            "ExecStart=/usr/local/bin/flintlockd run\n",
            "ExecStart=/usr/local/bin/flintlockd run --basic-auth-token hsCANARYunit7x8y\n",
        ),
    )
    .expect("unit file");
    // A registry password in the containerd config that containerd-dev rewrites; the operator
    // made it 0600.
    let config = root.join("etc/containerd/config-dev.toml");
    std::fs::create_dir_all(config.parent().expect("dir")).expect("mkdir");
    std::fs::write(
        &config,
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"r.example\".auth]\n  password = \"hsCANARYcfg9q8w\"\n",
    )
    .expect("config");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).expect("chmod");

    // A server that quotes the credential it refused.
    let server = start_flintlock(FlintlockOptions {
        basic_auth: Some("the-right-one".into()),
        echo_auth: true,
        ..Default::default()
    });

    // Site checks and a site remediation, with a secret var.
    let site = w.join("site");
    std::fs::create_dir_all(&site).expect("site");
    std::fs::write(
        site.join("vars.toml"),
        format!(
            "secrets = [\"site_secret\"]\nsite_secret = \"hsCANARYvar1a2b\"\ngrpc_target = \"{}\"\n",
            server.target
        ),
    )
    .expect("vars");
    std::fs::write(
        site.join("site.rhai"),
        r#"check(#{ id: "site.var", description: "a secret var in a message", run: || fail(`the var is ${vars::site_secret}`) });
check(#{ id: "site.mark", description: "a value the check marks", run: || { let t = secret("hsCANARYsite5h6j"); fail("marked " + t) } });
check(#{ id: "site.grpc", description: "metadata a server echoes", run: || {
    grpc::invoke(vars::grpc_target, "microvm.services.api.v1alpha1.MicroVM/ListMicroVMs", #{},
        #{ metadata: #{ authorization: "basic hsCANARYgrpc4r5t" } });
    pass("answered")
} });
check(#{ id: "site.argv", description: "a secret flag in argv", run: || { let r = cmd::run(["echo", "--password", "hsCANARYargv3e4r"]); let out = r.stdout; out.trim(); fail(out) } });
check(#{ id: "site.unit", description: "the unit file", run: || { let t = fs::read(vars::unit_file); if t.contains("hsCANARY") { fail(t) } else { pass("nothing") } } });
check(#{ id: "site.tokenfile", description: "the token file", remediation: "site-token", run: || {
    if fs::exists(vars::root + "/etc/site/token.conf") { pass("present") } else { fail(`no token file for ${vars::site_secret}`) }
} });
"#,
    )
    .expect("site checks");
    let site_rem = w.join("site-rem");
    std::fs::create_dir_all(&site_rem).expect("site-rem");
    std::fs::write(
        site_rem.join("site.rhai"),
        r#"remediation(#{ id: "site-token", description: "write the site token file", touches: ["/etc/site/token.conf"],
    run: || { fix::write_file("/etc/site/token.conf", `token=${vars::site_secret}` + "\n"); } });
"#,
    )
    .expect("site remediation");

    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let checks = repo.join("checks");
    let checks = checks.to_str().expect("utf-8");
    let site = site.to_str().expect("utf-8");
    let unit_var = format!("unit_file={}", unit.display());
    let root_var = format!("root={root_text}");
    let run = |args: &[&str]| -> Output {
        Output::from_process(
            host.command()
                .arg("run")
                .args([checks, site, "--var", &unit_var, "--var", &root_var])
                // The shipped images name public registries; tests look nothing up.
                .args(["--var", "check_registries=false"])
                .args(args)
                .output()
                .expect("run"),
        )
    };
    let mut seen = Seen(Vec::new());

    for format in ["human", "json", "junit", "tap", "nagios", "prometheus"] {
        seen.output(format, &run(&["--format", format, "--color", "never"]));
    }
    let traced = run(&["--format", "json", "-vv"]);
    assert!(traced.stderr.contains("cmd::run"), "{}", traced.stderr);
    seen.output("-vv", &traced);
    let files: Vec<(String, std::path::PathBuf)> =
        ["human", "json", "junit", "tap", "nagios", "prometheus"]
            .iter()
            .map(|f| (f.to_string(), w.join(format!("out.{f}"))))
            .collect();
    let mut args: Vec<String> = vec!["--format".into(), "json".into()];
    for (format, path) in &files {
        args.push("-o".into());
        args.push(format!("{format}={}", path.display()));
    }
    seen.output(
        "-o run",
        &run(&args.iter().map(String::as_str).collect::<Vec<_>>()),
    );
    for (format, path) in &files {
        seen.add(
            format!("-o {format}"),
            std::fs::read_to_string(path).expect("-o file"),
        );
    }

    // `run --fix` with the site remediation: before and after documents, and the file it
    // writes holds the secret, so it is created 0600.
    let fix = Output::from_process(
        host.command()
            .args(["run", site, "--var", &unit_var, "--var", &root_var])
            .args(["--fix", "--remediations"])
            .arg(&site_rem)
            .args(["--root", &root_text, "--format", "json"])
            .output()
            .expect("run --fix"),
    );
    seen.output("--fix", &fix);
    assert_eq!(
        std::fs::read_to_string(root.join("etc/site/token.conf")).expect("token file"),
        "token=hsCANARYvar1a2b\n",
        "{}",
        fix.stdout
    );
    assert_eq!(mode(&root.join("etc/site/token.conf")), 0o600);

    // remediate: dry run (both formats) and apply.
    let targets = ["flintlockd-unit", "containerd-dev"];
    let mut dry: Vec<&str> = targets.to_vec();
    dry.push("--dry-run");
    seen.output("remediate --dry-run", &host.remediate(&dry));
    seen.output(
        "remediate --dry-run human",
        &host.hostscript_human("remediate", &dry),
    );
    let applied = host.remediate(&targets);
    seen.output("remediate", &applied);
    let log = root.join("var/log/hostscript/changes.log");
    seen.add(
        "change log",
        std::fs::read_to_string(&log).expect("change log"),
    );
    assert_eq!(mode(&log), 0o600, "the change log is not world-readable");
    // The replaced config keeps the operator's 0600 (the remediation asks for 0644), and so
    // does its backup.
    assert_eq!(mode(&config), 0o600);
    let backup = std::fs::read_dir(config.parent().expect("dir"))
        .expect("dir")
        .flatten()
        .find(|e| e.file_name().to_string_lossy().contains(".hostscript-bak-"))
        .expect("a backup of the config");
    assert_eq!(mode(&backup.path()), 0o600);

    // serve, asked for everything it answers.
    let mut command = host.command();
    command
        .args([
            "serve", checks, site, "--var", &unit_var, "--var", &root_var,
        ])
        .args(["--var", "check_registries=false"])
        .args(["--listen", "127.0.0.1:0"]);
    let mut served = crate::serve::spawn(command);
    for path in [
        "/report",
        "/metrics",
        "/healthz",
        "/healthz/site.var",
        "/healthz?tag=x",
    ] {
        let (_, body) = crate::serve::get(&served.addr, path);
        seen.add(format!("serve {path}"), body);
    }
    let _ = served.child.kill();
    let _ = served.child.wait();
    let mut rest = String::new();
    let _ = served.stderr.read_to_string(&mut rest);
    seen.add("serve stderr", format!("{}{rest}", served.announced));

    // A fleet report merged from this host's JSON report.
    let reports = w.join("reports");
    std::fs::create_dir_all(&reports).expect("reports");
    std::fs::copy(w.join("out.json"), reports.join("this-host.json")).expect("copy");
    for format in ["human", "json", "prometheus", "junit"] {
        let merged = Output::from_process(
            host.command()
                .arg("merge")
                .arg(&reports)
                .args(["--format", format])
                .output()
                .expect("merge"),
        );
        seen.output(&format!("merge {format}"), &merged);
    }

    // No canary anywhere.
    let leaks: Vec<String> = seen
        .0
        .iter()
        .filter(|(_, text)| text.contains(CANARY))
        .map(|(name, text)| {
            let at = text.find(CANARY).unwrap_or(0);
            let from = text[..at]
                .char_indices()
                .rev()
                .nth(80)
                .map_or(0, |(i, _)| i);
            format!("{name}: …{}…", &text[from..(at + 24).min(text.len())])
        })
        .collect();
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));

    // And each canary reached the output it was aimed at, masked.
    seen.has(
        "json stdout",
        &[
            "\"message\": \"the var is ***\"",
            "\"message\": \"marked ***\"",
            "\"message\": \"--password ***\"",
            "got \\\"***\\\"",
            "--basic-auth-token ***",
        ],
    );
    seen.has("-vv stderr", &["\"--password\", \"***\""]);
    seen.has(
        "remediate --dry-run stdout",
        &["--basic-auth-token ***", "password = \\\"***\\\""],
    );
    seen.has("--fix stdout", &["+token=***"]);
    seen.has("serve /report", &["the var is ***"]);
    seen.has("merge json stdout", &["site.var"]);
}

#[test]
fn site_flags_extend_the_list_and_values_too_short_to_redact_are_named() {
    let t = crate::support::Test::new()
        .file(
            "c/vars.toml",
            "secrets = [\"short\", \"nowhere\"]\nshort = \"abc\"\nsecret_flags = [\"--vault-login\"]\nrequire_token = true\n",
        )
        .file(
            "c/a.rhai",
            &crate::support::check(
                "site.flag",
                r#"let r = cmd::run(["echo", "--vault-login", "hvs-0123456789"]); let out = r.stdout; out.trim(); secret("xy"); fail(out)"#,
            ),
        );
    let out = t.run(&["run", "c", "--format", "json"]);
    assert_eq!(
        out.message("site.flag"),
        "--vault-login ***",
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("hvs-0123456789"));
    // A boolean named like a secret is no secret: `true` stays in every report.
    assert!(out.stdout.contains("\"required\": true"), "{}", out.stdout);
    for want in [
        "hostscript: warning: secret var `short` has a value shorter than 4 characters, which cannot be redacted",
        "hostscript: warning: `secrets` names `nowhere`, which no vars file or --var sets",
        "a.rhai:1:",
        "secret(): a value shorter than 4 characters cannot be redacted",
    ] {
        assert!(out.stderr.contains(want), "no `{want}` in:\n{}", out.stderr);
    }
    // Without the site's flag the value is shown: the list is what decides.
    let t = t.file("c/vars.toml", "");
    let out = t.run(&["run", "c", "--format", "json"]);
    assert_eq!(out.message("site.flag"), "--vault-login hvs-0123456789");
}

#[test]
fn a_secrets_list_that_is_not_a_list_of_names_is_an_error_naming_the_file_and_line() {
    let t = crate::support::Test::new()
        .file("c/vars.toml", "a = 1\nsecrets = \"token\"\n")
        .file("c/a.rhai", &crate::support::check("x", "pass(\"ok\")"));
    let out = t.run(&["run", "c"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("vars.toml:2:1: malformed vars file: `secrets` must be a list of strings"),
        "{}",
        out.stderr
    );
    let t = t.file("c/vars.toml", "a = 1\n");
    let out = t.run(&["run", "c", "--var", "secret_flags=--x"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("`secret_flags` must be a list of strings"),
        "{}",
        out.stderr
    );
}

#[test]
fn secrets_that_reporters_would_transform_are_masked_in_every_format() {
    // Each secret is one a reporter used to let through: short lines folded into one
    // (`kq7 | zx9`) or printed raw under -v; a control character JUnit strips; a tab and a
    // quote TAP quotes; a `*` that a mask next to it rebuilt. None of their pieces may appear.
    let t = crate::support::Test::new().file(
        "c/s.rhai",
        &crate::support::check(
            "s",
            r#"let a = secret("kq7\nzx9");
               let b = secret("hsQ\u0001mK2xW");
               let c = secret("tbW\tq\"uXY");
               let d = secret("zJ***");
               fail(`got ${a} and ${b} and ${c} and zJzJ***`, #{ a: a, b: b, c: c, d: d })"#,
        ),
    );
    let forbidden = ["kq7", "zx9", "mK2xW", "hsQ", "tbW", "uXY", "zJ"];
    for format in ["human", "json", "junit", "tap", "nagios", "prometheus"] {
        for verbose in [&[][..], &["-v"][..]] {
            let mut args = vec!["run", "c", "--format", format];
            args.extend_from_slice(verbose);
            let out = t.run(&args);
            for piece in forbidden {
                assert!(
                    !out.stdout.contains(piece) && !out.stderr.contains(piece),
                    "{format} {verbose:?} shows `{piece}`:\n{}\n{}",
                    out.stdout,
                    out.stderr
                );
            }
            if format != "prometheus" && format != "nagios" {
                assert!(
                    out.stdout.contains("***"),
                    "{format}: the message never arrived"
                );
            }
        }
    }
}
