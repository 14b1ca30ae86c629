//! `hostscript run`: load, select, execute, report; exit 0 only when every required check
//! passed.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::cli::{Format, RunArgs};
use crate::commands::{Session, SessionOptions, display_paths, timeout_from_flag};
use crate::error::{Error, Result, exit_code};
use crate::outcome::CheckResult;
use crate::report::{self, Item, Reporter, Sequencer, Summary};
use crate::runner::{self, RunnerOptions};
use crate::selection::Selector;
use crate::target::RunTarget;

pub fn execute(args: RunArgs) -> Result<u8> {
    let started = Instant::now();
    let timeout = timeout_from_flag(args.timeout)?;
    let selector = Selector::new(&args.selection.only, &args.selection.tag)?;
    let target = args
        .target
        .as_deref()
        .map(RunTarget::parse)
        .transpose()
        .map_err(|message| Error::Flag {
            flag: "--target",
            message,
        })?;
    let remote_host = target
        .as_ref()
        .filter(|t| !t.is_local())
        .map(|t| t.host.clone());
    let session = Session::start(SessionOptions {
        paths: &args.selection.paths,
        vars_files: &args.selection.vars_files,
        var_flags: &args.selection.var,
        jobs: args.jobs,
        load_budget: timeout,
        target: target.as_ref(),
        base_vars_dirs: &[],
        remediating: None,
    })?;
    let Session {
        runtime,
        engine,
        loaded,
        jobs,
        ..
    } = session;

    if loaded.checks.is_empty() && loaded.failures.is_empty() {
        return Err(Error::NoChecks {
            paths: display_paths(&args.selection.paths),
        });
    }
    let checks = selector.apply(loaded.checks);
    if checks.is_empty() && loaded.failures.is_empty() {
        return Err(Error::NothingSelected {
            selection: selector.describe(),
        });
    }

    // Scripts that failed to load come first: nothing else explains their missing checks.
    let mut items: Vec<Item> = Vec::new();
    let mut early: Vec<CheckResult> = Vec::new();
    for failure in &loaded.failures {
        let (item, result) = Item::from_failure(failure);
        if args.format == Format::Json {
            eprintln!("hostscript: {}", failure.diagnostic);
        }
        items.push(item);
        early.push(result);
    }
    let offset = items.len();
    items.extend(checks.iter().map(Item::from_check));

    let stdout = std::io::stdout().lock();
    let mut reporter: Box<dyn Reporter> = match args.format {
        Format::Human => Box::new(report::human::Human::new(
            stdout,
            report::human::use_color(args.color),
            &items,
        )),
        Format::Json => Box::new(report::json::Json::new(stdout)),
    };

    let mut results: Vec<Option<CheckResult>> = vec![None; items.len()];
    let mut sequencer = Sequencer::new(items.len());
    let mut write_error: Option<std::io::Error> = None;
    let mut deliver = |index: usize, result: CheckResult, reporter: &mut Box<dyn Reporter>| {
        for (i, ready) in sequencer.push(index, result) {
            if write_error.is_none()
                && let Err(e) = reporter.check_finished(&items[i], &ready)
            {
                write_error = Some(e);
            }
            results[i] = Some(ready);
        }
    };
    for (i, result) in early.into_iter().enumerate() {
        deliver(i, result, &mut reporter);
    }
    let options = RunnerOptions {
        jobs,
        default_timeout: timeout,
        grace: Duration::from_secs(1),
        remote_host,
    };
    runner::execute(&runtime, engine, &checks, &options, |index, result| {
        deliver(offset + index, result, &mut reporter);
    });
    // Threads of abandoned checks must not keep the process alive.
    runtime.shutdown_background();

    let finished: Vec<(Item, CheckResult)> = items
        .iter()
        .cloned()
        .zip(results)
        .filter_map(|(item, result)| result.map(|r| (item, r)))
        .collect();
    let summary = Summary::new(&finished, started.elapsed(), crate::host::sys::hostname());
    if let Some(e) = write_error {
        return Err(Error::Output(e));
    }
    reporter.finish(&summary).map_err(Error::Output)?;
    let _ = std::io::stderr().flush();
    Ok(if summary.ok() {
        exit_code::SUCCESS
    } else {
        exit_code::CHECK_FAILED
    })
}
