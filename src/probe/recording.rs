//! A recording: one versioned JSON document holding every question a run asked and its
//! answer, in order, with the host's name, the time, hostscript's version and the run's vars.
//! `run --record` writes one (atomically, mode 0600, every secret masked); `run --replay` and
//! `hostscript test` answer from one. A test file's `[[answer]]` entries have the same form as
//! the entries here, so an author copies one from a recording and edits it.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize};

use super::{Answer, Failure, Question};

/// What the `format` field of a recording says.
pub const FORMAT: &str = "hostscript-recording";
/// The version this build writes and reads.
pub const VERSION: u32 = 1;

/// One question and its answer: `ok` (the answer's value) or `err` (a failure with its kind).
/// An entry with neither is an empty answer (`null`: no such program on PATH, no ACL), which
/// TOML cannot spell otherwise.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The check that asked; a replay gives a check its own answers first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    pub ask: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<serde_json::Value>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub ok: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub err: Option<Failure>,
}

/// `"ok": null` is an answer (nothing there), not a missing field.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

impl Entry {
    pub fn new(check: Option<String>, question: &Question, answer: &Answer) -> Entry {
        let (ask, args) = match serde_json::to_value(question) {
            Ok(serde_json::Value::Object(mut map)) => (
                map.remove("ask")
                    .and_then(|a| a.as_str().map(str::to_string))
                    .unwrap_or_default(),
                map.remove("args"),
            ),
            _ => (String::new(), None),
        };
        let (ok, err) = match answer {
            Ok(value) => (Some(value.clone()), None),
            Err(failure) => (None, Some(failure.clone())),
        };
        Entry {
            check,
            ask,
            args,
            ok,
            err,
        }
    }

    /// The question this entry answers; an unknown primitive or argument is an error naming it.
    pub fn question(&self) -> Result<Question, String> {
        let parse = |args: Option<serde_json::Value>| {
            let mut map = serde_json::Map::new();
            map.insert("ask".into(), self.ask.clone().into());
            if let Some(args) = args {
                map.insert("args".into(), args);
            }
            serde_json::from_value::<Question>(serde_json::Value::Object(map))
        };
        match (parse(self.args.clone()), &self.args) {
            (Ok(q), _) => Ok(q),
            // `args` left out of a question whose arguments are all optional (`dm.targets`).
            (Err(e), None) => parse(Some(serde_json::json!({})))
                .map_err(|_| format!("question `{}`: {e}", self.ask)),
            (Err(e), Some(_)) => Err(format!("question `{}`: {e}", self.ask)),
        }
    }

    pub fn answer(&self) -> Result<Answer, String> {
        match (&self.ok, &self.err) {
            (Some(_), Some(_)) => Err(format!(
                "question `{}` has both `ok` and `err`: give one",
                self.ask
            )),
            (Some(value), None) => Ok(Ok(value.clone())),
            (None, Some(failure)) => Ok(Err(failure.clone())),
            (None, None) => Ok(Ok(serde_json::Value::Null)),
        }
    }

    /// The entry with every secret masked (strings, keys included), as it may leave.
    pub fn redacted(mut self) -> Entry {
        for value in [&mut self.args, &mut self.ok].into_iter().flatten() {
            crate::secrets::redact_json(value);
        }
        if let Some(f) = self.err.as_mut() {
            f.message = crate::secrets::redact_string(std::mem::take(&mut f.message));
        }
        self
    }
}

/// A whole recording as the file holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recording {
    pub format: String,
    pub version: u32,
    pub hostname: String,
    /// When the run started (RFC 3339, UTC).
    pub time: String,
    /// The hostscript version that recorded it.
    pub hostscript: String,
    /// The run's vars (secrets masked); a replay applies them over the checks' own.
    #[serde(default)]
    pub vars: serde_json::Map<String, serde_json::Value>,
    pub answers: Vec<Entry>,
}

impl Recording {
    /// Reads and checks a recording; every problem names the file (and the entry).
    pub fn load(path: &Path) -> Result<Recording, String> {
        let shown = path.display();
        let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
        let recording: Recording = serde_json::from_str(&text).map_err(|e| {
            format!(
                "{shown}:{}:{}: not a hostscript recording: {e}",
                e.line(),
                e.column()
            )
        })?;
        if recording.format != FORMAT {
            return Err(format!(
                "{shown}: `format` is `{}`, not `{FORMAT}`",
                recording.format
            ));
        }
        if recording.version != VERSION {
            return Err(format!(
                "{shown}: recording version {} (this hostscript reads version {VERSION})",
                recording.version
            ));
        }
        for (i, entry) in recording.answers.iter().enumerate() {
            entry
                .question()
                .and_then(|_| entry.answer().map(drop))
                .map_err(|e| format!("{shown}: answers[{i}]: {e}"))?;
        }
        Ok(recording)
    }

    /// Writes the recording atomically with mode 0600, every secret masked.
    pub fn save(mut self, path: &Path) -> Result<(), String> {
        crate::secrets::redact_json_map(&mut self.vars);
        self.answers = self.answers.into_iter().map(Entry::redacted).collect();
        self.hostname = crate::secrets::redact_string(self.hostname);
        let mut text =
            serde_json::to_string_pretty(&self).map_err(|e| format!("{}: {e}", path.display()))?;
        text.push('\n');
        crate::text::write_atomically(path, text.as_bytes(), 0o600)
            .map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// A recording's answers by question, for a replay: each check gets the answers recorded for
/// it first, in order, then any other answer to the same question (hand-written ones, or a
/// check that asked first in the recorded run).
pub struct Index {
    by_question: HashMap<String, Vec<(Option<String>, Answer, bool)>>,
}

impl Index {
    /// Entries that do not parse were refused by [`Recording::load`]; any left are skipped.
    pub fn new(entries: Vec<Entry>) -> Index {
        let mut by_question: HashMap<String, Vec<_>> = HashMap::new();
        for entry in entries {
            if let (Ok(question), Ok(answer)) = (entry.question(), entry.answer()) {
                by_question
                    .entry(question.redacted_key())
                    .or_default()
                    .push((entry.check, answer, false));
            }
        }
        Index { by_question }
    }

    /// The next unused answer to `key` for `check`.
    pub fn take(&mut self, key: &str, check: &str) -> Option<Answer> {
        let answers = self.by_question.get_mut(key)?;
        let pick = answers
            .iter()
            .position(|(c, _, used)| !used && c.as_deref() == Some(check))
            .or_else(|| answers.iter().position(|(_, _, used)| !used))?;
        answers[pick].2 = true;
        Some(answers[pick].1.clone())
    }
}
