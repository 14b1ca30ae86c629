//! `--target HOST[:PORT]`: which host a run looks at. A target that names this machine
//! (`localhost`, `127.0.0.1`, `::1`) is local: every check runs, against that endpoint. Any
//! other host is remote: only checks declared `remote: true` run, and the rest are skipped as
//! local-only. Either way the target becomes the `flintlock_endpoint` var, and the `remote` var
//! tells scripts which mode they are in.

use crate::vars::Vars;

/// The port flintlockd listens on when neither the target nor the vars say otherwise.
const DEFAULT_FLINTLOCK_PORT: u16 = 9090;

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

    /// `host:port` (bracketed for IPv6) with `port` as the fallback.
    fn endpoint(&self, port: u16) -> String {
        let port = self.port.unwrap_or(port);
        if self.host.contains(':') {
            format!("[{}]:{port}", self.host)
        } else {
            format!("{}:{port}", self.host)
        }
    }
}

/// Sets `remote`, and with a target `flintlock_endpoint` (keeping the vars' port when the
/// target names none) and `target`.
pub fn apply(vars: &mut Vars, target: Option<&RunTarget>) {
    let remote = target.is_some_and(|t| !t.is_local());
    vars.set("remote", toml::Value::Boolean(remote));
    let Some(target) = target else { return };
    let port = vars
        .get("flintlock_endpoint")
        .and_then(|v| v.as_str())
        .and_then(|e| e.rsplit_once(':'))
        .and_then(|(_, p)| p.parse::<u16>().ok())
        .unwrap_or(DEFAULT_FLINTLOCK_PORT);
    vars.set(
        "flintlock_endpoint",
        toml::Value::String(target.endpoint(port)),
    );
    vars.set("target", toml::Value::String(target.host.clone()));
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
    fn the_endpoint_keeps_the_vars_port_unless_the_target_names_one() {
        let mut vars = Vars::default();
        vars.set(
            "flintlock_endpoint",
            toml::Value::String("0.0.0.0:9191".into()),
        );
        apply(&mut vars, Some(&parse("10.0.0.5")));
        assert_eq!(
            vars.get("flintlock_endpoint").and_then(|v| v.as_str()),
            Some("10.0.0.5:9191")
        );
        assert_eq!(vars.get("remote").and_then(|v| v.as_bool()), Some(true));
        apply(&mut vars, Some(&parse("[::1]:7000")));
        assert_eq!(
            vars.get("flintlock_endpoint").and_then(|v| v.as_str()),
            Some("[::1]:7000")
        );
        assert_eq!(vars.get("remote").and_then(|v| v.as_bool()), Some(false));
    }
}
