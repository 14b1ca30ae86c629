//! The script model: outcomes, optional checks, needs, generated checks, imports and vars.

use crate::support::{Test, check};

#[test]
fn each_outcome_is_reported_with_its_message_and_details() {
    let t = Test::new().file(
        "checks/a.rhai",
        &[
            check(
                "a.pass",
                r#"pass("all good", #{ version: "1.2.3", free: 42 })"#,
            ),
            check("a.warn", r#"warn("almost full")"#),
            check("a.fail", r#"fail("broken")"#),
            check("a.skip", r#"skip("tap mode")"#),
            check("a.error", r#"throw "no idea""#),
        ]
        .concat(),
    );
    let out = t.run(&["run", "checks", "--format", "json"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(out.status("a.pass"), "pass");
    assert_eq!(
        out.check("a.pass")["details"],
        serde_json::json!({"version": "1.2.3", "free": 42})
    );
    assert_eq!(out.status("a.warn"), "warn");
    assert_eq!(out.status("a.fail"), "fail");
    assert_eq!(out.message("a.fail"), "broken");
    assert_eq!(out.status("a.skip"), "skip");
    assert_eq!(out.status("a.error"), "error");
    assert_eq!(out.message("a.error"), "checks/a.rhai:5:59: no idea");
}

#[test]
fn warn_and_skip_alone_exit_zero() {
    let t = Test::new().file(
        "checks/a.rhai",
        &[
            check("a.pass", r#"pass("ok")"#),
            check("a.warn", r#"warn("hmm")"#),
            check("a.skip", r#"skip("n/a")"#),
        ]
        .concat(),
    );
    assert_eq!(t.run(&["run", "checks"]).code, 0);
}

#[test]
fn an_optional_check_that_fails_is_a_warning_and_does_not_fail_the_run() {
    let t = Test::new().file(
        "checks/a.rhai",
        r#"check(#{ id: "opt", description: "d", required: false, run: || fail("macvtap missing") });
           check(#{ id: "after", description: "d", needs: ["opt"], run: || pass("ran") });"#,
    );
    let out = t.run(&["run", "checks", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(out.status("opt"), "warn");
    assert_eq!(out.check("opt")["demoted_from"], "fail");
    assert_eq!(out.status("after"), "skip");
    assert_eq!(
        out.message("after"),
        "needs `opt`, which is optional and did not pass"
    );
}

#[test]
fn a_check_that_returns_nothing_is_an_error_not_a_pass() {
    let t = Test::new().file("checks/a.rhai", &check("quiet", "let x = 1;"));
    let out = t.run(&["run", "checks", "--format", "json"]);
    assert_eq!(out.status("quiet"), "error");
    assert!(
        out.message("quiet").contains("check returned nothing"),
        "{}",
        out.message("quiet")
    );
    assert_eq!(out.code, 1);
}

#[test]
fn needs_chains_skip_dependents_with_the_reason() {
    let t = Test::new().file(
        "checks/chain.rhai",
        r#"check(#{ id: "c.sock", description: "d", run: || fail("socket missing") });
           check(#{ id: "c.health", description: "d", needs: ["c.sock"], run: || pass("x") });
           check(#{ id: "c.images", description: "d", needs: "c.health", run: || pass("x") });
           check(#{ id: "c.other", description: "d", run: || pass("independent") });"#,
    );
    let out = t.run(&["run", "checks", "--format", "json"]);
    assert_eq!(out.status("c.sock"), "fail");
    assert_eq!(out.status("c.health"), "skip");
    assert_eq!(out.message("c.health"), "needs `c.sock`, which failed");
    assert_eq!(out.status("c.images"), "skip");
    assert_eq!(
        out.message("c.images"),
        "needs `c.health`, which was skipped"
    );
    assert_eq!(out.status("c.other"), "pass");
    assert_eq!(out.code, 1);
}

#[test]
fn dependents_run_after_their_needs_even_when_declared_first() {
    // `late` is declared first but needs `early`, which records when it ran.
    let t = Test::new().file(
        "checks/order.rhai",
        r#"check(#{ id: "late", description: "d", needs: ["early"], run: || {
               let r = cmd::run(["cat", vars::stamp]);
               if r.stdout == "early ran" { pass("saw the stamp") } else { fail("ran too soon") }
           }});
           check(#{ id: "early", description: "d", run: || {
               cmd::run(["sh", "-c", "sleep 0.2; printf 'early ran' > \"$0\"", vars::stamp]);
               pass("stamped")
           }});"#,
    );
    let stamp = t.path("stamp");
    let out = t.run(&[
        "run",
        "checks",
        "--format",
        "json",
        "--var",
        &format!("stamp={}", stamp.display()),
    ]);
    assert_eq!(out.status("late"), "pass", "{}", out.stdout);
    let ids: Vec<String> = out.json()["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| c["id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(ids, ["late", "early"], "report keeps declaration order");
}

#[test]
fn unknown_needs_and_cycles_are_errors_not_hangs() {
    let t = Test::new().file(
        "checks/bad.rhai",
        r#"check(#{ id: "x", description: "d", needs: ["nope"], run: || pass("") });
           check(#{ id: "y", description: "d", needs: ["z"], run: || pass("") });
           check(#{ id: "z", description: "d", needs: ["y"], run: || pass("") });"#,
    );
    let out = t.run(&["run", "checks", "--format", "json"]);
    assert_eq!(out.status("x"), "error");
    assert!(
        out.message("x").contains("needs unknown check `nope`"),
        "{}",
        out.message("x")
    );
    assert_eq!(out.status("y"), "error");
    assert!(
        out.message("y").contains("dependency cycle: y -> z -> y"),
        "{}",
        out.message("y")
    );
    // Every member of the cycle is an error, not only the first found.
    assert_eq!(out.status("z"), "error", "{}", out.message("z"));
    assert!(
        out.message("z").contains("dependency cycle: z -> y -> z"),
        "{}",
        out.message("z")
    );
    // lint reports the same.
    let lint = t.run(&["lint", "checks"]);
    assert_eq!(lint.code, 1);
    for needle in [
        "check `x` needs unknown check `nope`",
        "check `y` is in a dependency cycle",
        "check `z` is in a dependency cycle",
    ] {
        assert!(lint.stdout.contains(needle), "{needle}: {}", lint.stdout);
    }
}

#[test]
fn generated_checks_each_keep_their_own_loop_value() {
    let t = Test::new()
        .file("checks/vars.toml", "images = [\"root:1.23.10\", \"kernel:5.10.77\", \"extra:1\"]\n")
        .file(
            "checks/images.rhai",
            r#"let n = 0;
               for image in vars::images {
                   check(#{ id: `images.${n}`, description: `image ${image}`, run: || pass(image) });
                   n += 1;
               }"#,
        );
    let out = t.run(&["run", "checks", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(out.message("images.0"), "root:1.23.10");
    assert_eq!(out.message("images.1"), "kernel:5.10.77");
    assert_eq!(out.message("images.2"), "extra:1");
}

#[test]
fn lib_modules_are_imported_from_the_root_and_not_run_as_checks() {
    let t = Test::new()
        .file("checks/lib/util.rhai", "fn twice(x) { x * 2 }\n")
        .file(
            "checks/lib/unused.rhai",
            "check(#{ id: \"never\", description: \"d\", run: || pass(\"\") });\n",
        )
        .file(
            "checks/deep/er/a.rhai",
            r#"import "lib/util" as util;
               fn helper() { util::twice(21) }
               check(#{ id: "uses.lib", description: "d", run: || pass(`${helper()}`) });"#,
        );
    let out = t.run(&["run", "checks", "--format", "json"]);
    assert_eq!(out.message("uses.lib"), "42", "{}", out.stdout);
    assert_eq!(
        out.json()["summary"]["total"],
        1,
        "lib/ files are not checks: {}",
        out.stdout
    );
}

#[test]
fn vars_layers_apply_in_order_and_keep_types() {
    let t = Test::new()
        .file("checks/vars.toml", "a = \"root\"\nb = \"root\"\nc = \"root\"\nn = 1\n")
        .file("site.toml", "b = \"file\"\nc = \"file\"\n")
        .file(
            "checks/v.rhai",
            r#"check(#{ id: "v", description: "d", run: || pass(`${vars::a} ${vars::b} ${vars::c} ${type_of(vars::n)} ${vars::get("n") + 1}`) });
               check(#{ id: "default", description: "d", run: || pass(`${vars::get("absent", "fallback")} ${vars::has("a")} ${vars::has("absent")}`) });"#,
        );
    let out = t.run(&[
        "run",
        "checks",
        "--vars",
        "site.toml",
        "--var",
        "c=flag",
        "--var",
        "n=41",
        "--format",
        "json",
    ]);
    assert_eq!(out.message("v"), "root file flag i64 42", "{}", out.stdout);
    assert_eq!(out.message("default"), "fallback true false");
}

#[test]
fn reading_an_unknown_var_is_an_error_naming_it() {
    let t = Test::new().file(
        "checks/v.rhai",
        &[
            check("by.get", r#"vars::get("parent_ifcae"); pass("")"#),
            check("by.name", r#"let x = vars::parent_ifcae; pass("")"#),
        ]
        .concat(),
    );
    let out = t.run(&["run", "checks", "--format", "json"]);
    assert_eq!(out.status("by.get"), "error");
    assert!(
        out.message("by.get").contains("unknown var `parent_ifcae`"),
        "{}",
        out.message("by.get")
    );
    assert_eq!(out.status("by.name"), "error");
    assert!(
        out.message("by.name").contains("vars::parent_ifcae"),
        "{}",
        out.message("by.name")
    );
}

#[test]
fn check_declarations_are_validated_at_their_line() {
    let t = Test::new()
        .file(
            "checks/typo.rhai",
            "\n\ncheck(#{ id: \"t\", description: \"d\", requird: false, run: || pass(\"\") });\n",
        )
        .file("checks/ok.rhai", &check("fine", r#"pass("still runs")"#));
    let out = t.run(&["run", "checks", "--format", "json"]);
    // The check with the typo is the error, not its whole file.
    assert_eq!(out.status("t"), "error");
    assert!(
        out.message("t").starts_with(
            "checks/typo.rhai:3: check `t`: unknown key `requird`; did you mean `required`?"
        ),
        "{}",
        out.message("t")
    );
    assert_eq!(out.status("fine"), "pass");
}

#[test]
fn duplicate_ids_are_reported_and_the_first_kept() {
    let t = Test::new()
        .file("checks/a.rhai", &check("same", r#"pass("first")"#))
        .file("checks/b.rhai", &check("same", r#"pass("second")"#));
    let out = t.run(&["run", "checks", "--format", "json"]);
    assert_eq!(out.message("same"), "first");
    assert_eq!(out.status("same (duplicate)"), "error");
    assert!(
        out.message("same (duplicate)")
            .contains("first declared at checks/a.rhai:1")
    );
}

#[test]
fn selection_by_glob_and_tag_pulls_in_needed_checks() {
    let t = Test::new().file(
        "checks/s.rhai",
        r#"check(#{ id: "kvm.device", description: "d", tags: ["kvm"], run: || pass("") });
           check(#{ id: "kvm.access", description: "d", tags: ["kvm"], needs: ["kvm.device"], run: || pass("") });
           check(#{ id: "net.link", description: "d", tags: ["net"], needs: ["base"], run: || pass("") });
           check(#{ id: "base", description: "d", run: || pass("") });"#,
    );
    let ids = |args: &[&str]| -> Vec<String> {
        let mut full = vec!["run", "checks", "--format", "json"];
        full.extend_from_slice(args);
        t.run(&full).json()["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .map(|c| c["id"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(ids(&["--only", "kvm.*"]), ["kvm.device", "kvm.access"]);
    assert_eq!(ids(&["--only", "kvm.access"]), ["kvm.device", "kvm.access"]);
    assert_eq!(ids(&["--tag", "net"]), ["net.link", "base"]);
    let none = t.run(&["run", "checks", "--only", "nothing.*"]);
    assert_eq!(none.code, 2);
    assert_eq!(
        none.stderr.trim(),
        "hostscript: error: no checks match the selection (--only 'nothing.*')"
    );
}

#[test]
fn files_load_in_stable_path_order_whatever_the_scheduling() {
    let mut t = Test::new();
    for name in ["b", "a", "c/z", "c/a"] {
        t = t.file(
            &format!("checks/{name}.rhai"),
            &check(&name.replace('/', "."), r#"pass("")"#),
        );
    }
    for jobs in ["1", "4"] {
        let out = t.run(&["run", "checks", "--format", "json", "--jobs", jobs]);
        let ids: Vec<&str> = out.json()["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .map(|c| c["id"].as_str().unwrap_or_default())
            .map(|s| Box::leak(s.to_string().into_boxed_str()) as &str)
            .collect();
        assert_eq!(ids, ["a", "b", "c.a", "c.z"]);
    }
}
