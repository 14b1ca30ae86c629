//! `hostscript run`: load, select, execute, report; exit 0 only when every required check
//! passed. With `--fix`: apply the remediations the failed checks name (in dependency order),
//! run the checks again, and report before and after; the exit code is the re-check's.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::cli::{RunArgs, RunFormat};
use crate::commands::{Session, SessionOptions, display_paths};
use crate::error::{Error, Result, exit_code};
use crate::outcome::CheckResult;
use crate::report::{self, Item, Reporter, Sequencer, Summary};
use crate::runner::{self, RunnerOptions};
use crate::script::{CheckDef, LoadFailure};
use crate::selection::Selector;
use crate::target::RunTarget;

/// A loaded, selected run, ready to execute (shared by `run` and `serve`).
pub(crate) struct Prepared {
    pub session: Session,
    pub checks: Vec<CheckDef>,
    pub options: RunnerOptions,
}

/// Loads the scripts and selects the checks `args` name, with the runner's options.
pub(crate) fn prepare(args: &RunArgs) -> Result<Prepared> {
    let timeout = args.timeout;
    let selector = Selector::with_skip(
        &args.selection.only,
        &args.selection.tag,
        &args.selection.skip,
    )?;
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
    if args.fix && !matches!(args.output.format, RunFormat::Human | RunFormat::Json) {
        return Err(Error::Flag {
            flag: "--fix",
            message: "reports before and after, which prometheus and junit cannot carry; use human or json".into(),
        });
    }
    if args.fix
        && let Some(host) = &remote_host
    {
        // Remediations change the machine they run on, which is not the one looked at.
        return Err(Error::Flag {
            flag: "--fix",
            message: format!(
                "remediates this host only, but --target names {host}; run hostscript on {host}"
            ),
        });
    }
    let mut session = Session::start(SessionOptions {
        paths: &args.selection.paths,
        vars_files: &args.selection.vars.files,
        var_flags: &args.selection.vars.flags,
        jobs: args.jobs,
        load_budget: timeout,
        target: target.as_ref(),
        base_vars_dirs: &[],
        remediating: None,
    })?;

    let waivers = crate::waivers::Waivers::load(&session.discovered.dirs, &args.selection.waivers)?;
    if session.loaded.checks.is_empty() && session.loaded.failures.is_empty() {
        return Err(Error::NoChecks {
            paths: display_paths(&args.selection.paths),
        });
    }
    // Moved, not cloned: at 10,000 checks a second copy of every declaration was megabytes.
    let checks = selector.apply(std::mem::take(&mut session.loaded.checks));
    if checks.is_empty() && session.loaded.failures.is_empty() {
        return Err(Error::NothingSelected {
            selection: selector.describe(),
        });
    }
    let excluded = checks
        .iter()
        .filter_map(|c| selector.skipped_by(&c.id).map(|g| (c.id.clone(), g)))
        .collect();
    let options = RunnerOptions {
        jobs: session.jobs,
        default_timeout: timeout,
        grace: Duration::from_secs(1),
        remote_host,
        excluded,
        waivers,
        running: runner::Running::default(),
    };
    Ok(Prepared {
        session,
        checks,
        options,
    })
}

pub fn execute(args: RunArgs) -> Result<u8> {
    let started = Instant::now();
    if !args.fix
        && (args.change.dry_run
            || args.change.log.is_some()
            || args.change.root != std::path::Path::new("/"))
    {
        return Err(Error::Flag {
            flag: "--dry-run/--root/--log",
            message: "only apply to remediations: add --fix".into(),
        });
    }
    let Prepared {
        session,
        checks,
        options,
    } = prepare(&args)?;
    let color = crate::commands::use_color(args.output.color);
    let look = report::Look {
        color,
        quiet: args.output.quiet,
        details: args.output.verbose > 0,
    };
    if args.output.format != RunFormat::Human {
        for failure in &session.loaded.failures {
            crate::say!("hostscript: {}", failure.diagnostic);
        }
    }

    let outputs: Vec<(RunFormat, PathBuf)> = args
        .output
        .outputs
        .iter()
        .map(|o| RunFormat::parse_output(o))
        .collect::<std::result::Result<_, _>>()
        .map_err(|message| Error::Flag {
            flag: "-o/--output",
            message,
        })?;
    if args.fix {
        let code = crate::commands::fix::execute(
            &args, &session, &checks, &options, look, started, &outputs,
        )?;
        session.runtime.shutdown_background();
        return Ok(code);
    }
    let format = args.output.format;
    let live = LiveLine::start(options.running.clone());
    let (summary, results) = match args.retry_timeout {
        None => run_and_report(&session, &checks, &options, started, |items| {
            report::for_format(
                format.into(),
                Box::new(crate::report::stdout()),
                look,
                items,
            )
        })?,
        Some(limit) => {
            let (summary, results) =
                run_until_ready(&session, &checks, &options, started, limit, args.sleep)?;
            let items: Vec<Item> = results.iter().map(|(i, _)| i.clone()).collect();
            let mut reporter = report::for_format(
                format.into(),
                Box::new(crate::report::stdout()),
                look,
                &items,
            );
            report::replay(reporter.as_mut(), &results, &summary).map_err(Error::Output)?;
            (summary, results)
        }
    };
    drop(live);
    write_outputs(&outputs, &results, &summary)?;
    // Threads of abandoned checks must not keep the process alive.
    session.runtime.shutdown_background();
    if format == RunFormat::Nagios {
        // A Nagios plugin's exit status is its state: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
        return Ok(report::nagios::nagios_state(&results) as u8);
    }
    Ok(exit_for(&summary))
}

/// The live line: on a terminal (stderr, and not under CI), once a check has run for more
/// than a second, stderr shows which checks are still running and for how long, rewritten in
/// place and cleared when the run ends. Pipes and CI logs never see it.
struct LiveLine {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LiveLine {
    fn start(running: runner::Running) -> LiveLine {
        use std::io::IsTerminal;
        let off = LiveLine {
            stop: None,
            thread: None,
        };
        if !std::io::stderr().is_terminal() || std::env::var_os("CI").is_some() {
            return off;
        }
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let mut shown = false;
            loop {
                if stopped.recv_timeout(Duration::from_millis(250)).is_ok()
                    || crate::interrupt::requested().is_some()
                {
                    break;
                }
                let now = Instant::now();
                let slow: Vec<String> = running
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .filter(|(_, since)| now.duration_since(*since) > Duration::from_secs(1))
                    .map(|(id, since)| {
                        format!(
                            "{id} ({})",
                            crate::text::human_duration(now.duration_since(*since))
                        )
                    })
                    .collect();
                let mut err = crate::secrets::stderr();
                if slow.is_empty() {
                    if shown {
                        let _ = write!(err, "\r\x1b[K");
                        shown = false;
                    }
                } else {
                    let _ = write!(err, "\r\x1b[Krunning: {}", slow.join(", "));
                    shown = true;
                }
                let _ = err.flush();
            }
            if shown {
                let _ = write!(crate::secrets::stderr(), "\r\x1b[K");
            }
        });
        LiveLine {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for LiveLine {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `--retry-timeout`: runs the checks, then again those that did not pass (with what they
/// need) every `sleep`, until every required check passes or `limit` is up. Attempts before
/// the last are silent; on a terminal, stderr shows the progress.
fn run_until_ready(
    session: &Session,
    checks: &[CheckDef],
    options: &RunnerOptions,
    started: Instant,
    limit: Duration,
    sleep: Duration,
) -> Result<(Summary, Vec<(Item, CheckResult)>)> {
    use std::io::IsTerminal;
    let deadline = started + limit;
    let progress = std::io::stderr().is_terminal();
    let silent = |_: &[Item]| Box::new(report::Silent) as Box<dyn Reporter>;
    let (mut summary, mut results) = run_and_report(session, checks, options, started, silent)?;
    let mut attempts = 1;
    loop {
        let waiting: Vec<String> = results
            .iter()
            .filter(|(item, r)| {
                item.required
                    && matches!(
                        r.status,
                        crate::outcome::Status::Fail | crate::outcome::Status::Error
                    )
            })
            .map(|(item, _)| item.id.clone())
            .collect();
        if waiting.is_empty()
            || Instant::now() + sleep >= deadline
            || crate::interrupt::requested().is_some()
        {
            break;
        }
        if progress {
            crate::say!(
                "hostscript: attempt {attempts}: {} not ready ({}); again in {}",
                waiting.len(),
                waiting.join(", "),
                crate::text::human_duration(sleep)
            );
        }
        std::thread::sleep(sleep);
        // Those that did not pass, and what they need so their needs can be met.
        let again: Vec<String> = results
            .iter()
            .filter(|(_, r)| r.status != crate::outcome::Status::Pass)
            .map(|(item, _)| item.id.clone())
            .collect();
        let subset = Selector::with_skip(&again, &[], &[])?.apply(checks.to_vec());
        let (_, rerun) = run_and_report(session, &subset, options, Instant::now(), silent)?;
        for (item, result) in rerun {
            if let Some(slot) = results.iter_mut().find(|(i, _)| i.id == item.id) {
                slot.1 = result;
            }
        }
        attempts += 1;
        summary = Summary::new(&results, started.elapsed(), summary.host.clone());
    }
    summary.attempts = attempts;
    summary.duration = started.elapsed();
    Ok((summary, results))
}

/// Writes the `-o FORMAT=FILE` reports of a finished run.
pub(crate) fn write_outputs(
    outputs: &[(RunFormat, PathBuf)],
    results: &[(Item, CheckResult)],
    summary: &Summary,
) -> Result<()> {
    let outputs: Vec<(report::Format, PathBuf)> = outputs
        .iter()
        .map(|(f, p)| ((*f).into(), p.clone()))
        .collect();
    report::write_files(&outputs, results, summary).map_err(|message| Error::Flag {
        flag: "-o/--output",
        message,
    })
}

pub(crate) fn exit_for(summary: &Summary) -> u8 {
    if summary.ok() {
        exit_code::SUCCESS
    } else {
        exit_code::CHECK_FAILED
    }
}

/// Runs `checks` (plus the load failures, which come first: nothing else explains their
/// missing checks) and streams them, in declaration order, to the reporter `make` builds for
/// the run's items.
pub(crate) fn run_and_report<'a>(
    session: &Session,
    checks: &[CheckDef],
    options: &RunnerOptions,
    started: Instant,
    make: impl FnOnce(&[Item]) -> Box<dyn Reporter + 'a>,
) -> Result<(Summary, Vec<(Item, CheckResult)>)> {
    let failures: &[LoadFailure] = &session.loaded.failures;
    let mut items: Vec<Item> = Vec::new();
    let mut early: Vec<CheckResult> = Vec::new();
    for failure in failures {
        let (item, result) = Item::from_failure(failure);
        items.push(item);
        early.push(result);
    }
    let offset = items.len();
    items.extend(checks.iter().map(Item::from_check));

    let mut reporter = make(&items);
    let mut results: Vec<Option<CheckResult>> = vec![None; items.len()];
    let mut sequencer = Sequencer::new(items.len());
    let mut write_error: Option<std::io::Error> = None;
    let today = crate::waivers::today();
    let mut notes: Vec<String> = Vec::new();
    let mut deliver =
        |index: usize, mut result: CheckResult, reporter: &mut Box<dyn Reporter + 'a>| {
            for note in options.waivers.apply(&items[index].id, &mut result, &today) {
                if !notes.contains(&note) {
                    notes.push(note);
                }
            }
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
    runner::execute(session.engine.clone(), checks, options, |index, result| {
        deliver(offset + index, result, &mut reporter);
    });
    // A check ended by a signal, or abandoned past its budget, never reached its own
    // clean-up (`grpc::defer`): it happens here, before the report, and says so.
    super::finish_deferred();
    for note in &notes {
        crate::say!("hostscript: {note}");
    }
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
    Ok((summary, finished))
}
