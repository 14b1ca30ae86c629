//! `Test`: a temp directory of scripts plus a way to run the real binary on it and look at
//! stdout, stderr, the exit code and how long it took.

pub mod containerd;
pub mod grpc_server;
pub mod netns;
pub mod user_manager;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Test {
    pub dir: tempfile::TempDir,
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    /// The output of a process a test ran itself.
    pub fn from_process(out: std::process::Output) -> Output {
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed: Duration::ZERO,
        }
    }

    /// The JSON document of `--format json`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// The record of one check in a JSON report.
    pub fn check(&self, id: &str) -> serde_json::Value {
        let doc = self.json();
        doc["checks"]
            .as_array()
            .and_then(|checks| checks.iter().find(|c| c["id"] == id).cloned())
            .unwrap_or_else(|| panic!("no check `{id}` in report:\n{}", self.stdout))
    }

    pub fn status(&self, id: &str) -> String {
        self.check(id)["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn message(&self, id: &str) -> String {
        self.check(id)["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

impl Test {
    pub fn new() -> Self {
        Test {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file (creating parent folders) and returns the test for chaining.
    pub fn file(self, rel: &str, contents: &str) -> Self {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, contents).expect("write fixture");
        self
    }

    /// Runs the binary with `args` in the test directory.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_env(args, &[])
    }

    pub fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let started = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_hostscript"))
            .args(args)
            .current_dir(self.root())
            .env_remove("NO_COLOR")
            .envs(env.iter().copied())
            .output()
            .expect("run hostscript");
        Output {
            elapsed: started.elapsed(),
            ..Output::from_process(out)
        }
    }
}

/// A one-check script: `check(#{ id, description, run: || { body } })`.
pub fn check(id: &str, body: &str) -> String {
    format!("check(#{{ id: \"{id}\", description: \"{id}\", run: || {{ {body} }} }});\n")
}

/// A test dir whose `c/s.rhai` is one check `s` with `body`, importing the shipped suite's
/// `lib/flintlock` (a symlink to `checks/lib`), for tests of the lib's own rules.
pub fn with_suite_lib(body: &str) -> Test {
    let t = Test::new().file(
        "c/s.rhai",
        &format!(
            "import \"lib/flintlock\" as flintlock;\n{}",
            check("s", body)
        ),
    );
    std::os::unix::fs::symlink(
        concat!(env!("CARGO_MANIFEST_DIR"), "/checks/lib"),
        t.path("c/lib"),
    )
    .expect("symlink lib");
    t
}

/// The folder of fake executables (`dmsetup`, `systemctl`), for the front of PATH.
pub fn fake_bin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bin")
}

/// PATH with the fakes first.
pub fn path_with_fakes() -> String {
    format!(
        "{}:{}",
        fake_bin().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Held by tests whose answer depends on whether a suite is installed in /usr/share/hostscript,
/// and by the package test that installs one, so they never see each other's half-state.
pub fn installed_suite_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    // A test that panicked while holding it leaves nothing installed (its guards purge).
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
