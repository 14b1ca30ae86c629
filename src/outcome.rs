//! What a check ends as. Check results are data: a failing, skipped or broken check is a
//! `CheckResult` in the report, never an `Err`, and the exit code is derived from the results,
//! never from a reporter.

use std::time::Duration;

use serde::Serialize;

/// The five outcomes a check can have, in report order of severity.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, PartialOrd, Ord,
)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Skip,
    Fail,
    Error,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Pass,
        Status::Warn,
        Status::Fail,
        Status::Skip,
        Status::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Skip => "skip",
            Status::Fail => "fail",
            Status::Error => "error",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a check body returned: `pass(..)`, `warn(..)`, `fail(..)` or `skip(..)`.
/// Errors are not verdicts: a script reports them by throwing.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub status: Status,
    pub message: String,
    pub details: serde_json::Map<String, serde_json::Value>,
    /// Set by `.no_fix(reason)`: this failure is not one the check's remediation can fix (a
    /// damaged pool, a kernel without module support), so `--fix` must not run it.
    pub no_fix: Option<String>,
}

/// The result of one check as reporters see it.
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub status: Status,
    pub message: String,
    pub details: serde_json::Map<String, serde_json::Value>,
    pub duration: Duration,
    /// Set when an optional check's `fail` or `error` was reported as `warn`.
    pub demoted_from: Option<Status>,
    /// Why the check's declared remediation does not apply to this result (`.no_fix(..)`).
    pub no_fix: Option<String>,
    /// The waiver that turned this result into `skip`.
    pub waived: Option<Waived>,
    /// What the check asked the host and a short form of each answer, in order.
    pub evidence: Vec<Evidence>,
    /// The error is a bug in the script (a function or variable not found, a wrong type, an
    /// index out of range), never demoted to a warning and counted apart.
    pub script_error: bool,
    /// With `--state`: since when it has had this status, its last pass, whether it flaps.
    pub remembered: Option<Remembered>,
}

/// What a report shows of a check's memory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Remembered {
    /// When the check took the status it has now (this run's time when it just changed).
    pub since: u64,
    /// When it last passed (this run, when it passes now), if it ever did.
    pub last_pass: Option<u64>,
    pub flapping: bool,
    /// Status changes among the kept statuses, this run's included.
    #[serde(skip)]
    pub changes: usize,
    /// How many statuses that counts over.
    #[serde(skip)]
    pub runs: usize,
    /// The status changed in this run (or the check is new).
    #[serde(skip)]
    pub changed_now: bool,
    /// This run's time, for "since 3d 4h".
    #[serde(skip)]
    pub now: u64,
}

/// One question a check asked and a short form of its answer (JSON: `evidence`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    pub question: String,
    pub answer: String,
}

/// A waiver as a result carries it (JSON: `waiver`).
#[derive(Debug, Clone, Serialize)]
pub struct Waived {
    pub id: String,
    pub reason: String,
    pub expires: Option<String>,
    pub file: String,
}

impl CheckResult {
    /// The result with every secret masked in its message, details, fix reason and waiver
    /// (`crate::secrets::redact`), before any reporter escapes, strips or folds it: whatever a
    /// reporter does to the text afterwards, the mask stays a mask.
    pub fn redacted(mut self) -> Self {
        self.message = crate::secrets::redact_string(self.message);
        for value in self.details.values_mut() {
            crate::secrets::redact_json(value);
        }
        self.no_fix = self.no_fix.map(crate::secrets::redact_string);
        if let Some(w) = self.waived.as_mut() {
            w.reason = crate::secrets::redact_string(std::mem::take(&mut w.reason));
        }
        for e in &mut self.evidence {
            e.question = crate::secrets::redact_string(std::mem::take(&mut e.question));
            e.answer = crate::secrets::redact_string(std::mem::take(&mut e.answer));
        }
        self
    }

    pub fn new(status: Status, message: impl Into<String>) -> Self {
        CheckResult {
            status,
            message: one_line(&message.into()),
            details: serde_json::Map::new(),
            duration: Duration::ZERO,
            demoted_from: None,
            no_fix: None,
            waived: None,
            evidence: Vec::new(),
            script_error: false,
            remembered: None,
        }
    }

    /// The remediation that fixes this result: the check's declared one, unless the verdict
    /// said `.no_fix(..)` or the check did not end in fail, error or warn.
    pub fn fix<'a>(&self, declared: Option<&'a str>) -> Option<&'a str> {
        let applies = matches!(self.status, Status::Fail | Status::Error | Status::Warn);
        declared.filter(|_| applies && self.no_fix.is_none())
    }

    /// Whether checks that `need` this one may run: it passed, or it warned on its own account.
    /// An optional check whose failure was demoted to `warn` does not satisfy its dependents.
    pub fn satisfies_dependents(&self) -> bool {
        match self.status {
            Status::Pass => true,
            Status::Warn => self.demoted_from.is_none(),
            _ => false,
        }
    }
}

pub use crate::text::one_line;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_folded_to_one_line() {
        assert_eq!(one_line("a\n  b\n\nc "), "a | b | c");
        assert_eq!(one_line("plain"), "plain");
    }

    #[test]
    fn demoted_warnings_do_not_satisfy_dependents() {
        let mut r = CheckResult::new(Status::Warn, "x");
        assert!(r.satisfies_dependents());
        r.demoted_from = Some(Status::Fail);
        assert!(!r.satisfies_dependents());
        assert!(!CheckResult::new(Status::Skip, "x").satisfies_dependents());
    }
}
