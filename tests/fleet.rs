//! Ansible across a simulated fleet, for real: ansible-core (installed from the wheels
//! scripts/test.sh downloads, into a venv this test creates) runs deploy/ansible's install.yml,
//! check.yml and remediate.yml over ssh against ten hosts that tests/fixtures/fleet/fleet.sh
//! makes (each a network namespace with its own address, host name, /etc, /usr, /var and sshd).
//! The hosts differ on purpose, and the merged table must show exactly those differences.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A venv with ansible-core, made offline from the wheels in target/ansible-wheels.
pub fn ansible_venv(dir: &Path) -> PathBuf {
    let wheels = repo().join("target/ansible-wheels");
    assert!(
        wheels.is_dir(),
        "{} is missing: scripts/test.sh downloads ansible-core's wheels there",
        wheels.display()
    );
    let venv = dir.join("venv");
    let run = |cmd: &mut Command| {
        let out = cmd.output().expect("python3");
        assert!(
            out.status.success(),
            "{cmd:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(Command::new("python3").arg("-m").arg("venv").arg(&venv));
    run(Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--no-index", "--find-links"])
        .arg(&wheels)
        // The release scripts/test.sh pinned when it downloaded the wheels.
        .arg("ansible-core"));
    venv
}

/// The simulated hosts; torn down (every process in their namespaces killed, the namespaces
/// deleted) when dropped, whether the test passed or not.
pub struct Fleet {
    pub dir: tempfile::TempDir,
    pub ctl: String,
}

impl Fleet {
    pub fn up(count: usize, faults: &[&str]) -> Fleet {
        let dir = tempfile::tempdir().expect("fleet dir");
        // A failed `up` tears down what it made itself (its ERR trap).
        let out = Command::new(repo().join("tests/fixtures/fleet/fleet.sh"))
            .arg("up")
            .arg(dir.path())
            .arg(count.to_string())
            .args(faults)
            .output()
            .expect("fleet.sh");
        let ctl = std::fs::read_to_string(dir.path().join("ctl")).unwrap_or_default();
        let fleet = Fleet {
            dir,
            ctl: ctl.trim().to_string(),
        };
        assert!(
            out.status.success(),
            "fleet.sh up: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        fleet
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `ansible-playbook ARGS` from deploy/ansible (its ansible.cfg), inside the controller's
    /// namespace: its only network is the fleet's bridge.
    pub fn playbook(&self, venv: &Path, args: &[&str]) -> (i32, String) {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ctl])
            .arg(venv.join("bin/ansible-playbook"))
            .arg("-i")
            .arg(self.path("inventory.yml"))
            .args(args)
            .current_dir(repo().join("deploy/ansible"))
            .env("ANSIBLE_CONFIG", repo().join("deploy/ansible/ansible.cfg"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_LOCAL_TEMP", self.path("ansible-tmp"))
            .env("ANSIBLE_HOME", self.path("ansible-home"))
            .output()
            .expect("ansible-playbook");
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("tests/fixtures/fleet/fleet.sh"))
            .arg("down")
            .arg(self.dir.path())
            .status();
    }
}

/// `NAME : ok=… changed=… unreachable=N failed=N …` of the play recap.
fn recap(output: &str, host: &str) -> (u32, u32) {
    let line = output
        .lines()
        .rev()
        .find(|l| l.starts_with(&format!("{host} ")) && l.contains("unreachable="))
        .unwrap_or_else(|| panic!("no recap for {host}:\n{output}"));
    let field = |name: &str| -> u32 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{line}"))
    };
    (field("unreachable"), field("failed"))
}

#[test]
#[ignore = "needs root, openssh-server and ansible-core's wheels (scripts/test.sh); builds the Debian package"]
fn ansible_installs_checks_and_merges_a_fleet_that_differs_on_purpose() {
    // The hosts' /usr, /etc and /var lie over this machine's; the package test must not be
    // installing into them meanwhile.
    let _lock = crate::support::installed_suite_lock();
    let deb = crate::package::build_package();
    let release = deb
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("release/hostscript");
    let fleet = Fleet::up(
        10,
        &[
            "--no-uplink",
            "fleet-h03",
            "--flintlockd-down",
            "fleet-h05",
            "--no-sshd",
            "fleet-h09",
        ],
    );
    let venv = ansible_venv(fleet.dir.path());
    let reports = fleet.path("reports");
    std::fs::create_dir(fleet.path("site-checks")).expect("site-checks");
    std::fs::write(
        fleet.path("site-checks/rack.rhai"),
        r#"check(#{ id: "site.rack", description: "The inventory gives the host a rack", tags: ["site"], run: || {
    let rack = vars::get("rack", "");
    if rack == "" { fail("no rack in the inventory (hostscript_vars.rack)") } else { pass(`rack ${rack}`) }
} });
"#,
    )
    .expect("site check");
    std::fs::create_dir(fleet.path("group_vars")).expect("group_vars");
    std::fs::write(
        fleet.path("group_vars/all.yml"),
        format!(
            "hostscript_install: package\nhostscript_deb: {deb}\nhostscript_binary: {release}\n\
             hostscript_suite: {repo}\nhostscript_checks_d: {checks_d}\n\
             hostscript_controller_bin: {bin}\nhostscript_reports: {reports}\n\
             hostscript_vars:\n  network_mode: macvtap\n  parent_iface: uplink0\n  rack: r1\n\
             hostscript_run_args: [--only, net.parent_iface, --only, flintlockd.service, --only, 'site.*']\n",
            deb = deb.display(),
            release = release.display(),
            repo = repo().display(),
            checks_d = fleet.path("site-checks").display(),
            bin = env!("CARGO_BIN_EXE_hostscript"),
            reports = reports.display(),
        ),
    )
    .expect("group vars");
    std::fs::create_dir(fleet.path("host_vars")).expect("host_vars");
    for (host, vars) in [
        // Half the fleet gets the binary and suite copied instead of the package.
        ("fleet-h06", "hostscript_install: copy\n"),
        (
            "fleet-h07",
            "hostscript_install: copy\nhostscript_vars: {network_mode: macvtap, parent_iface: uplink0}\n",
        ),
        ("fleet-h08", "hostscript_install: copy\n"),
        // A typo in the inventory: hostscript exits 2, which fails the host's task.
        (
            "fleet-h10",
            "hostscript_install: copy\nhostscript_run_args: [--only, no.such.check]\n",
        ),
    ] {
        std::fs::write(fleet.path(&format!("host_vars/{host}.yml")), vars).expect("host vars");
    }

    // ansible-playbook stops before a second playbook when a host failed in the first, so the
    // two run as an operator runs them: install, then check.
    let (code, output) = fleet.playbook(&venv, &["install.yml"]);
    assert_eq!(code, 4, "fleet-h09 is unreachable: {output}");
    assert_eq!(recap(&output, "fleet-h09"), (1, 0), "{output}");
    let (code, output) = fleet.playbook(&venv, &["check.yml"]);
    // A host unreachable and one failed task: the playbook says so, and still merges.
    assert_ne!(code, 0, "{output}");
    assert_eq!(recap(&output, "fleet-h09"), (1, 0), "{output}");
    assert_eq!(recap(&output, "fleet-h10").1, 1, "{output}");
    for host in ["01", "02", "03", "04", "05", "06", "07", "08"] {
        assert_eq!(
            recap(&output, &format!("fleet-h{host}")),
            (0, 0),
            "{output}"
        );
    }
    assert!(
        output.contains("no.such.check") && output.contains("rc: 2"),
        "exit 2 is a failure: {output}"
    );
    // The table the playbook printed, exactly these differences.
    for line in [
        "flintlockd.service: fail on 1/8 hosts: fleet-h05",
        "net.parent_iface: fail on 1/8 hosts: fleet-h03",
        "site.rack: fail on 1/8 hosts: fleet-h07",
        "5/10 hosts ready, 3 not ready, 2 sent no report: fleet-h09, fleet-h10",
    ] {
        assert!(output.contains(line), "{line}:\n{output}");
    }
    let merged = Command::new(env!("CARGO_BIN_EXE_hostscript"))
        .args(["merge", "--format", "json", "--expect"])
        .arg(
            (1..=10)
                .map(|i| format!("fleet-h{i:02}"))
                .collect::<Vec<_>>()
                .join(","),
        )
        .arg(&reports)
        .output()
        .expect("merge");
    assert_eq!(
        merged.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&merged.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&merged.stdout).expect("fleet JSON");
    assert_eq!(
        doc["ready"],
        serde_json::json!([
            "fleet-h01",
            "fleet-h02",
            "fleet-h04",
            "fleet-h06",
            "fleet-h08"
        ])
    );
    assert_eq!(
        doc["not_ready"],
        serde_json::json!(["fleet-h03", "fleet-h05", "fleet-h07"])
    );
    assert_eq!(
        doc["missing"],
        serde_json::json!(["fleet-h09", "fleet-h10"])
    );
    assert_eq!(
        doc["failing"],
        serde_json::json!([
            {"id": "flintlockd.service", "status": "fail", "hosts": ["fleet-h05"], "of": 8},
            {"id": "net.parent_iface", "status": "fail", "hosts": ["fleet-h03"], "of": 8},
            {"id": "site.rack", "status": "fail", "hosts": ["fleet-h07"], "of": 8},
        ])
    );
    // Each host ran with its own vars.toml: the parent interface the inventory gave it.
    let h01 = doc["hosts"]
        .as_array()
        .and_then(|h| h.iter().find(|h| h["host"] == "fleet-h01"))
        .expect("fleet-h01's report");
    let parent = h01["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["id"] == "net.parent_iface"))
        .expect("net.parent_iface");
    assert_eq!(parent["status"], "pass", "{parent}");
    assert!(
        parent["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("uplink0 is up"),
        "{parent}"
    );

    // remediate.yml on fleet-h01 with the flintlockd-unit remediation, plus `extra`.
    let remediate = |extra: &[&str]| {
        let mut args = vec![
            "remediate.yml",
            "--limit",
            "fleet-h01",
            "-e",
            r#"{"hostscript_remediations": ["flintlockd-unit"]}"#,
        ];
        args.extend_from_slice(extra);
        let (code, output) = fleet.playbook(&venv, &args);
        assert_eq!(code, 0, "{output}");
        output
    };
    // --check is hostscript's --dry-run, --diff shows its diffs; nothing changes.
    let output = remediate(&["--check", "--diff"]);
    for needle in [
        "flintlockd-unit: write /etc/systemd/system/flintlockd.service (would_change)",
        "-Requires=containerd.service",
        "+ExecStart=/usr/local/bin/flintlockd run --containerd-socket /run/containerd-dev/containerd.sock --parent-iface uplink0",
        "changed: [fleet-h01]",
    ] {
        assert!(output.contains(needle), "{needle}:\n{output}");
    }
    // Applied for real, once: the second run finds nothing to change.
    for expect in ["changed", "ok"] {
        let output = remediate(&[]);
        assert!(
            output.contains(&format!("{expect}: [fleet-h01]")),
            "{expect}:\n{output}"
        );
    }
    // The hosts' files are their own: nothing reached this machine's /usr or /etc.
    for path in ["/usr/bin/hostscript", "/etc/hostscript"] {
        assert!(!Path::new(path).exists(), "{path}");
    }
}
