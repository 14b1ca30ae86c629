//! Runs remediations one after another, in the order their `after` lists give. Each body runs
//! on its own thread within its budget; the `fix::` primitives it calls record their steps in
//! that thread's journal, and a failed step throws, so the remediation stops there and its
//! result still lists what it did before. A remediation whose `after` dependency failed is
//! skipped rather than run on a host in an unknown state.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rhai::Engine;
use serde::Serialize;

use crate::budget;
use crate::host::change::{Step, StepState, journal};
use crate::script::RemediationDef;
use crate::script::engine::limits;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Nothing needed changing.
    Ok,
    Changed,
    WouldChange,
    Failed,
    Skipped,
    /// Dry run: a step could not be evaluated (it needs root to look), so what the
    /// remediation would do is not fully known.
    Unknown,
}

#[derive(Debug, Clone, Serialize)]
pub struct RemediationResult {
    pub id: String,
    pub description: String,
    pub outcome: Outcome,
    /// Why it failed or was skipped.
    pub error: Option<String>,
    pub steps: Vec<Step>,
    #[serde(rename = "duration_ms", serialize_with = "millis")]
    pub duration: Duration,
    /// Held back after failing (`--state`): when it will next be tried (RFC 3339). Such a
    /// skip is the back-off working, not a failure of this run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_try: Option<String>,
    /// `gate` held it back: not run, and no failure of this run.
    #[serde(skip)]
    pub held: bool,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl RemediationResult {
    fn new(def: &RemediationDef, outcome: Outcome, error: Option<String>) -> Self {
        RemediationResult {
            id: def.id.clone(),
            description: def.description.clone(),
            outcome,
            error,
            steps: Vec::new(),
            duration: Duration::ZERO,
            next_try: None,
            held: false,
        }
    }

    /// Not run, and why: `gate` said so before it started.
    pub fn held(def: &RemediationDef, why: Held) -> Self {
        RemediationResult {
            next_try: why.next_try,
            held: true,
            ..RemediationResult::new(def, Outcome::Skipped, Some(why.reason))
        }
    }
}

/// Why a remediation is not run this time (`execute`'s gate): backing off after failures
/// (with when it will next be tried), or its checks pass again.
pub struct Held {
    pub reason: String,
    pub next_try: Option<String>,
}

/// The remediations with ids `wanted`, ordered so each comes after those it names in `after`
/// (when they are also wanted). Errors name unknown ids and cycles.
pub fn order<'a>(
    all: &'a [RemediationDef],
    wanted: &[String],
) -> Result<Vec<&'a RemediationDef>, String> {
    let by_id: HashMap<&str, &RemediationDef> = all.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut chosen: Vec<&RemediationDef> = Vec::new();
    for id in wanted {
        match by_id.get(id.as_str()) {
            Some(def) if !chosen.iter().any(|c| c.id == def.id) => chosen.push(def),
            Some(_) => {}
            None => {
                let mut known: Vec<&str> = by_id.keys().copied().collect();
                known.sort_unstable();
                return Err(format!(
                    "unknown remediation `{id}` (known: {})",
                    known.join(", ")
                ));
            }
        }
    }
    // Ordered by `after` among the chosen ones, through the same plan as `needs`.
    let ids: Vec<&str> = chosen.iter().map(|r| r.id.as_str()).collect();
    let after: Vec<Vec<String>> = chosen
        .iter()
        .map(|r| {
            r.after
                .iter()
                .filter(|a| ids.contains(&a.as_str()))
                .cloned()
                .collect()
        })
        .collect();
    crate::plan::order(&ids, &after)
        .map(|order| order.into_iter().map(|i| chosen[i]).collect())
        .map_err(|cycle| format!("remediation order cycle: {}", cycle.join(" -> ")))
}

/// Runs `ordered` one at a time, calling `on_result` after each. `gate` sees each one (and
/// the results so far) just before it would start, and may hold it back.
pub fn execute(
    engine: Arc<Engine>,
    ordered: &[&RemediationDef],
    default_timeout: Duration,
    mut gate: impl FnMut(&RemediationDef, &[RemediationResult]) -> Option<Held>,
    mut on_result: impl FnMut(&RemediationResult),
) -> Vec<RemediationResult> {
    let mut results: Vec<RemediationResult> = Vec::new();
    for def in ordered {
        let blocked = def.after.iter().find(|dep| {
            results
                .iter()
                .any(|r| &r.id == *dep && matches!(r.outcome, Outcome::Failed | Outcome::Skipped))
        });
        let result = match blocked {
            _ if crate::interrupt::requested().is_some() => RemediationResult::new(
                def,
                Outcome::Skipped,
                Some("interrupted before it started".to_string()),
            ),
            Some(dep) => RemediationResult::new(
                def,
                Outcome::Skipped,
                Some(format!("runs after `{dep}`, which did not complete")),
            ),
            None => match gate(def, &results) {
                Some(held) => RemediationResult::held(def, held),
                None => run_one(&engine, def, def.timeout.unwrap_or(default_timeout)),
            },
        };
        on_result(&result);
        results.push(result);
    }
    results
}

fn run_one(engine: &Arc<Engine>, def: &RemediationDef, timeout: Duration) -> RemediationResult {
    let started = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    let engine = engine.clone();
    let body_def = def.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("remediation-{}", def.id))
        .stack_size(limits::THREAD_STACK_BYTES)
        .spawn(move || {
            journal::take();
            let error = body_def.call(&engine, timeout).err().map(|e| e.message);
            let _ = tx.send((error, journal::take()));
        });
    if let Err(e) = spawned {
        return RemediationResult::new(
            def,
            Outcome::Failed,
            Some(format!("cannot start a thread: {e}")),
        );
    }
    // The budget stops the body and every primitive; one more second covers a call that
    // ignores it, after which the remediation is reported and abandoned.
    let (error, steps) = match rx.recv_timeout(timeout + Duration::from_secs(1)) {
        Ok(done) => done,
        Err(_) => (
            Some(format!(
                "timed out after {} (a host call did not return; abandoned)",
                budget::human_duration(timeout)
            )),
            Vec::new(),
        ),
    };
    let outcome = if error.is_some() && steps.last().is_some_and(|s| s.state == StepState::Unknown)
    {
        Outcome::Unknown
    } else if error.is_some() {
        Outcome::Failed
    } else if steps.iter().any(|s| s.state == StepState::Changed) {
        Outcome::Changed
    } else if steps.iter().any(|s| s.state == StepState::WouldChange) {
        Outcome::WouldChange
    } else {
        Outcome::Ok
    };
    RemediationResult {
        steps,
        duration: started.elapsed(),
        ..RemediationResult::new(def, outcome, error)
    }
}
