//! Rhai bindings: each file exposes one area of `crate::host` as a static module (`cmd::`,
//! `fs::`, `dm::`, `grpc::`, `link::`, `net::`, `proc::`, `kmod::`, `systemd::`, `sys::`, `toml::`,
//! `json::`, `yaml::`, `base64::`; `fix::` for remediations only) plus the global helpers scripts use everywhere (`pass`,
//! `fail`, `warn`, `skip`) and `vars::`. Host types become plain maps; host errors become catchable runtime
//! errors at the position of the call, with the thing at fault named in the message.

mod cmd;
mod data;
mod dm;
pub(crate) mod docs;
mod fix;
mod fs;
mod grpc;
mod kmod;
mod link;
mod net;
mod proc;
mod sys;
mod systemd;
mod vars;
mod verdict;

use std::sync::Arc;

use rhai::{Dynamic, Engine, EvalAltResult, Map, NativeCallContext};

use crate::vars::Vars;

pub use grpc::{Cleanup, run_deferred};
pub use verdict::into_verdict;

/// What the bindings of one engine may use.
#[derive(Clone)]
pub struct Context {
    pub capability: Capability,
    pub vars: Arc<Vars>,
    pub runtime: tokio::runtime::Handle,
}

/// What the scripts of an engine may do.
#[derive(Debug, Clone)]
pub enum Capability {
    /// Observe the host; never change it.
    ReadOnly,
    /// Also change it, through `fix::` (remediations only).
    Remediate(Arc<Remediating>),
}

/// How a remediation run changes the host.
#[derive(Debug)]
pub struct Remediating {
    pub settings: crate::host::change::Settings,
    /// `templates/` folders of the remediation roots, searched in order.
    pub template_dirs: Vec<std::path::PathBuf>,
}

pub fn register(engine: &mut Engine, ctx: Context) {
    verdict::register(engine);
    register_host_error(engine);
    // `secret(value)`: the value (every string in it, for a map or array) is redacted from
    // every output from now on; returns it unchanged.
    register_global(
        engine,
        "secret(value: any) -> any",
        |ctx: NativeCallContext, value: Dynamic| {
            let mut short = false;
            mark_secret(&value, &mut short);
            if short {
                crate::say!(
                    "hostscript: warning: {}:{}: secret(): a value shorter than {} characters cannot be redacted",
                    ctx.call_source().unwrap_or("script"),
                    ctx.call_position().line().unwrap_or(0),
                    crate::secrets::MIN_LEN
                );
            }
            value
        },
    );
    for (name, module) in modules(&ctx) {
        engine.register_static_module(name, module.into());
    }
}

/// Every module of primitives, by namespace, as the engine registers them (`fix` only with
/// the remediate capability): also what `hostscript doc` and `lint` read.
pub fn modules(ctx: &Context) -> Vec<(&'static str, rhai::Module)> {
    let mut all = vec![
        ("vars", vars::module(&ctx.vars)),
        ("cmd", cmd::module(ctx.runtime.clone())),
        ("fs", fs::module(ctx.runtime.clone())),
        ("dm", dm::module(ctx.runtime.clone())),
        ("grpc", grpc::module(ctx.runtime.clone())),
        ("link", link::module(ctx.runtime.clone())),
        ("net", net::module(ctx.runtime.clone())),
        ("proc", proc::module(ctx.runtime.clone())),
        ("kmod", kmod::module(ctx.runtime.clone())),
        ("systemd", systemd::module(ctx.runtime.clone())),
        ("sys", sys::module(ctx.runtime.clone())),
        ("toml", data::toml_module()),
        ("json", data::json_module()),
        ("yaml", data::yaml_module()),
        ("base64", data::base64_module()),
    ];
    if let Capability::Remediate(remediating) = &ctx.capability {
        all.push((
            "fix",
            fix::module(remediating.clone(), ctx.vars.clone(), ctx.runtime.clone()),
        ));
    }
    all
}

/// Asks the host through the seam (`crate::probe`): the answer as the primitive's type, or a
/// runtime error at the script's position.
pub(crate) fn ask<T: serde::de::DeserializeOwned>(
    ctx: &NativeCallContext,
    runtime: &tokio::runtime::Handle,
    question: crate::probe::Question,
    how: crate::probe::How,
) -> Result<T, Box<EvalAltResult>> {
    crate::probe::ask(runtime, question, how).map_err(|e| error_at(ctx, e))
}

/// Registers primitives with their metadata: parameter names and types, return type and doc
/// line from `docs::SIGNATURES`, so `hostscript doc`, the `.d.rhai` definitions and errors
/// name them. A form without an entry is registered bare, and a test fails on it.
pub(crate) trait Documented {
    fn set_documented_fn<A: 'static, const N: usize, const X: bool, R, FUNC>(
        &mut self,
        module: &str,
        name: &str,
        func: FUNC,
    ) -> u64
    where
        R: rhai::Variant + Clone,
        FUNC: rhai::RhaiNativeFunc<A, N, X, R, true> + Send + Sync + 'static;
}

impl Documented for rhai::Module {
    fn set_documented_fn<A: 'static, const N: usize, const X: bool, R, FUNC>(
        &mut self,
        module: &str,
        name: &str,
        func: FUNC,
    ) -> u64
    where
        R: rhai::Variant + Clone,
        FUNC: rhai::RhaiNativeFunc<A, N, X, R, true> + Send + Sync + 'static,
    {
        // Volatile: a primitive reads the host, so the same arguments need not give the same
        // answer, and the optimiser must never fold a call into a constant.
        let registration = rhai::FuncRegistration::new(name)
            .in_internal_namespace()
            .with_purity(true)
            .with_volatility(true);
        let registration = match docs::signature(module, name, N) {
            Some((info, doc)) => registration
                .with_params_info(info)
                .with_comments([format!("/// {doc}")]),
            None => registration,
        };
        registration.set_into_module(self, func).hash
    }
}

/// Registers a global function (`check`, `pass`, `secret`, ..) with the signature and line
/// `docs::GLOBALS` gives it, so the definitions and `hostscript doc globals` name its
/// parameters and types.
pub(crate) fn register_global<A: 'static, const N: usize, const X: bool, R, const F: bool, FUNC>(
    engine: &mut Engine,
    signature: &str,
    func: FUNC,
) where
    R: rhai::Variant + Clone,
    FUNC: rhai::RhaiNativeFunc<A, N, X, R, F> + Send + Sync + 'static,
{
    let name = signature.split('(').next().unwrap_or(signature);
    let mut registration = rhai::FuncRegistration::new(name);
    if let Some((mut info, ret)) = docs::split(signature) {
        info.push(ret);
        registration = registration.with_params_info(info);
    }
    if let Some((_, line)) = docs::GLOBALS.iter().find(|(s, _)| *s == signature) {
        registration = registration.with_comments([format!("/// {line}")]);
    }
    registration.register_into_engine(engine, func);
}

/// A runtime error at the position of the native call, so messages point at the script line.
pub(crate) fn error_at(
    ctx: &NativeCallContext,
    error: impl crate::host::Kinded,
) -> Box<EvalAltResult> {
    let error = HostError::of(&error);
    EvalAltResult::ErrorRuntime(Dynamic::from(error), ctx.call_position()).into()
}

/// What a failing primitive throws: `e.kind` (`permission_denied`, `not_found`, `timeout`,
/// `unavailable`, `invalid`, `failed`) for scripts to branch on, and `e.message` (also what
/// `${e}` and `e.to_string()` give) for people. `e.contains(..)` and the like still work on
/// the message, for scripts written before kinds existed.
#[derive(Debug, Clone)]
pub struct HostError {
    pub kind: crate::host::ErrorKind,
    pub message: String,
}

impl HostError {
    pub(crate) fn of(error: &impl crate::host::Kinded) -> HostError {
        HostError {
            kind: error.kind(),
            message: error.to_string(),
        }
    }
}

impl crate::host::Kinded for HostError {
    fn kind(&self) -> crate::host::ErrorKind {
        self.kind
    }
}

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn register_host_error(engine: &mut rhai::Engine) {
    engine.register_type_with_name::<HostError>("HostError");
    engine.register_get("kind", |e: &mut HostError| e.kind.as_str().to_string());
    engine.register_get("message", |e: &mut HostError| e.message.clone());
    engine.register_fn("to_string", |e: &mut HostError| e.message.clone());
    engine.register_fn("to_debug", |e: &mut HostError| {
        format!("{} ({})", e.message, e.kind.as_str())
    });
    engine.register_fn("contains", |e: &mut HostError, s: &str| {
        e.message.contains(s)
    });
    engine.register_fn("starts_with", |e: &mut HostError, s: &str| {
        e.message.starts_with(s)
    });
    engine.register_fn("ends_with", |e: &mut HostError, s: &str| {
        e.message.ends_with(s)
    });
    engine.register_fn("+", |a: &str, e: HostError| format!("{a}{}", e.message));
    engine.register_fn("+", |e: HostError, a: &str| format!("{}{a}", e.message));
}

fn mark_secret(value: &Dynamic, short: &mut bool) {
    if let Some(text) = value.read_lock::<rhai::ImmutableString>() {
        if !text.is_empty() && !crate::secrets::add(&text) {
            *short = true;
        }
    } else if let Some(items) = value.read_lock::<rhai::Array>() {
        items.iter().for_each(|v| mark_secret(v, short));
    } else if let Some(map) = value.read_lock::<Map>() {
        map.values().for_each(|v| mark_secret(v, short));
    } else if !value.is_unit() && !crate::secrets::add(&value.to_string()) {
        *short = true;
    }
}

/// Builds a Rhai map from `(key, value)` pairs.
pub(crate) fn map<const N: usize>(entries: [(&str, Dynamic); N]) -> Map {
    entries.into_iter().map(|(k, v)| (k.into(), v)).collect()
}

/// `()` for `None`, so scripts can test `if x == () { .. }`.
pub(crate) fn opt<T: Into<Dynamic>>(value: Option<T>) -> Dynamic {
    value.map_or(Dynamic::UNIT, Into::into)
}

/// Converts a TOML value to a Rhai value; dates become their TOML text.
pub(crate) fn toml_to_dynamic(value: &toml::Value) -> Dynamic {
    match value {
        toml::Value::String(s) => s.clone().into(),
        toml::Value::Integer(i) => (*i).into(),
        toml::Value::Float(f) => (*f).into(),
        toml::Value::Boolean(b) => (*b).into(),
        toml::Value::Datetime(d) => d.to_string().into(),
        toml::Value::Array(items) => {
            Dynamic::from_array(items.iter().map(toml_to_dynamic).collect())
        }
        toml::Value::Table(table) => Dynamic::from_map(
            table
                .iter()
                .map(|(k, v)| (k.as_str().into(), toml_to_dynamic(v)))
                .collect(),
        ),
    }
}

/// Reads an options map, rejecting keys the primitive does not know.
pub(crate) struct Options {
    map: Map,
    primitive: &'static str,
}

impl Options {
    pub fn new(map: Map, primitive: &'static str) -> Self {
        Options { map, primitive }
    }

    pub fn take(&mut self, key: &str) -> Option<Dynamic> {
        self.map.remove(key).filter(|v| !v.is_unit())
    }

    pub fn string(&mut self, key: &str) -> Result<Option<String>, String> {
        self.take(key)
            .map(|v| {
                v.into_string().map_err(|t| {
                    format!(
                        "{}: option `{key}` must be a string, not {t}",
                        self.primitive
                    )
                })
            })
            .transpose()
    }

    pub fn bool(&mut self, key: &str) -> Result<Option<bool>, String> {
        self.take(key)
            .map(|v| {
                v.as_bool().map_err(|t| {
                    format!(
                        "{}: option `{key}` must be true or false, not {t}",
                        self.primitive
                    )
                })
            })
            .transpose()
    }

    pub fn int(&mut self, key: &str) -> Result<Option<i64>, String> {
        self.take(key)
            .map(|v| {
                v.as_int().map_err(|t| {
                    format!(
                        "{}: option `{key}` must be an integer, not {t}",
                        self.primitive
                    )
                })
            })
            .transpose()
    }

    pub fn seconds(&mut self, key: &str) -> Result<Option<std::time::Duration>, String> {
        self.take(key)
            .map(|v| {
                seconds_of(&v).ok_or_else(|| {
                    format!(
                        "{}: option `{key}` must be a positive number of seconds, not `{v}`",
                        self.primitive
                    )
                })
            })
            .transpose()
    }

    pub fn map(&mut self, key: &str) -> Result<Option<Map>, String> {
        self.take(key)
            .map(|v| {
                let type_name = v.type_name();
                v.try_cast::<Map>().ok_or_else(|| {
                    format!(
                        "{}: option `{key}` must be a map, not {type_name}",
                        self.primitive
                    )
                })
            })
            .transpose()
    }

    /// `fresh: true`: ask the host again rather than take this run's first answer.
    pub fn fresh(&mut self) -> Result<bool, String> {
        Ok(self.bool("fresh")?.unwrap_or(false))
    }

    /// Fails on the first key nobody took: a typo must not silently change behaviour.
    pub fn finish(self, known: &str) -> Result<(), String> {
        match self.map.keys().next() {
            Some(key) => Err(format!(
                "{}: unknown option `{key}` (known: {known})",
                self.primitive
            )),
            None => Ok(()),
        }
    }
}

/// A script's number of seconds (int or float), by the crate's one rule (`text::seconds`).
pub(crate) fn seconds_of(value: &Dynamic) -> Option<std::time::Duration> {
    let secs = if let Ok(i) = value.as_int() {
        i as f64
    } else {
        value.as_float().ok()?
    };
    crate::text::seconds(secs)
}
