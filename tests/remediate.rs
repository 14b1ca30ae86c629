//! The shipped remediations against a staged host: every file under a `--root` temp dir, and
//! recording fakes of systemctl, dmsetup, losetup, apt-get, dpkg-query, modprobe and usermod
//! first on PATH. Dry runs change nothing (hashes before and after), applying does exactly
//! the playbook's tasks, a second run changes nothing, a killed write leaves the old or the new
//! file, and the images remediation imports into a real containerd.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::support::containerd::{self as containerd_support, Containerd, write_oci_image};
use crate::support::user_manager::UserManager;
use crate::support::{Output, path_with_fakes};

const POOL: &str = "flintlock-dev-thinpool";
const DEVMAPPER: &str = "/var/lib/containerd-dev/snapshotter/devmapper";
/// liquidmetal-dev/flintlock `flintlockd.service` (v0.11.0), without its license header.
const UPSTREAM_FLINTLOCKD_UNIT: &str = "[Unit]\nDescription=flintlock microvm service\nDocumentation=https://www.liquidmetal.dev\nRequires=containerd.service\n\n[Service]\nExecStartPre=which firecracker\nExecStartPre=which flintlockd\nExecStart=/usr/local/bin/flintlockd run\nRestart=always\nRestartSec=5\nUser=root\nKillMode=process\n\n[Install]\nWantedBy=multi-user.target\n";

const EVERY_HOST_REMEDIATION: [&str; 6] = [
    "packages",
    "kernel-modules",
    "thinpool",
    "containerd-dev",
    "flintlockd-unit",
    "kvm-access",
];

/// A staged host: the root, the fakes' state, and a listener standing in for containerd-dev's
/// socket (the fake systemctl starts nothing).
pub(crate) struct Staged {
    root: tempfile::TempDir,
    pub(crate) state: tempfile::TempDir,
    _socket: std::os::unix::net::UnixListener,
}

impl Staged {
    pub(crate) fn new() -> Staged {
        let root = tempfile::tempdir().expect("root");
        let state = tempfile::tempdir().expect("state");
        for dir in ["dm", "systemd", "loop", "pkg"] {
            std::fs::create_dir_all(state.path().join(dir)).expect("mkdir");
        }
        let r = root.path();
        std::fs::create_dir_all(r.join("etc")).expect("etc");
        // A kernel with module support has /proc/modules (the fake modprobe appends to it).
        std::fs::create_dir_all(r.join("proc")).expect("proc");
        std::fs::write(r.join("proc/modules"), "").expect("modules");
        std::fs::write(r.join("etc/group"), "root:x:0:\ndisk:x:6:\nkvm:x:108:\n").expect("group");
        std::fs::write(
            r.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        )
        .expect("passwd");
        std::fs::create_dir_all(r.join("dev")).expect("dev");
        // The KVM device node as the staged host has it: root:disk 0600 (no group access).
        let kvm = r.join("dev/kvm");
        std::fs::write(&kvm, "").expect("kvm");
        std::fs::set_permissions(&kvm, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        nix::unistd::chown(
            &kvm,
            Some(nix::unistd::Uid::from_raw(0)),
            Some(nix::unistd::Gid::from_raw(6)),
        )
        .expect("chown");
        std::fs::write(
            state.path().join("dm/targets"),
            "thin-pool        v1.22.0\n",
        )
        .expect("targets");
        // flintlockd is installed and running with upstream's unit (flintlockd.service in
        // liquidmetal-dev/flintlock: `flintlockd run`, Requires=containerd.service, User=root).
        std::fs::write(
            state.path().join("systemd/flintlockd.service"),
            "Id=flintlockd.service\nType=simple\nUser=root\nMainPID=4242\nExecStart={ path=/usr/local/bin/flintlockd ; argv[]=/usr/local/bin/flintlockd run ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=4242 ; code=(null) ; status=0/0 }\nRequires=containerd.service system.slice\nAfter=network.target\nEnvironment=\nLoadState=loaded\nActiveState=active\nSubState=running\nFragmentPath=/etc/systemd/system/flintlockd.service\nDropInPaths=\nUnitFileState=enabled\n",
        )
        .expect("unit");
        // Upstream's unit file itself, which flintlockd-unit rewrites.
        std::fs::create_dir_all(r.join("etc/systemd/system")).expect("systemd dir");
        std::fs::write(
            r.join("etc/systemd/system/flintlockd.service"),
            UPSTREAM_FLINTLOCKD_UNIT,
        )
        .expect("unit file");
        // flintlockd's config dir, under the root (the checks' lib reads it at this var).
        std::fs::create_dir_all(r.join("etc/opt/flintlockd")).expect("config dir");
        std::fs::create_dir_all(r.join("run/containerd-dev")).expect("run");
        let socket =
            std::os::unix::net::UnixListener::bind(r.join("run/containerd-dev/containerd.sock"))
                .expect("socket");
        Staged {
            root,
            state,
            _socket: socket,
        }
    }

    pub(crate) fn root(&self) -> &Path {
        self.root.path()
    }

    fn calls_file(&self) -> PathBuf {
        self.state.path().join("calls")
    }

    /// Every command the fakes recorded, then forgets them.
    fn take_calls(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.calls_file()).unwrap_or_default();
        let _ = std::fs::remove_file(self.calls_file());
        let root = self.root().display().to_string();
        text.lines().map(|l| l.replace(&root, "ROOT")).collect()
    }

    /// The recorded commands that change state (not the queries that look first).
    fn take_changing_calls(&self) -> Vec<String> {
        self.take_calls()
            .into_iter()
            .filter(|c| !is_query(c))
            .collect()
    }

    /// `hostscript remediate ARGS --root ROOT` with the shipped remediations and checks' vars.
    pub(crate) fn remediate(&self, args: &[&str]) -> Output {
        self.hostscript("remediate", args)
    }

    pub(crate) fn hostscript(&self, command: &str, args: &[&str]) -> Output {
        self.hostscript_with(command, args, &["--format", "json"])
    }

    pub(crate) fn hostscript_human(&self, command: &str, args: &[&str]) -> Output {
        self.hostscript_with(command, args, &["--color", "never"])
    }

    fn hostscript_with(&self, command: &str, args: &[&str], format: &[&str]) -> Output {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = self
            .command()
            .arg(command)
            .args(args)
            .arg("--remediations")
            .arg(repo.join("remediations"))
            .arg("--checks")
            .arg(repo.join("checks"))
            .arg("--root")
            .arg(self.root())
            .args(["--var", "flintlock_user=nobody"])
            .arg("--var")
            .arg(format!(
                "flintlock_config_dir={}",
                self.root().join("etc/opt/flintlockd").display()
            ))
            .args(format)
            .output()
            .expect("run hostscript");
        Output::from_process(out)
    }

    /// hostscript in the repository with the fakes first on PATH and their state here.
    pub(crate) fn command(&self) -> Command {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let s = self.state.path();
        let mut command = Command::new(env!("CARGO_BIN_EXE_hostscript"));
        command
            .current_dir(repo)
            .env("PATH", path_with_fakes())
            .env("FAKE_DM_DIR", s.join("dm"))
            .env("FAKE_SYSTEMD_DIR", s.join("systemd"))
            .env("FAKE_LOOP_DIR", s.join("loop"))
            .env("FAKE_PKG_DIR", s.join("pkg"))
            .env("FAKE_PROC_MODULES", self.root().join("proc/modules"))
            .env("FAKE_CALLS", self.calls_file())
            .env_remove("HOSTSCRIPT_DMSETUP")
            .env_remove("HOSTSCRIPT_SYSTEMCTL")
            .env_remove("HOSTSCRIPT_BUSCTL");
        command
    }

    /// Gives the staged flintlockd unit (as the fake systemctl shows it) this command line.
    pub(crate) fn set_flintlockd_command(&self, command: &str) {
        let unit = self.state.path().join("systemd/flintlockd.service");
        let text = std::fs::read_to_string(&unit).expect("unit");
        std::fs::write(
            &unit,
            text.replace(
                "argv[]=/usr/local/bin/flintlockd run ;",
                &format!("argv[]={command} ;"),
            ),
        )
        .expect("unit");
    }

    pub(crate) fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.root().join(path.trim_start_matches('/')))
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }
}

/// A command the remediations run only to look at the current state.
fn is_query(call: &str) -> bool {
    call.starts_with("systemctl --root=ROOT is-enabled ")
        || call.starts_with("losetup --output NAME --noheadings --associated")
        || call.starts_with("losetup --list")
        || call.starts_with("systemctl show")
        || call.starts_with("blockdev --getsize64")
        || [
            "dmsetup table",
            "dmsetup targets",
            "dmsetup ls",
            "dmsetup status",
            "dmsetup info",
        ]
        .iter()
        .any(|q| call.starts_with(q))
        || call.starts_with("systemctl is-")
}

/// Every file and directory under `dir` with its mode and a hash of its content.
fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).expect("meta");
            let rel = path
                .strip_prefix(dir)
                .expect("prefix")
                .display()
                .to_string();
            let mode = meta.permissions().mode();
            if meta.is_dir() {
                out.insert(rel, format!("dir {mode:o}"));
                stack.push(path);
            } else if meta.is_file() {
                let hash: String = Sha256::digest(std::fs::read(&path).expect("read"))
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                out.insert(rel, format!("file {mode:o} {} {hash}", meta.len()));
            } else {
                out.insert(rel, format!("other {mode:o}"));
            }
        }
    }
    out
}

fn remediation<'a>(doc: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    doc["remediations"]
        .as_array()
        .and_then(|all| all.iter().find(|r| r["id"] == id))
        .unwrap_or_else(|| panic!("no remediation `{id}` in {doc}"))
}

fn changed_steps(doc: &serde_json::Value) -> Vec<String> {
    doc["remediations"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["steps"].as_array().cloned().unwrap_or_default())
        .filter(|s| s["state"] != "ok" && !is_staged_systemctl(s))
        .map(|s| format!("{} ({})", s["action"], s["state"]))
        .collect()
}

/// `(action, state)` of each step of remediation `id` in a JSON document.
fn steps_of(doc: &serde_json::Value, id: &str) -> Vec<(String, String)> {
    remediation(doc, id)["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["action"].as_str().unwrap_or_default().to_string(),
                s["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// A systemctl step a `--root` run does not run (it would act on this host's manager).
fn is_staged_systemctl(step: &serde_json::Value) -> bool {
    step["state"] == "unknown"
        && step["message"]
            .as_str()
            .unwrap_or_default()
            .contains("stages files only, and systemctl would act on this host's manager")
}

/// The actions of the systemctl steps a `--root` run reported and did not run.
fn staged_systemctl(doc: &serde_json::Value) -> Vec<String> {
    doc["remediations"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["steps"].as_array().cloned().unwrap_or_default())
        .filter(is_staged_systemctl)
        .map(|s| s["action"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn a_dry_run_shows_every_change_and_leaves_the_root_byte_identical() {
    let host = Staged::new();
    let before = snapshot(host.root());
    let out = host.remediate(&[&EVERY_HOST_REMEDIATION[..], &["--dry-run"]].concat());
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(snapshot(host.root()), before, "a dry run changed the root");
    let doc = out.json();
    assert_eq!(doc["dry_run"], true);
    for id in EVERY_HOST_REMEDIATION {
        assert_eq!(
            remediation(&doc, id)["outcome"],
            "would_change",
            "{id}: {doc}"
        );
    }
    // Only queries ran: nothing that changes state.
    assert_eq!(host.take_changing_calls(), Vec::<String>::new());
    // The would-be commands and contents are shown, exactly.
    let thinpool = remediation(&doc, "thinpool");
    let details: Vec<String> = thinpool["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["detail"].as_str().map(str::to_string))
        .collect();
    let root = host.root().display().to_string();
    assert!(
        details.contains(&format!("losetup --find --show {root}{DEVMAPPER}/data")),
        "{details:?}"
    );
    assert!(details.iter().any(|d| d.starts_with(&format!(
        "dmsetup create {POOL} --table '0 209715200 thin-pool <loop device of {DEVMAPPER}/metadata> <loop device of {DEVMAPPER}/data> 128 32768 1 skip_block_zeroing'"
    ))), "{details:?}");
    // The whole unit, as a diff against upstream's: the containerd dependency replaced (a
    // drop-in could not remove it), the flags from the effective settings.
    let unit = &remediation(&doc, "flintlockd-unit")["steps"][1];
    let diff = unit["detail"].as_str().unwrap_or_default();
    for line in [
        "-Requires=containerd.service\n+Requires=containerd-dev.service\n+After=containerd-dev.service\n",
        "-ExecStartPre=which flintlockd\n-ExecStart=/usr/local/bin/flintlockd run\n+ExecStartPre=which /usr/local/bin/flintlockd\n+ExecStart=/usr/local/bin/flintlockd run --containerd-socket /run/containerd-dev/containerd.sock --bridge-name br-mvm --insecure\n",
    ] {
        assert!(diff.contains(line), "{unit}");
    }
}

#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn applying_does_the_playbook_tasks_and_a_second_run_changes_nothing() {
    let host = Staged::new();
    let out = host.remediate(&EVERY_HOST_REMEDIATION);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let doc = out.json();
    for id in EVERY_HOST_REMEDIATION {
        assert_eq!(remediation(&doc, id)["outcome"], "changed", "{id}: {doc}");
    }
    let changing = host.take_changing_calls();
    let expected = [
        "apt-get update -q",
        "apt-get install -y -q dmsetup thin-provisioning-tools util-linux containerd e2fsprogs",
        "modprobe dm_thin_pool",
        "modprobe tun",
        &format!("losetup --find --show ROOT{DEVMAPPER}/data"),
        &format!("losetup --find --show ROOT{DEVMAPPER}/metadata"),
        &format!(
            "dmsetup create {POOL} --table 0 209715200 thin-pool /dev/loop1 /dev/loop0 128 32768 1 skip_block_zeroing"
        ),
        // Enabling is a change of files, made under the root (links into [Install] targets).
        "systemctl --root=ROOT enable hostscript-thinpool",
        "systemctl --root=ROOT enable containerd-dev",
        "systemctl --root=ROOT enable flintlockd",
        "usermod --root ROOT --append --groups kvm nobody",
    ];
    // --root stages files only: no systemctl verb acts on this host's manager; each step is
    // reported, not run.
    assert_eq!(changing, expected);
    assert_eq!(
        staged_systemctl(&doc),
        [
            "systemd daemon-reload",
            "systemd daemon-reload",
            "start containerd-dev",
            "systemd daemon-reload",
            "restart flintlockd",
        ]
    );
    // Enabling ran under the root: the links the next boot of that root reads.
    for (link, unit) in [
        (
            "multi-user.target.wants/containerd-dev.service",
            "containerd-dev.service",
        ),
        (
            "multi-user.target.wants/flintlockd.service",
            "flintlockd.service",
        ),
        (
            "containerd-dev.service.requires/hostscript-thinpool.service",
            "hostscript-thinpool.service",
        ),
    ] {
        let target = std::fs::read_link(host.root().join("etc/systemd/system").join(link))
            .unwrap_or_else(|e| panic!("{link}: {e}"));
        assert_eq!(
            target,
            Path::new("/etc/systemd/system").join(unit),
            "{link}"
        );
    }

    // The files, as the playbook's templates and provision.sh write them.
    let config: toml::Table =
        toml::from_str(&host.read("/etc/containerd/config-dev.toml")).expect("toml");
    let dm = &config["plugins"]["io.containerd.snapshotter.v1.devmapper"];
    assert_eq!(dm["pool_name"].as_str(), Some(POOL));
    assert_eq!(dm["root_path"].as_str(), Some(DEVMAPPER));
    assert_eq!(dm["base_image_size"].as_str(), Some("10GB"));
    assert_eq!(
        config["grpc"]["address"].as_str(),
        Some("/run/containerd-dev/containerd.sock")
    );
    let unit = host.read("/etc/systemd/system/containerd-dev.service");
    assert!(
        unit.contains("\nExecStart=/usr/bin/containerd --config /etc/containerd/config-dev.toml\n"),
        "{unit}"
    );
    assert_eq!(
        host.read("/etc/systemd/system/flintlockd.service"),
        "# Written by hostscript (remediation flintlockd-unit): upstream's flintlockd.service\n# (liquidmetal-dev/flintlock) with Requires=/After= on containerd-dev.service, and\n# its `which` preconditions naming the hypervisor of flintlockd's default provider and the\n# binary ExecStart runs (upstream's `which firecracker` kept Cloud Hypervisor-only hosts down).\n[Unit]\nDescription=flintlock microvm service\nDocumentation=https://www.liquidmetal.dev\nRequires=containerd-dev.service\nAfter=containerd-dev.service\n\n[Service]\nExecStartPre=which firecracker\nExecStartPre=which /usr/local/bin/flintlockd\nExecStart=/usr/local/bin/flintlockd run --containerd-socket /run/containerd-dev/containerd.sock --bridge-name br-mvm --insecure\nRestart=always\nRestartSec=5\nUser=root\nKillMode=process\n\n[Install]\nWantedBy=multi-user.target\n"
    );
    // Upstream's unit is kept as the backup.
    assert!(
        std::fs::read_dir(host.root().join("etc/systemd/system"))
            .expect("dir")
            .flatten()
            .any(|e| e
                .file_name()
                .to_string_lossy()
                .starts_with("flintlockd.service.hostscript-bak-")),
        "no backup of the replaced unit"
    );
    assert_eq!(
        host.read("/etc/modules-load.d/hostscript.conf"),
        "# Kernel modules hostscript remediations load at boot.\ndm_thin_pool\ntun\n"
    );
    assert_eq!(
        host.read("/etc/udev/rules.d/65-hostscript-kvm.rules"),
        "KERNEL==\"kvm\", GROUP=\"kvm\", MODE=\"0660\"\n"
    );
    assert!(host.read("/etc/group").contains("kvm:x:108:nobody\n"));
    // The device belongs to group kvm, mode 0660 (Firecracker's getting-started setup).
    let kvm = std::fs::metadata(host.root().join("dev/kvm")).expect("kvm");
    assert_eq!((kvm.gid(), kvm.permissions().mode() & 0o777), (108, 0o660));
    // The pool comes back at boot, before containerd-dev.
    let boot = host.read("/etc/systemd/system/hostscript-thinpool.service");
    assert!(
        boot.contains("\nBefore=containerd-dev.service\n")
            && boot.contains("\nRequiredBy=containerd-dev.service\n"),
        "{boot}"
    );
    let data = std::fs::metadata(
        host.root()
            .join(DEVMAPPER.trim_start_matches('/'))
            .join("data"),
    )
    .expect("data");
    assert_eq!(data.len(), 100 << 30);
    let log = host.read("/var/log/hostscript/changes.log");
    assert!(log.contains("remediation=thinpool state=changed step=\"device-mapper table of flintlock-dev-thinpool\""), "{log}");

    // Applied again: every step is ok, no command changes anything.
    let again = host.remediate(&EVERY_HOST_REMEDIATION);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let doc = again.json();
    assert_eq!(changed_steps(&doc), Vec::<String>::new(), "{doc}");
    for id in EVERY_HOST_REMEDIATION {
        assert_eq!(remediation(&doc, id)["outcome"], "ok", "{id}");
    }
    let changing = host.take_changing_calls();
    assert_eq!(changing, Vec::<String>::new());
}

#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn after_a_reboot_the_files_stay_and_the_loop_devices_and_table_come_back() {
    let host = Staged::new();
    assert_eq!(host.remediate(&["thinpool"]).code, 0);
    // A reboot: loop devices and device-mapper tables are gone; the sparse files remain.
    std::fs::remove_file(host.state.path().join("loop/attached")).expect("detach");
    for f in [
        "dm/ls",
        &format!("dm/table/{POOL}"),
        &format!("dm/status/{POOL}"),
    ] {
        std::fs::remove_file(host.state.path().join(f)).expect("forget");
    }
    host.take_calls();
    let out = host.remediate(&["thinpool"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let steps = changed_steps(&out.json());
    assert_eq!(steps.len(), 3, "{steps:?}");
    assert!(
        steps
            .iter()
            .all(|s| s.contains("loop device") || s.contains("device-mapper table")),
        "{steps:?}"
    );
}

#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn applying_needs_root_and_one_run_at_a_time() {
    let host = Staged::new();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_hostscript"))
        .args(["remediate", "packages", "--remediations"])
        .arg(repo.join("remediations"))
        .arg("--checks")
        .arg(repo.join("checks"))
        .current_dir(repo)
        .output()
        .expect("setpriv");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("applying changes needs root"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A dry run needs no root.
    std::fs::set_permissions(host.root(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_hostscript"))
        .args([
            "remediate",
            "kernel-modules",
            "--dry-run",
            "--format",
            "json",
            "--remediations",
        ])
        .arg(repo.join("remediations"))
        .arg("--checks")
        .arg(repo.join("checks"))
        .arg("--root")
        .arg(host.root())
        .current_dir(repo)
        .output()
        .expect("setpriv");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        remediation(&doc, "kernel-modules")["outcome"],
        "would_change"
    );
    // Another run holds the lock.
    let lock_path = host.root().join("run/lock/hostscript.lock");
    std::fs::create_dir_all(lock_path.parent().expect("parent")).expect("mkdir");
    let file = std::fs::File::create(&lock_path).expect("lock file");
    let _held =
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).expect("flock");
    let out = host.remediate(&["packages"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("another remediation run holds"),
        "{}",
        out.stderr
    );
    // A dry run does not wait for the lock.
    assert_eq!(host.remediate(&["packages", "--dry-run"]).code, 0);
}

#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn a_failed_step_stops_its_remediation_and_says_what_it_left_changed() {
    let host = Staged::new();
    // device-mapper answers queries but refuses to create the pool.
    std::fs::write(
        host.state.path().join("dm/fail.create"),
        "device-mapper: create ioctl on flintlock-dev-thinpool failed: No space left on device\nCommand failed.\n",
    )
    .expect("fail");
    let out = host.remediate(&["thinpool", "containerd-dev", "packages"]);
    assert_eq!(out.code, 1);
    let doc = out.json();
    let thinpool = remediation(&doc, "thinpool");
    assert_eq!(thinpool["outcome"], "failed");
    let steps = thinpool["steps"].as_array().expect("steps");
    assert_eq!(
        steps.last().map(|s| s["state"].clone()),
        Some("failed".into())
    );
    assert_eq!(
        steps.iter().filter(|s| s["state"] == "changed").count(),
        6,
        "done before the failure"
    );
    assert_eq!(remediation(&doc, "containerd-dev")["outcome"], "skipped");
    assert_eq!(
        remediation(&doc, "packages")["outcome"],
        "changed",
        "runs first, unaffected"
    );
    // The change log ends the remediation with exactly what it left changed.
    let log = host.read("/var/log/hostscript/changes.log");
    let stopped = log
        .lines()
        .find(|l| l.contains("remediation=thinpool state=stopped"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(stopped.contains("left_changed=[\"directory "), "{stopped}");
    assert!(stopped.contains("loop device for"), "{stopped}");
    // And so does the human report.
    let human = host.hostscript_human("remediate", &["thinpool"]);
    assert!(human.stdout.contains("stopped"), "{}", human.stdout);
}

#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn thinpool_refuses_before_any_change_when_its_preconditions_fail() {
    // Every case: a refusal naming the reason, no change to the root, no changing command,
    // and the dry run reports the same refusal.
    type Setup<'a> = &'a dyn Fn(&Staged);
    let cases: [(&str, Setup, &str); 4] = [
        (
            "device-mapper unusable",
            &|h: &Staged| {
                std::fs::write(
                    h.state.path().join("dm/fail"),
                    "/dev/mapper/control: open failed: No such device\nFailure to communicate with kernel device-mapper driver.\n",
                )
                .expect("fail");
            },
            "device-mapper",
        ),
        (
            "no thin-pool target",
            &|h: &Staged| {
                std::fs::write(
                    h.state.path().join("dm/targets"),
                    "striped          v1.6.0\n",
                )
                .expect("targets");
            },
            "no thin-pool target",
        ),
        (
            "only the data file",
            &|h: &Staged| {
                let dir = h.root().join(DEVMAPPER.trim_start_matches('/'));
                std::fs::create_dir_all(&dir).expect("dir");
                std::fs::write(dir.join("data"), "").expect("data");
            },
            "would orphan containerd's pool metadata",
        ),
        (
            "a damaged pool",
            &|h: &Staged| {
                let s = h.state.path();
                std::fs::write(s.join("dm/ls"), format!("{POOL}\t(253:0)\n")).expect("ls");
                std::fs::create_dir_all(s.join("dm/status")).expect("status");
                std::fs::write(
                    s.join(format!("dm/status/{POOL}")),
                    "0 209715200 thin-pool Fail\n",
                )
                .expect("status");
                std::fs::create_dir_all(s.join("dm/table")).expect("table");
                std::fs::write(
                    s.join(format!("dm/table/{POOL}")),
                    "0 209715200 thin-pool 7:1 7:0 128 32768 1 skip_block_zeroing\n",
                )
                .expect("table");
            },
            "thin_repair",
        ),
    ];
    for (name, setup, needle) in cases {
        let host = Staged::new();
        setup(&host);
        let before = snapshot(host.root());
        for args in [&["thinpool", "--dry-run"][..], &["thinpool"][..]] {
            let out = host.remediate(args);
            assert_eq!(out.code, 1, "{name} {args:?}: {}", out.stdout);
            let doc = out.json();
            let r = remediation(&doc, "thinpool");
            assert_eq!(r["outcome"], "failed", "{name} {args:?}: {r}");
            assert!(
                r["error"].as_str().unwrap_or_default().contains(needle),
                "{name} {args:?}: {r}"
            );
            let changes: Vec<&serde_json::Value> = r["steps"]
                .as_array()
                .expect("steps")
                .iter()
                .filter(|s| s["state"] == "changed" || s["state"] == "would_change")
                .collect();
            assert!(changes.is_empty(), "{name} {args:?}: {changes:?}");
            // Nothing but hostscript's own bookkeeping (the lock, and the change log that
            // records the refusal).
            let mut after = snapshot(host.root());
            after.retain(|path, _| {
                !path.starts_with("run/lock")
                    && !path.starts_with("var/log")
                    && (path != "var" || before.contains_key("var"))
            });
            assert_eq!(after, before, "{name} {args:?}");
            assert_eq!(host.take_changing_calls(), Vec::<String>::new(), "{name}");
        }
    }
}

#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn a_write_killed_at_any_moment_leaves_the_old_or_the_new_file() {
    let dir = tempfile::tempdir().expect("dir");
    let scripts = dir.path().join("r");
    std::fs::create_dir_all(&scripts).expect("mkdir");
    // 16 MiB, so the write takes long enough to be interrupted.
    std::fs::write(
        scripts.join("big.rhai"),
        "remediation(#{ id: \"big\", description: \"d\", run: || { let s = vars::fill; while s.len() < 16777216 { s += s; } fix::write_file(\"/etc/big.conf\", s); } });\n",
    )
    .expect("script");
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("etc")).expect("etc");
    let old = "old contents\n".repeat(1000);
    let start = |fill: &str| {
        Command::new(env!("CARGO_BIN_EXE_hostscript"))
            .args(["remediate", "big", "--remediations"])
            .arg(&scripts)
            .arg("--root")
            .arg(&root)
            .arg("--checks")
            .arg(dir.path())
            .args(["--var", &format!("fill={fill}")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn")
    };
    // How long a whole run takes here, so the kills spread over all of it and a little past.
    std::fs::write(root.join("etc/big.conf"), &old).expect("old");
    let timer = std::time::Instant::now();
    let status = start("xy").wait().expect("wait");
    let whole = timer.elapsed();
    assert!(status.success(), "the uninterrupted run failed");
    let mut outcomes = BTreeMap::new();
    for attempt in 0..30u32 {
        std::fs::write(root.join("etc/big.conf"), &old).expect("old");
        let fill = if attempt % 2 == 0 { "ab" } else { "cd" };
        let mut child = start(fill);
        std::thread::sleep(whole * attempt / 20);
        let _ = child.kill();
        let _ = child.wait();
        let now = std::fs::read(root.join("etc/big.conf")).expect("read");
        let what = if now == old.as_bytes() {
            "old"
        } else if now.len() == 1 << 24
            && now.starts_with(fill.as_bytes())
            && now.ends_with(fill.as_bytes())
        {
            "new"
        } else {
            panic!("attempt {attempt}: a partial file of {} bytes", now.len());
        };
        *outcomes.entry(what).or_insert(0) += 1;
    }
    // A later write cleans up the temp files killed writers left behind.
    std::fs::write(root.join("etc/big.conf"), &old).expect("old");
    assert!(start("ef").wait().expect("wait").success());
    let leftovers: Vec<String> = std::fs::read_dir(root.join("etc"))
        .expect("etc")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("hostscript-tmp"))
        .collect();
    assert_eq!(leftovers, Vec::<String>::new());
    assert!(
        outcomes.contains_key("old") && outcomes.contains_key("new"),
        "kills landed on both sides: {outcomes:?}"
    );
}

#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn images_are_imported_into_a_real_containerd_from_an_offline_tar() {
    assert!(
        containerd_support::available(),
        "containerd is not installed: run scripts/test.sh"
    );
    let containerd = Containerd::start(POOL);
    let root = tempfile::tempdir().expect("root");
    let reference = "ghcr.io/liquidmetal-dev/flintlock-kernel:5.10.77";
    std::fs::create_dir_all(root.path().join("srv")).expect("srv");
    write_oci_image(&root.path().join("srv/kernel.tar"), reference);
    let wrong = "ghcr.io/liquidmetal-dev/flintlock-kernel:5.10.78";
    write_oci_image(&root.path().join("srv/wrong.tar"), wrong);
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = |tar: &str, extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_hostscript"))
            .args(["remediate", "images", "--remediations"])
            .arg(repo.join("remediations"))
            .arg("--checks")
            .arg(repo.join("checks"))
            .arg("--root")
            .arg(root.path())
            .args(["--format", "json", "--var"])
            .arg(format!("containerd_socket={}", containerd.socket.display()))
            .args(["--var", &format!("images=[\"{reference}\"]")])
            .args([
                "--var",
                &format!("image_tars={{ \"{reference}\" = \"{tar}\" }}"),
            ])
            .args(extra)
            .current_dir(repo)
            .output()
            .expect("run");
        (
            out.status.code(),
            serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or_default(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let listed = || containerd.ctr("flintlock", &["images", "list", "--quiet"]);

    let (code, doc, stderr) = run("/srv/kernel.tar", &["--dry-run"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(remediation(&doc, "images")["outcome"], "would_change");
    assert!(!listed().contains(reference), "a dry run imported");

    // A tar that holds another tag fails, naming what it holds.
    let (code, doc, _) = run("/srv/wrong.tar", &[]);
    assert_eq!(code, Some(1));
    let error = remediation(&doc, "images")["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        error.contains("is still not in namespace flintlock") && error.contains(wrong),
        "{error}"
    );

    let (code, doc, stderr) = run("/srv/kernel.tar", &[]);
    assert_eq!(code, Some(0), "{stderr}\n{doc}");
    assert_eq!(remediation(&doc, "images")["outcome"], "changed");
    assert!(listed().lines().any(|l| l == reference), "{}", listed());
    let (code, doc, _) = run("/srv/kernel.tar", &[]);
    assert_eq!(code, Some(0));
    assert_eq!(remediation(&doc, "images")["outcome"], "ok");
}

#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn flintlockd_unit_keeps_tls_and_the_endpoint_and_replaces_the_old_dropin() {
    let host = Staged::new();
    // TLS in the config file, and a custom endpoint on the command line.
    std::fs::write(
        host.root().join("etc/opt/flintlockd/config.yaml"),
        "tls-cert: /etc/flintlockd/tls.crt\ntls-key: /etc/flintlockd/tls.key\n",
    )
    .expect("config");
    host.set_flintlockd_command(
        "/usr/local/bin/flintlockd run --grpc-endpoint 10.0.0.5:9443 --basic-auth-token t0k --insecure",
    );
    // The drop-in an earlier hostscript wrote.
    let dropin = host
        .root()
        .join("etc/systemd/system/flintlockd.service.d/containerd-dev.conf");
    std::fs::create_dir_all(dropin.parent().expect("dir")).expect("mkdir");
    std::fs::write(
        &dropin,
        "[Service]\nExecStart=\nExecStart=/usr/local/bin/flintlockd run --insecure\n",
    )
    .expect("dropin");
    let out = host.remediate(&["flintlockd-unit"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let written = host.read("/etc/systemd/system/flintlockd.service");
    let exec = written
        .lines()
        .find(|l| l.starts_with("ExecStart="))
        .unwrap_or_default();
    // --insecure with a certificate makes flintlockd serve nothing: it is dropped, TLS stays
    // in the config file, the endpoint and the token are kept.
    assert_eq!(
        exec,
        "ExecStart=/usr/local/bin/flintlockd run --containerd-socket /run/containerd-dev/containerd.sock --grpc-endpoint 10.0.0.5:9443 --bridge-name br-mvm --basic-auth-token t0k"
    );
    assert!(!dropin.exists(), "the old drop-in overrides ExecStart");
    assert!(
        std::fs::read_dir(dropin.parent().expect("dir"))
            .expect("dir")
            .flatten()
            .any(|e| e
                .file_name()
                .to_string_lossy()
                .starts_with("containerd-dev.conf.hostscript-bak-")),
        "the old drop-in is kept as a backup"
    );
    // A foreign drop-in that sets ExecStart= is a refusal before any change.
    let other = host
        .root()
        .join("etc/systemd/system/flintlockd.service.d/site.conf");
    std::fs::write(
        &other,
        "[Service]\nExecStart=\nExecStart=/opt/flintlockd run\n",
    )
    .expect("site");
    let unit = host.state.path().join("systemd/flintlockd.service");
    std::fs::write(
        &unit,
        std::fs::read_to_string(&unit).expect("unit").replace(
            "DropInPaths=\n",
            "DropInPaths=/etc/systemd/system/flintlockd.service.d/site.conf\n",
        ),
    )
    .expect("unit");
    let before = snapshot(host.root());
    let out = host.remediate(&["flintlockd-unit", "--dry-run"]);
    assert_eq!(out.code, 1);
    let r = remediation(&out.json(), "flintlockd-unit").clone();
    assert!(
        r["error"]
            .as_str()
            .unwrap_or_default()
            .contains("site.conf sets ExecStart="),
        "{r}"
    );
    assert_eq!(snapshot(host.root()), before);
}

#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn thinpool_restarts_containerd_after_its_devmapper_init_error_and_follows_the_loop_size() {
    assert!(
        containerd_support::available(),
        "containerd is not installed: run scripts/test.sh, which installs it"
    );
    let host = Staged::new();
    // A real containerd whose devmapper plugin failed at start (no such pool here).
    let containerd = Containerd::start(POOL);
    let socket = format!("containerd_socket={}", containerd.socket.display());
    let out = host.remediate(&["thinpool", "--var", &socket]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    // The restart is decided and reported; under --root it is not run on this host.
    assert_eq!(
        staged_systemctl(&out.json()).last().map(String::as_str),
        Some("restart containerd-dev"),
        "{}",
        out.stdout
    );
    // No systemctl verb reaches this host's manager: only the enable under the root, a
    // change of files there.
    let calls = host.take_changing_calls();
    assert!(
        calls
            .iter()
            .filter(|c| c.starts_with("systemctl "))
            .all(|c| c == "systemctl --root=ROOT enable hostscript-thinpool"),
        "{calls:?}"
    );
    // The data file grew while attached: losetup -c, then the table takes the new size.
    let data = host
        .root()
        .join(DEVMAPPER.trim_start_matches('/'))
        .join("data");
    std::fs::write(
        host.state.path().join("loop/capacity.loop0"),
        format!("{}", 100u64 << 30),
    )
    .expect("capacity");
    std::fs::File::options()
        .write(true)
        .open(&data)
        .and_then(|f| f.set_len(200 << 30))
        .expect("grow");
    let out = host.remediate(&["thinpool"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let calls = host.take_changing_calls();
    assert!(
        calls.contains(&"losetup -c /dev/loop0".to_string()),
        "{calls:?}"
    );
    assert!(
        calls.iter().any(|c| c.starts_with(&format!(
            "dmsetup reload {POOL} --table 0 419430400 thin-pool"
        ))),
        "{calls:?}"
    );
}

#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn a_dry_run_without_root_says_what_it_cannot_tell() {
    let host = Staged::new();
    std::fs::set_permissions(host.root(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    // dmsetup answers as it does without root.
    std::fs::write(
        host.state.path().join("dm/fail"),
        "/dev/mapper/control: open failed: Permission denied\nFailure to communicate with kernel device-mapper driver.\n",
    )
    .expect("fail");
    let out = host.remediate(&["thinpool", "--dry-run"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let doc = out.json();
    let r = remediation(&doc, "thinpool");
    assert_eq!(r["outcome"], "unknown", "{r}");
    let steps = r["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 1, "nothing after it is guessed: {r}");
    assert_eq!(steps[0]["state"], "unknown");
    assert!(
        steps[0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("needs root"),
        "{r}"
    );
}

#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn kvm_access_uses_the_kvm_group_refuses_root_and_restarts_a_flintlockd_running_as_the_user() {
    let host = Staged::new();
    // No kvm group yet; flintlockd runs as nobody.
    std::fs::write(host.root().join("etc/group"), "root:x:0:\ndisk:x:6:\n").expect("group");
    let unit = host.state.path().join("systemd/flintlockd.service");
    let text = std::fs::read_to_string(&unit).expect("unit");
    std::fs::write(&unit, text.replace("User=root\n", "User=nobody\n")).expect("unit");
    let refused = host.remediate(&["kvm-access", "--var", "kvm_group=root"]);
    assert_eq!(refused.code, 1);
    assert!(
        remediation(&refused.json(), "kvm-access")["error"]
            .as_str()
            .unwrap_or_default()
            .contains("group root"),
        "{}",
        refused.stdout
    );
    host.take_calls();
    // A dry run plans with its own steps: the group groupadd would create is there for the
    // chgrp and usermod after it.
    let dry = host.remediate(&["kvm-access", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}\n{}", dry.stdout, dry.stderr);
    let steps = steps_of(&dry.json(), "kvm-access");
    for (action, state) in [
        ("group kvm", "would_change"),
        ("group of /dev/kvm", "would_change"),
        ("nobody in group kvm", "would_change"),
    ] {
        assert!(
            steps.contains(&(action.to_string(), state.to_string())),
            "{action} {state}: {steps:?}"
        );
    }
    assert!(!steps.iter().any(|(_, s)| s == "failed"), "{steps:?}");
    host.take_calls();
    let out = host.remediate(&["kvm-access"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        host.take_changing_calls(),
        [
            "groupadd --root ROOT --system kvm",
            "usermod --root ROOT --append --groups kvm nobody",
        ]
    );
    assert_eq!(staged_systemctl(&out.json()), ["restart flintlockd"]);
    let kvm = std::fs::metadata(host.root().join("dev/kvm")).expect("kvm");
    assert_eq!((kvm.gid(), kvm.permissions().mode() & 0o777), (997, 0o660));
}

#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn kernel_modules_refuses_on_a_kernel_without_module_support() {
    let host = Staged::new();
    std::fs::remove_file(host.root().join("proc/modules")).expect("rm");
    let out = host.remediate(&["kernel-modules"]);
    assert_eq!(out.code, 1);
    let r = remediation(&out.json(), "kernel-modules").clone();
    assert!(
        r["error"]
            .as_str()
            .unwrap_or_default()
            .contains("cannot load modules"),
        "{r}"
    );
    assert_eq!(host.take_changing_calls(), Vec::<String>::new());
}

#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn packages_follow_the_devmapper_filesystem() {
    let host = Staged::new();
    let out = host.remediate(&["packages", "--dry-run", "--var", "devmapper_fs_type=xfs"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc = out.json();
    let install = &remediation(&doc, "packages")["steps"][1]["detail"];
    assert_eq!(
        install,
        "apt-get install -y -q dmsetup thin-provisioning-tools util-linux containerd xfsprogs"
    );
}

/// `hostscript remediate containerd-dev` on the live host, whose manager is the test's user
/// manager: every path in `dir`, the unit in the manager's unit directory, systemctl through
/// a spy that fails `daemon-reload` once while `dir/fail-reload` exists (a run stopped between
/// writing the unit and reloading).
fn remediate_live(manager: &UserManager, dir: &Path, extra: &[&str]) -> Output {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let spy = dir.join("systemctl");
    std::fs::write(
        &spy,
        format!(
            "#!/bin/sh\nif [ \"$1\" = daemon-reload ] && [ -e '{marker}' ]; then rm -f '{marker}'; echo 'Failed to reload daemon: injected by the test' >&2; exit 1; fi\nexec '{real}' \"$@\"\n",
            marker = dir.join("fail-reload").display(),
            real = manager.systemctl_program().display()
        ),
    )
    .expect("spy");
    std::fs::set_permissions(&spy, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let d = |rel: &str| dir.join(rel).display().to_string();
    let vars = [
        format!("containerd_root={}", d("root")),
        format!("containerd_state={}", d("state")),
        format!("containerd_config={}", d("config-dev.toml")),
        format!("containerd_socket={}", d("containerd.sock")),
        format!("devmapper_dir={}", d("devmapper")),
        format!(
            "containerd_unit_path={}",
            manager.unit_dir().join("containerd-dev.service").display()
        ),
        "containerd_metrics_address=127.0.0.1:0".to_string(),
        "socket_wait_seconds=20".to_string(),
    ];
    let mut command = Command::new(env!("CARGO_BIN_EXE_hostscript"));
    command
        .current_dir(repo)
        .args(["remediate", "containerd-dev", "--format", "json"])
        .arg("--remediations")
        .arg(repo.join("remediations"))
        .arg("--checks")
        .arg(repo.join("checks"))
        .arg("--log")
        .arg(dir.join("changes.log"))
        .args(extra)
        .envs(manager.env())
        .env("HOSTSCRIPT_SYSTEMCTL", &spy);
    for v in &vars {
        command.args(["--var", v]);
    }
    Output::from_process(command.output().expect("hostscript"))
}

#[test]
#[ignore = "needs root and systemd (a user manager in a mount namespace): scripts/test.sh runs it"]
fn a_run_stopped_before_daemon_reload_is_finished_by_the_next_from_systemds_own_state() {
    assert!(
        containerd_support::available(),
        "containerd is not installed: run scripts/test.sh, which installs it"
    );
    // `dir` outlives the manager (dropped last), so containerd stops before its files go.
    let dir = tempfile::tempdir().expect("dir");
    let manager = UserManager::start();
    // An older containerd-dev is loaded and running: a placeholder that serves nothing.
    manager.write(
        "containerd-dev.service",
        "[Service]\nExecStart=/bin/sleep 600\n",
    );
    manager.reload();
    manager.ok(&["start", "containerd-dev.service"]);
    let old_pid = manager.property("containerd-dev", "MainPID");

    // The first run writes the new unit and config, then daemon-reload fails: it stops there.
    std::fs::write(dir.path().join("fail-reload"), "").expect("marker");
    let first = remediate_live(&manager, dir.path(), &[]);
    assert_eq!(first.code, 1, "{}\n{}", first.stdout, first.stderr);
    assert!(
        first.stdout.contains("injected by the test"),
        "{}",
        first.stdout
    );
    assert_eq!(
        manager.property("containerd-dev", "NeedDaemonReload"),
        "yes"
    );

    // The second finds the files up to date, and still reloads (systemd says it must), and
    // restarts the process that started before them: the real containerd then serves.
    let second = remediate_live(&manager, dir.path(), &[]);
    assert_eq!(second.code, 0, "{}\n{}", second.stdout, second.stderr);
    let doc = second.json();
    let steps = steps_of(&doc, "containerd-dev");
    for (action, state) in [
        ("systemd daemon-reload", "changed"),
        ("restart containerd-dev", "changed"),
    ] {
        assert!(
            steps.contains(&(action.to_string(), state.to_string())),
            "{action} {state}: {steps:?}"
        );
    }
    assert_eq!(manager.property("containerd-dev", "NeedDaemonReload"), "no");
    // Upstream's containerd.service is Type=notify: systemd waits until containerd serves.
    assert_eq!(manager.property("containerd-dev", "Type"), "notify");
    assert_ne!(manager.property("containerd-dev", "MainPID"), old_pid);
    assert!(
        manager
            .property("containerd-dev", "ExecStart")
            .contains("/usr/bin/containerd --config"),
        "{}",
        manager.property("containerd-dev", "ExecStart")
    );
    assert!(dir.path().join("containerd.sock").exists());

    // A third run has nothing to do.
    let third = remediate_live(&manager, dir.path(), &[]);
    assert_eq!(third.code, 0, "{}", third.stderr);
    assert_eq!(
        remediation(&third.json(), "containerd-dev")["outcome"],
        "ok",
        "{}",
        third.stdout
    );
    let _ = manager.systemctl(&["stop", "containerd-dev.service"]);
}

#[test]
#[ignore = "needs a host where systemd is not PID 1 (CI's kind of machine)"]
fn a_dry_run_where_systemd_is_not_running_cannot_tell_what_units_would_do() {
    assert!(
        !Path::new("/run/systemd/system").exists(),
        "this test needs a host where systemd is not PID 1"
    );
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Output::from_process(
        Command::new(env!("CARGO_BIN_EXE_hostscript"))
            .current_dir(repo)
            .args([
                "remediate",
                "containerd-dev",
                "--dry-run",
                "--format",
                "json",
            ])
            .arg("--remediations")
            .arg(repo.join("remediations"))
            .arg("--checks")
            .arg(repo.join("checks"))
            .env_remove("HOSTSCRIPT_SYSTEMCTL")
            .output()
            .expect("hostscript"),
    );
    let doc = out.json();
    let steps = remediation(&doc, "containerd-dev")["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let units: Vec<&serde_json::Value> = steps
        .iter()
        .filter(|s| {
            let a = s["action"].as_str().unwrap_or_default();
            a.starts_with("enable ") || a.starts_with("start ") || a.contains("daemon-reload")
        })
        .collect();
    assert_eq!(units.len(), 3, "{doc}");
    for s in units {
        assert_eq!(s["state"], "unknown", "{s}");
        assert!(
            s["message"]
                .as_str()
                .unwrap_or_default()
                .contains("systemd cannot be asked"),
            "{s}"
        );
    }
}

/// Every flag of flintlockd v0.11.0 (internal/command/flags/flags.go, pkg/log/flags.go) at a
/// value other than its default, as a unit's ExecStart would carry it, minus the ones
/// flintlockd-unit manages from the vars (socket, namespace, network) and TLS/insecure, which
/// cannot all be set at once.
const EVERY_FLAG: [&str; 21] = [
    "--grpc-endpoint 0.0.0.0:9443",
    "--state-dir /srv/flintlock",
    "--resync-period 5m0s",
    "--deleteMicroVM-timeout 30s",
    "--enable-http",
    "--http-endpoint 0.0.0.0:8091",
    "--basic-auth-token t0k",
    "--disable-reconcile",
    "--maximum-retry 3",
    "--disable-api",
    "--firecracker-bin /opt/fc/firecracker",
    "--firecracker-detach=false",
    "--cloudhypervisor-bin /opt/ch/cloud-hypervisor",
    "--cloudhypervisor-detach=false",
    "--default-provider cloudhypervisor",
    "--containerd-kernel-ss overlayfs",
    "--debug-endpoint 127.0.0.1:6060",
    "--virtiofs-bin /opt/virtiofsd",
    "--verbosity 7",
    "--log-format json",
    "--log-output /var/log/flintlockd.log",
];

#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn every_flintlockd_flag_survives_flintlockd_unit_spelled_as_flintlock_spells_it() {
    for (security, kept) in [
        (
            "--tls-cert /etc/f/tls.crt --tls-key /etc/f/tls.key --tls-client-validate --tls-client-ca /etc/f/ca.crt",
            vec![
                "--tls-cert /etc/f/tls.crt",
                "--tls-key /etc/f/tls.key",
                "--tls-client-validate",
                "--tls-client-ca /etc/f/ca.crt",
            ],
        ),
        ("--insecure", vec!["--insecure"]),
    ] {
        let host = Staged::new();
        // The log flags before `run`, as flintlockd's root command takes them.
        host.set_flintlockd_command(&format!(
            "/usr/local/bin/flintlockd -v 7 run {} --log-format json --log-output /var/log/flintlockd.log {security}",
            EVERY_FLAG[..18].join(" ")
        ));
        let out = host.remediate(&["flintlockd-unit"]);
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
        let written = host.read("/etc/systemd/system/flintlockd.service");
        let exec = written
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .unwrap_or_default()
            .to_string();
        // The line systemd will read: every flag, each word quoted.
        for flag in EVERY_FLAG.iter().copied().chain(kept.iter().copied()) {
            assert!(
                format!("{exec} ").contains(&format!(" {flag} ")),
                "{flag} lost: {exec}"
            );
        }
        assert!(!exec.contains("deletemicrovm"), "{exec}");
        // The default provider here is cloudhypervisor: its binary is what must be there, not
        // firecracker (upstream's `which firecracker` kept such hosts down).
        assert!(
            written.contains("ExecStartPre=which /opt/ch/cloud-hypervisor\n"),
            "{written}"
        );
        // What flintlockd would get: the written line's arguments through a real manager to a
        // process, then read back the way flintlockd's flags parse them: every flag, no problem.
        let manager = UserManager::start();
        let out_file = manager.dir.path().join("argv.json");
        let (_, args) = exec.split_once(' ').expect("binary and arguments");
        manager.write(
            "flags.service",
            &format!(
                "[Service]\nType=oneshot\nStandardOutput=file:{}\nExecStart=/usr/bin/python3 -c \"import sys, json; print(json.dumps(sys.argv[1:]))\" {args}\n",
                out_file.display()
            ),
        );
        manager.reload();
        manager.ok(&["start", "flags.service"]);
        let argv: Vec<String> =
            serde_json::from_str(std::fs::read_to_string(&out_file).expect("argv").trim())
                .expect("json");
        let mut full = vec!["/usr/local/bin/flintlockd".to_string()];
        full.extend(argv);
        let parsed = crate::upstream::with_lib(&format!(
            "let p = flintlock::parse_flags({}); pass(\"\", #{{ flags: p.flags, problems: p.problems }})",
            serde_json::to_string(&full).expect("json")
        ));
        assert_eq!(parsed["problems"], serde_json::json!([]), "{parsed}");
        assert_eq!(parsed["flags"]["deleteMicroVM-timeout"], "30s", "{parsed}");
        assert_eq!(parsed["flags"]["firecracker-detach"], false, "{parsed}");
        assert_eq!(parsed["flags"]["verbosity"], 7, "{parsed}");
        assert_eq!(
            parsed["flags"].as_object().map(|m| m.len()),
            Some(EVERY_FLAG.len() + kept.len() + 2),
            "every flag, plus the socket and the bridge: {parsed}"
        );
    }
}
