//! `cmd::run(argv)`, `cmd::run(argv, #{..})` and `cmd::which(name)`.
//!
//! `run` takes an argv array and never a shell string; a script that wants a shell runs
//! `["sh", "-c", ".."]` itself, visibly. Its timeout is capped by the check's remaining budget.

use crate::bindings::Documented;

/// The namespace these primitives are registered in.
const MODULE: &str = "cmd";

use rhai::{Array, Dynamic, EvalAltResult, Map, Module, NativeCallContext};

use crate::bindings::{Options, ask, error_at, map, opt};
use crate::budget;
use crate::host::ErrorKind;
use crate::host::cmd::CommandOutput;
use crate::probe::{self, How, Question};

const RUN_OPTIONS: &str = "env, clear_env, cwd, stdin, timeout, max_output, fresh";

pub fn module(runtime: tokio::runtime::Handle) -> Module {
    let mut m = Module::new();
    let rt = runtime.clone();
    m.set_documented_fn(MODULE, "run", move |ctx: NativeCallContext, argv: Array| {
        run(&ctx, &rt, argv, Map::new())
    });
    let rt = runtime.clone();
    m.set_documented_fn(
        MODULE,
        "run",
        move |ctx: NativeCallContext, argv: Array, options: Map| run(&ctx, &rt, argv, options),
    );
    m.set_documented_fn(
        MODULE,
        "which",
        move |ctx: NativeCallContext, name: &str| -> Result<Dynamic, Box<EvalAltResult>> {
            let question = Question::CmdWhich {
                name: name.to_string(),
            };
            let found: Option<String> = ask(&ctx, &runtime, question, How::default())?;
            Ok(opt(found))
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
    let (question, how, limited_by_budget) =
        question_from(argv, options).map_err(|e| error_at(ctx, e))?;
    let program = match &question {
        Question::CmdRun { argv, .. } => argv.first().cloned().unwrap_or_default(),
        _ => String::new(),
    };
    let output: CommandOutput = probe::ask(runtime, question, how).map_err(|e| {
        // Say which clock ran out: the command's own timeout or the whole check's budget.
        if e.kind == ErrorKind::Timeout && limited_by_budget {
            error_at(
                ctx,
                format!(
                    "`{program}` was killed: the check {}",
                    budget::timed_out_message()
                ),
            )
        } else {
            error_at(ctx, e)
        }
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

/// Builds the question, how to ask it, and whether its timeout is the check's remaining
/// budget rather than the script's own `timeout` option.
fn question_from(argv: Array, options: Map) -> Result<(Question, How, bool), String> {
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
    let env = opts
        .map("env")?
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let clear_env = opts.bool("clear_env")?.unwrap_or(false);
    let cwd = opts.string("cwd")?;
    let stdin = opts.string("stdin")?;
    let max_output = match opts.int("max_output")? {
        None => None,
        Some(max) => {
            let limit = crate::limits::STRING_BYTES as i64;
            if !(0..=limit).contains(&max) {
                return Err(format!(
                    "cmd::run: option `max_output` must be between 0 and {limit}"
                ));
            }
            Some(max as usize).filter(|m| *m != crate::host::cmd::DEFAULT_MAX_OUTPUT)
        }
    };
    let fresh = opts.fresh()?;
    opts.finish(RUN_OPTIONS)?;
    let question = Question::CmdRun {
        argv,
        env,
        clear_env,
        cwd,
        stdin,
        max_output,
    };
    let how = How {
        timeout: Some(timeout),
        fresh,
    };
    Ok((question, how, limited_by_budget))
}
