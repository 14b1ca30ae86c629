//! `net::`, `proc::`, `kmod::` and the procfs parts of `sys::`/`fs::` against real sockets and
//! processes that the test starts, and the real kernel of this machine.

use std::net::{TcpListener, UdpSocket};
use std::os::unix::net::UnixListener;

use crate::support::{Test, check};

fn run_one(body: &str, vars: &[(&str, String)]) -> serde_json::Value {
    let t = Test::new().file("c/p.rhai", &check("p", body));
    let mut args: Vec<String> = ["run", "c", "--format", "json"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for (k, v) in vars {
        args.push("--var".into());
        args.push(format!("{k}={v}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    t.run(&args).check("p")
}

#[test]
fn listeners_cover_v4_v6_v4_mapped_and_udp_with_their_owner() {
    let v4 = TcpListener::bind("127.0.0.1:0").expect("v4");
    let v6 = TcpListener::bind("[::1]:0").expect("v6");
    let mapped = TcpListener::bind("[::ffff:127.0.0.1]:0").expect("v4-mapped");
    let udp = UdpSocket::bind("127.0.0.1:0").expect("udp");
    let port = |l: &TcpListener| l.local_addr().expect("addr").port().to_string();
    let record = run_one(
        // Match table and port together: tests running in parallel bind other sockets whose
        // port numbers may equal these in another table.
        r#"let mine = net::listeners().filter(|l| (l.proto == "tcp" && l.port == vars::v4) || (l.proto == "tcp6" && l.address == "::1" && l.port == vars::v6)
                                              || (l.proto == "tcp6" && l.ipv4 == "127.0.0.1" && l.port == vars::mapped) || (l.proto == "udp" && l.port == vars::udp));
           let rows = mine.map(|l| `${l.proto} ${l.address} ${l.ipv4} ${l.loopback} ${l.pid}`);
           rows.sort();
           pass(rows.reduce(|acc, r| acc + r + "; ", ""))"#,
        &[
            ("v4", port(&v4)),
            ("v6", port(&v6)),
            ("mapped", port(&mapped)),
            ("udp", udp.local_addr().expect("addr").port().to_string()),
        ],
    );
    let pid = std::process::id();
    assert_eq!(
        record["message"].as_str().unwrap_or_default(),
        format!(
            "tcp 127.0.0.1 127.0.0.1 true {pid}; tcp6 ::1  true {pid}; tcp6 ::ffff:127.0.0.1 127.0.0.1 true {pid}; udp 127.0.0.1 127.0.0.1 true {pid};"
        )
    );
}

#[test]
fn listening_on_an_address_honours_wildcards_and_v4_mapped_sockets() {
    let mapped = TcpListener::bind("[::ffff:127.0.0.1]:0").expect("v4-mapped");
    let any = TcpListener::bind("0.0.0.0:0").expect("any");
    let port = |l: &TcpListener| l.local_addr().expect("addr").port().to_string();
    let record = run_one(
        r#"pass(`${net::listening(vars::mapped)} ${net::listening("127.0.0.1", vars::mapped)} ${net::listening("10.1.2.3", vars::mapped)} ${net::listening("10.1.2.3", vars::any)} ${net::listening("::1", vars::any)} ${net::listening(1)}`)"#,
        &[("mapped", port(&mapped)), ("any", port(&any))],
    );
    assert_eq!(record["message"], "true true false true false false");
}

#[test]
fn unix_listeners_and_connects_are_real() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("api.sock");
    let _listener = UnixListener::bind(&sock).expect("bind");
    let bound_only = dir.path().join("bound.sock");
    let _datagram = std::os::unix::net::UnixDatagram::bind(&bound_only).expect("bind dgram");
    let tcp = TcpListener::bind("127.0.0.1:0").expect("tcp");
    let closed = TcpListener::bind("127.0.0.1:0")
        .expect("closed")
        .local_addr()
        .expect("addr")
        .port();
    let record = run_one(
        r#"let a = net::connect(`unix://${vars::sock}`);
           let b = net::connect(vars::tcp);
           let c = net::connect(`127.0.0.1:${vars::closed}`);
           let d = net::connect(`${vars::sock}.missing`);
           pass(`${net::unix_listening(vars::sock)} ${net::unix_listening(vars::bound)} ${a.ok} ${b.ok} ${c.ok} | ${c.error} | ${d.error}`)"#,
        &[
            ("sock", sock.display().to_string()),
            ("bound", bound_only.display().to_string()),
            ("tcp", tcp.local_addr().expect("addr").to_string()),
            ("closed", closed.to_string()),
        ],
    );
    assert_eq!(
        record["message"],
        format!(
            "true false true true false | 127.0.0.1:{closed}: connection refused (nothing is listening) | unix socket `{}.missing`: no such socket",
            sock.display()
        )
    );
}

#[test]
fn processes_are_found_by_name_and_by_executable_path() {
    let mut child = std::process::Command::new("sleep")
        .arg("30.123")
        .spawn()
        .expect("sleep");
    let exe = std::fs::read_link(format!("/proc/{}/exe", child.id()))
        .expect("exe")
        .display()
        .to_string();
    let record = run_one(
        r#"let by_name = proc::find("sleep").filter(|p| p.pid == vars::pid);
           let by_path = proc::find(vars::exe).filter(|p| p.pid == vars::pid);
           let p = by_name[0];
           pass(`${by_name.len()} ${by_path.len()} ${p.cmdline} ${p.user} ${proc::running("hs-no-such-process")}`)"#,
        &[("pid", child.id().to_string()), ("exe", exe)],
    );
    let _ = child.kill();
    let _ = child.wait();
    let user = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_default();
    assert_eq!(
        record["message"],
        format!("1 1 [\"sleep\", \"30.123\"] {user} false")
    );
}

#[test]
fn kernel_modules_use_the_real_kernel_and_a_fake_tree() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("proc")).expect("mkdir");
    std::fs::write(
        dir.path().join("proc/modules"),
        "macvlan 28672 0 - Live 0x0\n",
    )
    .expect("write");
    let record = run_one(
        r#"let fake = #{ root: vars::root, release: "6.1.0" };
           let real = kmod::state("macvlan");
           pass(`${kmod::state("macvlan", fake).state} ${kmod::state("macvtap", fake).state} | ${real.state} | ${real.reason}`)"#,
        &[("root", dir.path().display().to_string())],
    );
    let message = record["message"].as_str().unwrap_or_default().to_string();
    let parts: Vec<&str> = message.split(" | ").collect();
    assert_eq!(parts[0], "loaded unknown", "{message}");
    // On this machine: no /proc/modules, but /proc/config.gz says CONFIG_MACVLAN=y.
    let config = std::process::Command::new("sh")
        .args([
            "-c",
            "zcat /proc/config.gz 2>/dev/null | grep -x CONFIG_MACVLAN=y",
        ])
        .output();
    if config.is_ok_and(|o| o.status.success()) && !std::path::Path::new("/proc/modules").exists() {
        assert_eq!(parts[1], "builtin", "{message}");
        assert_eq!(parts[2], "CONFIG_MACVLAN=y in /proc/config.gz");
    } else {
        assert_ne!(parts[1], "", "{message}");
    }
}

#[test]
fn cpu_flags_and_free_space_come_from_the_kernel() {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").expect("cpuinfo");
    let has = |flag: &str| {
        cpuinfo
            .lines()
            .any(|l| l.starts_with("flags") && l.split_whitespace().any(|w| w == flag))
    };
    let expected_virt = if has("vmx") {
        "vmx"
    } else if has("svm") {
        "svm"
    } else {
        ""
    };
    let record = run_one(
        r#"let f = fs::free("/");
           pass(`${sys::cpu_virt()} ${sys::cpu_flags().len() > 0} ${f.bytes_total >= f.bytes_free} ${f.inodes_total > 0}`)"#,
        &[],
    );
    assert_eq!(
        record["message"],
        format!("{expected_virt} true true true").trim()
    );
}
