//! `systemd::unit` through a fake `systemctl` printing real `systemctl show` output, and the
//! real systemctl on this machine, where systemd is not PID 1.

use crate::support::{Test, check, path_with_fakes};

fn fixtures() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/systemd").to_string()
}

fn run_fake(body: &str) -> String {
    let t = Test::new().file("c/s.rhai", &check("s", body));
    let dir = fixtures();
    // The fake appends to $FAKE_SYSTEMD_DIR/calls; keep the fixture folder clean by copying.
    let scratch = t.path("systemd");
    std::fs::create_dir_all(&scratch).expect("mkdir");
    for entry in std::fs::read_dir(&dir).expect("fixtures") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), scratch.join(entry.file_name())).expect("copy");
    }
    let out = t.run_with_env(
        &["run", "c", "--format", "json"],
        &[
            ("PATH", &path_with_fakes()),
            ("FAKE_SYSTEMD_DIR", scratch.to_str().expect("utf-8")),
        ],
    );
    out.message("s")
}

#[test]
fn an_active_unit_with_a_drop_in_shows_the_effective_exec_start() {
    let m = run_fake(
        r#"let u = systemd::unit("flintlockd");
           pass(`${u.name} ${u.exists} ${u.active_state}/${u.sub_state} ${u.unit_file_state} ${u.main_pid} ${u.exec_start[0].argv.extract(2, 2)} ${u.drop_in_paths} ${"containerd-dev.service" in u.requires}`)"#,
    );
    assert_eq!(
        m,
        r#"flintlockd.service true active/running enabled 4242 ["--containerd-socket", "/run/containerd-dev/containerd.sock"] ["/etc/systemd/system/flintlockd.service.d/containerd-dev.conf"] true"#
    );
}

#[test]
fn a_failed_and_a_missing_unit_are_told_apart() {
    let m = run_fake(
        r#"let failed = systemd::unit("containerd-dev.service");
           let missing = systemd::unit("nosuch");
           pass(`${failed.active_state}/${failed.sub_state} ${failed.exec_start[0].path} | ${missing.exists} ${missing.load_state} ${missing.active_state}`)"#,
    );
    assert_eq!(
        m,
        "failed/failed /usr/bin/containerd | false not-found inactive"
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
