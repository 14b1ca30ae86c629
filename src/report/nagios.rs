//! The Nagios/Icinga reporter: one status line with performance data, as a plugin prints it
//! (`HOSTSCRIPT CRITICAL - 2 required checks failed: a, b | pass=26;;;0 ...`). The plugin exit
//! code (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN) is `nagios_state`, which `run` uses as its exit
//! status with this format; the reporter itself never decides it.

use std::io::{self, Write};

use crate::outcome::{CheckResult, Status};
use crate::report::{Item, Reporter, Summary};

/// The plugin states, in Nagios's numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Ok = 0,
    Warning = 1,
    Critical = 2,
    Unknown = 3,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Ok => "OK",
            State::Warning => "WARNING",
            State::Critical => "CRITICAL",
            State::Unknown => "UNKNOWN",
        }
    }
}

/// CRITICAL when a required check failed; else UNKNOWN when one errored (the plugin could not
/// tell); else WARNING when anything warned; else OK.
pub fn nagios_state(results: &[(Item, CheckResult)]) -> State {
    let required = |s: Status| results.iter().any(|(i, r)| i.required && r.status == s);
    let nothing_checked = !results.is_empty()
        && results
            .iter()
            .all(|(_, r)| r.status == Status::Skip && r.waived.is_none());
    if nothing_checked {
        State::Unknown
    } else if required(Status::Fail) {
        State::Critical
    } else if required(Status::Error) {
        State::Unknown
    } else if results.iter().any(|(_, r)| r.status == Status::Warn) {
        State::Warning
    } else {
        State::Ok
    }
}

pub struct Nagios<W: Write> {
    out: W,
    results: Vec<(Item, CheckResult)>,
}

impl<W: Write> Nagios<W> {
    pub fn new(out: W) -> Self {
        Nagios {
            out,
            results: Vec::new(),
        }
    }
}

impl<W: Write> Reporter for Nagios<W> {
    fn check_finished(&mut self, item: &Item, result: &CheckResult) -> io::Result<()> {
        self.results.push((item.clone(), result.clone()));
        Ok(())
    }

    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        let state = nagios_state(&self.results);
        let ids = |s: Status, required: bool| -> Vec<&str> {
            self.results
                .iter()
                .filter(|(i, r)| r.status == s && (!required || i.required))
                .map(|(i, _)| i.id.as_str())
                .collect()
        };
        let text = match state {
            State::Critical => {
                let failed = ids(Status::Fail, true);
                let errored = ids(Status::Error, true);
                let also = if errored.is_empty() {
                    String::new()
                } else {
                    format!("; {} errored: {}", errored.len(), errored.join(", "))
                };
                format!(
                    "{} required check{} failed: {}{also}",
                    failed.len(),
                    if failed.len() == 1 { "" } else { "s" },
                    failed.join(", ")
                )
            }
            State::Unknown if summary.nothing_checked() => {
                "nothing was checked: every selected check was skipped".to_string()
            }
            State::Unknown => {
                let errored = ids(Status::Error, true);
                format!(
                    "cannot tell: {} check{} errored: {}",
                    errored.len(),
                    if errored.len() == 1 { "" } else { "s" },
                    errored.join(", ")
                )
            }
            State::Warning => format!("warnings: {}", ids(Status::Warn, false).join(", ")),
            State::Ok => format!("{} checks ready on {}", summary.total(), summary.host),
        };
        let perf: Vec<String> = summary
            .counts
            .iter()
            .map(|(s, n)| format!("{s}={n};;;0"))
            .chain([format!(
                "duration={:.3}s;;;0",
                summary.duration.as_secs_f64()
            )])
            .collect();
        writeln!(
            self.out,
            "HOSTSCRIPT {} - {text} | {}",
            state.name(),
            perf.join(" ")
        )?;
        self.out.flush()
    }
}
