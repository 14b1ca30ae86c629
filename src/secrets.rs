//! Secrets: values that must never leave the host. One registry per process holds every value
//! known to be secret (vars named in `secrets`, `secret(..)` in a script, gRPC `authorization`
//! metadata, TLS private keys, and values found after a secret flag or key in what primitives
//! read); every output hostscript writes (reports, `-o` files, stderr, traces, `serve`
//! responses, the change log) goes through [`redact`], which replaces each known value and
//! each value that follows a secret flag or key in the text itself with `***`. Redaction works
//! on values, so a token pasted into a message is caught wherever it lands.

use std::borrow::Cow;
use std::io::Write;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Shorter values are not redacted: replacing every "on" of a report would destroy it while
/// hiding nothing. hostscript says so on stderr when a value marked secret is this short.
pub const MIN_LEN: usize = 4;

/// Values found by pattern (after a flag or key in a command's output or a file) join the
/// registry only from this length: the registry replaces a value everywhere, and a short word
/// that happened to follow `token:` in some file must not vanish from every report.
const DISCOVERED_MIN_LEN: usize = 8;

/// Flags whose value is secret wherever they appear (flintlockd's `--basic-auth-token`, and
/// the common ones), in addition to any `--*-token`, `--*-password` and `--*-key` flag. A value
/// that is a path (`--tls-key /etc/flintlockd/key.pem`) names a file, not a secret, and stays.
/// Sites add their own with the var `secret_flags`.
pub const FLAGS: &[&str] = &["--basic-auth-token", "--token", "--password", "--secret"];

/// Words that never count as a secret value: what a key like `token:` is often followed by,
/// and the prose that follows a flag in a message (`set --basic-auth-token or TLS`).
const NOT_VALUES: &[&str] = &[
    "true",
    "false",
    "null",
    "none",
    "yes",
    "no",
    "(none)",
    MASK,
    "or",
    "and",
    "with",
    "without",
    "is",
    "are",
    "was",
    "set",
    "unset",
    "to",
    "the",
    "a",
    "an",
    "in",
    "on",
    "of",
    "for",
    "when",
    "if",
    "not",
    "empty",
    "missing",
    "given",
    "required",
    "flag",
    "value",
    "file",
    "from",
    "default",
    "env",
    "config",
    "unset",
    "(unset)",
    "(not set)",
];

#[derive(Default)]
struct Registry {
    /// Every form of every secret, longest first, so a longer value is replaced before a
    /// shorter one inside it could leave part of it behind.
    values: Vec<String>,
    /// Flags a site added (`secret_flags`), with their dashes.
    flags: Vec<String>,
}

static REGISTRY: RwLock<Registry> = RwLock::new(Registry {
    values: Vec::new(),
    flags: Vec::new(),
});
/// Set once the registry holds anything, so output with nothing to redact costs one load.
static ANY_VALUE: AtomicBool = AtomicBool::new(false);

fn read() -> std::sync::RwLockReadGuard<'static, Registry> {
    REGISTRY.read().unwrap_or_else(|p| p.into_inner())
}

fn write() -> std::sync::RwLockWriteGuard<'static, Registry> {
    REGISTRY.write().unwrap_or_else(|p| p.into_inner())
}

/// Marks `value` secret from now on. Returns false (and registers nothing) when it is too
/// short to redact ([`MIN_LEN`]).
pub fn add(value: &str) -> bool {
    let value = value.trim_matches(|c: char| c == '\n' || c == '\r');
    if value.chars().count() < MIN_LEN {
        return false;
    }
    let mut forms = vec![value.to_string()];
    // The same value as the report formats escape it: JSON and Prometheus labels (`\"`, `\\`,
    // `\n`), and XML (JUnit).
    if let Ok(json) = serde_json::to_string(value) {
        forms.push(json[1..json.len() - 1].to_string());
    }
    forms.push(xml_escaped(value));
    // TAP escapes `#` in descriptions, and quotes YAML scalars with `\\` and `\"` (report/tap.rs).
    forms.push(value.replace('#', "\\#"));
    forms.push(value.replace('\\', "\\\\").replace('"', "\\\""));
    // JUnit's writer (quick-junit) drops control characters and ANSI colour sequences, then
    // escapes XML.
    let stripped = strip_controls(value);
    if stripped != value {
        forms.push(xml_escaped(&stripped));
        forms.push(stripped);
    }
    // Messages are folded onto one line (`a | b`) before any reporter sees them.
    let folded = crate::text::one_line(value);
    if folded != value {
        forms.push(folded);
    }
    // A multi-line secret (a PEM key) may reach an output a line at a time; a key's last
    // line is often short, but eight base64 characters are still its own.
    if value.contains('\n') {
        for line in value.lines().map(str::trim) {
            if line.len() >= DISCOVERED_MIN_LEN && !line.starts_with("-----") {
                forms.push(line.to_string());
            }
        }
    }
    let mut registry = write();
    for form in forms {
        if form.chars().count() >= MIN_LEN && !registry.values.contains(&form) {
            registry.values.push(form);
        }
    }
    registry
        .values
        .sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    ANY_VALUE.store(true, Ordering::Release);
    true
}

/// Marks a credential secret: the whole value and, for `basic X` or `bearer X`, the `X`
/// alone too (a server may echo either).
pub fn add_credential(value: &str) -> bool {
    let added = add(value);
    if let Some((scheme, rest)) = value.trim().split_once(' ')
        && (scheme.eq_ignore_ascii_case("basic") || scheme.eq_ignore_ascii_case("bearer"))
    {
        return add(rest.trim()) || added;
    }
    added
}

/// Whether a metadata or map key names a credential: `authorization`, or `*-token` /
/// `*_token`, `*password`, `*secret` (gRPC metadata keys and config keys alike).
pub fn is_secret_name(key: &str) -> bool {
    is_secret_key(key)
}

/// Marks secret every PEM private key block in `text` (a TLS key a primitive read).
pub fn add_private_keys(text: &str) {
    let mut rest = text;
    while let Some(begin) = rest.find("-----BEGIN ") {
        let block = &rest[begin..];
        let header = block.lines().next().unwrap_or_default();
        let Some(end) = block.find("-----END ") else {
            return;
        };
        let block_end = block[end..].find('\n').map_or(block.len(), |i| end + i);
        if header.contains("PRIVATE KEY") {
            add(&block[..block_end]);
        }
        rest = &block[block_end..];
    }
}

/// Adds flags whose values are secret (`--vault-token`; dashes optional).
pub fn add_flags<'a>(flags: impl IntoIterator<Item = &'a str>) {
    let mut registry = write();
    for flag in flags {
        let flag = format!("--{}", flag.trim_start_matches('-'));
        if flag.len() > 2 && !registry.flags.contains(&flag) {
            registry.flags.push(flag);
        }
    }
}

/// Whether `text` holds a known secret value.
pub fn contains_secret(text: &str) -> bool {
    ANY_VALUE.load(Ordering::Acquire) && read().values.iter().any(|v| text.contains(v.as_str()))
}

/// Registers the values that follow secret flags and keys in `text`: what a primitive read
/// (a command's output and argv, a file, a unit), so the value is caught later wherever it
/// goes, even where no flag stands before it.
pub fn discover(text: &str) {
    if !maybe_patterned(text) {
        return;
    }
    let registry = read();
    let spans = patterned_spans(text, &registry.flags);
    drop(registry);
    for (start, end) in spans {
        let value = &text[start..end];
        if value.chars().count() >= DISCOVERED_MIN_LEN {
            add(value);
        }
    }
}

/// `text` with every secret replaced by `***`: each registered value, then each value that
/// follows a secret flag or key in `text` itself. It repeats until no registered value is
/// left, because a mask next to what surrounds it can spell a secret again (`z***` in
/// `zzz***`); each replacement shortens the text (a value is longer than the mask), so it
/// ends, and redacting the result again changes nothing.
pub fn redact(text: &str) -> Cow<'_, str> {
    let registry = read();
    let mut out = Cow::Borrowed(text);
    if ANY_VALUE.load(Ordering::Acquire) {
        loop {
            let mut changed = false;
            for value in &registry.values {
                if out.contains(value.as_str()) {
                    out = Cow::Owned(out.replace(value.as_str(), MASK));
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }
    if maybe_patterned(&out) {
        let spans = patterned_spans(&out, &registry.flags);
        if !spans.is_empty() {
            let mut masked = String::with_capacity(out.len());
            let mut at = 0;
            for (start, end) in spans {
                masked.push_str(&out[at..start]);
                masked.push_str(MASK);
                at = end;
            }
            masked.push_str(&out[at..]);
            out = Cow::Owned(masked);
        }
    }
    out
}

/// Like [`redact`], for an owned string.
/// Masks secrets in every string of a JSON value, keys included.
pub fn redact_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => *s = redact_string(std::mem::take(s)),
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_json),
        serde_json::Value::Object(map) => redact_json_map(map),
        _ => {}
    }
}

/// Masks secrets in every key and string of a JSON object.
pub fn redact_json_map(map: &mut serde_json::Map<String, serde_json::Value>) {
    let entries: Vec<(String, serde_json::Value)> = std::mem::take(map).into_iter().collect();
    for (key, mut v) in entries {
        redact_json(&mut v);
        map.insert(redact_string(key), v);
    }
}

pub fn redact_string(text: String) -> String {
    match redact(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(masked) => masked,
    }
}

/// A cheap test that rules out most text before the pattern scan: one pass looking for `--`
/// and the stems of the secret keys, any case.
fn maybe_patterned(text: &str) -> bool {
    let b = text.as_bytes();
    (0..b.len()).any(|i| {
        let rest = &b[i..];
        let starts =
            |stem: &[u8]| rest.len() >= stem.len() && rest[..stem.len()].eq_ignore_ascii_case(stem);
        match b[i] | 0x20 {
            b'-' => rest.get(1) == Some(&b'-'),
            b't' => starts(b"token"),
            b'p' => starts(b"passw"),
            b's' => starts(b"secret"),
            b'a' => starts(b"auth"),
            _ => false,
        }
    })
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'
}

/// Whether a flag (with its dashes) takes a secret value.
fn is_secret_flag(flag: &str, site: &[String]) -> bool {
    let lower = flag.to_ascii_lowercase();
    FLAGS.contains(&lower.as_str())
        || site.iter().any(|f| f.eq_ignore_ascii_case(flag))
        || ["-token", "-password", "-key", "-secret"]
            .iter()
            .any(|suffix| lower.ends_with(suffix))
}

/// Whether a key of a config line or map (`password = ..`, `"token": ..`,
/// `authorization: ..`) holds a secret value.
fn is_secret_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    lower == "authorization"
        || lower == "auth"
        || ["token", "password", "passwd", "secret"]
            .iter()
            .any(|suffix| lower.ends_with(suffix))
}

/// A value that names a file rather than being the secret itself.
fn is_path(value: &str) -> bool {
    value.starts_with('/')
        || value.starts_with("./")
        || value.starts_with("../")
        || value.starts_with("~/")
}

fn acceptable_value(value: &str, paths_allowed: bool) -> bool {
    let refused = value.is_empty()
        || value.starts_with('-')
        || (paths_allowed && is_path(value))
        // An object or a list after `"auth": ` in JSON is structure, not a value.
        || value.starts_with(['{', '['])
        || NOT_VALUES.iter().any(|w| w.eq_ignore_ascii_case(value));
    !refused
}

/// Byte ranges of the values that follow secret flags (`--token X`, `--token=X`, in argv
/// arrays `"--token", "X"` and NUL-separated cmdlines) and secret keys (`token = "X"`,
/// `"password": "X"`, `authorization: basic X`) in `text`, in order, not overlapping.
fn patterned_spans(text: &str, site_flags: &[String]) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !is_name_byte(bytes[i]) || (i > 0 && is_name_byte(bytes[i - 1])) {
            i += 1;
            continue;
        }
        // A word: a flag (`--name`) or a key.
        let start = i;
        let mut end = i;
        while end < bytes.len() && is_name_byte(bytes[end]) {
            end += 1;
        }
        let word = &text[start..end];
        i = end;
        // Only a `--*-key` flag names a file (`--tls-key /etc/...`); a token may well start
        // with `/` (one base64 token in 64 does).
        let (span, paths_allowed) = if word.starts_with("--") {
            if is_secret_flag(word, site_flags) {
                (
                    flag_value(bytes, end),
                    word.to_ascii_lowercase().ends_with("-key"),
                )
            } else {
                (None, false)
            }
        } else if is_secret_key(word.trim_start_matches('-')) {
            (key_value(bytes, end), false)
        } else {
            (None, false)
        };
        if let Some((s, e)) = span
            && acceptable_value(&text[s..e], paths_allowed)
            && spans.last().is_none_or(|last| last.1 <= s)
        {
            spans.push((s, e));
            i = e;
        }
    }
    spans
}

/// The value after a flag: `=X`, ` X`, `\0X`, or in a quoted list `", "X"`.
fn flag_value(bytes: &[u8], mut at: usize) -> Option<(usize, usize)> {
    // The flag's own closing quote in a list (`"--token", "X"`).
    if at < bytes.len() && (bytes[at] == b'"' || bytes[at] == b'\'') {
        at += 1;
    }
    let sep_start = at;
    while at < bytes.len()
        && matches!(
            bytes[at],
            b'=' | b' ' | b'\t' | b'\0' | b',' | b'"' | b'\'' | b'\\'
        )
    {
        at += 1;
    }
    if at == sep_start {
        return None;
    }
    let quote = Some(bytes[at - 1]).filter(|b| matches!(b, b'"' | b'\''));
    value_at(bytes, at, quote, false)
}

/// The value after a key: `= X`, `: X`, `="X"`, `": "X"`; an `authorization` value keeps its
/// scheme (`basic`, `bearer`) and loses the credential after it.
fn key_value(bytes: &[u8], mut at: usize) -> Option<(usize, usize)> {
    if at < bytes.len() && (bytes[at] == b'"' || bytes[at] == b'\'') {
        at += 1;
    }
    while at < bytes.len() && (bytes[at] == b' ' || bytes[at] == b'\t') {
        at += 1;
    }
    if at >= bytes.len() || !(bytes[at] == b'=' || bytes[at] == b':') {
        return None;
    }
    // `==` and `:=` are comparisons and assignments in code, not settings; `::` is a path.
    if bytes.get(at + 1).is_some_and(|b| matches!(b, b'=' | b':')) {
        return None;
    }
    // YAML's `key: a value with spaces` runs to the end of the line; after `=` (TOML, and
    // `k=v k=v` details) a bare value is one word.
    let colon = bytes[at] == b':';
    at += 1;
    while at < bytes.len() && (bytes[at] == b' ' || bytes[at] == b'\t') {
        at += 1;
    }
    // A quote may itself be escaped, inside a JSON string (`password = \"X\"`).
    if bytes.get(at) == Some(&b'\\') && matches!(bytes.get(at + 1), Some(b'"' | b'\'')) {
        at += 1;
    }
    let quote = bytes.get(at).copied().filter(|b| matches!(b, b'"' | b'\''));
    if quote.is_some() {
        at += 1;
    }
    // `basic dXNlcjpwYXNz`: the credential is the word after the scheme.
    for scheme in [&b"basic "[..], b"bearer "] {
        if bytes.len() > at + scheme.len()
            && bytes[at..at + scheme.len()].eq_ignore_ascii_case(scheme)
        {
            at += scheme.len();
            break;
        }
    }
    value_at(bytes, at, quote, colon)
}

/// A value starting at `at`: up to its closing quote (the same quote, on the same line) when
/// quoted; otherwise up to whitespace (or only the line's end, with `spaces`), a delimiter or
/// a control character (a colour code after it is not part of it).
fn value_at(bytes: &[u8], at: usize, quote: Option<u8>, spaces: bool) -> Option<(usize, usize)> {
    let mut end = at;
    while end < bytes.len() {
        let b = bytes[end];
        let stop = match quote {
            Some(q) => b == q || b == b'\\' || b == b'\n' || b == b'\r' || b == b'\0',
            None => {
                (b.is_ascii_whitespace() && !(spaces && (b == b' ' || b == b'\t')))
                    || b.is_ascii_control()
                    || matches!(b, b'"' | b'\'' | b'\\' | b',' | b';' | b'}' | b']')
            }
        };
        if stop {
            break;
        }
        end += 1;
    }
    // Trailing spaces of a line-long value are not part of it.
    while end > at && bytes[end - 1] == b' ' {
        end -= 1;
    }
    (end > at).then_some((at, end))
}

/// The length of the longest end of `chunk` that is the start (not the whole) of a registered
/// value spanning lines, so a writer can hold it back until it knows the rest.
fn multi_line_prefix(chunk: &[u8]) -> usize {
    if !ANY_VALUE.load(Ordering::Acquire) {
        return 0;
    }
    let registry = read();
    let mut keep = 0;
    for value in registry.values.iter().filter(|v| v.contains('\n')) {
        let v = value.as_bytes();
        for k in (keep + 1..v.len().min(chunk.len() + 1)).rev() {
            if chunk.ends_with(&v[..k]) {
                keep = k;
                break;
            }
        }
    }
    keep
}

/// `value` without what quick-junit drops from JUnit text: ANSI escape sequences (ESC `[` ...
/// a final letter) and control characters other than tab, newline and carriage return.
fn strip_controls(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        if c.is_control() && !matches!(c, '\t' | '\n' | '\r') {
            continue;
        }
        out.push(c);
    }
    out
}

fn xml_escaped(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// A writer that redacts what passes through it a line at a time: complete lines go out
/// redacted at once, a partial line waits for its end (or for `flush`), so a secret is never
/// split between two writes.
pub struct Redacting<W: Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: Write> Redacting<W> {
    pub fn new(inner: W) -> Self {
        Redacting {
            inner,
            pending: Vec::new(),
        }
    }

    /// What has gone through so far (the fuzz harness looks at it).
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    fn emit(&mut self, upto: usize) -> std::io::Result<()> {
        let chunk: Vec<u8> = self.pending.drain(..upto).collect();
        let text = String::from_utf8_lossy(&chunk);
        let masked = redact(&text);
        if matches!((&text, &masked), (Cow::Borrowed(_), Cow::Borrowed(_))) {
            self.inner.write_all(&chunk)
        } else {
            self.inner.write_all(masked.as_bytes())
        }
    }
}

impl<W: Write> Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if let Some(last) = self.pending.iter().rposition(|&b| b == b'\n') {
            // Complete lines go out, except a tail that may be the first lines of a
            // multi-line secret whose rest is still to come.
            let keep = multi_line_prefix(&self.pending[..=last]);
            if last + 1 > keep {
                self.emit(last + 1 - keep)?;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            self.emit(self.pending.len())?;
        }
        self.inner.flush()
    }
}

impl<W: Write> Drop for Redacting<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// Standard error, redacted a line at a time; hostscript's every message to stderr goes
/// through it (the `say!` macro). A stderr that is closed is not a reason to panic.
pub fn stderr() -> Redacting<std::io::Stderr> {
    Redacting::new(std::io::stderr())
}

/// Writes one redacted line to stderr; what `say!` expands to.
pub fn say_line(args: std::fmt::Arguments<'_>) {
    let text = format!("{args}\n");
    let _ = std::io::stderr().write_all(redact(&text).as_bytes());
}

/// `eprintln!` for hostscript: the line is redacted, and a closed stderr is ignored.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::secrets::say_line(format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    // The registry is process-wide, so each test uses values no other test registers.

    #[test]
    fn registered_values_are_masked_in_every_escaped_form() {
        assert!(add("unit-t0k\"en\\one"));
        assert_eq!(redact("x unit-t0k\"en\\one y"), "x *** y");
        assert_eq!(redact(r#"{"m": "unit-t0k\"en\\one"}"#), r#"{"m": "***"}"#);
        assert_eq!(redact("<f m=\"unit-t0k&quot;en\\one\"/>"), "<f m=\"***\"/>");
        assert!(contains_secret("..unit-t0k\"en\\one.."));
    }

    #[test]
    fn short_values_are_refused() {
        assert!(!add("abc"));
        assert_eq!(redact("abc"), "abc");
    }

    #[test]
    fn multi_line_secrets_are_masked_line_by_line_too() {
        let key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n";
        assert!(add(key));
        assert_eq!(
            redact("line MIIEvQIBADANBgkqhkiG9w0BAQEFAASC end"),
            "line *** end"
        );
        assert_eq!(
            redact("-----BEGIN PRIVATE KEY-----"),
            "-----BEGIN PRIVATE KEY-----"
        );
    }

    #[test]
    fn values_after_secret_flags_are_masked_in_place() {
        for (text, want) in [
            (
                "flintlockd run --basic-auth-token s3cr3tvalue --insecure",
                "flintlockd run --basic-auth-token *** --insecure",
            ),
            ("--basic-auth-token=s3cr3tvalue", "--basic-auth-token=***"),
            (r#"["--token", "s3cr3tvalue"]"#, r#"["--token", "***"]"#),
            ("run\0--api-token\0s3cr3tvalue\0", "run\0--api-token\0***\0"),
            (
                "--tls-key /etc/flintlockd/key.pem",
                "--tls-key /etc/flintlockd/key.pem",
            ),
            ("--tls-key=./key.pem", "--tls-key=./key.pem"),
            ("--basic-auth-token /AbC+dEf9", "--basic-auth-token ***"),
            ("--token --insecure", "--token --insecure"),
            (
                "set --basic-auth-token or TLS",
                "set --basic-auth-token or TLS",
            ),
            (
                "--grpc-endpoint 0.0.0.0:9090",
                "--grpc-endpoint 0.0.0.0:9090",
            ),
        ] {
            assert_eq!(redact(text), want, "{text:?}");
        }
    }

    #[test]
    fn values_after_secret_keys_are_masked_in_place() {
        for (text, want) in [
            ("password = \"hunter2hunter\"", "password = \"***\""),
            (
                r#""-  password = \"hunter2hunter\"\n""#,
                r#""-  password = \"***\"\n""#,
            ),
            (
                r#"argv \"--token\", \"s3cr3tvalue\""#,
                r#"argv \"--token\", \"***\""#,
            ),
            (r#"{"token": "abcdefgh"}"#, r#"{"token": "***"}"#),
            (
                "authorization: basic dXNlcjpwYXNz",
                "authorization: basic ***",
            ),
            ("identitytoken=xyzzy123", "identitytoken=***"),
            ("token: true", "token: true"),
            (
                "password: correct horse battery\nnext",
                "password: ***\nnext",
            ),
            ("password = \"it's-a-secret-123\"", "password = \"***\""),
            ("token=abcdefgh\u{1b}[0m rest", "token=***\u{1b}[0m rest"),
            ("\"auth\": {", "\"auth\": {"),
            (
                "\"basic-auth-token\": \"default\"",
                "\"basic-auth-token\": \"default\"",
            ),
            ("if token == x", "if token == x"),
            ("description = \"a token\"", "description = \"a token\""),
        ] {
            assert_eq!(redact(text), want, "{text:?}");
        }
    }

    #[test]
    fn private_keys_and_credentials_are_registered() {
        let pem = "cert\n-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIPkzq1fakekeyfakekeyfakekey1\n-----END EC PRIVATE KEY-----\n-----BEGIN CERTIFICATE-----\nMIIBpublicpublicpublicpublic\n-----END CERTIFICATE-----\n";
        add_private_keys(pem);
        assert_eq!(redact("x MHcCAQEEIPkzq1fakekeyfakekeyfakekey1"), "x ***");
        assert_eq!(
            redact("MIIBpublicpublicpublicpublic"),
            "MIIBpublicpublicpublicpublic"
        );
        add_credential("Basic Y3JlZDpzZWNyZXQ=");
        assert_eq!(redact("got Y3JlZDpzZWNyZXQ= back"), "got *** back");
    }

    #[test]
    fn site_flags_extend_the_list() {
        assert_eq!(
            redact("--vault-login hvs-abcdef"),
            "--vault-login hvs-abcdef"
        );
        add_flags(["vault-login"]);
        assert_eq!(redact("--vault-login hvs-abcdef"), "--vault-login ***");
    }

    #[test]
    fn discovered_values_are_masked_everywhere_after() {
        discover(
            "ExecStart={ argv[]=/usr/bin/flintlockd run --basic-auth-token disc0vered-tok ; }",
        );
        assert_eq!(redact("echoed: disc0vered-tok"), "echoed: ***");
        // Too short to be taken as a value everywhere.
        discover("token: shorty");
        assert_eq!(redact("shorty"), "shorty");
    }

    #[test]
    fn redaction_is_idempotent_and_a_mask_never_rebuilds_a_secret() {
        assert!(add("zY***"));
        let once = redact("zYzYzY*** and zY***").into_owned();
        assert!(!once.contains("zY***"), "{once}");
        assert_eq!(redact(&once), once);
    }

    #[test]
    fn the_forms_reporters_make_are_registered() {
        assert!(add("kq9\nzx8"));
        assert_eq!(redact("got kq9 | zx8 here"), "got *** here");
        assert!(add("hQ\u{1}mK2x\u{1b}[31mZ"));
        assert_eq!(redact("m=hQmK2xZ."), "m=***.");
        assert!(add("tW\tq\"uX"));
        assert_eq!(redact(r#"message: "tW	q\"uX""#), r#"message: "***""#);
    }

    #[test]
    fn the_writer_never_splits_a_secret_between_writes() {
        add("wr1ter-secret");
        let mut out = Vec::new();
        {
            let mut w = Redacting::new(&mut out);
            w.write_all(b"a wr1ter-").expect("write");
            w.write_all(b"secret b\nnext ").expect("write");
            w.write_all(b"wr1ter-secret").expect("write");
        }
        assert_eq!(String::from_utf8_lossy(&out), "a *** b\nnext ***");
    }
}
