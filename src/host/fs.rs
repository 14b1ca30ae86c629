//! Files as checks see them: kind, mode and ownership, bounded reads, and whether a named user
//! may read, write or execute a path, decided from the owner/group/other bits the way the
//! kernel does (the owner class wins even when it grants less, supplementary groups count,
//! root may read and write anything and execute what has any execute bit).

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Group, Uid, User};

#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("`{}` does not exist", path.display())]
    NotFound { path: PathBuf },
    #[error("`{}`: permission denied (needs root?)", path.display())]
    PermissionDenied { path: PathBuf },
    #[error("`{}` is larger than the {max} byte read cap (pass a larger `max_bytes`)", path.display())]
    TooLarge { path: PathBuf, max: usize },
    #[error("`{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no such user `{user}`")]
    NoSuchUser { user: String },
    #[error("looking up user `{user}`: {message}")]
    UserLookup { user: String, message: String },
    #[error("access mode `{mode}` must be made of r, w and x")]
    BadMode { mode: String },
}

fn io_error(path: &Path, source: std::io::Error) -> FsError {
    let path = path.to_path_buf();
    match source.kind() {
        std::io::ErrorKind::NotFound => FsError::NotFound { path },
        std::io::ErrorKind::PermissionDenied => FsError::PermissionDenied { path },
        _ => FsError::Io { path, source },
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Socket,
    CharDevice,
    BlockDevice,
    Fifo,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "dir",
            Kind::Symlink => "symlink",
            Kind::Socket => "socket",
            Kind::CharDevice => "char_device",
            Kind::BlockDevice => "block_device",
            Kind::Fifo => "fifo",
        }
    }

    fn of(ft: std::fs::FileType) -> Kind {
        if ft.is_symlink() {
            Kind::Symlink
        } else if ft.is_dir() {
            Kind::Dir
        } else if ft.is_socket() {
            Kind::Socket
        } else if ft.is_char_device() {
            Kind::CharDevice
        } else if ft.is_block_device() {
            Kind::BlockDevice
        } else if ft.is_fifo() {
            Kind::Fifo
        } else {
            Kind::File
        }
    }
}

#[derive(Debug, Clone)]
pub struct FileStat {
    pub kind: Kind,
    /// Permission bits including setuid/setgid/sticky (`mode & 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub size: u64,
    /// Seconds since the Unix epoch.
    pub mtime: i64,
    /// Device numbers of a character or block device.
    pub rdev: Option<(u64, u64)>,
}

/// The kind of `path` without following a final symlink; `None` if nothing is there. A path
/// that cannot be looked at (a directory on the way denies search) is an error, not "absent".
pub fn kind(path: &Path) -> Result<Option<Kind>, FsError> {
    existing(path, std::fs::symlink_metadata(path))
}

/// The kind of what `path` points to (following symlinks); `None` if nothing is there (a
/// dangling symlink included).
pub fn target_kind(path: &Path) -> Result<Option<Kind>, FsError> {
    existing(path, std::fs::metadata(path))
}

fn existing(
    path: &Path,
    meta: std::io::Result<std::fs::Metadata>,
) -> Result<Option<Kind>, FsError> {
    match meta {
        Ok(m) => Ok(Some(Kind::of(m.file_type()))),
        // ENOTDIR: a file where a directory was expected on the way; nothing can be there.
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                || e.raw_os_error() == Some(nix::libc::ENOTDIR) =>
        {
            Ok(None)
        }
        Err(e) => Err(io_error(path, e)),
    }
}

pub fn stat(path: &Path, follow_symlinks: bool) -> Result<FileStat, FsError> {
    let meta = if follow_symlinks {
        std::fs::metadata(path)
    } else {
        std::fs::symlink_metadata(path)
    }
    .map_err(|e| io_error(path, e))?;
    let kind = Kind::of(meta.file_type());
    let rdev = matches!(kind, Kind::CharDevice | Kind::BlockDevice).then(|| {
        (
            nix::sys::stat::major(meta.rdev()),
            nix::sys::stat::minor(meta.rdev()),
        )
    });
    Ok(FileStat {
        kind,
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        owner: User::from_uid(Uid::from_raw(meta.uid()))
            .ok()
            .flatten()
            .map(|u| u.name),
        group: Group::from_gid(Gid::from_raw(meta.gid()))
            .ok()
            .flatten()
            .map(|g| g.name),
        size: meta.size(),
        mtime: meta.mtime(),
        rdev,
    })
}

/// Reads a file as text (lossy UTF-8), refusing files larger than `max` bytes rather than
/// returning part of them: half a config file parses into wrong answers.
pub fn read(path: &Path, max: usize) -> Result<String, FsError> {
    let file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
    let mut bytes = Vec::new();
    // Files in /proc and /sys report size 0, so read up to the cap instead of trusting stat.
    file.take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(path, e))?;
    if bytes.len() > max {
        return Err(FsError::TooLarge {
            path: path.to_path_buf(),
            max,
        });
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Space and inodes of the filesystem holding a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreeSpace {
    pub bytes_total: u64,
    pub bytes_free: u64,
    /// What an unprivileged user may still use (root may use `bytes_free`).
    pub bytes_available: u64,
    pub inodes_total: u64,
    pub inodes_free: u64,
}

pub fn free_space(path: &Path) -> Result<FreeSpace, FsError> {
    let st = nix::sys::statvfs::statvfs(path)
        .map_err(|e| io_error(path, std::io::Error::from_raw_os_error(e as i32)))?;
    let unit = st.fragment_size() as u64;
    Ok(FreeSpace {
        bytes_total: st.blocks() as u64 * unit,
        bytes_free: st.blocks_free() as u64 * unit,
        bytes_available: st.blocks_available() as u64 * unit,
        inodes_total: st.files() as u64,
        inodes_free: st.files_free() as u64,
    })
}

/// The permissions a user has on a path, and the rule that decided them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub read: bool,
    pub write: bool,
    pub execute: bool,
    /// `root`, `owner`, `group <name>` or `other`.
    pub via: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    pub read: bool,
    pub write: bool,
    pub execute: bool,
}

impl Wanted {
    pub fn parse(mode: &str) -> Result<Wanted, FsError> {
        let bad = || FsError::BadMode {
            mode: mode.to_string(),
        };
        if mode.is_empty() || !mode.chars().all(|c| matches!(c, 'r' | 'w' | 'x')) {
            return Err(bad());
        }
        Ok(Wanted {
            read: mode.contains('r'),
            write: mode.contains('w'),
            execute: mode.contains('x'),
        })
    }
}

impl Access {
    pub fn allows(&self, wanted: Wanted) -> bool {
        (!wanted.read || self.read)
            && (!wanted.write || self.write)
            && (!wanted.execute || self.execute)
    }
}

/// A user's identity as the kernel would check it.
#[derive(Debug, Clone)]
pub struct Identity {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

impl Identity {
    /// Looks up a user by name, or by number when `user` is all digits.
    pub fn lookup(user: &str) -> Result<Identity, FsError> {
        let lookup_err = |e: nix::Error| FsError::UserLookup {
            user: user.to_string(),
            message: e.to_string(),
        };
        let found = if !user.is_empty() && user.chars().all(|c| c.is_ascii_digit()) {
            let uid: u32 = user.parse().map_err(|_| FsError::NoSuchUser {
                user: user.to_string(),
            })?;
            User::from_uid(Uid::from_raw(uid)).map_err(lookup_err)?
        } else {
            User::from_name(user).map_err(lookup_err)?
        };
        let found = found.ok_or_else(|| FsError::NoSuchUser {
            user: user.to_string(),
        })?;
        let name = std::ffi::CString::new(found.name.clone()).map_err(|_| FsError::NoSuchUser {
            user: user.to_string(),
        })?;
        let groups = nix::unistd::getgrouplist(&name, found.gid)
            .map_err(lookup_err)?
            .into_iter()
            .map(Gid::as_raw)
            .collect();
        Ok(Identity {
            name: found.name,
            uid: found.uid.as_raw(),
            gid: found.gid.as_raw(),
            groups,
        })
    }
}

/// Decides access from the mode bits, as `access(2)` would for that user.
pub fn access_for(st: &FileStat, who: &Identity) -> Access {
    if who.uid == 0 {
        let any_exec = st.mode & 0o111 != 0 || st.kind == Kind::Dir;
        return Access {
            read: true,
            write: true,
            execute: any_exec,
            via: "root".into(),
        };
    }
    let (bits, via) = if who.uid == st.uid {
        ((st.mode >> 6) & 0o7, "owner".to_string())
    } else if who.gid == st.gid || who.groups.contains(&st.gid) {
        let name = st.group.clone().unwrap_or_else(|| st.gid.to_string());
        ((st.mode >> 3) & 0o7, format!("group {name}"))
    } else {
        (st.mode & 0o7, "other".to_string())
    };
    Access {
        read: bits & 4 != 0,
        write: bits & 2 != 0,
        execute: bits & 1 != 0,
        via,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(mode: u32, uid: u32, gid: u32) -> FileStat {
        FileStat {
            kind: Kind::CharDevice,
            mode,
            uid,
            gid,
            owner: None,
            group: Some("kvm".into()),
            size: 0,
            mtime: 0,
            rdev: Some((10, 232)),
        }
    }

    fn who(uid: u32, gid: u32, groups: &[u32]) -> Identity {
        Identity {
            name: "u".into(),
            uid,
            gid,
            groups: groups.to_vec(),
        }
    }

    #[test]
    fn owner_class_wins_even_when_it_grants_less() {
        let a = access_for(&file(0o066, 1000, 50), &who(1000, 50, &[50]));
        assert_eq!((a.read, a.write, a.via.as_str()), (false, false, "owner"));
    }

    #[test]
    fn supplementary_groups_grant_group_bits() {
        let a = access_for(&file(0o660, 0, 108), &who(1000, 1000, &[1000, 108]));
        assert_eq!((a.read, a.write, a.execute), (true, true, false));
        assert_eq!(a.via, "group kvm");
    }

    #[test]
    fn others_get_other_bits() {
        let a = access_for(&file(0o604, 0, 108), &who(1000, 1000, &[1000]));
        assert_eq!((a.read, a.write, a.via.as_str()), (true, false, "other"));
    }

    #[test]
    fn root_reads_and_writes_but_executes_only_with_an_x_bit() {
        let a = access_for(&file(0o000, 5, 5), &who(0, 0, &[0]));
        assert_eq!((a.read, a.write, a.execute), (true, true, false));
        let a = access_for(&file(0o100, 5, 5), &who(0, 0, &[0]));
        assert!(a.execute);
    }

    #[test]
    fn modes_parse_and_reject_junk() {
        assert_eq!(
            Wanted::parse("rw").ok(),
            Some(Wanted {
                read: true,
                write: true,
                execute: false
            })
        );
        assert!(Wanted::parse("rq").is_err());
        assert!(Wanted::parse("").is_err());
    }

    #[test]
    fn read_refuses_files_over_the_cap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f");
        std::fs::write(&p, "0123456789").expect("write");
        assert_eq!(read(&p, 10).expect("fits"), "0123456789");
        assert!(matches!(read(&p, 9), Err(FsError::TooLarge { .. })));
        assert!(matches!(
            read(&dir.path().join("missing"), 9),
            Err(FsError::NotFound { .. })
        ));
    }

    #[test]
    fn stat_reads_a_real_char_device() {
        let st = stat(Path::new("/dev/null"), true).expect("/dev/null");
        assert_eq!(st.kind, Kind::CharDevice);
        assert_eq!(st.rdev, Some((1, 3)));
        assert_eq!(st.owner.as_deref(), Some("root"));
    }

    #[test]
    fn free_space_is_consistent() {
        let f = free_space(Path::new("/")).expect("statvfs /");
        assert!(
            f.bytes_total > 0 && f.bytes_free <= f.bytes_total && f.bytes_available <= f.bytes_free
        );
        assert!(matches!(
            free_space(Path::new("/nonexistent/hs")),
            Err(FsError::NotFound { .. })
        ));
    }

    #[test]
    fn identity_of_root_includes_group_zero() {
        let id = Identity::lookup("root").expect("root exists");
        assert_eq!((id.uid, id.gid), (0, 0));
        assert!(id.groups.contains(&0));
        assert!(matches!(
            Identity::lookup("no-such-user-hs"),
            Err(FsError::NoSuchUser { .. })
        ));
    }
}
