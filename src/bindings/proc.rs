//! `proc::` — processes: `find(name_or_path)` returns every match with pid, name, exe,
//! cmdline and user; `running(name_or_path)` says whether there is any.

use rhai::{Array, Dynamic, EvalAltResult, Module, NativeCallContext};

use crate::bindings::{error_at, map, opt};
use crate::host::procfs;

pub fn module() -> Module {
    let mut m = Module::new();
    m.set_native_fn(
        "find",
        |ctx: NativeCallContext, query: &str| -> Result<Array, Box<EvalAltResult>> {
            let found = procfs::find_processes(query).map_err(|e| error_at(&ctx, e))?;
            Ok(found
                .into_iter()
                .map(|p| {
                    Dynamic::from_map(map([
                        ("pid", i64::from(p.pid).into()),
                        ("name", p.name.into()),
                        ("exe", opt(p.exe)),
                        (
                            "cmdline",
                            p.cmdline
                                .into_iter()
                                .map(Dynamic::from)
                                .collect::<Array>()
                                .into(),
                        ),
                        ("uid", opt(p.uid.map(i64::from))),
                        ("user", opt(p.user)),
                    ]))
                })
                .collect())
        },
    );
    m.set_native_fn(
        "running",
        |ctx: NativeCallContext, query: &str| -> Result<bool, Box<EvalAltResult>> {
            Ok(!procfs::find_processes(query)
                .map_err(|e| error_at(&ctx, e))?
                .is_empty())
        },
    );
    m
}
