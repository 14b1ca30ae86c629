//! Finds `.rhai` files under the paths a user gave, compiles each once, and evaluates its top
//! level to collect the checks it declares.
//!
//! Directories are walked in sorted order, skipping folders named `lib` (shared modules, not
//! checks) and hidden folders. A file that does not compile, throws while loading or runs out
//! of budget becomes a `LoadFailure`; the other files load as usual. Files load in parallel,
//! but results keep argument order, then path order, so reports are stable.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rhai::{AST, Engine, Module, Scope};

use crate::budget;
use crate::error::{Error, Result};
use crate::script::define::{self, Declarations};
use crate::script::engine::limits;
use crate::script::{Bound, CheckDef, Diagnostic, LoadFailure, LoadedScript, RemediationDef};

/// A script file and the root it was found under (its `import` base and vars.toml location).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptFile {
    pub path: PathBuf,
    pub root: PathBuf,
}

impl ScriptFile {
    /// The file's path relative to its root, e.g. `net/link.rhai`.
    pub fn relative(&self) -> String {
        self.path
            .strip_prefix(&self.root)
            .unwrap_or(&self.path)
            .display()
            .to_string()
    }
}

/// The user's paths, expanded to script files.
#[derive(Debug, Default)]
pub struct Discovered {
    pub files: Vec<ScriptFile>,
    /// Directories given on the command line, in order: where `vars.toml` files live.
    pub dirs: Vec<PathBuf>,
    /// What was not loaded because others than its owner could change it (`crate::trust`):
    /// each a load error of its own, while the rest loads.
    pub refused: Vec<LoadFailure>,
}

impl Discovered {
    pub fn roots(&self) -> Vec<PathBuf> {
        let mut roots: Vec<PathBuf> = self.files.iter().map(|f| f.root.clone()).collect();
        roots.sort();
        roots.dedup();
        roots
    }
}

pub fn discover(paths: &[PathBuf]) -> Result<Discovered> {
    let mut found = Discovered::default();
    // Every directory walked and every file taken, by device and inode: a symlink back up the
    // tree (`self -> .`, `sub/up -> ..`) is followed once, and no file loads twice.
    let mut seen = Seen::default();
    for path in paths {
        let mut batch = Vec::new();
        if path.is_dir() {
            // The directory and its vars.toml decide for everything in it.
            let vars = path.join("vars.toml");
            if let Err(reason) = crate::trust::admit(path).and_then(|()| {
                if vars.exists() {
                    crate::trust::admit(&vars)
                } else {
                    Ok(())
                }
            }) {
                found.refused.push(refusal(path, path, reason));
                continue;
            }
            walk(path, path, &mut batch, 0, &mut seen)?;
            found.dirs.push(path.clone());
        } else if path.is_file() {
            // A file named on the command line that cannot be read is a usage error (exit 2),
            // like a missing one, not a check that errors.
            std::fs::File::open(path).map_err(|source| Error::Read {
                path: path.clone(),
                source,
            })?;
            let root = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            batch.push(ScriptFile {
                path: path.clone(),
                root: root.to_path_buf(),
            });
        } else if let Some(pattern) = path.to_str().filter(|p| p.contains(['*', '?', '['])) {
            expand_glob(pattern, &mut batch)?;
        } else if path.exists() {
            return Err(Error::Read {
                path: path.clone(),
                source: std::io::Error::other("not a file or directory"),
            });
        } else {
            return Err(Error::MissingPath { path: path.clone() });
        }
        batch.sort_by(|a, b| a.path.cmp(&b.path));
        for file in batch {
            if !seen.file(&file.path) {
                continue;
            }
            if let Err(reason) = crate::trust::admit(&file.path) {
                found.refused.push(refusal(&file.path, &file.root, reason));
                continue;
            }
            // A single file or a glob's match gets its directory's vars.toml, as the
            // directory itself would.
            if !found.dirs.contains(&file.root) && !path.is_dir() {
                found.dirs.push(file.root.clone());
            }
            found.files.push(file);
        }
    }
    Ok(found)
}

/// A refused path as a load failure, with the id a script there would have had.
fn refusal(path: &Path, root: &Path, reason: String) -> LoadFailure {
    let id = path.strip_prefix(root).unwrap_or(path);
    let id = if id.as_os_str().is_empty() { path } else { id };
    LoadFailure {
        id: id.display().to_string(),
        diagnostic: Diagnostic::at_file(path, reason),
    }
}

#[derive(Default)]
struct Seen {
    dirs: std::collections::HashSet<(u64, u64)>,
    files: std::collections::HashSet<(u64, u64)>,
}

impl Seen {
    fn id(path: &Path) -> Option<(u64, u64)> {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
    }

    /// True the first time a directory is seen.
    fn dir(&mut self, path: &Path) -> bool {
        Self::id(path).is_none_or(|id| self.dirs.insert(id))
    }

    /// True the first time a file is seen.
    fn file(&mut self, path: &Path) -> bool {
        Self::id(path).is_none_or(|id| self.files.insert(id))
    }
}

fn expand_glob(pattern: &str, batch: &mut Vec<ScriptFile>) -> Result<()> {
    let matches = glob::glob(pattern).map_err(|e| Error::BadGlob {
        pattern: pattern.to_string(),
        message: e.msg.to_string(),
    })?;
    let mut any = false;
    for entry in matches {
        let path = entry.map_err(|e| Error::Read {
            path: e.path().to_path_buf(),
            source: std::io::Error::new(e.error().kind(), e.error().to_string()),
        })?;
        if path.is_file() && path.extension().is_some_and(|e| e == "rhai") {
            let root = path.parent().unwrap_or(Path::new(".")).to_path_buf();
            batch.push(ScriptFile { path, root });
            any = true;
        }
    }
    if any {
        Ok(())
    } else {
        Err(Error::MissingPath {
            path: PathBuf::from(pattern),
        })
    }
}

/// Folder depth beyond which a tree is assumed to loop through symlinks.
const MAX_DEPTH: usize = 32;

fn walk(
    root: &Path,
    dir: &Path,
    out: &mut Vec<ScriptFile>,
    depth: usize,
    seen: &mut Seen,
) -> Result<()> {
    if depth > MAX_DEPTH || !seen.dir(dir) {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| Error::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            if name != "lib" && name != "templates" {
                walk(root, &path, out, depth + 1, seen)?;
            }
        } else if path.extension().is_some_and(|e| e == "rhai") {
            out.push(ScriptFile {
                path,
                root: root.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// Everything the scripts declared.
#[derive(Default)]
pub struct Loaded {
    pub checks: Vec<CheckDef>,
    pub remediations: Vec<RemediationDef>,
    pub failures: Vec<LoadFailure>,
}

/// Compiles and evaluates every file, `jobs` at a time, each within `budget`.
pub fn load(engine: &Engine, files: &[ScriptFile], budget: Duration, jobs: usize) -> Loaded {
    let slots: Vec<std::sync::Mutex<Option<FileOutcome>>> =
        files.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, files.len().max(1)) {
            let worker = || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(file) = files.get(i) else { break };
                    let outcome = load_file(engine, file, budget);
                    if let Ok(mut slot) = slots[i].lock() {
                        *slot = Some(outcome);
                    }
                }
            };
            let spawned = std::thread::Builder::new()
                .name("hostscript-load".into())
                .stack_size(limits::THREAD_STACK_BYTES)
                .spawn_scoped(scope, worker);
            if spawned.is_err() {
                break; // fewer workers than asked; the ones started (or this thread) finish the work
            }
        }
    });
    let mut loaded = Loaded::default();
    for (file, slot) in files.iter().zip(slots) {
        let outcome = slot.into_inner().ok().flatten().unwrap_or_else(|| {
            // No worker thread could be started: load on this thread.
            load_file(engine, file, budget)
        });
        match outcome {
            FileOutcome::Loaded(script, declared) => {
                let bind = |d| Bound::new(d, &script);
                loaded
                    .remediations
                    .extend(declared.remediations.into_iter().map(bind));
                loaded
                    .checks
                    .extend(declared.checks.into_iter().map(|d| Bound::new(d, &script)));
            }
            FileOutcome::Failed(diagnostic) => {
                loaded.failures.push(LoadFailure {
                    id: file.relative(),
                    diagnostic,
                });
            }
        }
    }
    reject_duplicates(&mut loaded);
    loaded
}

enum FileOutcome {
    Loaded(Arc<LoadedScript>, Declarations),
    Failed(Diagnostic),
}

fn load_file(engine: &Engine, file: &ScriptFile, total: Duration) -> FileOutcome {
    let path = &file.path;
    let source = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) => {
            return FileOutcome::Failed(Diagnostic::at_file(path, format!("cannot read: {e}")));
        }
    };
    let mut ast: AST = match engine.compile(&source) {
        Ok(ast) => ast,
        Err(e) => return FileOutcome::Failed(Diagnostic::from_parse(path, &e)),
    };
    let source_name = path.display().to_string();
    ast.set_source(source_name.as_str());

    let _budget = budget::start(total);
    let evaluated = std::panic::catch_unwind(AssertUnwindSafe(|| {
        define::collect(|| Module::eval_ast_as_new(Scope::new(), &ast, engine))
    }));
    match evaluated {
        Ok((Ok(module), declared)) => {
            let mut runtime = AST::new_from_module(module);
            runtime.set_source(source_name.as_str());
            let script = Arc::new(LoadedScript {
                path: path.clone(),
                display_path: path.display().to_string().into(),
                ast: runtime,
            });
            FileOutcome::Loaded(script, declared)
        }
        Ok((Err(e), _)) => FileOutcome::Failed(Diagnostic::from_rhai(path, &e)),
        Err(panic) => FileOutcome::Failed(Diagnostic::at_file(
            path,
            format!(
                "internal error while loading: {}",
                crate::panic_message(&panic)
            ),
        )),
    }
}

fn reject_duplicates(loaded: &mut Loaded) {
    let checks = std::mem::take(&mut loaded.checks);
    loaded.checks = unique(checks, "check", &mut loaded.failures, |c| {
        (c.id.clone(), c.file().to_path_buf(), c.line)
    });
    let remediations = std::mem::take(&mut loaded.remediations);
    loaded.remediations = unique(remediations, "remediation", &mut loaded.failures, |r| {
        (r.id.clone(), r.file().to_path_buf(), r.line)
    });
}

/// Keeps the first declaration of each id; later ones become load failures naming the first.
fn unique<T>(
    items: Vec<T>,
    kind: &str,
    failures: &mut Vec<LoadFailure>,
    place: impl Fn(&T) -> (String, PathBuf, usize),
) -> Vec<T> {
    let mut seen: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut kept = Vec::with_capacity(items.len());
    for item in items {
        let (id, file, line) = place(&item);
        if let Some(first) = seen.get(&id) {
            failures.push(LoadFailure {
                id: format!("{id} (duplicate)"),
                diagnostic: Diagnostic {
                    file,
                    line: Some(line),
                    column: None,
                    message: format!("duplicate {kind} id `{id}` (first declared at {first})"),
                },
            });
        } else {
            seen.insert(id, format!("{}:{line}", file.display()));
            kept.push(item);
        }
    }
    kept
}
