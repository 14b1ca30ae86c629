//! The suite's own reading of flintlock and containerd (checks/lib) against what their sources
//! do, rule by rule, through the binary: flintlockd's command line as cobra and pflag parse it
//! (liquidmetal-dev/flintlock v0.11.0 internal/command/flags/flags.go, pkg/log/flags.go), and
//! image references as containerd 1.7's client resolves them (reference/reference.go,
//! remotes/docker/registry.go).

use crate::support::with_suite_lib;

/// Runs `body` in a check that imports the shipped lib; returns the check's details.
pub(crate) fn with_lib(body: &str) -> serde_json::Value {
    let t = with_suite_lib(body);
    let out = t.run(&["run", "c", "--format", "json"]);
    assert_eq!(out.status("s"), "pass", "{}\n{}", out.stdout, out.stderr);
    out.check("s")["details"].clone()
}

/// `flintlock::parse_flags` of each argv, as `[flags, problems]`.
fn parsed(argvs: &[&[&str]]) -> Vec<serde_json::Value> {
    let list: Vec<String> = argvs
        .iter()
        .map(|a| format!("{:?}", a.iter().map(|w| w.to_string()).collect::<Vec<_>>()))
        .collect();
    let details = with_lib(&format!(
        "let out = []; for argv in [{}] {{ let p = flintlock::parse_flags(argv); out.push([p.flags, p.problems]); }} pass(\"\", #{{ out: out }})",
        list.join(", ")
    ));
    details["out"].as_array().cloned().unwrap_or_default()
}

#[test]
fn flag_names_are_matched_exactly_as_pflag_does_and_log_flags_go_anywhere() {
    let out = parsed(&[
        // The root's persistent log flags, before `run` and as the -v shorthand forms.
        &["/f", "-v", "9", "run", "--deleteMicroVM-timeout", "30s"],
        &["/f", "-v9", "run", "--firecracker-detach=false"],
        &[
            "/f",
            "run",
            "-v=2",
            "--verbosity",
            "3",
            "--log-format",
            "json",
        ],
        // pflag is case-sensitive: the lower-cased name is an unknown flag.
        &["/f", "run", "--deletemicrovm-timeout", "30s"],
        // Typed values: an int, a Go duration.
        &["/f", "run", "--maximum-retry", "x", "--resync-period", "5q"],
        &[
            "/f",
            "run",
            "--resync-period",
            "1h30m",
            "--maximum-retry",
            "3",
        ],
        // ParseInt base 0 and every unit of time.ParseDuration.
        &[
            "/f",
            "run",
            "--maximum-retry",
            "0x10",
            "--deleteMicroVM-timeout",
            "300μs",
        ],
        &["/f", "run", "--maximum-retry", " 3"],
        // cobra steps over a flag with its value to find `run`, which then parses it
        // (command.go stripFlags); a bare boolean there swallows `run` as its value.
        &["/f", "--parent-iface", "eth0", "--insecure=true", "run"],
        &["/f", "--insecure", "run", "--parent-iface", "eth0"],
        // `run` takes positional arguments and ignores them (args.go legacyArgs), as it does
        // everything after `--`.
        &[
            "/f",
            "run",
            "stray",
            "",
            "--insecure",
            "--",
            "--parent-iface",
            "x",
        ],
    ]);
    assert_eq!(
        out[0],
        serde_json::json!([{"verbosity": 9, "deleteMicroVM-timeout": "30s"}, []])
    );
    assert_eq!(
        out[1],
        serde_json::json!([{"verbosity": 9, "firecracker-detach": false}, []])
    );
    assert_eq!(out[2][0]["verbosity"], 3);
    assert_eq!(out[2][0]["log-format"], "json");
    assert!(
        out[3][1][0]
            .as_str()
            .unwrap_or_default()
            .contains("unknown flag --deletemicrovm-timeout: flintlockd exits at start (flag names are case-sensitive: --deleteMicroVM-timeout)"),
        "{}",
        out[3]
    );
    let problems = out[4][1].to_string();
    assert!(
        problems.contains("--maximum-retry x is not an integer")
            && problems.contains("--resync-period 5q is not a duration"),
        "{problems}"
    );
    assert_eq!(
        out[5],
        serde_json::json!([{"resync-period": "1h30m", "maximum-retry": 3}, []])
    );
    assert_eq!(
        out[6],
        serde_json::json!([{"maximum-retry": "0x10", "deleteMicroVM-timeout": "300μs"}, []])
    );
    assert!(
        out[7][1].to_string().contains("is not an integer"),
        "{}",
        out[7]
    );
    let out = &out[2..];
    assert_eq!(
        out[6],
        serde_json::json!([{"parent-iface": "eth0", "insecure": true}, []])
    );
    assert!(
        out[7][1][0]
            .as_str()
            .unwrap_or_default()
            .contains("a bare --insecure before 'run' takes the next word as its value"),
        "{}",
        out[7]
    );
    assert_eq!(out[8], serde_json::json!([{"insecure": true}, []]));
}

#[test]
fn registries_are_taken_as_containerd_1_7_takes_them() {
    let details = with_lib(
        r#"let out = [];
           for r in ["ghcr.io/org/img:tag", "docker.io/library/x:1", "localhost:5000/x:1",
                     "foo/bar:1", "x:1", "ubuntu", "ghcr.io/org/img", "ghcr.io/org/img@sha256:ab"] {
               let got = flintlock::registry_of(r);
               out.push(if type_of(got) == "map" { "error: " + got.error } else { got });
           }
           pass("", #{ out: out })"#,
    );
    let out: Vec<String> = serde_json::from_value(details["out"].clone()).expect("out");
    assert_eq!(out[0], "ghcr.io");
    // The only host containerd's default resolver rewrites (remotes/docker/registry.go).
    assert_eq!(out[1], "registry-1.docker.io");
    assert_eq!(out[2], "localhost:5000");
    // No Docker Hub default: the first component is the host, verbatim.
    assert_eq!(out[3], "foo");
    for (i, why) in [
        (4, "has no '/'"),
        (5, "has no '/'"),
        (6, "has no tag or digest"),
    ] {
        assert!(
            out[i].starts_with("error: ") && out[i].contains(why),
            "{}",
            out[i]
        );
    }
    assert_eq!(out[7], "ghcr.io");
}
