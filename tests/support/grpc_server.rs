//! Real gRPC servers for the tests, run in-process on their own tokio runtime: flintlockd's
//! MicroVM service (Create, Get, Delete, List, ListStream) with its lifecycle as flintlock's
//! core/application code drives it (Create answers PENDING at once; the VM becomes CREATED, or
//! retries and ends FAILED; Delete marks it DELETING and it disappears later) and injected
//! faults, reflection v1, v1alpha or none, over TCP, a unix socket or TLS, optionally demanding
//! basic auth on every method (reflection and health included, as flintlock's server-wide
//! interceptors do); and a server that accepts connections and never answers. Each counts the
//! connections it accepted.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    /// Require `authorization: basic <base64 of token>` on every method, reflection
    /// included, like flintlockd --basic-auth-token (pkg/auth/basic.go).
    pub basic_auth: Option<String>,
    /// A careless server: a refused call's error quotes the `authorization` it got.
    pub echo_auth: bool,
    /// How created microVMs behave.
    pub faults: Faults,
    /// Also serve grpc.health.v1.Health. flintlockd registers no health service (liquidmetal-dev/
    /// flintlock v0.11.0 internal/command/run/run.go serveAPI: the MicroVM service and
    /// reflection only), so only the tests of the `grpc::health` primitive, which need some
    /// server that has one, turn this on.
    pub health: bool,
}

impl Default for FlintlockOptions {
    fn default() -> Self {
        FlintlockOptions {
            reflection: Reflection::V1,
            transport: Transport::Tcp,
            microvms: 2,
            basic_auth: None,
            echo_auth: false,
            faults: Faults::default(),
            health: false,
        }
    }
}

/// Where a created microVM's reconcile stops, when it fails, in the order flintlock's create
/// plan runs its steps (liquidmetal-dev/flintlock v0.11.0 `core/plans/microvm_create_update.go`:
/// state dir, root volume, extra volumes, kernel, initrd, network interfaces, provider create
/// and start). Each step fills its own status field when it succeeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    RootVolume,
    Kernel,
    Network,
    Provider,
}

/// Injected behaviour of the microVMs the server creates.
#[derive(Clone, Debug)]
pub struct Faults {
    /// Create refused with this message (flintlockd answers gRPC Unknown with its error).
    pub reject_create: Option<String>,
    /// Reconcile fails at this layer on every attempt: `retry` counts up on each Get, and
    /// after `max_retry` the state is FAILED (flintlock's --maximum-retry, 10 upstream).
    pub fail_at: Option<Layer>,
    /// Reconcile fails forever without reaching FAILED (a budget shorter than the retries).
    pub stuck_pending: bool,
    pub max_retry: i32,
    /// Gets before a healthy VM is CREATED.
    pub gets_until_created: usize,
    /// Delete fails this many times first.
    pub delete_failures: usize,
    /// How long a deleted VM stays listed as DELETING.
    pub delete_delay: Duration,
    /// Firecracker: no macvtap (infrastructure/microvm/firecracker/provider.go).
    pub macvtap: bool,
    /// GetMicroVM answers with an error (containerd gone mid-way).
    pub get_error: bool,
    /// flintlock's back-off after a failed attempt: the VM is not reconciled again before
    /// `retry × backoff` (core/application/reconcile.go: NotBefore = now + Retry × 20 s, and
    /// a VM whose NotBefore is ahead is skipped, :109-111). A delete keeps NotBefore
    /// (core/application/commands.go :172-175), so it waits the back-off out too.
    pub backoff: Duration,
    /// The first accepted delete is lost: an attempt that was running when it landed saves
    /// its own copy of the VM, without DeletedAt, over it (reconcile.go reads the spec once at
    /// :27 and saves that copy at :73/:152), and the VM is PENDING again.
    pub lose_first_delete: bool,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            reject_create: None,
            fail_at: None,
            stuck_pending: false,
            max_retry: 2,
            gets_until_created: 1,
            delete_failures: 0,
            delete_delay: Duration::ZERO,
            macvtap: false,
            get_error: false,
            backoff: Duration::ZERO,
            lose_first_delete: false,
        }
    }
}

pub struct Server {
    /// The target to give `grpc::` (`127.0.0.1:PORT` or `unix:///path`).
    pub target: String,
    pub accepted: Arc<AtomicUsize>,
    state: Arc<Mutex<State>>,
    _runtime: tokio::runtime::Runtime,
}

impl Server {
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// The ids of every microVM the server holds now, in `namespace`.
    pub fn ids_in(&self, namespace: &str) -> Vec<String> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.expire();
        state
            .vms
            .iter()
            .filter_map(|v| v.vm.spec.as_ref())
            .filter(|s| s.namespace == namespace)
            .map(|s| s.id.clone())
            .collect()
    }

    /// How many Create and Delete calls the server answered.
    pub fn calls(&self) -> (usize, usize) {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        (state.creates, state.deletes)
    }

    /// Puts a microVM in place as a crashed earlier run would have left it.
    pub fn leave(&self, namespace: &str, id: &str) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let uid = format!("01LEFTOVER{}", state.vms.len());
        state.vms.push(Vm {
            vm: MicroVm {
                version: 2,
                spec: Some(MicroVmSpec {
                    id: id.into(),
                    namespace: namespace.into(),
                    vcpu: 1,
                    memory_in_mb: 1024,
                    uid: Some(uid),
                    ..Default::default()
                }),
                status: Some(MicroVmStatus {
                    state: MicroVmState::Created as i32,
                    ..Default::default()
                }),
            },
            gets: 0,
            gone_at: None,
            not_before: None,
            delete_lost: false,
        });
    }
}

struct Vm {
    vm: MicroVm,
    gets: usize,
    /// When a deleted VM stops being listed.
    gone_at: Option<std::time::Instant>,
    /// flintlock's NotBefore: no attempt before then.
    not_before: Option<std::time::Instant>,
    /// A delete was accepted and then lost to an attempt's save.
    delete_lost: bool,
}

struct State {
    vms: Vec<Vm>,
    faults: Faults,
    creates: usize,
    deletes: usize,
    next_uid: usize,
}

impl State {
    /// Deleted VMs whose time has come leave the store (flintlock's runtime_repo_release).
    fn expire(&mut self) {
        let now = std::time::Instant::now();
        self.vms.retain(|v| v.gone_at.is_none_or(|at| now < at));
    }

    fn find(&mut self, uid: &str) -> Option<&mut Vm> {
        self.expire();
        self.vms
            .iter_mut()
            .find(|v| v.vm.spec.as_ref().and_then(|s| s.uid.as_deref()) == Some(uid))
    }

    /// One reconcile attempt ends, as a Get observes it. flintlock saves a microVM only when
    /// an attempt ends (`core/application/reconcile.go` :73 on failure, :152 on success), so
    /// until the first one ends a Get sees the status Create stored: PENDING, retry 0, nothing
    /// filled. Planning adds empty placeholders for the root volume and every interface
    /// before any step runs (`microvm_create_update.go` :156-160, :204-208), so every saved
    /// status has them; a step that succeeds fills its field, and fields are never cleared.
    /// A failed attempt counts `retry` up and becomes FAILED once `retry > maximum retry`
    /// (reconcile.go, strictly greater).
    fn advance(vm: &mut Vm, faults: &Faults) {
        let Some(status) = vm.vm.status.as_mut() else {
            return;
        };
        if status.state != MicroVmState::Pending as i32 {
            return;
        }
        // Back-off: the reconciler skips the VM until NotBefore.
        if vm
            .not_before
            .is_some_and(|at| std::time::Instant::now() < at)
        {
            return;
        }
        // The next attempt after the retries ran out marks it FAILED instead of trying
        // (reconcile.go :103: `Retry > MaximumRetry` at the start of a reconcile).
        if !faults.stuck_pending && status.retry > faults.max_retry {
            status.state = MicroVmState::Failed as i32;
            return;
        }
        vm.gets += 1;
        let reached = match (faults.fail_at, faults.stuck_pending) {
            (Some(layer), _) => Some(layer),
            (None, true) => Some(Layer::RootVolume),
            (None, false) if vm.gets >= faults.gets_until_created => None,
            (None, false) => return,
        };
        // The first attempt is still running on the first Get: nothing saved yet.
        if reached.is_some() && vm.gets == 1 && faults.gets_until_created > 0 {
            return;
        }
        status.volumes.entry("root".into()).or_default();
        for interface in vm
            .vm
            .spec
            .as_ref()
            .map(|s| s.interfaces.clone())
            .unwrap_or_default()
        {
            status
                .network_interfaces
                .entry(interface.device_id)
                .or_default();
        }
        let done = |layer: Layer| match reached {
            None => true,
            Some(stop) => (layer as u8) < (stop as u8),
        };
        if done(Layer::RootVolume) {
            status.volumes.insert(
                "root".into(),
                pb::flintlock::types::VolumeStatus {
                    mount: Some(pb::flintlock::types::Mount {
                        r#type: 0,
                        source: "/dev/mapper/flintlock-thinpool-snap-2".into(),
                    }),
                },
            );
        }
        if done(Layer::Kernel) {
            status.kernel_mount = Some(pb::flintlock::types::Mount {
                r#type: 0,
                source: "/dev/mapper/flintlock-thinpool-snap-1".into(),
            });
        }
        if done(Layer::Network) {
            for (i, ni) in status.network_interfaces.values_mut().enumerate() {
                *ni = pb::flintlock::types::NetworkInterfaceStatus {
                    host_device_name: format!("fltap{i:06}"),
                    index: 7 + i32::try_from(i).unwrap_or(0),
                    mac_address: "AA:FF:00:00:00:02".into(),
                };
            }
        }
        match reached {
            None => {
                status.state = MicroVmState::Created as i32;
                status.retry = 0;
            }
            Some(_) => {
                status.retry += 1;
                vm.not_before = Some(
                    std::time::Instant::now()
                        + faults.backoff * u32::try_from(status.retry).unwrap_or(0),
                );
            }
        }
    }
}

struct Flintlock {
    state: Arc<Mutex<State>>,
}

/// flintlockd's answer for a uid it does not hold (core/errors/errors.go, gRPC Unknown).
fn not_found(verb: &str, uid: &str) -> Status {
    let how = if verb == "getting" {
        "error attempting to locate microvm with uid"
    } else {
        "checking to see if spec exists"
    };
    let text = if verb == "getting" {
        format!("{verb} microvm: {how}: {uid}: microvm spec //{uid} not found")
    } else {
        format!("{verb} microvm: {how}: microvm spec //{uid} not found")
    };
    Status::unknown(text)
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
        request: Request<api::CreateMicroVmRequest>,
    ) -> Result<Response<api::CreateMicroVmResponse>, Status> {
        let Some(mut spec) = request.into_inner().microvm else {
            return Err(Status::invalid_argument(
                "invalid create microvm request: MicroVMSpec required",
            ));
        };
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.creates += 1;
        if let Some(message) = &state.faults.reject_create {
            return Err(Status::unknown(message.clone()));
        }
        // infrastructure/grpc/convert.go and core/models: an empty name is refused, defaults
        // fill vcpu and memory, then validation.
        if spec.id.is_empty() {
            return Err(Status::unknown(
                "converting request: creating vmid from spec: name is required",
            ));
        }
        if spec.namespace.is_empty() {
            spec.namespace = "default".into();
        }
        if spec.memory_in_mb < 1024 || spec.vcpu < 1 || spec.interfaces.is_empty() {
            return Err(Status::unknown(format!(
                "creating microvm: an error occurred when attempting to validate microvm spec: validation failures found: vcpu {} memory_in_mb {} interfaces {}",
                spec.vcpu,
                spec.memory_in_mb,
                spec.interfaces.len()
            )));
        }
        if !state.faults.macvtap && spec.interfaces.iter().any(|i| i.r#type == 0) {
            return Err(Status::unknown(
                "creating microvm: macvtap network interfaces not supported by the microvm provider",
            ));
        }
        let duplicate = state.vms.iter().any(|v| {
            v.vm.spec
                .as_ref()
                .is_some_and(|s| s.id == spec.id && s.namespace == spec.namespace)
        });
        if duplicate {
            return Err(Status::unknown(format!(
                "creating microvm: microvm spec {}/{} already exists",
                spec.namespace, spec.id
            )));
        }
        state.next_uid += 1;
        spec.uid = Some(format!("01CANARYULID{:08}", state.next_uid));
        let vm = MicroVm {
            version: 1,
            spec: Some(spec),
            status: Some(MicroVmStatus {
                state: MicroVmState::Pending as i32,
                retry: 0,
                ..Default::default()
            }),
        };
        state.vms.push(Vm {
            vm: vm.clone(),
            gets: 0,
            gone_at: None,
            not_before: None,
            delete_lost: false,
        });
        Ok(Response::new(api::CreateMicroVmResponse {
            microvm: Some(vm),
        }))
    }

    async fn delete_micro_vm(
        &self,
        request: Request<api::DeleteMicroVmRequest>,
    ) -> Result<Response<()>, Status> {
        let uid = request.into_inner().uid;
        if uid.is_empty() {
            return Err(Status::invalid_argument("invalid request"));
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.deletes += 1;
        if state.faults.delete_failures > 0 {
            state.faults.delete_failures -= 1;
            return Err(Status::unknown(
                "deleting microvm: saving microvm: connection to containerd lost",
            ));
        }
        let delay = state.faults.delete_delay;
        let lose = state.faults.lose_first_delete;
        let backoff = state.faults.backoff;
        let Some(vm) = state.find(&uid) else {
            return Err(not_found("deleting", &uid));
        };
        // DeletedAt set, Retry reset, DELETING saved; NotBefore kept (commands.go :172-175).
        let previous = vm.vm.status.as_ref().map(|s| (s.state, s.retry));
        if let Some(status) = vm.vm.status.as_mut() {
            status.state = MicroVmState::Deleting as i32;
            status.retry = 0;
        }
        if lose && !vm.delete_lost {
            // The attempt in flight saves its copy over this one: no DeletedAt, its state, and
            // the failed attempt's retry and back-off (reconcile.go :62-64).
            vm.delete_lost = true;
            if let (Some(status), Some((previous, retry))) = (vm.vm.status.as_mut(), previous) {
                status.state = previous;
                if previous == MicroVmState::Pending as i32 {
                    status.retry = retry + 1;
                    vm.not_before = Some(
                        std::time::Instant::now() + backoff * u32::try_from(retry + 1).unwrap_or(0),
                    );
                }
            }
            return Ok(Response::new(()));
        }
        let start = vm.not_before.map_or_else(std::time::Instant::now, |at| {
            at.max(std::time::Instant::now())
        });
        vm.gone_at.get_or_insert(start + delay);
        Ok(Response::new(()))
    }

    async fn get_micro_vm(
        &self,
        request: Request<api::GetMicroVmRequest>,
    ) -> Result<Response<api::GetMicroVmResponse>, Status> {
        let uid = request.into_inner().uid;
        if uid.is_empty() {
            return Err(Status::invalid_argument("invalid request"));
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let faults = state.faults.clone();
        if faults.get_error {
            return Err(Status::unknown(format!(
                "getting microvm: error attempting to locate microvm with uid: {uid}: connection to containerd lost"
            )));
        }
        let Some(vm) = state.find(&uid) else {
            return Err(not_found("getting", &uid));
        };
        State::advance(vm, &faults);
        Ok(Response::new(api::GetMicroVmResponse {
            microvm: Some(vm.vm.clone()),
        }))
    }

    async fn list_micro_v_ms(
        &self,
        request: Request<api::ListMicroVMsRequest>,
    ) -> Result<Response<api::ListMicroVMsResponse>, Status> {
        let namespace = request.into_inner().namespace;
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.expire();
        let microvm = state
            .vms
            .iter()
            .map(|v| &v.vm)
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
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.expire();
        let items: Vec<Result<api::ListMessage, Status>> = state
            .vms
            .iter()
            .map(|m| {
                Ok(api::ListMessage {
                    microvm: Some(m.vm.clone()),
                })
            })
            .collect();
        Ok(Response::new(tokio_stream::iter(items)))
    }
}

/// flintlock's basic auth (pkg/auth/basic.go with go-grpc-middleware's AuthFromMD): the
/// `authorization` header, scheme `basic` in any case, credential the base64 of the token.
fn basic_auth(token: &str, echo: bool, req: Request<()>) -> Result<Request<()>, Status> {
    let Some(got) = req
        .metadata()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    else {
        return Err(Status::unauthenticated(
            "could not extract token from request header: rpc error: code = Unauthenticated desc = Request unauthenticated with basic",
        ));
    };
    let Some((scheme, credential)) = got.split_once(' ') else {
        return Err(Status::unauthenticated(
            "could not extract token from request header: rpc error: code = Unauthenticated desc = Bad authorization string",
        ));
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(Status::unauthenticated(
            "could not extract token from request header: rpc error: code = Unauthenticated desc = Request unauthenticated with basic",
        ));
    }
    if credential == base64(token.as_bytes()) {
        return Ok(req);
    }
    if echo {
        return Err(Status::unauthenticated(format!(
            "invalid auth token: failed basic authentication, got {got:?}"
        )));
    }
    Err(Status::unauthenticated(
        "invalid auth token: failed basic authentication. Check the token supplied",
    ))
}

/// Standard base64 with padding, as Go's base64.StdEncoding.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
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
    let state = Arc::new(Mutex::new(State {
        vms: (0..options.microvms)
            .map(|i| Vm {
                vm: microvm(i),
                gets: 0,
                gone_at: None,
                not_before: None,
                delete_lost: false,
            })
            .collect(),
        faults: options.faults.clone(),
        creates: 0,
        deletes: 0,
        next_uid: 0,
    }));
    let service = api::micro_vm_server::MicroVmServer::new(Flintlock {
        state: state.clone(),
    });
    let token = options.basic_auth.clone();
    let echo = options.echo_auth;
    // Server-wide, as flintlockd chains its interceptors: reflection and health need it too.
    let auth = move |req: Request<()>| match &token {
        None => Ok(req),
        Some(token) => basic_auth(token, echo, req),
    };
    let (health_reporter, health) = tonic_health::server::health_reporter();
    let with_health = options.health;
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
        let mut router = builder
            .layer(tonic::service::InterceptorLayer::new(auth))
            .add_service(service)
            .add_optional_service(with_health.then_some(health));
        let reflection_builder = || {
            let b = tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(FLINTLOCK_DESCRIPTORS);
            if with_health {
                b.register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            } else {
                b
            }
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
        state,
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
        state: Arc::new(Mutex::new(State {
            vms: Vec::new(),
            faults: Faults::default(),
            creates: 0,
            deletes: 0,
            next_uid: 0,
        })),
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
