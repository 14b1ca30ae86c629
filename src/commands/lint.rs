//! `hostscript lint`: compile every script and evaluate its declarations without running any
//! check, then report every problem as `file:line:col: message`: parse errors, bad `check`
//! keys, duplicate ids, needs that name no check, and dependency cycles. Exit 1 if any.

use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

use crate::cli::LintArgs;
use crate::commands::{Session, SessionOptions};
use crate::error::{Result, exit_code};

pub fn execute(args: LintArgs) -> Result<u8> {
    let session = Session::start(SessionOptions {
        paths: &args.paths,
        vars_files: &args.vars.files,
        var_flags: &args.vars.flags,
        jobs: None,
        load_budget: Duration::from_secs(10),
        target: None,
        base_vars_dirs: &[],
        remediating: None,
    })?;
    let mut problems: Vec<String> = session
        .loaded
        .failures
        .iter()
        .map(|f| f.diagnostic.to_string())
        .collect();
    // A waiver that matches no check waives nothing: a typo, or a check that went away.
    let waivers = crate::waivers::Waivers::load(&session.discovered.dirs, &[])?;
    for w in &waivers.all {
        if !session
            .loaded
            .checks
            .iter()
            .any(|c| w.pattern.matches(&c.id))
        {
            problems.push(format!(
                "{}: waiver `{}` matches no check",
                w.file.display(),
                w.pattern.as_str()
            ));
        }
    }
    // Unknown `needs` and dependency cycles, as the runner would find them.
    problems.extend(crate::runner::dependency_problems(&session.loaded.checks));
    // Linted together, checks must name remediations that exist, and `after` lists too.
    let remediation_ids: HashSet<&str> = session
        .loaded
        .remediations
        .iter()
        .map(|r| r.id.as_str())
        .collect();
    if !remediation_ids.is_empty() {
        for check in &session.loaded.checks {
            if let Some(fix) = &check.remediation
                && !remediation_ids.contains(fix.as_str())
            {
                problems.push(format!(
                    "{}:{}: check `{}` names unknown remediation `{fix}`",
                    check.file().display(),
                    check.line,
                    check.id
                ));
            }
        }
    }
    for remediation in &session.loaded.remediations {
        for after in &remediation.after {
            if !remediation_ids.contains(after.as_str()) {
                problems.push(format!(
                    "{}:{}: remediation `{}` runs after unknown remediation `{after}`",
                    remediation.file().display(),
                    remediation.line,
                    remediation.id
                ));
            }
        }
    }
    let mut out = crate::report::stdout();
    for problem in &problems {
        // A reader that went away (`lint | head`) is not an error: the count still goes to
        // stderr and the exit status still says whether problems were found.
        let _ = writeln!(out, "{problem}");
    }
    let files = session.discovered.files.len();
    let checks = session.loaded.checks.len();
    let remediations = match session.loaded.remediations.len() {
        0 => String::new(),
        n => format!(", {n} remediation{}", plural(n)),
    };
    eprintln!(
        "hostscript lint: {files} script{}, {checks} check{}{remediations}, {} problem{}",
        plural(files),
        plural(checks),
        problems.len(),
        plural(problems.len())
    );
    session.runtime.shutdown_background();
    Ok(if problems.is_empty() {
        exit_code::SUCCESS
    } else {
        exit_code::CHECK_FAILED
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
