//! `cargo bench --bench primitives`: the median cost of one call of each host primitive, as a
//! script pays it (through the Rhai engine), measured in one run with the calls interleaved.
//! Device-mapper and systemd go through the test suite's fake `dmsetup` and `systemctl` (shell
//! scripts printing real-format output), so their figures are dominated by starting a process.

use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hostscript::script::engine::{self, Capability, EngineOptions};
use hostscript::vars::Vars;

fn main() {
    let rounds: usize = std::env::var("HOSTSCRIPT_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(101);
    let dir = tempfile::tempdir().expect("tempdir");
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let dm_dir = dir.path().join("dm");
    std::fs::create_dir_all(dm_dir.join("status")).expect("mkdir");
    std::fs::write(dm_dir.join("ls"), "flintlock-dev-thinpool\t(253:0)\n").expect("write");
    std::fs::write(
        dm_dir.join("status/flintlock-dev-thinpool"),
        "0 209715200 thin-pool 0 1245/2621440 10240/1638400 - rw discard_passdown queue_if_no_space - 1024\n",
    )
    .expect("write");
    let systemd_dir = dir.path().join("systemd");
    std::fs::create_dir_all(&systemd_dir).expect("mkdir");
    std::fs::copy(
        format!("{fixtures}/systemd/flintlockd.service"),
        systemd_dir.join("flintlockd.service"),
    )
    .expect("copy");
    // SAFETY: set before any other thread of this process exists.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var("FAKE_DM_DIR", &dm_dir);
        std::env::set_var("FAKE_SYSTEMD_DIR", &systemd_dir);
        std::env::set_var("HOSTSCRIPT_DMSETUP", format!("{fixtures}/bin/dmsetup"));
        std::env::set_var("HOSTSCRIPT_SYSTEMCTL", format!("{fixtures}/bin/systemctl"));
    }
    let tcp = TcpListener::bind("127.0.0.1:0").expect("tcp");
    let sock = dir.path().join("bench.sock");
    let _unix = UnixListener::bind(&sock).expect("unix");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut vars = Vars::default();
    vars.set("tcp", tcp.local_addr().expect("addr").to_string().into());
    vars.set("sock", sock.display().to_string().into());
    let engine = engine::build(EngineOptions {
        capability: Capability::ReadOnly,
        roots: vec![dir.path().to_path_buf()],
        lib_fallbacks: Vec::new(),
        vars: Arc::new(vars),
        runtime: runtime.handle().clone(),
    });

    let calls: Vec<(&str, &str)> = vec![
        ("fs::stat", r#"fs::stat("/dev/null")"#),
        ("fs::access", r#"fs::access("/dev/null", "root", "rw")"#),
        ("fs::read (small file)", r#"fs::read("/etc/hostname")"#),
        ("fs::free", r#"fs::free("/")"#),
        ("cmd::which", r#"cmd::which("sh")"#),
        ("cmd::run (true)", r#"cmd::run(["true"])"#),
        ("dm::list (fake dmsetup)", "dm::list()"),
        (
            "dm::status (fake dmsetup)",
            r#"dm::status("flintlock-dev-thinpool")"#,
        ),
        (
            "systemd::unit (fake systemctl)",
            r#"systemd::unit("flintlockd")"#,
        ),
        ("link::get (lo)", r#"link::get("lo")"#),
        ("link::list", "link::list()"),
        ("net::listeners", "net::listeners()"),
        ("net::listening (port)", "net::listening(9)"),
        ("net::unix_listening", "net::unix_listening(vars::sock)"),
        ("net::connect (tcp)", "net::connect(vars::tcp)"),
        ("net::connect (unix)", "net::connect(vars::sock)"),
        ("proc::find", r#"proc::find("sh")"#),
        ("kmod::state", r#"kmod::state("macvlan")"#),
        ("sys::cpu_virt", "sys::cpu_virt()"),
        (
            "toml::parse (containerd config)",
            r#"toml::parse("version = 2\n[plugins.\"io.containerd.snapshotter.v1.devmapper\"]\npool_name = \"p\"\n")"#,
        ),
    ];
    let compiled: Vec<(&str, rhai::AST)> = calls
        .iter()
        .map(|(name, src)| (*name, engine.compile(src).expect("compiles")))
        .collect();
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); compiled.len()];
    // The primitives block on the runtime, so they run on a plain thread, as checks do.
    std::thread::scope(|s| {
        s.spawn(|| {
            for (_, ast) in &compiled {
                let _warm = engine
                    .eval_ast::<rhai::Dynamic>(ast)
                    .expect("warm-up call succeeds");
            }
            for _ in 0..rounds {
                for (i, (_, ast)) in compiled.iter().enumerate() {
                    let started = Instant::now();
                    let result = engine.eval_ast::<rhai::Dynamic>(ast);
                    samples[i].push(started.elapsed());
                    let _value = result.expect("call succeeds");
                }
            }
        });
    });
    println!("Median cost of one call through the Rhai engine, {rounds} interleaved rounds:\n");
    println!("| primitive | median | p90 |");
    println!("|---|---|---|");
    for ((name, _), mut times) in compiled.iter().zip(samples) {
        times.sort();
        let us = |d: Duration| {
            let us = d.as_secs_f64() * 1e6;
            if us >= 1000.0 {
                format!("{:.2} ms", us / 1000.0)
            } else {
                format!("{us:.1} µs")
            }
        };
        println!(
            "| {name} | {} | {} |",
            us(times[times.len() / 2]),
            us(times[times.len() * 9 / 10])
        );
    }
}
