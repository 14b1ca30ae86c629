//! `grpc::` against real servers (never a mock of the client): reflection v1, v1alpha and none,
//! TCP, unix socket and TLS, basic-auth metadata, a server that never answers, and closed ports.

use std::time::Duration;

use crate::support::grpc_server::{
    FlintlockOptions, Reflection, Transport, self_signed, start_flintlock, start_silent,
};
use crate::support::{Test, check};

/// Runs one check body with `vars::target` set, returns its record.
fn run(target: &str, body: &str) -> serde_json::Value {
    run_vars(body, &[("target", target.to_string())])
}

fn run_vars(body: &str, vars: &[(&str, String)]) -> serde_json::Value {
    let t = Test::new().file("c/g.rhai", &check("g", body));
    let mut args: Vec<String> = ["run", "c", "--format", "json", "--timeout", "10"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for (k, v) in vars {
        args.push("--var".into());
        args.push(format!("{k}={v}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    t.run(&args).check("g")
}

fn message(record: &serde_json::Value) -> String {
    record["message"].as_str().unwrap_or_default().to_string()
}

#[test]
fn reflection_v1_lists_describes_and_calls_with_maps_in_and_out() {
    let server = start_flintlock(FlintlockOptions::default());
    let record = run(
        &server.target,
        r#"let services = grpc::list(vars::target);
           let d = grpc::describe(vars::target, "microvm.services.api.v1alpha1.MicroVM");
           let list = d.methods.filter(|m| m.name == "ListMicroVMs")[0];
           let r = grpc::invoke(vars::target, "microvm.services.api.v1alpha1.MicroVM/ListMicroVMs", #{});
           let vm = r.microvm[0];
           let one = grpc::invoke(vars::target, "microvm.services.api.v1alpha1.MicroVM/GetMicroVM", #{ uid: "uid-1" });
           let streamed = grpc::invoke(vars::target, "microvm.services.api.v1alpha1.MicroVM/ListMicroVMsStream", #{ namespace: "ns1" });
           pass(`${services} | ${list.input} -> ${list.output} | ${r.microvm.len()} ${vm.spec.id} ${vm.spec.memory_in_mb} ${vm.status.state} ${vm.spec.provider} | ${one.microvm.spec.id} | ${streamed.len()}`)"#,
    );
    assert_eq!(
        message(&record),
        "[\"grpc.reflection.v1.ServerReflection\", \"microvm.services.api.v1alpha1.MicroVM\"] | microvm.services.api.v1alpha1.ListMicroVMsRequest -> microvm.services.api.v1alpha1.ListMicroVMsResponse | 2 vm0 1024 CREATED firecracker | vm1 | 2",
        "{record}"
    );
    assert_eq!(server.accepted(), 1, "one connection for the whole run");
}

#[test]
fn errors_name_field_status_method_and_service() {
    let server = start_flintlock(FlintlockOptions::default());
    let record = run(
        &server.target,
        r#"let m = "microvm.services.api.v1alpha1.MicroVM/";
           let missing = grpc::try_invoke(vars::target, m + "GetMicroVM", #{ uid: "nope" });
           let out = [`${missing.ok} ${missing.code} ${missing.error}`];
           for req in [#{ uidd: "x" }, #{ uid: 5 }] {
               try { grpc::invoke(vars::target, m + "GetMicroVM", req); } catch (e) { out.push(e); }
           }
           // A service the server does not serve, described by the compiled-in protos.
           try { grpc::invoke(vars::target, "containerd.services.version.v1.Version/Version", #{}); } catch (e) { out.push(e); }
           try { grpc::invoke(vars::target, m + "Reboot", #{}); } catch (e) { out.push(e); }
           try { grpc::invoke(vars::target, "site.v1.Nothing/Do", #{}); } catch (e) { out.push(e); }
           pass(out.reduce(|acc, x| acc + x + "\n", ""))"#,
    );
    let text = message(&record);
    let lines: Vec<&str> = text.split(" | ").collect();
    let t = &server.target;
    assert_eq!(
        lines[0],
        format!(
            "false Unknown {t} microvm.services.api.v1alpha1.MicroVM/GetMicroVM: status Unknown: getting microvm: error attempting to locate microvm with uid: nope: microvm spec //nope not found"
        )
    );
    assert_eq!(
        lines[1],
        "request for `microvm.services.api.v1alpha1.MicroVM/GetMicroVM`: unknown field `uidd` in `microvm.services.api.v1alpha1.GetMicroVMRequest` (fields: uid)"
    );
    assert_eq!(
        lines[2],
        "request for `microvm.services.api.v1alpha1.MicroVM/GetMicroVM`: field `uid` expects a string, not i64"
    );
    assert_eq!(
        lines[3],
        format!(
            "{t} containerd.services.version.v1.Version/Version: unimplemented: the server does not serve this method"
        )
    );
    assert_eq!(
        lines[4],
        "service `microvm.services.api.v1alpha1.MicroVM` has no method `Reboot` (it has: CreateMicroVM, DeleteMicroVM, GetMicroVM, ListMicroVMs, ListMicroVMsStream)"
    );
    assert_eq!(
        lines[5],
        "unknown service `site.v1.Nothing`: the server's reflection does not know it; not among the compiled-in protos"
    );
}

#[test]
fn without_reflection_the_compiled_in_descriptors_are_used() {
    let server = start_flintlock(FlintlockOptions {
        reflection: Reflection::None,
        ..Default::default()
    });
    let record = run(
        &server.target,
        r#"let r = grpc::invoke(vars::target, "microvm.services.api.v1alpha1.MicroVM/ListMicroVMs", #{});
           let listed = "";
           try { grpc::list(vars::target); } catch (e) { listed = e; }
           pass(`${r.microvm.len()} | ${listed}`)"#,
    );
    assert_eq!(
        message(&record),
        format!(
            "2 | {} offers no server reflection (tried grpc.reflection.v1 and v1alpha)",
            server.target
        )
    );
}

#[test]
fn v1alpha_reflection_is_used_when_v1_is_missing() {
    let server = start_flintlock(FlintlockOptions {
        reflection: Reflection::V1Alpha,
        ..Default::default()
    });
    let record = run(
        &server.target,
        r#"let services = grpc::list(vars::target);
           let d = grpc::describe(vars::target, "microvm.services.api.v1alpha1.MicroVM", #{ });
           pass(`${services.contains("grpc.reflection.v1alpha.ServerReflection")} ${d.methods.len()}`)"#,
    );
    assert_eq!(message(&record), "true 5");
}

#[test]
fn a_server_with_both_reflection_versions_lists_both_like_flintlockd() {
    let server = start_flintlock(FlintlockOptions {
        reflection: Reflection::Both,
        ..Default::default()
    });
    let record = run(
        &server.target,
        r#"let services = grpc::list(vars::target);
           let r = grpc::invoke(vars::target, "microvm.services.api.v1alpha1.MicroVM/ListMicroVMs", #{});
           pass(`${services.contains("grpc.reflection.v1.ServerReflection")} ${services.contains("microvm.services.api.v1alpha1.MicroVM")} ${r.microvm.len()}`)"#,
    );
    assert_eq!(message(&record), "true true 2");
}

#[test]
fn unix_sockets_and_basic_auth_metadata() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start_flintlock(FlintlockOptions {
        transport: Transport::Unix(dir.path().join("flintlock.sock")),
        basic_auth: Some("s3cret".into()),
        ..Default::default()
    });
    let record = run(
        &server.target,
        r#"let m = "microvm.services.api.v1alpha1.MicroVM/ListMicroVMs";
           let denied = grpc::try_invoke(vars::target, m, #{}, #{ reflection: false });
           let raw = grpc::try_invoke(vars::target, m, #{}, #{ reflection: false, metadata: #{ authorization: "basic s3cret" } });
           // flintlock compares the base64 of its token (pkg/auth/basic.go); reflection is
           // guarded too, so this works only because reflection now carries the metadata.
           let r = grpc::invoke(vars::target, m, #{}, #{ metadata: #{ authorization: "Basic czNjcmV0" } });
           pass(`${denied.code} ${raw.code} ${r.microvm.len()}`)"#,
    );
    assert_eq!(
        message(&record),
        "Unauthenticated Unauthenticated 2",
        "{record}"
    );
    assert!(server.target.starts_with("unix:///"));
}

#[test]
fn tls_with_a_ca_or_skip_verify_and_clear_mismatch_errors() {
    let (cert, key) = self_signed();
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &cert).expect("write ca");
    let tls = start_flintlock(FlintlockOptions {
        transport: Transport::Tls {
            cert_pem: cert,
            key_pem: key,
        },
        ..Default::default()
    });
    let plain = start_flintlock(FlintlockOptions::default());
    let record = run_vars(
        r#"let m = "microvm.services.api.v1alpha1.MicroVM/ListMicroVMs";
           let with_ca = grpc::invoke(vars::tls, m, #{}, #{ tls: #{ ca: vars::ca, server_name: "localhost" } });
           let skipped = grpc::invoke(vars::tls, m, #{}, #{ tls: #{ skip_verify: true } });
           let plaintext_to_tls = grpc::try_invoke(vars::tls, m, #{}, #{ reflection: false, timeout: 3 });
           let tls_to_plaintext = grpc::try_invoke(vars::plain, m, #{}, #{ tls: #{ skip_verify: true }, timeout: 3 });
           pass(`${with_ca.microvm.len()} ${skipped.microvm.len()} | ${plaintext_to_tls.error} | ${tls_to_plaintext.error}`)"#,
        &[
            ("tls", tls.target.clone()),
            ("plain", plain.target.clone()),
            ("ca", ca.display().to_string()),
        ],
    );
    let text = message(&record);
    let parts: Vec<&str> = text.split(" | ").collect();
    assert_eq!(parts[0], "2 2", "{text}");
    // Which of the two the client sees depends on a race inside hyper; both name the cause.
    assert!(
        parts[1].contains("connection closed before the server's HTTP/2 preface (a TLS server spoken to in plaintext? set `tls`)")
            || parts[1].contains("connection closed before the server answered (a TLS server spoken to in plaintext? set `tls`)"),
        "{text}"
    );
    assert!(parts[2].contains("TLS handshake failed"), "{text}");
}

#[test]
fn a_server_that_never_answers_hits_the_deadline_on_time() {
    let server = start_silent();
    let started = std::time::Instant::now();
    let record = run(
        &server.target,
        r#"let r = grpc::try_invoke(vars::target, "microvm.services.api.v1alpha1.MicroVM/ListMicroVMs", #{}, #{ timeout: 0.5, reflection: false });
           pass(r.error)"#,
    );
    assert_eq!(
        message(&record),
        format!(
            "{} microvm.services.api.v1alpha1.MicroVM/ListMicroVMs: deadline exceeded after 500 ms",
            server.target
        )
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert!(server.accepted() >= 1);
}

#[test]
fn refused_ports_and_missing_sockets_are_named() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .to_string();
    let record = run_vars(
        r#"let a = grpc::try_invoke(vars::closed, "grpc.health.v1.Health/Check", #{});
           let b = grpc::try_invoke("unix:///nonexistent/hs.sock", "grpc.health.v1.Health/Check", #{});
           pass(`${a.error} | ${b.error}`)"#,
        &[("closed", closed.clone())],
    );
    assert_eq!(
        message(&record),
        format!(
            "{closed}: connection refused (nothing is listening) | unix:///nonexistent/hs.sock: no such socket"
        )
    );
}

#[test]
fn health_answers_by_service() {
    let server = start_flintlock(FlintlockOptions {
        health: true,
        ..FlintlockOptions::default()
    });
    let record = run(
        &server.target,
        r#"let missing = "";
           try { grpc::health(vars::target, "nope"); } catch (e) { missing = e; }
           pass(`${grpc::health(vars::target)} ${grpc::health(vars::target, "microvm.services.api.v1alpha1.MicroVM")} | ${missing}`)"#,
    );
    assert_eq!(
        message(&record),
        format!(
            "SERVING NOT_SERVING | {} grpc.health.v1.Health/Check: status NotFound: service not registered",
            server.target
        )
    );
}

#[test]
fn a_descriptor_set_file_adds_services_without_recompiling() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("site.proto"),
        "syntax = \"proto3\";\npackage site.v1;\nmessage PingRequest { string note = 1; }\nmessage PingReply { string note = 1; }\nservice Pinger { rpc Ping(PingRequest) returns (PingReply); }\n",
    )
    .expect("write proto");
    let set = protox::compile(["site.proto"], [dir.path()]).expect("compile");
    let set_path = dir.path().join("site.pb");
    std::fs::write(&set_path, prost::Message::encode_to_vec(&set)).expect("write set");
    let server = start_flintlock(FlintlockOptions {
        reflection: Reflection::None,
        ..Default::default()
    });
    let record = run_vars(
        r#"let o = #{ descriptor_set: vars::set, reflection: false };
           let d = grpc::describe(vars::target, "site.v1.Pinger", o);
           let r = grpc::try_invoke(vars::target, "site.v1.Pinger/Ping", #{ note: "hi" }, o);
           let bad = "";
           try { grpc::describe(vars::target, "site.v1.Pinger", #{ descriptor_set: "/nonexistent.pb" }); } catch (e) { bad = e; }
           pass(`${d.methods[0].input} | ${r.code} | ${bad}`)"#,
        &[
            ("target", server.target.clone()),
            ("set", set_path.display().to_string()),
        ],
    );
    assert!(
        message(&record)
            .starts_with("site.v1.PingRequest | Unimplemented | descriptor set `/nonexistent.pb`"),
        "{record}"
    );
}
