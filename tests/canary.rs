//! `flintlock.canary` against a Rust server of flintlockd's MicroVM API with its lifecycle and
//! injected faults (tests/support/grpc_server.rs): created and deleted; stuck PENDING; FAILED
//! at a layer; Create rejected; an error after creation; Delete failing once; a slow Delete;
//! a leftover of a crashed run; an interrupted run; remote over TCP with basic auth and TLS.
//! After each, the server's own list holds no canary.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::Output;
use crate::support::grpc_server::{
    Faults, FlintlockOptions, Layer, Server, Transport, base64, self_signed, start_flintlock,
};

const NAMESPACE: &str = "hsc";

fn hostname() -> String {
    nix::unistd::gethostname()
        .expect("hostname")
        .to_string_lossy()
        .into_owned()
}

/// `hostscript run checks/ --format json ARGS`: the shipped suite, selected by `args`.
fn suite(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hostscript"));
    command
        .arg("run")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("checks"))
        .args(["--format", "json"])
        .args(args);
    command
}

fn output(mut command: Command) -> Output {
    Output::from_process(command.output().expect("hostscript"))
}

/// The canary against `server` with fast polls and a budget of `timeout` seconds.
fn canary_command(server: &Server, timeout: &str, extra: &[&str]) -> Command {
    let endpoint = format!("flintlock_endpoint={}", server.target);
    let budget = format!("canary_timeout={timeout}");
    let mut command = suite(&["--only", "flintlock.canary", "--var", "canary=true"]);
    command
        .args([
            "--var",
            "canary_poll=0.05",
            "--var",
            &budget,
            "--var",
            &endpoint,
        ])
        .args(extra);
    command
}

fn canary(server: &Server, extra: &[&str]) -> Output {
    output(canary_command(server, "1", extra))
}

fn no_canary_left(server: &Server) {
    assert_eq!(
        server.ids_in(NAMESPACE),
        Vec::<String>::new(),
        "a canary was left behind"
    );
}

/// The canary against a server with `faults`: the server, to look at afterwards, and the
/// check's record.
fn run_against(faults: Faults, extra: &[&str]) -> (Server, serde_json::Value) {
    let server = faulty(faults);
    let record = canary(&server, extra).check("flintlock.canary");
    (server, record)
}

fn faulty(faults: Faults) -> Server {
    start_flintlock(FlintlockOptions {
        faults,
        ..Default::default()
    })
}

#[test]
fn a_healthy_host_creates_and_deletes_the_canary_and_says_how_long_each_took() {
    let server = faulty(Faults::default());
    let out = canary(&server, &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let c = out.check("flintlock.canary");
    assert_eq!(c["status"], "pass", "{c}");
    let id = c["details"]["id"].as_str().unwrap_or_default();
    let host = host_part();
    assert!(id.starts_with(&format!("{host}-")), "{c}");
    assert!(
        id.len() <= 10 + 1 + 7 + 1 + 5,
        "{id} is short enough for a socket path"
    );
    assert!(
        c["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&format!("created {id} in 0 s and deleted it in 0 s")),
        "{c}"
    );
    for key in ["create_seconds", "delete_seconds", "uid", "retry"] {
        assert!(!c["details"][key].is_null(), "no {key}: {c}");
    }
    assert_eq!(c["details"]["state"], "CREATED");
    assert_eq!(server.calls().0, 1);
    no_canary_left(&server);
}

#[test]
fn the_canary_is_skipped_unless_asked_for() {
    let server = faulty(Faults::default());
    let endpoint = format!("flintlock_endpoint={}", server.target);
    let out = output(suite(&["--only", "flintlock.canary", "--var", &endpoint]));
    // A CI gate on the canary alone, without `canary = true`, checked nothing: not a pass.
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(out.stderr.contains("nothing was checked"), "{}", out.stderr);
    let c = out.check("flintlock.canary");
    assert_eq!(c["status"], "skip");
    assert!(
        c["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("canary disabled"),
        "{c}"
    );
    assert_eq!(server.calls(), (0, 0));
}

#[test]
fn stuck_pending_fails_at_the_budget_naming_the_layer_and_the_retries() {
    let (server, c) = run_against(
        Faults {
            stuck_pending: true,
            ..Faults::default()
        },
        &[],
    );
    assert_eq!(c["status"], "fail", "{c}");
    let message = c["message"].as_str().unwrap_or_default();
    assert!(message.contains("still PENDING after 1 s ("), "{message}");
    assert!(
        message.contains("at the root volume (image pull or snapshot: no root volume mount yet); flintlockd's status gives no reason: its log does (journalctl -u flintlockd)"),
        "{message}"
    );
    assert!(c["details"]["retry"].as_i64().unwrap_or(0) > 0, "{c}");
    no_canary_left(&server);
}

#[test]
fn failed_names_the_layer_flintlockd_stopped_at_and_the_retry_count() {
    // The test server saves status as flintlock does: placeholders for the root volume and
    // every interface from the first saved attempt on, each filled when its step succeeds.
    for (layer, says) in [
        (
            Layer::RootVolume,
            "at the root volume (image pull or snapshot: no root volume mount yet)",
        ),
        (
            Layer::Kernel,
            "at the kernel image (the root volume is mounted, the kernel is not)",
        ),
        (
            Layer::Network,
            "at network interface eth1 (images are mounted; its host device was not created)",
        ),
        (
            Layer::Provider,
            "at provider start (images and interfaces are ready; the hypervisor did not report the VM running)",
        ),
    ] {
        let (server, c) = run_against(
            Faults {
                fail_at: Some(layer),
                max_retry: 2,
                ..Faults::default()
            },
            &[],
        );
        assert_eq!(c["status"], "fail", "{c}");
        let message = c["message"].as_str().unwrap_or_default();
        assert!(message.contains("FAILED after 3 retries, "), "{message}");
        assert!(message.contains(says), "{message}");
        no_canary_left(&server);
    }
}

#[test]
fn a_rejected_create_is_an_error_quoting_flintlockd() {
    // Firecracker has no macvtap: flintlockd refuses the create (core/application/commands.go).
    let server = faulty(Faults::default());
    let out = canary(&server, &["--var", "network_mode=macvtap"]);
    assert_eq!(out.code, 1);
    let c = out.check("flintlock.canary");
    assert_eq!(c["status"], "error", "{c}");
    assert!(
        c["message"]
            .as_str()
            .unwrap_or_default()
            .contains("CreateMicroVM was rejected: ")
            && c["message"].as_str().unwrap_or_default().contains(
                "creating microvm: macvtap network interfaces not supported by the microvm provider"
            ),
        "{c}"
    );
    no_canary_left(&server);
    // An API that does not answer is an error too, naming the endpoint.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let out = canary(
        &server,
        &["--var", &format!("flintlock_endpoint=127.0.0.1:{port}")],
    );
    let c = out.check("flintlock.canary");
    assert_eq!(c["status"], "error", "{c}");
    assert!(
        c["message"].as_str().unwrap_or_default().contains(&format!(
            "flintlockd at 127.0.0.1:{port} cannot list microVMs"
        )),
        "{c}"
    );
}

#[test]
fn an_error_after_creation_still_deletes_the_canary() {
    let (server, c) = run_against(
        Faults {
            get_error: true,
            ..Faults::default()
        },
        &[],
    );
    assert_eq!(c["status"], "error", "{c}");
    assert!(
        c["message"]
            .as_str()
            .unwrap_or_default()
            .contains("connection to containerd lost"),
        "{c}"
    );
    assert_eq!(server.calls(), (1, 1), "the deferred delete ran once");
    no_canary_left(&server);
}

#[test]
fn a_delete_that_fails_once_is_tried_again_and_a_slow_one_is_waited_for() {
    let (server, c) = run_against(
        Faults {
            delete_failures: 1,
            ..Faults::default()
        },
        &[],
    );
    assert_eq!(c["status"], "pass", "{c}");
    assert_eq!(c["details"]["delete_attempts"], 2, "{c}");
    no_canary_left(&server);

    let (server, c) = run_against(
        Faults {
            delete_delay: Duration::from_millis(600),
            ..Faults::default()
        },
        &[],
    );
    assert_eq!(c["status"], "pass", "{c}");
    assert!(
        c["details"]["delete_seconds"].as_f64().unwrap_or(0.0) >= 0.6,
        "{c}"
    );
    no_canary_left(&server);

    // A delete that keeps failing is the check's error, naming the VM left behind.
    let (server, c) = run_against(
        Faults {
            delete_failures: 1000,
            ..Faults::default()
        },
        &["--var", "canary_delete_timeout=1"],
    );
    assert_eq!(c["status"], "error", "{c}");
    let message = c["message"].as_str().unwrap_or_default();
    let id = c["details"]["id"].as_str().unwrap_or("(no id in details)");
    assert!(
        message.contains("microVM hsc/")
            && message.contains("is still CREATED after 1 s of deleting"),
        "{message}"
    );
    assert!(message.contains("; left behind microVM hsc/"), "{message}");
    assert!(
        message.contains("connection to containerd lost"),
        "{message}"
    );
    let _ = id;
    assert_eq!(
        server.ids_in(NAMESPACE).len(),
        1,
        "it really is left behind"
    );
}

#[test]
fn canaries_a_crashed_run_left_are_deleted_first_and_reported() {
    let server = faulty(Faults::default());
    let host = host_part();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    // Ids are `<host>-<unix time>-<pid>` in base 36; the whole budget here is 1 + 120 + 30 s.
    let old = format!("{host}-{}-3ci", base36(now - 200));
    server.leave(NAMESPACE, &old);
    // Another runner's canary: swept only once older than twice the budget.
    let other_young = format!("otherhost-{}-1", base36(now - 200));
    let other_old = format!("otherhost-{}-1", base36(now - 3 * 365 * 86400));
    server.leave(NAMESPACE, &other_young);
    server.leave(NAMESPACE, &other_old);
    // A host whose name extends this one's is another host; this host's canary of a run
    // still going is kept; what is not a canary id is never touched.
    let longer = format!("{host}-2-{}-1", base36(now - 200));
    server.leave(NAMESPACE, &longer);
    let young = format!("{host}-{}-1", base36(now));
    server.leave(NAMESPACE, &young);
    server.leave(NAMESPACE, "not a canary");
    let out = canary(&server, &[]);
    let c = out.check("flintlock.canary");
    assert_eq!(c["status"], "pass", "{c}");
    assert_eq!(
        c["details"]["leftovers_deleted"],
        serde_json::json!([old]),
        "{c}"
    );
    let stale = c["details"]["stale_deleted"].to_string();
    assert!(
        stale.contains(&other_old) && stale.contains("host otherhost"),
        "{stale}"
    );
    assert_eq!(
        server.ids_in(NAMESPACE),
        vec![other_young, longer, young, "not a canary".to_string()]
    );
}

/// This host's part of the canary's ids (checks/canary.rhai host_part): the first label
/// when it has at most 10 characters, as the tests' hosts have.
fn host_part() -> String {
    let first = hostname().split('.').next().unwrap_or_default().to_string();
    assert!(
        first.chars().count() <= 10,
        "the tests expect a short hostname, not {first}"
    );
    first
}

/// Base 36, as the canary writes the numbers of its ids.
fn base36(mut n: u64) -> String {
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    while n > 0 {
        out.push(digits[usize::try_from(n % 36).unwrap_or(0)]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

#[test]
fn a_lost_delete_is_sent_again_until_the_canary_is_gone() {
    // An attempt in flight saves its copy over the first delete (flintlock
    // core/application/reconcile.go): the VM is back to what it was, and must be deleted again.
    let (server, c) = run_against(
        Faults {
            lose_first_delete: true,
            ..Faults::default()
        },
        &[],
    );
    assert_eq!(c["status"], "pass", "{c}");
    assert_eq!(c["details"]["delete_attempts"], 2, "{c}");
    assert_eq!(server.calls().1, 2);
    no_canary_left(&server);
}

#[test]
fn a_delete_held_by_the_back_off_past_its_budget_names_the_vm_still_deleting() {
    // Failed attempts push NotBefore out (retry x back-off), and a delete waits for it.
    let (server, c) = run_against(
        Faults {
            stuck_pending: true,
            backoff: Duration::from_secs(3),
            ..Faults::default()
        },
        &["--var", "canary_delete_timeout=1"],
    );
    assert_eq!(c["status"], "error", "{c}");
    let message = c["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("is still DELETING after 1 s of deleting")
            && message.contains(&format!("microVM {NAMESPACE}/")),
        "{message}"
    );
    // flintlockd acts on the delete once the back-off passes: nothing is left for good.
    let started = Instant::now();
    while !server.ids_in(NAMESPACE).is_empty() {
        assert!(started.elapsed() < Duration::from_secs(20), "never deleted");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_namespace_and_state_dir_too_long_for_the_cloud_hypervisor_socket_create_nothing() {
    let server = faulty(Faults::default());
    let long = format!("canary_state_dir=/var/lib/{}", "x".repeat(60));
    let c = canary(&server, &["--var", &long]).check("flintlock.canary");
    assert_eq!(c["status"], "error", "{c}");
    let message = c["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("Cloud Hypervisor's API socket would be")
            && message.contains("over Linux's 107"),
        "{message}"
    );
    assert_eq!(server.calls(), (0, 0), "nothing created or deleted");
    // The shipped defaults fit with room to spare.
    let c = canary(&server, &[]).check("flintlock.canary");
    assert_eq!(c["status"], "pass", "{c}");
}

#[test]
fn an_interrupted_run_deletes_its_canary_before_it_exits() {
    let server = faulty(Faults {
        stuck_pending: true,
        ..Faults::default()
    });
    let child = canary_command(&server, "60", &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hostscript");
    let started = Instant::now();
    while server.calls().0 == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no CreateMicroVM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT");
    let out = Output::from_process(child.wait_with_output().expect("wait"));
    assert_eq!(out.code, 130, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("hostscript: cleaned up after an unfinished check: microVM hsc/"),
        "{}",
        out.stderr
    );
    // "interrupted", from the runner or (when the body stopped first) from the script.
    let c = out.check("flintlock.canary");
    assert_eq!(c["status"], "error", "{c}");
    assert!(
        c["message"]
            .as_str()
            .unwrap_or_default()
            .ends_with("interrupted"),
        "{c}"
    );
    no_canary_left(&server);
}

#[test]
fn remote_over_tcp_with_basic_auth_on_every_method_and_with_tls() {
    // Basic auth guards every method, reflection included (flintlock pkg/auth/basic.go):
    // flintlock.api lists services by reflection, so it needs the metadata as much as the
    // canary's calls do.
    let server = start_flintlock(FlintlockOptions {
        basic_auth: Some("t0ps3cret".into()),
        ..Default::default()
    });
    let metadata = format!(
        "flintlock_metadata={{ authorization = \"basic {}\" }}",
        base64(b"t0ps3cret")
    );
    // The server's target is 127.0.0.1:PORT: the run reaches it as a remote host.
    let out = canary(&server, &["--target", &server.target, "--var", &metadata]);
    assert_eq!(
        out.check("flintlock.canary")["status"],
        "pass",
        "{}",
        out.stdout
    );
    no_canary_left(&server);
    let target = server.target.clone();
    let api = |extra: &[&str]| {
        let mut command = suite(&["--only", "flintlock.api", "--only", "flintlock.port"]);
        command.args(["--target", &target]).args(extra);
        output(command)
    };
    let ok = api(&["--var", &metadata]);
    assert_eq!(ok.check("flintlock.api")["status"], "pass", "{}", ok.stdout);
    // Without the metadata, reflection itself is refused, as flintlockd refuses it.
    let api = api(&[]);
    let c = api.check("flintlock.api");
    assert_eq!(c["status"], "fail", "{c}");
    assert!(
        c["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Unauthenticated"),
        "{c}"
    );

    let (cert, key) = self_signed();
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &cert).expect("ca");
    let tls = start_flintlock(FlintlockOptions {
        transport: Transport::Tls {
            cert_pem: cert,
            key_pem: key,
        },
        basic_auth: Some("t0ps3cret".into()),
        ..Default::default()
    });
    let out = canary(
        &tls,
        &[
            "--target",
            &tls.target,
            "--var",
            &metadata,
            "--var",
            &format!(
                "flintlock_tls={{ ca = \"{}\", server_name = \"localhost\" }}",
                ca.display()
            ),
        ],
    );
    assert_eq!(
        out.check("flintlock.canary")["status"],
        "pass",
        "{}",
        out.stdout
    );
    no_canary_left(&tls);
}
