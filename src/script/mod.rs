//! The script model: how `.rhai` files are found, compiled and turned into check definitions.
//!
//! A check file is evaluated once per run, at load time. Its top level calls `check(#{..})` once
//! per check (possibly in a loop over vars), and each call records a `CheckDef` whose `run`
//! closure the runner calls later. Functions and imports of the file stay available to those
//! closures because the file is evaluated as a module (see `loader`).

pub mod define;
pub mod diagnostic;
pub mod engine;
pub mod loader;
pub mod resolver;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rhai::{AST, FnPtr};

pub use diagnostic::Diagnostic;

/// One compiled and evaluated script file.
pub struct LoadedScript {
    /// The path as the user gave it, for messages (`checks/kvm.rhai`).
    pub path: PathBuf,
    /// Functions of the file, each carrying the file's imports.
    pub ast: AST,
}

/// One check, as its script declared it.
#[derive(Clone)]
pub struct CheckDef {
    pub id: String,
    pub description: String,
    pub required: bool,
    pub tags: Vec<String>,
    pub needs: Vec<String>,
    pub remediation: Option<String>,
    pub remote: bool,
    pub timeout: Option<Duration>,
    pub line: usize,
    pub body: FnPtr,
    pub script: Arc<LoadedScript>,
}

impl CheckDef {
    pub fn file(&self) -> &std::path::Path {
        &self.script.path
    }
}

/// One remediation, as its script declared it.
#[derive(Clone)]
pub struct RemediationDef {
    pub id: String,
    pub description: String,
    pub touches: Vec<String>,
    pub after: Vec<String>,
    pub timeout: Option<Duration>,
    pub line: usize,
    pub body: FnPtr,
    pub script: Arc<LoadedScript>,
}

impl RemediationDef {
    pub fn file(&self) -> &std::path::Path {
        &self.script.path
    }
}

/// A script that could not be loaded; its checks are unknown, so it is reported on its own.
#[derive(Debug, Clone)]
pub struct LoadFailure {
    /// A stable id for the report: the file's path relative to its root, without `.rhai`.
    pub id: String,
    pub diagnostic: Diagnostic,
}
