//! `fix::` systemd units: enable, start, restart, daemon-reload.
use std::sync::Arc;

use crate::bindings::Documented;
use rhai::{Module, NativeCallContext};

use super::*;

pub(super) fn register(m: &mut Module, fix: &Arc<Fix>) {
    for (name, action) in [
        ("enable", UnitAction::Enable),
        ("start", UnitAction::Start),
        ("restart", UnitAction::Restart),
    ] {
        let f = fix.clone();
        m.set_documented_fn("fix", name, move |ctx: NativeCallContext, unit: &str| {
            let timeout = f.timeout(&ctx)?;
            let step = f.runtime.block_on(system::systemctl(
                f.settings(),
                &f.programs,
                action,
                unit,
                timeout,
            ));
            f.record(&ctx, step)
        });
    }
    let f = fix.clone();
    m.set_documented_fn("fix", "daemon_reload", move |ctx: NativeCallContext| {
        let timeout = f.timeout(&ctx)?;
        let step = f.runtime.block_on(system::systemctl(
            f.settings(),
            &f.programs,
            UnitAction::DaemonReload,
            "",
            timeout,
        ));
        f.record(&ctx, step)
    });
}
