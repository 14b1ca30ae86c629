//! The JSON reporter: one document on stdout at the end of the run (schema in docs/OPERATING.md).
//! Field names are stable and snake_case; fleet tooling and CI key on them.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use crate::outcome::{CheckResult, Status};
use crate::report::{Item, Reporter, Summary};

/// Version of the document layout; bumped only on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    ok: bool,
    host: &'a str,
    duration_ms: u64,
    /// How many times the checks ran before this report (`--retry-timeout`).
    attempts: usize,
    summary: BTreeMap<&'static str, usize>,
    checks: &'a [CheckRecord],
}

/// One check in the report: its declaration (the same `Item` every reporter and `list` use)
/// and its result.
#[derive(Serialize)]
struct CheckRecord {
    #[serde(flatten)]
    item: Item,
    status: Status,
    message: String,
    details: serde_json::Map<String, serde_json::Value>,
    duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    demoted_from: Option<Status>,
    /// Why the declared remediation does not apply to this result (`.no_fix(..)`); then
    /// `remediation` is null.
    #[serde(skip_serializing_if = "Option::is_none")]
    no_fix: Option<String>,
    /// The waiver that made this result `skip` (`details.waived_status` keeps the real one).
    #[serde(skip_serializing_if = "Option::is_none")]
    waiver: Option<crate::outcome::Waived>,
    /// What the check asked the host and a short form of each answer, in order.
    evidence: Vec<crate::outcome::Evidence>,
    /// The error is a bug in the check's script (never demoted; counted apart).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    script_error: bool,
    /// With `--state`: since when it has had this status (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    since: Option<String>,
    /// With `--state`: when it last passed (null if it never did).
    #[serde(skip_serializing_if = "Option::is_none")]
    last_pass: Option<Option<String>>,
    /// With `--state`: it changed status at least K times in its last N runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    flapping: Option<bool>,
}

pub struct Json<W: Write> {
    out: W,
    records: Vec<CheckRecord>,
}

impl<W: Write> Json<W> {
    pub fn new(out: W) -> Self {
        Json {
            out,
            records: Vec::new(),
        }
    }
}

impl<W: Write> Reporter for Json<W> {
    fn check_finished(&mut self, item: &Item, result: &CheckResult) -> io::Result<()> {
        let mut item = item.clone();
        if result.no_fix.is_some() {
            std::sync::Arc::make_mut(&mut item.spec).remediation = None;
        }
        self.records.push(CheckRecord {
            item,
            status: result.status,
            message: result.message.clone(),
            details: result.details.clone(),
            duration_ms: result.duration.as_millis() as u64,
            demoted_from: result.demoted_from,
            no_fix: result.no_fix.clone(),
            waiver: result.waived.clone(),
            evidence: result.evidence.clone(),
            script_error: result.script_error,
            since: result
                .remembered
                .as_ref()
                .map(|m| crate::text::rfc3339(m.since)),
            last_pass: result
                .remembered
                .as_ref()
                .map(|m| m.last_pass.map(crate::text::rfc3339)),
            flapping: result.remembered.as_ref().map(|m| m.flapping),
        });
        Ok(())
    }

    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        // Straight from the records to the writer: at 10,000 checks a `Value` in between was
        // a third copy of every check in memory.
        let Json { out, records } = self;
        serde_json::to_writer_pretty(&mut *out, &document(records, summary))?;
        writeln!(self.out)?;
        self.out.flush()
    }
}

impl<W: Write> Json<W> {
    /// The report as a JSON value, for documents that contain a run (`run --fix`): composed
    /// as data, never written out and parsed back.
    pub fn value(&self, summary: &Summary) -> serde_json::Value {
        serde_json::to_value(document(&self.records, summary)).unwrap_or_default()
    }
}

/// The report document over the records, borrowed: serialized as it is, never copied.
fn document<'a>(records: &'a [CheckRecord], summary: &'a Summary) -> Document<'a> {
    let mut counts: BTreeMap<&'static str, usize> = summary
        .counts
        .iter()
        .map(|(s, n)| (s.as_str(), *n))
        .collect();
    counts.insert("total", summary.total());
    counts.insert("script_errors", summary.script_errors);
    Document {
        schema_version: SCHEMA_VERSION,
        ok: summary.ok(),
        host: &summary.host,
        duration_ms: summary.duration.as_millis() as u64,
        attempts: summary.attempts,
        summary: counts,
        checks: records,
    }
}
