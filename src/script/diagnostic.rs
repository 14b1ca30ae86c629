//! Turns Rhai errors into one-line `file:line:col: message` diagnostics.
//!
//! Rhai nests errors (`ErrorInFunctionCall`, `ErrorInModule`) and puts the position of the
//! innermost cause deepest, so we walk down to it and keep the innermost file that is known.
//! Lines and columns are 1-based and count characters, as Rhai does and as editors show them.

use std::fmt;
use std::path::{Path, PathBuf};

use rhai::{EvalAltResult, Position};

use crate::script::engine::limits;

/// Prefixes of calls a check might try in order to change the host; a missing-function error
/// for one of them says why it is missing.
const READ_ONLY_HINTS: &[&str] = &[
    "fs::write",
    "fs::remove",
    "fs::mkdir",
    "fs::chmod",
    "fs::chown",
    "systemd::",
    "dm::create",
    "dm::reload",
];

/// A problem located in a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

impl Diagnostic {
    pub fn at_file(file: &Path, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    /// Builds a diagnostic from a Rhai error raised while running code from `file`.
    pub fn from_rhai(file: &Path, err: &EvalAltResult) -> Self {
        let mut current = err;
        let mut source: Option<&str> = None;
        let mut position = err.position();
        while let EvalAltResult::ErrorInFunctionCall(_, src, inner, pos)
        | EvalAltResult::ErrorInModule(src, inner, pos) = current
        {
            if !pos.is_none() {
                position = *pos;
            }
            if !src.is_empty() && src.ends_with(".rhai") {
                source = Some(src.as_str());
            }
            current = inner;
        }
        if !current.position().is_none() {
            position = current.position();
        }
        let file = source.map_or_else(|| file.to_path_buf(), PathBuf::from);
        Diagnostic {
            file,
            line: position.line(),
            column: position.position(),
            message: describe(current),
        }
    }

    /// Uses `line` when the error carried no position of its own (Rhai reports some limits,
    /// such as the deadline or stack overflow, without one).
    pub fn or_line(mut self, line: usize) -> Self {
        if self.line.is_none() && line > 0 {
            self.line = Some(line);
        }
        self
    }

    /// Builds a diagnostic from a compile error.
    pub fn from_parse(file: &Path, err: &rhai::ParseError) -> Self {
        let position: Position = err.position();
        Diagnostic {
            file: file.to_path_buf(),
            line: position.line(),
            column: position.position(),
            message: err.err_type().to_string(),
        }
    }
}

/// The message of one error without Rhai's "(line x, position y)" suffix, which we print
/// in front as `file:line:col` instead.
/// Whether an error is a bug in the script itself (a function, variable, property or index
/// that is not there, a wrong type, an index out of range, arithmetic that cannot be done)
/// rather than something it threw or met on the host. A script bug is the check's `error`
/// whatever `required` says: it says nothing about the host.
pub fn is_script_bug(err: &EvalAltResult) -> bool {
    let mut current = err;
    while let EvalAltResult::ErrorInFunctionCall(_, _, inner, _)
    | EvalAltResult::ErrorInModule(_, inner, _) = current
    {
        current = inner;
    }
    matches!(
        current,
        EvalAltResult::ErrorFunctionNotFound(..)
            | EvalAltResult::ErrorVariableNotFound(..)
            | EvalAltResult::ErrorPropertyNotFound(..)
            | EvalAltResult::ErrorIndexNotFound(..)
            | EvalAltResult::ErrorModuleNotFound(..)
            | EvalAltResult::ErrorUnboundThis(..)
            | EvalAltResult::ErrorMismatchDataType(..)
            | EvalAltResult::ErrorMismatchOutputType(..)
            | EvalAltResult::ErrorIndexingType(..)
            | EvalAltResult::ErrorArrayBounds(..)
            | EvalAltResult::ErrorStringBounds(..)
            | EvalAltResult::ErrorBitFieldBounds(..)
            | EvalAltResult::ErrorDotExpr(..)
            | EvalAltResult::ErrorArithmetic(..)
            | EvalAltResult::ErrorFor(..)
            | EvalAltResult::ErrorParsing(..)
    )
}

fn describe(err: &EvalAltResult) -> String {
    let text = match err {
        EvalAltResult::ErrorRuntime(value, _) if value.is_string() => value.to_string(),
        EvalAltResult::ErrorRuntime(value, _) if value.is::<crate::bindings::HostError>() => {
            value.clone_cast::<crate::bindings::HostError>().message
        }
        EvalAltResult::ErrorTerminated(token, _) => token.to_string(),
        EvalAltResult::ErrorStackOverflow(_) => format!(
            "stack overflow: more than {} nested function calls",
            limits::CALL_LEVELS
        ),
        EvalAltResult::ErrorDataTooLarge(what, _) => format!(
            "{what}: over the script limits ({} MiB per string, {} items per array or map)",
            limits::STRING_BYTES / (1024 * 1024),
            limits::ARRAY_ITEMS
        ),
        EvalAltResult::ErrorFunctionNotFound(signature, _)
            if READ_ONLY_HINTS.iter().any(|p| signature.starts_with(p)) =>
        {
            format!(
                "function not found: {signature} (checks are read-only; changing the host is a remediation's job)"
            )
        }
        EvalAltResult::ErrorModuleNotFound(name, _) if name == "fix" => {
            "module not found: fix (fix:: is for remediations; checks are read-only)".to_string()
        }
        other => strip_position(&other.to_string()).to_string(),
    };
    crate::outcome::one_line(&text)
}

/// Removes Rhai's trailing " (line 3, position 7)" from a message.
fn strip_position(text: &str) -> &str {
    match text.rfind(" (line ") {
        Some(at) if text.ends_with(')') && text[at..].contains("position") => &text[..at],
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_file_line_column_message() {
        let d = Diagnostic {
            file: "checks/kvm.rhai".into(),
            line: Some(3),
            column: Some(7),
            message: "boom".into(),
        };
        assert_eq!(d.to_string(), "checks/kvm.rhai:3:7: boom");
        assert_eq!(
            Diagnostic::at_file(Path::new("a.rhai"), "x").to_string(),
            "a.rhai: x"
        );
    }

    #[test]
    fn parse_errors_carry_character_columns() {
        let engine = rhai::Engine::new();
        let err = engine
            .compile("let s = \"héllo\"; let x = ;")
            .expect_err("parse error");
        let d = Diagnostic::from_parse(Path::new("f.rhai"), &err);
        assert_eq!((d.line, d.column), (Some(1), Some(26)), "{d}");
    }

    #[test]
    fn nested_errors_report_the_innermost_position() {
        let engine = rhai::Engine::new();
        let err = engine
            .eval::<i64>("fn inner() { throw \"deep\"; }\nfn outer() { inner() }\nouter()")
            .expect_err("throws");
        let d = Diagnostic::from_rhai(Path::new("f.rhai"), &err);
        assert_eq!(d.to_string(), "f.rhai:1:14: deep");
    }
}
