//! Ctrl-C and SIGTERM. The first signal stops the run cleanly: every command tree hostscript
//! started is killed, checks still running end as `error` "interrupted" in a report that is
//! still printed in the chosen format, a remediation stops after the step it is in (atomic
//! writes complete or never happened), the lock is released and the change log says so, and
//! hostscript exits 128 + the signal (130 for SIGINT, 143 for SIGTERM). A second signal exits
//! at once. This module only holds the state; `commands` installs the listener.

use std::sync::atomic::{AtomicI32, Ordering};

static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// The signal that interrupted the run, if one did.
pub fn requested() -> Option<i32> {
    match SIGNAL.load(Ordering::Relaxed) {
        0 => None,
        n => Some(n),
    }
}

/// Records an interruption; the runner, the engine's progress hook and the commands poll it.
/// Used by the signal listener; public so tests of the runner can interrupt without sending a
/// signal.
pub fn request(signal: i32) {
    SIGNAL.store(signal, Ordering::Relaxed);
}

/// The exit code of an interrupted run: 128 + the signal number.
pub fn exit_code() -> Option<u8> {
    requested().and_then(|s| u8::try_from(128 + s).ok())
}
