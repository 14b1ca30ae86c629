//! `hostscript list`: the checks the scripts declare (id, description, tags, required, needs,
//! remediation), without running any of them.

use std::io::Write;
use std::time::Duration;

use crate::cli::{DocFormat, ListArgs};
use crate::commands::{Session, SessionOptions, display_paths};
use crate::error::{Error, Result, exit_code};
use crate::selection::Selector;

pub fn execute(args: ListArgs) -> Result<u8> {
    let selector = Selector::new(&args.selection.only, &args.selection.tag)?;
    let session = Session::start(SessionOptions {
        replay_vars: None,
        paths: &args.selection.paths,
        vars_files: &args.selection.vars.files,
        var_flags: &args.selection.vars.flags,
        jobs: None,
        load_budget: Duration::from_secs(10),
        target: None,
        base_vars_dirs: &[],
        remediating: None,
    })?;
    for failure in &session.loaded.failures {
        crate::say!("hostscript: {}", failure.diagnostic);
    }
    if session.loaded.checks.is_empty() && session.loaded.failures.is_empty() {
        return Err(Error::NoChecks {
            paths: display_paths(&args.selection.paths),
        });
    }
    let checks = selector.apply(session.loaded.checks);
    let listed: Vec<crate::report::Item> =
        checks.iter().map(crate::report::Item::from_check).collect();

    let mut out = crate::report::stdout();
    match args.format {
        DocFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &listed).map_err(|e| Error::Output(e.into()))?;
            writeln!(out).map_err(Error::Output)?;
        }
        DocFormat::Human => {
            // The table fits the width: ids up to 40 columns (a longer one has its line to
            // itself), the description and its notes wrapped under their column.
            let total = crate::report::width();
            let width = listed
                .iter()
                .map(|l| l.id.chars().count())
                .max()
                .unwrap_or(2)
                .clamp(2, 40)
                .min(total.saturating_sub(2 + 8 + 2 + 30).max(8));
            let column = width + 2 + 8 + 2;
            let room = total.saturating_sub(column).max(30);
            writeln!(out, "{:<width$}  {:<8}  DESCRIPTION", "ID", "REQUIRED")
                .map_err(Error::Output)?;
            let pad = " ".repeat(column);
            for l in &listed {
                let mut extra = Vec::new();
                if !l.tags.is_empty() {
                    extra.push(format!("tags: {}", l.tags.join(",")));
                }
                if !l.needs.is_empty() {
                    extra.push(format!("needs: {}", l.needs.join(",")));
                }
                if let Some(fix) = &l.remediation {
                    extra.push(format!("fix: {fix}"));
                }
                if l.remote {
                    extra.push("remote".to_string());
                }
                let extra = if extra.is_empty() {
                    String::new()
                } else {
                    format!("  [{}]", extra.join("; "))
                };
                let required = if l.required { "yes" } else { "optional" };
                let lines = crate::text::wrap(&format!("{}{extra}", l.description), room);
                let mut rest = lines.iter();
                if l.id.chars().count() > width {
                    writeln!(out, "{}", l.id).map_err(Error::Output)?;
                    writeln!(
                        out,
                        "{:<width$}  {required:<8}  {}",
                        "",
                        rest.next().map_or("", String::as_str)
                    )
                    .map_err(Error::Output)?;
                } else {
                    writeln!(
                        out,
                        "{:<width$}  {required:<8}  {}",
                        l.id,
                        rest.next().map_or("", String::as_str)
                    )
                    .map_err(Error::Output)?;
                }
                for line in rest {
                    writeln!(out, "{pad}{line}").map_err(Error::Output)?;
                }
            }
        }
    }
    session.runtime.shutdown_background();
    Ok(if session.loaded.failures.is_empty() {
        exit_code::SUCCESS
    } else {
        exit_code::CHECK_FAILED
    })
}
