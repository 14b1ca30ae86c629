//! `systemd::unit(name)` and `systemd::unit(name, #{ systemctl, busctl, timeout })`: a unit's
//! state as a map. Throws "systemd is not running on this host" where systemctl cannot answer.
//! The programs default to `$HOSTSCRIPT_SYSTEMCTL` and `$HOSTSCRIPT_BUSCTL`, else `systemctl`
//! and `busctl` on PATH (busctl gives ExecStart's exact argv, which systemctl show cannot).

use crate::bindings::Documented;

/// The namespace these primitives are registered in.
const MODULE: &str = "systemd";

use rhai::{Array, Dynamic, EvalAltResult, Map, Module, NativeCallContext};

use crate::bindings::{Options, ask, error_at, map};
use crate::budget;
use crate::host::systemd;
use crate::probe::{How, Question};

type Runtime = tokio::runtime::Handle;

pub fn module(runtime: tokio::runtime::Handle) -> Module {
    let mut m = Module::new();
    let rt = runtime.clone();
    m.set_documented_fn(MODULE, "unit", move |ctx: NativeCallContext, name: &str| {
        unit(&ctx, &rt, name, Map::new())
    });
    let env_rt = runtime.clone();
    m.set_documented_fn(
        MODULE,
        "unit",
        move |ctx: NativeCallContext, name: &str, o: Map| unit(&ctx, &runtime, name, o),
    );
    // An EnvironmentFile= as systemd would read it when starting the unit.
    m.set_documented_fn(
        MODULE,
        "env_file",
        move |ctx: NativeCallContext, path: &str| env_file(&ctx, &env_rt, path),
    );
    // One argument as an ExecStart= line spells it, for systemd to pass it as it is.
    m.set_documented_fn(MODULE, "quote", |word: &str| {
        Ok(systemd::quote_exec_arg(word))
    });
    // ExecStart's argv as systemd expands `$VAR` and `${VAR}` when it starts the command.
    m.set_documented_fn(
        MODULE,
        "expand",
        |ctx: NativeCallContext, argv: Array, env: Map| -> Result<Array, Box<EvalAltResult>> {
            let words = argv
                .into_iter()
                .map(|w| {
                    w.into_immutable_string()
                        .map(|s| s.to_string())
                        .map_err(|t| {
                            error_at(
                                &ctx,
                                format!("systemd::expand: argv holds a {t}, not a string"),
                            )
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let env = env
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>();
            Ok(systemd::expand_argv(&words, &env)
                .into_iter()
                .map(Dynamic::from)
                .collect())
        },
    );
    m
}

fn env_file(ctx: &NativeCallContext, rt: &Runtime, path: &str) -> Result<Map, Box<EvalAltResult>> {
    // The same question as `fs::read(path)`: systemd reads at most what that reads.
    let question = Question::FsRead {
        path: path.to_string(),
        max_bytes: None,
    };
    let text: String = ask(ctx, rt, question, How::default())?;
    let (vars, dropped) =
        systemd::parse_env_file(&text).map_err(|e| error_at(ctx, format!("{path}: {e}")))?;
    let vars: Map = vars
        .into_iter()
        .map(|(k, v)| (k.into(), Dynamic::from(v)))
        .collect();
    Ok(map([("vars", vars.into()), ("dropped", strings(dropped))]))
}

fn strings(items: Vec<String>) -> Dynamic {
    items
        .into_iter()
        .map(Dynamic::from)
        .collect::<Array>()
        .into()
}

fn unit(
    ctx: &NativeCallContext,
    runtime: &tokio::runtime::Handle,
    name: &str,
    options: Map,
) -> Result<Map, Box<EvalAltResult>> {
    let parse = || -> Result<(Question, How), String> {
        let mut opts = Options::new(options, "systemd::unit");
        let systemctl = opts.string("systemctl")?;
        let busctl = opts.string("busctl")?;
        let timeout = budget::cap(opts.seconds("timeout")?)?;
        let fresh = opts.fresh()?;
        opts.finish("systemctl, busctl, timeout, fresh")?;
        let question = Question::SystemdUnit {
            name: name.to_string(),
            systemctl,
            busctl,
        };
        Ok((
            question,
            How {
                timeout: Some(timeout),
                fresh,
            },
        ))
    };
    let (question, how) = parse().map_err(|e| error_at(ctx, e))?;
    let u: systemd::Unit = ask(ctx, runtime, question, how)?;
    let exec_start: Array = u
        .exec_start
        .into_iter()
        .map(|c| {
            Dynamic::from_map(map([
                ("path", c.path.into()),
                ("argv", strings(c.argv)),
                ("flags", strings(c.flags)),
                ("exact", c.exact.into()),
            ]))
        })
        .collect();
    // Later assignments of a name win, as systemd applies them.
    let environment: Map = u
        .environment
        .into_iter()
        .map(|(k, v)| (k.into(), Dynamic::from(v)))
        .collect();
    let environment_files: Array = u
        .environment_files
        .into_iter()
        .map(|f| {
            Dynamic::from_map(map([
                ("path", f.path.into()),
                ("optional", f.ignore_errors.into()),
            ]))
        })
        .collect();
    Ok(map([
        ("name", u.name.into()),
        ("exists", (u.load_state != "not-found").into()),
        ("load_state", u.load_state.into()),
        ("active_state", u.active_state.into()),
        ("sub_state", u.sub_state.into()),
        ("unit_file_state", u.unit_file_state.into()),
        ("main_pid", i64::from(u.main_pid).into()),
        ("exec_start", exec_start.into()),
        ("fragment_path", u.fragment_path.into()),
        ("drop_in_paths", strings(u.drop_in_paths)),
        ("requires", strings(u.requires)),
        ("after", strings(u.after)),
        ("before", strings(u.before)),
        ("wanted_by", strings(u.wanted_by)),
        ("required_by", strings(u.required_by)),
        ("type", u.service_type.into()),
        ("user", u.user.into()),
        ("environment", environment.into()),
        ("environment_files", environment_files.into()),
        ("need_daemon_reload", u.need_daemon_reload.into()),
        // Seconds since the epoch, as fs::stat's mtime, so scripts can compare the two; and
        // microseconds, as its mtime_us, for changes within the same second.
        (
            "main_started",
            i64::try_from(u.main_start_us / 1_000_000)
                .unwrap_or(i64::MAX)
                .into(),
        ),
        (
            "main_started_us",
            i64::try_from(u.main_start_us).unwrap_or(i64::MAX).into(),
        ),
    ]))
}
