//! `run --fix`: before -> remediate -> after, composed from the runner and the remediator as
//! values. The check runs stream to a reporter (human on the terminal) or are kept as data
//! (JSON), the remediations named by failed checks run in `after` order, and with JSON the
//! three phases become one document built from values, never written out and parsed back.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use crate::cli::{RunArgs, RunFormat};
use crate::commands::running::{exit_for, run_and_report, write_outputs};
use crate::commands::{Session, display_paths, remediate};
use crate::error::{Error, Result, exit_code};
use crate::outcome::{CheckResult, Status};
use crate::report::{self, Item, Reporter, Summary};
use crate::runner::RunnerOptions;
use crate::script::CheckDef;

/// One run of the checks, as `--fix` needs it: the results, and the JSON value when the
/// output is JSON.
struct Phase {
    summary: Summary,
    results: Vec<(Item, CheckResult)>,
    json: Option<serde_json::Value>,
}

fn check_phase(
    session: &Session,
    checks: &[CheckDef],
    options: &RunnerOptions,
    started: Instant,
    json: bool,
    look: report::Look,
    memory: Option<&crate::state::Memory>,
) -> Result<Phase> {
    let (summary, results) = run_and_report(session, checks, options, started, memory, |items| {
        if json {
            // Kept as data: the value is taken from the results below.
            Box::new(report::Silent) as Box<dyn Reporter>
        } else {
            report::for_format(
                report::Format::Human,
                Box::new(report::stdout()),
                look,
                items,
            )
        }
    })?;
    let json = json.then(|| json_value(&results, &summary));
    Ok(Phase {
        summary,
        results,
        json,
    })
}

/// The JSON report of a finished run, as a value.
fn json_value(results: &[(Item, CheckResult)], summary: &Summary) -> serde_json::Value {
    let mut json = report::json::Json::new(std::io::sink());
    for (item, result) in results {
        let _ = json.check_finished(item, result);
    }
    json.value(summary)
}

pub(crate) fn execute(
    args: &RunArgs,
    prepared: &crate::commands::running::Prepared,
    look: report::Look,
    started: Instant,
    outputs: &[(RunFormat, PathBuf)],
    memory: Option<&crate::state::Memory>,
) -> Result<u8> {
    let (session, checks, options) = (&prepared.session, &prepared.checks, &prepared.options);
    let color = look.color;
    let json = args.output.format == RunFormat::Json;
    // The remediations load first, so a bad remediation directory stops the run before any
    // report.
    let remediation_session = remediate::start(
        &args.change,
        &session.discovered.dirs,
        &args.selection.vars.files,
        &args.selection.vars.flags,
    )?;
    let mut stdout = report::stdout();
    let before = check_phase(session, checks, options, started, json, look, memory)?;
    // What this run remembers (`--state`): the last check run's statuses, and the outcome of
    // each remediation that ran.
    let remembered = std::cell::RefCell::new(Vec::<(String, String, bool)>::new());
    let finish = |stdout: &mut report::Stdout,
                  phase: &Phase,
                  remediation: Option<serde_json::Value>,
                  after: Option<&Phase>,
                  skipped: &serde_json::Value,
                  note: &str|
     -> Result<()> {
        let last = after.unwrap_or(phase);
        let outcomes = remembered.borrow();
        let outcomes: Vec<(&str, &str, bool)> = outcomes
            .iter()
            .map(|(id, outcome, ok)| (id.as_str(), outcome.as_str(), *ok))
            .collect();
        crate::commands::running::remember(memory, &last.results, &outcomes);
        write_outputs(outputs, &last.results, &last.summary)?;
        if json {
            write_fix_document(
                stdout,
                phase.json.clone(),
                remediation,
                after.and_then(|a| a.json.clone()),
                skipped,
                note,
            )?;
        } else if !note.is_empty() {
            writeln!(stdout, "\n{note}").map_err(Error::Output)?;
        }
        Ok(())
    };
    if crate::interrupt::requested().is_some() {
        // Interrupted during the checks: the report stands, nothing is remediated.
        finish(
            &mut stdout,
            &before,
            None,
            None,
            &serde_json::json!([]),
            "interrupted: nothing was remediated",
        )?;
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
        checks,
        &before.results,
        &defined,
        &remediation_session.discovered.dirs,
    );
    let wanted = plan.run;
    let skipped = plan.skipped;
    if !json && !skipped.is_empty() {
        writeln!(stdout, "\nNot remediated:").map_err(Error::Output)?;
        for s in &skipped {
            writeln!(stdout, "  {} ({}): {}", s.id, s.status, s.reason).map_err(Error::Output)?;
        }
    }
    // Also on stderr: a check naming a remediation nobody defined is a configuration mistake.
    for s in skipped.iter().filter(|s| s.undefined) {
        crate::say!("hostscript: {}: {}", s.id, s.reason);
    }
    let skipped_json = serde_json::to_value(&skipped).unwrap_or_default();
    if wanted.is_empty() {
        let message = if before.summary.ok() && skipped.is_empty() {
            "nothing to fix: no failed check names a remediation"
        } else {
            "nothing to fix automatically: no failed check names a remediation that applies"
        };
        finish(&mut stdout, &before, None, None, &skipped_json, message)?;
        return Ok(exit_for(&before.summary));
    }
    if !json {
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
    let mut write_error = None;
    // Held back: one backing off after failing (unless --force), and one whose checks pass
    // again after the remediations before it changed something.
    let mut backing_off = remediate::backoff_gate(memory, args.force || args.change.dry_run);
    let naming = checks_naming(&before.results);
    let mut gate = |def: &crate::script::RemediationDef,
                    done: &[crate::remediator::RemediationResult]|
     -> Option<crate::remediator::Held> {
        if let Some(held) = backing_off(def, done) {
            return Some(held);
        }
        let changed = done
            .iter()
            .any(|r| r.outcome == crate::remediator::Outcome::Changed);
        let ids = naming.get(def.id.as_str())?;
        if args.change.dry_run || !changed {
            return None;
        }
        passing_again(session, checks, options, ids).map(|passing| crate::remediator::Held {
            reason: format!("its checks pass again: {}", passing.join(", ")),
            next_try: None,
        })
    };
    let applied = remediate::apply(
        &remediation_session,
        &wanted,
        &args.change,
        &mut gate,
        &mut |result| {
            if !json
                && write_error.is_none()
                && let Err(e) = report::remediation::human_result(&mut stdout, color, result)
            {
                write_error = Some(e);
            }
        },
    )?;
    if let Some(e) = write_error {
        return Err(Error::Output(e));
    }
    remembered.borrow_mut().extend(
        applied
            .to_remember()
            .into_iter()
            .map(|(id, outcome, ok)| (id.to_string(), outcome.to_string(), ok)),
    );
    let remediation = if json {
        Some(report::remediation::document(
            &applied.results,
            &applied.info,
        ))
    } else {
        report::remediation::human_summary(&mut stdout, &applied.results, &applied.info)
            .map_err(Error::Output)?;
        None
    };
    if args.change.dry_run || crate::interrupt::requested().is_some() {
        let message = if args.change.dry_run {
            "dry run: nothing changed, so the checks were not run again"
        } else {
            "interrupted: the checks were not run again"
        };
        finish(
            &mut stdout,
            &before,
            remediation,
            None,
            &skipped_json,
            message,
        )?;
        return Ok(if applied.ok() {
            exit_for(&before.summary)
        } else {
            exit_code::CHECK_FAILED
        });
    }

    if !json {
        writeln!(stdout, "\nChecking again:\n").map_err(Error::Output)?;
    }
    let after = check_phase(session, checks, options, Instant::now(), json, look, memory)?;
    let changes = before_after(&before.results, &after.results);
    if !json {
        writeln!(stdout, "\nBefore → after:").map_err(Error::Output)?;
        if changes.is_empty() {
            writeln!(stdout, "  no check changed status").map_err(Error::Output)?;
        }
        for (id, from, to) in &changes {
            writeln!(stdout, "  {id}: {from} → {to}").map_err(Error::Output)?;
        }
    }
    finish(
        &mut stdout,
        &before,
        remediation,
        Some(&after),
        &skipped_json,
        "",
    )?;
    Ok(exit_for(&after.summary))
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

/// The failing or erroring checks that name each remediation, from the run before.
fn checks_naming(results: &[(Item, CheckResult)]) -> std::collections::HashMap<&str, Vec<String>> {
    let mut naming: std::collections::HashMap<&str, Vec<String>> = Default::default();
    for (item, result) in results {
        if matches!(result.status, Status::Fail | Status::Error)
            && let Some(fix) = result.fix(item.remediation.as_deref())
        {
            naming.entry(fix).or_default().push(item.id.clone());
        }
    }
    naming
}

/// Runs `ids` again (with what they need): `Some(ids)` when each passes now (pass or warn).
fn passing_again(
    session: &Session,
    checks: &[CheckDef],
    options: &RunnerOptions,
    ids: &[String],
) -> Option<Vec<String>> {
    let subset = crate::selection::Selector::with_skip(ids, &[], &[])
        .ok()?
        .apply(checks.to_vec());
    let silent = |_: &[Item]| Box::new(report::Silent) as Box<dyn Reporter>;
    let (_, again) =
        run_and_report(session, &subset, options, Instant::now(), None, silent).ok()?;
    let all_pass = ids.iter().all(|id| {
        again
            .iter()
            .any(|(item, r)| &item.id == id && matches!(r.status, Status::Pass | Status::Warn))
    });
    all_pass.then(|| ids.to_vec())
}
