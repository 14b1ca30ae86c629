//! `sys::hostname()`, `sys::uid()`, `sys::is_root()`, `sys::kernel_release()`,
//! `sys::cpu_flags()` and `sys::cpu_virt()` (`"vmx"`, `"svm"` or `()`).

use rhai::{Array, Dynamic, EvalAltResult, Module, NativeCallContext};

use crate::bindings::error_at;
use crate::host::{procfs, sys};

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
