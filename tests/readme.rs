//! The README's script example must stay true: extract its two `rhai` blocks and run them
//! with the shipped vars.

use crate::support::Test;

#[test]
fn the_readme_example_runs_as_documented() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let blocks: Vec<&str> = readme
        .split("```rhai\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap_or_default())
        .collect();
    let example = blocks
        .iter()
        .position(|b| b.contains("import \"lib/refs\""))
        .expect("README has the check example");
    assert!(
        blocks.len() > example + 1,
        "README has the example and its lib module"
    );
    let blocks = &blocks[example..];
    let vars = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/checks/vars.toml"))
        .expect("vars");
    let t = Test::new()
        .file("checks/kvm.rhai", blocks[0])
        .file("checks/lib/refs.rhai", blocks[1])
        .file("checks/vars.toml", &vars);
    let out = t.run(&[
        "run",
        "checks",
        "--format",
        "json",
        "--var",
        "flintlock_user=root",
    ]);
    assert_eq!(
        out.status("kvm.access"),
        if std::path::Path::new("/dev/kvm").exists() {
            "pass"
        } else {
            "skip"
        },
        "{}",
        out.stdout
    );
    assert_eq!(out.status("containerd.images.0"), "pass", "{}", out.stdout);
    assert_eq!(
        out.message("containerd.images.1"),
        "ghcr.io/liquidmetal-dev/flintlock-kernel:5.10.77"
    );
    let lint = t.run(&["lint", "checks"]);
    assert_eq!(lint.code, 0, "{}", lint.stdout);
}

#[test]
fn the_readme_remediation_example_loads_and_dry_runs() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let example = readme
        .split("```rhai\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap_or_default())
        .find(|b| b.contains("remediation(#{"))
        .expect("README has a remediation example")
        .to_string();
    let t = Test::new().file("r/kernel_modules.rhai", &example);
    let root = t.path("root");
    std::fs::create_dir_all(&root).expect("root");
    let out = t.run_with_env(
        &[
            "remediate",
            "kernel-modules",
            "--remediations",
            "r",
            "--root",
            root.to_str().expect("utf-8"),
            "--dry-run",
            "--format",
            "json",
        ],
        &[("PATH", &crate::support::path_with_fakes())],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let doc = out.json();
    assert_eq!(doc["remediations"][0]["outcome"], "would_change", "{doc}");
}

#[test]
fn the_readme_site_check_runs_beside_the_suite() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let block = |lang: &str, needle: &str| -> String {
        readme
            .split(&format!("```{lang}\n"))
            .skip(1)
            .map(|b| b.split("```").next().unwrap_or_default())
            .find(|b| b.contains(needle))
            .unwrap_or_else(|| panic!("README has a {lang} block with {needle}"))
            .to_string()
    };
    let script = block("rhai", "site.uplink_mtu");
    let vars = block("toml", "uplink_mtu");
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let t = Test::new()
        .file("site/uplink.rhai", &script)
        .file("site/vars.toml", &vars);
    let checks = repo.join("checks");
    // Loopback has MTU 65536, not 9000: the check fails with the fix; a missing link fails too.
    let out = t.run(&[
        "run",
        checks.to_str().expect("utf-8"),
        "site",
        "--only",
        "site.*",
        "--var",
        "parent_iface=lo",
        "--format",
        "json",
    ]);
    assert_eq!(out.status("site.uplink_mtu"), "fail", "{}", out.stdout);
    assert!(
        out.message("site.uplink_mtu")
            .contains("the fabric uses 9000"),
        "{}",
        out.stdout
    );
    let missing = t.run(&[
        "run",
        checks.to_str().expect("utf-8"),
        "site",
        "--only",
        "site.*",
        "--var",
        "parent_iface=hs-no-such-link",
        "--format",
        "json",
    ]);
    assert_eq!(
        missing.message("site.uplink_mtu"),
        "hs-no-such-link does not exist"
    );
    // And lint accepts it beside the suite.
    let lint = t.run(&["lint", checks.to_str().expect("utf-8"), "site"]);
    assert_eq!(lint.code, 0, "{}{}", lint.stdout, lint.stderr);
}
