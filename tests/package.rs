//! The Debian package, for real: `cargo deb` builds it from this checkout, `dpkg -i` installs it
//! on the test machine, `hostscript run` with no path runs the installed suite and the site's
//! checks.d with the site's vars.toml, and `dpkg -r` removes it and keeps the conffile, as
//! Debian does. A guard purges the package whatever happens, so no test leaves it installed.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const PACKAGE: &str = "hostscript";

/// Purges the package and the site directory the test wrote into, even when the test fails.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", PACKAGE]).output();
        // dpkg leaves the files it did not install (the test's site check, the state the
        // installed layout's runs keep) behind.
        let _ = std::fs::remove_dir_all("/etc/hostscript");
        let _ = std::fs::remove_dir_all("/var/lib/hostscript");
    }
}

fn dpkg(args: &[&str]) -> std::process::Output {
    let out = Command::new("dpkg").args(args).output().expect("dpkg");
    assert!(
        out.status.success(),
        "dpkg {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn installed_state() -> String {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Abbrev}", PACKAGE])
        .output()
        .expect("dpkg-query");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Builds the package from this checkout in its own target directory (`cargo test` holds the
/// lock on the default one) and returns the .deb.
pub fn build_package() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = repo.join("target/package-test");
    let out = Command::new(env!("CARGO"))
        .args(["deb", "--locked"])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(repo)
        .output()
        .expect("cargo deb (scripts/test.sh installs cargo-deb)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "cargo deb: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // cargo deb prints the package's path as its last line.
    let deb = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
    assert!(
        deb.extension().is_some_and(|e| e == "deb") && deb.is_file(),
        "{stdout}"
    );
    deb
}

/// Every file and directory under `path` is root's and not writable by group or others.
fn assert_root_only(path: &Path) {
    let meta = std::fs::symlink_metadata(path).expect("installed path");
    assert_eq!(meta.uid(), 0, "{} is not root's", path.display());
    assert_eq!(
        meta.mode() & 0o022,
        0,
        "{} is group/other writable",
        path.display()
    );
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).expect("read_dir") {
            assert_root_only(&entry.expect("entry").path());
        }
    }
}

fn hostscript(args: &[&str]) -> (i32, String, String) {
    let out = Command::new("/usr/bin/hostscript")
        .args(args)
        // Where hostscript starts must not matter: no ./checks here.
        .current_dir("/")
        .env_remove("HOSTSCRIPT_REMEDIATIONS")
        .env_remove("HOSTSCRIPT_FORMAT")
        .output()
        .expect("run the installed hostscript");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
#[ignore = "needs root and cargo-deb (scripts/test.sh installs it); installs the package on this machine"]
fn the_debian_package_installs_runs_with_no_path_and_removes_keeping_the_conffile() {
    let _lock = crate::support::installed_suite_lock();
    assert!(
        !installed_state().starts_with('i') && !Path::new("/etc/hostscript").exists(),
        "hostscript is already installed here; the test will not replace it"
    );
    let deb = build_package();
    let _guard = Installed;
    dpkg(&["-i", deb.to_str().expect("utf-8 path")]);
    assert_eq!(installed_state(), "ii");

    for path in [
        "/usr/bin/hostscript",
        "/usr/share/hostscript",
        "/etc/hostscript",
        "/usr/lib/systemd/system/hostscript.service",
        "/usr/lib/systemd/system/hostscript.timer",
    ] {
        assert_root_only(Path::new(path));
    }
    for dir in ["checks/lib", "remediations/templates"] {
        assert!(
            Path::new("/usr/share/hostscript").join(dir).is_dir(),
            "{dir}"
        );
    }
    // One man page per subcommand, where man finds them.
    for page in [
        "hostscript",
        "hostscript-run",
        "hostscript-remediate",
        "hostscript-test",
    ] {
        let path = Path::new("/usr/share/man/man1").join(format!("{page}.1"));
        assert!(
            path.is_file() || path.with_extension("1.gz").is_file(),
            "{page}"
        );
        let found = Command::new("man")
            .args(["-w", page])
            .output()
            .expect("man -w (scripts/test.sh installs man-db)");
        assert!(
            found.status.success(),
            "man -w {page}: {}",
            String::from_utf8_lossy(&found.stderr)
        );
    }
    // The README's links lead to the docs beside it.
    for doc in ["README.md", "docs/OPERATING.md", "docs/suite.md"] {
        assert!(
            Path::new("/usr/share/doc/hostscript").join(doc).is_file(),
            "{doc}"
        );
    }
    let conffiles = std::fs::read_to_string("/var/lib/dpkg/info/hostscript.conffiles")
        .expect("the package's conffiles");
    assert!(
        conffiles.lines().any(|l| l == "/etc/hostscript/vars.toml"),
        "{conffiles}"
    );
    // Shipped disabled: nothing wants the timer until the operator enables it.
    assert!(!Path::new("/etc/systemd/system/timers.target.wants/hostscript.timer").exists());
    let unit =
        std::fs::read_to_string("/usr/lib/systemd/system/hostscript.service").expect("the service");
    assert!(
        unit.contains("/usr/bin/hostscript run --format prometheus"),
        "{unit}"
    );
    let verify = Command::new("systemd-analyze")
        .args(["verify", "hostscript.service", "hostscript.timer"])
        .current_dir("/usr/lib/systemd/system")
        .output()
        .expect("systemd-analyze");
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );

    // The site's values over the suite's defaults, and a site check that reads them.
    std::fs::write(
        "/etc/hostscript/vars.toml",
        "bridge_name = \"br-site\"\nsite_rack = \"r17\"\n",
    )
    .expect("site vars");
    std::fs::write(
        "/etc/hostscript/checks.d/site.rhai",
        // A site check may use the suite's lib/ (the installed run's other root).
        format!(
            "import \"lib/flintlock\" as fl;\n{}",
            crate::support::check(
                "site.rack",
                "pass(`rack ${vars::site_rack}, bridge ${vars::bridge_name}`)",
            )
        ),
    )
    .expect("site check");

    // The shipped images name public registries: the suite must not look them up from the
    // machine running the tests (scripts/test.sh guards every lookup).
    let (code, stdout, stderr) =
        hostscript(&["run", "--format", "json", "--var", "check_registries=false"]);
    // This machine is no Flintlock host: the suite's checks fail, which is a result (1).
    assert_eq!(code, 1, "{stderr}\n{stdout}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("a JSON report");
    let checks = doc["checks"].as_array().expect("checks");
    let by_id = |id: &str| checks.iter().find(|c| c["id"] == id).cloned();
    assert!(
        by_id("kvm.device").is_some(),
        "the shipped suite ran: {stdout}"
    );
    assert_eq!(
        by_id("containerd.registries").map(|c| c["status"].clone()),
        Some(serde_json::json!("skip"))
    );
    // The installed layout run as root remembers runs in /var/lib/hostscript, 0600.
    assert!(
        by_id("kvm.device").is_some_and(|c| c["since"].is_string()),
        "{stdout}"
    );
    let state = std::fs::metadata("/var/lib/hostscript/state.json").expect("the state file");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&state.permissions()) & 0o777,
        0o600
    );
    let site = by_id("site.rack").expect("the site check ran");
    assert_eq!(site["status"], "pass", "{site}");
    assert_eq!(site["message"], "rack r17, bridge br-site", "{site}");
    let listed = hostscript(&["list", "--format", "json"]);
    assert_eq!(listed.0, 0, "{}", listed.2);
    assert!(listed.1.contains("\"site.rack\""), "{}", listed.1);

    // A flag still beats the site's file.
    let (_, stdout, stderr) = hostscript(&[
        "run",
        "--only",
        "site.rack",
        "--var",
        "bridge_name=br-flag",
        "--format",
        "json",
    ]);
    assert!(
        stdout.contains("rack r17, bridge br-flag"),
        "{stderr}\n{stdout}"
    );

    // Remediations default to the installed ones, with the same vars.
    let (code, stdout, stderr) = hostscript(&["remediate", "--list"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("thinpool"), "{stdout}");

    dpkg(&["-r", PACKAGE]);
    // Removed, not purged: the binary and the suite are gone, the edited conffile stays.
    assert_eq!(installed_state(), "rc");
    assert!(!Path::new("/usr/bin/hostscript").exists());
    assert!(!Path::new("/usr/share/hostscript").exists());
    assert_eq!(
        std::fs::read_to_string("/etc/hostscript/vars.toml").expect("conffile kept"),
        "bridge_name = \"br-site\"\nsite_rack = \"r17\"\n"
    );
}
