//! `grpc::` — grpcurl-grade dynamic calls with Rhai maps in and out:
//! `invoke(target, "pkg.Service/Method", #{..}[, opts])` (throws on failure),
//! `try_invoke(..)` (returns `#{ ok, response, code, error }`), `list(target[, opts])`,
//! `describe(target, service[, opts])` and `health(target[, service[, opts]])`.
//! Requests follow the protobuf JSON mapping (either field-name style); responses use proto
//! field names, include default values, and give enums as names.

use crate::bindings::Documented;

/// The namespace these primitives are registered in.
const MODULE: &str = "grpc";

use std::path::PathBuf;

use rhai::{Array, Dynamic, EvalAltResult, Map, Module, NativeCallContext};

use crate::bindings::{Options, error_at, map, opt};
use crate::budget;
use crate::host::grpc::TlsOptions;
use crate::probe::{self, Failure, GrpcOptions, How, Question};

type Runtime = tokio::runtime::Handle;

const OPTIONS: &str = "timeout, metadata, tls, reflection, descriptor_set";

pub fn module(runtime: Runtime) -> Module {
    let mut m = Module::new();
    let rt = runtime.clone();
    m.set_documented_fn(
        MODULE,
        "invoke",
        move |ctx: NativeCallContext, target: &str, method: &str, request: Dynamic| {
            call(&rt, target, method, request, Map::new()).map_err(|e| error_at(&ctx, e))
        },
    );
    let rt = runtime.clone();
    m.set_documented_fn(
        MODULE,
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
    m.set_documented_fn(
        MODULE,
        "try_invoke",
        move |target: &str, method: &str, request: Dynamic| {
            Ok(try_call(&rt, target, method, request, Map::new()))
        },
    );
    let rt = runtime.clone();
    m.set_documented_fn(
        MODULE,
        "try_invoke",
        move |target: &str, method: &str, request: Dynamic, options: Map| {
            Ok(try_call(&rt, target, method, request, options))
        },
    );
    let rt = runtime.clone();
    m.set_documented_fn(
        MODULE,
        "list",
        move |ctx: NativeCallContext, target: &str| list(&ctx, &rt, target, Map::new()),
    );
    let rt = runtime.clone();
    m.set_documented_fn(
        MODULE,
        "list",
        move |ctx: NativeCallContext, target: &str, o: Map| list(&ctx, &rt, target, o),
    );
    let rt = runtime.clone();
    m.set_documented_fn(
        MODULE,
        "describe",
        move |ctx: NativeCallContext, target: &str, service: &str| {
            describe(&ctx, &rt, target, service, Map::new())
        },
    );
    let rt = runtime.clone();
    m.set_documented_fn(
        MODULE,
        "describe",
        move |ctx: NativeCallContext, target: &str, service: &str, o: Map| {
            describe(&ctx, &rt, target, service, o)
        },
    );
    let rt = runtime.clone();
    m.set_documented_fn(
        MODULE,
        "health",
        move |ctx: NativeCallContext, target: &str| health(&ctx, &rt, target, "", Map::new()),
    );
    let rt = runtime.clone();
    m.set_documented_fn(
        MODULE,
        "health",
        move |ctx: NativeCallContext, target: &str, service: &str| {
            health(&ctx, &rt, target, service, Map::new())
        },
    );
    let rt = runtime.clone();
    m.set_documented_fn(
        MODULE,
        "health",
        move |ctx: NativeCallContext, target: &str, service: &str, o: Map| {
            health(&ctx, &rt, target, service, o)
        },
    );
    // `grpc::defer(target, method, request, options, label)`: a call that is made when the
    // check ends, however it ends (its own verdict, an error, its budget, a signal), unless
    // `grpc::undefer(handle)` withdraws it first. What the canary uses so that no microVM it
    // created outlives it.
    m.set_documented_fn(
        MODULE,
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
    m.set_documented_fn(MODULE, "undefer", |handle: i64| Ok(undefer(handle)));
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

/// Builds a gRPC question's options from a script's options map; the timeout is capped by
/// the check's budget and is not part of the question.
fn options_from(options: Map) -> Result<(GrpcOptions, std::time::Duration), String> {
    let mut opts = Options::new(options, "grpc");
    let timeout = budget::cap(opts.seconds("timeout")?)?;
    let mut call = GrpcOptions::default();
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
        call.descriptor_set =
            if sets.is_array() {
                sets.into_array()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|s| {
                        s.into_string()
                            .map_err(|t| format!("grpc: `descriptor_set` holds a {t}, not a path"))
                    })
                    .collect::<Result<_, _>>()?
            } else {
                vec![sets.into_string().map_err(|t| {
                    format!("grpc: `descriptor_set` must be a path or paths, not {t}")
                })?]
            };
    }
    opts.finish(OPTIONS)?;
    Ok((call, timeout))
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

/// A JSON answer as a Rhai value.
fn dynamic(value: serde_json::Value) -> Result<Dynamic, Failure> {
    rhai::serde::to_dynamic(value)
        .map_err(|e| Failure::invalid(format!("converting the response: {e}")))
}

fn call(
    runtime: &Runtime,
    target: &str,
    method: &str,
    request: Dynamic,
    options: Map,
) -> Result<Dynamic, Failure> {
    let (options, timeout) = options_from(options).map_err(Failure::invalid)?;
    let request = serde_json::to_value(&request).map_err(|e| {
        Failure::invalid(format!(
            "request for `{method}` cannot be sent: {e} (only maps, arrays, strings, numbers and booleans can)"
        ))
    })?;
    let question = Question::GrpcInvoke {
        target: target.to_string(),
        method: method.to_string(),
        request,
        options,
    };
    let answer = probe::ask_value(runtime, &question, how(timeout))?;
    dynamic(answer)
}

fn how(timeout: std::time::Duration) -> How {
    How {
        timeout: Some(timeout),
        fresh: true,
    }
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
        let (options, timeout) = options_from(options).map_err(Failure::invalid)?;
        let question = Question::GrpcList {
            target: target.to_string(),
            options,
        };
        let services: Vec<String> = probe::ask(runtime, question, how(timeout))?;
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
) -> Result<Dynamic, Box<EvalAltResult>> {
    let run = || -> Result<Dynamic, Failure> {
        let (options, timeout) = options_from(options).map_err(Failure::invalid)?;
        let question = Question::GrpcDescribe {
            target: target.to_string(),
            service: service.to_string(),
            options,
        };
        dynamic(probe::ask_value(runtime, &question, how(timeout))?)
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
        let (options, timeout) = options_from(options).map_err(Failure::invalid)?;
        let question = Question::GrpcHealth {
            target: target.to_string(),
            service: service.to_string(),
            options,
        };
        probe::ask(runtime, question, how(timeout))
    };
    run().map_err(|e| error_at(ctx, e))
}
