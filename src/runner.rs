//! Runs checks in parallel while respecting `needs`, each within its own wall-clock budget.
//!
//! `jobs` long-lived threads take ready checks from one queue and run their Rhai bodies; the
//! calling thread schedules: it queues a check once everything it needs has finished and
//! satisfied it, records results, and reports each as it finishes (reporters restore
//! declaration order). A worker keeps taking checks without waking anyone while the queue has
//! work, so a trivial check costs its body and a little bookkeeping, not a task, a thread
//! hand-off and back (which at 10,000 checks were most of a run's time and memory). The body's
//! budget is enforced inside the engine (progress hook) and inside every primitive; as a last
//! resort the scheduler stops waiting one grace second after the budget, reports the check as
//! timed out and starts a replacement worker, so a stuck check cannot hold the others.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::{Duration, Instant};

use rhai::Engine;

use crate::budget;
use crate::outcome::{CheckResult, Status};
use crate::script::CheckDef;

pub struct RunnerOptions {
    pub jobs: usize,
    pub default_timeout: Duration,
    /// How long past its budget a check may take before the runner stops waiting for it.
    pub grace: Duration,
    /// Remote mode: the host looked at. Checks not declared `remote` are skipped.
    pub remote_host: Option<String>,
    /// Checks left out by `--skip`, with the glob that did it.
    pub excluded: HashMap<String, String>,
    /// The site's waivers, applied to results as they are reported (dependents see the
    /// real status).
    pub waivers: crate::waivers::Waivers,
    /// The checks running now and since when, for the live line on a terminal.
    pub running: Running,
    /// Where the checks' questions are answered (`crate::probe`): each call of `execute` is
    /// one run attempt with a snapshot of its own.
    pub seam: Arc<crate::probe::Seam>,
    /// `--explain` globs: checks whose evidence the human report shows even when they pass.
    pub explain: Vec<glob::Pattern>,
}

/// Checks running now, by id, with when they started.
pub type Running = Arc<std::sync::Mutex<Vec<(String, Instant)>>>;

/// The state of a finished check as its dependents see it.
#[derive(Clone, Copy)]
struct Finished {
    status: Status,
    satisfies: bool,
}

/// What the workers tell the scheduler.
enum Event {
    Started(usize, Instant),
    /// Boxed: a result is ten times the size of a start.
    Done(usize, Box<CheckResult>),
}

/// The ready queue the workers share.
struct Queue {
    state: Mutex<QueueState>,
    ready: Condvar,
    /// Workers beyond `jobs` (replacements for abandoned ones): the next worker to finish a
    /// check leaves instead, so at most `jobs` bodies run at once.
    surplus: AtomicUsize,
}

struct QueueState {
    checks: VecDeque<usize>,
    closed: bool,
}

impl Queue {
    fn push(&self, index: usize) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.checks.push_back(index);
        drop(state);
        self.ready.notify_one();
    }

    fn close(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
        self.ready.notify_all();
    }

    /// The next check to run, or `None` once the run is over.
    fn pop(&self) -> Option<usize> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if state.closed {
                return None;
            }
            if let Some(index) = state.checks.pop_front() {
                return Some(index);
            }
            state = self.ready.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// Runs `checks` and calls `on_result(index, result)` as each one finishes.
pub fn execute(
    engine: Arc<Engine>,
    checks: &[CheckDef],
    options: &RunnerOptions,
    mut on_result: impl FnMut(usize, CheckResult),
) {
    let n = checks.len();
    let plan = plan_dependencies(checks);
    let probes = options.seam.attempt(checks.iter().map(|c| c.id.as_str()));
    let checks: Arc<[CheckDef]> = checks.iter().cloned().collect();
    let queue = Arc::new(Queue {
        state: Mutex::new(QueueState {
            checks: VecDeque::new(),
            closed: false,
        }),
        ready: Condvar::new(),
        surplus: AtomicUsize::new(0),
    });
    let (events_tx, events) = mpsc::channel::<Event>();
    let start_worker = || {
        let (engine, checks, queue, events_tx, probes) = (
            engine.clone(),
            checks.clone(),
            queue.clone(),
            events_tx.clone(),
            probes.clone(),
        );
        let (default_timeout, running) = (options.default_timeout, options.running.clone());
        // A worker that cannot start leaves its checks to the others; with none at all the
        // scheduler reports them below rather than waiting forever.
        std::thread::Builder::new()
            .name("hostscript-check".into())
            .stack_size(crate::limits::THREAD_STACK_BYTES)
            .spawn(move || {
                work(
                    &engine,
                    &checks,
                    &queue,
                    &events_tx,
                    default_timeout,
                    &running,
                    &probes,
                );
            })
            .map(|_| ())
    };
    // No more workers than checks, nor than the limit: a worker costs a thread and its stack.
    let wanted = options.jobs.clamp(1, crate::limits::MAX_JOBS).min(n.max(1));
    let mut workers = 0;
    for _ in 0..wanted {
        match start_worker() {
            Ok(()) => workers += 1,
            Err(e) => {
                crate::say!(
                    "hostscript: warning: started {workers} of {wanted} check threads ({e}); the rest of the run uses those"
                );
                break;
            }
        }
    }

    let mut scheduler = Scheduler {
        checks: &checks,
        finished: vec![None; n],
        waiting: vec![0; n],
        dependents: vec![Vec::new(); n],
        deps: vec![Vec::new(); n],
        reported: vec![false; n],
        deadlines: HashMap::new(),
        outstanding: n,
    };
    let mut settled: VecDeque<(usize, CheckResult)> = VecDeque::new();
    for (index, deps) in plan.into_iter().enumerate() {
        let check = &checks[index];
        let local_only = options
            .excluded
            .get(&check.id)
            .map(|glob| format!("left out by --skip '{glob}'"))
            .or_else(|| {
                options
                    .remote_host
                    .as_ref()
                    .filter(|_| !check.remote)
                    .map(|host| format!("local-only check; --target {host} is remote"))
            });
        match (local_only, deps) {
            (Some(reason), _) => settled.push_back((index, CheckResult::new(Status::Skip, reason))),
            (None, Err(message)) => settled.push_back((
                index,
                scheduler.demote(index, CheckResult::new(Status::Error, message)),
            )),
            (None, Ok(mut deps)) => {
                deps.dedup();
                scheduler.waiting[index] = deps.len();
                for &d in &deps {
                    scheduler.dependents[d].push(index);
                }
                scheduler.deps[index] = deps;
                if scheduler.waiting[index] == 0 {
                    queue.push(index);
                }
            }
        }
    }
    if workers == 0 {
        for index in 0..n {
            if scheduler.waiting[index] == 0 && !settled.iter().any(|(i, _)| *i == index) {
                settled.push_back((
                    index,
                    CheckResult::new(Status::Error, "internal error: no thread to run checks on"),
                ));
            }
        }
    }
    scheduler.settle(&mut settled, &queue, &mut on_result);

    while scheduler.outstanding > 0 {
        if crate::interrupt::requested().is_some() {
            // Interrupted: what finished meanwhile is reported as it ended, the rest as errors.
            while let Ok(event) = events.try_recv() {
                if let Event::Done(index, result) = event {
                    scheduler.done(index, *result, &mut settled);
                }
            }
            scheduler.settle(&mut settled, &queue, &mut on_result);
            for index in 0..n {
                if !scheduler.reported[index] {
                    scheduler.reported[index] = true;
                    on_result(index, CheckResult::new(Status::Error, "interrupted"));
                }
            }
            break;
        }
        // Wake for the next event, the next deadline, or at most every 50 ms to notice a
        // signal.
        let now = Instant::now();
        let wait = scheduler
            .deadlines
            .values()
            .map(|(_, deadline)| deadline.saturating_duration_since(now))
            .min()
            .unwrap_or(Duration::MAX)
            .min(Duration::from_millis(50));
        match events.recv_timeout(wait) {
            Ok(Event::Started(index, at)) => {
                let budget = checks[index].timeout.unwrap_or(options.default_timeout);
                scheduler
                    .deadlines
                    .insert(index, (at, at + budget + options.grace));
            }
            Ok(Event::Done(index, result)) => scheduler.done(index, *result, &mut settled),
            // Only a timeout: the scheduler keeps a sender of its own (for replacement
            // workers), so the channel never disconnects while it waits.
            Err(_) => {}
        }
        let now = Instant::now();
        let overdue: Vec<(usize, Instant)> = scheduler
            .deadlines
            .iter()
            .filter(|(_, (_, deadline))| *deadline <= now)
            .map(|(index, (started, _))| (*index, *started))
            .collect();
        for (index, started) in overdue {
            let budget = checks[index].timeout.unwrap_or(options.default_timeout);
            let mut result = CheckResult::new(
                Status::Error,
                format!(
                    "timed out after {} (a host call did not return; abandoned)",
                    budget::human_duration(budget)
                ),
            );
            result.duration = started.elapsed();
            options
                .running
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|(id, _)| *id != checks[index].id);
            scheduler.done(index, result, &mut settled);
            // Its thread is stuck in a host call; another takes its place.
            queue.surplus.fetch_add(1, Ordering::Relaxed);
            let _ = start_worker();
        }
        scheduler.settle(&mut settled, &queue, &mut on_result);
    }
    queue.close();
}

/// The scheduler's view of the run: who waits for whom, and what is done.
struct Scheduler<'a> {
    checks: &'a [CheckDef],
    finished: Vec<Option<Finished>>,
    /// How many of its needs have not finished yet, per check.
    waiting: Vec<usize>,
    dependents: Vec<Vec<usize>>,
    deps: Vec<Vec<usize>>,
    reported: Vec<bool>,
    /// Running checks: when they started and when the runner stops waiting for them.
    deadlines: HashMap<usize, (Instant, Instant)>,
    outstanding: usize,
}

impl Scheduler<'_> {
    /// Applies the check's `required` flag: an optional check that does not pass is a warning.
    /// A bug in the script is never demoted: it says nothing about the host.
    fn demote(&self, index: usize, mut result: CheckResult) -> CheckResult {
        if !self.checks[index].required
            && !result.script_error
            && matches!(result.status, Status::Fail | Status::Error)
        {
            result.demoted_from = Some(result.status);
            result.message = format!("optional check {}: {}", result.status, result.message);
            result.status = Status::Warn;
        }
        result
    }

    /// A body's result (or the runner's verdict on it); a result for a check already settled
    /// (abandoned, then returned after all) is dropped.
    fn done(
        &mut self,
        index: usize,
        result: CheckResult,
        settled: &mut VecDeque<(usize, CheckResult)>,
    ) {
        if self.finished[index].is_some() {
            return;
        }
        self.deadlines.remove(&index);
        let result = self.demote(index, result);
        self.finished[index] = Some(Finished {
            status: result.status,
            satisfies: result.satisfies_dependents(),
        });
        settled.push_back((index, result));
    }

    /// Reports settled results and releases the checks that were waiting for them: queued when
    /// every need satisfied them, else settled as skipped (which releases theirs in turn).
    fn settle(
        &mut self,
        settled: &mut VecDeque<(usize, CheckResult)>,
        queue: &Queue,
        on_result: &mut impl FnMut(usize, CheckResult),
    ) {
        while let Some((index, result)) = settled.pop_front() {
            if self.reported[index] {
                continue;
            }
            if self.finished[index].is_none() {
                self.finished[index] = Some(Finished {
                    status: result.status,
                    satisfies: result.satisfies_dependents(),
                });
            }
            self.reported[index] = true;
            self.outstanding -= 1;
            on_result(index, result);
            for d in std::mem::take(&mut self.dependents[index]) {
                self.waiting[d] -= 1;
                if self.waiting[d] > 0 {
                    continue;
                }
                // The first need, in declaration order, that did not satisfy it (as a check
                // waiting for its needs one by one would have found).
                let unmet = self.deps[d].iter().find_map(|&n| {
                    self.finished[n]
                        .filter(|f| !f.satisfies)
                        .map(|f| (self.checks[n].id.clone(), f.status))
                });
                match unmet {
                    None => queue.push(d),
                    Some((id, status)) => {
                        let what = match status {
                            Status::Fail => "failed",
                            Status::Error => "errored",
                            Status::Skip => "was skipped",
                            Status::Warn => "is optional and did not pass",
                            Status::Pass => "passed",
                        };
                        let result =
                            CheckResult::new(Status::Skip, format!("needs `{id}`, which {what}"));
                        self.finished[d] = Some(Finished {
                            status: Status::Skip,
                            satisfies: result.satisfies_dependents(),
                        });
                        settled.push_back((d, result));
                    }
                }
            }
        }
    }
}

/// One worker: takes ready checks until the run is over, telling the scheduler when each
/// starts and how it ended.
fn work(
    engine: &Engine,
    checks: &[CheckDef],
    queue: &Queue,
    events: &mpsc::Sender<Event>,
    default_timeout: Duration,
    running: &Running,
    probes: &Arc<crate::probe::Probes>,
) {
    while let Some(index) = queue.pop() {
        let check = &checks[index];
        let timeout = check.timeout.unwrap_or(default_timeout);
        let started = Instant::now();
        running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((check.id.clone(), started));
        if events.send(Event::Started(index, started)).is_err() {
            return;
        }
        let asking = crate::probe::enter(probes, &check.id);
        let mut result = run_body(engine, check, timeout);
        let trace = asking.finish();
        result.evidence = trace.evidence;
        // A gap in a replayed recording is the check's error whatever the script made of
        // it: a caught `not_recorded` must never become a pass or a fail.
        if let Some(question) = trace.missed
            && !(result.status == Status::Error && result.message.contains("not recorded"))
        {
            result.status = Status::Error;
            result.message = format!("not recorded: {question}");
        }
        result.duration = started.elapsed();
        running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(id, _)| *id != check.id);
        if events.send(Event::Done(index, Box::new(result))).is_err() {
            return;
        }
        // A replacement took this worker's place while it was stuck: one of them leaves.
        if queue
            .surplus
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| s.checked_sub(1))
            .is_ok()
        {
            return;
        }
    }
}

/// Runs one check body on the current (blocking) thread within its budget.
fn run_body(engine: &Engine, check: &CheckDef, timeout: Duration) -> CheckResult {
    // A declaration that is wrong in itself never runs: it is its own script error.
    if let Some(problem) = &check.broken {
        let mut result = CheckResult::new(
            Status::Error,
            format!("{}:{}: {problem}", check.file().display(), check.line),
        );
        result.script_error = true;
        return result;
    }
    match check.call(engine, timeout) {
        Ok(value) => match crate::script::into_verdict(value) {
            Ok(verdict) => {
                let mut result = CheckResult::new(verdict.status, verdict.message);
                result.details = verdict.details;
                result.no_fix = verdict.no_fix;
                result
            }
            // A body that returns something other than a verdict is a bug in the script.
            Err(message) => {
                let mut result = CheckResult::new(
                    Status::Error,
                    format!("{}:{}: {message}", check.file().display(), check.line),
                );
                result.script_error = true;
                result
            }
        },
        Err(e) => {
            let mut result = CheckResult::new(Status::Error, e.message);
            result.script_error = e.script_bug;
            result
        }
    }
}

/// For each check, the indices it needs, or why its needs cannot be met (an unknown id or a
/// cycle, from `plan`). Checks in a cycle would wait on each other forever, so they become
/// errors instead.
fn plan_dependencies(checks: &[CheckDef]) -> Vec<Result<Vec<usize>, String>> {
    let ids: Vec<&str> = checks.iter().map(|c| c.id.as_str()).collect();
    let needs: Vec<Vec<String>> = checks.iter().map(|c| c.needs.clone()).collect();
    crate::plan::resolve(&ids, &needs)
        .into_iter()
        .zip(checks)
        .map(|(deps, c)| {
            deps.map_err(|problem| {
                let at = format!("{}:{}: check `{}`", c.file().display(), c.line, c.id);
                match problem {
                    crate::plan::Problem::Unknown(n) => format!("{at} needs unknown check `{n}`"),
                    crate::plan::Problem::Cycle(path) => {
                        format!("{at} is in a dependency cycle: {}", path.join(" -> "))
                    }
                }
            })
        })
        .collect()
}

/// The dependency problems lint reports: unknown `needs` and cycles, one line each.
pub fn dependency_problems(checks: &[CheckDef]) -> Vec<String> {
    plan_dependencies(checks)
        .into_iter()
        .filter_map(Result::err)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::engine::{self, Capability, EngineOptions};
    use crate::script::loader;

    /// Runs the checks of `script` (one file) with `jobs` workers and `budget` per check, after
    /// `register` adds the test's own primitives; the results in declaration order.
    fn run_script(
        script: &str,
        jobs: usize,
        budget: Duration,
        grace: Duration,
        register: impl FnOnce(&mut Engine),
    ) -> Vec<CheckResult> {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("t.rhai"), script).expect("write");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("rt");
        let mut engine = engine::build(EngineOptions {
            capability: Capability::ReadOnly,
            roots: vec![dir.path().to_path_buf()],
            lib_fallbacks: Vec::new(),
            vars: Arc::default(),
            runtime: runtime.handle().clone(),
        });
        register(&mut engine);
        let found = loader::discover(&[dir.path().to_path_buf()]).expect("discover");
        let loaded = loader::load(&engine, &found.files, Duration::from_secs(5), jobs);
        let options = RunnerOptions {
            jobs,
            default_timeout: budget,
            grace,
            remote_host: None,
            excluded: HashMap::new(),
            waivers: crate::waivers::Waivers::default(),
            running: Running::default(),
            seam: crate::probe::Seam::live(),
            explain: Vec::new(),
        };
        let mut results = vec![None; loaded.checks.len()];
        execute(Arc::new(engine), &loaded.checks, &options, |i, r| {
            results[i] = Some(r);
        });
        results
            .into_iter()
            .map(|r| r.expect("every check reported"))
            .collect()
    }

    /// A primitive that panics must end its own check as an error at the check's position,
    /// and leave the rest of the run alone. No shipped primitive panics on purpose, so this
    /// test registers one.
    #[test]
    fn a_panic_inside_a_primitive_is_an_error_and_the_run_goes_on() {
        let results = run_script(
            "check(#{ id: \"boom\", description: \"d\", run: || { explode(); pass(\"no\") } });\n\
             check(#{ id: \"calm\", description: \"d\", run: || pass(\"fine\") });\n",
            2,
            Duration::from_secs(5),
            Duration::from_secs(1),
            |engine| {
                engine.register_fn("explode", || -> bool { panic!("primitive exploded") });
            },
        );
        let boom = &results[0];
        assert_eq!(boom.status, Status::Error);
        assert!(
            boom.message
                .contains("t.rhai:1: internal error (panic): primitive exploded"),
            "{}",
            boom.message
        );
        let calm = &results[1];
        assert_eq!((calm.status, calm.message.as_str()), (Status::Pass, "fine"));
    }

    /// A host call that ignores its budget: the runner stops waiting a grace period after the
    /// budget, reports the check as abandoned, and a replacement worker runs the rest (with one
    /// job, nothing else would run otherwise).
    #[test]
    fn a_stuck_body_is_abandoned_and_the_others_still_run() {
        let started = Instant::now();
        let results = run_script(
            "check(#{ id: \"stuck\", description: \"d\", run: || { hang(); pass(\"no\") } });\n\
             check(#{ id: \"after\", description: \"d\", run: || pass(\"ran\") });\n",
            1,
            Duration::from_millis(200),
            Duration::from_millis(100),
            |engine| {
                engine.register_fn("hang", || -> bool {
                    std::thread::sleep(Duration::from_secs(3));
                    true
                });
            },
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let stuck = &results[0];
        assert_eq!(stuck.status, Status::Error);
        assert!(stuck.message.contains("abandoned"), "{}", stuck.message);
        let after = &results[1];
        assert_eq!(
            (after.status, after.message.as_str()),
            (Status::Pass, "ran")
        );
    }
}
