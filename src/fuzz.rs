//! Fuzz harnesses over the parsers that read host output and user files: dmsetup, `systemctl
//! show`, /proc/net/unix, environment files, `--var` flags, sizes and modes, unit/INI editing,
//! durations, and ExecStart as busctl and systemctl print it. cargo-fuzz targets in `fuzz/` (nightly) call `run`; so does a stable test that
//! replays `fuzz/corpus/` in the normal suite, so a crash once found stays fixed. Each
//! harness asserts what the parser promises beyond "no panic" where it can (an edit applied
//! twice changes nothing the second time, a mode fits in 0o7777).

use crate::host::change::edit::{self, Format, Repeat, Value};
use crate::host::change::file;
use crate::host::{dm, procfs, systemd};

/// The targets, named as `fuzz/fuzz_targets/*.rs` and `fuzz/corpus/*` are.
pub const TARGETS: &[&str] = &[
    "dmsetup",
    "systemctl_show",
    "proc_net_unix",
    "env_file",
    "vars_flag",
    "size_mode",
    "unit_edit",
    "duration",
    "exec_start",
    "redaction",
];

/// Runs one input through a target. Panics only when a parser broke its promise.
pub fn run(target: &str, data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match target {
        "dmsetup" => {
            let _ = dm::parse_ls(&text);
            let _ = dm::parse_targets(&text);
            let _ = dm::parse_info(&text);
            for kind in [dm::SegmentKind::Status, dm::SegmentKind::Table] {
                if let Ok(segments) = dm::parse_segments(&text, kind) {
                    assert!(!segments.is_empty(), "no segments accepted");
                    assert!(
                        segments.iter().all(|s| s.length > 0),
                        "zero length accepted"
                    );
                }
            }
        }
        "systemctl_show" => {
            if let Ok(unit) = systemd::parse_show("x", &text) {
                assert!(
                    unit.exec_start.iter().all(|c| !c.argv.is_empty()),
                    "empty argv accepted"
                );
            }
        }
        "proc_net_unix" => {
            for path in procfs::parse_unix_listeners(&text) {
                assert!(!path.is_empty() && !path.contains('\n'));
            }
        }
        "env_file" => {
            if let Ok((vars, _dropped)) = systemd::parse_env_file(&text) {
                assert!(vars.iter().all(|(k, _)| systemd::env_name_is_valid(k)));
            }
        }
        "vars_flag" => {
            let mut vars = crate::vars::Vars::default();
            let _ = vars.merge_flag(&text);
        }
        "size_mode" => {
            let _ = file::parse_size(&text);
            if let Ok(mode) = file::parse_mode(&text) {
                assert!(mode <= 0o7777);
            }
        }
        "unit_edit" => {
            // The input is a file, a NUL, then the value to set.
            let (file_text, value) = text.split_once('\0').unwrap_or((&text, "v"));
            let mut repeats = vec![Repeat::One, Repeat::Add];
            if let Some((name, _)) = value.split_once('=') {
                repeats.push(Repeat::Matching(format!("{name}=")));
            }
            for repeat in repeats {
                let value = Value::String(value.to_string());
                if let Ok(out) =
                    edit::set_key_with(file_text, Format::Ini, "Service", "Key", &value, &repeat)
                {
                    let again =
                        edit::set_key_with(&out, Format::Ini, "Service", "Key", &value, &repeat);
                    assert_eq!(again.as_deref(), Ok(out.as_str()), "not idempotent");
                }
            }
        }
        "duration" => {
            // Refusals: what the issue saw accepted is never accepted again.
            if let Ok(d) = crate::text::parse_duration(&text) {
                assert!(
                    d >= std::time::Duration::from_millis(1),
                    "under 1 ms: {text:?}"
                );
                assert!(
                    !text.contains(['e', 'E', '+']) && !text.trim().starts_with('.'),
                    "accepted {text:?}"
                );
                // Round trip at millisecond precision: formatted, it reads back the same.
                let ms = std::time::Duration::from_millis(
                    u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
                );
                assert_eq!(
                    crate::text::parse_duration(&crate::text::format_duration(ms)),
                    Ok(ms),
                    "{text:?}"
                );
            }
        }
        "exec_start" => {
            // The input is an argv, one word per NUL-separated field. As busctl prints it, it
            // parses back identical; as systemctl show prints it, it yields a record whose
            // words are the argv joined by spaces, never a shorter one.
            let argv: Vec<String> = text.split('\0').map(str::to_string).collect();
            let exec = serde_json::json!({
                "type": "a(sasasttttuii)",
                "data": [["/bin/x", argv, ["no-env-expand"], 0, 0, 0, 0, 0, 0, 0]],
            });
            let doc =
                format!("{exec}\n{{\"type\":\"t\",\"data\":0}}\n{{\"type\":\"as\",\"data\":[]}}\n");
            let (commands, _, _) = systemd::parse_bus_exec(&doc).expect("busctl's own output");
            assert_eq!(commands[0].argv, argv);
            assert_eq!(commands[0].flags, ["no-env-expand"]);
            let show = format!(
                "ExecStart={{ path=/bin/x ; argv[]={} ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }}\n",
                argv.join(" ")
            );
            if let Ok(unit) = systemd::parse_show("x", &show) {
                assert_eq!(unit.exec_start.len(), 1, "{show:?}");
                assert_eq!(unit.exec_start[0].argv.join(" "), argv.join(" "));
            }
            // systemd::quote never yields a word with a bare space, quote or newline.
            for word in &argv {
                let q = systemd::quote_exec_arg(word);
                assert!(!q.contains('\n'), "{q:?}");
                if !(q.starts_with('"') && q.ends_with('"') && q.len() >= 2) {
                    assert!(!q.contains([' ', '"', '\'', '\\', '$', '%']), "{q:?}");
                }
            }
        }
        "redaction" => {
            // The input is a secret, a NUL, then text; the secret is planted in the middle of
            // the text and written through the redacting writer in pieces cut where the
            // text's bytes say. No registered secret may come out, however it was cut, and
            // redacting twice changes nothing.
            let (secret, rest) = text.split_once('\0').unwrap_or(("s3cr3tValue", &text));
            if !crate::secrets::add(secret) {
                return;
            }
            let secret = secret.trim_matches(|c: char| c == '\n' || c == '\r');
            let middle = rest.len() / 2;
            let middle = (0..=middle)
                .rev()
                .find(|i| rest.is_char_boundary(*i))
                .unwrap_or(0);
            let planted = format!("{}{secret}{}", &rest[..middle], &rest[middle..]);
            let bytes = planted.as_bytes();
            let mut out = crate::secrets::Redacting::new(Vec::new());
            let mut at = 0;
            for (i, b) in data.iter().enumerate() {
                if at >= bytes.len() {
                    break;
                }
                let n = 1 + usize::from(*b) % 7 + i % 3;
                let end = (at + n).min(bytes.len());
                std::io::Write::write_all(&mut out, &bytes[at..end]).expect("vec");
                at = end;
            }
            std::io::Write::write_all(&mut out, &bytes[at..]).expect("vec");
            std::io::Write::flush(&mut out).expect("vec");
            let written = String::from_utf8_lossy(out.get_ref()).into_owned();
            assert!(
                !written.contains(secret),
                "leaked {secret:?} in {written:?}"
            );
            let once = crate::secrets::redact(&planted).into_owned();
            assert!(!once.contains(secret), "leaked {secret:?} in {once:?}");
            assert_eq!(crate::secrets::redact(&once), once, "not idempotent");
        }
        other => panic!("unknown fuzz target `{other}`"),
    }
}
