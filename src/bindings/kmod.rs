//! `kmod::state(name)` and `kmod::state(name, #{ root, release, config })` →
//! `#{ name, state, reason }` with state `loaded`, `builtin`, `absent` or `unknown`.

use std::path::PathBuf;

use rhai::{EvalAltResult, Map, Module, NativeCallContext};

use crate::bindings::{Options, error_at, map};
use crate::host::{kmod, sys};

pub fn module() -> Module {
    let mut m = Module::new();
    m.set_native_fn("state", |ctx: NativeCallContext, name: &str| {
        state(&ctx, name, Map::new())
    });
    m.set_native_fn("state", |ctx: NativeCallContext, name: &str, o: Map| {
        state(&ctx, name, o)
    });
    m
}

fn state(ctx: &NativeCallContext, name: &str, options: Map) -> Result<Map, Box<EvalAltResult>> {
    let probe = || -> Result<kmod::Probe, String> {
        let mut opts = Options::new(options, "kmod::state");
        let root = opts
            .string("root")?
            .map_or_else(|| PathBuf::from("/"), PathBuf::from);
        let release = match opts.string("release")? {
            Some(r) => r,
            None => sys::kernel_release()?,
        };
        let config_symbol = opts.string("config")?;
        opts.finish("root, release, config")?;
        Ok(kmod::Probe {
            root,
            release,
            config_symbol,
        })
    };
    let s = probe().map_err(|e| error_at(ctx, e))?.state(name);
    Ok(map([
        ("name", s.name.into()),
        ("state", s.state.as_str().into()),
        ("reason", s.reason.into()),
    ]))
}
