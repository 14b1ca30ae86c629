//! Trusted paths, through the binary: as root hostscript refuses a checks directory, a vars
//! file, a lib module or a parent directory that others than root could change, names the
//! path, owner, mode and fix, loads everything else, accepts a root-owned sticky parent, and
//! with `--allow-untrusted-paths` warns and goes on. As another user the same rule holds with
//! that user beside root.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::support::{Output, Test, check};

const NOBODY: u32 = 65534;

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

fn chown(path: &Path, uid: u32) {
    nix::unistd::chown(path, Some(nix::unistd::Uid::from_raw(uid)), None)
        .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
}

/// Two checks directories, `good` and `other`, each with one passing check.
fn two_dirs() -> Test {
    Test::new()
        .file("good/a.rhai", &check("good.a", "pass(\"ok\")"))
        .file("other/b.rhai", &check("other.b", "pass(\"ok\")"))
}

fn ids(out: &Output) -> Vec<String> {
    out.json()["checks"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|c| {
                    format!(
                        "{} {}",
                        c["id"].as_str().unwrap_or(""),
                        c["status"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn a_group_writable_checks_dir_is_refused_and_the_other_dir_still_loads() {
    let t = two_dirs();
    chmod(&t.path("other"), 0o775);
    let out = t.run(&["run", "good", "other", "--format", "json"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let other = t.path("other");
    let ids = ids(&out);
    assert!(ids.contains(&"good.a pass".to_string()), "{ids:?}");
    assert!(!ids.iter().any(|i| i.starts_with("other.b")), "{ids:?}");
    let refused = out.json()["checks"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["status"] == "error").cloned())
        .unwrap_or_else(|| panic!("no error entry: {}", out.stdout));
    assert_eq!(
        refused["message"].as_str().unwrap_or_default(),
        format!(
            "other: refusing `{}`: writable by group (owner root (uid 0), mode 0775), so others could change what hostscript runs: chmod go-w {}",
            other.display(),
            other.display()
        )
    );
    // Nothing left to run: exit 2, with the refusal.
    let out = t.run(&["run", "other"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("writable by group"), "{}", out.stderr);
    assert!(
        out.stderr.contains("nothing left to load"),
        "{}",
        out.stderr
    );
    // The fix it names works.
    chmod(&other, 0o755);
    assert_eq!(t.run(&["run", "good", "other"]).code, 0);
}

#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn a_world_writable_vars_file_and_a_vars_toml_are_refused() {
    let t = two_dirs()
        .file("site.toml", "x = 1\n")
        .file("other/vars.toml", "y = 2\n");
    chmod(&t.path("site.toml"), 0o646);
    let out = t.run(&["run", "good", "--vars", "site.toml"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "refusing `{}`: writable by other (owner root (uid 0), mode 0646)",
            t.path("site.toml").display()
        )),
        "{}",
        out.stderr
    );
    // A directory's own vars.toml decides for the directory: its checks would run with
    // whatever values someone else chose.
    chmod(&t.path("other/vars.toml"), 0o666);
    let out = t.run(&["run", "good", "other", "--format", "json"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("vars.toml`: writable by group and other"),
        "{}",
        out.stdout
    );
    assert!(ids(&out).contains(&"good.a pass".to_string()));
}

#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn a_lib_module_owned_by_nobody_is_refused() {
    let t = Test::new()
        .file("c/lib/util.rhai", "fn answer() { 42 }\n")
        .file(
            "c/a.rhai",
            &format!(
                "import \"lib/util\" as util;\n{}",
                check("c.a", "pass(`${util::answer()}`)")
            ),
        )
        .file("c/b.rhai", &check("c.b", "pass(\"ok\")"));
    let out = t.run(&["run", "c", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    chown(&t.path("c/lib/util.rhai"), NOBODY);
    let out = t.run(&["run", "c", "--format", "json"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stdout.contains(&format!(
            "refusing `{}`: owned by nobody (uid 65534) (mode 0644), and only root may own what hostscript loads: chown root {}",
            t.path("c/lib/util.rhai").display(),
            t.path("c/lib/util.rhai").display()
        )),
        "{}",
        out.stdout
    );
    assert!(ids(&out).contains(&"c.b pass".to_string()));
}

#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn a_writable_parent_is_refused_a_sticky_root_parent_is_not_and_the_override_warns() {
    let t = Test::new().file("up/c/a.rhai", &check("c.a", "pass(\"ok\")"));
    let up = t.path("up");
    chmod(&up, 0o777);
    let out = t.run(&["run", "up/c"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "directory `{}` is writable by group and other",
            up.display()
        )),
        "{}",
        out.stderr
    );
    // Root-owned and sticky, like /tmp: only a file's owner may replace it there.
    chmod(&up, 0o1777);
    let out = t.run(&["run", "up/c"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // The override: a warning naming the path at fault, once, and the run goes on.
    chmod(&up, 0o777);
    for out in [
        t.run(&["run", "up/c", "--allow-untrusted-paths"]),
        t.run_with_env(
            &["run", "up/c"],
            &[("HOSTSCRIPT_ALLOW_UNTRUSTED_PATHS", "1")],
        ),
    ] {
        assert_eq!(out.code, 0, "{}", out.stderr);
        let warnings: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.contains("warning"))
            .collect();
        assert_eq!(warnings.len(), 1, "{}", out.stderr);
        assert!(
            warnings[0].starts_with("hostscript: warning: loading untrusted `")
                && warnings[0].contains(&format!("directory `{}` is writable", up.display())),
            "{}",
            out.stderr
        );
    }
}

#[test]
#[ignore = "needs root: scripts/test.sh runs it"]
fn as_another_user_its_own_files_and_roots_are_trusted_and_others_are_not() {
    let t = Test::new()
        .file("c/mine.rhai", &check("c.mine", "pass(\"ok\")"))
        .file("c/roots.rhai", &check("c.roots", "pass(\"ok\")"))
        .file("c/theirs.rhai", &check("c.theirs", "pass(\"ok\")"));
    // The test's directory is 0700 root: let the user reach into it.
    chmod(t.root(), 0o755);
    chown(&t.path("c"), NOBODY);
    chown(&t.path("c/mine.rhai"), NOBODY);
    chown(&t.path("c/theirs.rhai"), 1); // daemon
    let out = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_hostscript"))
        .args(["run", "c", "--format", "json"])
        .current_dir(t.root())
        .output()
        .expect("setpriv");
    let out = Output::from_process(out);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let ids = ids(&out);
    assert!(ids.contains(&"c.mine pass".to_string()), "{ids:?}");
    assert!(ids.contains(&"c.roots pass".to_string()), "{ids:?}");
    assert!(
        out.stdout.contains("owned by daemon (uid 1) (mode 0644), and only root or nobody (uid 65534) may own what hostscript loads: chown nobody"),
        "{}",
        out.stdout
    );
}
