//! After the next reboot: the `reboot.*` rules (checks/lib/boot.rhai) against what the
//! remediations leave and against a real systemd manager. The verdicts of each rule on
//! hand-written hosts are in tests/hosts/reboot-*.test.toml (run by tests/host_data.rs).

use std::path::Path;

use crate::remediate::Staged;
use crate::support::Test;
use crate::support::user_manager::{self, UserManager};

/// A site check per rule, each calling the lib function the `reboot.*` check calls, with the
/// root the files are read under (`vars::root`).
const RULES: &str = r#"
import "lib/boot" as boot;

fn verdict(r) {
    if r.ok { pass(r.why) } else { fail(r.why) }
}

check(#{ id: "site.kvm", description: "kvm", run: || verdict(boot::kvm_at_boot("/dev/kvm", "nobody", vars::root)) });
check(#{ id: "site.pool", description: "pool", run: || verdict(boot::pool_at_boot("flintlock-dev-thinpool", "containerd-dev", vars::root)) });
check(#{ id: "site.modules", description: "modules", run: || {
    let kept = [];
    for m in vars::modules {
        let how = boot::module_at_boot(m, vars::root);
        if how == () { return fail(`${m} is not kept`); }
        kept.push(`${m}: ${how.how}`);
    }
    pass(boot::join(kept, "; "))
} });
check(#{ id: "site.units", description: "units", run: || {
    let why = [];
    for u in vars::units {
        let b = boot::starts_at_boot(u, vars::root);
        if !b.ok { return fail(b.why); }
        why.push(b.why);
    }
    pass(boot::join(why, "; "))
} });
check(#{ id: "site.network", description: "network", run: || {
    let running = boot::managers(vars::root);
    let d = boot::network_declared(vars::iface, false, running, vars::root);
    if d != () && d.manager != () { pass(`${d.manager}: ${d.file}`) } else { fail(`not declared (managers: ${running}, found: ${d})`) }
} });
"#;

/// Every remediation that fixes live state leaves files the boot reads: applied under
/// `--root`, the reboot rules read that root and pass.
#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn what_the_remediations_leave_survives_a_reboot() {
    let host = Staged::new();
    let r = host.root();
    // systemd-networkd as Debian ships it (its [Install] section), for network-persist to enable.
    std::fs::create_dir_all(r.join("lib/systemd/system")).expect("dir");
    std::fs::write(
        r.join("lib/systemd/system/systemd-networkd.service"),
        "[Unit]\nDescription=Network Configuration\n\n[Service]\nType=notify\nExecStart=/lib/systemd/systemd-networkd\n\n[Install]\nWantedBy=multi-user.target\n",
    )
    .expect("networkd");
    let out = host.remediate(&[
        "kernel-modules",
        "thinpool",
        "containerd-dev",
        "flintlockd-unit",
        "kvm-access",
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    // The parent of macvtap mode: loopback, which every namespace has, with its address.
    let net = host.remediate(&[
        "network-persist",
        "--var",
        "network_mode=macvtap",
        "--var",
        "parent_iface=lo",
    ]);
    assert_eq!(net.code, 0, "{}\n{}", net.stdout, net.stderr);
    let network = host.read("/etc/systemd/network/50-hostscript-lo.network");
    assert!(
        network.contains("[Match]\nName=lo\n") && network.contains("Address=127.0.0.1/8\n"),
        "{network}"
    );

    let t = Test::new().file("site/rules.rhai", RULES);
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = host
        .command()
        .env("FAKE_UNIT_ROOT", r)
        .args(["run", repo.join("checks").to_str().expect("utf-8")])
        .arg(t.path("site"))
        .args(["--only", "site.*", "--format", "json"])
        .arg("--var")
        .arg(format!("root={}", r.display()))
        .args([
            "--var",
            "modules=[\"dm_thin_pool\", \"tun\"]",
            "--var",
            "units=[\"containerd-dev\", \"flintlockd\", \"hostscript-thinpool\", \"systemd-networkd\"]",
            "--var",
            "iface=lo",
        ])
        .output()
        .expect("run");
    let out = crate::support::Output::from_process(out);
    for (id, says) in [
        (
            "site.kvm",
            "/dev/kvm is made root:kvm 0660 (/etc/udev/rules.d/65-hostscript-kvm.rules:1); nobody gets read and write as group kvm",
        ),
        (
            "site.pool",
            "hostscript-thinpool.service (/etc/systemd/system/hostscript-thinpool.service) attaches the loop devices and loads the table at boot, before containerd-dev.service",
        ),
        (
            "site.modules",
            "dm_thin_pool: listed in /etc/modules-load.d/hostscript.conf:2; tun: listed in /etc/modules-load.d/hostscript.conf:3",
        ),
        (
            "site.units",
            "containerd-dev.service is enabled, wanted by multi-user.target; flintlockd.service is enabled, wanted by multi-user.target; hostscript-thinpool.service is enabled, wanted by containerd-dev.service; systemd-networkd.service is enabled",
        ),
        (
            "site.network",
            "systemd-networkd: /etc/systemd/network/50-hostscript-lo.network",
        ),
    ] {
        assert_eq!(
            out.status(id),
            "pass",
            "{id}: {}\n{}",
            out.stdout,
            out.stderr
        );
        assert!(out.message(id).contains(says), "{id}: {}", out.message(id));
    }
}

/// The unit rules read what a real systemd manager says: a unit enabled with an [Install]
/// WantedBy= is wanted by that target, one never enabled is "disabled", one without [Install]
/// "static" with nothing wanting it, one enabled under /run "enabled-runtime", and a unit
/// RequiredBy= an enabled unit is pulled in by it. The fake systemctl the remediation tests use
/// answers the same for the same files (differential: the same script, both managers).
#[test]
#[ignore = "needs a systemd user manager (scripts/test.sh installs dbus-user-session)"]
fn the_unit_rules_agree_with_a_real_systemd_manager() {
    assert!(user_manager::available(), "no systemd user manager here");
    let manager = UserManager::start();
    let units = [
        (
            "hs-app.service",
            "[Unit]\nDescription=app\n[Service]\nExecStart=/bin/sleep 1000\n[Install]\nWantedBy=default.target\n",
        ),
        (
            "hs-pool.service",
            "[Unit]\nDescription=pool\nBefore=hs-app.service\n[Service]\nType=oneshot\nExecStart=/bin/true\n[Install]\nRequiredBy=hs-app.service\n",
        ),
        (
            "hs-off.service",
            "[Unit]\nDescription=off\n[Service]\nExecStart=/bin/sleep 1000\n[Install]\nWantedBy=default.target\n",
        ),
        (
            "hs-static.service",
            "[Unit]\nDescription=static\n[Service]\nExecStart=/bin/sleep 1000\n",
        ),
    ];
    for (name, text) in units {
        manager.write(name, text);
    }
    manager.reload();
    manager.ok(&["enable", "hs-app.service", "hs-pool.service"]);
    // systemd shows an enabled unit's WantedBy= once it has reloaded (the next boot reads the
    // links either way; the rule reads them when the manager does not say).
    manager.reload();

    let script = r#"
import "lib/boot" as boot;
for u in ["hs-app", "hs-pool", "hs-off", "hs-static"] {
    check(#{ id: `site.${u}`, description: u, run: || { let b = boot::starts_at_boot(u, ""); if b.ok { pass(b.why) } else { fail(b.why) } } });
}
check(#{ id: "site.before", description: "before", run: || { let b = systemd::unit("hs-pool").before; b.sort(); pass(`${b}`) } });
"#;
    let t = Test::new().file("site/units.rhai", script);
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let checks = repo.join("checks");
    let args = [
        "run",
        checks.to_str().expect("utf-8"),
        "site",
        "--only",
        "site.*",
        "--format",
        "json",
    ];
    let env: Vec<(String, String)> = manager.env();
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let real = t.run_with_env(&args, &env_refs);

    // The fake, with the same unit files under a root and the same two units enabled.
    let root = t.path("root");
    let state = t.path("state");
    std::fs::create_dir_all(root.join("etc/systemd/system")).expect("dir");
    std::fs::create_dir_all(&state).expect("state");
    for (name, text) in units {
        std::fs::write(root.join("etc/systemd/system").join(name), text).expect("unit");
    }
    for name in ["hs-app.service", "hs-pool.service"] {
        std::fs::write(state.join(format!("{name}.enabled")), "").expect("enabled");
    }
    let fake_systemctl = repo.join("tests/fixtures/bin/systemctl");
    let fake = t.run_with_env(
        &args,
        &[
            (
                "HOSTSCRIPT_SYSTEMCTL",
                fake_systemctl.to_str().expect("utf-8"),
            ),
            ("HOSTSCRIPT_BUSCTL", "/nonexistent/busctl"),
            ("FAKE_SYSTEMD_DIR", state.to_str().expect("utf-8")),
            ("FAKE_UNIT_ROOT", root.to_str().expect("utf-8")),
        ],
    );

    for (id, status, says) in [
        (
            "site.hs-app",
            "pass",
            "hs-app.service is enabled, wanted by default.target",
        ),
        (
            "site.hs-pool",
            "pass",
            "hs-pool.service is enabled, wanted by hs-app.service",
        ),
        ("site.hs-off", "fail", "hs-off.service is disabled"),
        (
            "site.hs-static",
            "fail",
            "hs-static.service is static but nothing that starts at boot wants it",
        ),
        // systemd adds Before=shutdown.target to a unit with default dependencies (in no
        // order: sorted here).
        (
            "site.before",
            "pass",
            "[\"hs-app.service\", \"shutdown.target\"]",
        ),
    ] {
        for (who, out) in [("systemd", &real), ("the fake", &fake)] {
            assert_eq!(
                out.status(id),
                status,
                "{who}: {id}: {}\n{}",
                out.stdout,
                out.stderr
            );
            assert!(
                out.message(id).starts_with(says),
                "{who}: {id}: {}",
                out.message(id)
            );
        }
        assert_eq!(real.message(id), fake.message(id), "{id}");
    }

    // Enabled only under /run: gone at the next boot (the fake has no --runtime).
    manager.ok(&["enable", "--runtime", "hs-off.service"]);
    let runtime = t.run_with_env(&args, &env_refs);
    assert_eq!(runtime.status("site.hs-off"), "fail");
    assert!(
        runtime
            .message("site.hs-off")
            .starts_with("hs-off.service is enabled-runtime: enabled under /run only"),
        "{}",
        runtime.message("site.hs-off")
    );
}

/// `systemctl --root=DIR enable` (what `fix::enable` runs under `--root`) and `is-enabled`:
/// the fake the remediation tests use makes the same links and says the same as the real
/// systemctl, which needs no manager for this (differential: the same units, both programs).
#[test]
#[ignore = "needs systemctl (scripts/test.sh installs systemd)"]
fn enabling_under_a_root_links_as_systemctl_does() {
    let real = Path::new("/bin/systemctl");
    assert!(
        real.exists(),
        "systemctl is not installed (scripts/test.sh installs systemd)"
    );
    let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bin/systemctl");
    let units = [
        (
            "etc/systemd/system/hs-app.service",
            "[Unit]\nDescription=app\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
        ),
        (
            "etc/systemd/system/hs-pool.service",
            "[Unit]\nDescription=pool\nBefore=hs-app.service\n[Service]\nType=oneshot\nExecStart=/bin/true\n[Install]\nRequiredBy=hs-app.service\nWantedBy=multi-user.target\n",
        ),
        (
            "lib/systemd/system/hs-vendor.service",
            "[Unit]\nDescription=vendor\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
        ),
        (
            "etc/systemd/system/hs-static.service",
            "[Unit]\nDescription=static\n[Service]\nExecStart=/bin/true\n",
        ),
        (
            "etc/systemd/system/hs-off.service",
            "[Unit]\nDescription=off\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
        ),
    ];
    let mut seen = Vec::new();
    for program in [real, fake.as_path()] {
        let root = tempfile::tempdir().expect("root");
        for (path, text) in units {
            let p = root.path().join(path);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, text).expect("unit");
        }
        let state = tempfile::tempdir().expect("state");
        let run = |args: &[&str]| {
            std::process::Command::new(program)
                .arg(format!("--root={}", root.path().display()))
                .args(args)
                .env("FAKE_SYSTEMD_DIR", state.path())
                .output()
                .expect("systemctl")
        };
        for unit in [
            "hs-app.service",
            "hs-pool.service",
            "hs-vendor.service",
            "hs-static.service",
        ] {
            let out = run(&["enable", unit]);
            assert!(
                out.status.success(),
                "{}: enable {unit}: {}",
                program.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // Every link under etc/systemd/system, as `path -> target`.
        let mut links = Vec::new();
        let base = root.path().join("etc/systemd/system");
        for dir in std::fs::read_dir(&base).expect("dir").flatten() {
            if !dir.path().is_dir() {
                continue;
            }
            for link in std::fs::read_dir(dir.path()).expect("dir").flatten() {
                let target = std::fs::read_link(link.path()).expect("a link");
                links.push(format!(
                    "{}/{} -> {}",
                    dir.file_name().to_string_lossy(),
                    link.file_name().to_string_lossy(),
                    target.display()
                ));
            }
        }
        links.sort();
        let mut states = Vec::new();
        for unit in [
            "hs-app.service",
            "hs-pool.service",
            "hs-vendor.service",
            "hs-static.service",
            "hs-off.service",
        ] {
            let out = run(&["is-enabled", unit]);
            states.push(format!(
                "{unit}: {} ({})",
                String::from_utf8_lossy(&out.stdout).trim(),
                out.status.code().unwrap_or(-1)
            ));
        }
        seen.push((program.display().to_string(), links, states));
    }
    let (_, links, states) = &seen[0];
    assert!(
        links.contains(
            &"multi-user.target.wants/hs-app.service -> /etc/systemd/system/hs-app.service"
                .to_string()
        ) && links.contains(
            &"hs-app.service.requires/hs-pool.service -> /etc/systemd/system/hs-pool.service"
                .to_string()
        ),
        "{links:?}"
    );
    assert!(
        states.contains(&"hs-off.service: disabled (1)".to_string()),
        "{states:?}"
    );
    assert_eq!(seen[0].1, seen[1].1, "links: systemctl vs the fake");
    assert_eq!(seen[0].2, seen[1].2, "is-enabled: systemctl vs the fake");
}

/// Firecracker's getting-started grants /dev/kvm with `setfacl -m u:USER:rw`: access now, gone
/// at the next boot. kvm-access does not stop at "allowed now": it makes the grant one udev
/// applies at every boot, and the reboot rule then passes on what it left.
#[test]
#[ignore = "needs root and setfacl: scripts/test.sh runs it"]
fn kvm_access_replaces_an_acl_grant_with_one_that_survives_a_reboot() {
    let host = Staged::new();
    let kvm = host.root().join("dev/kvm");
    let acl = std::process::Command::new("setfacl")
        .args(["-m", "u:nobody:rw"])
        .arg(&kvm)
        .output()
        .expect("setfacl (scripts/test.sh installs acl)");
    assert!(
        acl.status.success(),
        "{}",
        String::from_utf8_lossy(&acl.stderr)
    );
    let out = host.remediate(&["kvm-access"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        out.json()["remediations"][0]["outcome"],
        "changed",
        "{}",
        out.stdout
    );
    assert_eq!(
        host.read("/etc/udev/rules.d/65-hostscript-kvm.rules"),
        "KERNEL==\"kvm\", GROUP=\"kvm\", MODE=\"0660\"\n"
    );
    // Applied again, the grant is already one a reboot keeps: nothing to do.
    let again = host.remediate(&["kvm-access"]);
    assert_eq!(
        again.json()["remediations"][0]["outcome"],
        "ok",
        "{}",
        again.stdout
    );
}
