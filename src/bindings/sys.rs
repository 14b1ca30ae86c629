//! `sys::hostname()`, `sys::uid()`, `sys::is_root()`, `sys::kernel_release()`,
//! `sys::cpu_flags()` and `sys::cpu_virt()` (`"vmx"`, `"svm"` or `()`); `sys::time()` (Unix
//! seconds), `sys::pid()` and `sys::sleep(seconds)` for checks that poll and name what they
//! create, such as the canary.

use crate::bindings::Documented;

/// The namespace these primitives are registered in.
const MODULE: &str = "sys";

use rhai::{Array, Dynamic, EvalAltResult, Module, NativeCallContext};

use crate::bindings::{ask, error_at};
use crate::probe::{How, Question};

type Runtime = tokio::runtime::Handle;

/// Registers `sys::NAME()` answering `question` as a `T`, converted by `into`.
fn simple<T, R>(m: &mut Module, rt: &Runtime, name: &str, question: Question, into: fn(T) -> R)
where
    T: serde::de::DeserializeOwned + 'static,
    R: rhai::Variant + Clone,
{
    let rt = rt.clone();
    m.set_documented_fn(
        MODULE,
        name,
        move |ctx: NativeCallContext| -> Result<R, Box<EvalAltResult>> {
            ask::<T>(&ctx, &rt, question.clone(), How::default()).map(into)
        },
    );
}

pub fn module(runtime: Runtime) -> Module {
    let mut m = Module::new();
    let rt = &runtime;
    simple(&mut m, rt, "hostname", Question::SysHostname, |h: String| h);
    simple(&mut m, rt, "uid", Question::SysUid, |u: u32| i64::from(u));
    simple(&mut m, rt, "is_root", Question::SysUid, |u: u32| u == 0);
    simple(&mut m, rt, "pid", Question::SysPid, |p: u32| i64::from(p));
    simple(&mut m, rt, "time", Question::SysTime, |t: i64| t);
    simple(
        &mut m,
        rt,
        "kernel_release",
        Question::SysKernelRelease,
        |r: String| r,
    );
    simple(
        &mut m,
        rt,
        "cpu_flags",
        Question::SysCpuFlags,
        |f: Vec<String>| f.into_iter().map(Dynamic::from).collect::<Array>(),
    );
    simple(
        &mut m,
        rt,
        "cpu_virt",
        Question::SysCpuFlags,
        |f: Vec<String>| {
            ["vmx", "svm"]
                .into_iter()
                .find(|v| f.iter().any(|x| x == v))
                .map_or(Dynamic::UNIT, Dynamic::from)
        },
    );
    // Sleeps at most what is left of the check's budget, and wakes on a signal: a poll loop
    // must never hold a run past its budget or an interrupt.
    m.set_documented_fn(
        MODULE,
        "sleep",
        |ctx: NativeCallContext, seconds: Dynamic| -> Result<(), Box<EvalAltResult>> {
            let wanted = crate::bindings::seconds_of(&seconds).ok_or_else(|| {
                error_at(
                    &ctx,
                    format!("sys::sleep: `{seconds}` is not a positive number of seconds"),
                )
            })?;
            // A replay answers from a recording: waiting would change nothing.
            if crate::probe::replaying() {
                return Ok(());
            }
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
    m
}
