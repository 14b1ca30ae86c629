//! `check(#{ .. })` and `remediation(#{ .. })`: the functions through which a script declares
//! a check or a remediation.
//!
//! Declarations are collected in a thread-local while the loader evaluates a file's top level,
//! which keeps the shared engine free of per-file state. Every key is validated here, so a typo
//! (`requird: false`) or a wrong type is an error at the line of the `check` call rather than
//! a silently different check.

use std::cell::RefCell;
use std::time::Duration;

use rhai::{Dynamic, Engine, EvalAltResult, FnPtr, Map, NativeCallContext, Position};

/// A check as declared, before it is tied to its loaded script.
#[derive(Clone)]
pub struct Declared {
    /// Shared with every report `Item` of this check.
    pub spec: std::sync::Arc<CheckSpec>,
    pub line: usize,
    pub body: FnPtr,
    /// What is wrong with the declaration itself (an unknown key, a wrong type): the check
    /// stays in the run as this error, and the file's other checks still run.
    pub broken: Option<String>,
}

/// What a check declares about itself: the one description of a check that `list`, the
/// reports and the runner all use (field order is the order JSON shows).
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckSpec {
    pub id: String,
    pub description: String,
    pub required: bool,
    pub remote: bool,
    pub tags: Vec<String>,
    pub needs: Vec<String>,
    pub remediation: Option<String>,
    #[serde(skip)]
    pub timeout: Option<Duration>,
}

impl CheckSpec {
    /// A required check with only an id and a description: what stands in a report for a
    /// declaration that is wrong in itself, or a script that did not load.
    pub fn bare(id: String, description: String) -> CheckSpec {
        CheckSpec {
            id,
            description,
            required: true,
            remote: false,
            tags: Vec::new(),
            needs: Vec::new(),
            remediation: None,
            timeout: None,
        }
    }
}

impl std::ops::Deref for Declared {
    type Target = CheckSpec;

    fn deref(&self) -> &CheckSpec {
        &self.spec
    }
}

/// A remediation as declared.
#[derive(Clone)]
pub struct DeclaredRemediation {
    pub id: String,
    pub description: String,
    /// What it changes, for `remediate --list` (paths, units, devices).
    pub touches: Vec<String>,
    /// Remediations that must run first when several are applied together.
    pub after: Vec<String>,
    pub timeout: Option<Duration>,
    pub line: usize,
    pub body: FnPtr,
}

/// Everything one file declared.
#[derive(Default)]
pub struct Declarations {
    pub checks: Vec<Declared>,
    pub remediations: Vec<DeclaredRemediation>,
}

thread_local! {
    static COLLECTOR: RefCell<Option<Declarations>> = const { RefCell::new(None) };
}

/// Runs `load` with a fresh collector and returns what it declared.
pub fn collect<T>(load: impl FnOnce() -> T) -> (T, Declarations) {
    COLLECTOR.with(|c| *c.borrow_mut() = Some(Declarations::default()));
    let value = load();
    let declared = COLLECTOR
        .with(|c| c.borrow_mut().take())
        .unwrap_or_default();
    (value, declared)
}

fn declare(
    pos: Position,
    what: &str,
    add: impl FnOnce(&mut Declarations),
) -> Result<(), Box<EvalAltResult>> {
    COLLECTOR.with(|c| match c.borrow_mut().as_mut() {
        Some(declarations) => {
            add(declarations);
            Ok(())
        }
        None => Err(runtime_error(
            format!(
                "`{what}()` declares a {what} and may only be called while a file loads, not inside a body"
            ),
            pos,
        )),
    })
}

const KEYS: &str = "id, description, run, required, tags, needs, remediation, remote, timeout";

pub fn register(engine: &mut Engine) {
    crate::bindings::register_global(
        engine,
        "check(spec: map #{ id, description, run, required, tags, needs, remediation, remote, timeout }) -> ()",
        |ctx: NativeCallContext, spec: Map| -> Result<(), Box<EvalAltResult>> {
            let pos = ctx.call_position();
            let declared = parse(spec, pos).map_err(|msg| runtime_error(msg, pos))?;
            declare(pos, "check", |d| d.checks.push(declared))
        },
    );
    crate::bindings::register_global(
        engine,
        "remediation(spec: map #{ id, description, run, touches, after, timeout }) -> ()",
        |ctx: NativeCallContext, spec: Map| -> Result<(), Box<EvalAltResult>> {
            let pos = ctx.call_position();
            let declared = parse_remediation(spec, pos).map_err(|msg| runtime_error(msg, pos))?;
            declare(pos, "remediation", |d| d.remediations.push(declared))
        },
    );
}

const REMEDIATION_KEYS: &str = "id, description, run, touches, after, timeout";

fn parse_remediation(mut spec: Map, pos: Position) -> Result<DeclaredRemediation, String> {
    let id = take_string(&mut spec, "id")?.ok_or("remediation needs an `id`")?;
    validate_id(&id)?;
    let ctx = |msg: String| format!("remediation `{id}`: {msg}");
    let description = take_string(&mut spec, "description")
        .map_err(ctx)?
        .ok_or_else(|| format!("remediation `{id}` needs a `description`"))?;
    let body = spec
        .remove("run")
        .ok_or_else(|| format!("remediation `{id}` needs `run`, a closure that makes the changes"))?
        .try_cast::<FnPtr>()
        .ok_or_else(|| format!("remediation `{id}`: `run` must be a closure (`|| {{ .. }}`)"))?;
    let touches = take_strings(&mut spec, "touches").map_err(ctx)?;
    let after = take_strings(&mut spec, "after").map_err(ctx)?;
    let timeout = match spec.remove("timeout") {
        None => None,
        Some(v) => Some(seconds(&v).ok_or_else(|| {
            format!("remediation `{id}`: `timeout` must be a positive number of seconds, not `{v}`")
        })?),
    };
    if let Some(unknown) = spec.keys().next() {
        let hint = crate::text::closest(unknown, REMEDIATION_KEYS.split(", "))
            .map(|k| format!("; did you mean `{k}`?"))
            .unwrap_or_default();
        return Err(format!(
            "remediation `{id}`: unknown key `{unknown}`{hint} (known keys: {REMEDIATION_KEYS})"
        ));
    }
    Ok(DeclaredRemediation {
        id,
        description,
        touches,
        after,
        timeout,
        line: pos.line().unwrap_or(0),
        body: snapshot_captures(body),
    })
}

fn runtime_error(message: String, pos: Position) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(message.into(), pos).into()
}

/// A check map as a check. Without a usable `id` the file cannot name the check, so that is
/// the file's error; with one, any other problem makes that one check an error (`broken`).
fn parse(mut spec: Map, pos: Position) -> Result<Declared, String> {
    let id = take_string(&mut spec, "id")?.ok_or("check needs an `id`")?;
    validate_id(&id)?;
    let description = spec
        .get("description")
        .and_then(|d| d.clone().into_string().ok())
        .unwrap_or_default();
    parse_rest(id.clone(), spec, pos).or_else(|problem| {
        Ok(Declared {
            spec: std::sync::Arc::new(CheckSpec::bare(id, description)),
            line: pos.line().unwrap_or(0),
            body: FnPtr::new("pass").map_err(|e| e.to_string())?,
            broken: Some(problem),
        })
    })
}

fn parse_rest(id: String, mut spec: Map, pos: Position) -> Result<Declared, String> {
    // A misspelt key first: `descripton` is a typo before it is a missing description.
    if let Some(unknown) = spec
        .keys()
        .find(|k| !KEYS.split(", ").any(|known| known == k.as_str()))
    {
        let hint = crate::text::closest(unknown, KEYS.split(", "))
            .map(|k| format!("; did you mean `{k}`?"))
            .unwrap_or_default();
        return Err(format!(
            "check `{id}`: unknown key `{unknown}`{hint} (known keys: {KEYS})"
        ));
    }
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
    Ok(Declared {
        spec: std::sync::Arc::new(CheckSpec {
            id,
            description,
            required,
            remote,
            tags,
            needs,
            remediation,
            timeout,
        }),
        line: pos.line().unwrap_or(0),
        body,
        broken: None,
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
    crate::bindings::seconds_of(value)
}

fn validate_id(id: &str) -> Result<(), String> {
    let valid_char =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/' | '@');
    if id.is_empty() || id.starts_with('.') || id.ends_with('.') || !id.chars().all(valid_char) {
        return Err(format!(
            "id `{id}` must be dotted words of letters, digits, `_`, `-`, `:`, `/` or `@` (e.g. `kvm.access`)"
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
