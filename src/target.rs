//! `--target HOST[:PORT]`: which host a run looks at. A target that names this machine
//! (`localhost`, `127.0.0.1`, `::1`) is local: every check runs, against that endpoint. Any
//! other host is remote: only checks declared `remote: true` run, and the rest are skipped as
//! local-only. The core knows nothing of what is looked at on that host: it sets the vars
//! `remote`, `target` and `target_port` (when the target names one), and the suite's own
//! library derives its endpoints from them (checks/lib/flintlock.rhai `endpoint()`).

use crate::vars::Vars;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunTarget {
    pub host: String,
    pub port: Option<u16>,
}

impl RunTarget {
    /// `host`, `host:port`, `[v6addr]` or `[v6addr]:port`.
    pub fn parse(text: &str) -> Result<RunTarget, String> {
        let bad = |why: &str| format!("`{text}` {why}; expected HOST or HOST:PORT");
        let text = text.trim();
        if text.is_empty() {
            return Err(bad("is empty"));
        }
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| bad("has no closing `]`"))?;
            match after {
                "" => (host, None),
                _ => (
                    host,
                    Some(
                        after
                            .strip_prefix(':')
                            .ok_or_else(|| bad("has text after `]`"))?,
                    ),
                ),
            }
        } else if text.matches(':').count() > 1 {
            // A bare IPv6 address: there is no way to tell a port from the last group.
            (text, None)
        } else {
            match text.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (text, None),
            }
        };
        if host.is_empty() || host.contains(['/', ' ']) {
            return Err(bad("is not a host name or address"));
        }
        let port = match port {
            None => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| bad(&format!("has port `{p}`, not 1-65535")))?,
            ),
        };
        Ok(RunTarget {
            host: host.to_string(),
            port,
        })
    }

    /// Whether the target is this machine, so local-only checks still make sense.
    pub fn is_local(&self) -> bool {
        let host = self.host.to_ascii_lowercase();
        // Any spelling of a loopback address (`::01`, `0:0:0:0:0:0:0:1`, `127.1.2.3`) is local.
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

/// Sets `remote`, and with a target `target` (the host) and `target_port` (when given).
pub fn apply(vars: &mut Vars, target: Option<&RunTarget>) {
    let remote = target.is_some_and(|t| !t.is_local());
    vars.set("remote", toml::Value::Boolean(remote));
    let Some(target) = target else { return };
    vars.set("target", toml::Value::String(target.host.clone()));
    if let Some(port) = target.port {
        vars.set("target_port", toml::Value::Integer(i64::from(port)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> RunTarget {
        RunTarget::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn hosts_ports_and_ipv6_forms() {
        assert_eq!(parse("node1").port, None);
        assert_eq!(parse("node1:9091").port, Some(9091));
        assert_eq!(parse("[fd00::1]:9091").host, "fd00::1");
        assert_eq!(parse("fd00::1").port, None);
        assert!(RunTarget::parse("node1:0").is_err());
        assert!(RunTarget::parse("node1:http").is_err());
        assert!(RunTarget::parse("").is_err());
        assert!(RunTarget::parse("[::1").is_err());
    }

    #[test]
    fn loopback_names_are_local_and_everything_else_remote() {
        for local in [
            "localhost",
            "LOCALHOST:9090",
            "127.0.0.1",
            "127.0.0.2:1",
            "[::1]:9090",
            "::01",
            "[0:0:0:0:0:0:0:1]:9090",
        ] {
            assert!(parse(local).is_local(), "{local}");
        }
        for remote in [
            "10.0.0.5",
            "node1:9090",
            "[fd00::1]:9090",
            "localhost.example",
        ] {
            assert!(!parse(remote).is_local(), "{remote}");
        }
    }

    #[test]
    fn a_target_sets_host_port_and_mode_and_nothing_else() {
        let mut vars = Vars::default();
        apply(&mut vars, Some(&parse("10.0.0.5")));
        assert_eq!(
            vars.get("target").and_then(|v| v.as_str()),
            Some("10.0.0.5")
        );
        assert_eq!(vars.get("target_port"), None);
        assert_eq!(vars.get("remote").and_then(|v| v.as_bool()), Some(true));
        assert_eq!(vars.get("flintlock_endpoint"), None);
        apply(&mut vars, Some(&parse("[::1]:7000")));
        assert_eq!(
            vars.get("target_port").and_then(|v| v.as_integer()),
            Some(7000)
        );
        assert_eq!(vars.get("remote").and_then(|v| v.as_bool()), Some(false));
    }
}
