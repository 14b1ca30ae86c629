//! Trusted paths: what hostscript reads as code or configuration (scripts, `lib/` modules,
//! vars files, templates, waiver files) must be changeable only by the user it runs as, or by
//! root, as OpenSSH's StrictModes, sudo and cron demand. A file is refused when it is owned by
//! anyone else or writable by group or other, and so is one below a directory (up to `/`)
//! with the same problem; a root-owned directory with the sticky bit (`/tmp`) is accepted,
//! since there only a file's owner may replace it. `--allow-untrusted-paths` (or
//! `HOSTSCRIPT_ALLOW_UNTRUSTED_PATHS=1`) turns each refusal into a warning on stderr.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once from the command line: refusals become warnings.
static ALLOW_UNTRUSTED: AtomicBool = AtomicBool::new(false);

/// What is known so far, so a directory above 10,000 scripts is looked at once.
static SEEN: Mutex<Option<Seen>> = Mutex::new(None);

#[derive(Default)]
struct Seen {
    /// Each path asked about: `None` when trusted, else the reason and the path at fault
    /// (the file, its link target, or a directory above it).
    paths: HashMap<PathBuf, Option<(String, PathBuf)>>,
    /// Each directory above them, with its problem if it has one.
    dirs: HashMap<PathBuf, Result<(), String>>,
    /// The paths at fault the override has already warned about.
    warned: Vec<PathBuf>,
}

/// `--allow-untrusted-paths`: load what would be refused, with a warning for each.
pub fn allow_untrusted(allow: bool) {
    ALLOW_UNTRUSTED.store(allow, Ordering::Relaxed);
}

/// Whether hostscript may load `path`: `Ok` when it and every directory above it are
/// trusted, or when the override is on (after a warning on stderr, once per path at fault);
/// otherwise the reason, naming the path at fault, its owner and mode, and the fix.
pub fn admit(path: &Path) -> Result<(), String> {
    let absolute = lexical(&std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()));
    let mut guard = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    let seen = guard.get_or_insert_with(Seen::default);
    let verdict = match seen.paths.get(&absolute) {
        Some(v) => v.clone(),
        None => {
            let v = judge(&absolute, &mut seen.dirs)
                .err()
                .map(|(at, problem)| (format!("`{}`: {problem}", absolute.display()), at));
            seen.paths.insert(absolute.clone(), v.clone());
            v
        }
    };
    let Some((reason, at)) = verdict else {
        return Ok(());
    };
    if !ALLOW_UNTRUSTED.load(Ordering::Relaxed) {
        return Err(format!("refusing {reason}"));
    }
    // A writable directory of 100 scripts is one warning.
    if !seen.warned.contains(&at) {
        crate::say!("hostscript: warning: loading untrusted {reason} (--allow-untrusted-paths)");
        seen.warned.push(at);
    }
    Ok(())
}

/// `path` without `.` and `..` components: `cd /home/alice; hostscript run ../../usr/...`
/// names no directory of alice's. The real path (symlinks resolved) is checked as well.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The path itself, every directory above it, and, when symlinks are involved, the same for
/// the real path: a trusted link in a trusted directory to a file others can change is no
/// better than the file. The error is the path at fault and its problem.
fn judge(
    path: &Path,
    dirs: &mut HashMap<PathBuf, Result<(), String>>,
) -> Result<(), (PathBuf, String)> {
    let meta = std::fs::metadata(path).map_err(|e| (path.to_path_buf(), e.to_string()))?;
    entry_trusted(path, &meta).map_err(|problem| (path.to_path_buf(), problem))?;
    let real = std::fs::canonicalize(path).ok().filter(|real| real != path);
    if let Some(real) = &real {
        let meta = std::fs::metadata(real).map_err(|e| (real.clone(), e.to_string()))?;
        entry_trusted(real, &meta).map_err(|problem| {
            (
                real.clone(),
                format!("it links to `{}`, {problem}", real.display()),
            )
        })?;
    }
    for dir in path
        .ancestors()
        .skip(1)
        .chain(real.iter().flat_map(|r| r.ancestors().skip(1)))
    {
        if dir.as_os_str().is_empty() {
            continue;
        }
        let judged = dirs.entry(dir.to_path_buf()).or_insert_with(|| {
            std::fs::metadata(dir)
                .map_err(|e| format!("unreadable: {e}"))
                .and_then(|meta| entry_trusted(dir, &meta))
        });
        if let Err(problem) = judged {
            return Err((
                dir.to_path_buf(),
                format!("directory `{}` is {problem}", dir.display()),
            ));
        }
    }
    Ok(())
}

/// One file or directory: owned by root or the user hostscript runs as (root only, when that
/// is root), and not writable by group or other, unless it is a root-owned sticky directory.
fn entry_trusted(path: &Path, meta: &std::fs::Metadata) -> Result<(), String> {
    let euid = nix::unistd::geteuid().as_raw();
    let mode = meta.mode() & 0o7777;
    let owner = meta.uid();
    if owner != 0 && owner != euid {
        let who = if euid == 0 {
            "root".to_string()
        } else {
            format!("root or {}", user_name(euid))
        };
        return Err(format!(
            "owned by {} (mode {mode:04o}), and only {who} may own what hostscript loads: chown {} {}",
            user_name(owner),
            if euid == 0 {
                "root".to_string()
            } else {
                user_name_only(euid)
            },
            path.display()
        ));
    }
    let sticky_root_dir = meta.is_dir() && owner == 0 && mode & 0o1000 != 0;
    if mode & 0o022 != 0 && !sticky_root_dir {
        let by = match (mode & 0o020 != 0, mode & 0o002 != 0) {
            (true, true) => "group and other",
            (true, false) => "group",
            _ => "other",
        };
        return Err(format!(
            "writable by {by} (owner {}, mode {mode:04o}), so others could change what hostscript runs: chmod go-w {}",
            user_name(owner),
            path.display()
        ));
    }
    Ok(())
}

fn user_name_only(uid: u32) -> String {
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(user)) => user.name,
        _ => uid.to_string(),
    }
}

fn user_name(uid: u32) -> String {
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(user)) => format!("{} (uid {uid})", user.name),
        _ => format!("uid {uid}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn group_or_other_writable_files_and_directories_are_refused_sticky_root_dirs_are_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ok = dir.path().join("ok.rhai");
        std::fs::write(&ok, "").expect("write");
        chmod(&ok, 0o644);
        assert_eq!(admit(&ok), Ok(()));

        let writable = dir.path().join("w.rhai");
        std::fs::write(&writable, "").expect("write");
        chmod(&writable, 0o666);
        let reason = admit(&writable).expect_err("world-writable");
        assert!(reason.contains("writable by group and other"), "{reason}");
        assert!(reason.contains("mode 0666"), "{reason}");
        assert!(
            reason.ends_with(&format!("chmod go-w {}", writable.display())),
            "{reason}"
        );

        let open = dir.path().join("open");
        std::fs::create_dir(&open).expect("mkdir");
        let inside = open.join("a.rhai");
        std::fs::write(&inside, "").expect("write");
        chmod(&open, 0o775);
        let reason = admit(&inside).expect_err("group-writable parent");
        assert!(
            reason.contains(&format!(
                "directory `{}` is writable by group",
                open.display()
            )),
            "{reason}"
        );
        assert!(
            reason.starts_with(&format!("refusing `{}`", inside.display())),
            "{reason}"
        );

        // A sticky directory is fine only when root owns it (like /tmp); this test's
        // directories are the running user's, so it holds as root.
        let sticky = dir.path().join("sticky");
        std::fs::create_dir(&sticky).expect("mkdir");
        chmod(&sticky, 0o1777);
        let file = sticky.join("a.rhai");
        std::fs::write(&file, "").expect("write");
        chmod(&file, 0o644);
        let owner_is_root = nix::unistd::geteuid().is_root();
        assert_eq!(admit(&file).is_ok(), owner_is_root);

        // `..` through a refused directory names a path outside it.
        let roundabout = open.join("..").join("ok.rhai");
        assert_eq!(admit(&roundabout), Ok(()));
    }
}
