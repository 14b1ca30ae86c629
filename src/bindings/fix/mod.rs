//! `fix::` — the mutating primitives, registered for remediations only. Each one looks first,
//! changes only what differs, and returns whether it changed something (or would have, in a
//! dry run). Each records a step (ok, changed, would change, failed) with its diff or command
//! in the remediation's journal; a failed step throws, so a remediation stops at its first
//! failure and the report still shows what was done before it. File paths are host paths,
//! placed under `--root`.

use std::sync::Arc;
use std::time::Duration;

mod files;
mod packages;
mod storage;
mod units;

use crate::bindings::Documented;
use rhai::{Dynamic, EvalAltResult, Map, Module, NativeCallContext};

use crate::bindings::Remediating;
use crate::bindings::{Options, error_at};
use crate::budget;
use crate::host::change::edit::{self, Format, Value};
use crate::host::change::file::{self, Ownership};
use crate::host::change::system::{self, Programs, UnitAction};
use crate::host::change::{Step, StepState, journal};
use crate::vars::Vars;

type Runtime = tokio::runtime::Handle;
type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// Shared by every `fix::` function of one engine.
struct Fix {
    remediating: Arc<Remediating>,
    vars: Arc<Vars>,
    runtime: Runtime,
    programs: Programs,
}

impl Fix {
    fn settings(&self) -> &crate::host::change::Settings {
        &self.remediating.settings
    }

    /// Records `step`; a failed one becomes the script error that stops the remediation.
    fn record(&self, ctx: &NativeCallContext, step: Step) -> Result<bool> {
        let state = step.state;
        let failure =
            (state == StepState::Failed).then(|| format!("{}: {}", step.action, step.message));
        journal::record(step);
        match failure {
            Some(message) => Err(error_at(ctx, message)),
            // A signal stops a remediation between steps, never inside one.
            None if crate::interrupt::requested().is_some() => {
                Err(error_at(ctx, "interrupted: stopped after this step"))
            }
            None => Ok(state.changes()),
        }
    }

    fn timeout(&self, ctx: &NativeCallContext) -> Result<Duration> {
        budget::cap(None).map_err(|e| error_at(ctx, e))
    }
}

pub fn module(remediating: Arc<Remediating>, vars: Arc<Vars>, runtime: Runtime) -> Module {
    let fix = Arc::new(Fix {
        remediating,
        vars,
        runtime,
        programs: Programs::default(),
    });
    let mut m = Module::new();

    let f = fix.clone();
    m.set_documented_fn("fix", "dry_run", move || Ok(f.settings().dry_run));
    let f = fix.clone();
    m.set_documented_fn("fix", "root", move || {
        Ok(f.settings().root.display().to_string())
    });

    // Where a host path really is in this run (under --root), for the read-only primitives.
    let f = fix.clone();
    m.set_documented_fn("fix", "path", move |path: &str| {
        Ok(f.settings().path(path).display().to_string())
    });
    m.set_documented_fn("fix", "bytes", |ctx: NativeCallContext, size: &str| {
        file::parse_size(size)
            .and_then(|b| i64::try_from(b).map_err(|_| format!("size `{size}` is too large")))
            .map_err(|e| error_at(&ctx, format!("fix::bytes: {e}")))
    });

    // Preconditions: checked before the first change, so a remediation that cannot do its
    // job refuses with the reason and changes nothing (a dry run reports the same refusal).
    let f = fix.clone();
    m.set_documented_fn(
        "fix",
        "require",
        move |ctx: NativeCallContext, holds: bool, message: &str| {
            if holds {
                return Ok(());
            }
            f.record(
                &ctx,
                Step::new("precondition", StepState::Failed, message.to_string()),
            )
            .map(|_| ())
        },
    );

    // A dry run that cannot look at something (a query that needs root): say so and stop,
    // rather than guess "would change" for the steps that depend on it.
    m.set_documented_fn(
        "fix",
        "cannot_tell",
        move |ctx: NativeCallContext, action: &str, reason: &str| -> Result<()> {
            let step = Step::new(action, StepState::Unknown, reason.to_string());
            journal::record(step);
            Err(error_at(&ctx, format!("cannot tell: {reason}")))
        },
    );

    files::register(&mut m, &fix);
    units::register(&mut m, &fix);
    storage::register(&mut m, &fix);
    packages::register(&mut m, &fix);
    m
}

/// `mode`, `owner`, `group` of an options map (plus keys `extra` that the caller handles).
fn ownership(
    options: Map,
    primitive: &'static str,
    extra: &str,
) -> std::result::Result<Ownership, String> {
    let mut opts = Options::new(options, primitive);
    let mode = opts
        .string("mode")?
        .map(|m| file::parse_mode(&m))
        .transpose()
        .map_err(|e| format!("{primitive}: {e}"))?;
    let owner = opts.string("owner")?;
    let group = opts.string("group")?;
    let known = if extra.is_empty() {
        "mode, owner, group".to_string()
    } else {
        format!("mode, owner, group, {extra}")
    };
    opts.finish(&known)?;
    Ok(Ownership { mode, owner, group })
}

/// Renders `templates/NAME` with the run's vars, plus `extra` over them
/// (`host::change::template` does the rendering).
fn render(fix: &Fix, name: &str, extra: Map) -> std::result::Result<String, String> {
    let mut context: std::collections::BTreeMap<String, serde_json::Value> = fix
        .vars
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or_default()))
        .collect();
    for (k, v) in extra {
        let value = serde_json::to_value(&v)
            .map_err(|e| format!("template var `{k}` is not plain data: {e}"))?;
        context.insert(k.to_string(), value);
    }
    crate::host::change::template::render(&fix.remediating.template_dirs, name, &context)
}

fn template(
    ctx: &NativeCallContext,
    fix: &Fix,
    name: &str,
    path: &str,
    options: Map,
) -> Result<bool> {
    let mut options = options;
    let extra = match options.remove("vars") {
        None => Map::new(),
        Some(v) => v
            .try_cast::<Map>()
            .ok_or_else(|| error_at(ctx, "fix::template: `vars` must be a map"))?,
    };
    let want = ownership(options, "fix::template", "vars").map_err(|e| error_at(ctx, e))?;
    let text = render(fix, name, extra).map_err(|e| error_at(ctx, e))?;
    fix.record(
        ctx,
        file::write(fix.settings(), path, text.as_bytes(), &want),
    )
}

fn ensure_key(
    ctx: &NativeCallContext,
    fix: &Fix,
    path: &str,
    section: &str,
    key: &str,
    value: Dynamic,
    options: Map,
) -> Result<bool> {
    let mut opts = Options::new(options, "fix::ensure_key");
    let format = match opts.string("format").map_err(|e| error_at(ctx, e))? {
        Some(name) => Format::parse(&name).map_err(|e| error_at(ctx, e))?,
        None => Format::of_path(path),
    };
    let repeat = match (
        opts.string("repeat").map_err(|e| error_at(ctx, e))?,
        opts.string("match").map_err(|e| error_at(ctx, e))?,
    ) {
        (None, None) => edit::Repeat::One,
        (Some(r), None) if r == "add" => edit::Repeat::Add,
        (Some(r), None) if r == "one" => edit::Repeat::One,
        (None, Some(prefix)) => edit::Repeat::Matching(prefix),
        (Some(r), _) => {
            return Err(error_at(
                ctx,
                format!(
                    "fix::ensure_key: repeat `{r}`: expected \"one\" or \"add\" (or give `match` alone)"
                ),
            ));
        }
    };
    opts.finish("format, repeat, match")
        .map_err(|e| error_at(ctx, e))?;
    let value = if let Ok(b) = value.as_bool() {
        Value::Bool(b)
    } else if let Ok(i) = value.as_int() {
        Value::Integer(i)
    } else if let Ok(x) = value.as_float() {
        Value::Float(x)
    } else {
        Value::String(value.to_string())
    };
    let real = fix.settings().path(path);
    let current = match std::fs::read_to_string(&real) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(error_at(ctx, format!("{path}: {e}"))),
    };
    let text = edit::set_key_with(&current, format, section, key, &value, &repeat)
        .map_err(|e| error_at(ctx, format!("{path}: {e}")))?;
    let mut step = file::write(fix.settings(), path, text.as_bytes(), &Ownership::default());
    step.action = format!("{path}: [{section}] {key}");
    fix.record(ctx, step)
}

/// Where `persist_modules` lists modules for systemd-modules-load.
const MODULES_LOAD_FILE: &str = "/etc/modules-load.d/hostscript.conf";

/// Lists `modules` in a modules-load.d file (one write for all, so a dry run shows the file
/// as it will be).
fn persist_modules(
    ctx: &NativeCallContext,
    fix: &Fix,
    modules: &[String],
    file_path: &str,
) -> Result<bool> {
    let real = fix.settings().path(file_path);
    let current = match std::fs::read_to_string(&real) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(error_at(ctx, format!("{file_path}: {e}"))),
    };
    let missing: Vec<&String> = modules
        .iter()
        .filter(|m| !current.lines().any(|l| l.trim() == m.as_str()))
        .collect();
    let mut step = if missing.is_empty() {
        Step::new(
            String::new(),
            StepState::Ok,
            format!("listed in {file_path}"),
        )
    } else {
        let mut text = if current.is_empty() {
            "# Kernel modules hostscript remediations load at boot.\n".to_string()
        } else {
            current.clone()
        };
        if !text.ends_with('\n') {
            text.push('\n');
        }
        for m in &missing {
            text.push_str(m);
            text.push('\n');
        }
        file::write(
            fix.settings(),
            file_path,
            text.as_bytes(),
            &Ownership::default(),
        )
    };
    step.action = format!("load {} at boot", modules.join(", "));
    fix.record(ctx, step)
}

fn image(
    ctx: &NativeCallContext,
    fix: &Fix,
    socket: &str,
    namespace: &str,
    reference: &str,
    options: Map,
) -> Result<bool> {
    let mut opts = Options::new(options, "fix::image");
    let tar = opts.string("tar").map_err(|e| error_at(ctx, e))?;
    opts.finish("tar").map_err(|e| error_at(ctx, e))?;
    let tar = tar.filter(|t| !t.is_empty());
    let socket = socket.strip_prefix("unix://").unwrap_or(socket);
    let timeout = fix.timeout(ctx)?;
    let step = fix.runtime.block_on(system::image(
        fix.settings(),
        socket,
        namespace,
        reference,
        tar.as_deref(),
        timeout,
    ));
    fix.record(ctx, step)
}
