//! `fix::` storage: loop devices and device-mapper tables.
use std::sync::Arc;

use crate::bindings::Documented;
use rhai::{Module, NativeCallContext};

use super::*;

pub(super) fn register(m: &mut Module, fix: &Arc<Fix>) {
    let f = fix.clone();
    m.set_documented_fn(
        "fix",
        "loop_device",
        move |ctx: NativeCallContext, path: &str| {
            let timeout = f.timeout(&ctx)?;
            let (step, device) =
                f.runtime
                    .block_on(system::loop_device(f.settings(), path, timeout));
            f.record(&ctx, step)?;
            Ok(device)
        },
    );

    let f = fix.clone();
    m.set_documented_fn(
        "fix",
        "dm_table",
        move |ctx: NativeCallContext, name: &str, table: &str| {
            let timeout = f.timeout(&ctx)?;
            let step = f.runtime.block_on(system::dm_table(
                f.settings(),
                &f.programs,
                name,
                table,
                timeout,
            ));
            f.record(&ctx, step)
        },
    );
}
