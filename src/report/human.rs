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
    /// The width lines fit (`report::width`): longer messages wrap under themselves.
    width: usize,
}

impl<W: Write> Human<W> {
    pub fn new(out: W, look: crate::report::Look, items: &[Item]) -> Self {
        let color = look.color;
        let width = crate::report::width();
        // Ids up to 40 columns, and never so wide that a message has under 30 (a longer id
        // gets a line of its own).
        let id_width = items
            .iter()
            .map(|i| i.id.chars().count())
            .max()
            .unwrap_or(0)
            .min(40)
            .min(width.saturating_sub(7 + 2 + 30).max(8));
        Human {
            out,
            color,
            quiet: look.quiet,
            details: look.details,
            id_width,
            width,
        }
    }

    /// A line under the check, indented and wrapped to the width (continuations a little
    /// further in), dim for details and evidence.
    fn indented(&mut self, text: &str, dim: bool) -> io::Result<()> {
        for (i, line) in crate::text::wrap(text, self.width.saturating_sub(9).max(30))
            .iter()
            .enumerate()
        {
            let indent = if i == 0 { 7 } else { 9 };
            let line = if dim {
                self.paint("2", line)
            } else {
                line.clone()
            };
            writeln!(self.out, "{}{line}", " ".repeat(indent))?;
        }
        Ok(())
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

/// What runs remember, beside the duration: `, since 3d 4h` for a status that did not just
/// change, and `, flapping: 5 changes in 20 runs`.
fn remembered(result: &CheckResult) -> String {
    let Some(m) = &result.remembered else {
        return String::new();
    };
    let mut out = String::new();
    if !m.changed_now {
        out.push_str(&format!(
            ", since {}",
            crate::text::human_age(std::time::Duration::from_secs(
                m.now.saturating_sub(m.since)
            ))
        ));
    }
    if m.flapping {
        out.push_str(&format!(
            ", flapping: {} changes in {} runs",
            m.changes, m.runs
        ));
    }
    out
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
        let duration = format!(
            "({}{})",
            short_duration(result.duration),
            remembered(result)
        );
        // The message fits the width, wrapped under its own column; an id longer than the
        // id column has the line to itself.
        let column = 7 + self.id_width + 2;
        let room = self.width.saturating_sub(column).max(30);
        let mut lines = crate::text::wrap(&result.message, room);
        let last = lines.len() - 1;
        if lines[last].chars().count() + 2 + duration.len() <= room {
            lines[last] = format!("{}  {}", lines[last], self.paint("2", &duration));
        } else {
            lines.push(self.paint("2", &duration));
        }
        let pad = " ".repeat(column);
        if item.id.chars().count() > self.id_width {
            // The id on lines of its own, cut where even a line cannot hold it.
            for (i, part) in crate::text::wrap(&item.id, self.width.saturating_sub(7))
                .iter()
                .enumerate()
            {
                if i == 0 {
                    writeln!(self.out, "{label}  {part}")?;
                } else {
                    writeln!(self.out, "       {part}")?;
                }
            }
            for line in &lines {
                writeln!(self.out, "{pad}{line}")?;
            }
        } else {
            writeln!(
                self.out,
                "{label}  {:<width$}  {}",
                item.id,
                lines[0],
                width = self.id_width
            )?;
            for line in &lines[1..] {
                writeln!(self.out, "{pad}{line}")?;
            }
        }
        // Details of what did not pass are always shown; of passes, with -v.
        if (self.details || result.status != Status::Pass)
            && let Some(details) = details_line(result)
        {
            self.indented(&details, true)?;
        }
        // What the check saw: with -v under what did not pass, and under every check
        // `--explain` names.
        if item.explain || (self.details && result.status != Status::Pass) {
            for e in &result.evidence {
                self.indented(&format!("asked {}: {}", e.question, e.answer), true)?;
            }
        }
        if let Some(fix) = result.fix(item.remediation.as_deref()) {
            self.indented(
                &format!("fix: {} {fix}", crate::report::fix_command()),
                false,
            )?;
        } else if let Some(why) = &result.no_fix
            && matches!(result.status, Status::Fail | Status::Error | Status::Warn)
        {
            self.indented(&format!("fix: by hand ({why})"), false)?;
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
        let head = format!(
            "{} check{} on {}: {} in {}{}",
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
        );
        // One line when it fits the width, else the verdict on a line of its own.
        let plain = crate::report::strip_ansi(&verdict);
        if head.chars().count() + 3 + plain.chars().count() <= self.width {
            writeln!(self.out, "\n{head} — {verdict}")?;
        } else {
            writeln!(self.out)?;
            for line in crate::text::wrap(&head, self.width) {
                writeln!(self.out, "{line}")?;
            }
            if plain.chars().count() <= self.width {
                writeln!(self.out, "{verdict}")?;
            } else {
                for line in crate::text::wrap(&plain, self.width) {
                    writeln!(self.out, "{}", self.paint("31;1", &line))?;
                }
            }
        }
        self.out.flush()
    }
}
