//! The state of a kernel module: `loaded`, `builtin`, `absent`, or `unknown` with the reason.
//!
//! Sources, in order: /proc/modules (loaded modules), /sys/module/NAME (a loadable module has
//! `initstate`; a built-in one shows up only if it has parameters), modules.builtin, and the
//! kernel's own config (/proc/config.gz or /boot/config-RELEASE) for modules whose config
//! symbol is known. A kernel without module support has no /proc/modules at all, so absence
//! from it proves nothing: without another source the answer is `unknown`, never `absent`.

use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Loaded,
    Builtin,
    Absent,
    Unknown,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Loaded => "loaded",
            State::Builtin => "builtin",
            State::Absent => "absent",
            State::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleState {
    pub name: String,
    pub state: State,
    /// Which source decided, or why none could.
    #[serde(default)]
    pub reason: String,
}

/// Where to look: `/` on a real host, a fake tree in tests.
#[derive(Debug, Clone)]
pub struct Probe {
    pub root: PathBuf,
    pub release: String,
    /// Config symbol to consult, overriding the built-in table (`CONFIG_MACVLAN`).
    pub config_symbol: Option<String>,
}

/// Config symbols of the modules a Flintlock host cares about.
const CONFIG_SYMBOLS: &[(&str, &str)] = &[
    ("bridge", "CONFIG_BRIDGE"),
    ("br_netfilter", "CONFIG_BRIDGE_NETFILTER"),
    ("dm_mod", "CONFIG_BLK_DEV_DM"),
    ("dm_thin_pool", "CONFIG_DM_THIN_PROVISIONING"),
    ("kvm", "CONFIG_KVM"),
    ("kvm_amd", "CONFIG_KVM_AMD"),
    ("kvm_intel", "CONFIG_KVM_INTEL"),
    ("loop", "CONFIG_BLK_DEV_LOOP"),
    ("macvlan", "CONFIG_MACVLAN"),
    ("macvtap", "CONFIG_MACVTAP"),
    ("overlay", "CONFIG_OVERLAY_FS"),
    ("tap", "CONFIG_TAP"),
    ("tun", "CONFIG_TUN"),
    ("veth", "CONFIG_VETH"),
    ("vhost_net", "CONFIG_VHOST_NET"),
    ("vhost_vsock", "CONFIG_VHOST_VSOCK"),
    ("vxlan", "CONFIG_VXLAN"),
];

impl Probe {
    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel.trim_start_matches('/'))
    }

    pub fn state(&self, name: &str) -> ModuleState {
        let name = name.replace('-', "_");
        let decided = |state: State, reason: String| ModuleState {
            name: name.clone(),
            state,
            reason,
        };

        let proc_modules = self.path("/proc/modules");
        let module_support = proc_modules.exists();
        if let Ok(text) = std::fs::read_to_string(&proc_modules)
            && text
                .lines()
                .any(|l| l.split_whitespace().next() == Some(name.as_str()))
        {
            return decided(State::Loaded, "listed in /proc/modules".into());
        }
        let sys_dir = self.path(&format!("/sys/module/{name}"));
        if sys_dir.is_dir() {
            return if sys_dir.join("initstate").exists() {
                decided(
                    State::Loaded,
                    format!("/sys/module/{name}/initstate exists"),
                )
            } else {
                decided(
                    State::Builtin,
                    format!("/sys/module/{name} exists without initstate (built in)"),
                )
            };
        }
        let builtin_list = self.path(&format!("/lib/modules/{}/modules.builtin", self.release));
        let builtin_known = match std::fs::read_to_string(&builtin_list) {
            Ok(text) => {
                let listed = text.lines().any(|l| {
                    Path::new(l.trim())
                        .file_stem()
                        .and_then(|s| s.to_str())
                        .map(|s| s.replace('-', "_"))
                        == Some(name.clone())
                });
                if listed {
                    return decided(State::Builtin, "listed in modules.builtin".into());
                }
                true
            }
            Err(_) => false,
        };
        let symbol = self.config_symbol.clone().or_else(|| {
            CONFIG_SYMBOLS
                .iter()
                .find(|(m, _)| *m == name)
                .map(|(_, s)| s.to_string())
        });
        if let Some(symbol) = symbol
            && let Some((source, config)) = self.kernel_config()
        {
            return match config_value(&config, &symbol) {
                Some("y") => decided(State::Builtin, format!("{symbol}=y in {source}")),
                Some("m") if module_support => decided(
                    State::Absent,
                    format!("{symbol}=m in {source}: built as a module, not loaded"),
                ),
                _ if module_support => {
                    decided(State::Absent, format!("{symbol} is not set in {source}"))
                }
                _ => decided(
                    State::Absent,
                    format!("{symbol} is not set in {source} and this kernel cannot load modules"),
                ),
            };
        }
        match (module_support, builtin_known) {
            (true, true) => decided(
                State::Absent,
                "not in /proc/modules nor modules.builtin".into(),
            ),
            (true, false) => decided(
                State::Unknown,
                format!(
                    "not loaded, and there is no modules.builtin or kernel config to tell whether `{name}` is built in"
                ),
            ),
            (false, _) => decided(
                State::Unknown,
                format!(
                    "this kernel has no module support (no /proc/modules) and publishes no config that names `{name}`"
                ),
            ),
        }
    }

    /// The kernel config text and where it came from.
    fn kernel_config(&self) -> Option<(String, String)> {
        let gz = self.path("/proc/config.gz");
        if let Ok(file) = std::fs::File::open(&gz) {
            let mut text = String::new();
            if flate2::read::GzDecoder::new(file)
                .read_to_string(&mut text)
                .is_ok()
            {
                return Some(("/proc/config.gz".into(), text));
            }
        }
        let boot = format!("/boot/config-{}", self.release);
        std::fs::read_to_string(self.path(&boot))
            .ok()
            .map(|text| (boot, text))
    }
}

/// `y`, `m` or a value for `SYMBOL=...`; `None` for "is not set" or not present.
fn config_value<'a>(config: &'a str, symbol: &str) -> Option<&'a str> {
    config.lines().find_map(|l| {
        l.strip_prefix(symbol)
            .and_then(|rest| rest.strip_prefix('='))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn probe(root: &Path) -> Probe {
        Probe {
            root: root.to_path_buf(),
            release: "6.1.0-test".into(),
            config_symbol: None,
        }
    }

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    #[test]
    fn a_modular_kernel_reports_loaded_builtin_and_absent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        write(
            root,
            "proc/modules",
            "macvlan 28672 1 macvtap, Live 0x0000000000000000\nmacvtap 16384 0 - Live 0x0\n",
        );
        write(root, "sys/module/macvlan/initstate", "live\n");
        write(root, "sys/module/bridge/parameters/x", "");
        write(
            root,
            "lib/modules/6.1.0-test/modules.builtin",
            "kernel/drivers/net/tun.ko\nkernel/drivers/md/dm-mod.ko\n",
        );
        let p = probe(root);
        assert_eq!(p.state("macvlan").state, State::Loaded);
        assert_eq!(p.state("bridge").state, State::Builtin);
        assert_eq!(p.state("tun").state, State::Builtin);
        assert_eq!(
            p.state("dm-mod").state,
            State::Builtin,
            "dashes and underscores are the same module"
        );
        let absent = p.state("dm_thin_pool");
        assert_eq!(absent.state, State::Absent, "{}", absent.reason);
    }

    #[test]
    fn a_monolithic_kernel_without_config_is_unknown_never_absent() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "sys/module/kvm/parameters/halt_poll_ns", "0\n");
        let p = probe(dir.path());
        assert_eq!(p.state("kvm").state, State::Builtin);
        let macvlan = p.state("macvlan");
        assert_eq!(macvlan.state, State::Unknown);
        assert!(
            macvlan.reason.contains("no module support"),
            "{}",
            macvlan.reason
        );
    }

    #[test]
    fn kernel_config_decides_for_known_symbols() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("proc")).expect("mkdir");
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(root.join("proc/config.gz")).expect("create"),
            flate2::Compression::fast(),
        );
        gz.write_all(
            b"# CONFIG_MODULES is not set\nCONFIG_MACVLAN=y\n# CONFIG_MACVTAP is not set\n",
        )
        .expect("gz");
        gz.finish().expect("finish");
        let p = probe(root);
        let macvlan = p.state("macvlan");
        assert_eq!(
            (macvlan.state, macvlan.reason.as_str()),
            (State::Builtin, "CONFIG_MACVLAN=y in /proc/config.gz")
        );
        let macvtap = p.state("macvtap");
        assert_eq!(macvtap.state, State::Absent);
        assert!(
            macvtap.reason.contains("cannot load modules"),
            "{}",
            macvtap.reason
        );
        assert_eq!(p.state("some_unlisted_module").state, State::Unknown);
        let custom = Probe {
            config_symbol: Some("CONFIG_MACVLAN".into()),
            ..probe(root)
        }
        .state("my_alias");
        assert_eq!(custom.state, State::Builtin);
    }

    #[test]
    fn boot_config_with_a_module_build_means_loadable_but_absent() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "proc/modules", "");
        write(
            dir.path(),
            "boot/config-6.1.0-test",
            "CONFIG_DM_THIN_PROVISIONING=m\n",
        );
        let s = probe(dir.path()).state("dm_thin_pool");
        assert_eq!(s.state, State::Absent);
        assert!(
            s.reason.contains("built as a module, not loaded"),
            "{}",
            s.reason
        );
    }
}
