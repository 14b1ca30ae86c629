//! The server-reflection client: lists services and fetches the descriptors of one service with
//! every file it depends on. Tries `grpc.reflection.v1` first and falls back to `v1alpha`,
//! whose messages are the same on the wire, so one code path serves both.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use prost::Message;
use prost_reflect::DescriptorPool;
use prost_types::FileDescriptorProto;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_reflection::pb::{v1, v1alpha};

use v1::server_reflection_request::MessageRequest;
use v1::server_reflection_response::MessageResponse;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V1Alpha,
}

impl Version {
    pub fn service(self) -> &'static str {
        match self {
            Version::V1 => "grpc.reflection.v1.ServerReflection",
            Version::V1Alpha => "grpc.reflection.v1alpha.ServerReflection",
        }
    }
}

/// What every reflection request carries: the call's deadline and its metadata. A server
/// that guards every method with auth guards reflection too (flintlock's basic-auth
/// interceptors are server-wide, pkg/auth/basic.go and internal/command/run/run.go), so
/// reflection sends the same `authorization` the call will.
pub struct Ask<'a> {
    pub timeout: Duration,
    pub metadata: &'a tonic::metadata::MetadataMap,
}

impl Ask<'_> {
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut req = tonic::Request::from_parts(
            self.metadata.clone(),
            tonic::Extensions::default(),
            message,
        );
        req.set_timeout(self.timeout);
        req
    }
}

/// One request/response exchange over the bidirectional reflection stream.
async fn exchange(
    channel: &Channel,
    version: Version,
    request: MessageRequest,
    ask: &Ask<'_>,
) -> Result<MessageResponse, Status> {
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let response = match version {
        Version::V1 => {
            let mut client =
                v1::server_reflection_client::ServerReflectionClient::new(channel.clone());
            let req = ask.request(tokio_stream::once(request));
            client
                .server_reflection_info(req)
                .await?
                .into_inner()
                .message()
                .await?
        }
        Version::V1Alpha => {
            // Same messages on the wire: re-encode rather than convert field by field.
            let alpha =
                v1alpha::ServerReflectionRequest::decode(request.encode_to_vec().as_slice())
                    .map_err(|e| Status::internal(e.to_string()))?;
            let mut client =
                v1alpha::server_reflection_client::ServerReflectionClient::new(channel.clone());
            let req = ask.request(tokio_stream::once(alpha));
            let reply = client
                .server_reflection_info(req)
                .await?
                .into_inner()
                .message()
                .await?;
            match reply {
                Some(r) => Some(
                    v1::ServerReflectionResponse::decode(r.encode_to_vec().as_slice())
                        .map_err(|e| Status::internal(e.to_string()))?,
                ),
                None => None,
            }
        }
    };
    match response.and_then(|r| r.message_response) {
        Some(MessageResponse::ErrorResponse(e)) => {
            Err(Status::new(Code::from(e.error_code), e.error_message))
        }
        Some(other) => Ok(other),
        None => Err(Status::internal(
            "the reflection stream closed without an answer",
        )),
    }
}

/// Finds which reflection version the server speaks; `None` when it offers neither.
pub async fn detect(channel: &Channel, ask: &Ask<'_>) -> Result<Option<Version>, Status> {
    for version in [Version::V1, Version::V1Alpha] {
        match exchange(
            channel,
            version,
            MessageRequest::ListServices(String::new()),
            ask,
        )
        .await
        {
            Ok(_) => return Ok(Some(version)),
            Err(status) if status.code() == Code::Unimplemented => continue,
            Err(status) => return Err(status),
        }
    }
    Ok(None)
}

pub async fn list_services(
    channel: &Channel,
    version: Version,
    ask: &Ask<'_>,
) -> Result<Vec<String>, Status> {
    match exchange(
        channel,
        version,
        MessageRequest::ListServices(String::new()),
        ask,
    )
    .await?
    {
        MessageResponse::ListServicesResponse(list) => {
            Ok(list.service.into_iter().map(|s| s.name).collect())
        }
        _ => Err(Status::internal("unexpected answer to ListServices")),
    }
}

/// The descriptors of `symbol` and all its dependencies. Servers may leave out files they
/// think the client has (often the well-known types), so missing dependencies are asked for
/// by name, and taken from `fallback` (the compiled-in pool) when the server has none.
pub async fn pool_for_symbol(
    channel: &Channel,
    version: Version,
    symbol: &str,
    fallback: &DescriptorPool,
    ask: &Ask<'_>,
) -> Result<DescriptorPool, Status> {
    let mut files: HashMap<String, FileDescriptorProto> = HashMap::new();
    let first = exchange(
        channel,
        version,
        MessageRequest::FileContainingSymbol(symbol.to_string()),
        ask,
    )
    .await?;
    let mut queue: VecDeque<String> = VecDeque::new();
    add_files(first, &mut files, &mut queue)?;
    while let Some(name) = queue.pop_front() {
        if files.contains_key(&name) {
            continue;
        }
        match exchange(
            channel,
            version,
            MessageRequest::FileByFilename(name.clone()),
            ask,
        )
        .await
        {
            Ok(answer) => add_files(answer, &mut files, &mut queue)?,
            Err(status) if status.code() == Code::NotFound => {
                let known = fallback.get_file_by_name(&name).ok_or_else(|| {
                    Status::not_found(format!(
                        "the server cannot send `{name}`, which `{symbol}` needs"
                    ))
                })?;
                let proto = known.file_descriptor_proto().clone();
                queue.extend(proto.dependency.iter().cloned());
                files.insert(name, proto);
            }
            Err(status) => return Err(status),
        }
    }
    let mut pool = DescriptorPool::new();
    pool.add_file_descriptor_protos(files.into_values())
        .map_err(|e| {
            Status::internal(format!(
                "the server's descriptors for `{symbol}` do not fit together: {e}"
            ))
        })?;
    Ok(pool)
}

fn add_files(
    answer: MessageResponse,
    files: &mut HashMap<String, FileDescriptorProto>,
    queue: &mut VecDeque<String>,
) -> Result<(), Status> {
    let MessageResponse::FileDescriptorResponse(response) = answer else {
        return Err(Status::internal("unexpected answer to a file request"));
    };
    for bytes in response.file_descriptor_proto {
        let file = FileDescriptorProto::decode(bytes.as_slice()).map_err(|e| {
            Status::internal(format!("undecodable descriptor from the server: {e}"))
        })?;
        queue.extend(file.dependency.iter().cloned());
        files.insert(file.name().to_string(), file);
    }
    Ok(())
}
