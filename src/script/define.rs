//! `check(#{ .. })`: the one function through which a script declares a check.
//!
//! Declarations are collected in a thread-local while the loader evaluates a file's top level,
//! which keeps the shared engine free of per-file state. Every key is validated here, so a typo
//! (`requird: false`) or a wrong type is an error at the line of the `check` call rather than
//! a silently different check.

use std::cell::RefCell;
use std::time::Duration;

use rhai::{Dynamic, Engine, EvalAltResult, FnPtr, Map, NativeCallContext, Position};

/// A check as declared, before it is tied to its loaded script.
pub struct Declared {
    pub id: String,
    pub description: String,
    pub required: bool,
    pub tags: Vec<String>,
    pub needs: Vec<String>,
    pub remediation: Option<String>,
    pub remote: bool,
    pub timeout: Option<Duration>,
    pub line: usize,
    pub body: FnPtr,
}

thread_local! {
    static COLLECTOR: RefCell<Option<Vec<Declared>>> = const { RefCell::new(None) };
}

/// Runs `load` with a fresh collector and returns what it declared.
pub fn collect<T>(load: impl FnOnce() -> T) -> (T, Vec<Declared>) {
    COLLECTOR.with(|c| *c.borrow_mut() = Some(Vec::new()));
    let value = load();
    let declared = COLLECTOR
        .with(|c| c.borrow_mut().take())
        .unwrap_or_default();
    (value, declared)
}

const KEYS: &str = "id, description, run, required, tags, needs, remediation, remote, timeout";

pub fn register(engine: &mut Engine) {
    engine.register_fn(
        "check",
        |ctx: NativeCallContext, spec: Map| -> Result<(), Box<EvalAltResult>> {
            let pos = ctx.call_position();
            let declared = parse(spec, pos).map_err(|msg| runtime_error(msg, pos))?;
            COLLECTOR.with(|c| match c.borrow_mut().as_mut() {
                Some(list) => {
                    list.push(declared);
                    Ok(())
                }
                None => Err(runtime_error(
                    "`check()` declares a check and may only be called while a file loads, \
                     not inside a check body"
                        .to_string(),
                    pos,
                )),
            })
        },
    );
}

fn runtime_error(message: String, pos: Position) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(message.into(), pos).into()
}

fn parse(mut spec: Map, pos: Position) -> Result<Declared, String> {
    let id = take_string(&mut spec, "id")?.ok_or("check needs an `id`")?;
    validate_id(&id)?;
    let ctx = |msg: String| format!("check `{id}`: {msg}");
    let description = take_string(&mut spec, "description")
        .map_err(ctx)?
        .ok_or_else(|| format!("check `{id}` needs a `description`"))?;
    let body = match spec.remove("run") {
        Some(value) => value.try_cast::<FnPtr>().ok_or_else(|| {
            format!("check `{id}`: `run` must be a closure (`|| {{ .. }}`) or `Fn(\"name\")`")
        })?,
        None => {
            return Err(format!(
                "check `{id}` needs `run`, a closure that returns pass(..), fail(..), warn(..) or skip(..)"
            ));
        }
    };
    let body = snapshot_captures(body);
    let required = take_bool(&mut spec, "required")
        .map_err(ctx)?
        .unwrap_or(true);
    let remote = take_bool(&mut spec, "remote")
        .map_err(ctx)?
        .unwrap_or(false);
    let tags = take_strings(&mut spec, "tags").map_err(ctx)?;
    let needs = take_strings(&mut spec, "needs").map_err(ctx)?;
    let remediation = take_string(&mut spec, "remediation").map_err(ctx)?;
    let timeout = match spec.remove("timeout") {
        None => None,
        Some(v) => Some(seconds(&v).ok_or_else(|| {
            format!("check `{id}`: `timeout` must be a positive number of seconds, not `{v}`")
        })?),
    };
    if let Some(unknown) = spec.keys().next() {
        return Err(format!(
            "check `{id}`: unknown key `{unknown}` (known keys: {KEYS})"
        ));
    }
    Ok(Declared {
        id,
        description,
        required,
        tags,
        needs,
        remediation,
        remote,
        timeout,
        line: pos.line().unwrap_or(0),
        body,
    })
}

/// Closures capture variables by reference, and a `for` loop reuses one variable for every
/// iteration, so checks generated in a loop would all see the last item. Freezing the captured
/// values at declaration time gives each check the values it was declared with, and keeps
/// checks that run in parallel from sharing mutable state.
fn snapshot_captures(mut body: FnPtr) -> FnPtr {
    if body.is_curried() {
        let frozen: Vec<Dynamic> = body.curry().iter().map(Dynamic::flatten_clone).collect();
        body.set_curry(frozen);
    }
    body
}

/// Parses a number of seconds (integer or float) into a positive duration.
pub fn seconds(value: &Dynamic) -> Option<Duration> {
    let secs = if let Ok(i) = value.as_int() {
        i as f64
    } else {
        value.as_float().ok()?
    };
    (secs.is_finite() && secs > 0.0 && secs < 1e9).then(|| Duration::from_secs_f64(secs))
}

fn validate_id(id: &str) -> Result<(), String> {
    let valid_char =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/' | '@');
    if id.is_empty() || id.starts_with('.') || id.ends_with('.') || !id.chars().all(valid_char) {
        return Err(format!(
            "check id `{id}` must be dotted words of letters, digits, `_`, `-`, `:`, `/` or `@` (e.g. `kvm.access`)"
        ));
    }
    Ok(())
}

fn take_string(spec: &mut Map, key: &str) -> Result<Option<String>, String> {
    match spec.remove(key) {
        None => Ok(None),
        Some(v) if v.is_unit() => Ok(None),
        Some(v) => v
            .into_string()
            .map(Some)
            .map_err(|t| format!("`{key}` must be a string, not {t}")),
    }
}

fn take_bool(spec: &mut Map, key: &str) -> Result<Option<bool>, String> {
    match spec.remove(key) {
        None => Ok(None),
        Some(v) => v
            .as_bool()
            .map(Some)
            .map_err(|t| format!("`{key}` must be true or false, not {t}")),
    }
}

fn take_strings(spec: &mut Map, key: &str) -> Result<Vec<String>, String> {
    match spec.remove(key) {
        None => Ok(Vec::new()),
        Some(v) if v.is_string() => Ok(vec![v.to_string()]),
        Some(v) if v.is_array() => v
            .into_array()
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                item.into_string()
                    .map_err(|t| format!("`{key}` must hold strings, not {t}"))
            })
            .collect(),
        Some(v) => Err(format!(
            "`{key}` must be an array of strings, not {}",
            v.type_name()
        )),
    }
}
