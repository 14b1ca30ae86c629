//! What `run`, `run --fix` and `serve` share, below all three so the commands form a tree:
//! preparing a run from its flags (load, select, runner options), running it into a reporter
//! in declaration order, writing the `-o FORMAT=FILE` reports, and the exit code of a result.

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
    if args.fix && (args.host.replay.is_some() || args.host.record.is_some()) {
        return Err(Error::Flag {
            flag: if args.host.replay.is_some() {
                "--replay"
            } else {
                "--record"
            },
            message: "--fix changes this host mid-run: record or replay a run without --fix".into(),
        });
    }
    if args.host.replay.is_some() && args.retry_timeout.is_some() {
        return Err(Error::Flag {
            flag: "--replay",
            message: "a recording answers once: --retry-timeout would only see the same answers"
                .into(),
        });
    }
    let explain = args
        .host
        .explain
        .iter()
        .map(|g| {
            glob::Pattern::new(g).map_err(|e| Error::Flag {
                flag: "--explain",
                message: format!("bad glob `{g}`: {}", e.msg),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let recording = args
        .host
        .replay
        .as_deref()
        .map(crate::probe::Recording::load)
        .transpose()
        .map_err(|message| Error::Flag {
            flag: "--replay",
            message,
        })?;
    crate::report::set_fix_command(crate::commands::installed::fix_command(
        &args.selection.paths,
    ));
    let mut session = Session::start(SessionOptions {
        replay_vars: recording.as_ref().map(|r| &r.vars),
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
    // A --skip glob that matches nothing is most likely a typo: the check it meant still runs.
    for glob in &args.selection.skip {
        let matches = glob::Pattern::new(glob)
            .map(|p| session.loaded.checks.iter().any(|c| p.matches(&c.id)))
            .unwrap_or(true);
        if !matches {
            crate::say!("hostscript: warning: --skip '{glob}' matches no check");
        }
    }
    // An --only glob that matches nothing: the nearest id, as a "did you mean".
    let ids: Vec<String> = session.loaded.checks.iter().map(|c| c.id.clone()).collect();
    let hints: Vec<String> = args
        .selection
        .only
        .iter()
        .filter(|g| glob::Pattern::new(g).is_ok_and(|p| !ids.iter().any(|id| p.matches(id))))
        .filter_map(|g| {
            crate::text::closest(g, ids.iter().map(String::as_str))
                .map(|near| format!("did you mean `{near}` for '{g}'?"))
        })
        .collect();
    // Moved, not cloned: at 10,000 checks a second copy of every declaration was megabytes.
    let checks = selector.apply(std::mem::take(&mut session.loaded.checks));
    if checks.is_empty() && session.loaded.failures.is_empty() {
        let hint = if hints.is_empty() {
            String::new()
        } else {
            format!(": {}", hints.join("; "))
        };
        return Err(Error::NothingSelected {
            selection: selector.describe(),
            hint,
        });
    }
    for hint in &hints {
        crate::say!("hostscript: warning: --only matches no check: {hint}");
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
        seam: match recording {
            Some(recording) => crate::probe::Seam::replay(recording),
            None if args.host.record.is_some() => crate::probe::Seam::record(),
            None => crate::probe::Seam::live(),
        },
        explain,
    };
    Ok(Prepared {
        session,
        checks,
        options,
    })
}

/// The `-o FORMAT=FILE` outputs, each checked before anything runs: its directory exists and
/// may be written, so a bad path never costs a whole run and hides its result.
pub(crate) fn parse_outputs(given: &[String]) -> Result<Vec<(RunFormat, PathBuf)>> {
    let bad = |message: String| Error::Flag {
        flag: "-o/--output",
        message,
    };
    let outputs: Vec<(RunFormat, PathBuf)> = given
        .iter()
        .map(|o| RunFormat::parse_output(o))
        .collect::<std::result::Result<_, _>>()
        .map_err(bad)?;
    for (_, path) in &outputs {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        if !dir.is_dir() {
            return Err(bad(format!(
                "`{}`: directory `{}` does not exist",
                path.display(),
                dir.display()
            )));
        }
        if nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK).is_err() {
            return Err(bad(format!(
                "`{}`: directory `{}` is not writable",
                path.display(),
                dir.display()
            )));
        }
        if path.is_dir() {
            return Err(bad(format!("`{}` is a directory", path.display())));
        }
    }
    Ok(outputs)
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
    memory: Option<&crate::state::Memory>,
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
    for item in &mut items {
        item.explain = options.explain.iter().any(|g| g.matches(&item.id));
    }

    let mut reporter = make(&items);
    let mut results: Vec<Option<CheckResult>> = vec![None; items.len()];
    let mut sequencer = Sequencer::new(items.len());
    let mut write_error: Option<std::io::Error> = None;
    let today = crate::waivers::today();
    let mut notes: Vec<String> = Vec::new();
    let mut deliver = |index: usize, result: CheckResult, reporter: &mut Box<dyn Reporter + 'a>| {
        // Secrets are masked before a reporter transforms the text (escapes, strips,
        // folds); the output writers mask again what reporters add.
        let mut result = result.redacted();
        for note in options.waivers.apply(&items[index].id, &mut result, &today) {
            if !notes.contains(&note) {
                notes.push(note);
            }
        }
        // What runs remember, of the status as reported (a waived check is its skip).
        if let Some(memory) = memory
            && !options.excluded.contains_key(&items[index].id)
        {
            result.remembered = Some(memory.remembered(&items[index].id, result.status));
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
    // Run as a user, name once the checks that could not look without root.
    if crate::host::sys::uid() != 0 && !crate::probe::replaying() {
        let needs_root: Vec<&str> = items
            .iter()
            .zip(&results)
            .filter_map(|(item, r)| r.as_ref().map(|r| (item, r)))
            .filter(|(_, r)| {
                r.evidence
                    .iter()
                    .any(|e| e.answer.starts_with("error (permission_denied)"))
            })
            .map(|(item, _)| item.id.as_str())
            .collect();
        if !needs_root.is_empty() {
            crate::say!(
                "hostscript: {} check{} could not look without root: {} (run hostscript as root)",
                needs_root.len(),
                if needs_root.len() == 1 { "" } else { "s" },
                needs_root.join(", ")
            );
        }
    }
    let finished: Vec<(Item, CheckResult)> = items
        .iter()
        .cloned()
        .zip(results)
        .filter_map(|(item, result)| result.map(|r| (item, r)))
        .collect();
    let host = options
        .seam
        .replayed_host
        .clone()
        .unwrap_or_else(crate::host::sys::hostname);
    let summary = Summary::new(&finished, started.elapsed(), host);
    if let Some(e) = write_error {
        return Err(Error::Output(e));
    }
    reporter.finish(&summary).map_err(Error::Output)?;
    let _ = std::io::stderr().flush();
    Ok((summary, finished))
}

/// `--record FILE`: the run's questions and answers, with the host, the time, this
/// version and the vars, written atomically with mode 0600 and every secret masked.
pub(crate) fn write_recording(
    path: &std::path::Path,
    session: &Session,
    options: &RunnerOptions,
    started: std::time::SystemTime,
) -> Result<()> {
    let vars = session
        .vars
        .iter()
        .filter_map(|(k, v)| serde_json::to_value(v).ok().map(|v| (k.clone(), v)))
        .collect();
    let recording = crate::probe::Recording {
        format: crate::probe::recording::FORMAT.into(),
        version: crate::probe::recording::VERSION,
        hostname: crate::host::sys::hostname(),
        time: humantime::format_rfc3339_seconds(started).to_string(),
        hostscript: env!("CARGO_PKG_VERSION").into(),
        vars,
        answers: options.seam.transcript(),
    };
    recording.save(path).map_err(|message| Error::Flag {
        flag: "--record",
        message,
    })
}

/// The state file a run keeps (`--state`, or the installed layout's as root; none with
/// `--no-state` or for a replay, which is not this host), opened for this run.
pub(crate) fn open_memory(
    args: &crate::cli::StateArgs,
    replay: bool,
) -> Result<Option<crate::state::Memory>> {
    if args.no_state {
        return Ok(None);
    }
    let Some(path) = &args.state else {
        return Ok(None);
    };
    if replay {
        return Err(Error::Flag {
            flag: "--state",
            message: "a replay is not this host: its statuses are no run of this host to remember"
                .into(),
        });
    }
    Ok(Some(crate::state::Memory::open(
        path,
        crate::state::Settings {
            history: usize::from(args.history),
            flap_changes: usize::from(args.flap_changes),
        },
    )))
}

/// Writes what this run saw: the status of every check that ran (`--skip` left some out),
/// and each remediation's outcome; a failure to write is a warning, not the run's result.
pub(crate) fn remember(
    memory: Option<&crate::state::Memory>,
    results: &[(Item, CheckResult)],
    remediations: &[(&str, &str, bool)],
) {
    let Some(memory) = memory else {
        return;
    };
    let checks: Vec<(&str, crate::outcome::Status)> = results
        .iter()
        .filter(|(_, r)| r.remembered.is_some())
        .map(|(item, r)| (item.id.as_str(), r.status))
        .collect();
    // A dry run, or a run that checked nothing, is no run to count.
    if checks.is_empty() && remediations.is_empty() {
        return;
    }
    if let Err(e) = memory.save(&checks, remediations) {
        crate::say!("hostscript: warning: state not saved: {e}");
    }
}
