//! `fix::` files: atomic writes with backups and diffs, templates, directories, keys in config
//! files, sparse files, modes, groups of files, and moving files aside.
use std::sync::Arc;

use crate::bindings::Documented;
use rhai::{Dynamic, Map, Module, NativeCallContext};

use super::*;

pub(super) fn register(m: &mut Module, fix: &Arc<Fix>) {
    let f = fix.clone();
    m.set_documented_fn(
        "fix",
        "write_file",
        move |ctx: NativeCallContext, path: &str, content: &str| {
            let step = file::write(
                f.settings(),
                path,
                content.as_bytes(),
                &Ownership::default(),
            );
            f.record(&ctx, step)
        },
    );
    let f = fix.clone();
    m.set_documented_fn(
        "fix",
        "write_file",
        move |ctx: NativeCallContext, path: &str, content: &str, options: Map| {
            let want = ownership(options, "fix::write_file", "").map_err(|e| error_at(&ctx, e))?;
            let step = file::write(f.settings(), path, content.as_bytes(), &want);
            f.record(&ctx, step)
        },
    );

    let f = fix.clone();
    m.set_documented_fn(
        "fix",
        "render",
        move |ctx: NativeCallContext, name: &str| {
            render(&f, name, Map::new()).map_err(|e| error_at(&ctx, e))
        },
    );
    let f = fix.clone();
    m.set_documented_fn(
        "fix",
        "render",
        move |ctx: NativeCallContext, name: &str, extra: Map| {
            render(&f, name, extra).map_err(|e| error_at(&ctx, e))
        },
    );
    let f = fix.clone();
    m.set_documented_fn(
        "fix",
        "template",
        move |ctx: NativeCallContext, name: &str, path: &str| {
            template(&ctx, &f, name, path, Map::new())
        },
    );
    let f = fix.clone();
    m.set_documented_fn(
        "fix",
        "template",
        move |ctx: NativeCallContext, name: &str, path: &str, options: Map| {
            template(&ctx, &f, name, path, options)
        },
    );

    let f = fix.clone();
    m.set_documented_fn(
        "fix",
        "ensure_dir",
        move |ctx: NativeCallContext, path: &str| {
            f.record(&ctx, file::ensure_dir(f.settings(), path, None))
        },
    );
    let f = fix.clone();
    m.set_documented_fn(
        "fix",
        "ensure_dir",
        move |ctx: NativeCallContext, path: &str, options: Map| {
            let want = ownership(options, "fix::ensure_dir", "").map_err(|e| error_at(&ctx, e))?;
            f.record(&ctx, file::ensure_dir(f.settings(), path, want.mode))
        },
    );

    let f = fix.clone();
    m.set_documented_fn(
        "fix",
        "ensure_key",
        move |ctx: NativeCallContext, path: &str, section: &str, key: &str, value: Dynamic| {
            ensure_key(&ctx, &f, path, section, key, value, Map::new())
        },
    );
    let f = fix.clone();
    m.set_documented_fn(
        "fix",
        "ensure_key",
        move |ctx: NativeCallContext,
              path: &str,
              section: &str,
              key: &str,
              value: Dynamic,
              options: Map| { ensure_key(&ctx, &f, path, section, key, value, options) },
    );

    let f = fix.clone();
    m.set_documented_fn(
        "fix",
        "sparse_file",
        move |ctx: NativeCallContext, path: &str, size: Dynamic| {
            let bytes = if let Ok(n) = size.as_int() {
                u64::try_from(n).map_err(|_| format!("size {n} is negative"))
            } else {
                file::parse_size(&size.to_string())
            }
            .map_err(|e| error_at(&ctx, format!("fix::sparse_file: {e}")))?;
            f.record(&ctx, file::sparse_file(f.settings(), path, bytes))
        },
    );

    let f = fix.clone();
    m.set_documented_fn(
        "fix",
        "chmod",
        move |ctx: NativeCallContext, path: &str, mode: &str| {
            let mode =
                file::parse_mode(mode).map_err(|e| error_at(&ctx, format!("fix::chmod: {e}")))?;
            f.record(&ctx, file::chmod(f.settings(), path, mode))
        },
    );

    let f = fix.clone();
    m.set_documented_fn(
        "fix",
        "remove_file",
        move |ctx: NativeCallContext, path: &str| {
            f.record(&ctx, file::remove_file(f.settings(), path))
        },
    );

    let f = fix.clone();
    m.set_documented_fn(
        "fix",
        "chgrp",
        move |ctx: NativeCallContext, path: &str, group: &str| {
            f.record(&ctx, file::chgrp(f.settings(), path, group))
        },
    );
}
