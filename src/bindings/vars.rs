//! `vars::`: the run's vars, readable anywhere in a script, including inside `fn`s (which
//! cannot see the outer scope). Each var is a module variable (`vars::parent_iface`), and
//! `vars::get("name")`, `vars::get("name", default)`, `vars::has("name")` and `vars::all()`
//! serve names chosen at run time. Reading a var that does not exist is an error naming it,
//! never a silent `()`.

use crate::bindings::Documented;

/// The namespace these primitives are registered in.
const MODULE: &str = "vars";

use std::sync::Arc;

use rhai::{Dynamic, EvalAltResult, Map, Module, NativeCallContext};

use crate::bindings::{error_at, toml_to_dynamic};
use crate::vars::Vars;

pub fn module(vars: &Vars) -> Module {
    let all: Arc<Map> = Arc::new(
        vars.iter()
            .map(|(k, v)| (k.as_str().into(), toml_to_dynamic(v)))
            .collect(),
    );
    let mut m = Module::new();
    for (name, value) in all.iter() {
        m.set_var(name.as_str(), value.clone());
    }
    let values = all.clone();
    m.set_documented_fn(MODULE, "get", move |ctx: NativeCallContext, name: &str| -> Result<Dynamic, Box<EvalAltResult>> {
        values.get(name).cloned().ok_or_else(|| {
            error_at(&ctx, format!("unknown var `{name}` (set it in vars.toml, with --vars FILE or --var {name}=VALUE)"))
        })
    });
    let values = all.clone();
    m.set_documented_fn(MODULE, "get", move |name: &str, default: Dynamic| {
        Ok(values.get(name).cloned().unwrap_or(default))
    });
    let values = all.clone();
    m.set_documented_fn(MODULE, "has", move |name: &str| {
        Ok(values.contains_key(name))
    });
    m.set_documented_fn(MODULE, "all", move || Ok((*all).clone()));
    m
}
