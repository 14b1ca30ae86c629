//! hostscript: tells whether a Linux host is ready to run Flintlock microVMs, from checks
//! written as editable Rhai scripts.
//!
//! The layers, from the outside in: `cli` (what the user typed) → `commands` (run, list, lint)
//! → `script` (finding, compiling and declaring checks) → `runner` (parallel execution within
//! budgets) → `report` (human and JSON output). Scripts reach the machine only through
//! `bindings`, which wrap the plain-Rust probes in `host`.

pub mod bindings;
pub mod budget;
pub mod cli;
pub mod commands;
pub mod error;
#[doc(hidden)]
pub mod fuzz;
pub mod host;
pub mod interrupt;
pub mod limits;
pub mod outcome;
pub mod plan;
pub mod remediator;
pub mod report;
pub mod runner;
pub mod script;
pub mod selection;
pub mod target;
pub mod text;
pub mod vars;

/// Runs one command line and returns the process exit code.
pub fn run(cli: cli::Cli) -> u8 {
    // Orphans of the commands checks run come back to us, so none outlives the run.
    host::cmd::become_subreaper();
    let result = match cli.command {
        cli::Command::Run(args) => commands::run::execute(args),
        cli::Command::List(args) => commands::list::execute(args),
        cli::Command::Lint(args) => commands::lint::execute(args),
        cli::Command::Remediate(args) => commands::remediate::execute(args),
    };
    host::cmd::kill_everything();
    // An interrupted run has printed its partial report; its status is the signal's.
    if let Some(code) = interrupt::exit_code() {
        return code;
    }
    match result {
        Ok(code) => code,
        // Reports drop output once the reader is gone (report::stdout); a broken pipe that
        // still surfaces (stderr, say) is no usage error and not worth a message.
        Err(error::Error::Output(io)) if io.kind() == std::io::ErrorKind::BrokenPipe => {
            error::exit_code::CHECK_FAILED
        }
        Err(err) => {
            eprintln!("hostscript: error: {}", error::one_line(&err.to_string()));
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
