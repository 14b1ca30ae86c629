//! `hostscript run`: load, select, execute, report; exit 0 only when every required check
//! passed. With `--fix`: apply the remediations the failed checks name (in dependency order),
//! run the checks again, and report before and after; the exit code is the re-check's.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::cli::{Format, RunArgs};
use crate::commands::{Session, SessionOptions, display_paths, remediate, timeout_from_flag};
use crate::error::{Error, Result, exit_code};
use crate::outcome::{CheckResult, Status};
use crate::report::{self, Item, Reporter, Sequencer, Summary};
use crate::runner::{self, RunnerOptions};
use crate::script::{CheckDef, LoadFailure};
use crate::selection::Selector;
use crate::target::RunTarget;

pub fn execute(args: RunArgs) -> Result<u8> {
    let started = Instant::now();
    let timeout = timeout_from_flag(args.timeout)?;
    let selector = Selector::new(&args.selection.only, &args.selection.tag)?;
    if !args.fix
        && (args.change.dry_run
            || args.change.log.is_some()
            || args.change.root != std::path::Path::new("/"))
    {
        return Err(Error::Flag {
            flag: "--dry-run/--root/--log",
            message: "only apply to remediations: add --fix".into(),
        });
    }
    let target = args
        .target
        .as_deref()
        .map(RunTarget::parse)
        .transpose()
        .map_err(|message| Error::Flag {
            flag: "--target",
            message,
        })?;
    let remote_host = target
        .as_ref()
        .filter(|t| !t.is_local())
        .map(|t| t.host.clone());
    if args.fix && args.output.format.run_only() {
        return Err(Error::Flag {
            flag: "--fix",
            message: "reports before and after, which prometheus and junit cannot carry; use human or json".into(),
        });
    }
    if args.fix
        && let Some(host) = &remote_host
    {
        // Remediations change the machine they run on, which is not the one looked at.
        return Err(Error::Flag {
            flag: "--fix",
            message: format!(
                "remediates this host only, but --target names {host}; run hostscript on {host}"
            ),
        });
    }
    let session = Session::start(SessionOptions {
        paths: &args.selection.paths,
        vars_files: &args.selection.vars.files,
        var_flags: &args.selection.vars.flags,
        jobs: args.jobs,
        load_budget: timeout,
        target: target.as_ref(),
        base_vars_dirs: &[],
        remediating: None,
    })?;

    if session.loaded.checks.is_empty() && session.loaded.failures.is_empty() {
        return Err(Error::NoChecks {
            paths: display_paths(&args.selection.paths),
        });
    }
    let checks = selector.apply(session.loaded.checks.clone());
    if checks.is_empty() && session.loaded.failures.is_empty() {
        return Err(Error::NothingSelected {
            selection: selector.describe(),
        });
    }
    let options = RunnerOptions {
        jobs: session.jobs,
        default_timeout: timeout,
        grace: Duration::from_secs(1),
        remote_host,
    };
    let color = report::human::use_color(args.output.color);
    if args.output.format != Format::Human {
        for failure in &session.loaded.failures {
            eprintln!("hostscript: {}", failure.diagnostic);
        }
    }

    if !args.fix {
        let stdout = crate::report::stdout();
        let (summary, _) = run_and_report(
            &session,
            &checks,
            &options,
            args.output.format,
            color,
            stdout,
            started,
        )?;
        // Threads of abandoned checks must not keep the process alive.
        session.runtime.shutdown_background();
        return Ok(exit_for(&summary));
    }

    // --fix: before, remediation, after. JSON gathers the three into one document. The
    // remediations load first, so a bad remediation directory stops the run before any report.
    let remediation_session = remediate::start(
        &args.change,
        &session.discovered.dirs,
        &args.selection.vars.files,
        &args.selection.vars.flags,
    )?;
    let mut buffer: Vec<u8> = Vec::new();
    let mut stdout = crate::report::stdout();
    let before_out: &mut dyn Write = if args.output.format == Format::Json {
        &mut buffer
    } else {
        &mut stdout
    };
    let (before, results) = run_and_report(
        &session,
        &checks,
        &options,
        args.output.format,
        color,
        before_out,
        started,
    )?;
    let before_doc = take_json(&mut buffer, args.output.format)?;
    if crate::interrupt::requested().is_some() {
        // Interrupted during the checks: the report stands, nothing is remediated.
        if let Some(doc) = before_doc {
            write_fix_document(
                &mut stdout,
                Some(doc),
                None,
                None,
                &serde_json::Value::Array(Vec::new()),
                "interrupted: nothing was remediated",
            )?;
        }
        session.runtime.shutdown_background();
        return Ok(exit_code::CHECK_FAILED);
    }
    let defined = |id: &str| {
        remediation_session
            .loaded
            .remediations
            .iter()
            .any(|r| r.id == id)
    };
    let plan = plan_fixes(
        &checks,
        &results,
        &defined,
        &remediation_session.discovered.dirs,
    );
    let wanted = plan.run;
    let skipped = plan.skipped;
    if args.output.format != Format::Json && !skipped.is_empty() {
        writeln!(stdout, "\nNot remediated:").map_err(Error::Output)?;
        for s in &skipped {
            writeln!(stdout, "  {} ({}): {}", s.id, s.status, s.reason).map_err(Error::Output)?;
        }
    }
    // Also on stderr: a check naming a remediation nobody defined is a configuration mistake.
    for s in skipped.iter().filter(|s| s.undefined) {
        eprintln!("hostscript: {}: {}", s.id, s.reason);
    }
    let skipped_json = serde_json::to_value(&skipped).unwrap_or_default();
    if wanted.is_empty() {
        let message = if before.ok() && skipped.is_empty() {
            "nothing to fix: no failed check names a remediation"
        } else {
            "nothing to fix automatically: no failed check names a remediation that applies"
        };
        match args.output.format {
            Format::Human | Format::Prometheus | Format::Junit => {
                writeln!(stdout, "\n{message}").map_err(Error::Output)?
            }
            Format::Json => {
                write_fix_document(&mut stdout, before_doc, None, None, &skipped_json, message)?
            }
        }
        session.runtime.shutdown_background();
        return Ok(exit_for(&before));
    }
    if args.output.format == Format::Human {
        writeln!(
            stdout,
            "\n{} {}: {}\n",
            if args.change.dry_run {
                "Would remediate"
            } else {
                "Remediating"
            },
            if wanted.len() == 1 { "one" } else { "these" },
            wanted.join(", ")
        )
        .map_err(Error::Output)?;
    }
    let fix_out: &mut dyn Write = if args.output.format == Format::Json {
        &mut buffer
    } else {
        &mut stdout
    };
    let applied = remediate::apply(
        &remediation_session,
        &wanted,
        &args.change,
        args.output.format,
        color,
        fix_out,
    )?;
    let fix_doc = take_json(&mut buffer, args.output.format)?;
    if args.change.dry_run {
        let message = "dry run: nothing changed, so the checks were not run again";
        match args.output.format {
            Format::Human | Format::Prometheus | Format::Junit => {
                writeln!(stdout, "{message}").map_err(Error::Output)?
            }
            Format::Json => write_fix_document(
                &mut stdout,
                before_doc,
                fix_doc,
                None,
                &skipped_json,
                message,
            )?,
        }
        session.runtime.shutdown_background();
        return Ok(if applied.ok() {
            exit_for(&before)
        } else {
            exit_code::CHECK_FAILED
        });
    }

    if args.output.format == Format::Human {
        writeln!(stdout, "\nChecking again:\n").map_err(Error::Output)?;
    }
    let after_out: &mut dyn Write = if args.output.format == Format::Json {
        &mut buffer
    } else {
        &mut stdout
    };
    let (after, after_results) = run_and_report(
        &session,
        &checks,
        &options,
        args.output.format,
        color,
        after_out,
        Instant::now(),
    )?;
    let after_doc = take_json(&mut buffer, args.output.format)?;
    let changes = before_after(&results, &after_results);
    match args.output.format {
        Format::Human | Format::Prometheus | Format::Junit => {
            writeln!(stdout, "\nBefore → after:").map_err(Error::Output)?;
            if changes.is_empty() {
                writeln!(stdout, "  no check changed status").map_err(Error::Output)?;
            }
            for (id, from, to) in &changes {
                writeln!(stdout, "  {id}: {from} → {to}").map_err(Error::Output)?;
            }
        }
        Format::Json => write_fix_document(
            &mut stdout,
            before_doc,
            fix_doc,
            after_doc,
            &skipped_json,
            "",
        )?,
    }
    session.runtime.shutdown_background();
    Ok(exit_for(&after))
}

fn exit_for(summary: &Summary) -> u8 {
    if summary.ok() {
        exit_code::SUCCESS
    } else {
        exit_code::CHECK_FAILED
    }
}

/// Runs `checks` (plus the load failures, which come first: nothing else explains their
/// missing checks) and reports them on `out` in declaration order.
fn run_and_report(
    session: &Session,
    checks: &[CheckDef],
    options: &RunnerOptions,
    format: Format,
    color: bool,
    out: impl Write,
    started: Instant,
) -> Result<(Summary, Vec<(Item, CheckResult)>)> {
    let failures: &[LoadFailure] = &session.loaded.failures;
    let mut items: Vec<Item> = Vec::new();
    let mut early: Vec<CheckResult> = Vec::new();
    for failure in failures {
        let (item, result) = Item::from_failure(failure);
        items.push(item);
        early.push(result);
    }
    let offset = items.len();
    items.extend(checks.iter().map(Item::from_check));

    let mut reporter: Box<dyn Reporter + '_> = match format {
        Format::Human => Box::new(report::human::Human::new(out, color, &items)),
        Format::Json => Box::new(report::json::Json::new(out)),
        Format::Prometheus => Box::new(report::prometheus::Prometheus::new(out)),
        Format::Junit => Box::new(report::junit::Junit::new(out)),
    };
    let mut results: Vec<Option<CheckResult>> = vec![None; items.len()];
    let mut sequencer = Sequencer::new(items.len());
    let mut write_error: Option<std::io::Error> = None;
    let mut deliver = |index: usize, result: CheckResult, reporter: &mut Box<dyn Reporter + '_>| {
        for (i, ready) in sequencer.push(index, result) {
            if write_error.is_none()
                && let Err(e) = reporter.check_finished(&items[i], &ready)
            {
                write_error = Some(e);
            }
            results[i] = Some(ready);
        }
    };
    for (i, result) in early.into_iter().enumerate() {
        deliver(i, result, &mut reporter);
    }
    runner::execute(
        &session.runtime,
        session.engine.clone(),
        checks,
        options,
        |index, result| {
            deliver(offset + index, result, &mut reporter);
        },
    );
    let finished: Vec<(Item, CheckResult)> = items
        .iter()
        .cloned()
        .zip(results)
        .filter_map(|(item, result)| result.map(|r| (item, r)))
        .collect();
    let summary = Summary::new(&finished, started.elapsed(), crate::host::sys::hostname());
    if let Some(e) = write_error {
        return Err(Error::Output(e));
    }
    reporter.finish(&summary).map_err(Error::Output)?;
    let _ = std::io::stderr().flush();
    Ok((summary, finished))
}

/// A failing or erroring check whose remediation `--fix` does not run, and why.
#[derive(Debug, serde::Serialize)]
struct NotRemediated {
    id: String,
    status: Status,
    remediation: Option<String>,
    reason: String,
    #[serde(skip)]
    undefined: bool,
}

/// What `--fix` runs, and what it leaves alone with the reason for each.
struct FixPlan {
    run: Vec<String>,
    skipped: Vec<NotRemediated>,
}

/// The remediations named by checks that failed, each once, in report order; every other
/// check that did not pass (fail or error, also when demoted to warn) is named with the reason
/// it gets no remediation, so nothing is skipped silently.
fn plan_fixes(
    checks: &[CheckDef],
    results: &[(Item, CheckResult)],
    defined: &dyn Fn(&str) -> bool,
    dirs: &[PathBuf],
) -> FixPlan {
    let mut run: Vec<String> = Vec::new();
    let mut skipped = Vec::new();
    for (item, result) in results {
        let status = result.demoted_from.unwrap_or(result.status);
        if !matches!(status, Status::Fail | Status::Error) {
            continue;
        }
        let declared = checks
            .iter()
            .find(|c| c.id == item.id)
            .and_then(|c| c.remediation.clone());
        let reason = match (&declared, status) {
            (None, _) => Some("it names no remediation: fix it by hand as its message says".into()),
            (Some(id), Status::Error) => Some(format!(
                "it errored, so what to fix is not known; read its message, then `hostscript remediate {id}` if it applies"
            )),
            (Some(_), _) if result.no_fix.is_some() => Some(format!(
                "its remediation does not apply: {}",
                result.no_fix.as_deref().unwrap_or_default()
            )),
            (Some(id), _) if !defined(id) => Some(format!(
                "it names remediation `{id}`, which {} does not define",
                display_paths(dirs)
            )),
            (Some(_), _) => None,
        };
        match (reason, declared) {
            (Some(reason), remediation) => skipped.push(NotRemediated {
                id: item.id.clone(),
                status,
                undefined: status == Status::Fail
                    && result.no_fix.is_none()
                    && remediation.as_deref().is_some_and(|id| !defined(id)),
                remediation,
                reason,
            }),
            (None, Some(id)) if !run.contains(&id) => run.push(id),
            (None, _) => {}
        }
    }
    FixPlan { run, skipped }
}

/// Checks whose status changed, as (id, before, after).
fn before_after(
    before: &[(Item, CheckResult)],
    after: &[(Item, CheckResult)],
) -> Vec<(String, String, String)> {
    after
        .iter()
        .filter_map(|(item, now)| {
            let was = before.iter().find(|(i, _)| i.id == item.id)?;
            (was.1.status != now.status).then(|| {
                (
                    item.id.clone(),
                    was.1.status.to_string(),
                    now.status.to_string(),
                )
            })
        })
        .collect()
}

/// The JSON a reporter wrote into `buffer`, which is emptied.
fn take_json(buffer: &mut Vec<u8>, format: Format) -> Result<Option<serde_json::Value>> {
    if format != Format::Json || buffer.is_empty() {
        return Ok(None);
    }
    let value =
        serde_json::from_slice(buffer).map_err(|e| Error::Output(std::io::Error::other(e)))?;
    buffer.clear();
    Ok(Some(value))
}

fn write_fix_document(
    out: &mut impl Write,
    before: Option<serde_json::Value>,
    remediation: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    not_remediated: &serde_json::Value,
    note: &str,
) -> Result<()> {
    let ok = after
        .as_ref()
        .or(before.as_ref())
        .and_then(|d| d["ok"].as_bool())
        .unwrap_or(false);
    let doc = serde_json::json!({
        "schema_version": report::json::SCHEMA_VERSION,
        "ok": ok,
        "before": before,
        "remediation": remediation,
        "after": after,
        "not_remediated": not_remediated,
        "note": if note.is_empty() { serde_json::Value::Null } else { note.into() },
    });
    serde_json::to_writer_pretty(&mut *out, &doc)
        .map_err(std::io::Error::other)
        .and_then(|()| writeln!(out))
        .map_err(Error::Output)
}
