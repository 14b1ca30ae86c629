//! Dynamic gRPC, the way grpcurl does it: call any method with messages built at run time.
//! Method descriptors come from the server's reflection when it offers it (cached per target),
//! else from descriptor-set files the operator names, else from the descriptors compiled into
//! the binary from `proto/` (containerd offers no reflection). Channels are cached per target
//! and TLS setting, so one run opens one connection per server.

pub mod codec;
pub mod connector;
pub mod reflection;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor, ServiceDescriptor};
use tonic::metadata::{MetadataKey, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use connector::{Connector, TlsHandshakeError};
pub use connector::{Target, TlsOptions};
use reflection::Version;

/// The encoded descriptor set of everything under `proto/`, built by build.rs.
static EMBEDDED_DESCRIPTORS: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/hostscript_descriptors.bin"));

/// Options of one call.
#[derive(Debug, Clone)]
pub struct CallOptions {
    pub timeout: Duration,
    pub metadata: Vec<(String, String)>,
    pub tls: Option<TlsOptions>,
    /// Ask the server for descriptors before using local ones.
    pub reflection: bool,
    /// Descriptor-set files (`protoc --include_imports --descriptor_set_out`) to consult.
    pub descriptor_sets: Vec<PathBuf>,
}

impl CallOptions {
    pub fn new(timeout: Duration) -> Self {
        CallOptions {
            timeout,
            metadata: Vec::new(),
            tls: None,
            reflection: true,
            descriptor_sets: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrpcError {
    #[error("{0}")]
    BadInput(String),
    #[error("{target}: connection refused (nothing is listening)")]
    Refused { target: String },
    #[error("{target}: no such socket")]
    NoSocket { target: String },
    #[error("{target}: {message}")]
    Connect { target: String, message: String },
    #[error("{target}: {message} (a plaintext server spoken to with TLS? drop `tls`)")]
    Tls { target: String, message: String },
    #[error(
        "{target}: connection closed before the server's HTTP/2 preface (a TLS server spoken to in plaintext? set `tls`)"
    )]
    NoPreface { target: String },
    #[error(
        "{target}: connection closed before the server answered (a TLS server spoken to in plaintext? set `tls`)"
    )]
    Closed { target: String },
    #[error("{target} {method}: deadline exceeded after {}", crate::text::human_duration(*after))]
    Deadline {
        target: String,
        method: String,
        after: Duration,
    },
    #[error("{target} {method}: unimplemented: the server does not serve this method")]
    Unimplemented { target: String, method: String },
    #[error("{target} {method}: status {code}: {message}")]
    Status {
        target: String,
        method: String,
        code: String,
        message: String,
    },
    #[error("unknown service `{service}`: {why}")]
    UnknownService { service: String, why: String },
    #[error("service `{service}` has no method `{method}` (it has: {available})")]
    UnknownMethod {
        service: String,
        method: String,
        available: String,
    },
    #[error("{target} offers no server reflection (tried grpc.reflection.v1 and v1alpha)")]
    NoReflection { target: String },
}

impl GrpcError {
    /// The gRPC status code name, when the server answered with one. Our own deadline
    /// running out is no answer: a server that never answered has no code.
    pub fn code(&self) -> Option<&str> {
        match self {
            GrpcError::Status { code, .. } => Some(code),
            GrpcError::Unimplemented { .. } => Some("Unimplemented"),
            _ => None,
        }
    }
}

/// The answer of a call: one message, or every message of a server stream.
pub enum Reply {
    Unary(DynamicMessage),
    Stream(Vec<DynamicMessage>),
}

type ChannelKey = (Target, Option<TlsOptions>);

/// The process-wide client: one per run, so connections and descriptors are reused.
pub struct Client {
    embedded: DescriptorPool,
    channels: Mutex<HashMap<ChannelKey, Channel>>,
    versions: Mutex<HashMap<ChannelKey, Option<Version>>>,
    reflected: Mutex<HashMap<(ChannelKey, String), DescriptorPool>>,
    sets: Mutex<HashMap<PathBuf, DescriptorPool>>,
}

static CLIENT: LazyLock<Client> = LazyLock::new(Client::new);

pub fn client() -> &'static Client {
    &CLIENT
}

impl Client {
    fn new() -> Client {
        Client {
            // build.rs produced these bytes from proto/ moments before; they always decode.
            embedded: DescriptorPool::decode(EMBEDDED_DESCRIPTORS).unwrap_or_default(),
            channels: Mutex::default(),
            versions: Mutex::default(),
            reflected: Mutex::default(),
            sets: Mutex::default(),
        }
    }

    pub fn embedded(&self) -> &DescriptorPool {
        &self.embedded
    }

    fn channel(
        &self,
        target: &Target,
        tls: Option<&TlsOptions>,
        timeout: Duration,
    ) -> Result<Channel, GrpcError> {
        let key = (target.clone(), tls.cloned());
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(channel) = channels.get(&key) {
            return Ok(channel.clone());
        }
        let connector = Connector::new(target.clone(), tls).map_err(GrpcError::BadInput)?;
        let endpoint = Endpoint::from_shared(target.uri())
            .map_err(|e| GrpcError::BadInput(format!("target `{target}`: {e}")))?
            .connect_timeout(timeout);
        let channel = endpoint.connect_with_connector_lazy(tower::service_fn(move |_| {
            let connector = connector.clone();
            async move { connector.connect().await.map(hyper_util::rt::TokioIo::new) }
        }));
        channels.insert(key, channel.clone());
        Ok(channel)
    }

    /// The reflection version the server speaks, detected once per target.
    async fn reflection_version(
        &self,
        key: &ChannelKey,
        channel: &Channel,
        ask: &reflection::Ask<'_>,
    ) -> Result<Option<Version>, Status> {
        if let Some(known) = self
            .versions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
        {
            return Ok(*known);
        }
        let version = reflection::detect(channel, ask).await?;
        self.versions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.clone(), version);
        Ok(version)
    }

    fn descriptor_set(&self, path: &Path) -> Result<DescriptorPool, GrpcError> {
        let mut sets = self.sets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pool) = sets.get(path) {
            return Ok(pool.clone());
        }
        let bytes = std::fs::read(path).map_err(|e| {
            GrpcError::BadInput(format!("descriptor set `{}`: {e}", path.display()))
        })?;
        let pool = DescriptorPool::decode(bytes.as_slice()).map_err(|e| {
            GrpcError::BadInput(format!(
                "descriptor set `{}` is not a FileDescriptorSet with its imports: {e}",
                path.display()
            ))
        })?;
        sets.insert(path.to_path_buf(), pool.clone());
        Ok(pool)
    }

    /// Finds a service's descriptor: reflection, then descriptor sets, then compiled-in protos.
    async fn service(
        &self,
        target: &Target,
        name: &str,
        options: &CallOptions,
    ) -> Result<ServiceDescriptor, GrpcError> {
        let mut looked = Vec::new();
        if options.reflection {
            let metadata = metadata_map(&options.metadata)?;
            let ask = reflection::Ask {
                timeout: options.timeout,
                metadata: &metadata,
            };
            let key = (target.clone(), options.tls.clone());
            let channel = self.channel(target, options.tls.as_ref(), options.timeout)?;
            let cached = self
                .reflected
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&(key.clone(), name.to_string()))
                .cloned();
            let pool = match cached {
                Some(pool) => Some(pool),
                None => match self.reflection_version(&key, &channel, &ask).await {
                    Ok(Some(version)) => {
                        match reflection::pool_for_symbol(
                            &channel,
                            version,
                            name,
                            &self.embedded,
                            &ask,
                        )
                        .await
                        {
                            Ok(pool) => {
                                self.reflected
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .insert((key, name.to_string()), pool.clone());
                                Some(pool)
                            }
                            Err(status) if status.code() == Code::NotFound => {
                                looked.push("the server's reflection does not know it".to_string());
                                None
                            }
                            Err(status) => {
                                return Err(classify(
                                    status,
                                    target,
                                    "reflection",
                                    options.timeout,
                                ));
                            }
                        }
                    }
                    Ok(None) => {
                        looked.push("the server offers no reflection".to_string());
                        None
                    }
                    Err(status) => {
                        return Err(classify(status, target, "reflection", options.timeout));
                    }
                },
            };
            if let Some(service) = pool.and_then(|p| p.get_service_by_name(name)) {
                return Ok(service);
            }
        }
        for path in &options.descriptor_sets {
            if let Some(service) = self.descriptor_set(path)?.get_service_by_name(name) {
                return Ok(service);
            }
            looked.push(format!("not in `{}`", path.display()));
        }
        if let Some(service) = self.embedded.get_service_by_name(name) {
            return Ok(service);
        }
        looked.push("not among the compiled-in protos".to_string());
        Err(GrpcError::UnknownService {
            service: name.to_string(),
            why: looked.join("; "),
        })
    }

    /// Resolves `pkg.Service/Method` (also `/pkg.Service/Method` or `pkg.Service.Method`).
    pub async fn method(
        &self,
        target: &Target,
        full: &str,
        options: &CallOptions,
    ) -> Result<MethodDescriptor, GrpcError> {
        let trimmed = full.trim_start_matches('/');
        let (service, method) = trimmed
            .split_once('/')
            .or_else(|| trimmed.rsplit_once('.'))
            .ok_or_else(|| {
                GrpcError::BadInput(format!("method `{full}` is not `package.Service/Method`"))
            })?;
        let descriptor = self.service(target, service, options).await?;
        let found = descriptor.methods().find(|m| m.name() == method);
        found.ok_or_else(|| GrpcError::UnknownMethod {
            service: service.to_string(),
            method: method.to_string(),
            available: descriptor
                .methods()
                .map(|m| m.name().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// Calls a unary or server-streaming method.
    pub async fn call(
        &self,
        target: &Target,
        method: &MethodDescriptor,
        request: DynamicMessage,
        options: &CallOptions,
    ) -> Result<Reply, GrpcError> {
        let name = format!("{}/{}", method.parent_service().full_name(), method.name());
        if method.is_client_streaming() {
            return Err(GrpcError::BadInput(format!(
                "`{name}` takes a client stream, which grpc::invoke does not send"
            )));
        }
        let channel = self.channel(target, options.tls.as_ref(), options.timeout)?;
        let mut grpc = tonic::client::Grpc::new(channel);
        let path: http::uri::PathAndQuery = format!("/{name}")
            .parse()
            .map_err(|e| GrpcError::BadInput(format!("method path `/{name}`: {e}")))?;
        let mut req = tonic::Request::from_parts(
            metadata_map(&options.metadata)?,
            tonic::Extensions::default(),
            request,
        );
        req.set_timeout(options.timeout);
        let codec = codec::DynamicCodec::new(method.output());
        let streaming = method.is_server_streaming();
        let attempt = async move {
            grpc.ready()
                .await
                .map_err(|e| Status::from_error(Box::new(e)))?;
            if streaming {
                let mut stream = grpc.server_streaming(req, path, codec).await?.into_inner();
                let mut messages = Vec::new();
                while let Some(message) = stream.message().await? {
                    messages.push(message);
                }
                Ok(Reply::Stream(messages))
            } else {
                Ok(Reply::Unary(
                    grpc.unary(req, path, codec).await?.into_inner(),
                ))
            }
        };
        match tokio::time::timeout(options.timeout, attempt).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(status)) => Err(classify(status, target, &name, options.timeout)),
            Err(_) => Err(GrpcError::Deadline {
                target: target.to_string(),
                method: name,
                after: options.timeout,
            }),
        }
    }

    /// Lists services through reflection.
    pub async fn list(
        &self,
        target: &Target,
        options: &CallOptions,
    ) -> Result<Vec<String>, GrpcError> {
        let key = (target.clone(), options.tls.clone());
        let channel = self.channel(target, options.tls.as_ref(), options.timeout)?;
        let metadata = metadata_map(&options.metadata)?;
        let ask = reflection::Ask {
            timeout: options.timeout,
            metadata: &metadata,
        };
        let attempt = async {
            let version = self.reflection_version(&key, &channel, &ask).await?;
            match version {
                Some(v) => reflection::list_services(&channel, v, &ask).await.map(Some),
                None => Ok(None),
            }
        };
        match tokio::time::timeout(options.timeout, attempt).await {
            Ok(Ok(Some(mut services))) => {
                services.sort();
                Ok(services)
            }
            Ok(Ok(None)) => Err(GrpcError::NoReflection {
                target: target.to_string(),
            }),
            Ok(Err(status)) => Err(classify(status, target, "reflection", options.timeout)),
            Err(_) => Err(GrpcError::Deadline {
                target: target.to_string(),
                method: "reflection".into(),
                after: options.timeout,
            }),
        }
    }

    /// A service's methods with their input and output types.
    pub async fn describe(
        &self,
        target: &Target,
        service: &str,
        options: &CallOptions,
    ) -> Result<ServiceDescriptor, GrpcError> {
        match tokio::time::timeout(options.timeout, self.service(target, service, options)).await {
            Ok(result) => result,
            Err(_) => Err(GrpcError::Deadline {
                target: target.to_string(),
                method: "reflection".into(),
                after: options.timeout,
            }),
        }
    }
}

/// The call's metadata as headers, each checked: a bad name or value is the script's error.
fn metadata_map(metadata: &[(String, String)]) -> Result<tonic::metadata::MetadataMap, GrpcError> {
    let mut map = tonic::metadata::MetadataMap::new();
    for (key, value) in metadata {
        let key_parsed = MetadataKey::from_bytes(key.as_bytes()).map_err(|_| {
            GrpcError::BadInput(format!("metadata key `{key}` is not a valid header name"))
        })?;
        let value_parsed = MetadataValue::try_from(value.as_str()).map_err(|_| {
            GrpcError::BadInput(format!(
                "metadata `{key}` has a value that is not a valid header value"
            ))
        })?;
        map.insert(key_parsed, value_parsed);
    }
    Ok(map)
}

/// Turns a failed call into the cause an operator can act on.
fn classify(status: Status, target: &Target, method: &str, timeout: Duration) -> GrpcError {
    let target_text = target.to_string();
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&status);
    let mut texts = Vec::new();
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(tls) = io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<TlsHandshakeError>())
            {
                return GrpcError::Tls {
                    target: target_text,
                    message: tls.to_string(),
                };
            }
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => {
                    return GrpcError::Refused {
                        target: target_text,
                    };
                }
                std::io::ErrorKind::NotFound => {
                    return GrpcError::NoSocket {
                        target: target_text,
                    };
                }
                std::io::ErrorKind::TimedOut => {
                    return GrpcError::Connect {
                        target: target_text,
                        message: format!(
                            "connect timed out after {}",
                            crate::text::human_duration(timeout)
                        ),
                    };
                }
                _ => {}
            }
        }
        texts.push(err.to_string());
        source = err.source();
    }
    let chain = texts.join(": ").to_lowercase();
    let transport = chain.contains("connection closed before message completed")
        || chain.contains("frame with invalid size")
        || chain.contains("connection reset")
        || chain.contains("broken pipe")
        || chain.contains("invalid http version")
        || chain.contains("protocol error");
    if transport && status.code() != Code::DeadlineExceeded {
        return GrpcError::NoPreface {
            target: target_text,
        };
    }
    if !texts.is_empty() && matches!(status.code(), Code::Unavailable | Code::Unknown) {
        return GrpcError::Connect {
            target: target_text,
            message: texts.join(": "),
        };
    }
    // hyper cancels a queued request when the connection dies under it: with a TLS server
    // spoken to in plaintext, that can win the race with the preface error above.
    if status.code() == Code::Cancelled && status.message().contains("operation was canceled") {
        return GrpcError::Closed {
            target: target_text,
        };
    }
    // tonic's own timeout layer races ours and reports the same event as `Cancelled`.
    let tonic_timeout =
        status.code() == Code::Cancelled && status.message().contains("Timeout expired");
    match status.code() {
        _ if tonic_timeout => GrpcError::Deadline {
            target: target_text,
            method: method.to_string(),
            after: timeout,
        },
        // A status the server sent carries its response headers; one tonic made up for our
        // own deadline has none.
        Code::DeadlineExceeded if status.metadata().is_empty() => GrpcError::Deadline {
            target: target_text,
            method: method.to_string(),
            after: timeout,
        },
        Code::Unimplemented => GrpcError::Unimplemented {
            target: target_text,
            method: method.to_string(),
        },
        code => GrpcError::Status {
            target: target_text,
            method: method.to_string(),
            code: format!("{code:?}"),
            message: crate::text::one_line(status.message()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_protos_cover_the_flintlock_suite() {
        let pool = client().embedded();
        for service in [
            "microvm.services.api.v1alpha1.MicroVM",
            "containerd.services.images.v1.Images",
            "containerd.services.namespaces.v1.Namespaces",
            "containerd.services.version.v1.Version",
            "containerd.services.introspection.v1.Introspection",
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
        ] {
            assert!(
                pool.get_service_by_name(service).is_some(),
                "{service} is compiled in"
            );
        }
        let plugin = pool
            .get_message_by_name("containerd.services.introspection.v1.Plugin")
            .expect("Plugin");
        assert_eq!(
            plugin.get_field_by_name("init_err").map(|f| f.number()),
            Some(7)
        );
        let spec = pool
            .get_message_by_name("flintlock.types.MicroVMSpec")
            .expect("spec");
        assert_eq!(
            spec.get_field_by_name("allow_guest_agent")
                .map(|f| f.number()),
            Some(17)
        );
    }
}
