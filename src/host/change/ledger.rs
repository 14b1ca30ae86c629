//! Bookkeeping of applied changes: the lock that keeps remediation runs one at a time, and the
//! change log every applied step is appended to (time, remediation, step, state, summary), so
//! an operator can tell later what hostscript changed on a host.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use super::{Step, StepState};

/// An exclusive lock held for the whole run; released when dropped (or when the process dies).
pub struct RunLock {
    _lock: Flock<std::fs::File>,
    pub path: PathBuf,
}

impl RunLock {
    /// Takes the lock at `path` without waiting: a second run fails at once, naming the holder.
    pub fn acquire(path: &Path) -> Result<RunLock, String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("lock {}: {e}", dir.display()))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| format!("lock {}: {e}", path.display()))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(mut lock) => {
                // Who holds it, for the message a second run prints.
                let _ = lock.set_len(0);
                let _ = writeln!(lock, "{}", std::process::id());
                Ok(RunLock {
                    _lock: lock,
                    path: path.to_path_buf(),
                })
            }
            Err((_, errno)) if errno == nix::errno::Errno::EWOULDBLOCK => {
                let holder = std::fs::read_to_string(path).unwrap_or_default();
                Err(format!(
                    "another remediation run holds {} (pid {}); runs are one at a time",
                    path.display(),
                    holder.trim()
                ))
            }
            Err((_, errno)) => Err(format!("lock {}: {errno}", path.display())),
        }
    }
}

/// Appends the applied (changed or failed) steps of a remediation to the change log.
pub fn append_log(path: &Path, remediation: &str, steps: &[Step]) -> Result<(), String> {
    let applied: Vec<&Step> = steps
        .iter()
        .filter(|s| matches!(s.state, StepState::Changed | StepState::Failed))
        .collect();
    if applied.is_empty() {
        return Ok(());
    }
    append(path, |now| {
        let mut text = String::new();
        for step in &applied {
            text.push_str(&format!(
                "{now} remediation={remediation} state={} step={:?} summary={:?}\n",
                step.state.as_str(),
                step.action,
                step.message
            ));
        }
        // A remediation that failed part-way: one line with exactly what it left changed.
        if applied.iter().any(|s| s.state == StepState::Failed) {
            let left: Vec<&str> = applied
                .iter()
                .filter(|s| s.state == StepState::Changed)
                .map(|s| s.action.as_str())
                .collect();
            text.push_str(&format!(
                "{now} remediation={remediation} state=stopped left_changed={left:?}\n"
            ));
        }
        text
    })
}

/// Records that a signal stopped the run, after the steps it finished.
pub fn append_interrupted(path: &Path, signal: i32) -> Result<(), String> {
    append(path, |now| {
        format!("{now} state=interrupted signal={signal}\n")
    })
}

/// Appends the lines `text` makes (given the time) to the log, creating it, and syncs it.
fn append(path: &Path, text: impl FnOnce(&str) -> String) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("change log {}: {e}", dir.display()))?;
    }
    // Not world-readable: it names what changed on the host, and steps quote diffs' summaries.
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("change log {}: {e}", path.display()))?;
    // A log made by an older hostscript (or by hand) is tightened the same way.
    if let Ok(meta) = file.metadata()
        && meta.permissions().mode() & 0o077 != 0
    {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("change log {}: {e}", path.display()))?;
    }
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    file.write_all(crate::secrets::redact(&text(&now)).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("change log {}: {e}", path.display()))
}
