//! Text helpers every layer uses, from host probes up to reporters: durations as people read
//! them, messages folded onto one line, and the one rule for "a number of seconds". It imports
//! nothing from the crate, so nothing it is used by can form a cycle through it.

use std::time::Duration;

/// Formats a duration the way messages show it: "10 s", "1.5 s", "250 ms".
pub fn human_duration(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        let secs = d.as_secs_f64();
        if (secs - secs.round()).abs() < 0.005 {
            format!("{} s", secs.round())
        } else {
            format!("{secs:.1} s")
        }
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// Folds a message onto one line so every reporter can rely on it.
pub fn one_line(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for (i, line) in message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        if i > 0 {
            out.push_str(" | ");
        }
        out.push_str(line);
    }
    out
}

/// A positive, finite number of seconds below a billion, as a duration: the one rule for
/// `--timeout`, a check's `timeout:` and every primitive's `timeout` option.
pub fn seconds(secs: f64) -> Option<Duration> {
    (secs.is_finite() && secs > 0.0 && secs < 1e9).then(|| Duration::from_secs_f64(secs))
}
