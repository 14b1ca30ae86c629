//! Runs remember (`--state FILE`): each check's status and since when, its last pass and its
//! last statuses (so a report says "since 3d 4h" and marks a check that flaps), and each
//! remediation's last outcome (so one that failed backs off: 10 min, doubling to 6 h, reset
//! by a success). The file holds statuses, outcomes and times, never a message, so no secret
//! can enter it. It is read once at the start of a run and written at the end under a lock,
//! merged into what is on disk then, so two runs at once never lose each other's update.
//! A file that cannot be trusted or read is set aside with one warning and the run goes on
//! from nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::outcome::{Remembered, Status};

/// Bumped only on incompatible changes; a file from a newer schema is set aside.
pub const SCHEMA_VERSION: u64 = 1;
/// Where the installed layout keeps it (the package's units set `StateDirectory=hostscript`).
pub const INSTALLED_PATH: &str = "/var/lib/hostscript/state.json";
/// A failed remediation waits this long before the next try, doubling up to `BACKOFF_MAX`.
pub const BACKOFF_FIRST: Duration = Duration::from_secs(10 * 60);
pub const BACKOFF_MAX: Duration = Duration::from_secs(6 * 60 * 60);

/// The file, as written.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StateFile {
    pub schema_version: u64,
    /// How many runs have written the file: an id no run has seen for `history` runs is
    /// dropped.
    #[serde(default)]
    pub runs: u64,
    #[serde(default)]
    pub checks: BTreeMap<String, CheckMemory>,
    #[serde(default)]
    pub remediations: BTreeMap<String, RemediationMemory>,
}

/// One check's memory. Times are Unix seconds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CheckMemory {
    pub status: Status,
    /// When the check took its current status.
    pub since: u64,
    #[serde(default)]
    pub last_pass: Option<u64>,
    /// The value of `runs` when it last ran.
    #[serde(default)]
    pub last_run: u64,
    /// Its last statuses, oldest first.
    #[serde(default)]
    pub history: Vec<Seen>,
}

/// One run's status of a check, written `[at, "status"]`: at 1,000 checks times 20 runs the
/// file stays small.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(from = "(u64, Status)", into = "(u64, Status)")]
pub struct Seen {
    pub at: u64,
    pub status: Status,
}

impl From<(u64, Status)> for Seen {
    fn from((at, status): (u64, Status)) -> Self {
        Seen { at, status }
    }
}

impl From<Seen> for (u64, Status) {
    fn from(seen: Seen) -> Self {
        (seen.at, seen.status)
    }
}

/// One remediation's memory: its last outcome, and while it keeps failing, when it may be
/// tried next.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RemediationMemory {
    pub outcome: String,
    pub at: u64,
    /// Failures in a row (0 after a success).
    #[serde(default)]
    pub failures: u32,
    #[serde(default)]
    pub next_try: Option<u64>,
    #[serde(default)]
    pub last_run: u64,
}

/// How much a run remembers and when a check flaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Statuses kept per check (N), and runs after which an unseen id is dropped.
    pub history: usize,
    /// Status changes within the kept statuses that make a check flapping (K).
    pub flap_changes: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            history: 20,
            flap_changes: 4,
        }
    }
}

/// A remediation waiting out its back-off.
#[derive(Debug, Clone, PartialEq)]
pub struct BackingOff {
    pub failures: u32,
    pub next_try: u64,
    pub now: u64,
}

impl BackingOff {
    /// "failed 2 times in a row (last at ...): next try in 17m (at ...), or --force".
    pub fn message(&self) -> String {
        format!(
            "backing off after {} failure{} in a row: next try in {} (at {}); --force tries it now",
            self.failures,
            if self.failures == 1 { "" } else { "s" },
            crate::text::human_age(Duration::from_secs(self.next_try.saturating_sub(self.now))),
            rfc3339(self.next_try)
        )
    }
}

/// The state of one run: what was on disk when it started, where to write, and the run's time.
#[derive(Debug)]
pub struct Memory {
    path: PathBuf,
    loaded: StateFile,
    settings: Settings,
    now: u64,
    /// The file could not be set aside: the run goes on from nothing and writes nothing.
    read_only: bool,
    /// The file as it was read (inode, size, mtime): unchanged at the end of the run, it need
    /// not be read again to merge into.
    read_as: Option<Identity>,
}

/// Unix seconds now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub use crate::text::rfc3339;

/// The back-off after `failures` failures in a row: 10 min, 20, 40, ... at most 6 h.
pub fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    BACKOFF_FIRST
        .saturating_mul(1u32 << doublings)
        .min(BACKOFF_MAX)
}

impl Memory {
    /// Reads the state at `path` (none yet is an empty state). A file that is not trusted,
    /// not readable, not a state file, or from a newer schema is set aside as
    /// `PATH.bad-<time>` with one warning, and the run starts from nothing.
    pub fn open(path: &Path, settings: Settings) -> Memory {
        let now = now();
        let mut memory = Memory {
            path: path.to_path_buf(),
            loaded: StateFile {
                schema_version: SCHEMA_VERSION,
                ..StateFile::default()
            },
            settings,
            now,
            read_only: false,
            read_as: None,
        };
        match read(path) {
            Ok(Some((file, identity))) => {
                memory.loaded = file;
                memory.read_as = Some(identity);
            }
            Ok(None) => {}
            Err(why) => {
                if let Err(e) = set_aside(path, now) {
                    crate::say!(
                        "hostscript: warning: state file `{}` {why}, and it cannot be set aside ({e}): this run remembers nothing and writes no state",
                        path.display()
                    );
                    memory.read_only = true;
                } else {
                    crate::say!(
                        "hostscript: warning: state file `{}` {why}: set aside as `{}.bad-{now}`; this run starts from nothing",
                        path.display(),
                        path.display()
                    );
                }
            }
        }
        memory
    }

    /// What the report shows for check `id` ending this run with `status`.
    pub fn remembered(&self, id: &str, status: Status) -> Remembered {
        let prev = self.loaded.checks.get(id);
        let same = prev.is_some_and(|p| p.status == status);
        let since = match prev {
            Some(p) if same => p.since,
            _ => self.now,
        };
        let last_pass = if status == Status::Pass {
            Some(self.now)
        } else {
            prev.and_then(|p| p.last_pass)
        };
        let mut history: Vec<Status> = prev
            .map(|p| p.history.iter().map(|s| s.status).collect())
            .unwrap_or_default();
        history.push(status);
        let keep = history.len().saturating_sub(self.settings.history);
        let history = &history[keep..];
        let changes = history.windows(2).filter(|w| w[0] != w[1]).count();
        Remembered {
            since,
            last_pass,
            flapping: changes >= self.settings.flap_changes.max(1),
            changes,
            runs: history.len(),
            changed_now: !same,
            now: self.now,
        }
    }

    /// Whether remediation `id` is waiting out its back-off now.
    pub fn backing_off(&self, id: &str) -> Option<BackingOff> {
        let r = self.loaded.remediations.get(id)?;
        let next_try = r.next_try?;
        (r.failures > 0 && self.now < next_try).then_some(BackingOff {
            failures: r.failures,
            next_try,
            now: self.now,
        })
    }

    /// Writes this run's check statuses and remediation outcomes (`true` for a success)
    /// into the file as it is on disk now, under a lock, atomically and 0600.
    pub fn save(
        &self,
        checks: &[(&str, Status)],
        remediations: &[(&str, &str, bool)],
    ) -> Result<(), String> {
        if self.read_only {
            return Ok(());
        }
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
        }
        let lock_path = lock_path(&self.path);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode_0600()
            .open(&lock_path)
            .map_err(|e| format!("cannot open `{}`: {e}", lock_path.display()))?;
        // Held until the file is replaced: a second run waits here, then merges into what
        // the first wrote.
        let _held = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| format!("cannot lock `{}`: {e}", lock_path.display()))?;
        // Merged into what is on disk now: what this run read, unless another run wrote since.
        let unchanged = self.read_as.is_some() && identity(&self.path) == self.read_as;
        let mut file = if unchanged {
            self.loaded.clone()
        } else {
            match read(&self.path) {
                Ok(Some((file, _))) => file,
                // Set aside or gone since the start: this run's view is what it has.
                _ => StateFile {
                    schema_version: SCHEMA_VERSION,
                    ..StateFile::default()
                },
            }
        };
        file.schema_version = SCHEMA_VERSION;
        file.runs += 1;
        let run = file.runs;
        for (id, status) in checks {
            let entry = file.checks.entry((*id).to_string()).or_insert(CheckMemory {
                status: *status,
                since: self.now,
                last_pass: None,
                last_run: run,
                history: Vec::new(),
            });
            if entry.status != *status {
                entry.status = *status;
                entry.since = self.now;
            }
            if *status == Status::Pass {
                entry.last_pass = Some(self.now);
            }
            entry.last_run = run;
            entry.history.push(Seen {
                at: self.now,
                status: *status,
            });
            let keep = entry.history.len().saturating_sub(self.settings.history);
            entry.history.drain(..keep);
        }
        for (id, outcome, success) in remediations {
            let prev_failures = file.remediations.get(*id).map_or(0, |r| r.failures);
            let failures = if *success { 0 } else { prev_failures + 1 };
            file.remediations.insert(
                (*id).to_string(),
                RemediationMemory {
                    outcome: (*outcome).to_string(),
                    at: self.now,
                    failures,
                    next_try: (failures > 0).then(|| self.now + backoff(failures).as_secs()),
                    last_run: run,
                },
            );
        }
        // What has not run for as many runs as a check keeps statuses is gone.
        let horizon = self.settings.history as u64;
        file.checks
            .retain(|_, c| run.saturating_sub(c.last_run) < horizon);
        file.remediations
            .retain(|_, r| run.saturating_sub(r.last_run) < horizon || r.failures > 0);
        let mut text = serde_json::to_vec(&file).map_err(|e| e.to_string())?;
        text.push(b'\n');
        crate::text::write_atomically(&self.path, &text, 0o600)
            .map_err(|e| format!("cannot write `{}`: {e}", self.path.display()))
    }
}

/// `OpenOptions::mode(0o600)` under a name that reads as what it is for.
trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}

impl Mode0600 for std::fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600)
    }
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    path.with_file_name(name)
}

/// A file's identity as this run saw it: inode, size and modification time (seconds, nanos).
type Identity = (u64, u64, i64, i64);

/// The identity of the file at `path` now.
fn identity(path: &Path) -> Option<Identity> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.ino(), m.size(), m.mtime(), m.mtime_nsec()))
}

/// The state at `path` and its identity: `None` when there is none yet; why it cannot be
/// used otherwise.
fn read(path: &Path) -> Result<Option<(StateFile, Identity)>, String> {
    use std::os::unix::fs::MetadataExt;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot be read ({e})")),
    };
    if !meta.file_type().is_file() {
        return Err("is not a regular file".into());
    }
    // Who may change it decides what runs remember and which remediations back off: only
    // the user hostscript runs as (root for the timer), mode 0600, in trusted directories.
    let uid = nix::unistd::Uid::effective().as_raw();
    if meta.uid() != uid {
        return Err(format!("is owned by uid {}, not {uid}", meta.uid()));
    }
    if meta.mode() & 0o777 != 0o600 {
        return Err(format!("has mode {:04o}, not 0600", meta.mode() & 0o777));
    }
    crate::trust::admit(path).map_err(|why| format!("is not trusted ({why})"))?;
    let bytes = std::fs::read(path).map_err(|e| format!("cannot be read ({e})"))?;
    let identity = (meta.ino(), meta.size(), meta.mtime(), meta.mtime_nsec());
    match serde_json::from_slice::<StateFile>(&bytes) {
        Ok(file) if file.schema_version == SCHEMA_VERSION => Ok(Some((file, identity))),
        // Why not: a newer schema says so rather than whatever its fields break here.
        parsed => {
            #[derive(Deserialize)]
            struct Version {
                schema_version: Option<u64>,
            }
            let version: Version =
                serde_json::from_slice(&bytes).map_err(|e| format!("is not JSON ({e})"))?;
            match version.schema_version {
                None => Err("has no schema_version".into()),
                Some(v) if v > SCHEMA_VERSION => Err(format!(
                    "is from a newer hostscript (schema_version {v}; this one reads {SCHEMA_VERSION})"
                )),
                Some(v) if v < SCHEMA_VERSION => {
                    Err(format!("has schema_version {v}, which no hostscript wrote"))
                }
                Some(_) => Err(format!(
                    "is not a state file ({})",
                    parsed.err().map_or_else(String::new, |e| e.to_string())
                )),
            }
        }
    }
}

fn set_aside(path: &Path, now: u64) -> std::io::Result<()> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".bad-{now}"));
    std::fs::rename(path, path.with_file_name(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_ten_minutes_to_six_hours() {
        let minutes: Vec<u64> = (1..=8).map(|f| backoff(f).as_secs() / 60).collect();
        assert_eq!(minutes, [10, 20, 40, 80, 160, 320, 360, 360]);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }

    fn memory(history: Vec<Status>, since: u64) -> Memory {
        let mut loaded = StateFile {
            schema_version: SCHEMA_VERSION,
            ..StateFile::default()
        };
        loaded.checks.insert(
            "a".into(),
            CheckMemory {
                status: *history.last().unwrap_or(&Status::Pass),
                since,
                last_pass: Some(5),
                last_run: 1,
                history: history
                    .into_iter()
                    .enumerate()
                    .map(|(i, status)| Seen {
                        at: i as u64,
                        status,
                    })
                    .collect(),
            },
        );
        Memory {
            path: PathBuf::from("/nonexistent/state.json"),
            loaded,
            settings: Settings::default(),
            now: 1000,
            read_only: true,
            read_as: None,
        }
    }

    #[test]
    fn since_stays_while_the_status_does_and_moves_when_it_changes() {
        use Status::*;
        let m = memory(vec![Pass, Warn], 100);
        let same = m.remembered("a", Warn);
        assert_eq!(
            (same.since, same.changed_now, same.last_pass),
            (100, false, Some(5))
        );
        let changed = m.remembered("a", Fail);
        assert_eq!((changed.since, changed.changed_now), (1000, true));
        let passed = m.remembered("a", Pass);
        assert_eq!(passed.last_pass, Some(1000));
        let new = m.remembered("b", Pass);
        assert!(new.changed_now);
    }

    #[test]
    fn flapping_counts_changes_within_the_kept_statuses() {
        use Status::*;
        // pass warn pass warn + pass: 4 changes.
        let m = memory(vec![Pass, Warn, Pass, Warn], 3);
        let r = m.remembered("a", Pass);
        assert_eq!((r.changes, r.flapping), (4, true));
        // 3 changes: not yet.
        let m = memory(vec![Pass, Pass, Warn, Pass], 3);
        assert!(!m.remembered("a", Warn).flapping);
        // Changes older than the last 20 statuses do not count.
        let mut old = vec![Pass, Fail, Pass, Fail, Pass];
        old.extend(std::iter::repeat_n(Pass, 20));
        let m = memory(old, 3);
        assert_eq!(m.remembered("a", Pass).changes, 0);
    }
}
