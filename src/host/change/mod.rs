//! Host changes, for remediations only: atomic file writes with backups and diffs, directories,
//! sparse files, keys in config files, and commands that change state. Every operation first
//! looks at the current state and does nothing when it already matches (idempotence); in a dry
//! run it reports what it would do, with the diff or the exact command, and touches nothing.
//! `Settings::root` prefixes every file path, so tests and image builders can stage a host
//! under a directory. Each operation returns a `Step`; the journal collects them per
//! remediation so a report can show what was done before a failure.

pub mod edit;
pub mod file;
pub mod journal;
pub mod ledger;
pub mod system;
pub mod template;

use std::path::{Path, PathBuf};

use serde::Serialize;

/// How changes are made in this run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub dry_run: bool,
    /// Prefix of every file path an operation touches (`/` on a live host).
    pub root: PathBuf,
    /// What earlier steps of a dry run would have made, so later steps plan with it instead
    /// of failing on its absence (a group `groupadd` would create, then `chgrp` to it).
    pub planned: std::sync::Arc<std::sync::Mutex<Planned>>,
}

/// The state a dry run's earlier steps would have left.
#[derive(Debug, Default)]
pub struct Planned {
    pub groups: std::collections::BTreeSet<String>,
}

impl Settings {
    pub fn new(dry_run: bool, root: PathBuf) -> Settings {
        Settings {
            dry_run,
            root,
            planned: std::sync::Arc::default(),
        }
    }

    /// Whether files are staged under a root other than `/`. Programs that act on the live
    /// host's state (systemctl's changing verbs) are then not run for this run's files.
    pub fn staged(&self) -> bool {
        self.root != Path::new("/")
    }

    /// Notes a group an earlier step of this dry run would create.
    pub fn plan_group(&self, group: &str) {
        if let Ok(mut planned) = self.planned.lock() {
            planned.groups.insert(group.to_string());
        }
    }

    /// Whether an earlier step of this dry run would create `group`.
    pub fn group_planned(&self, group: &str) -> bool {
        self.dry_run
            && self
                .planned
                .lock()
                .is_ok_and(|planned| planned.groups.contains(group))
    }

    /// The real location of a host path: `path` under the root.
    pub fn path(&self, path: &str) -> PathBuf {
        let relative = Path::new(path).strip_prefix("/").unwrap_or(Path::new(path));
        self.root.join(relative)
    }
}

/// What one operation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// Already as wanted: nothing done.
    Ok,
    Changed,
    /// Dry run: this would have changed.
    WouldChange,
    Failed,
    /// Dry run: the current state could not be looked at (a query that needs root), so
    /// whether this would change is not known. Never reported as "would change".
    Unknown,
}

impl StepState {
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Ok => "ok",
            StepState::Changed => "changed",
            StepState::WouldChange => "would change",
            StepState::Failed => "failed",
            StepState::Unknown => "cannot tell",
        }
    }

    /// Changed, or would have in a dry run.
    pub fn changes(self) -> bool {
        matches!(self, StepState::Changed | StepState::WouldChange)
    }
}

/// One operation of a remediation, as reports and the change log show it.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// What the step is about: `write /etc/containerd/config-dev.toml`.
    pub action: String,
    pub state: StepState,
    /// One line: what was found or done.
    pub message: String,
    /// A unified diff, or the command line that ran (or would run).
    pub detail: Option<String>,
}

impl Step {
    pub fn new(action: impl Into<String>, state: StepState, message: impl Into<String>) -> Step {
        Step {
            action: action.into(),
            state,
            message: message.into(),
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Step {
        self.detail = Some(detail.into());
        self
    }

    /// `Changed`, or `WouldChange` in a dry run.
    pub fn change(
        settings: &Settings,
        action: impl Into<String>,
        message: impl Into<String>,
    ) -> Step {
        let state = if settings.dry_run {
            StepState::WouldChange
        } else {
            StepState::Changed
        };
        Step::new(action, state, message)
    }
}

/// Quotes an argv for display the way a shell user would retype it.
pub fn command_line(argv: &[String]) -> String {
    shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| argv.join(" "))
}
