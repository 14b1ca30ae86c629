//! The TAP reporter (Test Anything Protocol, version 14) for CI systems that read TAP: one
//! test point per check. `pass` and `warn` are `ok` (a warning does not fail the run; it is a
//! `# warn` comment), `skip` is `ok ... # SKIP reason`, `fail` and `error` are `not ok` with a
//! YAML block giving the status, the message and the remediation.

use std::io::{self, Write};

use crate::outcome::{CheckResult, Status};
use crate::report::{Item, Reporter, Summary};

pub struct Tap<W: Write> {
    out: W,
    points: Vec<String>,
}

impl<W: Write> Tap<W> {
    pub fn new(out: W) -> Self {
        Tap {
            out,
            points: Vec::new(),
        }
    }
}

/// TAP descriptions end at `#`; a `#` in a message must not start a directive.
fn description(text: &str) -> String {
    text.replace('#', "\\#")
}

/// A YAML double-quoted scalar.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

impl<W: Write> Reporter for Tap<W> {
    fn check_finished(&mut self, item: &Item, result: &CheckResult) -> io::Result<()> {
        let n = self.points.len() + 1;
        let head = format!("{n} - {}", description(&item.id));
        let point = match result.status {
            Status::Pass => format!("ok {head}"),
            Status::Warn => format!("ok {head}\n# warn: {}", result.message.replace('\n', " ")),
            Status::Skip => format!("ok {head} # SKIP {}", description(&result.message)),
            Status::Fail | Status::Error => {
                let mut block = format!(
                    "not ok {head}\n  ---\n  status: {}\n  message: {}\n  required: {}",
                    result.status,
                    quoted(&result.message),
                    item.required
                );
                if let Some(fix) = result.fix(item.remediation.as_deref()) {
                    block.push_str(&format!(
                        "\n  fix: {}",
                        quoted(&format!("{} {fix}", crate::report::fix_command()))
                    ));
                }
                block.push_str("\n  ...");
                block
            }
        };
        self.points.push(point);
        Ok(())
    }

    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        writeln!(self.out, "TAP version 14")?;
        writeln!(self.out, "1..{}", self.points.len())?;
        for point in &self.points {
            writeln!(self.out, "{point}")?;
        }
        let counts: Vec<String> = summary
            .counts
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect();
        writeln!(
            self.out,
            "# {} on {}: {}",
            if summary.ok() { "ready" } else { "not ready" },
            summary.host,
            counts.join(", ")
        )?;
        self.out.flush()
    }
}
