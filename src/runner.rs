//! Runs checks in parallel while respecting `needs`, each within its own wall-clock budget.
//!
//! Every check is a tokio task that first waits for the checks it needs, then takes one of
//! `jobs` permits and runs its Rhai body on a blocking thread. The body's budget is enforced
//! inside the engine (progress hook) and inside every primitive; as a last resort the task
//! stops waiting one grace second after the budget, reports the check as timed out and frees
//! its permit, so a stuck check cannot hold the others. Results are delivered as they finish;
//! reporters restore declaration order.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rhai::Engine;
use tokio::sync::{Semaphore, mpsc, watch};

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
}

/// Checks running now, by id, with when they started.
pub type Running = Arc<std::sync::Mutex<Vec<(String, Instant)>>>;

/// The state of a finished check as its dependents see it.
#[derive(Clone, Copy)]
struct Finished {
    status: Status,
    satisfies: bool,
}

/// A check another one needs: its id and where its result will appear.
type Dependency = (String, watch::Receiver<Option<Finished>>);

/// Runs `checks` and calls `on_result(index, result)` as each one finishes.
pub fn execute(
    runtime: &tokio::runtime::Runtime,
    engine: Arc<Engine>,
    checks: &[CheckDef],
    options: &RunnerOptions,
    mut on_result: impl FnMut(usize, CheckResult),
) {
    let plan = plan_dependencies(checks);
    let semaphore = Arc::new(Semaphore::new(options.jobs.max(1)));
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..checks.len())
        .map(|_| watch::channel::<Option<Finished>>(None))
        .unzip();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(usize, CheckResult)>();

    runtime.block_on(async {
        for (index, (check, sender)) in checks.iter().zip(senders).enumerate() {
            let deps: Result<Vec<Dependency>, String> = plan[index].clone().map(|deps| {
                deps.into_iter()
                    .map(|d| (checks[d].id.clone(), receivers[d].clone()))
                    .collect()
            });
            let local_only = options
                .excluded
                .get(&check.id)
                .map(|glob| format!("left out by --skip '{glob}'"))
                .or_else(|| {
                    options
                        .remote_host
                        .as_ref()
                        .filter(|_| !check.remote)
                        .map(|host| format!("local-only check (remote mode, target {host})"))
                });
            let task = CheckTask {
                local_only,
                engine: engine.clone(),
                check: check.clone(),
                timeout: check.timeout.unwrap_or(options.default_timeout),
                grace: options.grace,
                semaphore: semaphore.clone(),
                running: options.running.clone(),
            };
            let done_tx = done_tx.clone();
            tokio::spawn(async move {
                let result = task.run(deps).await;
                let finished = Finished {
                    status: result.status,
                    satisfies: result.satisfies_dependents(),
                };
                let _ = sender.send(Some(finished));
                let _ = done_tx.send((index, result));
            });
        }
        drop(done_tx);
        let mut reported = vec![false; checks.len()];
        loop {
            let next = tokio::select! {
                next = done_rx.recv() => next,
                () = crate::interrupt::wait() => None,
            };
            let Some((index, result)) = next else { break };
            reported[index] = true;
            on_result(index, result);
        }
        // Interrupted: what finished meanwhile is reported as it ended, the rest as errors.
        while let Ok((index, result)) = done_rx.try_recv() {
            reported[index] = true;
            on_result(index, result);
        }
        for (index, done) in reported.iter().enumerate() {
            if !done {
                on_result(index, CheckResult::new(Status::Error, "interrupted"));
            }
        }
    });
}

struct CheckTask {
    /// Why this check does not run at all in this (remote) run.
    local_only: Option<String>,
    engine: Arc<Engine>,
    check: CheckDef,
    timeout: Duration,
    grace: Duration,
    semaphore: Arc<Semaphore>,
    running: Running,
}

impl CheckTask {
    async fn run(self, deps: Result<Vec<Dependency>, String>) -> CheckResult {
        if let Some(reason) = &self.local_only {
            return self.finish(CheckResult::new(Status::Skip, reason.clone()));
        }
        let deps = match deps {
            Ok(deps) => deps,
            Err(message) => return self.finish(CheckResult::new(Status::Error, message)),
        };
        for (id, mut rx) in deps {
            let finished = rx.wait_for(Option::is_some).await.ok().and_then(|v| *v);
            match finished {
                Some(f) if f.satisfies => {}
                Some(f) => {
                    let what = match f.status {
                        Status::Fail => "failed",
                        Status::Error => "errored",
                        Status::Skip => "was skipped",
                        Status::Warn => "is optional and did not pass",
                        Status::Pass => "passed",
                    };
                    let message = format!("needs `{id}`, which {what}");
                    return self.finish(CheckResult::new(Status::Skip, message));
                }
                None => {
                    let message = format!("needs `{id}`, which never finished");
                    return self.finish(CheckResult::new(Status::Error, message));
                }
            }
        }
        let Ok(_permit) = self.semaphore.clone().acquire_owned().await else {
            return self.finish(CheckResult::new(Status::Error, "runner shut down"));
        };
        let started = Instant::now();
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((self.check.id.clone(), started));
        let (engine, check, timeout) = (self.engine.clone(), self.check.clone(), self.timeout);
        let body = tokio::task::spawn_blocking(move || run_body(&engine, &check, timeout));
        let mut result = match tokio::time::timeout(self.timeout + self.grace, body).await {
            Ok(Ok(result)) => result,
            Ok(Err(join_error)) => CheckResult::new(
                Status::Error,
                format!("internal error: the check's thread failed: {join_error}"),
            ),
            Err(_) => CheckResult::new(
                Status::Error,
                format!(
                    "timed out after {} (a host call did not return; abandoned)",
                    budget::human_duration(self.timeout)
                ),
            ),
        };
        result.duration = started.elapsed();
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(id, _)| *id != self.check.id);
        self.finish(result)
    }

    /// Applies the check's `required` flag: an optional check that does not pass is a warning.
    fn finish(&self, mut result: CheckResult) -> CheckResult {
        if !self.check.required && matches!(result.status, Status::Fail | Status::Error) {
            result.demoted_from = Some(result.status);
            result.message = format!("optional check {}: {}", result.status, result.message);
            result.status = Status::Warn;
        }
        result
    }
}

/// Runs one check body on the current (blocking) thread within its budget.
fn run_body(engine: &Engine, check: &CheckDef, timeout: Duration) -> CheckResult {
    match check.call(engine, timeout) {
        Ok(value) => match crate::script::into_verdict(value) {
            Ok(verdict) => {
                let mut result = CheckResult::new(verdict.status, verdict.message);
                result.details = verdict.details;
                result.no_fix = verdict.no_fix;
                result
            }
            Err(message) => CheckResult::new(
                Status::Error,
                format!("{}:{}: {message}", check.file().display(), check.line),
            ),
        },
        Err(message) => CheckResult::new(Status::Error, message),
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

    /// A primitive that panics must end its own check as an error at the check's position,
    /// and leave the rest of the run alone. No shipped primitive panics on purpose, so this
    /// test registers one.
    #[test]
    fn a_panic_inside_a_primitive_is_an_error_and_the_run_goes_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("p.rhai"),
            "check(#{ id: \"boom\", description: \"d\", run: || { explode(); pass(\"no\") } });\n\
             check(#{ id: \"calm\", description: \"d\", run: || pass(\"fine\") });\n",
        )
        .expect("write");
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
        engine.register_fn("explode", || -> bool { panic!("primitive exploded") });
        let found = loader::discover(&[dir.path().to_path_buf()]).expect("discover");
        let loaded = loader::load(&engine, &found.files, Duration::from_secs(5), 2);
        let options = RunnerOptions {
            jobs: 2,
            default_timeout: Duration::from_secs(5),
            grace: Duration::from_secs(1),
            remote_host: None,
            excluded: HashMap::new(),
            waivers: crate::waivers::Waivers::default(),
            running: Running::default(),
        };
        let mut results = [None, None];
        execute(
            &runtime,
            Arc::new(engine),
            &loaded.checks,
            &options,
            |i, r| results[i] = Some(r),
        );
        let boom = results[0].clone().expect("boom finished");
        assert_eq!(boom.status, Status::Error);
        assert!(
            boom.message
                .contains("p.rhai:1: internal error (panic): primitive exploded"),
            "{}",
            boom.message
        );
        let calm = results[1].clone().expect("calm finished");
        assert_eq!((calm.status, calm.message.as_str()), (Status::Pass, "fine"));
    }
}
