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
    #[error("'{path}': cannot read its POSIX ACL: {message}")]
    BadAcl { path: PathBuf, message: String },
}

fn io_error(path: &Path, source: std::io::Error) -> FsError {
    let path = path.to_path_buf();
    match source.kind() {
        std::io::ErrorKind::NotFound => FsError::NotFound { path },
        std::io::ErrorKind::PermissionDenied => FsError::PermissionDenied { path },
        _ => FsError::Io { path, source },
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    #[default]
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

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileStat {
    pub kind: Kind,
    /// Permission bits including setuid/setgid/sticky (`mode & 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub size: u64,
    /// Bytes the file really occupies on disk (`st_blocks` × 512); less than `size` for a
    /// sparse file.
    pub allocated: u64,
    /// Seconds since the Unix epoch.
    pub mtime: i64,
    /// The same in microseconds, to order a change against an event in the same second (a
    /// unit's process start).
    pub mtime_us: i64,
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
        allocated: meta.blocks().saturating_mul(512),
        mtime: meta.mtime(),
        mtime_us: meta
            .mtime()
            .saturating_mul(1_000_000)
            .saturating_add(meta.mtime_nsec() / 1000),
        rdev,
    })
}

/// Bytes `fs::read` returns unless a script asks for more.
pub const DEFAULT_READ_CAP: usize = 1024 * 1024;

/// Reads a file as text (lossy UTF-8), refusing files larger than `max` bytes rather than
/// returning part of them: half a config file parses into wrong answers.
pub fn read(path: &Path, max: usize) -> Result<String, FsError> {
    use std::os::unix::fs::OpenOptionsExt;
    // Non-blocking open: opening a FIFO without a writer would otherwise block past any budget.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| io_error(path, e))?;
    let kind = file.metadata().map_err(|e| io_error(path, e))?.file_type();
    if kind.is_fifo() {
        return Err(io_error(
            path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "is a FIFO (named pipe): not read, as only its writer decides when it ends",
            ),
        ));
    }
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
    let text = String::from_utf8_lossy(&bytes).into_owned();
    // Tokens after secret flags or keys (a unit's ExecStart, an env file, a config) and TLS
    // private keys are secret from here on, wherever a script puts them.
    crate::secrets::discover(&text);
    crate::secrets::add_private_keys(&text);
    Ok(text)
}

/// Space and inodes of the filesystem holding a path.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
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
    /// `root`, `owner`, `group <name>`, `other`, or with an ACL `acl user <name>`,
    /// `acl group <name>`, `acl groups <a>, <b>`.
    pub via: String,
    /// The permission sets (rwx bits) that can each grant a request on their own. The kernel
    /// grants a request when one set covers all of it: with ACL group entries, `r` from one
    /// group and `w` from another do not add up to `rw`.
    pub grants: Vec<u32>,
}

impl Access {
    fn from_bits(bits: u32, via: String) -> Access {
        Access::from_sets(vec![bits], via)
    }

    fn from_sets(grants: Vec<u32>, via: String) -> Access {
        let any = grants.iter().fold(0, |all, g| all | g);
        Access {
            read: any & 4 != 0,
            write: any & 2 != 0,
            execute: any & 1 != 0,
            via,
            grants,
        }
    }
}

/// A POSIX access ACL as Linux stores it in the `system.posix_acl_access` xattr
/// (`include/uapi/linux/posix_acl_xattr.h`): a version-2 header, then (tag, perm, id) entries.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acl {
    pub entries: Vec<AclEntry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclEntry {
    pub tag: AclTag,
    pub perm: u32,
    /// The uid or gid of `User`/`Group` entries.
    pub id: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AclTag {
    UserObj,
    User,
    GroupObj,
    Group,
    Mask,
    Other,
}

impl Acl {
    /// Parses the xattr value; anything but a well-formed version-2 ACL is an error, never a
    /// guess (a misread ACL would answer "allowed" for the wrong user).
    pub fn parse(bytes: &[u8]) -> Result<Acl, String> {
        let (header, body) = bytes
            .split_first_chunk::<4>()
            .ok_or("ACL xattr shorter than its header")?;
        let version = u32::from_le_bytes(*header);
        if version != 2 {
            return Err(format!("ACL xattr version {version}, expected 2"));
        }
        if body.len() % 8 != 0 {
            return Err(format!(
                "ACL xattr of {} bytes is not whole entries",
                bytes.len()
            ));
        }
        let mut entries = Vec::with_capacity(body.len() / 8);
        for chunk in body.chunks_exact(8) {
            let tag = u16::from_le_bytes([chunk[0], chunk[1]]);
            let perm = u16::from_le_bytes([chunk[2], chunk[3]]);
            let id = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
            let tag = match tag {
                0x01 => AclTag::UserObj,
                0x02 => AclTag::User,
                0x04 => AclTag::GroupObj,
                0x08 => AclTag::Group,
                0x10 => AclTag::Mask,
                0x20 => AclTag::Other,
                other => return Err(format!("unknown ACL entry tag {other:#x}")),
            };
            if perm > 7 {
                return Err(format!("ACL entry permission {perm:#o} out of range"));
            }
            entries.push(AclEntry {
                tag,
                perm: u32::from(perm),
                id,
            });
        }
        Ok(Acl { entries })
    }

    fn perm(&self, tag: AclTag) -> Option<u32> {
        self.entries.iter().find(|e| e.tag == tag).map(|e| e.perm)
    }
}

/// The access ACL of a path, or `None` when it has none (or its filesystem has no xattrs, in
/// which case the mode bits are all there is).
#[allow(unsafe_code)] // audited FFI: see the SAFETY comment
pub fn read_acl(path: &Path) -> Result<Option<Acl>, FsError> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        io_error(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "path contains NUL"),
        )
    })?;
    let name = c"system.posix_acl_access";
    let mut buf = vec![0u8; 4 + 8 * 64];
    loop {
        // SAFETY: both strings are NUL-terminated and `buf` is valid for `buf.len()` bytes.
        let n = unsafe {
            nix::libc::getxattr(
                c_path.as_ptr(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n >= 0 {
            let bytes = &buf[..n as usize];
            return Acl::parse(bytes)
                .map(Some)
                .map_err(|message| FsError::BadAcl {
                    path: path.to_path_buf(),
                    message,
                });
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(nix::libc::ENODATA) | Some(nix::libc::EOPNOTSUPP) => return Ok(None),
            Some(nix::libc::ERANGE) if buf.len() < 1 << 20 => buf.resize(buf.len() * 4, 0),
            _ => return Err(io_error(path, err)),
        }
    }
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
    /// Whether one permission set covers the whole request, as the kernel decides.
    pub fn allows(&self, wanted: Wanted) -> bool {
        let bits =
            u32::from(wanted.read) * 4 + u32::from(wanted.write) * 2 + u32::from(wanted.execute);
        self.grants.iter().any(|g| g & bits == bits)
    }
}

/// A user's identity as the kernel would check it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
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
    access_with_acl(st, None, who, &group_name)
}

/// A group's name from the system's group database, if it has one.
pub fn group_name(gid: u32) -> Option<String> {
    Group::from_gid(Gid::from_raw(gid))
        .ok()
        .flatten()
        .map(|g| g.name)
}

/// Decides access as the kernel does (`fs/namei.c` `acl_permission_check`,
/// `fs/posix_acl.c` `posix_acl_permission`): root first; then the owner class; then, with an
/// ACL, named-user entries and the group class, masked by the ACL mask; then other. The
/// kernel consults the ACL only when the file's group mode bits (which hold the ACL mask) are
/// not all clear: `IS_POSIXACL(inode) && (mode & S_IRWXG)`. With a `---` mask it falls back to
/// the mode bits, so a named user's entry neither grants nor denies anything then.
/// `group_names` names a group by gid (for `via`): the system's database live, a recording's
/// answers in a replay.
pub fn access_with_acl(
    st: &FileStat,
    acl: Option<&Acl>,
    who: &Identity,
    group_names: &dyn Fn(u32) -> Option<String>,
) -> Access {
    if who.uid == 0 {
        let any_exec = st.mode & 0o111 != 0 || st.kind == Kind::Dir;
        return Access::from_bits(if any_exec { 7 } else { 6 }, "root".into());
    }
    if who.uid == st.uid {
        return Access::from_bits((st.mode >> 6) & 0o7, "owner".into());
    }
    let in_group = |gid: u32| who.gid == gid || who.groups.contains(&gid);
    let group_name = |gid: u32| group_names(gid).unwrap_or_else(|| gid.to_string());
    if let Some(acl) = acl
        && st.mode & 0o070 != 0
    {
        // The mask limits named users and the whole group class; without one (a minimal
        // ACL) nothing is masked.
        let mask = acl.perm(AclTag::Mask).unwrap_or(7);
        if let Some(e) = acl
            .entries
            .iter()
            .find(|e| e.tag == AclTag::User && e.id == who.uid)
        {
            // The entry is the user asked about, so it has their name.
            return Access::from_bits(e.perm & mask, format!("acl user {}", who.name));
        }
        let matched: Vec<(u32, String)> = acl
            .entries
            .iter()
            .filter_map(|e| match e.tag {
                AclTag::GroupObj if in_group(st.gid) => Some((
                    e.perm & mask,
                    st.group.clone().unwrap_or_else(|| group_name(st.gid)),
                )),
                AclTag::Group if in_group(e.id) => Some((e.perm & mask, group_name(e.id))),
                _ => None,
            })
            .collect();
        if !matched.is_empty() {
            let names: Vec<&str> = matched.iter().map(|(_, n)| n.as_str()).collect();
            let via = if names.len() == 1 {
                format!("acl group {}", names[0])
            } else {
                format!("acl groups {}", names.join(", "))
            };
            return Access::from_sets(matched.into_iter().map(|(p, _)| p).collect(), via);
        }
        let other = acl.perm(AclTag::Other).unwrap_or(st.mode & 0o7);
        return Access::from_bits(other, "other".into());
    }
    if in_group(st.gid) {
        let name = st.group.clone().unwrap_or_else(|| st.gid.to_string());
        return Access::from_bits((st.mode >> 3) & 0o7, format!("group {name}"));
    }
    Access::from_bits(st.mode & 0o7, "other".into())
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
            allocated: 0,
            mtime: 0,
            mtime_us: 0,
            rdev: Some((10, 232)),
        }
    }

    fn access_with_acl_here(st: &FileStat, acl: Option<&Acl>, who: &Identity) -> Access {
        access_with_acl(st, acl, who, &group_name)
    }

    fn who(uid: u32, gid: u32, groups: &[u32]) -> Identity {
        Identity {
            name: "u".into(),
            uid,
            gid,
            groups: groups.to_vec(),
        }
    }

    fn acl_bytes(entries: &[(u16, u16, u32)]) -> Vec<u8> {
        let mut b = 2u32.to_le_bytes().to_vec();
        for (tag, perm, id) in entries {
            b.extend(tag.to_le_bytes());
            b.extend(perm.to_le_bytes());
            b.extend(id.to_le_bytes());
        }
        b
    }

    #[test]
    fn acls_that_are_not_understood_are_errors() {
        assert!(Acl::parse(&[2, 0]).is_err());
        let mut v3 = acl_bytes(&[(0x01, 6, u32::MAX)]);
        v3[0] = 3;
        assert!(
            Acl::parse(&v3)
                .expect_err("must fail")
                .contains("version 3")
        );
        let mut partial = acl_bytes(&[(0x01, 6, u32::MAX)]);
        partial.pop();
        assert!(
            Acl::parse(&partial)
                .expect_err("must fail")
                .contains("whole entries")
        );
        assert!(
            Acl::parse(&acl_bytes(&[(0x40, 6, 0)]))
                .expect_err("must fail")
                .contains("tag")
        );
        assert!(
            Acl::parse(&acl_bytes(&[(0x01, 8, 0)]))
                .expect_err("must fail")
                .contains("range")
        );
    }

    #[test]
    fn acl_group_entries_grant_only_as_a_whole() {
        // r from one group entry and w from another do not make rw (posix_acl_permission).
        let acl = Acl::parse(&acl_bytes(&[
            (0x01, 6, u32::MAX),
            (0x04, 0, u32::MAX),
            (0x08, 4, 200),
            (0x08, 2, 201),
            (0x10, 7, u32::MAX),
            (0x20, 0, u32::MAX),
        ]))
        .expect("acl");
        let a = access_with_acl_here(
            &file(0o670, 0, 108),
            Some(&acl),
            &who(1000, 1000, &[200, 201]),
        );
        assert!((a.read, a.write) == (true, true));
        assert!(!a.allows(Wanted::parse("rw").expect("mode")));
        assert!(a.allows(Wanted::parse("r").expect("mode")));
        // The mask caps the group class.
        let masked = Acl::parse(&acl_bytes(&[
            (0x01, 6, u32::MAX),
            (0x04, 6, u32::MAX),
            (0x10, 4, u32::MAX),
            (0x20, 0, u32::MAX),
        ]))
        .expect("acl");
        let a = access_with_acl_here(
            &file(0o640, 0, 108),
            Some(&masked),
            &who(1000, 1000, &[108]),
        );
        assert_eq!(
            (a.read, a.write, a.via.as_str()),
            (true, false, "acl group kvm")
        );
    }

    #[test]
    fn an_empty_mask_sends_the_kernel_back_to_the_mode_bits() {
        // `chmod 0606 f; setfacl -n -m u:nobody:rw-,m::--- f`: the kernel skips the ACL when
        // the group bits are clear (fs/namei.c acl_permission_check) and nobody gets rw from
        // the other bits; the named entry denies nothing.
        let acl = Acl::parse(&acl_bytes(&[
            (0x01, 6, u32::MAX),
            (0x02, 6, 65534),
            (0x04, 0, u32::MAX),
            (0x10, 0, u32::MAX),
            (0x20, 6, u32::MAX),
        ]))
        .expect("acl");
        let a = access_with_acl_here(&file(0o606, 0, 0), Some(&acl), &who(65534, 65534, &[65534]));
        assert_eq!((a.read, a.write, a.via.as_str()), (true, true, "other"));
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
