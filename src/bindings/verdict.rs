//! `pass`, `warn`, `fail` and `skip`: what a check body returns. Each takes a message and an
//! optional details map (numbers and strings that reporters show and JSON carries). Errors are
//! not verdicts: a check reports one by throwing, and the runner adds the position.

use rhai::{Dynamic, Engine, EvalAltResult, Map, NativeCallContext};

use crate::bindings::error_at;
use crate::outcome::{Status, Verdict, one_line};

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<Verdict>("Verdict");
    for (name, status) in [
        ("pass", Status::Pass),
        ("warn", Status::Warn),
        ("fail", Status::Fail),
        ("skip", Status::Skip),
    ] {
        crate::bindings::register_global(
            engine,
            &format!("{name}(message: string) -> Verdict"),
            move |message: &str| make(status, message, serde_json::Map::new()),
        );
        // A caught host error as the message: `catch (e) { return fail(e); }`.
        crate::bindings::register_global(
            engine,
            &format!("{name}(error: HostError) -> Verdict"),
            move |error: crate::bindings::HostError| {
                make(status, &error.message, serde_json::Map::new())
            },
        );
        crate::bindings::register_global(
            engine,
            &format!("{name}(message: string, details: map) -> Verdict"),
            move |ctx: NativeCallContext,
                  message: &str,
                  details: Map|
                  -> Result<Verdict, Box<EvalAltResult>> {
                Ok(make(
                    status,
                    message,
                    details_to_json(details).map_err(|e| error_at(&ctx, e))?,
                ))
            },
        );
    }
    // `fail(msg).no_fix("why")`: the check's remediation cannot fix this (a damaged pool that
    // needs thin_repair, a kernel that cannot load modules); reports say so and --fix skips it.
    crate::bindings::register_global(
        engine,
        "no_fix(verdict: Verdict, reason: string) -> Verdict",
        |mut v: Verdict, reason: &str| {
            v.no_fix = Some(one_line(reason));
            v
        },
    );
    engine.register_get("status", |v: &mut Verdict| v.status.as_str().to_string());
    engine.register_get("message", |v: &mut Verdict| v.message.clone());
}

fn make(
    status: Status,
    message: &str,
    details: serde_json::Map<String, serde_json::Value>,
) -> Verdict {
    Verdict {
        status,
        message: one_line(message),
        details,
        no_fix: None,
    }
}

fn details_to_json(details: Map) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let value = serde_json::to_value(Dynamic::from_map(details)).map_err(|e| {
        format!("details must be plain data (numbers, strings, bools, arrays, maps): {e}")
    })?;
    match value {
        serde_json::Value::Object(map) => Ok(map),
        _ => Ok(serde_json::Map::new()),
    }
}

/// Interprets what a check body returned. Anything but a verdict is a script error: a check
/// that forgets to say pass or fail must not pass by default.
pub fn into_verdict(value: Dynamic) -> Result<Verdict, String> {
    let type_name = value.type_name();
    if let Some(verdict) = value.clone().try_cast::<Verdict>() {
        return Ok(verdict);
    }
    if value.is_unit() {
        return Err(
            "check returned nothing; end it with pass(..), warn(..), fail(..) or skip(..)".into(),
        );
    }
    Err(format!(
        "check returned a value of type {type_name}; return pass(..), warn(..), fail(..) or skip(..)"
    ))
}
