//! `kmod::state(name)` and `kmod::state(name, #{ root, release, config })` →
//! `#{ name, state, reason }` with state `loaded`, `builtin`, `absent` or `unknown`.

use crate::bindings::Documented;

/// The namespace these primitives are registered in.
const MODULE: &str = "kmod";

use rhai::{EvalAltResult, Map, Module, NativeCallContext};

use crate::bindings::{Options, ask, error_at, map};
use crate::host::kmod::ModuleState;
use crate::probe::{How, Question};

type Runtime = tokio::runtime::Handle;

pub fn module(runtime: Runtime) -> Module {
    let mut m = Module::new();
    let rt = runtime.clone();
    m.set_documented_fn(
        MODULE,
        "state",
        move |ctx: NativeCallContext, name: &str| state(&ctx, &rt, name, Map::new()),
    );
    m.set_documented_fn(
        MODULE,
        "state",
        move |ctx: NativeCallContext, name: &str, o: Map| state(&ctx, &runtime, name, o),
    );
    m
}

fn state(
    ctx: &NativeCallContext,
    rt: &Runtime,
    name: &str,
    options: Map,
) -> Result<Map, Box<EvalAltResult>> {
    let parse = || -> Result<(Question, How), String> {
        let mut opts = Options::new(options, "kmod::state");
        let root = opts.string("root")?.filter(|r| r != "/");
        let release = opts.string("release")?;
        let config = opts.string("config")?;
        let fresh = opts.fresh()?;
        opts.finish("root, release, config, fresh")?;
        let question = Question::KmodState {
            name: name.to_string(),
            root,
            release,
            config,
        };
        Ok((
            question,
            How {
                timeout: None,
                fresh,
            },
        ))
    };
    let (question, how) = parse().map_err(|e| error_at(ctx, e))?;
    let s: ModuleState = ask(ctx, rt, question, how)?;
    Ok(map([
        ("name", s.name.into()),
        ("state", s.state.as_str().into()),
        ("reason", s.reason.into()),
    ]))
}
