//! `fs::` — read-only file primitives: existence and kind tests, `stat`/`lstat`, bounded
//! `read`, `glob`, and `access(path, user, mode)` for a named user.

use std::path::Path;

use rhai::{Array, Dynamic, EvalAltResult, Map, Module, NativeCallContext};

use crate::bindings::{Options, error_at, map, opt};
use crate::host::fs::{self, FileStat, Identity, Kind, Wanted};

/// Registers `fs::NAME(path) -> bool`. A path that cannot be looked at throws (permission
/// denied) rather than answering false, so no check mistakes "may not look" for "absent".
fn kind_test(
    m: &mut Module,
    name: &str,
    no_follow: bool,
    test: impl Fn(Option<Kind>) -> bool + Send + Sync + 'static,
) {
    m.set_native_fn(
        name,
        move |ctx: NativeCallContext, p: &str| -> Result<bool, Box<EvalAltResult>> {
            let path = Path::new(p);
            let kind = if no_follow {
                fs::kind(path)
            } else {
                fs::target_kind(path)
            };
            kind.map(&test).map_err(|e| error_at(&ctx, e))
        },
    );
}

/// Bytes `fs::read` returns unless a script asks for more.
const DEFAULT_READ_CAP: usize = 1024 * 1024;

pub fn module() -> Module {
    let mut m = Module::new();
    kind_test(&mut m, "exists", false, |k| k.is_some());
    kind_test(&mut m, "is_file", false, |k| k == Some(Kind::File));
    kind_test(&mut m, "is_dir", false, |k| k == Some(Kind::Dir));
    kind_test(&mut m, "is_symlink", true, |k| k == Some(Kind::Symlink));
    kind_test(&mut m, "is_socket", false, |k| k == Some(Kind::Socket));
    kind_test(&mut m, "is_char_device", false, |k| {
        k == Some(Kind::CharDevice)
    });
    kind_test(&mut m, "is_block_device", false, |k| {
        k == Some(Kind::BlockDevice)
    });
    m.set_native_fn(
        "stat",
        |ctx: NativeCallContext, p: &str| -> Result<Map, Box<EvalAltResult>> {
            fs::stat(Path::new(p), true)
                .map(stat_map)
                .map_err(|e| error_at(&ctx, e))
        },
    );
    m.set_native_fn(
        "lstat",
        |ctx: NativeCallContext, p: &str| -> Result<Map, Box<EvalAltResult>> {
            fs::stat(Path::new(p), false)
                .map(stat_map)
                .map_err(|e| error_at(&ctx, e))
        },
    );
    m.set_native_fn(
        "read",
        |ctx: NativeCallContext, p: &str| -> Result<String, Box<EvalAltResult>> {
            fs::read(Path::new(p), DEFAULT_READ_CAP).map_err(|e| error_at(&ctx, e))
        },
    );
    m.set_native_fn(
        "read",
        |ctx: NativeCallContext, p: &str, options: Map| -> Result<String, Box<EvalAltResult>> {
            let mut opts = Options::new(options, "fs::read");
            let cap = opts.int("max_bytes").map_err(|e| error_at(&ctx, e))?;
            opts.finish("max_bytes").map_err(|e| error_at(&ctx, e))?;
            let limit = crate::limits::STRING_BYTES;
            let cap = match cap {
                None => DEFAULT_READ_CAP,
                Some(n) if n > 0 && (n as usize) <= limit => n as usize,
                Some(n) => {
                    return Err(error_at(
                        &ctx,
                        format!("fs::read: max_bytes {n} must be between 1 and {limit}"),
                    ));
                }
            };
            fs::read(Path::new(p), cap).map_err(|e| error_at(&ctx, e))
        },
    );
    m.set_native_fn(
        "glob",
        |ctx: NativeCallContext, pattern: &str| -> Result<Array, Box<EvalAltResult>> {
            let paths = glob::glob(pattern)
                .map_err(|e| error_at(&ctx, format!("bad glob `{pattern}`: {}", e.msg)))?;
            Ok(paths
                .filter_map(Result::ok)
                .map(|p| Dynamic::from(p.display().to_string()))
                .collect())
        },
    );
    m.set_native_fn(
        "free",
        |ctx: NativeCallContext, p: &str| -> Result<Map, Box<EvalAltResult>> {
            let f = fs::free_space(Path::new(p)).map_err(|e| error_at(&ctx, e))?;
            let used = f.bytes_total.saturating_sub(f.bytes_free);
            let percent_used = if f.bytes_total == 0 {
                0.0
            } else {
                used as f64 * 100.0 / f.bytes_total as f64
            };
            let int = |n: u64| Dynamic::from(i64::try_from(n).unwrap_or(i64::MAX));
            Ok(map([
                ("bytes_total", int(f.bytes_total)),
                ("bytes_free", int(f.bytes_free)),
                ("bytes_available", int(f.bytes_available)),
                ("inodes_total", int(f.inodes_total)),
                ("inodes_free", int(f.inodes_free)),
                ("percent_used", percent_used.into()),
            ]))
        },
    );
    m.set_native_fn(
        "access",
        |ctx: NativeCallContext,
         p: &str,
         user: &str,
         mode: &str|
         -> Result<Map, Box<EvalAltResult>> {
            access(p, user, mode).map_err(|e| error_at(&ctx, e))
        },
    );
    m
}

fn access(path: &str, user: &str, mode: &str) -> Result<Map, fs::FsError> {
    let wanted = Wanted::parse(mode)?;
    let st = fs::stat(Path::new(path), true)?;
    let who = Identity::lookup(user)?;
    // The ACL counts only when the file has one: a root-run check still reads it, so the
    // answer for a named user follows the same rules access(2) would apply for that user.
    let acl = fs::read_acl(Path::new(path))?;
    let access = fs::access_with_acl(&st, acl.as_ref(), &who);
    Ok(map([
        ("acl", acl.is_some().into()),
        ("allowed", access.allows(wanted).into()),
        ("read", access.read.into()),
        ("write", access.write.into()),
        ("execute", access.execute.into()),
        ("via", access.via.into()),
        ("user", who.name.into()),
        ("mode", format!("{:04o}", st.mode).into()),
    ]))
}

fn stat_map(st: FileStat) -> Map {
    let (major, minor) = st
        .rdev
        .map_or((None, None), |(a, b)| (Some(a as i64), Some(b as i64)));
    map([
        ("kind", st.kind.as_str().into()),
        ("mode", i64::from(st.mode).into()),
        ("mode_octal", format!("{:04o}", st.mode).into()),
        ("uid", i64::from(st.uid).into()),
        ("gid", i64::from(st.gid).into()),
        ("owner", opt(st.owner)),
        ("group", opt(st.group)),
        ("size", i64::try_from(st.size).unwrap_or(i64::MAX).into()),
        (
            "allocated",
            i64::try_from(st.allocated).unwrap_or(i64::MAX).into(),
        ),
        ("mtime", st.mtime.into()),
        ("mtime_us", st.mtime_us.into()),
        ("major", opt(major)),
        ("minor", opt(minor)),
    ])
}
