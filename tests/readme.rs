//! The examples of README.md and docs/ must stay true: each test extracts its blocks from the
//! page (docs/WRITING-CHECKS.md, docs/REMEDIATIONS.md, README.md) and runs them.

use crate::support::Test;

#[test]
fn the_check_example_runs_as_documented() {
    let readme = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/WRITING-CHECKS.md"
    ))
    .expect("README");
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
fn the_remediation_example_loads_and_dry_runs() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/REMEDIATIONS.md"))
            .expect("README");
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
fn the_site_check_runs_beside_the_suite() {
    let readme = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/WRITING-CHECKS.md"
    ))
    .expect("README");
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

/// The README's tour: its site check fails without `rack`, passes with `--var rack=r12`, and
/// lints beside the suite, as the commands under it say.
#[test]
fn the_readme_tour_site_check_runs_and_lints() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let script = readme
        .split("```rhai\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap_or_default())
        .find(|b| b.contains("site.rack"))
        .expect("README has the tour's site check");
    let commands = readme
        .split("```sh\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap_or_default())
        .find(|b| b.contains("site/ --only"))
        .expect("README has the tour's commands");
    let checks = concat!(env!("CARGO_MANIFEST_DIR"), "/checks");
    let t = Test::new().file("site/rack.rhai", script);
    let mut seen = 0;
    for line in commands.lines() {
        let (command, says) = line
            .split_once(" # ")
            .expect("each command says what it shows");
        let words: Vec<String> = shlex::split(command.trim())
            .expect("splits")
            .into_iter()
            .skip(1)
            .map(|w| {
                if w == "checks/" {
                    checks.to_string()
                } else {
                    w
                }
            })
            .collect();
        let args: Vec<&str> = words.iter().map(String::as_str).collect();
        let out = t.run(&args);
        let says = says.trim();
        if let Some(shown) = says.strip_prefix("FAIL: ") {
            assert_eq!(out.code, 1, "{}", out.stdout);
            assert!(
                out.stdout.contains("FAIL") && out.stdout.contains(shown),
                "{}",
                out.stdout
            );
        } else if let Some(shown) = says.strip_prefix("PASS: ") {
            assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
            assert!(
                out.stdout.contains("PASS") && out.stdout.contains(shown),
                "{}",
                out.stdout
            );
        } else {
            assert_eq!(args[0], "lint");
            assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
        }
        seen += 1;
    }
    assert_eq!(seen, 3);
}
