//! A real containerd for the tests (Debian package, started by hand: systemd is not PID 1
//! here), on a unix socket in a temp dir, with images imported from OCI image-layout tars
//! built offline in Rust. Its devmapper snapshotter is configured for a pool this kernel
//! cannot have, so introspection reports containerd's real init error for it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

pub struct Containerd {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub config: PathBuf,
    /// Who runs it: the test itself, or a systemd unit of a test's user manager.
    runner: Runner,
}

enum Runner {
    Child(Child),
    /// The unit's name and the manager's `systemctl --user` wrapper.
    Unit(String, PathBuf),
    Stopped,
}

/// Whether the containerd binary is installed (scripts/test.sh installs it).
pub fn available() -> bool {
    Command::new("containerd")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

impl Containerd {
    /// A temp dir with a config for `pool_name`; nothing started yet.
    fn configure(pool_name: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::Builder::new()
            .prefix("hs-ctd")
            .tempdir()
            .expect("tempdir");
        let d = dir.path();
        let socket = d.join("containerd.sock");
        let config = d.join("config.toml");
        let devmapper = d.join("snapshotter/devmapper");
        std::fs::create_dir_all(&devmapper).expect("mkdir devmapper root");
        let text = format!(
            "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{sock}\"\n\
             [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{opt}\"\n\
             [plugins.\"io.containerd.snapshotter.v1.devmapper\"]\n  pool_name = \"{pool_name}\"\n  root_path = \"{devmapper}\"\n  base_image_size = \"10GB\"\n  discard_blocks = true\n",
            root = d.join("root").display(),
            state = d.join("state").display(),
            sock = socket.display(),
            opt = d.join("opt").display(),
            devmapper = devmapper.display(),
        );
        std::fs::write(&config, text).expect("write config");
        (dir, socket, config)
    }

    pub fn start(pool_name: &str) -> Containerd {
        let (dir, socket, config) = Containerd::configure(pool_name);
        let log = std::fs::File::create(dir.path().join("containerd.log")).expect("log");
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start containerd");
        let containerd = Containerd {
            dir,
            socket,
            config,
            runner: Runner::Child(child),
        };
        containerd.wait_ready();
        containerd
    }

    /// containerd as systemd runs it: unit `unit` of the test's user manager, `Type=notify`
    /// as upstream's containerd.service (containerd tells systemd when it serves), started
    /// with `systemctl --user start`, so the unit's states are systemd's own.
    pub fn start_as_unit(
        pool_name: &str,
        manager: &crate::support::user_manager::UserManager,
        unit: &str,
    ) -> Containerd {
        let (dir, socket, config) = Containerd::configure(pool_name);
        manager.write(
            &format!("{unit}.service"),
            &format!(
                "[Unit]\nDescription=containerd for a test host\n[Service]\nType=notify\nExecStart=/usr/bin/containerd --config {}\nStandardOutput=append:{}\nStandardError=inherit\n",
                config.display(),
                dir.path().join("containerd.log").display()
            ),
        );
        manager.reload();
        manager.ok(&["start", &format!("{unit}.service")]);
        let containerd = Containerd {
            dir,
            socket,
            config,
            runner: Runner::Unit(unit.to_string(), manager.systemctl_program()),
        };
        containerd.wait_ready();
        containerd
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let log =
            std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default();
        panic!(
            "containerd did not open {} within 20 s:\n{log}",
            self.socket.display()
        );
    }

    pub fn target(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// `ctr images import` of an offline-built image under `reference`, into `namespace`.
    pub fn import(&self, namespace: &str, reference: &str) {
        let tar = self
            .dir
            .path()
            .join(format!("image-{}.tar", reference.replace(['/', ':'], "_")));
        write_oci_image(&tar, reference);
        self.ctr(
            namespace,
            &["images", "import", tar.to_str().expect("utf-8")],
        );
    }

    pub fn remove_image(&self, namespace: &str, reference: &str) {
        self.ctr(namespace, &["images", "rm", reference]);
    }

    pub fn ctr(&self, namespace: &str, args: &[&str]) -> String {
        let out = Command::new("ctr")
            .args(["--connect-timeout", "2s", "--address"])
            .arg(&self.socket)
            .args(["--namespace", namespace])
            .args(args)
            .output()
            .expect("run ctr");
        assert!(
            out.status.success(),
            "ctr {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn stop(&mut self) {
        match &mut self.runner {
            Runner::Child(child) => {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap_or(0)),
                    nix::sys::signal::Signal::SIGTERM,
                );
                let deadline = Instant::now() + Duration::from_secs(5);
                while Instant::now() < deadline {
                    if let Ok(Some(_)) = child.try_wait() {
                        self.runner = Runner::Stopped;
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = child.kill();
                let _ = child.wait();
                self.runner = Runner::Stopped;
            }
            // The manager waits for the process to exit before `stop` returns.
            Runner::Unit(unit, systemctl) => {
                let _ = Command::new(&*systemctl)
                    .args(["stop", &format!("{unit}.service")])
                    .status();
            }
            Runner::Stopped => {}
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        self.stop();
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn platform_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        "x86_64" => "amd64",
        other => other,
    }
}

/// Writes an OCI image-layout tar: one gzip layer holding one small file, a config and a
/// manifest, named by the `io.containerd.image.name` annotation.
pub fn write_oci_image(path: &Path, reference: &str) {
    let mut layer = tar::Builder::new(Vec::new());
    let body = format!("image {reference}\n");
    let mut header = tar::Header::new_gnu();
    header.set_size(body.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    layer
        .append_data(&mut header, "etc/hostscript-test", body.as_bytes())
        .expect("layer file");
    let layer = layer.into_inner().expect("layer tar");
    let diff_id = sha256_hex(&layer);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&layer).expect("gzip");
    let layer_gz = gz.finish().expect("gzip");

    let config = serde_json::json!({
        "architecture": platform_arch(),
        "os": "linux",
        "config": {},
        "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{diff_id}")] }
    })
    .to_string();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{}", sha256_hex(config.as_bytes())), "size": config.len() },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": format!("sha256:{}", sha256_hex(&layer_gz)), "size": layer_gz.len() }]
    })
    .to_string();
    let tag = reference
        .rsplit_once(':')
        .map(|(_, t)| t)
        .unwrap_or("latest");
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{}", sha256_hex(manifest.as_bytes())),
            "size": manifest.len(),
            "annotations": { "io.containerd.image.name": reference, "org.opencontainers.image.ref.name": tag },
            "platform": { "architecture": platform_arch(), "os": "linux" }
        }]
    })
    .to_string();

    let mut out = tar::Builder::new(std::fs::File::create(path).expect("create tar"));
    let mut add = |name: &str, bytes: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        out.append_data(&mut header, name, bytes).expect("append");
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    add("index.json", index.as_bytes());
    for blob in [layer_gz.as_slice(), config.as_bytes(), manifest.as_bytes()] {
        add(&format!("blobs/sha256/{}", sha256_hex(blob)), blob);
    }
    out.finish().expect("finish tar");
}
