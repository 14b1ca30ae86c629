//! `sys::hostname()`, `sys::uid()`, `sys::is_root()`, `sys::kernel_release()`.

use rhai::{EvalAltResult, Module, NativeCallContext};

use crate::bindings::error_at;
use crate::host::sys;

pub fn module() -> Module {
    let mut m = Module::new();
    m.set_native_fn("hostname", || Ok(sys::hostname()));
    m.set_native_fn("uid", || Ok(i64::from(sys::uid())));
    m.set_native_fn("is_root", || Ok(sys::uid() == 0));
    m.set_native_fn(
        "kernel_release",
        |ctx: NativeCallContext| -> Result<String, Box<EvalAltResult>> {
            sys::kernel_release().map_err(|e| error_at(&ctx, e))
        },
    );
    m
}
