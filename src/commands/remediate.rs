//! `hostscript remediate`: load remediations, order the requested ones, and apply them (or, with
//! `--dry-run`, show what they would change). Applying needs root and takes the run lock; every
//! applied step goes to the change log. `run --fix` reuses `apply`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{ChangeArgs, DocFormat, RemediateArgs};
use crate::commands::{RemediatingOptions, Session, SessionOptions, display_paths, installed};
use crate::error::{Error, Result, exit_code};
use crate::host::change::Settings;
use crate::host::change::ledger::{self, RunLock};
use crate::remediator::{self, Held, Outcome, RemediationResult};
use crate::report::remediation::{self as report, RunInfo};

pub fn execute(args: RemediateArgs) -> Result<u8> {
    if args.replay.is_some() {
        return Err(Error::Flag {
            flag: "--replay",
            message: "remediate changes this host: nothing is applied from a recording's answers"
                .into(),
        });
    }
    let mut vars_files = args.vars.files.clone();
    let beside_checks = args
        .change
        .remediation_dirs
        .first()
        .and_then(|dir| installed::beside(dir, "checks"));
    let base = match &args.checks_dir {
        Some(dir) => crate::commands::existing_dirs("--checks", std::slice::from_ref(dir))?,
        // A checkout's remediations/ uses the checks/ beside it (vars and lib/).
        None if beside_checks.is_some() => beside_checks.into_iter().collect(),
        // The installed checks' vars, and the site's over them, when a suite is installed;
        // without one the remediations' own vars.toml and the flags are all there is.
        None => match installed::checks("--checks") {
            Ok(dirs) => {
                vars_files.splice(0..0, installed::site_vars());
                dirs
            }
            Err(_) => Vec::new(),
        },
    };
    let session = start(&args.change, &base, &vars_files, &args.vars.flags)?;
    if args.list {
        return list(&session, args.output.format);
    }
    let color = crate::commands::use_color(args.output.color);
    let format = args.output.format;
    let memory = crate::commands::running::open_memory(&args.state, false)?;
    let mut gate = backoff_gate(memory.as_ref(), args.force || args.change.dry_run);
    let mut out = crate::report::stdout();
    let mut write_error = None;
    let outcome = apply(
        &session,
        &args.ids,
        &args.change,
        &mut gate,
        &mut |result| {
            if format == DocFormat::Human
                && write_error.is_none()
                && let Err(e) = report::human_result(&mut out, color, result)
            {
                write_error = Some(e);
            }
        },
    )?;
    if let Some(e) = write_error {
        return Err(Error::Output(e));
    }
    crate::commands::running::remember(memory.as_ref(), &[], &outcome.to_remember());
    match format {
        DocFormat::Human => report::human_summary(&mut out, &outcome.results, &outcome.info),
        DocFormat::Json => report::json(&mut out, &outcome.results, &outcome.info),
    }
    .map_err(Error::Output)?;
    Ok(outcome.exit_code())
}

/// Holds back a remediation that failed and is waiting out its back-off (`--state`), unless
/// `force` (`--force`, or a dry run, which changes nothing and shows what a try would do).
pub fn backoff_gate(
    memory: Option<&crate::state::Memory>,
    force: bool,
) -> impl FnMut(&crate::script::RemediationDef, &[RemediationResult]) -> Option<Held> + '_ {
    move |def, _| {
        if force {
            return None;
        }
        let waiting = memory?.backing_off(&def.id)?;
        Some(Held {
            reason: waiting.message(),
            next_try: Some(crate::state::rfc3339(waiting.next_try)),
        })
    }
}

/// Loads the remediation scripts with the checks' vars first.
pub fn start(
    change: &ChangeArgs,
    base_vars_dirs: &[PathBuf],
    vars_files: &[PathBuf],
    var_flags: &[String],
) -> Result<Session> {
    let beside = base_vars_dirs
        .first()
        .filter(|dir| **dir != std::path::Path::new(installed::SUITE).join("checks"))
        .and_then(|dir| installed::beside(dir, "remediations"));
    let remediation_dirs = if change.remediation_dirs.is_empty() {
        // A checkout's checks/ uses the remediations/ beside it; else the installed ones.
        match beside {
            Some(dir) => vec![dir],
            None => installed::remediations("--remediations")?,
        }
    } else {
        crate::commands::existing_dirs("--remediations", &change.remediation_dirs)?
    };
    let timeout = remediation_timeout(change)?;
    let session = Session::start(SessionOptions {
        replay_vars: None,
        paths: &remediation_dirs,
        vars_files,
        var_flags,
        jobs: None,
        load_budget: Duration::from_secs(10).min(timeout),
        target: None,
        base_vars_dirs,
        remediating: Some(RemediatingOptions {
            settings: Settings::new(change.dry_run, change.root.clone()),
        }),
    })?;
    if session.loaded.remediations.is_empty() && session.loaded.failures.is_empty() {
        return Err(Error::NoChecks {
            paths: display_paths(&remediation_dirs),
        });
    }
    Ok(session)
}

fn remediation_timeout(change: &ChangeArgs) -> Result<Duration> {
    Ok(change.remediation_timeout)
}

fn list(session: &Session, format: DocFormat) -> Result<u8> {
    let mut out = crate::report::stdout();
    let remediations = &session.loaded.remediations;
    let written = match format {
        DocFormat::Json => {
            let rows: Vec<serde_json::Value> = remediations
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "id": r.id, "description": r.description, "touches": r.touches,
                        "after": r.after, "file": r.file().display().to_string(), "line": r.line,
                    })
                })
                .collect();
            serde_json::to_writer_pretty(&mut out, &rows)
                .map_err(std::io::Error::other)
                .and_then(|()| writeln!(out))
        }
        DocFormat::Human => {
            let width = remediations
                .iter()
                .map(|r| r.id.len())
                .max()
                .unwrap_or(2)
                .max(2);
            let mut result = writeln!(out, "{:width$}  DESCRIPTION", "ID");
            for r in remediations {
                let mut extra = Vec::new();
                if !r.touches.is_empty() {
                    extra.push(format!("touches: {}", r.touches.join(", ")));
                }
                if !r.after.is_empty() {
                    extra.push(format!("after: {}", r.after.join(", ")));
                }
                let extra = if extra.is_empty() {
                    String::new()
                } else {
                    format!("  [{}]", extra.join("; "))
                };
                result = result
                    .and_then(|()| writeln!(out, "{:width$}  {}{extra}", r.id, r.description));
            }
            result
        }
    };
    written.map_err(Error::Output)?;
    for failure in &session.loaded.failures {
        crate::say!("hostscript: {}", failure.diagnostic);
    }
    Ok(if session.loaded.failures.is_empty() {
        exit_code::SUCCESS
    } else {
        exit_code::CHECK_FAILED
    })
}

/// What an `apply` did, for the caller's exit code.
pub struct Applied {
    pub info: RunInfo,
    pub results: Vec<RemediationResult>,
    pub load_failures: usize,
}

impl Applied {
    pub fn ok(&self) -> bool {
        // A remediation held back (backing off, its checks pass again) is no failure of
        // this run.
        self.load_failures == 0
            && self.results.iter().all(|r| {
                r.held
                    || !matches!(
                        r.outcome,
                        Outcome::Failed | Outcome::Skipped | Outcome::Unknown
                    )
            })
    }

    /// The outcomes to remember (`--state`): what ran, in a real run (a dry run or a
    /// remediation held back tells nothing about whether it works).
    pub fn to_remember(&self) -> Vec<(&str, &str, bool)> {
        if self.info.dry_run {
            return Vec::new();
        }
        self.results
            .iter()
            .filter_map(|r| match r.outcome {
                Outcome::Ok => Some((r.id.as_str(), "ok", true)),
                Outcome::Changed => Some((r.id.as_str(), "changed", true)),
                Outcome::Failed => Some((r.id.as_str(), "failed", false)),
                _ => None,
            })
            .collect()
    }

    pub fn exit_code(&self) -> u8 {
        if self.ok() {
            exit_code::SUCCESS
        } else {
            exit_code::CHECK_FAILED
        }
    }
}

/// Applies (or dry-runs) remediations `ids`, calling `on_result` as each one finishes. The
/// caller reports: `remediate` on stdout, `run --fix` inside its before/after document.
pub fn apply(
    session: &Session,
    ids: &[String],
    change: &ChangeArgs,
    gate: &mut dyn FnMut(&crate::script::RemediationDef, &[RemediationResult]) -> Option<Held>,
    on_result: &mut dyn FnMut(&RemediationResult),
) -> Result<Applied> {
    for failure in &session.loaded.failures {
        crate::say!("hostscript: {}", failure.diagnostic);
    }
    let ordered =
        remediator::order(&session.loaded.remediations, ids).map_err(|message| Error::Flag {
            flag: "remediate",
            message,
        })?;
    if !change.dry_run && crate::host::sys::uid() != 0 {
        return Err(Error::Flag {
            flag: "remediate",
            message:
                "applying changes needs root; run it with sudo, or add --dry-run to see the changes"
                    .into(),
        });
    }
    let settings = Settings::new(change.dry_run, change.root.clone());
    // A dry run changes nothing, so it neither waits for nor blocks a real run.
    let _lock = if change.dry_run {
        None
    } else {
        Some(
            RunLock::acquire(&settings.path("/run/lock/hostscript.lock")).map_err(|message| {
                Error::Flag {
                    flag: "remediate",
                    message,
                }
            })?,
        )
    };
    let log_path = change
        .log
        .clone()
        .unwrap_or_else(|| settings.path("/var/log/hostscript/changes.log"));
    let info = RunInfo {
        dry_run: change.dry_run,
        root: change.root.display().to_string(),
        log: (!change.dry_run).then(|| log_path.display().to_string()),
    };
    let mut log_errors: Vec<String> = Vec::new();
    let results = remediator::execute(
        session.engine.clone(),
        &ordered,
        remediation_timeout(change)?,
        gate,
        |result| {
            if !change.dry_run
                && let Err(e) = ledger::append_log(&log_path, &result.id, &result.steps)
            {
                log_errors.push(e);
            }
            on_result(result);
        },
    );
    if let Some(signal) = crate::interrupt::requested()
        && !change.dry_run
        && let Err(e) = ledger::append_interrupted(&log_path, signal)
    {
        log_errors.push(e);
    }
    for e in &log_errors {
        crate::say!("hostscript: {e}");
    }
    Ok(Applied {
        info,
        results,
        load_failures: session.loaded.failures.len(),
    })
}
