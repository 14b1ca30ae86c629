//! Reports of a remediation run. Human: one line per remediation with its outcome, then each
//! step with its state, its message, and its diff or command indented under it; a summary line
//! that says when it was a dry run. JSON: one document with every remediation and step, in the
//! order they ran.

use std::io::{self, Write};

use serde::Serialize;

use crate::host::change::StepState;
use crate::remediator::{Outcome, RemediationResult};
use crate::text::human_duration as short_duration;

pub struct RunInfo {
    pub dry_run: bool,
    pub root: String,
    pub log: Option<String>,
}

fn paint(color: bool, code: &str, text: &str) -> String {
    crate::report::paint(color, code, text)
}

fn outcome_label(color: bool, outcome: Outcome) -> String {
    let (word, code) = match outcome {
        Outcome::Ok => ("OK          ", "32"),
        Outcome::Changed => ("CHANGED     ", "33;1"),
        Outcome::WouldChange => ("WOULD CHANGE", "33"),
        Outcome::Failed => ("FAILED      ", "31;1"),
        Outcome::Skipped => ("SKIPPED     ", "36"),
        Outcome::Unknown => ("CANNOT TELL ", "35"),
    };
    paint(color, code, word)
}

fn step_label(color: bool, state: StepState) -> String {
    let (word, code) = match state {
        StepState::Ok => ("ok          ", "32"),
        StepState::Changed => ("changed     ", "33;1"),
        StepState::WouldChange => ("would change", "33"),
        StepState::Failed => ("failed      ", "31;1"),
        StepState::Unknown => ("cannot tell ", "35"),
    };
    paint(color, code, word)
}

/// One remediation, as soon as it finished.
pub fn human_result(out: &mut dyn Write, color: bool, r: &RemediationResult) -> io::Result<()> {
    writeln!(
        out,
        "{}  {}  {}  ({})",
        outcome_label(color, r.outcome),
        r.id,
        r.description,
        short_duration(r.duration)
    )?;
    for step in &r.steps {
        writeln!(
            out,
            "    {}  {}: {}",
            step_label(color, step.state),
            step.action,
            step.message
        )?;
        if let Some(detail) = &step.detail
            && step.state != StepState::Ok
        {
            for line in detail.lines() {
                let line = if color && line.starts_with('+') && !line.starts_with("+++") {
                    paint(true, "32", line)
                } else if color && line.starts_with('-') && !line.starts_with("---") {
                    paint(true, "31", line)
                } else {
                    line.to_string()
                };
                writeln!(out, "                  {line}")?;
            }
        }
    }
    if let Some(error) = &r.error {
        // A failed step is already on its own line; its error repeated would say it twice.
        let told = r.steps.iter().any(|s| {
            s.state == StepState::Failed && error.contains(&format!("{}: {}", s.action, s.message))
        });
        if !told {
            writeln!(out, "    {}", paint(color, "31", error))?;
        }
        if r.outcome == Outcome::Failed {
            let left: Vec<&str> = r
                .steps
                .iter()
                .filter(|s| s.state == StepState::Changed)
                .map(|s| s.action.as_str())
                .collect();
            if left.is_empty() {
                writeln!(out, "    stopped before changing anything")?;
            } else {
                writeln!(out, "    stopped; left changed: {}", left.join("; "))?;
            }
        }
    }
    Ok(())
}

pub fn human_summary(
    out: &mut dyn Write,
    results: &[RemediationResult],
    info: &RunInfo,
) -> io::Result<()> {
    let count = |o: Outcome| results.iter().filter(|r| r.outcome == o).count();
    let mut line = format!(
        "\n{} remediation{}: {} ok, {} {}, {} failed, {} skipped, {} cannot tell",
        results.len(),
        if results.len() == 1 { "" } else { "s" },
        count(Outcome::Ok),
        count(Outcome::Changed) + count(Outcome::WouldChange),
        if info.dry_run {
            "would change"
        } else {
            "changed"
        },
        count(Outcome::Failed),
        count(Outcome::Skipped),
        count(Outcome::Unknown),
    );
    if info.dry_run {
        line.push_str(" — dry run, nothing was changed");
    } else if let Some(log) = &info.log {
        line.push_str(&format!(" — changes logged to {log}"));
    }
    if info.root != "/" {
        line.push_str(&format!(" (root {})", info.root));
    }
    writeln!(out, "{line}")
}

#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    dry_run: bool,
    root: &'a str,
    log: Option<&'a str>,
    ok: bool,
    remediations: &'a [RemediationResult],
}

/// The JSON document of a remediation run, as a value (`run --fix` embeds it).
pub fn document(results: &[RemediationResult], info: &RunInfo) -> serde_json::Value {
    let doc = Document {
        schema_version: 1,
        dry_run: info.dry_run,
        root: &info.root,
        log: info.log.as_deref(),
        ok: results.iter().all(|r| r.outcome != Outcome::Failed),
        remediations: results,
    };
    serde_json::to_value(&doc).unwrap_or_default()
}

pub fn json(out: &mut dyn Write, results: &[RemediationResult], info: &RunInfo) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &document(results, info))?;
    writeln!(out)
}
