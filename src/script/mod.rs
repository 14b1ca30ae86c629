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
pub mod loader;
pub mod resolver;

use std::path::PathBuf;
use std::sync::Arc;

use rhai::AST;

pub use diagnostic::Diagnostic;

/// One compiled and evaluated script file.
pub struct LoadedScript {
    /// The path as the user gave it, for messages (`checks/kvm.rhai`).
    pub path: PathBuf,
    /// Functions of the file, each carrying the file's imports.
    pub ast: AST,
}

/// A declaration tied to the script that made it, whose functions and imports its body
/// needs. Fields of the declaration read through (`check.id`).
#[derive(Clone)]
pub struct Bound<D> {
    pub declared: D,
    pub script: Arc<LoadedScript>,
}

impl<D> std::ops::Deref for Bound<D> {
    type Target = D;

    fn deref(&self) -> &D {
        &self.declared
    }
}

impl<D> Bound<D> {
    pub fn new(declared: D, script: &Arc<LoadedScript>) -> Self {
        Bound {
            declared,
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
