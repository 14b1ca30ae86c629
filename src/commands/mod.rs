//! The subcommands. Each turns its arguments into a `Session` (scripts found, vars merged,
//! engine built, files loaded) and then does its one job with it.

pub mod fix;
pub mod help;
pub mod installed;
pub mod lint;
pub mod list;
pub mod merge;
pub mod remediate;
pub mod run;
pub mod running;
pub mod serve;
pub mod test;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::script::engine::{self, Capability, EngineOptions};
use crate::script::loader::{self, Discovered, Loaded};
use crate::target::RunTarget;
use crate::vars::Vars;

/// Everything a command needs after start-up.
pub struct Session {
    pub runtime: tokio::runtime::Runtime,
    pub engine: Arc<rhai::Engine>,
    pub discovered: Discovered,
    pub loaded: Loaded,
    pub jobs: usize,
    /// The names of the run's vars (for lint).
    pub vars_names: Vec<String>,
    /// The run's vars, as the scripts see them.
    pub vars: Arc<Vars>,
}

pub struct SessionOptions<'a> {
    pub paths: &'a [PathBuf],
    pub vars_files: &'a [PathBuf],
    pub var_flags: &'a [String],
    pub jobs: Option<usize>,
    pub load_budget: Duration,
    /// `--target`: sets the `remote`, `target` and `target_port` vars.
    pub target: Option<&'a RunTarget>,
    /// Directories whose vars.toml apply before the scripts' own (the checks' vars for
    /// remediations).
    pub base_vars_dirs: &'a [PathBuf],
    /// What the scripts may do; `None` means read-only (checks).
    pub remediating: Option<RemediatingOptions>,
    /// A replayed recording's vars: over the scripts' vars.toml, under `--vars` and `--var`.
    pub replay_vars: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

/// For sessions that load remediations.
pub struct RemediatingOptions {
    pub settings: crate::host::change::Settings,
}

impl Session {
    pub fn start(options: SessionOptions<'_>) -> Result<Session> {
        let mut discovered = loader::discover(options.paths)?;
        if discovered.files.is_empty() && !discovered.refused.is_empty() {
            for refused in &discovered.refused {
                crate::say!("hostscript: error: {}", refused.diagnostic.message);
            }
            return Err(Error::NothingTrusted {
                paths: display_paths(options.paths),
            });
        }
        if discovered.files.is_empty() {
            return Err(Error::NoScripts {
                paths: display_paths(options.paths),
            });
        }
        let mut vars = load_vars(
            &discovered,
            options.base_vars_dirs,
            options.replay_vars,
            options.vars_files,
            options.var_flags,
        )?;
        crate::target::apply(&mut vars, options.target);
        for warning in vars.register_secrets() {
            crate::say!("hostscript: warning: {warning}");
        }
        let jobs = match options.jobs {
            Some(0) => {
                return Err(Error::Flag {
                    flag: "--jobs",
                    message: "must be at least 1".into(),
                });
            }
            Some(n) if n > crate::limits::MAX_JOBS => {
                crate::say!(
                    "hostscript: warning: --jobs {n} is over the limit of {}: running at most {} checks at once",
                    crate::limits::MAX_JOBS,
                    crate::limits::MAX_JOBS
                );
                crate::limits::MAX_JOBS
            }
            Some(n) => n,
            None => std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(crate::limits::MAX_JOBS),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_stack_size(engine::limits::THREAD_STACK_BYTES)
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        install_signal_listener(runtime.handle());
        let lib_fallbacks = if options.remediating.is_some() {
            options.base_vars_dirs.to_vec()
        } else {
            Vec::new()
        };
        let capability = match options.remediating {
            None => Capability::ReadOnly,
            Some(r) => Capability::Remediate(Arc::new(engine::Remediating {
                settings: r.settings,
                template_dirs: discovered
                    .roots()
                    .iter()
                    .map(|root| root.join("templates"))
                    .collect(),
            })),
        };
        let vars = Arc::new(vars);
        let engine = Arc::new(engine::build(EngineOptions {
            capability,
            roots: discovered.roots(),
            lib_fallbacks,
            vars: vars.clone(),
            runtime: runtime.handle().clone(),
        }));
        warn_unknown_flag_vars(&vars, &discovered.roots(), options.base_vars_dirs);
        let mut loaded = loader::load(&engine, &discovered.files, options.load_budget, jobs);
        loaded.failures.append(&mut discovered.refused);
        let mut vars_names: Vec<String> = vars.iter().map(|(k, _)| k.clone()).collect();
        // Set by the run itself (`--target`), so always readable.
        for always in ["remote", "target", "target_port"] {
            if !vars_names.iter().any(|n| n == always) {
                vars_names.push(always.to_string());
            }
        }
        Ok(Session {
            runtime,
            engine,
            discovered,
            loaded,
            jobs,
            vars_names,
            vars,
        })
    }
}

/// A `--var` that no vars file defines and no script under the roots reads (`vars::KEY`) is
/// most likely a typo: say so, and run anyway.
fn warn_unknown_flag_vars(vars: &Vars, roots: &[PathBuf], more: &[PathBuf]) {
    if vars.flag_only().is_empty() {
        return;
    }
    fn texts(dir: &std::path::Path, out: &mut String, depth: usize) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() && depth < 8 {
                texts(&path, out, depth + 1);
            } else if path.extension().is_some_and(|e| e == "rhai")
                && let Ok(text) = std::fs::read_to_string(&path)
            {
                out.push_str(&text);
            }
        }
    }
    let mut all = String::new();
    for dir in roots.iter().chain(more) {
        texts(dir, &mut all, 0);
    }
    // `vars::KEY` as a whole word (not the start of a longer name), or `"KEY"`.
    let reads = |key: &str| {
        let needle = format!("vars::{key}");
        all.match_indices(&needle).any(|(i, _)| {
            !all[i + needle.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        }) || all.contains(&format!("\"{key}\""))
    };
    for key in vars.flag_only() {
        if !reads(key) {
            crate::say!(
                "hostscript: warning: --var {key}: no vars file defines `{key}` and no script reads it (a typo?)"
            );
        }
    }
}

/// vars.toml of each checks directory, then a replayed recording's vars, then `--vars`
/// files, then `--var` flags.
fn load_vars(
    discovered: &Discovered,
    base_dirs: &[PathBuf],
    replayed: Option<&serde_json::Map<String, serde_json::Value>>,
    files: &[PathBuf],
    flags: &[String],
) -> Result<Vars> {
    let mut vars = Vars::default();
    for dir in base_dirs.iter().chain(&discovered.dirs) {
        let defaults = dir.join("vars.toml");
        if defaults.is_file() {
            crate::trust::admit(&defaults).map_err(|reason| Error::Untrusted { reason })?;
            vars.merge_file(&defaults)?;
        }
    }
    for (key, value) in replayed.into_iter().flatten() {
        let value = toml::Value::try_from(value).map_err(|e| Error::Flag {
            flag: "--replay",
            message: format!("the recording's var `{key}`: {e}"),
        })?;
        vars.set(key.clone(), value);
    }
    for file in files {
        if !file.is_file() {
            return Err(Error::MissingPath { path: file.clone() });
        }
        crate::trust::admit(file).map_err(|reason| Error::Untrusted { reason })?;
        vars.merge_file(file)?;
    }
    for flag in flags {
        vars.merge_flag(flag)?;
    }
    Ok(vars)
}

impl Session {
    /// The names of every var this session's scripts can read.
    pub fn engine_vars(&self) -> Vec<String> {
        self.vars_names.clone()
    }
}

pub fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| format!("`{}`", p.display()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The directories a flag names, each of which must exist: a missing one is an error naming
/// the flag, never a quietly smaller run.
pub fn existing_dirs(flag: &'static str, given: &[PathBuf]) -> Result<Vec<PathBuf>> {
    for dir in given {
        if !dir.is_dir() {
            return Err(Error::Flag {
                flag,
                message: format!("`{}` is not a directory", dir.display()),
            });
        }
    }
    Ok(given.to_vec())
}

/// Makes the deferred calls (`grpc::defer`) of checks that never reached their own clean-up
/// (ended by a signal, or abandoned past their budget), and says what each did.
pub fn finish_deferred() {
    for cleanup in crate::bindings::run_deferred(true) {
        cleanup.tell();
    }
}

/// Listens for SIGINT and SIGTERM on `runtime` for the rest of the process. Once installed,
/// the signals no longer kill the process by default: this listener decides.
pub fn install_signal_listener(runtime: &tokio::runtime::Handle) {
    static INSTALLED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    if INSTALLED.set(()).is_err() {
        return;
    }
    runtime.spawn(async {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        loop {
            let signo = tokio::select! {
                _ = int.recv() => nix::libc::SIGINT,
                _ = term.recv() => nix::libc::SIGTERM,
            };
            if crate::interrupt::requested().is_some() {
                // The second signal: no more waiting.
                crate::host::cmd::kill_everything();
                std::process::exit(128 + signo);
            }
            crate::interrupt::request(signo);
            crate::host::cmd::stop_all();
        }
    });
}

/// Whether human output should be coloured.
pub fn use_color(choice: crate::cli::Color) -> bool {
    use std::io::IsTerminal;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let force = std::env::var_os("CLICOLOR_FORCE").is_some_and(|v| !v.is_empty() && v != "0");
    match choice {
        // A flag on the command line beats the environment (no-color.org).
        crate::cli::Color::Always => true,
        crate::cli::Color::Never => false,
        crate::cli::Color::Auto if no_color => false,
        crate::cli::Color::Auto if force => true,
        crate::cli::Color::Auto if std::env::var("TERM").is_ok_and(|t| t == "dumb") => false,
        crate::cli::Color::Auto => std::io::stdout().is_terminal(),
    }
}
