//! Reporters turn check results into output. They consume results and never decide the exit
//! code, which comes from `Summary`. Results arrive in completion order; `Sequencer` releases
//! them in declaration order so output is the same however the run was scheduled.

pub mod human;
pub mod json;
pub mod junit;
pub mod nagios;
pub mod prometheus;
pub mod remediation;
pub mod tap;

/// Standard output for reports: redacted a line at a time (`crate::secrets`), and tolerant of
/// a reader that went away.
pub type Stdout = crate::secrets::Redacting<Pipe>;

pub fn stdout() -> Stdout {
    crate::secrets::Redacting::new(Pipe {
        inner: std::io::stdout().lock(),
        gone: false,
    })
}

/// The standard output under the redaction: once a write fails with a broken pipe
/// (`hostscript run checks/ | head`), the rest of the output is dropped silently and the run
/// goes on to its end and its own exit status. Dying of SIGPIPE, as `cat` does, would skip the
/// clean-up that kills what the checks' commands started.
pub struct Pipe {
    inner: std::io::StdoutLock<'static>,
    gone: bool,
}

impl std::io::Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.gone {
            return Ok(buf.len());
        }
        match self.inner.write(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.gone = true;
                Ok(buf.len())
            }
            other => other,
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.gone {
            return Ok(());
        }
        match self.inner.flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.gone = true;
                Ok(())
            }
            other => other,
        }
    }
}

use std::collections::BTreeMap;
use std::io;
use std::time::Duration;

use crate::outcome::{CheckResult, Status};
use crate::script::{CheckDef, LoadFailure};

/// A check as reporters describe it: its declaration and where it was declared.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Item {
    /// The check's own declaration, shared: a run keeps an item per result and a reporter may
    /// keep another, and at 10,000 checks copies of every id and tag added up.
    #[serde(flatten)]
    pub spec: std::sync::Arc<crate::script::define::CheckSpec>,
    pub file: std::sync::Arc<str>,
    pub line: usize,
    /// `--explain` names it: the human report shows its evidence even when it passes.
    #[serde(skip)]
    pub explain: bool,
}

impl std::ops::Deref for Item {
    type Target = crate::script::define::CheckSpec;

    fn deref(&self) -> &Self::Target {
        &self.spec
    }
}

impl Item {
    pub fn from_check(check: &CheckDef) -> Self {
        Item {
            spec: check.spec.clone(),
            file: check.script.display_path.clone(),
            line: check.line,
            explain: false,
        }
    }

    /// A script that failed to load stands in the report as one required, erroring entry.
    pub fn from_failure(failure: &LoadFailure) -> (Self, CheckResult) {
        let item = Item {
            spec: std::sync::Arc::new(crate::script::define::CheckSpec::bare(
                failure.id.clone(),
                "script failed to load".to_string(),
            )),
            file: failure.diagnostic.file.display().to_string().into(),
            line: failure.diagnostic.line.unwrap_or(0),
            explain: false,
        };
        (
            item,
            CheckResult::new(Status::Error, failure.diagnostic.to_string()),
        )
    }
}

/// Counts and verdict of a whole run.
#[derive(Debug, Clone)]
pub struct Summary {
    pub counts: BTreeMap<Status, usize>,
    pub duration: Duration,
    pub host: String,
    /// Required checks that failed or errored, and any check with a script error.
    pub blocking: usize,
    /// Checks that ended on a bug in their script (`CheckResult::script_error`).
    pub script_errors: usize,
    /// Checks that produced a verdict: every one but the skipped (a waived check counts: a
    /// waiver is a decision). A run of checks that checked none is not ok.
    pub checked: usize,
    /// How many times the checks ran (`--retry-timeout`); 1 otherwise.
    pub attempts: usize,
}

impl Summary {
    pub fn new(results: &[(Item, CheckResult)], duration: Duration, host: String) -> Self {
        let mut counts: BTreeMap<Status, usize> = Status::ALL.iter().map(|s| (*s, 0)).collect();
        let (mut blocking, mut script_errors, mut checked) = (0, 0, 0);
        for (item, result) in results {
            *counts.entry(result.status).or_default() += 1;
            if result.status != Status::Skip || result.waived.is_some() {
                checked += 1;
            }
            if result.script_error {
                script_errors += 1;
            }
            if (item.required || result.script_error)
                && matches!(result.status, Status::Fail | Status::Error)
            {
                blocking += 1;
            }
        }
        Summary {
            counts,
            duration,
            host,
            blocking,
            script_errors,
            checked,
            attempts: 1,
        }
    }

    pub fn ok(&self) -> bool {
        self.blocking == 0 && !self.nothing_checked()
    }

    /// Checks were selected, and every one was skipped: a gate must not pass on that.
    pub fn nothing_checked(&self) -> bool {
        self.total() > 0 && self.checked == 0
    }

    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }
}

/// What a reporter consumes: the events of one run of checks, in order. A run is data, so the
/// same events can stream to the terminal as checks finish and be replayed into files at the
/// end (`-o FORMAT=FILE`), and a new format is one file and one line in `for_format`.
pub trait Reporter {
    /// Called once per check, in declaration order.
    fn check_finished(&mut self, item: &Item, result: &CheckResult) -> io::Result<()>;
    /// Called once at the end.
    fn finish(&mut self, summary: &Summary) -> io::Result<()>;
}

/// Text in a terminal style (anstyle, as clap uses), or plain when colour is off. `code` names
/// the style the way SGR does: `31` red, `32` green, `33` yellow, `35` magenta, `36` cyan,
/// `2` dim, `;1` bold.
pub(crate) fn paint(color: bool, code: &str, text: &str) -> String {
    use anstyle::{AnsiColor, Style};
    if !color {
        return text.to_string();
    }
    let (base, bold) = match code.strip_suffix(";1") {
        Some(base) => (base, true),
        None => (code, false),
    };
    let style = match base {
        "31" => Style::new().fg_color(Some(AnsiColor::Red.into())),
        "32" => Style::new().fg_color(Some(AnsiColor::Green.into())),
        "33" => Style::new().fg_color(Some(AnsiColor::Yellow.into())),
        "35" => Style::new().fg_color(Some(AnsiColor::Magenta.into())),
        "36" => Style::new().fg_color(Some(AnsiColor::Cyan.into())),
        "2" => Style::new().dimmed(),
        _ => Style::new(),
    };
    let style = if bold { style.bold() } else { style };
    format!("{style}{text}{style:#}")
}

/// A reporter that shows nothing: attempts before the last (`--retry-timeout`), and phases
/// `run --fix` composes at the end.
pub struct Silent;

impl Reporter for Silent {
    fn check_finished(&mut self, _: &Item, _: &CheckResult) -> io::Result<()> {
        Ok(())
    }
    fn finish(&mut self, _: &Summary) -> io::Result<()> {
        Ok(())
    }
}

/// Feeds a finished run to a reporter, in order.
pub fn replay(
    reporter: &mut dyn Reporter,
    results: &[(Item, CheckResult)],
    summary: &Summary,
) -> io::Result<()> {
    for (item, result) in results {
        reporter.check_finished(item, result)?;
    }
    reporter.finish(summary)
}

/// Text without its SGR escapes, to measure what a terminal shows.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The width reports fit: `$COLUMNS`, else the terminal's when stdout is one, else 100.
pub fn width() -> usize {
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|n| *n >= 40)
    {
        return n;
    }
    if let Some((terminal_size::Width(w), _)) = terminal_size::terminal_size()
        && w >= 40
    {
        return usize::from(w);
    }
    100
}

static FIX_COMMAND: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Sets how `fix:` hints say to run a remediation for this run (`commands::installed::
/// fix_command`): bare for the installed suite, with the flags a checkout needs otherwise.
pub fn set_fix_command(command: String) {
    let _ = FIX_COMMAND.set(command);
}

/// `hostscript remediate`, with the flags this run's layout needs.
pub fn fix_command() -> &'static str {
    FIX_COMMAND
        .get()
        .map_or("hostscript remediate", String::as_str)
}

/// How the human report looks: colour, and how much it shows (`-q`: only what did not pass;
/// default: every check; `-v`: with details).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Look {
    pub color: bool,
    pub quiet: bool,
    pub details: bool,
}

/// The formats a run can be reported in; the command line maps its own enum onto this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
    Prometheus,
    Junit,
    Tap,
    Nagios,
}

/// The registry of run formats: the reporter for `format` writing to `out`. A new format is
/// its own file in `report/` and one line here (plus its name on the command line).
pub fn for_format<'a>(
    format: Format,
    out: Box<dyn io::Write + 'a>,
    look: Look,
    items: &[Item],
) -> Box<dyn Reporter + 'a> {
    if format == Format::Human {
        // Streams a line per finished check, for a terminal that watches.
        return Box::new(human::Human::new(out, look, items));
    }
    // The others write one document at the end: buffered, so it leaves in a few large writes
    // rather than a write(2) per line (stdout is line-buffered; 10,000 checks of pretty JSON
    // were 150,000 system calls). Each reporter flushes when it finishes.
    let out: Box<dyn io::Write + 'a> = Box::new(io::BufWriter::with_capacity(1 << 16, out));
    match format {
        Format::Human => Box::new(human::Human::new(out, look, items)),
        Format::Json => Box::new(json::Json::new(out)),
        Format::Prometheus => Box::new(prometheus::Prometheus::new(out)),
        Format::Junit => Box::new(junit::Junit::new(out)),
        Format::Tap => Box::new(tap::Tap::new(out)),
        Format::Nagios => Box::new(nagios::Nagios::new(out)),
    }
}

/// Replays a finished run into one reporter per `-o FORMAT=FILE`, each file written
/// atomically (a temporary file in the same directory, fsync, rename): a reader such as the
/// node_exporter textfile collector never sees half a report. Returns the first error, naming
/// the file; the other files are still written.
pub fn write_files(
    outputs: &[(Format, std::path::PathBuf)],
    results: &[(Item, CheckResult)],
    summary: &Summary,
) -> Result<(), String> {
    let items: Vec<Item> = results.iter().map(|(i, _)| i.clone()).collect();
    let mut first_error = None;
    for (format, path) in outputs {
        let mut buffer: Vec<u8> = Vec::new();
        let written = {
            let mut reporter = for_format(
                *format,
                Box::new(&mut buffer),
                Look {
                    details: true,
                    ..Look::default()
                },
                &items,
            );
            results
                .iter()
                .try_for_each(|(item, result)| reporter.check_finished(item, result))
                .and_then(|()| reporter.finish(summary))
        };
        let outcome = written.and_then(|()| write_atomically(path, &buffer));
        if let Err(e) = outcome
            && first_error.is_none()
        {
            first_error = Some(format!("-o {}: {e}", path.display()));
        }
    }
    first_error.map_or(Ok(()), Err)
}

fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> io::Result<()> {
    let text = crate::secrets::redact(&String::from_utf8_lossy(bytes)).into_owned();
    crate::text::write_atomically(path, text.as_bytes(), 0o666)
}

/// Buffers out-of-order results and hands them on in declaration order.
pub struct Sequencer {
    pending: Vec<Option<CheckResult>>,
    next: usize,
}

impl Sequencer {
    pub fn new(len: usize) -> Self {
        Sequencer {
            pending: vec![None; len],
            next: 0,
        }
    }

    /// Stores a result and returns every result that is now ready, in order.
    pub fn push(&mut self, index: usize, result: CheckResult) -> Vec<(usize, CheckResult)> {
        if let Some(slot) = self.pending.get_mut(index) {
            *slot = Some(result);
        }
        let mut ready = Vec::new();
        while let Some(result) = self.pending.get_mut(self.next).and_then(Option::take) {
            ready.push((self.next, result));
            self.next += 1;
        }
        ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequencer_releases_in_declaration_order() {
        let mut s = Sequencer::new(3);
        assert!(s.push(2, CheckResult::new(Status::Pass, "c")).is_empty());
        assert!(s.push(1, CheckResult::new(Status::Pass, "b")).is_empty());
        let ready: Vec<usize> = s
            .push(0, CheckResult::new(Status::Pass, "a"))
            .into_iter()
            .map(|(i, _)| i)
            .collect();
        assert_eq!(ready, vec![0, 1, 2]);
    }
}
