//! The human reporter: one line per check with its status, id, message and duration; the
//! remediation to run under each failure; details on an indented line; a summary at the end.
//! Colour only on a terminal (or `--color always`) and never when `NO_COLOR` is set.

use std::io::{self, Write};

use crate::outcome::{CheckResult, Status};
use crate::report::{Item, Reporter, Summary};
use crate::text::human_duration as short_duration;

pub struct Human<W: Write> {
    out: W,
    color: bool,
    quiet: bool,
    details: bool,
    id_width: usize,
}

impl<W: Write> Human<W> {
    pub fn new(out: W, look: crate::report::Look, items: &[Item]) -> Self {
        let color = look.color;
        let id_width = items
            .iter()
            .map(|i| i.id.chars().count())
            .max()
            .unwrap_or(0)
            .min(40);
        Human {
            out,
            color,
            quiet: look.quiet,
            details: look.details,
            id_width,
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        crate::report::paint(self.color, code, text)
    }

    fn status_label(&self, status: Status) -> String {
        let (word, code) = match status {
            Status::Pass => ("PASS ", "32"),
            Status::Warn => ("WARN ", "33"),
            Status::Fail => ("FAIL ", "31;1"),
            Status::Skip => ("SKIP ", "36"),
            Status::Error => ("ERROR", "35;1"),
        };
        self.paint(code, word)
    }
}

fn details_line(result: &CheckResult) -> Option<String> {
    if result.details.is_empty() {
        return None;
    }
    let parts: Vec<String> = result
        .details
        .iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect();
    Some(parts.join("  "))
}

impl<W: Write> Reporter for Human<W> {
    fn check_finished(&mut self, item: &Item, result: &CheckResult) -> io::Result<()> {
        // -q: only what did not pass (the summary still counts everything).
        if self.quiet && matches!(result.status, Status::Pass | Status::Skip) {
            return Ok(());
        }
        let label = self.status_label(result.status);
        let duration = self.paint("2", &format!("({})", short_duration(result.duration)));
        writeln!(
            self.out,
            "{label}  {:<width$}  {}  {duration}",
            item.id,
            result.message,
            width = self.id_width
        )?;
        let indent = " ".repeat(7);
        // Details of what did not pass are always shown; of passes, with -v.
        if (self.details || result.status != Status::Pass)
            && let Some(details) = details_line(result)
        {
            writeln!(self.out, "{indent}{}", self.paint("2", &details))?;
        }
        // What the check saw: with -v under what did not pass, and under every check
        // `--explain` names.
        if item.explain || (self.details && result.status != Status::Pass) {
            for e in &result.evidence {
                writeln!(
                    self.out,
                    "{indent}{} {}",
                    self.paint("2", &format!("asked {}:", e.question)),
                    e.answer
                )?;
            }
        }
        if let Some(fix) = result.fix(item.remediation.as_deref()) {
            writeln!(
                self.out,
                "{indent}fix: {} {fix}",
                crate::report::fix_command()
            )?;
        } else if let Some(why) = &result.no_fix
            && matches!(result.status, Status::Fail | Status::Error | Status::Warn)
        {
            writeln!(self.out, "{indent}fix: by hand ({why})")?;
        }
        Ok(())
    }

    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        let counts: Vec<String> = summary
            .counts
            .iter()
            .map(|(status, n)| format!("{n} {status}"))
            .collect();
        let verdict = if summary.ok() {
            self.paint("32;1", "OK")
        } else if summary.nothing_checked() {
            self.paint("31;1", "NOTHING CHECKED (every selected check was skipped)")
        } else {
            let s = if summary.blocking == 1 { "" } else { "s" };
            // Bugs in scripts are counted apart: they say nothing about the host.
            let bugs = match summary.script_errors {
                0 => String::new(),
                1 => ", 1 script error".to_string(),
                n => format!(", {n} script errors"),
            };
            self.paint(
                "31;1",
                &format!(
                    "FAILED ({} required check{s} did not pass{bugs})",
                    summary.blocking
                ),
            )
        };
        writeln!(
            self.out,
            "\n{} check{} on {}: {} in {}{} — {verdict}",
            summary.total(),
            if summary.total() == 1 { "" } else { "s" },
            summary.host,
            counts.join(", "),
            short_duration(summary.duration),
            if summary.attempts > 1 {
                format!(" after {} attempts", summary.attempts)
            } else {
                String::new()
            },
        )?;
        self.out.flush()
    }
}
