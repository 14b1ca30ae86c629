//! `UserManager`: a real systemd manager for tests of unit semantics. systemd is not PID 1 on
//! this kind of machine, but its user manager runs once `/run/systemd/system` exists, which a
//! private mount namespace provides (shared/TESTBED.md). Units are files under a temp
//! `XDG_CONFIG_HOME`, loaded by systemd's own parser; `systemctl show`, `busctl` and
//! `systemctl start` answer as systemd does. hostscript reaches it through two wrappers named by
//! `HOSTSCRIPT_SYSTEMCTL` and `HOSTSCRIPT_BUSCTL` that add `--user`, the only difference from
//! the system manager besides the unit search path.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

pub struct UserManager {
    pub dir: tempfile::TempDir,
    child: Child,
    /// The cgroups made for it, removed when it has exited.
    cgroups: Vec<PathBuf>,
}

/// The hierarchies systemd tracks processes in: the unified one and, on a hybrid host, the
/// named `systemd` v1 one; on a pure cgroup v2 host, the root.
fn cgroup_roots() -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    if base.join("cgroup.procs").exists() {
        return vec![base.to_path_buf()];
    }
    ["unified", "systemd"]
        .iter()
        .map(|h| base.join(h))
        .filter(|p| p.join("cgroup.procs").exists())
        .collect()
}

/// The cgroups of managers whose test died without its clean-up (killed, or the machine's
/// previous run): their temp dir is gone. What runs in them is killed, and they are removed.
fn sweep_stale_cgroups() {
    for root in cgroup_roots() {
        let Ok(entries) = std::fs::read_dir(&root) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(dir) = name.strip_prefix("hs-sd-")
                && !std::env::temp_dir().join(dir).exists()
            {
                remove_cgroup(&entry.path());
            }
        }
    }
}

/// Kills whatever is still in a cgroup and the ones below it, then removes them, deepest
/// first (rmdir is all a cgroup takes once it is empty).
fn remove_cgroup(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup(&entry.path());
            }
        }
    }
    for _ in 0..50 {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        if procs.trim().is_empty() {
            break;
        }
        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if let Err(e) = std::fs::remove_dir(dir)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        eprintln!(
            "user_manager: cgroup {} not removed: {e} (the next test run sweeps it)",
            dir.display()
        );
    }
}

/// Whether this machine can run one: systemd's manager binary and a user D-Bus socket unit
/// (`dbus-user-session`), both installed by scripts/test.sh.
pub fn available() -> bool {
    Path::new("/lib/systemd/systemd").exists()
        && Path::new("/usr/lib/systemd/user/dbus.socket").exists()
}

impl UserManager {
    pub fn start() -> UserManager {
        assert!(
            available(),
            "systemd or dbus-user-session is not installed: run scripts/test.sh, which installs them"
        );
        let dir = tempfile::Builder::new()
            .prefix("hs-sd")
            .tempdir()
            .expect("tempdir");
        let d = dir.path();
        for sub in ["run", "cfg/systemd/user", "bin"] {
            std::fs::create_dir_all(d.join(sub)).expect("mkdir");
        }
        std::fs::set_permissions(d.join("run"), std::fs::Permissions::from_mode(0o700))
            .expect("chmod run");
        let env = format!(
            "export XDG_RUNTIME_DIR='{run}' XDG_CONFIG_HOME='{cfg}' DBUS_SESSION_BUS_ADDRESS='unix:path={run}/bus'\n",
            run = d.join("run").display(),
            cfg = d.join("cfg").display(),
        );
        for (name, program) in [
            ("systemctl", "/usr/bin/systemctl"),
            ("busctl", "/usr/bin/busctl"),
        ] {
            let path = d.join("bin").join(name);
            std::fs::write(
                &path,
                format!("#!/bin/sh\n# {name} of the test's user manager.\n{env}exec {program} --user \"$@\"\n"),
            )
            .expect("write wrapper");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .expect("chmod wrapper");
        }
        sweep_stale_cgroups();
        let log = std::fs::File::create(d.join("manager.log")).expect("log");
        // Each manager gets cgroups of its own: managers started from one test process would
        // otherwise share its cgroup and create the same `app.slice/UNIT.service` in it, and
        // stopping one manager's unit would kill another's processes.
        let cgroups = cgroup_roots()
            .iter()
            .map(|root| {
                root.join(format!(
                    "hs-sd-{}",
                    d.file_name().and_then(|n| n.to_str()).unwrap_or("x")
                ))
            })
            .collect::<Vec<_>>();
        let enter: String = cgroups
            .iter()
            .map(|c| {
                format!(
                    "mkdir -p '{0}' && echo $$ > '{0}/cgroup.procs' && ",
                    c.display()
                )
            })
            .collect();
        let child = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c"])
            .arg(format!("{enter}mount -t tmpfs tmpfs /run/systemd && mkdir -p /run/systemd/system && exec /lib/systemd/systemd --user"))
            .env("XDG_RUNTIME_DIR", d.join("run"))
            .env("XDG_CONFIG_HOME", d.join("cfg"))
            .env(
                "DBUS_SESSION_BUS_ADDRESS",
                format!("unix:path={}/bus", d.join("run").display()),
            )
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start systemd --user");
        let manager = UserManager {
            dir,
            child,
            cgroups,
        };
        manager.wait_ready();
        manager
    }

    /// Ready when both systemctl and D-Bus answer for a unit.
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let ctl = self.systemctl(&["show", "--property=Id", "default.target"]);
            let bus = Command::new(self.busctl())
                .args([
                    "get-property",
                    "org.freedesktop.systemd1",
                    "/org/freedesktop/systemd1",
                    "org.freedesktop.systemd1.Manager",
                    "Version",
                ])
                .output()
                .expect("busctl");
            if ctl.status.success() && bus.status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(self.dir.path().join("manager.log")).unwrap_or_default();
        panic!("systemd --user did not answer within 30 s:\n{log}");
    }

    /// Where unit files and drop-ins go (`$XDG_CONFIG_HOME/systemd/user`).
    pub fn unit_dir(&self) -> PathBuf {
        self.dir.path().join("cfg/systemd/user")
    }

    /// Writes a unit file or drop-in (a path relative to the unit directory). The manager
    /// sees it after `reload`.
    pub fn write(&self, rel: &str, text: &str) {
        let path = self.unit_dir().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write unit");
    }

    pub fn systemctl_program(&self) -> PathBuf {
        self.dir.path().join("bin/systemctl")
    }

    pub fn busctl(&self) -> PathBuf {
        self.dir.path().join("bin/busctl")
    }

    /// `systemctl --user ARGS` against this manager.
    pub fn systemctl(&self, args: &[&str]) -> Output {
        Command::new(self.systemctl_program())
            .args(args)
            .output()
            .expect("systemctl --user")
    }

    /// The same, which must succeed.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.systemctl(args);
        assert!(
            out.status.success(),
            "systemctl --user {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn reload(&self) {
        self.ok(&["daemon-reload"]);
    }

    /// One property as systemd shows it (`systemctl show -P`).
    pub fn property(&self, unit: &str, name: &str) -> String {
        self.ok(&["show", "-P", name, unit]).trim_end().to_string()
    }

    /// The environment that points hostscript at this manager.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "HOSTSCRIPT_SYSTEMCTL".into(),
                self.systemctl_program().display().to_string(),
            ),
            (
                "HOSTSCRIPT_BUSCTL".into(),
                self.busctl().display().to_string(),
            ),
        ]
    }
}

/// A word as a unit file must spell it so systemd's parser gives back exactly `word`
/// (double-quoted, C escapes, `%` doubled for specifiers: systemd.service(5) "Command
/// lines", systemd.unit(5) "Specifiers").
pub fn unit_quote(word: &str) -> String {
    let mut out = String::from("\"");
    for c in word.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '%' => out.push_str("%%"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An argv as one ExecStart= value.
pub fn exec_line(argv: &[String]) -> String {
    argv.iter()
        .map(|w| unit_quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Drop for UserManager {
    fn drop(&mut self) {
        // SIGTERM makes a user manager stop its units (and its D-Bus daemon) and exit.
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap_or(0));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut exited = false;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                exited = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if !exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        for cgroup in &self.cgroups {
            remove_cgroup(cgroup);
        }
    }
}
