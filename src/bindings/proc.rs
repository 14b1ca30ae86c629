//! `proc::` — processes: `find(name_or_path)` returns every match with pid, name, exe,
//! cmdline and user; `running(name_or_path)` says whether there is any.

use crate::bindings::Documented;

/// The namespace these primitives are registered in.
const MODULE: &str = "proc";

use rhai::{Array, Dynamic, EvalAltResult, Module, NativeCallContext};

use crate::bindings::{ask, map, opt};
use crate::host::procfs::ProcessInfo;
use crate::probe::{How, Question};

type Runtime = tokio::runtime::Handle;

fn find(
    ctx: &NativeCallContext,
    rt: &Runtime,
    query: &str,
) -> Result<Vec<ProcessInfo>, Box<EvalAltResult>> {
    let question = Question::ProcFind {
        query: query.to_string(),
    };
    ask(ctx, rt, question, How::default())
}

pub fn module(runtime: Runtime) -> Module {
    let mut m = Module::new();
    let rt = runtime.clone();
    m.set_documented_fn(
        MODULE,
        "find",
        move |ctx: NativeCallContext, query: &str| -> Result<Array, Box<EvalAltResult>> {
            let found = find(&ctx, &rt, query)?;
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
    m.set_documented_fn(
        MODULE,
        "running",
        move |ctx: NativeCallContext, query: &str| -> Result<bool, Box<EvalAltResult>> {
            Ok(!find(&ctx, &runtime, query)?.is_empty())
        },
    );
    m
}
