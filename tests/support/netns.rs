//! `TestNetns`: a network namespace a test creates (deleted when dropped), with `ip -n` helpers
//! and a way to bind a TCP listener inside it.

use std::process::Command;

use serde_json::Value;

pub struct TestNetns {
    pub name: String,
}

impl TestNetns {
    pub fn new(tag: &str) -> TestNetns {
        // Several tests of one process may want a namespace with the same tag at once.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("hs-{tag}-{}-{n}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name]);
        TestNetns { name }
    }

    /// `ip -n NAME ARGS`, which must succeed.
    pub fn ip(&self, args: &[&str]) {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        ip(&full);
    }

    /// `ip -n NAME -j ARGS`, parsed.
    pub fn ip_json(&self, args: &[&str]) -> Vec<Value> {
        let mut full = vec!["-n", self.name.as_str(), "-j"];
        full.extend_from_slice(args);
        let out = Command::new("ip").args(&full).output().expect("ip");
        assert!(
            out.status.success(),
            "ip {full:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("ip -j output")
    }

    /// A TCP listener bound inside the namespace (a socket belongs to the namespace of the
    /// thread that creates it).
    pub fn bind(&self, address: &str) -> std::net::TcpListener {
        let path = format!("/run/netns/{}", self.name);
        let address = address.to_string();
        std::thread::spawn(move || {
            let netns = std::fs::File::open(&path).expect("open netns");
            nix::sched::setns(&netns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            std::net::TcpListener::bind(&address).expect("bind in netns")
        })
        .join()
        .expect("bind thread")
    }
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
