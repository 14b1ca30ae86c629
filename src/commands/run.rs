//! `hostscript run`: load, select, execute, report; exit 0 only when every required check
//! passed. With `--fix`: apply the remediations the failed checks name (in dependency order),
//! run the checks again, and report before and after; the exit code is the re-check's.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::cli::{RunArgs, RunFormat};
use crate::commands::Session;
use crate::commands::running::{Prepared, exit_for, prepare, run_and_report, write_outputs};
use crate::error::{Error, Result};
use crate::outcome::CheckResult;
use crate::report::{self, Item, Reporter, Summary};
use crate::runner::{self, RunnerOptions};
use crate::script::CheckDef;
use crate::selection::Selector;

pub fn execute(args: RunArgs) -> Result<u8> {
    let started = Instant::now();
    let started_at = std::time::SystemTime::now();
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
    let outputs: Vec<(RunFormat, PathBuf)> =
        crate::commands::running::parse_outputs(&args.output.outputs)?;
    let prepared = prepare(&args)?;
    let memory = crate::commands::running::open_memory(&args.state, args.host.replay.is_some())?;
    let color = crate::commands::use_color(args.output.color);
    let look = report::Look {
        color,
        quiet: args.output.quiet,
        details: args.output.verbose > 0,
    };
    if args.output.format != RunFormat::Human {
        for failure in &prepared.session.loaded.failures {
            crate::say!("hostscript: {}", failure.diagnostic);
        }
    }

    if args.fix {
        let code = crate::commands::fix::execute(
            &args,
            &prepared,
            look,
            started,
            &outputs,
            memory.as_ref(),
        )?;
        prepared.session.runtime.shutdown_background();
        return Ok(code);
    }
    let Prepared {
        session,
        checks,
        options,
    } = prepared;
    let format = args.output.format;
    let live = LiveLine::start(options.running.clone());
    let (summary, results) = match args.retry_timeout {
        None => run_and_report(
            &session,
            &checks,
            &options,
            started,
            memory.as_ref(),
            |items| {
                report::for_format(
                    format.into(),
                    Box::new(crate::report::stdout()),
                    look,
                    items,
                )
            },
        )?,
        Some(limit) => {
            let (summary, results) = run_until_ready(
                &session,
                &checks,
                &options,
                started,
                limit,
                args.sleep,
                memory.as_ref(),
            )?;
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
    crate::commands::running::remember(memory.as_ref(), &results, &[]);
    write_outputs(&outputs, &results, &summary)?;
    if let Some(path) = &args.host.record {
        crate::commands::running::write_recording(path, &session, &options, started_at)?;
    }
    // Threads of abandoned checks must not keep the process alive.
    session.runtime.shutdown_background();
    // A gate must not go green by accident: a run whose every check was skipped checked
    // nothing (a waiver is a decision, so a waived check counts as checked).
    if summary.nothing_checked() {
        if format == RunFormat::Nagios {
            return Ok(report::nagios::State::Unknown as u8);
        }
        crate::say!(
            "hostscript: error: nothing was checked: all {} selected checks were skipped (--skip, HOSTSCRIPT_SKIP, or their own skip reasons)",
            summary.total()
        );
        return Ok(crate::error::exit_code::USAGE);
    }
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
    memory: Option<&crate::state::Memory>,
) -> Result<(Summary, Vec<(Item, CheckResult)>)> {
    use std::io::IsTerminal;
    let deadline = started + limit;
    let progress = std::io::stderr().is_terminal();
    let silent = |_: &[Item]| Box::new(report::Silent) as Box<dyn Reporter>;
    let (mut summary, mut results) =
        run_and_report(session, checks, options, started, memory, silent)?;
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
        let (_, rerun) = run_and_report(session, &subset, options, Instant::now(), memory, silent)?;
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
