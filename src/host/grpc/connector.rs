//! Opens the byte stream a gRPC channel runs over: TCP or a unix socket, optionally wrapped in
//! TLS (rustls) with a CA, a client certificate, a server name, or verification skipped on
//! explicit request. One connector serves every kind, so TLS over a unix socket works too.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// Where a gRPC server listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    Tcp { host: String, port: u16 },
    Unix(PathBuf),
}

impl Target {
    /// `host:port`, `[v6addr]:port`, or `unix:///path` (also `unix:relative`).
    pub fn parse(text: &str) -> Result<Target, String> {
        if let Some(path) = text
            .strip_prefix("unix://")
            .or_else(|| text.strip_prefix("unix:"))
        {
            if path.is_empty() {
                return Err(format!("target `{text}` names no socket path"));
            }
            return Ok(Target::Unix(PathBuf::from(path)));
        }
        let bad = || format!("target `{text}` is not host:port, [v6addr]:port or unix:///path");
        let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() || host.contains(['/', ' ']) {
            return Err(bad());
        }
        Ok(Target::Tcp {
            host: host.to_string(),
            port,
        })
    }

    /// The URI tonic puts in `:authority`.
    pub fn uri(&self) -> String {
        match self {
            Target::Tcp { host, port } if host.contains(':') => format!("http://[{host}]:{port}"),
            Target::Tcp { host, port } => format!("http://{host}:{port}"),
            Target::Unix(_) => "http://localhost".to_string(),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Target::Tcp { host, port } => write!(f, "{host}:{port}"),
            Target::Unix(path) => write!(f, "unix://{}", path.display()),
        }
    }
}

/// TLS settings of a call; `None` means plaintext.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    pub skip_verify: bool,
}

/// A stream of any kind the connector may return.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

pub type BoxedIo = Pin<Box<dyn Io>>;

/// What the connector needs for every new connection; built once per channel.
#[derive(Clone)]
pub struct Connector {
    pub target: Target,
    pub tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl Connector {
    pub fn new(target: Target, tls: Option<&TlsOptions>) -> Result<Connector, String> {
        let tls = match tls {
            None => None,
            Some(options) => {
                let name = options
                    .server_name
                    .clone()
                    .unwrap_or_else(|| match &target {
                        Target::Tcp { host, .. } => host.clone(),
                        Target::Unix(_) => "localhost".to_string(),
                    });
                let server_name = ServerName::try_from(name.clone())
                    .map_err(|e| format!("tls: `{name}` is not a valid server name: {e}"))?;
                Some((
                    TlsConnector::from(Arc::new(client_config(options)?)),
                    server_name,
                ))
            }
        };
        Ok(Connector { target, tls })
    }

    pub async fn connect(self) -> std::io::Result<BoxedIo> {
        let plain: BoxedIo = match &self.target {
            Target::Tcp { host, port } => {
                let stream = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
                stream.set_nodelay(true)?;
                Box::pin(stream)
            }
            Target::Unix(path) => Box::pin(tokio::net::UnixStream::connect(path).await?),
        };
        match self.tls {
            None => Ok(plain),
            Some((connector, name)) => {
                let tls = connector
                    .connect(name, plain)
                    .await
                    .map_err(|e| std::io::Error::new(e.kind(), TlsHandshakeError(e.to_string())))?;
                Ok(Box::pin(tls))
            }
        }
    }
}

/// Marks a TLS handshake failure so error messages can say so.
#[derive(Debug)]
pub struct TlsHandshakeError(pub String);

impl std::fmt::Display for TlsHandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TLS handshake failed: {}", self.0)
    }
}

impl std::error::Error for TlsHandshakeError {}

fn client_config(options: &TlsOptions) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?;
    let builder = if options.skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
    } else {
        let ca = options.ca.as_ref().ok_or(
            "tls: give `ca` (a PEM file of the CA that signed the server's certificate) or `skip_verify: true`",
        )?;
        let mut roots = RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(ca)
            .map_err(|e| format!("tls: reading CA `{}`: {e}", ca.display()))?;
        for cert in certs {
            let cert = cert.map_err(|e| format!("tls: reading CA `{}`: {e}", ca.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("tls: CA `{}`: {e}", ca.display()))?;
        }
        builder.with_root_certificates(roots)
    };
    let mut config = match (&options.cert, &options.key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("tls: reading certificate `{}`: {e}", cert.display()))?;
            // The key's contents are secret in every output from here on.
            if let Ok(text) = std::fs::read_to_string(key) {
                crate::secrets::add_private_keys(&text);
            }
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("tls: reading key `{}`: {e}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("tls: client certificate: {e}"))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err("tls: `cert` and `key` go together".to_string()),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// Accepts any server certificate: only with `skip_verify: true`, which the caller asked for.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_tcp_v6_and_unix() {
        assert_eq!(
            Target::parse("127.0.0.1:9090"),
            Ok(Target::Tcp {
                host: "127.0.0.1".into(),
                port: 9090
            })
        );
        assert_eq!(
            Target::parse("[::1]:9090"),
            Ok(Target::Tcp {
                host: "::1".into(),
                port: 9090
            })
        );
        assert_eq!(
            Target::parse("[::1]:9090").map(|t| t.to_string()),
            Ok("[::1]:9090".to_string())
        );
        assert_eq!(
            Target::parse("unix:///run/containerd/containerd.sock"),
            Ok(Target::Unix("/run/containerd/containerd.sock".into()))
        );
        assert!(Target::parse("localhost").is_err());
        assert!(Target::parse("host:notaport").is_err());
        assert!(Target::parse("unix://").is_err());
    }

    #[test]
    fn tls_without_a_ca_or_skip_verify_is_refused() {
        let err = Connector::new(
            Target::Tcp {
                host: "h".into(),
                port: 1,
            },
            Some(&TlsOptions::default()),
        )
        .err()
        .expect("needs a CA");
        assert!(err.contains("give `ca`"), "{err}");
    }
}
