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
    assert!(
        blocks.len() >= 2,
        "README has the example and its lib module"
    );
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
