//! `dm::` end to end: a fake `dmsetup` first on PATH prints real-format output (this kernel has
//! no device-mapper), and the parsing code under test is the real one. The real dmsetup is
//! also run where the kernel allows it to tell us something true.

use crate::support::{Test, check, path_with_fakes};

const HEALTHY: &str = "0 209715200 thin-pool 0 1245/2621440 10240/1638400 - rw discard_passdown queue_if_no_space - 1024\n";

fn dm_test(body: &str) -> (Test, String) {
    let t = Test::new()
        .file(
            "dm/ls",
            "flintlock-dev-thinpool\t(253:0)\nflintlock-dev-thinpool-snap-1\t(253:1)\n",
        )
        .file(
            "dm/targets",
            "thin-pool        v1.24.0\nthin             v1.24.0\nlinear           v1.4.0\n",
        )
        .file("dm/status/flintlock-dev-thinpool", HEALTHY)
        .file(
            "dm/table/flintlock-dev-thinpool",
            "0 209715200 thin-pool 7:1 7:0 128 32768 1 skip_block_zeroing\n",
        )
        .file(
            "dm/status/flintlock-dev-thinpool-snap-1",
            "0 20971520 thin 1024 2047\n",
        )
        .file(
            "dm/table/flintlock-dev-thinpool-snap-1",
            "0 20971520 thin 253:0 1\n",
        )
        .file("c/d.rhai", &check("d", body));
    let dir = t.path("dm").display().to_string();
    (t, dir)
}

fn run(t: &Test, dir: &str) -> crate::support::Output {
    t.run_with_env(
        &["run", "c", "--format", "json"],
        &[("PATH", &path_with_fakes()), ("FAKE_DM_DIR", dir)],
    )
}

#[test]
fn list_exists_and_targets_parse_dmsetup_output() {
    let (t, dir) = dm_test(
        r#"let names = dm::list().map(|d| `${d.name}=${d.major}:${d.minor}`);
           let targets = dm::targets().map(|t| `${t.name}@${t.version}`);
           pass(`${names} ${targets} ${dm::exists("flintlock-dev-thinpool")} ${dm::exists("other")}`)"#,
    );
    let out = run(&t, &dir);
    assert_eq!(
        out.message("d"),
        r#"["flintlock-dev-thinpool=253:0", "flintlock-dev-thinpool-snap-1=253:1"] ["thin-pool@1.24.0", "thin@1.24.0", "linear@1.4.0"] true false"#
    );
    // One run attempt is one snapshot: `dm::exists` reads the `dmsetup ls` that `dm::list`
    // already asked for, so dmsetup ran once per question.
    let calls = std::fs::read_to_string(format!("{dir}/calls")).expect("calls");
    assert_eq!(calls, "ls\ntargets\n");
}

#[test]
fn thin_pool_status_and_table_are_parsed_with_percentages() {
    let (t, dir) = dm_test(
        r#"let s = dm::status("flintlock-dev-thinpool");
           let tb = dm::table("flintlock-dev-thinpool");
           pass(`${s.target} ${s.health} ${s.mode} ${s.needs_check} ${s.data_used}/${s.data_total} ${s.data_percent} ${s.metadata_low_watermark} | ${tb.metadata_dev} ${tb.data_dev} ${tb.block_size} ${tb.low_water_mark} ${tb.features} ${tb.segments.len()}`)"#,
    );
    let out = run(&t, &dir);
    assert_eq!(
        out.message("d"),
        "thin-pool ok rw false 10240/1638400 0.625 1024 | 7:1 7:0 128 32768 [\"skip_block_zeroing\"] 1"
    );
}

#[test]
fn failed_full_and_thin_devices_are_reported_as_they_are() {
    let (t, dir) = dm_test(
        r#"let thin = dm::status("flintlock-dev-thinpool-snap-1");
           let thin_table = dm::table("flintlock-dev-thinpool-snap-1");
           pass(`${thin.mapped_sectors} ${thin.highest_mapped_sector} ${thin_table.pool_dev} ${thin_table.dev_id} ${dm::status("flintlock-dev-thinpool").health}`)"#,
    );
    std::fs::write(
        t.path("dm/status/flintlock-dev-thinpool"),
        "0 209715200 thin-pool Fail\n",
    )
    .expect("write");
    let out = run(&t, &dir);
    assert_eq!(out.message("d"), "1024 2047 253:0 1 fail");

    std::fs::write(
        t.path("dm/status/flintlock-dev-thinpool"),
        "0 209715200 thin-pool 7 3000/2621440 1638400/1638400 - out_of_data_space discard_passdown queue_if_no_space - 1024\n",
    )
    .expect("write");
    let t = t.file(
        "c/d.rhai",
        &check(
            "d",
            r#"let s = dm::status("flintlock-dev-thinpool"); pass(`${s.mode} ${s.data_percent}`)"#,
        ),
    );
    assert_eq!(run(&t, &dir).message("d"), "out_of_data_space 100.0");
}

#[test]
fn errors_say_which_of_missing_device_no_root_no_kernel_support_or_no_dmsetup() {
    let (t, dir) = dm_test(r#"dm::status("nope"); pass("")"#);
    assert!(
        run(&t, &dir)
            .message("d")
            .ends_with("no device-mapper device `nope`")
    );

    // The message the real dmsetup prints when run without root (captured on this machine).
    let t = t.file(
        "dm/fail",
        "/dev/mapper/control: open failed: Permission denied\nFailure to communicate with kernel device-mapper driver.\nIncompatible libdevmapper 1.02.185 (2022-05-18) and kernel driver (unknown version).\nCommand failed.\n",
    );
    assert!(
        run(&t, &dir)
            .message("d")
            .ends_with("permission denied: dmsetup needs root to talk to device-mapper")
    );

    let t = t.file(
        "c/d.rhai",
        &check(
            "d",
            r#"dm::list(#{ dmsetup: "/nonexistent/dmsetup" }); pass("")"#,
        ),
    );
    assert!(run(&t, &dir).message("d").ends_with(
        "`/nonexistent/dmsetup` is not installed (not found on PATH; install the dmsetup package)"
    ));

    let t = t.file(
        "c/d.rhai",
        &check("d", r#"dm::list(#{ dmsetup: "x", colour: 1 }); pass("")"#),
    );
    assert!(
        run(&t, &dir)
            .message("d")
            .contains("dm: unknown option `colour`")
    );
}

#[test]
#[ignore = "needs a kernel without device-mapper and dmsetup installed (CI's kind of machine)"]
fn real_dmsetup_on_a_kernel_without_device_mapper_says_so() {
    let control = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/mapper/control");
    let no_dm = matches!(&control, Err(e) if e.raw_os_error() == Some(nix::libc::ENODEV));
    let has_dmsetup = std::process::Command::new("dmsetup")
        .arg("version")
        .output()
        .is_ok();
    assert!(
        no_dm && has_dmsetup,
        "this test needs a kernel without device-mapper and dmsetup installed (run it where that holds)"
    );
    let t = Test::new().file("c/d.rhai", &check("d", r#"dm::list(); pass("")"#));
    let out = t.run(&["run", "c", "--format", "json"]);
    assert!(
        out.message("d").ends_with(
            "device-mapper is not available in this kernel (/dev/mapper/control: no such device)"
        ),
        "{}",
        out.message("d")
    );
}

/// dmsetup answers no kernel gives for an active pool, or that do not fit together.
const MALFORMED: [(&str, &str, &str); 11] = [
    (
        "zero data total",
        "0 209715200 thin-pool 0 1245/2621440 0/0 - rw discard_passdown queue_if_no_space - 1024\n",
        TABLE,
    ),
    (
        "zero metadata total",
        "0 209715200 thin-pool 0 0/0 10240/1638400 - rw discard_passdown queue_if_no_space - 1024\n",
        TABLE,
    ),
    (
        "status length differs from the table's",
        "0 1000 thin-pool 0 1245/2621440 10240/1638400 - rw discard_passdown queue_if_no_space - 1024\n",
        TABLE,
    ),
    (
        "data total differs from the table's length",
        "0 209715200 thin-pool 0 1245/2621440 10240/99999 - rw discard_passdown queue_if_no_space - 1024\n",
        TABLE,
    ),
    ("empty status", "", TABLE),
    (
        "garbage fields",
        "0 209715200 thin-pool x y z w v u t\n",
        TABLE,
    ),
    (
        "two status segments, one table segment",
        "0 104857600 thin-pool 0 1245/2621440 10240/819200 - rw discard_passdown queue_if_no_space - 1024\n104857600 104857600 thin-pool 0 1245/2621440 10240/819200 - rw discard_passdown queue_if_no_space - 1024\n",
        TABLE,
    ),
    ("short table", HEALTHY, "0 209715200 thin-pool 7:1\n"),
    ("linear status", "0 209715200 linear\n", TABLE),
    ("Error", "0 209715200 thin-pool Error\n", TABLE),
    (
        "Fail among fields",
        "0 209715200 thin-pool 0 1245/2621440 Fail - rw discard_passdown queue_if_no_space -\n",
        TABLE,
    ),
];

const TABLE: &str = "0 209715200 thin-pool 7:1 7:0 128 32768 1 skip_block_zeroing\n";

#[test]
fn no_shipped_check_ends_in_a_script_type_error_on_any_malformed_dmsetup_answer() {
    // Rhai's own messages for a script that met a value it did not expect.
    let script_errors = [
        "Function not found",
        "Variable not found",
        "Data type incorrect",
        "Output type incorrect",
        "Property not found",
        "Indexer unavailable",
        "out of bounds",
        "Arithmetic error",
        "Error parsing integer number",
    ];
    let checks = concat!(env!("CARGO_MANIFEST_DIR"), "/checks");
    for (what, status, table) in MALFORMED {
        let t = Test::new()
            .file("dm/ls", "flintlock-dev-thinpool\t(253:0)\n")
            .file("dm/targets", "thin-pool        v1.24.0\n")
            .file("dm/status/flintlock-dev-thinpool", status)
            .file("dm/table/flintlock-dev-thinpool", table)
            .file("systemd/.keep", "");
        let dir = t.path("dm").display().to_string();
        let systemd = t.path("systemd").display().to_string();
        let out = t.run_with_env(
            &[
                "run",
                checks,
                "--format",
                "json",
                "--var",
                "check_registries=false",
            ],
            &[
                ("PATH", &path_with_fakes()),
                ("FAKE_DM_DIR", &dir),
                ("FAKE_SYSTEMD_DIR", &systemd),
            ],
        );
        let doc = out.json();
        for c in doc["checks"].as_array().expect("checks") {
            let message = c["message"].as_str().unwrap_or_default();
            for bad in script_errors {
                assert!(
                    !message.contains(bad),
                    "{what}: {} ended in a script error: {message}",
                    c["id"]
                );
            }
        }
        // Nothing judged from an answer that does not add up passes.
        for id in ["thinpool.health", "thinpool.usage"] {
            let status = out.status(id);
            assert!(
                status == "error" || status == "fail",
                "{what}: {id} is {status}: {}",
                out.message(id)
            );
        }
    }
}
