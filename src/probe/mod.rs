//! The seam between the bindings and the host: every primitive that reads the host asks a
//! [`Question`] here and gets an answer back as data, and only this module (in `live.rs`)
//! calls `host/` to answer it. Because every question and answer is a plain serialisable value,
//! four things follow from one place: within a run attempt a question asked again gets the
//! first answer (one consistent snapshot, the host asked once); a run can be recorded to a
//! file and replayed without touching the host; each check's result carries the questions it
//! asked as evidence; and site checks can be tested against hand-written answers
//! (`hostscript test`). Remediations (`fix::`) never come through here, and questions asked
//! outside a check (a remediation's reads, a script's top level) always go to the live host.

mod brief;
pub mod grpc;
mod live;
mod question;
pub mod recording;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

pub use question::{GrpcOptions, Question};
pub use recording::{Entry, Recording};

use crate::host::ErrorKind;
use crate::outcome::Evidence;

/// A question's answer: a value of the primitive's own form, or a failure with its kind.
pub type Answer = Result<serde_json::Value, Failure>;

/// A failed question as data: its kind (what scripts branch on), the message for people, and
/// where a program gave one a finer code (a gRPC status code, `no_such_link`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Failure {
    pub kind: ErrorKind,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl Failure {
    pub fn of(error: &impl crate::host::Kinded) -> Failure {
        Failure {
            kind: error.kind(),
            message: error.to_string(),
            code: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Failure {
        Failure {
            kind: ErrorKind::Invalid,
            message: message.into(),
            code: None,
        }
    }

    fn not_recorded(question: &Question) -> Failure {
        Failure {
            kind: ErrorKind::NotRecorded,
            message: format!("not recorded: {question}"),
            code: None,
        }
    }
}

impl crate::host::Kinded for Failure {
    fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// How one question is asked: the time it may take (capped by the check's budget before it
/// gets here) and whether it must bypass the run's snapshot (`fresh: true`).
#[derive(Debug, Clone, Copy, Default)]
pub struct How {
    pub timeout: Option<Duration>,
    pub fresh: bool,
}

/// Asks `question` and converts the answer to the primitive's type. A recorded or
/// hand-written answer that does not fit the type is an `invalid` failure naming the
/// question, never a guess.
pub fn ask<T: DeserializeOwned>(
    runtime: &tokio::runtime::Handle,
    question: Question,
    how: How,
) -> Result<T, Failure> {
    let answer = ask_value(runtime, &question, how)?;
    serde_json::from_value(answer)
        .map_err(|e| Failure::invalid(format!("the answer to `{question}` does not fit: {e}")))
}

/// Asks `question`, as JSON.
pub fn ask_value(runtime: &tokio::runtime::Handle, question: &Question, how: How) -> Answer {
    match SCOPE.with(|s| s.borrow().clone()) {
        Some(scope) => scope.ask(runtime, question, how),
        // Replaying, nothing is answered from the host, even outside a check.
        None if SEALED.load(Ordering::Relaxed) => Err(Failure::not_recorded(question)),
        None => live::answer(runtime, question, how.timeout),
    }
}

/// Whether this process is replaying a recording (nothing reaches the host).
pub fn replaying() -> bool {
    SEALED.load(Ordering::Relaxed)
}

/// Set once a replay starts: from then on no question in this process reaches the host.
static SEALED: AtomicBool = AtomicBool::new(false);

/// Where answers come from.
enum Source {
    Host,
    Replay(Mutex<recording::Index>),
}

/// The run's seam: where answers come from, whether they are kept, and the transcript of a
/// recording. One per run; each run attempt takes its own [`Probes`] from it.
pub struct Seam {
    source: Source,
    recording: bool,
    /// Off only for measuring what the snapshot saves (`HOSTSCRIPT_NO_SHARING=1`, benches).
    share: bool,
    transcript: Mutex<Vec<Entry>>,
    /// The recorded host's name, when replaying.
    pub replayed_host: Option<String>,
}

impl Seam {
    /// Answers from the host.
    pub fn live() -> Arc<Seam> {
        Seam::new(Source::Host, false, None)
    }

    /// Answers from the host, every question and answer kept for [`Seam::transcript`].
    pub fn record() -> Arc<Seam> {
        Seam::new(Source::Host, true, None)
    }

    /// Answers from `recording` only; nothing in this process asks the host any more.
    pub fn replay(recording: Recording) -> Arc<Seam> {
        SEALED.store(true, Ordering::Relaxed);
        let host = Some(recording.hostname.clone());
        Seam::new(
            Source::Replay(Mutex::new(recording::Index::new(recording.answers))),
            false,
            host,
        )
    }

    fn new(source: Source, recording: bool, replayed_host: Option<String>) -> Arc<Seam> {
        let share = std::env::var_os("HOSTSCRIPT_NO_SHARING").is_none_or(|v| v.is_empty());
        Arc::new(Seam {
            source,
            recording,
            share,
            transcript: Mutex::new(Vec::new()),
            replayed_host,
        })
    }

    /// A new run attempt of `checks`: a snapshot of its own. What a recording held of those
    /// checks from an earlier attempt is dropped, so the file matches the final report.
    pub fn attempt<'a>(self: &Arc<Self>, checks: impl IntoIterator<Item = &'a str>) -> Arc<Probes> {
        if self.recording {
            let again: std::collections::HashSet<&str> = checks.into_iter().collect();
            lock(&self.transcript).retain(|e| !again.contains(e.check.as_deref().unwrap_or("")));
        }
        Arc::new(Probes {
            seam: self.clone(),
            memo: Mutex::new(HashMap::new()),
            ready: Condvar::new(),
        })
    }

    /// Every question asked and its answer, in the order asked (recording only).
    pub fn transcript(&self) -> Vec<Entry> {
        lock(&self.transcript).clone()
    }
}

/// One run attempt's snapshot: each shared question's first answer, by question.
pub struct Probes {
    seam: Arc<Seam>,
    memo: Mutex<HashMap<String, Slot>>,
    ready: Condvar,
}

enum Slot {
    /// Another check is asking the host right now: wait for its answer.
    Pending,
    Done(Answer),
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The check running on this thread: its run attempt's snapshot, and what it has asked.
struct Scope {
    probes: Arc<Probes>,
    check: String,
    trace: Mutex<Vec<Evidence>>,
    missed: Mutex<Option<String>>,
}

thread_local! {
    static SCOPE: RefCell<Option<Arc<Scope>>> = const { RefCell::new(None) };
}

/// While alive, questions asked on this thread belong to `check` in `probes`' attempt.
pub struct ScopeGuard {
    scope: Arc<Scope>,
    previous: Option<Arc<Scope>>,
}

/// What a check asked: its evidence, and the first question a replay had no answer to.
pub struct Trace {
    pub evidence: Vec<Evidence>,
    pub missed: Option<String>,
}

impl ScopeGuard {
    pub fn finish(self) -> Trace {
        Trace {
            evidence: std::mem::take(&mut *lock(&self.scope.trace)),
            missed: lock(&self.scope.missed).take(),
        }
    }
}

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        SCOPE.with(|s| *s.borrow_mut() = previous);
    }
}

/// Starts asking on behalf of `check` on this thread.
pub fn enter(probes: &Arc<Probes>, check: &str) -> ScopeGuard {
    let scope = Arc::new(Scope {
        probes: probes.clone(),
        check: check.to_string(),
        trace: Mutex::new(Vec::new()),
        missed: Mutex::new(None),
    });
    let previous = SCOPE.with(|s| s.borrow_mut().replace(scope.clone()));
    ScopeGuard { scope, previous }
}

impl Scope {
    fn ask(&self, runtime: &tokio::runtime::Handle, question: &Question, how: How) -> Answer {
        let probes = &self.probes;
        let shared = probes.seam.share && !how.fresh && question.shared();
        let answer = if shared {
            self.shared(runtime, question, how)
        } else {
            self.obtain(runtime, question, how)
        };
        if let Err(f) = &answer
            && f.kind == ErrorKind::NotRecorded
        {
            lock(&self.missed).get_or_insert_with(|| question.to_string());
        }
        let seen = Evidence {
            question: brief::cut(&question.to_string()),
            answer: brief::of(question, &answer),
        };
        // The same question with the same answer once: evidence says what was seen.
        let mut trace = lock(&self.trace);
        if !trace.contains(&seen) {
            trace.push(seen);
        }
        answer
    }

    /// The attempt's answer to a shared question: the first one, or this one's if it is the
    /// first. A check asking while another asks the host waits for that answer (within its
    /// own budget) rather than asking again.
    fn shared(&self, runtime: &tokio::runtime::Handle, question: &Question, how: How) -> Answer {
        let probes = &self.probes;
        let key = question.key();
        let mut memo = lock(&probes.memo);
        loop {
            match memo.get(&key) {
                Some(Slot::Done(answer)) => return answer.clone(),
                Some(Slot::Pending) => {
                    let left = crate::budget::remaining().unwrap_or(Duration::from_secs(30));
                    if left.is_zero() {
                        return Err(Failure {
                            kind: ErrorKind::Timeout,
                            message: format!("{question}: {}", crate::budget::timed_out_message()),
                            code: None,
                        });
                    }
                    memo = probes
                        .ready
                        .wait_timeout(memo, left.min(Duration::from_millis(100)))
                        .map(|(g, _)| g)
                        .unwrap_or_else(|p| p.into_inner().0);
                }
                None => break,
            }
        }
        memo.insert(key.clone(), Slot::Pending);
        drop(memo);
        let answer = self.obtain(runtime, question, how);
        let mut memo = lock(&probes.memo);
        // A timeout belongs to the asker's budget, not to the host: the next asker tries.
        if matches!(&answer, Err(f) if f.kind == ErrorKind::Timeout) {
            memo.remove(&key);
        } else {
            memo.insert(key, Slot::Done(answer.clone()));
        }
        drop(memo);
        probes.ready.notify_all();
        answer
    }

    /// Asks the source: the host (and the transcript when recording) or the recording.
    fn obtain(&self, runtime: &tokio::runtime::Handle, question: &Question, how: How) -> Answer {
        let seam = &self.probes.seam;
        match &seam.source {
            Source::Replay(index) => {
                let key = question.redacted_key();
                lock(index)
                    .take(&key, &self.check)
                    .unwrap_or_else(|| Err(Failure::not_recorded(question)))
            }
            Source::Host => {
                let started = Instant::now();
                let answer = live::answer(runtime, question, how.timeout);
                tracing::debug!(
                    question = %question,
                    ms = started.elapsed().as_millis() as u64,
                    check = %self.check,
                    "host"
                );
                if seam.recording {
                    lock(&seam.transcript).push(Entry::new(
                        Some(self.check.clone()),
                        question,
                        &answer,
                    ));
                }
                answer
            }
        }
    }
}
