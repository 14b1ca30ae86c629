//! `fix::` system state: packages, kernel modules, groups and users, containerd images, sockets
//! to wait for, and commands run as changing steps.
use std::sync::Arc;

use crate::bindings::Documented;
use rhai::{Array, Dynamic, Map, Module, NativeCallContext};

use super::*;

pub(super) fn register(m: &mut Module, fix: &Arc<Fix>) {
    let f = fix.clone();
    m.set_documented_fn(
        "fix",
        "ensure_group",
        move |ctx: NativeCallContext, group: &str| {
            let timeout = f.timeout(&ctx)?;
            let step = f
                .runtime
                .block_on(system::ensure_group(f.settings(), group, timeout));
            f.record(&ctx, step)
        },
    );
    let f = fix.clone();
    m.set_documented_fn(
        "fix",
        "apt_install",
        move |ctx: NativeCallContext, packages: Array| {
            let packages: Vec<String> = packages.into_iter().map(|p| p.to_string()).collect();
            let timeout = f.timeout(&ctx)?;
            let steps = f
                .runtime
                .block_on(system::apt_install(f.settings(), &packages, timeout));
            let mut changed = false;
            for step in steps {
                changed |= f.record(&ctx, step)?;
            }
            Ok(changed)
        },
    );

    let f = fix.clone();
    m.set_documented_fn(
        "fix",
        "modprobe",
        move |ctx: NativeCallContext, module: &str| {
            let timeout = f.timeout(&ctx)?;
            let step = f
                .runtime
                .block_on(system::modprobe(f.settings(), module, timeout));
            f.record(&ctx, step)
        },
    );
    let f = fix.clone();
    m.set_documented_fn(
        "fix",
        "persist_modules",
        move |ctx: NativeCallContext, modules: Array| {
            let names: Vec<String> = modules.into_iter().map(|m| m.to_string()).collect();
            persist_modules(&ctx, &f, &names, MODULES_LOAD_FILE)
        },
    );
    let f = fix.clone();
    m.set_documented_fn(
        "fix",
        "persist_modules",
        move |ctx: NativeCallContext, modules: Array, file: &str| {
            let names: Vec<String> = modules.into_iter().map(|m| m.to_string()).collect();
            persist_modules(&ctx, &f, &names, file)
        },
    );

    let f = fix.clone();
    m.set_documented_fn(
        "fix",
        "add_to_group",
        move |ctx: NativeCallContext, user: &str, group: &str| {
            let timeout = f.timeout(&ctx)?;
            let step = f
                .runtime
                .block_on(system::add_to_group(f.settings(), user, group, timeout));
            f.record(&ctx, step)
        },
    );

    let f = fix.clone();
    m.set_documented_fn(
        "fix",
        "image",
        move |ctx: NativeCallContext, socket: &str, namespace: &str, reference: &str| {
            image(&ctx, &f, socket, namespace, reference, Map::new())
        },
    );
    let f = fix.clone();
    m.set_documented_fn(
        "fix",
        "image",
        move |ctx: NativeCallContext,
              socket: &str,
              namespace: &str,
              reference: &str,
              options: Map| { image(&ctx, &f, socket, namespace, reference, options) },
    );

    let f = fix.clone();
    m.set_documented_fn(
        "fix",
        "wait_socket",
        move |ctx: NativeCallContext, path: &str, seconds: Dynamic| {
            let within = crate::bindings::seconds_of(&seconds).ok_or_else(|| {
                error_at(
                    &ctx,
                    format!("fix::wait_socket: `{seconds}` is not a number of seconds"),
                )
            })?;
            let within = budget::cap(Some(within)).map_err(|e| error_at(&ctx, e))?;
            let step = f
                .runtime
                .block_on(system::wait_socket(f.settings(), path, within));
            f.record(&ctx, step)
        },
    );

    let f = fix.clone();
    m.set_documented_fn(
        "fix",
        "command",
        move |ctx: NativeCallContext, argv: Array| {
            let words: Vec<String> = argv.into_iter().map(|w| w.to_string()).collect();
            if words.is_empty() {
                return Err(error_at(&ctx, "fix::command: empty argv"));
            }
            let timeout = f.timeout(&ctx)?;
            let action = format!("run {}", words[0]);
            let step = f.runtime.block_on(system::change(
                f.settings(),
                action,
                "run".into(),
                words,
                &[],
                timeout,
            ));
            f.record(&ctx, step)
        },
    );
}
