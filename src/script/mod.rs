//! The script model: how `.rhai` files are found, compiled and turned into check and
//! remediation definitions.
//!
//! A file is evaluated once per run, at load time. Its top level calls `check(#{..})` or
//! `remediation(#{..})` once per declaration (possibly in a loop over vars), and each call
//! records a `CheckDef` or `RemediationDef` whose `run` closure is called later. Functions and imports of the file stay available to those
//! closures because the file is evaluated as a module (see `loader`).

pub mod define;
pub mod diagnostic;
pub mod engine;

/// What a check body returned, as a verdict (or why it is none).
pub use crate::bindings::into_verdict;
pub mod loader;
pub mod reads;
pub mod resolver;

use std::path::PathBuf;
use std::sync::Arc;

use rhai::AST;

pub use diagnostic::Diagnostic;

/// One compiled and evaluated script file.
pub struct LoadedScript {
    /// The path as the user gave it, for messages (`checks/kvm.rhai`).
    pub path: PathBuf,
    /// `path` as text, made once: every report item of the file's checks shares it.
    pub display_path: std::sync::Arc<str>,
    /// Functions of the file, each carrying the file's imports.
    pub ast: AST,
}

/// A declaration tied to the script that made it, whose functions and imports its body
/// needs. Fields of the declaration read through (`check.id`).
#[derive(Clone)]
pub struct Bound<D> {
    /// Shared: the runner, the reporters and `--fix` pass checks around by value, and at
    /// 10,000 checks a copy of every id, description and tag per hand-off added up.
    pub declared: Arc<D>,
    pub script: Arc<LoadedScript>,
}

impl<D> std::ops::Deref for Bound<D> {
    type Target = D;

    fn deref(&self) -> &D {
        &self.declared
    }
}

/// What every declaration has: the closure to call and the line that declared it.
pub trait Declaration {
    fn body(&self) -> &rhai::FnPtr;
    fn line(&self) -> usize;
}

impl Declaration for define::Declared {
    fn body(&self) -> &rhai::FnPtr {
        &self.body
    }
    fn line(&self) -> usize {
        self.line
    }
}

impl Declaration for define::DeclaredRemediation {
    fn body(&self) -> &rhai::FnPtr {
        &self.body
    }
    fn line(&self) -> usize {
        self.line
    }
}

impl<D: Declaration> Bound<D> {
    /// Calls the body on this thread within `timeout`. A Rhai error or a panic inside a
    /// primitive becomes a message that starts with `file:line:col`.
    pub fn call(
        &self,
        engine: &rhai::Engine,
        timeout: std::time::Duration,
    ) -> Result<rhai::Dynamic, BodyError> {
        let _budget = crate::budget::start(timeout);
        let called = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // As `FnPtr::call` does, plus the script's source, so what the body's native calls
            // and `debug` report names its file.
            let ast = &self.script.ast;
            let mut global = engine.new_global_runtime_state();
            global.lib.push(ast.shared_lib().clone());
            global.source = ast.source().map(Into::into);
            let body = self.declared.body();
            let ctx = rhai::NativeCallContext::new_with_all_fields(
                engine,
                body.fn_name(),
                None,
                &global,
                rhai::Position::NONE,
            );
            body.call_raw(&ctx, None, [])
        }));
        let result = match called {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(BodyError {
                message: Diagnostic::from_rhai(self.file(), &err)
                    .or_line(self.declared.line())
                    .to_string(),
                script_bug: diagnostic::is_script_bug(&err),
            }),
            Err(panic) => Err(BodyError {
                message: format!(
                    "{}:{}: internal error (panic): {}",
                    self.file().display(),
                    self.declared.line(),
                    crate::panic_message(&panic)
                ),
                script_bug: false,
            }),
        };
        // What the body deferred (`grpc::defer`) happens now, on every path; a clean-up that
        // fails makes the check an error that names what was left behind.
        let cleanups = crate::bindings::run_deferred(false);
        if crate::interrupt::requested().is_some() {
            // The report will say only "interrupted": what the clean-up did goes to stderr.
            cleanups.iter().for_each(crate::bindings::Cleanup::tell);
        }
        let failed: Vec<String> = cleanups
            .into_iter()
            .filter_map(|c| c.error.map(|e| format!("left behind {}: {e}", c.label)))
            .collect();
        if failed.is_empty() {
            return result;
        }
        let failed = failed.join("; ");
        Err(match result {
            Ok(_) => BodyError {
                message: failed,
                script_bug: false,
            },
            Err(e) => BodyError {
                message: format!("{}; {failed}", e.message),
                script_bug: e.script_bug,
            },
        })
    }
}

/// Why a body did not return: its message (`file:line:col: ...`), and whether it is a bug in
/// the script itself (`diagnostic::is_script_bug`).
#[derive(Debug, Clone)]
pub struct BodyError {
    pub message: String,
    pub script_bug: bool,
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl<D> Bound<D> {
    pub fn new(declared: D, script: &Arc<LoadedScript>) -> Self {
        Bound {
            declared: Arc::new(declared),
            script: script.clone(),
        }
    }

    pub fn file(&self) -> &std::path::Path {
        &self.script.path
    }
}

/// One check, as its script declared it.
pub type CheckDef = Bound<define::Declared>;

/// One remediation, as its script declared it.
pub type RemediationDef = Bound<define::DeclaredRemediation>;

/// A script that could not be loaded; its checks are unknown, so it is reported on its own.
#[derive(Debug, Clone)]
pub struct LoadFailure {
    /// A stable id for the report: the file's path relative to its root, without `.rhai`.
    pub id: String,
    pub diagnostic: Diagnostic,
}
