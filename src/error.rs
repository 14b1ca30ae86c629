//! Errors that stop a whole command before or instead of a run: bad flags, unreadable paths,
//! malformed vars files, no checks at all. A failing or broken *check* is never one of these; it
//! is an outcome in the report (see `outcome`). Every message is one line and names the file,
//! the flag or the path at fault.

use std::path::PathBuf;

/// Documented process exit codes (docs/OPERATING.md "Exit codes").
pub mod exit_code {
    /// Every required check passed (warnings and skips allowed).
    pub const SUCCESS: u8 = 0;
    /// A required check failed or errored, or `lint` found errors.
    pub const CHECK_FAILED: u8 = 1;
    /// Usage or configuration error: the run did not happen.
    pub const USAGE: u8 = 2;
}

/// clap's rendered error as one line: the error itself with its possible values and its
/// "did you mean" tip, without the usage and the "--help" hint that follow.
pub fn clap_one_line(rendered: &str) -> String {
    let parts: Vec<String> = rendered
        .split("\n\n")
        .enumerate()
        .filter(|(i, p)| {
            let p = p.trim_start();
            *i == 0 || p.starts_with("tip:") || p.starts_with("[possible values")
        })
        .map(|(_, p)| {
            p.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let text = parts.join("; ");
    one_line(text.strip_prefix("error: ").unwrap_or(&text))
}

/// An error message made safe for one line of stderr: newlines, tabs and other control
/// characters a user put in a flag or path are shown escaped, never printed raw.
pub fn one_line(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for c in message.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    out
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("path `{}` does not exist", path.display())]
    MissingPath { path: PathBuf },

    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("bad glob `{pattern}`: {message}")]
    BadGlob { pattern: String, message: String },

    #[error("no .rhai scripts found in {paths}")]
    NoScripts { paths: String },

    #[error(
        "nothing left to load in {paths}: every script was refused (above; --allow-untrusted-paths loads them anyway)"
    )]
    NothingTrusted { paths: String },

    #[error("{reason}")]
    Untrusted { reason: String },

    #[error("no .json reports found in {paths}")]
    NoReports { paths: String },

    #[error("no checks found in {paths}")]
    NoChecks { paths: String },

    #[error("no checks match the selection ({selection}){hint}")]
    NothingSelected { selection: String, hint: String },

    #[error("{}:{line}:{column}: malformed vars file: {message}", path.display())]
    VarsFile {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },

    #[error("--var `{arg}`: {message}")]
    VarFlag { arg: String, message: String },

    #[error(
        "var `{key}` is {was} in {was_at} but {now} in {now_at}: a var keeps the type of its default"
    )]
    VarType {
        key: String,
        was: &'static str,
        was_at: String,
        now: &'static str,
        now_at: String,
    },

    #[error("{flag}: {message}")]
    Flag { flag: &'static str, message: String },

    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),

    #[error("cannot write the report: {0}")]
    Output(std::io::Error),
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        exit_code::USAGE
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
