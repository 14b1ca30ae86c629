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

/// A duration as operators write it: plain seconds (`10`, `2.5`) or numbers with units, run
/// together (`10s`, `1m30s`, `500ms`, `2h`). Zero, negative, or anything else is refused.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let bad = || format!("`{text}` is not a duration (10, 2.5, 10s, 1m30s, 500ms, 2h)");
    if let Ok(secs) = t.parse::<f64>() {
        return seconds(secs).ok_or_else(bad);
    }
    let mut total = 0f64;
    let mut rest = t;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let number: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += number * scale;
        rest = &rest[unit_len..];
    }
    seconds(total).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_as_operators_write_them() {
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2.5"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        for bad in ["", "0", "-1", "s", "10x", "1m30", "m1", "1..5s", "soon"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
