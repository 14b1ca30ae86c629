//! hostscript: tells whether a Linux host is ready to run Flintlock microVMs, from checks
//! written as editable Rhai scripts.
//!
//! The layers, top down (docs/ARCHITECTURE.md; tests/architecture.rs enforces them):
//! `cli`/`commands` (run, list, lint, remediate, `run --fix`) → `report` (human, JSON,
//! Prometheus, JUnit, remediation reports) → `runner`/`remediator` (parallel checks within
//! budgets; ordered remediations) → `script` (finding, compiling and declaring checks and
//! remediations) → `bindings` (the Rhai primitives, `fix::` for remediations only) → `host`
//! (plain-Rust probes and changes) → `text`, `limits`, `budget`, `outcome`, `interrupt`. The
//! public API is what the binary, benches and fuzzing use: `run`, `cli`, `error`, `host`,
//! `script::engine`, `vars`, `fuzz`.

pub(crate) mod bindings;
pub(crate) mod budget;
pub mod cli;
pub(crate) mod commands;
pub mod error;
#[doc(hidden)]
pub mod fuzz;
pub mod host;
pub(crate) mod interrupt;
pub mod limits;
pub(crate) mod outcome;
pub(crate) mod plan;
pub mod probe;
pub(crate) mod remediator;
pub(crate) mod report;
pub(crate) mod runner;
pub mod script;
pub mod secrets;
pub(crate) mod selection;
pub(crate) mod state;
pub(crate) mod target;
pub(crate) mod text;
pub mod trust;
pub mod vars;
pub(crate) mod waivers;

/// Runs one command line and returns the process exit code.
/// `-vv` (or `RUST_LOG`, e.g. `RUST_LOG=hostscript=debug`): every host call on stderr with its
/// argv or target and duration, for debugging a slow or odd check.
fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let filter = if verbose >= 2 {
        EnvFilter::new("hostscript=debug")
    } else if let Ok(spec) = std::env::var("RUST_LOG") {
        EnvFilter::new(spec)
    } else {
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(secrets::stderr)
        .with_target(false)
        .try_init();
}

/// A Nagios plugin that could not run: `HOSTSCRIPT UNKNOWN - why` on stdout, status 3.
pub fn report_unknown(message: &str) -> u8 {
    use std::io::Write;
    let mut out = report::stdout();
    let _ = writeln!(out, "HOSTSCRIPT UNKNOWN - {}", error::one_line(message));
    let _ = out.flush();
    report::nagios::State::Unknown as u8
}

pub fn run(cli: cli::Cli) -> u8 {
    let serving = matches!(cli.command, cli::Command::Serve(_));
    let nagios =
        matches!(&cli.command, cli::Command::Run(a) if a.output.format == cli::RunFormat::Nagios);
    init_tracing(match &cli.command {
        cli::Command::Run(args) => args.output.verbose,
        _ => 0,
    });
    trust::allow_untrusted(cli.allow_untrusted_paths);
    // A panic's message can quote the data it failed on: it goes to stderr redacted, like
    // everything else (the runner still turns a check's panic into its `error`).
    std::panic::set_hook(Box::new(|info| {
        say!("hostscript: internal error: {info}");
    }));
    // Orphans of the commands checks run come back to us, so none outlives the run.
    host::cmd::become_subreaper();
    let result = match cli.command {
        // With no PATH, the installed suite (commands::installed).
        cli::Command::Run(mut args) => {
            if args.selection.paths.is_empty() && args.host.replay.is_none() {
                commands::installed::default_state(&mut args.state);
            }
            commands::installed::default_selection(&mut args.selection)
                .and_then(|()| commands::run::execute(args))
        }
        cli::Command::List(mut args) => commands::installed::default_selection(&mut args.selection)
            .and_then(|()| commands::list::execute(args)),
        cli::Command::Lint(args) => commands::lint::execute(args),
        cli::Command::Remediate(mut args) => {
            if args.change.remediation_dirs.is_empty() {
                commands::installed::default_state(&mut args.state);
            }
            commands::remediate::execute(args)
        }
        cli::Command::Serve(mut args) => {
            if args.run.selection.paths.is_empty() {
                commands::installed::default_state(&mut args.run.state);
            }
            commands::installed::default_selection(&mut args.run.selection)
                .and_then(|()| commands::serve::execute(args))
        }
        cli::Command::Merge(args) => commands::merge::execute(args),
        cli::Command::Test(args) => commands::test::execute(args),
        cli::Command::Completions { shell } => commands::help::completions(shell),
        cli::Command::Man { dir } => commands::help::man(dir.as_deref()),
        cli::Command::Doc {
            module,
            definitions,
            format,
        } if format == "markdown" && module.is_none() && definitions.is_none() => {
            commands::help::doc_markdown()
        }
        cli::Command::Doc {
            module,
            definitions,
            ..
        } => commands::help::doc(module.as_deref(), definitions.as_deref()),
    };
    host::cmd::kill_everything();
    // An interrupted run has printed its partial report; its status is the signal's. A
    // server stopped by a signal has shut down cleanly.
    if let Some(code) = interrupt::exit_code()
        && !serving
    {
        return code;
    }
    match result {
        Ok(code) => code,
        // Reports drop output once the reader is gone (report::stdout); a broken pipe that
        // still surfaces (stderr, say) is no usage error and not worth a message.
        Err(error::Error::Output(io)) if io.kind() == std::io::ErrorKind::BrokenPipe => {
            error::exit_code::CHECK_FAILED
        }
        Err(err) if nagios => report_unknown(&err.to_string()),
        Err(err) => {
            crate::say!("hostscript: error: {}", error::one_line(&err.to_string()));
            err.exit_code()
        }
    }
}

/// The message of a caught panic, for error reports.
pub(crate) fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}
