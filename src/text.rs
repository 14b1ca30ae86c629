//! Text helpers every layer uses, from host probes up to reporters: durations as people read
//! them, messages folded onto one line, and the one rule for "a number of seconds". It imports
//! nothing from the crate, so nothing it is used by can form a cycle through it.

use std::time::Duration;

/// Formats a duration the way messages show it: "10 s", "1.5 s", "250 ms".
/// Unix seconds as `2026-12-06T08:39:26Z`.
pub fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

/// An age as an operator reads it: `3d 4h`, `2h 5m`, `7m`, `12s`.
pub fn human_age(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, minutes) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {minutes}m")
    } else if minutes > 0 {
        format!("{minutes}m")
    } else {
        format!("{s}s")
    }
}

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
/// together, each unit once and larger units first (`10s`, `1m30s`, `500ms`, `2h`). A number
/// is digits with an optional fraction (`2.5`, never `.5`, `5.`, `+5` or `1e3`). Zero, a
/// total under a millisecond (which would print as "0 ms"), or anything else is refused.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let bad = || format!("`{text}` is not a duration (10, 2.5, 10s, 1m30s, 500ms, 2h)");
    // `digits[.digits]` at the start of `rest`: its length, or None.
    let number_len = |rest: &str| -> Option<usize> {
        let b = rest.as_bytes();
        let int = b.iter().take_while(|c| c.is_ascii_digit()).count();
        if int == 0 {
            return None;
        }
        if b.get(int) == Some(&b'.') {
            let frac = b[int + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            return (frac > 0).then_some(int + 1 + frac);
        }
        Some(int)
    };
    let total = match number_len(t) {
        None => return Err(bad()),
        Some(n) if n == t.len() => t.parse::<f64>().map_err(|_| bad())?,
        Some(_) => {
            // Units in order, each once: h, m, s, ms.
            const UNITS: [(&str, f64); 4] = [("h", 3600.0), ("m", 60.0), ("s", 1.0), ("ms", 0.001)];
            let mut total = 0f64;
            let mut rest = t;
            let mut next_unit = 0;
            while !rest.is_empty() {
                let n = number_len(rest).ok_or_else(bad)?;
                let number: f64 = rest[..n].parse().map_err(|_| bad())?;
                rest = &rest[n..];
                let unit_len = rest
                    .find(|c: char| c.is_ascii_digit() || c == '.')
                    .unwrap_or(rest.len());
                let unit = &rest[..unit_len];
                let at = UNITS[next_unit..]
                    .iter()
                    .position(|(u, _)| *u == unit)
                    .ok_or_else(|| {
                        if UNITS.iter().any(|(u, _)| *u == unit) {
                            format!("`{text}` is not a duration: `{unit}` repeated or out of order (larger units first, each once: 1h30m)")
                        } else {
                            bad()
                        }
                    })?;
                total += number * UNITS[next_unit + at].1;
                next_unit += at + 1;
                rest = &rest[unit_len..];
            }
            total
        }
    };
    if total > 0.0 && total < 0.001 {
        return Err(format!(
            "`{text}` is under a millisecond, too short for a duration"
        ));
    }
    seconds(total).ok_or_else(bad)
}

/// A duration as [`parse_duration`] reads it back (`1h2m3s`, `500ms`, `1.5s`): whole units
/// largest first, with what is below a second as milliseconds or a fraction of seconds.
pub fn format_duration(d: Duration) -> String {
    let total_ms = d.as_millis();
    let (h, m) = (total_ms / 3_600_000, (total_ms / 60_000) % 60);
    let (s, ms) = ((total_ms / 1000) % 60, total_ms % 1000);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 {
        out.push_str(&format!("{s}s"));
    }
    if ms > 0 {
        out.push_str(&format!("{ms}ms"));
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
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
        assert_eq!(
            parse_duration("1h2m3s500ms"),
            Ok(Duration::from_millis(3_723_500))
        );
        for bad in [
            "",
            "0",
            "-1",
            "s",
            "10x",
            "1m30",
            "m1",
            "1..5s",
            "soon",
            "1e-10",
            "+5",
            "1e3",
            "1E2",
            "1s1s",
            "1h1m1h",
            ".5",
            "5.",
            "1s1h",
            "0.0000001",
            "0s",
            "nan",
            "inf",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(
            parse_duration("1s1s")
                .expect_err("refused")
                .contains("repeated or out of order")
        );
    }
}

#[cfg(test)]
mod format_tests {
    use super::*;

    #[test]
    fn formatted_durations_read_back_the_same() {
        for ms in [1u64, 999, 1000, 1500, 60_000, 90_500, 3_723_500, 86_400_000] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{ms}");
        }
    }
}

/// Writes `bytes` to `path` atomically: a temporary file beside it (created with `mode`, less
/// the umask), synced, renamed over `path`, and the directory synced. A reader sees the old
/// file or the whole new one, never half of it; on failure nothing is left behind.
pub fn write_atomically(path: &std::path::Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file name"))?
        .to_string_lossy();
    let temp = dir.join(format!(".{name}.hostscript-{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// The candidate within edit distance 2 of `name` (the nearest), for "did you mean".
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    }
    candidates
        .into_iter()
        .map(|c| (distance(name, c), c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `text` in lines of at most `width` characters, broken at spaces (a word longer than a line
/// is cut). At least one line, empty for empty text.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(10);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word = word.to_string();
        loop {
            let have = line.chars().count();
            let need = word.chars().count() + usize::from(have > 0);
            if have + need <= width {
                if have > 0 {
                    line.push(' ');
                }
                line.push_str(&word);
                break;
            }
            if have > 0 {
                lines.push(std::mem::take(&mut line));
                continue;
            }
            // A word longer than a whole line: cut it.
            let head: String = word.chars().take(width).collect();
            word = word.chars().skip(width).collect();
            lines.push(head);
            if word.is_empty() {
                break;
            }
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}
