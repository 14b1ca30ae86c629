//! `sys::hostname()`, `sys::uid()`, `sys::is_root()`, `sys::kernel_release()`,
//! `sys::cpu_flags()` and `sys::cpu_virt()` (`"vmx"`, `"svm"` or `()`); `sys::time()` (Unix
//! seconds), `sys::pid()` and `sys::sleep(seconds)` for checks that poll and name what they
//! create, such as the canary.

use rhai::{Array, Dynamic, EvalAltResult, Module, NativeCallContext};

use crate::bindings::error_at;
use crate::host::{procfs, sys};

pub fn module() -> Module {
    let mut m = Module::new();
    m.set_native_fn("hostname", || Ok(sys::hostname()));
    m.set_native_fn("uid", || Ok(i64::from(sys::uid())));
    m.set_native_fn("is_root", || Ok(sys::uid() == 0));
    m.set_native_fn("pid", || Ok(i64::from(std::process::id())));
    m.set_native_fn("time", || {
        Ok(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64))
    });
    // Sleeps at most what is left of the check's budget, and wakes on a signal: a poll loop
    // must never hold a run past its budget or an interrupt.
    m.set_native_fn(
        "sleep",
        |ctx: NativeCallContext, seconds: Dynamic| -> Result<(), Box<EvalAltResult>> {
            let wanted = crate::bindings::seconds_of(&seconds).ok_or_else(|| {
                error_at(
                    &ctx,
                    format!("sys::sleep: `{seconds}` is not a positive number of seconds"),
                )
            })?;
            let until = std::time::Instant::now()
                + crate::budget::cap(Some(wanted)).map_err(|e| error_at(&ctx, e))?;
            while crate::interrupt::requested().is_none() {
                let left = until.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    break;
                }
                std::thread::sleep(left.min(std::time::Duration::from_millis(50)));
            }
            Ok(())
        },
    );
    m.set_native_fn(
        "kernel_release",
        |ctx: NativeCallContext| -> Result<String, Box<EvalAltResult>> {
            sys::kernel_release().map_err(|e| error_at(&ctx, e))
        },
    );
    m.set_native_fn(
        "cpu_flags",
        |ctx: NativeCallContext| -> Result<Array, Box<EvalAltResult>> {
            let flags = procfs::cpu_flags().map_err(|e| error_at(&ctx, e))?;
            Ok(flags.into_iter().map(Dynamic::from).collect())
        },
    );
    m.set_native_fn(
        "cpu_virt",
        |ctx: NativeCallContext| -> Result<Dynamic, Box<EvalAltResult>> {
            let flags = procfs::cpu_flags().map_err(|e| error_at(&ctx, e))?;
            let found = ["vmx", "svm"]
                .into_iter()
                .find(|f| flags.iter().any(|x| x == f));
            Ok(found.map_or(Dynamic::UNIT, Dynamic::from))
        },
    );
    m
}
