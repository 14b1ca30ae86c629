//! `fs::` — read-only file primitives: existence and kind tests, `stat`/`lstat`, bounded
//! `read`, `glob`, and `access(path, user, mode)` for a named user. Every one asks through the
//! seam (`crate::probe`); the kind tests ask `fs.stat`, so one answer serves them all.

use crate::bindings::Documented;

/// The namespace these primitives are registered in.
const MODULE: &str = "fs";

use rhai::{Array, Dynamic, EvalAltResult, Map, Module, NativeCallContext};

use crate::bindings::{Options, ask, error_at, map, opt};
use crate::host::ErrorKind;
use crate::host::fs::{self, Acl, FileStat, FreeSpace, Identity, Kind, Wanted};
use crate::probe::{self, How, Question};

type Runtime = tokio::runtime::Handle;

/// The kind of what is at `path`, or `None` when nothing is. A path that cannot be looked at
/// (a directory on the way denies search) throws rather than answering "absent", so no check
/// mistakes "may not look" for "absent".
fn kind_of(
    ctx: &NativeCallContext,
    rt: &Runtime,
    path: &str,
    follow: bool,
) -> Result<Option<Kind>, Box<EvalAltResult>> {
    let question = Question::FsStat {
        path: path.to_string(),
        follow,
    };
    match probe::ask::<FileStat>(rt, question, How::default()) {
        Ok(st) => Ok(Some(st.kind)),
        Err(f) if f.kind == ErrorKind::NotFound => Ok(None),
        Err(f) => Err(error_at(ctx, f)),
    }
}

/// Registers `fs::NAME(path) -> bool`.
fn kind_test(
    m: &mut Module,
    rt: &Runtime,
    name: &str,
    no_follow: bool,
    test: impl Fn(Option<Kind>) -> bool + Send + Sync + 'static,
) {
    let rt = rt.clone();
    m.set_documented_fn(
        MODULE,
        name,
        move |ctx: NativeCallContext, p: &str| -> Result<bool, Box<EvalAltResult>> {
            kind_of(&ctx, &rt, p, !no_follow).map(&test)
        },
    );
}

fn stat(
    ctx: &NativeCallContext,
    rt: &Runtime,
    path: &str,
    follow: bool,
) -> Result<Map, Box<EvalAltResult>> {
    let question = Question::FsStat {
        path: path.to_string(),
        follow,
    };
    ask::<FileStat>(ctx, rt, question, How::default()).map(stat_map)
}

fn read(
    ctx: &NativeCallContext,
    rt: &Runtime,
    path: &str,
    options: Map,
) -> Result<String, Box<EvalAltResult>> {
    let parse = || -> Result<(Option<usize>, bool), String> {
        let mut opts = Options::new(options, "fs::read");
        let cap = opts.int("max_bytes")?;
        let fresh = opts.fresh()?;
        opts.finish("max_bytes, fresh")?;
        let limit = crate::limits::STRING_BYTES;
        let cap = match cap {
            None => None,
            Some(n) if n > 0 && (n as usize) <= limit => Some(n as usize),
            Some(n) => {
                return Err(format!(
                    "fs::read: max_bytes {n} must be between 1 and {limit}"
                ));
            }
        };
        // The default cap is the same question whether or not a script spelled it out.
        Ok((cap.filter(|c| *c != fs::DEFAULT_READ_CAP), fresh))
    };
    let (max_bytes, fresh) = parse().map_err(|e| error_at(ctx, e))?;
    let question = Question::FsRead {
        path: path.to_string(),
        max_bytes,
    };
    ask(
        ctx,
        rt,
        question,
        How {
            timeout: None,
            fresh,
        },
    )
}

pub fn module(runtime: Runtime) -> Module {
    let mut m = Module::new();
    let rt = &runtime;
    kind_test(&mut m, rt, "exists", false, |k| k.is_some());
    kind_test(&mut m, rt, "is_file", false, |k| k == Some(Kind::File));
    kind_test(&mut m, rt, "is_dir", false, |k| k == Some(Kind::Dir));
    kind_test(&mut m, rt, "is_symlink", true, |k| k == Some(Kind::Symlink));
    kind_test(&mut m, rt, "is_socket", false, |k| k == Some(Kind::Socket));
    kind_test(&mut m, rt, "is_char_device", false, |k| {
        k == Some(Kind::CharDevice)
    });
    kind_test(&mut m, rt, "is_block_device", false, |k| {
        k == Some(Kind::BlockDevice)
    });
    let r = runtime.clone();
    m.set_documented_fn(MODULE, "stat", move |ctx: NativeCallContext, p: &str| {
        stat(&ctx, &r, p, true)
    });
    let r = runtime.clone();
    m.set_documented_fn(MODULE, "lstat", move |ctx: NativeCallContext, p: &str| {
        stat(&ctx, &r, p, false)
    });
    let r = runtime.clone();
    m.set_documented_fn(MODULE, "read", move |ctx: NativeCallContext, p: &str| {
        read(&ctx, &r, p, Map::new())
    });
    let r = runtime.clone();
    m.set_documented_fn(
        MODULE,
        "read",
        move |ctx: NativeCallContext, p: &str, options: Map| read(&ctx, &r, p, options),
    );
    let r = runtime.clone();
    m.set_documented_fn(
        MODULE,
        "glob",
        move |ctx: NativeCallContext, pattern: &str| -> Result<Array, Box<EvalAltResult>> {
            // A bad pattern is the script's mistake, found before anything is asked.
            glob::Pattern::new(pattern)
                .map_err(|e| error_at(&ctx, format!("bad glob `{pattern}`: {}", e.msg)))?;
            let question = Question::FsGlob {
                pattern: pattern.to_string(),
            };
            let paths: Vec<String> = ask(&ctx, &r, question, How::default())?;
            Ok(paths.into_iter().map(Dynamic::from).collect())
        },
    );
    let r = runtime.clone();
    m.set_documented_fn(
        MODULE,
        "free",
        move |ctx: NativeCallContext, p: &str| -> Result<Map, Box<EvalAltResult>> {
            let question = Question::FsFree {
                path: p.to_string(),
            };
            let f: FreeSpace = ask(&ctx, &r, question, How::default())?;
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
    let r = runtime.clone();
    m.set_documented_fn(
        MODULE,
        "access",
        move |ctx: NativeCallContext,
              p: &str,
              user: &str,
              mode: &str|
              -> Result<Map, Box<EvalAltResult>> { access(&ctx, &r, p, user, mode) },
    );
    m
}

fn access(
    ctx: &NativeCallContext,
    rt: &Runtime,
    path: &str,
    user: &str,
    mode: &str,
) -> Result<Map, Box<EvalAltResult>> {
    let wanted = Wanted::parse(mode).map_err(|e| error_at(ctx, e))?;
    let st: FileStat = ask(
        ctx,
        rt,
        Question::FsStat {
            path: path.to_string(),
            follow: true,
        },
        How::default(),
    )?;
    let who: Identity = ask(
        ctx,
        rt,
        Question::FsUser {
            name: user.to_string(),
        },
        How::default(),
    )?;
    // The ACL counts only when the file has one: a root-run check still reads it, so the
    // answer for a named user follows the same rules access(2) would apply for that user.
    let acl: Option<Acl> = ask(
        ctx,
        rt,
        Question::FsAcl {
            path: path.to_string(),
        },
        How::default(),
    )?;
    // Group names for `via` come through the seam too: a replay names them as recorded.
    let group_names = |gid: u32| -> Option<String> {
        crate::probe::ask(rt, Question::FsGroup { gid }, How::default())
            .ok()
            .flatten()
    };
    let access = fs::access_with_acl(&st, acl.as_ref(), &who, &group_names);
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
