//! Real gRPC servers for the tests, run in-process on their own tokio runtime: a Flintlock
//! MicroVM subset (ListMicroVMs, ListMicroVMsStream, GetMicroVM) with reflection v1, v1alpha or
//! none, over TCP, a unix socket or TLS, optionally demanding basic auth; and a server that
//! accepts connections and never answers. Each counts the connections it accepted.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio_stream::StreamExt;
use tonic::{Request, Response, Status};

pub mod pb {
    pub mod flintlock {
        pub mod types {
            include!(concat!(env!("OUT_DIR"), "/flintlock.types.rs"));
        }
    }
    pub mod microvm {
        pub mod services {
            pub mod api {
                pub mod v1alpha1 {
                    include!(concat!(
                        env!("OUT_DIR"),
                        "/microvm.services.api.v1alpha1.rs"
                    ));
                }
            }
        }
    }
}

use pb::flintlock::types::{MicroVm, MicroVmSpec, MicroVmStatus, micro_vm_status::MicroVmState};
use pb::microvm::services::api::v1alpha1 as api;

pub const FLINTLOCK_DESCRIPTORS: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/flintlock_descriptors.bin"));

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Reflection {
    V1,
    V1Alpha,
    /// Both versions, as grpc-go servers such as flintlockd register them.
    Both,
    None,
}

pub enum Transport {
    Tcp,
    /// A socket bound by the caller (for example inside a network namespace).
    Bound(std::net::TcpListener),
    Unix(PathBuf),
    Tls {
        cert_pem: String,
        key_pem: String,
    },
}

pub struct FlintlockOptions {
    pub reflection: Reflection,
    pub transport: Transport,
    pub microvms: usize,
    /// Require `authorization: basic <token>` on every call, like flintlockd --basic-auth-token.
    pub basic_auth: Option<String>,
    /// A careless server: a refused call's error quotes the `authorization` it got.
    pub echo_auth: bool,
}

impl Default for FlintlockOptions {
    fn default() -> Self {
        FlintlockOptions {
            reflection: Reflection::V1,
            transport: Transport::Tcp,
            microvms: 2,
            basic_auth: None,
            echo_auth: false,
        }
    }
}

pub struct Server {
    /// The target to give `grpc::` (`127.0.0.1:PORT` or `unix:///path`).
    pub target: String,
    pub accepted: Arc<AtomicUsize>,
    _runtime: tokio::runtime::Runtime,
}

impl Server {
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

struct Flintlock {
    microvms: Vec<MicroVm>,
}

fn microvm(i: usize) -> MicroVm {
    MicroVm {
        version: 3,
        spec: Some(MicroVmSpec {
            id: format!("vm{i}"),
            namespace: "ns1".into(),
            vcpu: 2,
            memory_in_mb: 1024,
            uid: Some(format!("uid-{i}")),
            provider: Some("firecracker".into()),
            ..Default::default()
        }),
        status: Some(MicroVmStatus {
            state: MicroVmState::Created as i32,
            retry: 0,
            ..Default::default()
        }),
    }
}

#[tonic::async_trait]
impl api::micro_vm_server::MicroVm for Flintlock {
    async fn create_micro_vm(
        &self,
        _: Request<api::CreateMicroVmRequest>,
    ) -> Result<Response<api::CreateMicroVmResponse>, Status> {
        Err(Status::unimplemented("not in the test subset"))
    }

    async fn delete_micro_vm(
        &self,
        _: Request<api::DeleteMicroVmRequest>,
    ) -> Result<Response<()>, Status> {
        Err(Status::unimplemented("not in the test subset"))
    }

    async fn get_micro_vm(
        &self,
        request: Request<api::GetMicroVmRequest>,
    ) -> Result<Response<api::GetMicroVmResponse>, Status> {
        let uid = request.into_inner().uid;
        let found = self
            .microvms
            .iter()
            .find(|m| m.spec.as_ref().and_then(|s| s.uid.as_deref()) == Some(uid.as_str()));
        match found {
            Some(vm) => Ok(Response::new(api::GetMicroVmResponse {
                microvm: Some(vm.clone()),
            })),
            None => Err(Status::not_found(format!("microvm {uid} not found"))),
        }
    }

    async fn list_micro_v_ms(
        &self,
        request: Request<api::ListMicroVMsRequest>,
    ) -> Result<Response<api::ListMicroVMsResponse>, Status> {
        let namespace = request.into_inner().namespace;
        let microvm = self
            .microvms
            .iter()
            .filter(|m| {
                namespace.is_empty() || m.spec.as_ref().is_some_and(|s| s.namespace == namespace)
            })
            .cloned()
            .collect();
        Ok(Response::new(api::ListMicroVMsResponse { microvm }))
    }

    type ListMicroVMsStreamStream =
        tokio_stream::Iter<std::vec::IntoIter<Result<api::ListMessage, Status>>>;

    async fn list_micro_v_ms_stream(
        &self,
        _: Request<api::ListMicroVMsRequest>,
    ) -> Result<Response<Self::ListMicroVMsStreamStream>, Status> {
        let items: Vec<Result<api::ListMessage, Status>> = self
            .microvms
            .iter()
            .map(|m| {
                Ok(api::ListMessage {
                    microvm: Some(m.clone()),
                })
            })
            .collect();
        Ok(Response::new(tokio_stream::iter(items)))
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

pub fn start_flintlock(options: FlintlockOptions) -> Server {
    let runtime = runtime();
    let accepted = Arc::new(AtomicUsize::new(0));
    let service = api::micro_vm_server::MicroVmServer::new(Flintlock {
        microvms: (0..options.microvms).map(microvm).collect(),
    });
    let token = options.basic_auth.clone();
    let echo = options.echo_auth;
    let service =
        tonic::service::interceptor::InterceptedService::new(service, move |req: Request<()>| {
            match &token {
                None => Ok(req),
                Some(token) => {
                    let expected = format!("basic {token}");
                    match req
                        .metadata()
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                    {
                        Some(got) if got == expected => Ok(req),
                        Some(got) if echo => Err(Status::unauthenticated(format!(
                            "invalid basic auth token, got {got:?}"
                        ))),
                        _ => Err(Status::unauthenticated("invalid basic auth token")),
                    }
                }
            }
        });
    let (health_reporter, health) = tonic_health::server::health_reporter();
    let reflection = options.reflection;
    let transport = options.transport;
    let count = accepted.clone();
    let target = runtime.block_on(async move {
        health_reporter
            .set_service_status("", tonic_health::ServingStatus::Serving)
            .await;
        health_reporter
            .set_service_status(
                "microvm.services.api.v1alpha1.MicroVM",
                tonic_health::ServingStatus::NotServing,
            )
            .await;
        let mut builder = tonic::transport::Server::builder();
        if let Transport::Tls { cert_pem, key_pem } = &transport {
            let identity = tonic::transport::Identity::from_pem(cert_pem, key_pem);
            builder = builder
                .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
                .expect("tls config");
        }
        let mut router = builder.add_service(service).add_service(health);
        let reflection_builder = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(FLINTLOCK_DESCRIPTORS)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        match reflection {
            Reflection::V1 => {
                router =
                    router.add_service(reflection_builder().build_v1().expect("reflection v1"));
            }
            Reflection::V1Alpha => {
                router = router.add_service(
                    reflection_builder()
                        .build_v1alpha()
                        .expect("reflection v1alpha"),
                );
            }
            Reflection::Both => {
                router = router
                    .add_service(reflection_builder().build_v1().expect("reflection v1"))
                    .add_service(
                        reflection_builder()
                            .build_v1alpha()
                            .expect("reflection v1alpha"),
                    );
            }
            Reflection::None => {}
        }
        match transport {
            Transport::Unix(path) => {
                let listener = tokio::net::UnixListener::bind(&path).expect("bind unix");
                let incoming =
                    tokio_stream::wrappers::UnixListenerStream::new(listener).map(move |s| {
                        count.fetch_add(1, Ordering::SeqCst);
                        s
                    });
                tokio::spawn(router.serve_with_incoming(incoming));
                format!("unix://{}", path.display())
            }
            Transport::Tcp | Transport::Tls { .. } | Transport::Bound(_) => {
                let listener = match transport {
                    Transport::Bound(bound) => {
                        bound.set_nonblocking(true).expect("nonblocking");
                        tokio::net::TcpListener::from_std(bound).expect("adopt listener")
                    }
                    _ => tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("bind tcp"),
                };
                let addr = listener.local_addr().expect("addr");
                let incoming =
                    tokio_stream::wrappers::TcpListenerStream::new(listener).map(move |s| {
                        count.fetch_add(1, Ordering::SeqCst);
                        // As grpc-go (flintlockd) does; without it delayed ACKs add ~40 ms
                        // to the first exchanges of every connection.
                        s.inspect(|stream| {
                            let _ = stream.set_nodelay(true);
                        })
                    });
                tokio::spawn(router.serve_with_incoming(incoming));
                addr.to_string()
            }
        }
    });
    Server {
        target,
        accepted,
        _runtime: runtime,
    }
}

/// Accepts TCP connections and never says a word.
pub fn start_silent() -> Server {
    let runtime = runtime();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let target = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                held.push(stream);
            }
        });
        addr.to_string()
    });
    Server {
        target,
        accepted,
        _runtime: runtime,
    }
}

/// A self-signed certificate for `localhost` and 127.0.0.1: (cert PEM, key PEM).
pub fn self_signed() -> (String, String) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
            .expect("rcgen");
    (certified.cert.pem(), certified.signing_key.serialize_pem())
}
