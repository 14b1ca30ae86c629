//! `grpc::` — grpcurl-grade dynamic calls with Rhai maps in and out:
//! `invoke(target, "pkg.Service/Method", #{..}[, opts])` (throws on failure),
//! `try_invoke(..)` (returns `#{ ok, response, code, error }`), `list(target[, opts])`,
//! `describe(target, service[, opts])` and `health(target[, service[, opts]])`.
//! Requests follow the protobuf JSON mapping (either field-name style); responses use proto
//! field names, include default values, and give enums as names.

use std::path::PathBuf;

use prost_reflect::{DynamicMessage, MethodDescriptor, SerializeOptions};
use rhai::{Array, Dynamic, EvalAltResult, Map, Module, NativeCallContext};

use crate::bindings::{Options, error_at, map, opt};
use crate::budget;
use crate::host::grpc::{self, CallOptions, GrpcError, Reply, Target, TlsOptions};

type Runtime = tokio::runtime::Handle;

const OPTIONS: &str = "timeout, metadata, tls, reflection, descriptor_set";

pub fn module(runtime: Runtime) -> Module {
    let mut m = Module::new();
    let rt = runtime.clone();
    m.set_native_fn(
        "invoke",
        move |ctx: NativeCallContext, target: &str, method: &str, request: Dynamic| {
            call(&rt, target, method, request, Map::new()).map_err(|e| error_at(&ctx, e))
        },
    );
    let rt = runtime.clone();
    m.set_native_fn(
        "invoke",
        move |ctx: NativeCallContext,
              target: &str,
              method: &str,
              request: Dynamic,
              options: Map| {
            call(&rt, target, method, request, options).map_err(|e| error_at(&ctx, e))
        },
    );
    let rt = runtime.clone();
    m.set_native_fn(
        "try_invoke",
        move |target: &str, method: &str, request: Dynamic| {
            Ok(try_call(&rt, target, method, request, Map::new()))
        },
    );
    let rt = runtime.clone();
    m.set_native_fn(
        "try_invoke",
        move |target: &str, method: &str, request: Dynamic, options: Map| {
            Ok(try_call(&rt, target, method, request, options))
        },
    );
    let rt = runtime.clone();
    m.set_native_fn("list", move |ctx: NativeCallContext, target: &str| {
        list(&ctx, &rt, target, Map::new())
    });
    let rt = runtime.clone();
    m.set_native_fn(
        "list",
        move |ctx: NativeCallContext, target: &str, o: Map| list(&ctx, &rt, target, o),
    );
    let rt = runtime.clone();
    m.set_native_fn(
        "describe",
        move |ctx: NativeCallContext, target: &str, service: &str| {
            describe(&ctx, &rt, target, service, Map::new())
        },
    );
    let rt = runtime.clone();
    m.set_native_fn(
        "describe",
        move |ctx: NativeCallContext, target: &str, service: &str, o: Map| {
            describe(&ctx, &rt, target, service, o)
        },
    );
    let rt = runtime.clone();
    m.set_native_fn("health", move |ctx: NativeCallContext, target: &str| {
        health(&ctx, &rt, target, "", Map::new())
    });
    let rt = runtime.clone();
    m.set_native_fn(
        "health",
        move |ctx: NativeCallContext, target: &str, service: &str| {
            health(&ctx, &rt, target, service, Map::new())
        },
    );
    let rt = runtime.clone();
    m.set_native_fn(
        "health",
        move |ctx: NativeCallContext, target: &str, service: &str, o: Map| {
            health(&ctx, &rt, target, service, o)
        },
    );
    // `grpc::defer(target, method, request, options, label)`: a call that is made when the
    // check ends, however it ends (its own verdict, an error, its budget, a signal), unless
    // `grpc::undefer(handle)` withdraws it first. What the canary uses so that no microVM it
    // created outlives it.
    m.set_native_fn(
        "defer",
        move |target: &str, method: &str, request: Dynamic, options: Map, label: &str| {
            Ok(defer(Deferred {
                thread: std::thread::current().id(),
                runtime: runtime.clone(),
                target: target.to_string(),
                method: method.to_string(),
                request,
                options,
                label: label.to_string(),
            }))
        },
    );
    m.set_native_fn("undefer", |handle: i64| Ok(undefer(handle)));
    m
}

/// A call `grpc::defer` left to make when its check ends.
struct Deferred {
    thread: std::thread::ThreadId,
    runtime: Runtime,
    target: String,
    method: String,
    request: Dynamic,
    options: Map,
    label: String,
}

static DEFERRED: std::sync::Mutex<std::collections::BTreeMap<i64, Deferred>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());
static NEXT_HANDLE: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1);

fn defer(call: Deferred) -> i64 {
    let handle = NEXT_HANDLE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    DEFERRED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(handle, call);
    handle
}

fn undefer(handle: i64) -> bool {
    DEFERRED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&handle)
        .is_some()
}

/// What one deferred call did: its label and, when it failed, why.
pub struct Cleanup {
    pub label: String,
    pub error: Option<String>,
}

impl Cleanup {
    /// Says on stderr what the clean-up of a check that did not finish did: its report says
    /// only "interrupted" or "timed out".
    pub fn tell(&self) {
        match &self.error {
            None => crate::say!(
                "hostscript: cleaned up after an unfinished check: {}",
                self.label
            ),
            Some(e) => crate::say!("hostscript: error: left behind {}: {e}", self.label),
        }
    }
}

/// Makes (and forgets) the deferred calls of this thread's check, or of every thread with
/// `all` (a run that ends on a signal, or with a check abandoned past its budget). Each gets
/// a budget of its own: the check's may be spent, and that is often why it is running.
pub fn run_deferred(all: bool) -> Vec<Cleanup> {
    let me = std::thread::current().id();
    let mut taken = Vec::new();
    {
        let mut pending = DEFERRED.lock().unwrap_or_else(|p| p.into_inner());
        let mine: Vec<i64> = pending
            .iter()
            .filter(|(_, d)| all || d.thread == me)
            .map(|(h, _)| *h)
            .collect();
        for handle in mine.into_iter().rev() {
            if let Some(d) = pending.remove(&handle) {
                taken.push(d);
            }
        }
        // Counted before the lock is released: a run ending meanwhile must see them.
        IN_FLIGHT.fetch_add(taken.len(), std::sync::atomic::Ordering::SeqCst);
    }
    // Latest first, as a stack of clean-ups unwinds.
    let done = taken
        .into_iter()
        .map(|d| {
            let _budget = crate::budget::start(CLEANUP_BUDGET);
            let error = call(&d.runtime, &d.target, &d.method, d.request, d.options)
                .err()
                .map(|e| format!("{}: {e}", d.method));
            IN_FLIGHT.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            Cleanup {
                label: d.label,
                error,
            }
        })
        .collect();
    if all {
        // A check's own clean-up may be under way on its thread: the process must not exit
        // in the middle of it.
        let until = std::time::Instant::now() + CLEANUP_BUDGET;
        while IN_FLIGHT.load(std::sync::atomic::Ordering::SeqCst) > 0
            && std::time::Instant::now() < until
        {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    done
}

/// Deferred calls being made now, on any thread.
static IN_FLIGHT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How long one deferred call may take.
const CLEANUP_BUDGET: std::time::Duration = std::time::Duration::from_secs(30);

/// A failure as scripts see it: the message, its kind, and the gRPC code when the server
/// gave one.
struct Failure {
    message: String,
    code: Option<String>,
    kind: crate::host::ErrorKind,
}

impl From<GrpcError> for Failure {
    fn from(e: GrpcError) -> Self {
        use crate::host::Kinded;
        Failure {
            code: e.code().map(str::to_string),
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure {
            message,
            code: None,
            kind: crate::host::ErrorKind::Invalid,
        }
    }
}

impl crate::host::Kinded for Failure {
    fn kind(&self) -> crate::host::ErrorKind {
        self.kind
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn call(
    runtime: &Runtime,
    target: &str,
    method: &str,
    request: Dynamic,
    options: Map,
) -> Result<Dynamic, Failure> {
    let started = std::time::Instant::now();
    let shown = target.to_string();
    let target = Target::parse(target)?;
    let options = call_options(options)?;
    let client = grpc::client();
    let _log = CallLog {
        target: shown,
        method: method.to_string(),
        started,
    };
    runtime.block_on(async {
        let method = client.method(&target, method, &options).await?;
        let request = to_message(&method, &request)?;
        let reply = client.call(&target, &method, request, &options).await?;
        Ok(match reply {
            Reply::Unary(message) => to_dynamic(&message)?,
            Reply::Stream(messages) => messages
                .iter()
                .map(to_dynamic)
                .collect::<Result<Array, _>>()?
                .into(),
        })
    })
}

fn try_call(runtime: &Runtime, target: &str, method: &str, request: Dynamic, options: Map) -> Map {
    match call(runtime, target, method, request, options) {
        Ok(response) => map([
            ("ok", true.into()),
            ("response", response),
            ("code", "OK".into()),
            ("error", Dynamic::UNIT),
            ("kind", Dynamic::UNIT),
        ]),
        Err(f) => map([
            ("ok", false.into()),
            ("response", Dynamic::UNIT),
            ("code", opt(f.code)),
            ("kind", f.kind.as_str().into()),
            ("error", f.message.into()),
        ]),
    }
}

fn list(
    ctx: &NativeCallContext,
    runtime: &Runtime,
    target: &str,
    options: Map,
) -> Result<Array, Box<EvalAltResult>> {
    let run = || -> Result<Array, Failure> {
        let target = Target::parse(target)?;
        let options = call_options(options)?;
        let services = runtime.block_on(grpc::client().list(&target, &options))?;
        Ok(services.into_iter().map(Dynamic::from).collect())
    };
    run().map_err(|e| error_at(ctx, e))
}

fn describe(
    ctx: &NativeCallContext,
    runtime: &Runtime,
    target: &str,
    service: &str,
    options: Map,
) -> Result<Map, Box<EvalAltResult>> {
    let run = || -> Result<Map, Failure> {
        let target = Target::parse(target)?;
        let options = call_options(options)?;
        let descriptor = runtime.block_on(grpc::client().describe(&target, service, &options))?;
        let methods: Array = descriptor
            .methods()
            .map(|m| {
                Dynamic::from_map(map([
                    ("name", m.name().into()),
                    ("input", m.input().full_name().into()),
                    ("output", m.output().full_name().into()),
                    ("client_streaming", m.is_client_streaming().into()),
                    ("server_streaming", m.is_server_streaming().into()),
                ]))
            })
            .collect();
        Ok(map([
            ("name", descriptor.full_name().into()),
            ("methods", methods.into()),
        ]))
    };
    run().map_err(|e| error_at(ctx, e))
}

fn health(
    ctx: &NativeCallContext,
    runtime: &Runtime,
    target: &str,
    service: &str,
    options: Map,
) -> Result<String, Box<EvalAltResult>> {
    let run = || -> Result<String, Failure> {
        let target = Target::parse(target)?;
        // Health is a standard service: its compiled-in descriptor is always right.
        let mut options = call_options(options)?;
        options.reflection = false;
        let request = Dynamic::from_map(map([("service", service.into())]));
        let client = grpc::client();
        let status = runtime.block_on(async {
            let method = client
                .method(&target, "grpc.health.v1.Health/Check", &options)
                .await?;
            let request = to_message(&method, &request)?;
            match client.call(&target, &method, request, &options).await? {
                Reply::Unary(message) => Ok::<_, Failure>(message),
                Reply::Stream(_) => Err("Health/Check answered with a stream".to_string().into()),
            }
        })?;
        let value = status
            .get_field_by_name("status")
            .map(|v| v.as_enum_number().unwrap_or(0))
            .unwrap_or(0);
        let name = prost_reflect::ReflectMessage::descriptor(&status)
            .get_field_by_name("status")
            .and_then(|f| {
                f.kind()
                    .as_enum()
                    .and_then(|e| e.get_value(value))
                    .map(|v| v.name().to_string())
            })
            .unwrap_or_else(|| value.to_string());
        Ok(name)
    };
    run().map_err(|e| error_at(ctx, e))
}

fn to_message(method: &MethodDescriptor, request: &Dynamic) -> Result<DynamicMessage, Failure> {
    let input = method.input();
    let request = if request.is_unit() {
        Dynamic::from_map(Map::new())
    } else {
        request.clone()
    };
    let place = format!(
        "request for `{}/{}`",
        method.parent_service().full_name(),
        method.name()
    );
    check_message(&input, &request, "").map_err(|e| Failure::from(format!("{place}: {e}")))?;
    DynamicMessage::deserialize(
        input.clone(),
        rhai::serde::DynamicDeserializer::new(&request),
    )
    .map_err(|e| {
        Failure::from(format!(
            "request for `{}/{}` does not fit `{}`: {}",
            method.parent_service().full_name(),
            method.name(),
            input.full_name(),
            e.to_string().replace(" (line 0, position 0)", "")
        ))
    })
}

fn to_dynamic(message: &DynamicMessage) -> Result<Dynamic, Failure> {
    let options = SerializeOptions::new()
        .stringify_64_bit_integers(false)
        .skip_default_fields(false)
        .use_proto_field_name(true);
    message
        .serialize_with_options(
            &mut rhai::serde::DynamicSerializer::new(Dynamic::UNIT),
            &options,
        )
        .map_err(|e| Failure::from(format!("converting the response: {e}")))
}

fn call_options(options: Map) -> Result<CallOptions, String> {
    let mut opts = Options::new(options, "grpc");
    let timeout = budget::cap(opts.seconds("timeout")?)?;
    let mut call = CallOptions::new(timeout);
    if let Some(metadata) = opts.map("metadata")? {
        call.metadata = metadata
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        // `authorization` and `*-token` metadata are credentials: never in any output, even
        // when a server echoes them back in an error.
        for (key, value) in &call.metadata {
            if crate::secrets::is_secret_name(key) {
                crate::secrets::add_credential(value);
            }
        }
    }
    if let Some(tls) = opts.map("tls")? {
        call.tls = Some(tls_options(tls)?);
    }
    call.reflection = opts.bool("reflection")?.unwrap_or(true);
    if let Some(sets) = opts.take("descriptor_set") {
        call.descriptor_sets = if sets.is_array() {
            sets.into_array()
                .unwrap_or_default()
                .into_iter()
                .map(|s| {
                    s.into_string()
                        .map(PathBuf::from)
                        .map_err(|t| format!("grpc: `descriptor_set` holds a {t}, not a path"))
                })
                .collect::<Result<_, _>>()?
        } else {
            vec![PathBuf::from(sets.into_string().map_err(|t| {
                format!("grpc: `descriptor_set` must be a path or paths, not {t}")
            })?)]
        };
    }
    if let Ok(env) = std::env::var("HOSTSCRIPT_DESCRIPTOR_SETS") {
        call.descriptor_sets
            .extend(env.split(':').filter(|s| !s.is_empty()).map(PathBuf::from));
    }
    opts.finish(OPTIONS)?;
    Ok(call)
}

fn tls_options(tls: Map) -> Result<TlsOptions, String> {
    let mut opts = Options::new(tls, "grpc tls");
    let result = TlsOptions {
        ca: opts.string("ca")?.map(PathBuf::from),
        cert: opts.string("cert")?.map(PathBuf::from),
        key: opts.string("key")?.map(PathBuf::from),
        server_name: opts.string("server_name")?,
        skip_verify: opts.bool("skip_verify")?.unwrap_or(false),
    };
    opts.finish("ca, cert, key, server_name, skip_verify")?;
    Ok(result)
}

/// Checks a request value against a message type before conversion, so that a wrong field
/// name or type is reported with its path (`spec.kernel.image`), which the generic
/// deserializer cannot do.
fn check_message(
    desc: &prost_reflect::MessageDescriptor,
    value: &Dynamic,
    path: &str,
) -> Result<(), String> {
    // Well-known types have JSON forms that are not maps (a Timestamp is a string).
    if desc.full_name().starts_with("google.protobuf.") {
        return Ok(());
    }
    let Some(map) = value.read_lock::<Map>() else {
        return Err(format!(
            "{} must be a map for `{}`, not {}",
            name_or(path, "the request"),
            desc.full_name(),
            value.type_name()
        ));
    };
    for (key, item) in map.iter() {
        let field = desc
            .get_field_by_name(key)
            .or_else(|| desc.get_field_by_json_name(key))
            .ok_or_else(|| {
                let known: Vec<String> = desc.fields().map(|f| f.name().to_string()).collect();
                format!(
                    "unknown field `{}` in `{}` (fields: {})",
                    join(path, key),
                    desc.full_name(),
                    known.join(", ")
                )
            })?;
        if item.is_unit() {
            continue;
        }
        let here = join(path, field.name());
        if field.is_map() {
            let Some(entries) = item.read_lock::<Map>() else {
                return Err(format!(
                    "field `{here}` must be a map, not {}",
                    item.type_name()
                ));
            };
            if let prost_reflect::Kind::Message(entry) = field.kind()
                && let Some(value_field) =
                    entry.map_entry_value_field().kind().as_message().cloned()
            {
                for (k, v) in entries.iter() {
                    check_message(&value_field, v, &format!("{here}.{k}"))?;
                }
            }
        } else if field.is_list() {
            let Some(items) = item.read_lock::<rhai::Array>() else {
                return Err(format!(
                    "field `{here}` must be an array, not {}",
                    item.type_name()
                ));
            };
            for (i, element) in items.iter().enumerate() {
                check_scalar(&field.kind(), element, &format!("{here}[{i}]"))?;
            }
        } else {
            check_scalar(&field.kind(), item, &here)?;
        }
    }
    Ok(())
}

fn check_scalar(kind: &prost_reflect::Kind, value: &Dynamic, path: &str) -> Result<(), String> {
    use prost_reflect::Kind;
    let got = value.type_name();
    let ok = match kind {
        Kind::String => value.is_string(),
        Kind::Bool => value.is_bool(),
        Kind::Bytes => value.is_string() || value.is_blob(),
        Kind::Double | Kind::Float => value.is_float() || value.is_int(),
        Kind::Enum(e) => {
            if let Ok(name) = value.clone().into_immutable_string() {
                return e.get_value_by_name(&name).map(|_| ()).ok_or_else(|| {
                    let names: Vec<String> = e.values().map(|v| v.name().to_string()).collect();
                    format!(
                        "field `{path}`: `{name}` is not a value of `{}` ({})",
                        e.full_name(),
                        names.join(", ")
                    )
                });
            }
            value.is_int()
        }
        Kind::Message(m) => return check_message(m, value, path),
        // 64-bit integers may also come as decimal strings, as in proto JSON.
        _ => value.is_int() || value.is_string(),
    };
    if ok {
        Ok(())
    } else {
        let expected = match kind {
            Kind::String => "a string".to_string(),
            Kind::Bool => "true or false".to_string(),
            Kind::Double | Kind::Float => "a number".to_string(),
            Kind::Enum(e) => format!("a `{}` name", e.full_name()),
            _ => "an integer".to_string(),
        };
        Err(format!("field `{path}` expects {expected}, not {got}"))
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn name_or(path: &str, fallback: &str) -> String {
    if path.is_empty() {
        fallback.to_string()
    } else {
        format!("field `{path}`")
    }
}

/// Logs one gRPC call with its duration when it ends (`-vv`).
struct CallLog {
    target: String,
    method: String,
    started: std::time::Instant,
}

impl Drop for CallLog {
    fn drop(&mut self) {
        tracing::debug!(
            target = %self.target,
            method = %self.method,
            ms = self.started.elapsed().as_millis() as u64,
            "grpc::invoke"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> prost_reflect::MessageDescriptor {
        grpc::client()
            .embedded()
            .get_message_by_name("microvm.services.api.v1alpha1.CreateMicroVMRequest")
            .expect("compiled in")
    }

    fn value(script: &str) -> Dynamic {
        rhai::Engine::new()
            .eval::<Dynamic>(script)
            .expect("literal")
    }

    #[test]
    fn nested_type_errors_name_the_field_path() {
        let err = check_message(
            &spec(),
            &value(r#"#{ microvm: #{ kernel: #{ image: 5 } } }"#),
            "",
        )
        .expect_err("type");
        assert_eq!(
            err,
            "field `microvm.kernel.image` expects a string, not i64"
        );
        let err = check_message(
            &spec(),
            &value(r#"#{ microvm: #{ interfaces: [#{ type: "MACVTAPP" }] } }"#),
            "",
        )
        .expect_err("enum");
        assert!(err.starts_with("field `microvm.interfaces[0].type`: `MACVTAPP` is not a value of `flintlock.types.NetworkInterface.IfaceType`"), "{err}");
        let err = check_message(&spec(), &value(r#"#{ microvm: #{ labels: "x" } }"#), "")
            .expect_err("map");
        assert_eq!(err, "field `microvm.labels` must be a map, not string");
        let ok = check_message(
            &spec(),
            &value(
                r#"#{ microvm: #{ id: "a", vcpu: 2, memoryInMb: 512, created_at: "2026-01-01T00:00:00Z" } }"#,
            ),
            "",
        );
        assert_eq!(ok, Ok(()));
    }
}
