//! Connecting to a socket: TCP (`host:port`, `[v6]:port`) or unix (`unix:///path` or a plain
//! path), with a timeout. Used to tell "something is listening and accepts" from "a file or a
//! port number exists".

use std::time::{Duration, Instant};

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Tcp(String),
    Unix(String),
}

impl Endpoint {
    pub fn parse(target: &str) -> Result<Endpoint, String> {
        if let Some(path) = target.strip_prefix("unix://") {
            return Ok(Endpoint::Unix(path.to_string()));
        }
        if let Some(path) = target.strip_prefix("unix:") {
            return Ok(Endpoint::Unix(path.to_string()));
        }
        if target.starts_with('/') {
            return Ok(Endpoint::Unix(target.to_string()));
        }
        let (host, port) = target.rsplit_once(':').ok_or_else(|| {
            format!("target `{target}` is not host:port, [v6]:port or unix:///path")
        })?;
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(format!(
                "target `{target}` is not host:port, [v6]:port or unix:///path"
            ));
        }
        Ok(Endpoint::Tcp(target.to_string()))
    }
}

/// The outcome of one connection attempt; failing to connect is a result, not an error.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connected {
    pub ok: bool,
    #[serde(default)]
    pub error: Option<String>,
    /// What kind of failure `error` is.
    #[serde(default)]
    pub kind: Option<super::ErrorKind>,
    #[serde(default, rename = "duration_ms", with = "crate::host::millis")]
    pub duration: Duration,
}

pub async fn connect(endpoint: &Endpoint, timeout: Duration) -> Connected {
    let started = Instant::now();
    let attempt = async {
        match endpoint {
            Endpoint::Tcp(target) => tokio::net::TcpStream::connect(target.as_str())
                .await
                .map(drop),
            Endpoint::Unix(path) => tokio::net::UnixStream::connect(path).await.map(drop),
        }
    };
    let failure = match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) if is_dns_failure(&e) => Some((
            format!(
                "{}: DNS lookup failed: the name does not resolve ({e})",
                show(endpoint)
            ),
            super::ErrorKind::NotFound,
        )),
        Ok(Err(e)) => Some((describe(endpoint, &e), super::ErrorKind::of_io(&e))),
        Err(_) => Some((
            format!(
                "connecting to {} timed out after {}",
                show(endpoint),
                crate::text::human_duration(timeout)
            ),
            super::ErrorKind::Timeout,
        )),
    };
    tracing::debug!(
        target = %show(endpoint),
        ms = started.elapsed().as_millis() as u64,
        ok = failure.is_none(),
        "net::connect"
    );
    Connected {
        ok: failure.is_none(),
        kind: failure.as_ref().map(|(_, k)| *k),
        error: failure.map(|(m, _)| m),
        duration: started.elapsed(),
    }
}

/// getaddrinfo's failures reach tokio as "failed to lookup address information: ...".
fn is_dns_failure(e: &std::io::Error) -> bool {
    e.to_string()
        .contains("failed to lookup address information")
}

fn show(endpoint: &Endpoint) -> String {
    match endpoint {
        Endpoint::Tcp(t) => t.clone(),
        Endpoint::Unix(p) => format!("unix socket `{p}`"),
    }
}

fn describe(endpoint: &Endpoint, e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    let what = show(endpoint);
    match e.kind() {
        ErrorKind::ConnectionRefused => {
            format!("{what}: connection refused (nothing is listening)")
        }
        ErrorKind::NotFound => format!("{what}: no such socket"),
        ErrorKind::PermissionDenied => format!("{what}: permission denied"),
        _ => format!("{what}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_into_tcp_or_unix() {
        assert_eq!(
            Endpoint::parse("127.0.0.1:9090"),
            Ok(Endpoint::Tcp("127.0.0.1:9090".into()))
        );
        assert_eq!(
            Endpoint::parse("[::1]:9090"),
            Ok(Endpoint::Tcp("[::1]:9090".into()))
        );
        assert_eq!(
            Endpoint::parse("unix:///run/x.sock"),
            Ok(Endpoint::Unix("/run/x.sock".into()))
        );
        assert_eq!(
            Endpoint::parse("/run/x.sock"),
            Ok(Endpoint::Unix("/run/x.sock".into()))
        );
        assert!(Endpoint::parse("nohost").is_err());
        assert!(Endpoint::parse("host:99999").is_err());
    }
}
