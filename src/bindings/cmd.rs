//! `cmd::run(argv)`, `cmd::run(argv, #{..})` and `cmd::which(name)`.
//!
//! `run` takes an argv array and never a shell string; a script that wants a shell runs
//! `["sh", "-c", ".."]` itself, visibly. Its timeout is capped by the check's remaining budget.

use std::path::PathBuf;

use rhai::{Array, Dynamic, EvalAltResult, Map, Module, NativeCallContext};

use crate::bindings::{Options, error_at, map, opt};
use crate::budget;
use crate::host::cmd::{self, CmdError, CommandSpec};

const RUN_OPTIONS: &str = "env, clear_env, cwd, stdin, timeout, max_output";

pub fn module(runtime: tokio::runtime::Handle) -> Module {
    let mut m = Module::new();
    let rt = runtime.clone();
    m.set_native_fn("run", move |ctx: NativeCallContext, argv: Array| {
        run(&ctx, &rt, argv, Map::new())
    });
    m.set_native_fn(
        "run",
        move |ctx: NativeCallContext, argv: Array, options: Map| run(&ctx, &runtime, argv, options),
    );
    m.set_native_fn(
        "which",
        |name: &str| -> Result<Dynamic, Box<EvalAltResult>> {
            Ok(opt(which::which(name)
                .ok()
                .map(|p| p.display().to_string())))
        },
    );
    m
}

fn run(
    ctx: &NativeCallContext,
    runtime: &tokio::runtime::Handle,
    argv: Array,
    options: Map,
) -> Result<Map, Box<EvalAltResult>> {
    let (spec, limited_by_budget) = spec_from(argv, options).map_err(|e| error_at(ctx, e))?;
    let output = runtime.block_on(cmd::run(&spec)).map_err(|e| match e {
        // Say which clock ran out: the command's own timeout or the whole check's budget.
        CmdError::TimedOut { program, .. } if limited_by_budget => error_at(
            ctx,
            format!(
                "`{program}` was killed: the check {}",
                budget::timed_out_message()
            ),
        ),
        other => error_at(ctx, other),
    })?;
    Ok(map([
        ("code", opt(output.code.map(i64::from))),
        ("signal", opt(output.signal.map(i64::from))),
        ("ok", (output.code == Some(0)).into()),
        ("stdout", output.stdout.into()),
        ("stderr", output.stderr.into()),
        ("stdout_truncated", output.stdout_truncated.into()),
        ("stderr_truncated", output.stderr_truncated.into()),
        (
            "truncated",
            (output.stdout_truncated || output.stderr_truncated).into(),
        ),
        ("duration_ms", (output.duration.as_millis() as i64).into()),
    ]))
}

/// Builds the command, and says whether its timeout is the check's remaining budget rather
/// than the script's own `timeout` option.
fn spec_from(argv: Array, options: Map) -> Result<(CommandSpec, bool), String> {
    let argv: Vec<String> = argv
        .into_iter()
        .map(|a| {
            if a.is_string() || a.is_int() || a.is_float() {
                Ok(a.to_string())
            } else {
                Err(format!(
                    "cmd::run: argv items must be strings or numbers, not {}",
                    a.type_name()
                ))
            }
        })
        .collect::<Result<_, _>>()?;
    if argv.is_empty() {
        return Err("cmd::run: argv is empty".to_string());
    }
    let mut opts = Options::new(options, "cmd::run");
    let requested = opts.seconds("timeout")?;
    let timeout = budget::cap(requested)?;
    let limited_by_budget = requested.is_none_or(|r| r > timeout);
    let mut spec = CommandSpec::new(argv, timeout);
    if let Some(env) = opts.map("env")? {
        spec.env = env
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    }
    spec.clear_env = opts.bool("clear_env")?.unwrap_or(false);
    spec.cwd = opts.string("cwd")?.map(PathBuf::from);
    spec.stdin = opts.string("stdin")?.map(String::into_bytes);
    if let Some(max) = opts.int("max_output")? {
        let limit = crate::limits::STRING_BYTES as i64;
        if !(0..=limit).contains(&max) {
            return Err(format!(
                "cmd::run: option `max_output` must be between 0 and {limit}"
            ));
        }
        spec.max_output = max as usize;
    }
    opts.finish(RUN_OPTIONS)?;
    Ok((spec, limited_by_budget))
}
