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
    /// The error at the line of `file` that led to it (the check's own call, not a line
    /// inside `lib/`), with where inside a function it arose in parentheses.
    pub fn from_rhai(file: &Path, err: &EvalAltResult) -> Self {
        let mut current = err;
        let mut source: Option<&str> = None;
        // The outermost position is the call in `file` itself.
        let mut outer: Option<Position> = None;
        let mut position = err.position();
        while let EvalAltResult::ErrorInFunctionCall(_, src, inner, pos)
        | EvalAltResult::ErrorInModule(src, inner, pos) = current
        {
            if !pos.is_none() {
                outer.get_or_insert(*pos);
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
        let mut message = describe(current);
        let at = match outer {
            Some(call) if call != position || source.is_some_and(|s| Path::new(s) != file) => {
                let inner_file = source.map_or_else(|| file.to_path_buf(), PathBuf::from);
                message = format!(
                    "{message} (at {}:{}:{})",
                    inner_file.display(),
                    position.line().unwrap_or(0),
                    position.position().unwrap_or(0)
                );
                call
            }
            _ => position,
        };
        Diagnostic {
            file: file.to_path_buf(),
            line: at.line(),
            column: at.position(),
            message,
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

/// A primitive called with arguments none of its forms takes, or a name no module has: its
/// forms with parameter names and types, and what it was called with, or the nearest name
/// (as `lint` suggests it). `Function not found: net::listening (i64, &str)` becomes
/// "`net::listening(port: int) -> bool` or `..`: called with (int, string)".
fn teach(signature: &str) -> String {
    let (call, args) = signature.split_once(" (").unwrap_or((signature, ")"));
    let Some((module, function)) = call.split_once("::") else {
        return format!("function not found: {signature}");
    };
    let given: Vec<String> = split_types(args.trim_end_matches(')'))
        .into_iter()
        .map(|t| script_type(&t).to_string())
        .collect();
    let given = format!("({})", given.join(", "));
    let forms = crate::bindings::docs::forms(module, function);
    if !forms.is_empty() {
        let forms: Vec<String> = forms.iter().map(|f| format!("`{module}::{f}`")).collect();
        return format!("{}: called with {given}", forms.join(" or "));
    }
    let names = crate::bindings::docs::names(module);
    if names.is_empty() {
        return format!("function not found: {signature}");
    }
    match crate::text::closest(function, names.iter().copied()) {
        Some(near) => format!(
            "no function `{module}::{function}`; did you mean `{module}::{near}`? (hostscript doc {module})"
        ),
        None => format!("no function `{module}::{function}` (hostscript doc {module} lists them)"),
    }
}

/// Rhai's argument types, split at top-level commas.
fn split_types(args: &str) -> Vec<String> {
    if args.trim().is_empty() {
        return Vec::new();
    }
    let (mut depth, mut start, mut out) = (0usize, 0usize, Vec::new());
    for (i, c) in args.char_indices() {
        match c {
            '<' | '(' | '[' => depth += 1,
            '>' | ')' | ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(args[start..i].trim().to_string());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(args[start..].trim().to_string());
    out
}

/// A Rust type as Rhai names it, as a script author knows it.
fn script_type(rust: &str) -> &str {
    let rust = rust.split(" | ").next().unwrap_or(rust).trim();
    match rust {
        "i64" | "i32" | "u32" | "u64" | "usize" | "INT" => "int",
        "f64" | "f32" | "FLOAT" => "float",
        "bool" => "bool",
        "&str" | "ImmutableString" | "String" | "string" => "string",
        "char" => "char",
        "()" => "()",
        t if t.ends_with("Map") => "map",
        t if t.ends_with("Array") || t.starts_with("Vec<") => "array",
        t if t.ends_with("FnPtr") => "closure",
        other => other,
    }
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
        EvalAltResult::ErrorFunctionNotFound(signature, _) if signature.contains("::") => {
            teach(signature)
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

    /// The line that led to the error (the outermost call, in the check's own file), with
    /// where it arose inside the functions in parentheses.
    #[test]
    fn nested_errors_point_at_the_outer_call_and_name_the_inner_position() {
        let engine = rhai::Engine::new();
        let err = engine
            .eval::<i64>("fn inner() { throw \"deep\"; }\nfn outer() { inner() }\nouter()")
            .expect_err("throws");
        let d = Diagnostic::from_rhai(Path::new("f.rhai"), &err);
        assert_eq!(d.to_string(), "f.rhai:3:1: deep (at f.rhai:1:14)");
    }
}
