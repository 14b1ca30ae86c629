//! The core primitives through real scripts on real files, sockets, devices and processes.

use std::os::unix::fs::PermissionsExt;

use crate::support::{Test, check};

/// Runs one check body and returns its JSON record.
fn eval(body: &str) -> serde_json::Value {
    let t = Test::new().file("c/p.rhai", &check("p", body));
    t.run(&["run", "c", "--format", "json"]).check("p")
}

fn message(body: &str) -> String {
    let record = eval(body);
    assert_eq!(record["status"], "pass", "{record}");
    record["message"].as_str().unwrap_or_default().to_string()
}

#[test]
fn cmd_run_reports_code_streams_and_duration() {
    let m = message(
        r#"let r = cmd::run(["sh", "-c", "echo out; echo err >&2; exit 7"]);
           pass(`${r.code} ${r.ok} ${r.stdout == "out\n"} ${r.stderr == "err\n"} ${r.signal} ${r.truncated} ${type_of(r.duration_ms)}`)"#,
    );
    assert_eq!(m, "7 false true true  false i64");
}

#[test]
fn cmd_run_reports_the_signal_that_ended_a_program() {
    let m = message(
        r#"let r = cmd::run(["sh", "-c", "kill -KILL $$"]); pass(`${r.code}|${r.signal}`)"#,
    );
    assert_eq!(m, "|9");
}

#[test]
fn cmd_run_passes_stdin_env_and_cwd_and_caps_output() {
    let m = message(
        r#"let r = cmd::run(["sh", "-c", "cat; echo \" $HS_X\"; pwd"], #{ stdin: "in", env: #{ HS_X: "y" }, cwd: "/" });
           let big = cmd::run(["head", "-c", "5000", "/dev/zero"], #{ max_output: 100 });
           pass(`${r.stdout.split("\n")} ${big.stdout.len()} ${big.stdout_truncated}`)"#,
    );
    assert_eq!(m, r#"["in y", "/", ""] 100 true"#);
}

#[test]
fn cmd_run_errors_name_the_program_and_can_be_caught() {
    let record = eval(r#"cmd::run(["hs-no-such-program", "--version"]); pass("")"#);
    assert_eq!(record["status"], "error");
    assert!(
        record["message"]
            .as_str()
            .unwrap_or_default()
            .ends_with("program `hs-no-such-program` not found on PATH"),
        "{record}"
    );
    let m = message(
        r#"let caught = "nothing thrown";
           try { cmd::run(["sleep", "5"], #{ timeout: 0.2 }); } catch (e) { caught = e; }
           pass(caught)"#,
    );
    assert_eq!(m, "`sleep` timed out after 200 ms and was killed");
    let record = eval(r#"cmd::run(["true"], #{ tiemout: 1 }); pass("")"#);
    assert!(
        record["message"]
            .as_str()
            .unwrap_or_default()
            .contains("unknown option `tiemout`"),
        "{record}"
    );
}

#[test]
fn which_finds_programs_on_path() {
    assert_eq!(
        message(r#"pass(`${cmd::which("sh") != ()} ${cmd::which("hs-no-such-program") == ()}`)"#),
        "true true"
    );
}

#[test]
fn fs_predicates_tell_kinds_apart_on_real_files() {
    let t = Test::new().file("f.txt", "hello");
    std::os::unix::fs::symlink(t.path("f.txt"), t.path("link")).expect("symlink");
    let _listener = std::os::unix::net::UnixListener::bind(t.path("sock")).expect("bind");
    let script = format!(
        r#"let d = "{dir}";
           let r = [fs::exists(`${{d}}/f.txt`), fs::is_file(`${{d}}/f.txt`), fs::is_dir(d), fs::is_symlink(`${{d}}/link`),
                    fs::is_file(`${{d}}/link`), fs::is_socket(`${{d}}/sock`), fs::is_char_device("/dev/null"),
                    fs::exists(`${{d}}/missing`), fs::is_socket(`${{d}}/f.txt`)];
           pass(`${{r}}`)"#,
        dir = t.root().display()
    );
    let t = t.file("c/p.rhai", &check("p", &script));
    let out = t.run(&["run", "c", "--format", "json"]);
    assert_eq!(
        out.message("p"),
        "[true, true, true, true, true, true, true, false, false]"
    );
}

#[test]
fn stat_reports_kind_mode_owner_size_and_device_numbers() {
    let m = message(
        r#"let s = fs::stat("/dev/null");
           let f = fs::stat("/etc/hostname");
           pass(`${s.kind} ${s.major}:${s.minor} ${s.mode_octal} ${s.owner} ${s.group} ${f.kind} ${f.size > 0} ${f.mtime > 0}`)"#,
    );
    assert_eq!(m, "char_device 1:3 0666 root root file true true");
    let record = eval(r#"fs::stat("/nonexistent/hs"); pass("")"#);
    assert!(
        record["message"]
            .as_str()
            .unwrap_or_default()
            .ends_with("`/nonexistent/hs` does not exist"),
        "{record}"
    );
}

#[test]
fn read_is_bounded_and_names_missing_files() {
    let t = Test::new().file("data.txt", "0123456789");
    let script = format!(
        r#"let p = "{}";
           let whole = fs::read(p);
           let refused = "";
           try {{ fs::read(p, #{{ max_bytes: 4 }}); }} catch (e) {{ refused = e; }}
           pass(`${{whole}} | ${{refused}}`)"#,
        t.path("data.txt").display()
    );
    let t = t.file("c/p.rhai", &check("p", &script));
    let out = t.run(&["run", "c", "--format", "json"]);
    let m = out.message("p");
    assert!(m.starts_with("0123456789 | `"), "{m}");
    assert!(
        m.ends_with("data.txt` is larger than the 4 byte read cap (pass a larger `max_bytes`)"),
        "{m}"
    );
}

#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn access_honours_owner_group_other_bits_and_root() {
    use std::os::unix::fs::PermissionsExt;
    let t = Test::new()
        .file("private", "x")
        .file("group-readable", "x")
        .file("world-readable", "x");
    let set = |name: &str, mode: u32| {
        std::fs::set_permissions(t.path(name), std::fs::Permissions::from_mode(mode))
            .expect("chmod");
    };
    set("private", 0o600);
    set("group-readable", 0o640);
    set("world-readable", 0o604);
    // `nobody` is in group `nogroup` on Debian; give one file that group.
    let nogroup = nix::unistd::Group::from_name("nogroup")
        .ok()
        .flatten()
        .expect("nogroup exists");
    nix::unistd::chown(&t.path("group-readable"), None, Some(nogroup.gid)).expect("chgrp");
    let d = t.root().display().to_string();
    let script = format!(
        r#"let d = "{d}";
           let a = fs::access(`${{d}}/private`, "nobody", "r");
           let b = fs::access(`${{d}}/group-readable`, "nobody", "r");
           let c = fs::access(`${{d}}/world-readable`, "nobody", "rw");
           let r = fs::access(`${{d}}/private`, "root", "rw");
           pass(`${{a.allowed}}/${{a.via}} ${{b.allowed}}/${{b.via}} ${{c.allowed}}/${{c.read}}/${{c.write}}/${{c.via}} ${{r.allowed}}/${{r.via}}`)"#
    );
    let t = t.file("c/p.rhai", &check("p", &script));
    let out = t.run(&["run", "c", "--format", "json"]);
    assert_eq!(
        out.message("p"),
        "false/other true/group nogroup false/true/false/other true/root",
        "{}",
        out.stdout
    );
    let record = eval(r#"fs::access("/dev/null", "hs-no-such-user", "rw"); pass("")"#);
    assert!(
        record["message"]
            .as_str()
            .unwrap_or_default()
            .ends_with("no such user `hs-no-such-user`"),
        "{record}"
    );
}

/// What the kernel answers for `user` in `group` (with the user's groups): `test -r`, `-w`.
fn kernel_access(path: &std::path::Path, user: &str, group: &str) -> (bool, bool) {
    let probe = |flag: &str| {
        std::process::Command::new("setpriv")
            .args([
                &format!("--reuid={user}"),
                &format!("--regid={group}"),
                "--init-groups",
                "test",
                flag,
            ])
            .arg(path)
            .status()
            .expect("setpriv test")
            .success()
    };
    (probe("-r"), probe("-w"))
}

#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn access_follows_posix_acls_as_the_kernel_does() {
    // Firecracker's getting-started grants /dev/kvm with `setfacl -m u:${USER}:rw`
    // (firecracker-microvm/firecracker docs/getting-started.md): that user has access even
    // though the mode bits say 0600 root:root.
    let t = Test::new()
        .file("user-acl", "x")
        .file("masked", "x")
        .file("group-acl", "x")
        .file("plain", "x");
    std::fs::set_permissions(t.root(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    for name in ["user-acl", "masked", "group-acl", "plain"] {
        std::fs::set_permissions(t.path(name), std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
    }
    let setfacl = |args: &[&str], name: &str| {
        let ok = std::process::Command::new("setfacl")
            .args(args)
            .arg(t.path(name))
            .status()
            .expect("setfacl (package acl; scripts/test.sh installs it)")
            .success();
        assert!(ok, "setfacl {args:?} {name}");
    };
    setfacl(&["-m", "u:nobody:rw"], "user-acl");
    // The mask caps named entries: rw for nobody, but the mask allows only r.
    setfacl(&["-m", "u:nobody:rw,m::r"], "masked");
    setfacl(&["-m", "g:nogroup:rw"], "group-acl");
    let d = t.root().display().to_string();
    let script = format!(
        r#"let d = "{d}";
           let out = [];
           for name in ["user-acl", "masked", "group-acl", "plain"] {{
               let a = fs::access(`${{d}}/${{name}}`, "nobody", "rw");
               out.push(`${{name}}=${{a.read}}/${{a.write}}/${{a.allowed}}/${{a.via}}/${{a.acl}}`);
           }}
           pass(out.reduce(|all, x| if all == () {{ x }} else {{ all + " " + x }}))"#
    );
    let t = t.file("c/p.rhai", &check("p", &script));
    let out = t.run(&["run", "c", "--format", "json"]);
    assert_eq!(
        out.message("p"),
        "user-acl=true/true/true/acl user nobody/true \
         masked=true/false/false/acl user nobody/true \
         group-acl=true/true/true/acl group nogroup/true \
         plain=false/false/false/other/false",
        "{}",
        out.stdout
    );
    // The same answers as access(2) gives that user.
    for (name, want) in [
        ("user-acl", (true, true)),
        ("masked", (true, false)),
        ("group-acl", (true, true)),
        ("plain", (false, false)),
    ] {
        assert_eq!(
            kernel_access(&t.path(name), "nobody", "nogroup"),
            want,
            "{name}"
        );
    }
}

#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn access_equals_the_kernels_on_generated_acls() {
    // 2,000 random files: owner root or nobody, group root or nogroup, random user::, group::,
    // other:: entries, named user and group entries, masks (`---` one time in four) and a
    // chmod after the ACL one time in three. Each is judged by fs::access for nobody and by
    // the kernel's own access(2) as nobody.
    const N: usize = 2000;
    let t = Test::new();
    std::fs::set_permissions(t.root(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut seed: u64 = 0x00ac_1d1f_f00d_2026;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let perm = |bits: u64| {
        format!(
            "{}{}{}",
            if bits & 4 != 0 { "r" } else { "-" },
            if bits & 2 != 0 { "w" } else { "-" },
            if bits & 1 != 0 { "x" } else { "-" }
        )
    };
    // One `setfacl --restore` file for all (setfacl(1)): owner, group and ACL of each.
    let mut restore = String::new();
    let mut chmods = Vec::new();
    for i in 0..N {
        std::fs::write(t.path(&format!("f{i}")), "x").expect("write");
        let owner = if next(3) == 0 { "nobody" } else { "root" };
        let group = if next(2) == 0 { "root" } else { "nogroup" };
        let mut entries = vec![
            format!("user::{}", perm(next(8))),
            format!("group::{}", perm(next(8))),
        ];
        let mut named = false;
        if next(3) > 0 {
            entries.push(format!("user:nobody:{}", perm(next(8))));
            named = true;
        }
        if next(2) == 0 {
            entries.push(format!("group:nogroup:{}", perm(next(8))));
            named = true;
        }
        if next(3) == 0 {
            entries.push(format!("group:root:{}", perm(next(8))));
            named = true;
        }
        // A named entry needs a mask; without one the ACL is the mode bits alone.
        if named || next(4) == 0 {
            let mask = if next(4) == 0 { 0 } else { next(8) };
            entries.push(format!("mask::{}", perm(mask)));
        }
        entries.push(format!("other::{}", perm(next(8))));
        restore.push_str(&format!(
            "# file: f{i}\n# owner: {owner}\n# group: {group}\n{}\n\n",
            entries.join("\n")
        ));
        if next(3) == 0 {
            chmods.push((i, u32::try_from(next(0o1000)).unwrap_or(0)));
        }
    }
    std::fs::write(t.path("acls"), &restore).expect("restore file");
    let restored = std::process::Command::new("setfacl")
        .arg("--restore=acls")
        .current_dir(t.root())
        .output()
        .expect("setfacl (package acl; scripts/test.sh installs it)");
    assert!(
        restored.status.success(),
        "setfacl --restore: {}",
        String::from_utf8_lossy(&restored.stderr)
    );
    for (i, mode) in &chmods {
        std::fs::set_permissions(
            t.path(&format!("f{i}")),
            std::fs::Permissions::from_mode(*mode),
        )
        .expect("chmod");
    }
    let owners: std::collections::BTreeSet<u32> = (0..N)
        .map(|i| {
            std::os::unix::fs::MetadataExt::uid(
                &std::fs::metadata(t.path(&format!("f{i}"))).expect("stat"),
            )
        })
        .collect();
    assert_eq!(owners.len(), 2, "both owner branches are exercised");
    // The kernel's answers: access(2) for nobody with nobody's groups.
    let list: Vec<String> = (0..N)
        .map(|i| t.path(&format!("f{i}")).display().to_string())
        .collect();
    let kernel = std::process::Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--init-groups", "/usr/bin/python3", "-c"])
        .arg("import os, sys\nfor p in sys.argv[1:]:\n    print(''.join('1' if os.access(p, m) else '0' for m in (os.R_OK, os.W_OK, os.X_OK)))")
        .args(&list)
        .output()
        .expect("setpriv python3");
    assert!(
        kernel.status.success(),
        "{}",
        String::from_utf8_lossy(&kernel.stderr)
    );
    let kernel: Vec<String> = String::from_utf8_lossy(&kernel.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    // Ours.
    let script = format!(
        r#"let out = [];
           for i in 0..{N} {{
               let a = fs::access(`{dir}/f${{i}}`, "nobody", "r");
               out.push((if a.read {{ "1" }} else {{ "0" }}) + (if a.write {{ "1" }} else {{ "0" }}) + (if a.execute {{ "1" }} else {{ "0" }}));
           }}
           pass("", #{{ bits: out }})"#,
        dir = t.root().display()
    );
    let t = t.file("c/p.rhai", &check("p", &script));
    let out = t.run(&["run", "c", "--format", "json"]);
    assert_eq!(out.status("p"), "pass", "{}", out.stdout);
    let ours: Vec<String> =
        serde_json::from_value(out.check("p")["details"]["bits"].clone()).expect("bits");
    assert_eq!(ours.len(), kernel.len());
    let mut wrong = Vec::new();
    for i in 0..N {
        if ours[i] != kernel[i] {
            let acl = std::process::Command::new("getfacl")
                .args(["-c", "-n"])
                .arg(t.path(&format!("f{i}")))
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).replace('\n', " "))
                .unwrap_or_default();
            let meta = std::fs::metadata(t.path(&format!("f{i}"))).expect("stat");
            wrong.push(format!(
                "f{i} (uid {}, gid {}, mode {:o}): ours {} kernel {} [{acl}]",
                std::os::unix::fs::MetadataExt::uid(&meta),
                std::os::unix::fs::MetadataExt::gid(&meta),
                meta.permissions().mode() & 0o7777,
                ours[i],
                kernel[i]
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {N} differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn toml_and_json_parse_to_maps_with_located_errors() {
    let m = message(
        r#"let t = toml::parse("[plugins.\"io.containerd.snapshotter.v1.devmapper\"]\npool_name = \"p\"\nsize = 10\n");
           let j = json::parse("{\"a\": [1, 2.5, null, true]}");
           pass(`${t.plugins["io.containerd.snapshotter.v1.devmapper"].pool_name} ${t.plugins["io.containerd.snapshotter.v1.devmapper"].size + 1} ${j.a}`)"#,
    );
    assert_eq!(m, "p 11 [1, 2.5, (), true]");
    let record = eval(r#"toml::parse("a = 1\nb = = 2"); pass("")"#);
    assert!(
        record["message"]
            .as_str()
            .unwrap_or_default()
            .contains("invalid TOML at line 2, column 5"),
        "{record}"
    );
    let record = eval(r#"json::parse("{\n  \"a\": }"); pass("")"#);
    assert!(
        record["message"]
            .as_str()
            .unwrap_or_default()
            .contains("invalid JSON at line 2, column 8"),
        "{record}"
    );
}

#[test]
fn yaml_parses_flintlockd_config_with_located_errors() {
    let m = message(
        r#"let y = yaml::parse("parent-iface: eno4\ninsecure: true\nverbosity: 2\ntags: [a, b]\n");
           pass(`${y["parent-iface"]} ${y.insecure} ${y.verbosity + 1} ${y.tags}`)"#,
    );
    assert_eq!(m, "eno4 true 3 [\"a\", \"b\"]");
    let record = eval(r#"yaml::parse("a: 1\nb: [1\n"); pass("")"#);
    assert!(
        record["message"]
            .as_str()
            .unwrap_or_default()
            .contains("invalid YAML at line 3"),
        "{record}"
    );
}

#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn a_path_that_cannot_be_looked_at_is_an_error_not_absent() {
    // Only meaningful without root's override of directory permissions; the suite runs as
    // root, so look as nobody through setpriv.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("closed")).expect("mkdir");
    std::fs::write(dir.path().join("closed/f"), "x").expect("write");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(
        dir.path().join("closed"),
        std::fs::Permissions::from_mode(0o700),
    )
    .expect("chmod");
    let script = dir.path().join("c.rhai");
    std::fs::write(
        &script,
        format!(
            "check(#{{ id: \"p\", description: \"d\", run: || {{ let missing = fs::exists(\"{0}/nothing\"); let in_file = fs::exists(\"{0}/c.rhai/x\"); fs::exists(\"{0}/closed/f\"); pass(\"\") }} }});\n",
            dir.path().display()
        ),
    )
    .expect("write");
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_hostscript"))
        .args(["run", "--format", "json"])
        .arg(&script)
        .output()
        .expect("setpriv");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let record = &doc["checks"][0];
    assert_eq!(record["status"], "error", "{record}");
    assert!(
        record["message"]
            .as_str()
            .unwrap_or_default()
            .ends_with("closed/f`: permission denied (needs root?)"),
        "{record}"
    );
}

#[test]
fn sys_reports_identity_of_this_host() {
    let release = nix::sys::utsname::uname()
        .expect("uname")
        .release()
        .to_string_lossy()
        .into_owned();
    let host = nix::unistd::gethostname()
        .expect("hostname")
        .into_string()
        .expect("utf-8");
    let uid = nix::unistd::geteuid().as_raw();
    let m = message(
        r#"pass(`${sys::hostname()} ${sys::uid()} ${sys::is_root()} ${sys::kernel_release()}`)"#,
    );
    assert_eq!(m, format!("{host} {uid} {} {release}", uid == 0));
}

#[test]
fn host_errors_carry_a_kind_scripts_can_branch_on() {
    let t = crate::support::Test::new();
    let dm = t.path("dm");
    std::fs::create_dir_all(&dm).expect("dm");
    std::fs::write(
        dm.join("fail"),
        "/dev/mapper/control: open failed: Permission denied\nFailure to communicate with kernel device-mapper driver.\n",
    )
    .expect("fail");
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed = free.local_addr().expect("addr");
    drop(free);
    let body = format!(
        r#"let kinds = [
               kind_of(|| fs::read("/hs-no-such-file")),
               kind_of(|| cmd::run(["hs-no-such-program"])),
               kind_of(|| cmd::run(["sleep", "5"], #{{ timeout: 0.1 }})),
               kind_of(|| dm::list()),
               kind_of(|| cmd::run(["true"], #{{ tiemout: 1 }})),
               net::connect("{closed}").kind,
               grpc::try_invoke("{closed}", "grpc.health.v1.Health/Check", #{{}}, #{{ timeout: 1 }}).kind,
           ];
           pass(kinds.reduce(|a, k| if a == () {{ k }} else {{ a + " | " + k }}))"#
    );
    let script = format!(
        "fn kind_of(f) {{ try {{ f.call(); return \"no error\"; }} catch (e) {{ return `${{e.kind}}: ${{e.message.len() > 0}}`; }} }}\n{}",
        check("p", &body)
    );
    let t = t.file("c/p.rhai", &script);
    let out = t.run_with_env(
        &["run", "c", "--format", "json"],
        &[
            ("PATH", &crate::support::path_with_fakes()),
            ("FAKE_DM_DIR", dm.to_str().expect("utf-8")),
        ],
    );
    assert_eq!(
        out.message("p"),
        "not_found: true | not_found: true | timeout: true | permission_denied: true | invalid: true | unavailable | unavailable",
        "{}",
        out.stdout
    );
}
