//! File changes: atomic writes (temp file in the same directory, fsync, rename, fsync of the
//! directory) that keep a timestamped backup of the file they replace, directories, modes and
//! sparse files. A process killed at any point leaves the old file or the new one, never a
//! partial one; a leftover temp file is named `.NAME.hostscript-tmp-PID`.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Group, Uid, User};

use super::{Settings, Step, StepState};

/// Mode and ownership a written file should have; `None` keeps what is there (or the default
/// for a new file: 0644, the writing user).
#[derive(Debug, Clone, Default)]
pub struct Ownership {
    pub mode: Option<u32>,
    pub owner: Option<String>,
    pub group: Option<String>,
}

/// Parses `"0644"`, `"644"` or `"u=rw"`-free octal text into mode bits.
pub fn parse_mode(text: &str) -> Result<u32, String> {
    // One optional `0o`, then octal digits only (from_str_radix would take a sign).
    let digits = text.strip_prefix("0o").unwrap_or(text);
    Some(digits)
        .filter(|d| !d.is_empty() && d.bytes().all(|b| (b'0'..=b'7').contains(&b)))
        .and_then(|d| u32::from_str_radix(d, 8).ok())
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("mode `{text}` is not octal permission bits such as \"0644\""))
}

fn uid_of(name: &str) -> Result<u32, String> {
    match User::from_name(name) {
        Ok(Some(user)) => Ok(user.uid.as_raw()),
        Ok(None) => name.parse().map_err(|_| format!("no such user `{name}`")),
        Err(e) => Err(format!("looking up user `{name}`: {e}")),
    }
}

fn gid_of(name: &str) -> Result<u32, String> {
    match Group::from_name(name) {
        Ok(Some(group)) => Ok(group.gid.as_raw()),
        Ok(None) => name.parse().map_err(|_| format!("no such group `{name}`")),
        Err(e) => Err(format!("looking up group `{name}`: {e}")),
    }
}

/// Writes `content` to host path `path` when it differs (content, mode or ownership).
pub fn write(settings: &Settings, path: &str, content: &[u8], want: &Ownership) -> Step {
    let action = format!("write {path}");
    match write_inner(settings, path, content, want) {
        Ok(step) => step,
        Err(message) => Step::new(action, StepState::Failed, message),
    }
}

fn write_inner(
    settings: &Settings,
    path: &str,
    content: &[u8],
    want: &Ownership,
) -> Result<Step, String> {
    let action = format!("write {path}");
    let target = settings.path(path);
    let existing = match std::fs::symlink_metadata(&target) {
        Ok(meta) if meta.is_dir() => return Err(format!("{path} is a directory")),
        Ok(meta) => Some(meta),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("{path}: {e}")),
    };
    let old = match &existing {
        Some(_) => Some(std::fs::read(&target).map_err(|e| format!("reading {path}: {e}"))?),
        None => None,
    };
    // What the file held and will hold may carry secrets (a token in a unit, a password in a
    // config): known before the diff is shown anywhere.
    if let Some(old) = &old {
        crate::secrets::discover(&String::from_utf8_lossy(old));
    }
    crate::secrets::discover(&String::from_utf8_lossy(content));
    let mode = match (&existing, want.mode) {
        // A file it replaces keeps its mode, and never gains group or other permissions it did
        // not have: an operator who made a unit 0600 because it holds a token keeps that.
        (Some(meta), Some(wanted)) => {
            let had = meta.mode() & 0o7777;
            (wanted & !0o077) | (wanted & had & 0o077)
        }
        (Some(meta), None) => meta.mode() & 0o7777,
        // A new file that holds a secret is readable by its owner only.
        (None, wanted) if crate::secrets::contains_secret(&String::from_utf8_lossy(content)) => {
            wanted.unwrap_or(0o644) & !0o077
        }
        (None, wanted) => wanted.unwrap_or(0o644),
    };
    let uid = match &want.owner {
        Some(name) => Some(uid_of(name)?),
        None => existing.as_ref().map(|m| m.uid()),
    };
    let gid = match &want.group {
        Some(name) => Some(gid_of(name)?),
        None => existing.as_ref().map(|m| m.gid()),
    };

    let mut notes = Vec::new();
    let content_changes = old.as_deref() != Some(content);
    if let Some(meta) = &existing {
        if meta.mode() & 0o7777 != mode {
            notes.push(format!("mode {:04o} -> {mode:04o}", meta.mode() & 0o7777));
        }
        if uid.is_some_and(|u| u != meta.uid()) || gid.is_some_and(|g| g != meta.gid()) {
            notes.push(format!(
                "owner {}:{} -> {}:{}",
                meta.uid(),
                meta.gid(),
                uid.unwrap_or(meta.uid()),
                gid.unwrap_or(meta.gid())
            ));
        }
    }
    if !content_changes && notes.is_empty() {
        return Ok(Step::new(action, StepState::Ok, "already up to date"));
    }
    let diff = diff(path, old.as_deref(), content);
    let mut message = match (&old, content_changes) {
        (None, _) => format!("create ({} bytes, mode {mode:04o})", content.len()),
        (Some(_), true) => format!("update ({})", diff_summary(old.as_deref(), content)),
        (Some(_), false) => "permissions".to_string(),
    };
    if !notes.is_empty() {
        message = format!("{message}; {}", notes.join(", "));
    }
    let mut step = Step::change(settings, action, message);
    if content_changes {
        step = step.with_detail(diff);
    }
    if settings.dry_run {
        return Ok(step);
    }

    let backup = match existing {
        Some(_) if content_changes => Some(backup(&target)?),
        _ => None,
    };
    replace_atomically(&target, content, mode, uid, gid)?;
    if let Some(backup) = backup {
        step.message = format!("{}; backup {}", step.message, backup.display());
    }
    Ok(step)
}

/// Hard-links the current file to `NAME.hostscript-bak-TIMESTAMP`: the old inode survives the
/// rename that replaces the name, so the backup costs no copy and keeps mode and owner.
fn backup(target: &Path) -> Result<PathBuf, String> {
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for attempt in 0..100 {
        let suffix = if attempt == 0 {
            String::new()
        } else {
            format!(".{attempt}")
        };
        let backup = target.with_file_name(format!("{name}.hostscript-bak-{stamp}{suffix}"));
        match std::fs::hard_link(target, &backup) {
            Ok(()) => return Ok(backup),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("backing up {}: {e}", target.display())),
        }
    }
    Err(format!(
        "backing up {}: too many backups this second",
        target.display()
    ))
}

/// Temp file in the same directory, written, owned, fsynced, renamed over the target; then
/// the directory is fsynced so the rename itself survives a crash.
fn replace_atomically(
    target: &Path,
    content: &[u8],
    mode: u32,
    uid: Option<u32>,
    gid: Option<u32>,
) -> Result<(), String> {
    let dir = target.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    remove_stale_temps(dir, &name);
    let temp = dir.join(format!(".{name}.hostscript-tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    let result = (|| -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)?;
        file.write_all(content)?;
        if uid.is_some() || gid.is_some() {
            nix::unistd::fchown(&file, uid.map(Uid::from_raw), gid.map(Gid::from_raw))
                .map_err(std::io::Error::from)?;
        }
        // After chown, which clears set-id bits, and regardless of the umask.
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.sync_all()?;
        std::fs::rename(&temp, target)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        format!("writing {}: {e}", target.display())
    })
}

/// Removes temp files that writers of `name` left when they were killed (their pid is gone).
fn remove_stale_temps(dir: &Path, name: &str) {
    let prefix = format!(".{name}.hostscript-tmp-");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let gone = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
            == Err(nix::errno::Errno::ESRCH);
        if gone {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Lines of a diff shown before it is cut: a report is for people, and a rewritten multi-MB
/// file would drown it.
const DIFF_LINES: usize = 200;
const DIFF_LINE_CHARS: usize = 300;

/// A unified diff of a file's old and new text (`/dev/null` for a new file), cut to
/// `DIFF_LINES` lines of at most `DIFF_LINE_CHARS` characters.
pub fn diff(path: &str, old: Option<&[u8]>, new: &[u8]) -> String {
    let old_text = String::from_utf8_lossy(old.unwrap_or_default());
    let new_text = String::from_utf8_lossy(new);
    let before = if old.is_some() {
        format!("a{path}")
    } else {
        "/dev/null".to_string()
    };
    let full = similar::TextDiff::from_lines(old_text.as_ref(), new_text.as_ref())
        .unified_diff()
        .context_radius(3)
        .header(&before, &format!("b{path}"))
        .to_string();
    let total = full.lines().count();
    let mut out = String::new();
    for line in full.lines().take(DIFF_LINES) {
        match line.char_indices().nth(DIFF_LINE_CHARS) {
            Some((cut, _)) => {
                out.push_str(&line[..cut]);
                out.push_str(" [...]");
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    if total > DIFF_LINES {
        out.push_str(&format!("[... {} more diff lines]\n", total - DIFF_LINES));
    }
    out
}

/// "+3 -1 lines".
fn diff_summary(old: Option<&[u8]>, new: &[u8]) -> String {
    let old_text = String::from_utf8_lossy(old.unwrap_or_default());
    let new_text = String::from_utf8_lossy(new);
    let diff = similar::TextDiff::from_lines(old_text.as_ref(), new_text.as_ref());
    let (mut added, mut removed) = (0, 0);
    for change in diff.iter_all_changes() {
        match change.tag() {
            similar::ChangeTag::Insert => added += 1,
            similar::ChangeTag::Delete => removed += 1,
            similar::ChangeTag::Equal => {}
        }
    }
    format!("+{added} -{removed} lines")
}

/// A directory with `mode` (default 0755 for a new one; an existing one keeps its mode unless
/// one is asked for).
pub fn ensure_dir(settings: &Settings, path: &str, mode: Option<u32>) -> Step {
    let action = format!("directory {path}");
    let target = settings.path(path);
    match std::fs::metadata(&target) {
        Ok(meta) if meta.is_dir() => {
            let current = meta.mode() & 0o7777;
            match mode {
                Some(m) if m != current => {
                    let step =
                        Step::change(settings, action, format!("mode {current:04o} -> {m:04o}"));
                    if settings.dry_run {
                        return step;
                    }
                    match std::fs::set_permissions(&target, std::fs::Permissions::from_mode(m)) {
                        Ok(()) => step,
                        Err(e) => Step::new(step.action, StepState::Failed, format!("chmod: {e}")),
                    }
                }
                _ => Step::new(action, StepState::Ok, "exists"),
            }
        }
        Ok(_) => Step::new(
            action,
            StepState::Failed,
            format!("{path} exists and is not a directory"),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let m = mode.unwrap_or(0o755);
            let step = Step::change(settings, action, format!("create (mode {m:04o})"))
                .with_detail(format!("mkdir -p -m {m:04o} {path}"));
            if settings.dry_run {
                return step;
            }
            let made = std::fs::create_dir_all(&target).and_then(|()| {
                std::fs::set_permissions(&target, std::fs::Permissions::from_mode(m))
            });
            match made {
                Ok(()) => step,
                Err(e) => Step::new(step.action, StepState::Failed, format!("mkdir: {e}")),
            }
        }
        Err(e) => Step::new(action, StepState::Failed, format!("{path}: {e}")),
    }
}

/// A sparse file of at least `size` bytes: created, or grown (never shrunk: that would cut
/// off data).
pub fn sparse_file(settings: &Settings, path: &str, size: u64) -> Step {
    let action = format!("sparse file {path}");
    let target = settings.path(path);
    let current = match std::fs::metadata(&target) {
        Ok(meta) if meta.is_file() => Some(meta.len()),
        Ok(_) => {
            return Step::new(
                action,
                StepState::Failed,
                format!("{path} exists and is not a regular file"),
            );
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Step::new(action, StepState::Failed, format!("{path}: {e}")),
    };
    let step = match current {
        Some(len) if len >= size => {
            return Step::new(
                action,
                StepState::Ok,
                format!("exists ({})", human_bytes(len)),
            );
        }
        Some(len) => Step::change(
            settings,
            action,
            format!("grow from {} to {}", human_bytes(len), human_bytes(size)),
        ),
        None => Step::change(
            settings,
            action,
            format!("create, {} (sparse)", human_bytes(size)),
        ),
    }
    .with_detail(format!("truncate -s {size} {path}"));
    if settings.dry_run {
        return step;
    }
    let made = target
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| {
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .open(&target)
        })
        .and_then(|f| f.set_len(size).and_then(|()| f.sync_all()));
    match made {
        Ok(()) => step,
        Err(e) => Step::new(step.action, StepState::Failed, format!("{path}: {e}")),
    }
}

/// Sets the permission bits of an existing path.
pub fn chmod(settings: &Settings, path: &str, mode: u32) -> Step {
    let action = format!("chmod {path}");
    let target = settings.path(path);
    match std::fs::metadata(&target) {
        Ok(meta) if meta.mode() & 0o7777 == mode => {
            Step::new(action, StepState::Ok, format!("mode is {mode:04o}"))
        }
        Ok(meta) => {
            let step = Step::change(
                settings,
                action,
                format!("mode {:04o} -> {mode:04o}", meta.mode() & 0o7777),
            )
            .with_detail(format!("chmod {mode:04o} {path}"));
            if settings.dry_run {
                return step;
            }
            match std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode)) {
                Ok(()) => step,
                Err(e) => Step::new(step.action, StepState::Failed, format!("chmod: {e}")),
            }
        }
        Err(e) => Step::new(action, StepState::Failed, format!("{path}: {e}")),
    }
}

/// Removes a file hostscript no longer wants (an old drop-in), keeping it as a backup: the
/// file is renamed to `NAME.hostscript-bak-<UTC>`, so nothing is lost.
pub fn remove_file(settings: &Settings, path: &str) -> Step {
    let action = format!("remove {path}");
    let target = settings.path(path);
    match std::fs::symlink_metadata(&target) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Step::new(action, StepState::Ok, "absent")
        }
        Err(e) => Step::new(action, StepState::Failed, format!("{path}: {e}")),
        Ok(meta) if meta.is_dir() => Step::new(
            action,
            StepState::Failed,
            format!("{path} is a directory; only files are removed"),
        ),
        Ok(_) => {
            let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                .to_string()
                .replace(':', "");
            let backup = format!("{}.hostscript-bak-{stamp}", target.display());
            let step = Step::change(settings, action, format!("moved aside as {backup}"))
                .with_detail(format!("mv {path} {path}.hostscript-bak-{stamp}"));
            if settings.dry_run {
                return step;
            }
            match std::fs::rename(&target, &backup) {
                Ok(()) => {
                    if let Some(dir) = target.parent()
                        && let Ok(d) = std::fs::File::open(dir)
                    {
                        let _ = d.sync_all();
                    }
                    step
                }
                Err(e) => Step::new(step.action, StepState::Failed, format!("rename: {e}")),
            }
        }
    }
}

/// The group of a file (a device node's, for the KVM device): chown to `group`, by name from
/// the root's /etc/group.
pub fn chgrp(settings: &Settings, path: &str, group: &str) -> Step {
    let action = format!("group of {path}");
    let target = settings.path(path);
    let groups = std::fs::read_to_string(settings.path("/etc/group")).unwrap_or_default();
    let Some(gid) = groups.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next() == Some(group)).then(|| f.nth(1).and_then(|g| g.parse::<u32>().ok()))?
    }) else {
        if settings.group_planned(group) {
            return Step::change(
                settings,
                action,
                format!("-> {group} (created by an earlier step)"),
            )
            .with_detail(format!("chgrp {group} {path}"));
        }
        return Step::new(
            action,
            StepState::Failed,
            format!("no group `{group}` in /etc/group"),
        );
    };
    match std::fs::metadata(&target) {
        Ok(meta) if meta.gid() == gid => {
            Step::new(action, StepState::Ok, format!("group is {group}"))
        }
        Ok(meta) => {
            let step = Step::change(
                settings,
                action,
                format!("gid {} -> {group} ({gid})", meta.gid()),
            )
            .with_detail(format!("chgrp {group} {path}"));
            if settings.dry_run {
                return step;
            }
            match nix::unistd::chown(&target, None, Some(nix::unistd::Gid::from_raw(gid))) {
                Ok(()) => step,
                Err(e) => Step::new(step.action, StepState::Failed, format!("chgrp: {e}")),
            }
        }
        Err(e) => Step::new(action, StepState::Failed, format!("{path}: {e}")),
    }
}

/// Parses `"100G"`, `"10GiB"`, `"512M"`, `"4096"` (bytes; K/M/G/T are powers of 1024, as
/// truncate(1) reads them).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("size `{text}` is not a number with an optional K/M/G/T unit"))?;
    // Exactly one unit: K, KB, KiB (and M, G, T likewise); `11BB` or `1KiBiB` are refused.
    let shift = match unit.trim() {
        "" | "B" => 0,
        "K" | "k" | "KB" | "kB" | "KiB" => 10,
        "M" | "MB" | "MiB" => 20,
        "G" | "GB" | "GiB" => 30,
        "T" | "TB" | "TiB" => 40,
        _ => {
            return Err(format!(
                "size `{text}`: unknown unit `{unit}` (K, M, G or T)"
            ));
        }
    };
    if number == 0 {
        return Err(format!(
            "size `{text}` is zero: a file, pool or device needs a size"
        ));
    }
    number
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("size `{text}` is too large"))
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [(&str, u32); 4] = [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)];
    for (unit, shift) in UNITS {
        if n >= 1 << shift && n.is_multiple_of(1 << shift) {
            return format!("{} {unit}", n >> shift);
        }
    }
    format!("{n} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: &Path, dry_run: bool) -> Settings {
        Settings::new(dry_run, dir.to_path_buf())
    }

    #[test]
    fn writes_are_idempotent_backed_up_and_diffed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = settings(dir.path(), false);
        let want = Ownership::default();
        let first = write(&s, "/etc/a.conf", b"one\n", &want);
        assert_eq!(first.state, StepState::Changed, "{first:?}");
        assert_eq!(
            write(&s, "/etc/a.conf", b"one\n", &want).state,
            StepState::Ok
        );
        let second = write(&s, "/etc/a.conf", b"two\n", &want);
        assert_eq!(second.state, StepState::Changed);
        assert!(
            second
                .detail
                .as_deref()
                .unwrap_or_default()
                .contains("-one\n+two\n")
        );
        let backups: Vec<_> = std::fs::read_dir(dir.path().join("etc"))
            .expect("dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".hostscript-bak-"))
            .collect();
        assert_eq!(backups.len(), 1);
        assert_eq!(std::fs::read(backups[0].path()).expect("backup"), b"one\n");
        assert_eq!(
            std::fs::read(dir.path().join("etc/a.conf")).expect("file"),
            b"two\n"
        );
    }

    #[test]
    fn replaced_files_keep_their_mode_and_new_secret_files_are_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = settings(dir.path(), false);
        let mode_of = |p: &str| {
            std::fs::metadata(dir.path().join(p))
                .expect("stat")
                .permissions()
                .mode()
                & 0o7777
        };
        let public = Ownership {
            mode: Some(0o644),
            ..Ownership::default()
        };
        // An operator made it 0600; a remediation asking for 0644 does not loosen it, and
        // the backup keeps 0600 too.
        std::fs::create_dir_all(dir.path().join("etc")).expect("mkdir");
        std::fs::write(dir.path().join("etc/unit"), "old\n").expect("write");
        std::fs::set_permissions(
            dir.path().join("etc/unit"),
            std::fs::Permissions::from_mode(0o600),
        )
        .expect("chmod");
        assert_eq!(
            write(&s, "/etc/unit", b"new\n", &public).state,
            StepState::Changed
        );
        assert_eq!(mode_of("etc/unit"), 0o600);
        let backup = std::fs::read_dir(dir.path().join("etc"))
            .expect("dir")
            .filter_map(|e| e.ok())
            .find(|e| e.file_name().to_string_lossy().contains(".hostscript-bak-"))
            .expect("a backup");
        assert_eq!(
            backup.metadata().expect("stat").permissions().mode() & 0o7777,
            0o600
        );
        // The owner's bits still follow the remediation (a script gains its x bit).
        std::fs::write(dir.path().join("etc/script"), "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(
            dir.path().join("etc/script"),
            std::fs::Permissions::from_mode(0o644),
        )
        .expect("chmod");
        let exec = Ownership {
            mode: Some(0o755),
            ..Ownership::default()
        };
        write(&s, "/etc/script", b"#!/bin/sh\n", &exec);
        assert_eq!(mode_of("etc/script"), 0o755 & !0o011);
        // A new file holding a secret is 0600 whatever was asked; one without stays 0644.
        crate::secrets::add("file-rs-s3cret-value");
        write(
            &s,
            "/etc/new-secret",
            b"token file-rs-s3cret-value\n",
            &public,
        );
        assert_eq!(mode_of("etc/new-secret"), 0o600);
        write(&s, "/etc/new-plain", b"nothing here\n", &public);
        assert_eq!(mode_of("etc/new-plain"), 0o644);
    }

    #[test]
    fn a_dry_run_reports_and_touches_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = settings(dir.path(), true);
        let step = write(&s, "/etc/a.conf", b"x\n", &Ownership::default());
        assert_eq!(step.state, StepState::WouldChange);
        assert_eq!(
            ensure_dir(&s, "/var/lib/x", None).state,
            StepState::WouldChange
        );
        assert_eq!(
            sparse_file(&s, "/var/lib/x/data", 1 << 30).state,
            StepState::WouldChange
        );
        assert!(std::fs::read_dir(dir.path()).expect("dir").next().is_none());
    }

    #[test]
    fn sparse_files_are_created_grown_and_never_shrunk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = settings(dir.path(), false);
        assert_eq!(
            sparse_file(&s, "/d/data", 1 << 20).state,
            StepState::Changed
        );
        assert_eq!(sparse_file(&s, "/d/data", 1 << 10).state, StepState::Ok);
        assert_eq!(
            sparse_file(&s, "/d/data", 2 << 20).state,
            StepState::Changed
        );
        let meta = std::fs::metadata(dir.path().join("d/data")).expect("meta");
        assert_eq!(meta.len(), 2 << 20);
        assert!(meta.blocks() * 512 < meta.len(), "sparse");
    }

    #[test]
    fn sizes_and_modes_parse() {
        assert_eq!(parse_size("100G"), Ok(100 << 30));
        assert_eq!(parse_size("10GiB"), Ok(10 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("10X").is_err());
        assert_eq!(parse_mode("0644"), Ok(0o644));
        assert!(parse_mode("0999").is_err());
        for bad in ["0o0o755", "+755", "", "0o", "7 55"] {
            assert!(parse_mode(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_mode("0o755"), Ok(0o755));
        // Zero is no size: `fix::sparse_file(path, "0")` made an empty file.
        for bad in ["11BB", "1KiBiB", "1GG", "-1G", "1 K B", "0", "0G", "00"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_size("10GB"), Ok(10 << 30));
        assert_eq!(parse_size("1KiB"), Ok(1024));
        assert_eq!(human_bytes(100 << 30), "100 GiB");
    }
}
