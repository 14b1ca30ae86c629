//! The short form of an answer that a check's evidence shows: for a command its exit code and
//! the first lines of stdout and stderr, for a file its size and first lines, for a unit its
//! states, for a failure its kind and message; anything else as compact JSON, cut short.

use serde_json::Value;

use super::{Answer, Question};

/// Lines of a text shown, and characters of any one answer.
const LINES: usize = 3;
const CHARS: usize = 240;

pub fn of(question: &Question, answer: &Answer) -> String {
    let text = match answer {
        Err(f) => format!("error ({}): {}", f.kind.as_str(), f.message),
        Ok(value) => match question {
            Question::CmdRun { .. } => command(value),
            Question::FsRead { .. }
            | Question::DmLs { .. }
            | Question::DmTargets { .. }
            | Question::DmStatus { .. }
            | Question::DmTable { .. }
            | Question::DmInfo { .. } => match value.as_str() {
                Some(text) => format!("{} bytes: {}", text.len(), first_lines(text)),
                None => compact(value),
            },
            Question::FsStat { .. } => stat(value),
            Question::SystemdUnit { .. } => unit(value),
            _ => compact(value),
        },
    };
    cut(&text)
}

fn field<'a>(value: &'a Value, key: &str) -> &'a Value {
    value.get(key).unwrap_or(&Value::Null)
}

fn command(value: &Value) -> String {
    let mut parts = vec![match (
        field(value, "code").as_i64(),
        field(value, "signal").as_i64(),
    ) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => "no exit code".to_string(),
    }];
    for stream in ["stdout", "stderr"] {
        if let Some(text) = field(value, stream).as_str()
            && !text.trim().is_empty()
        {
            parts.push(format!("{stream}: {}", first_lines(text)));
        }
    }
    parts.join("; ")
}

fn stat(value: &Value) -> String {
    let mode = field(value, "mode").as_u64().unwrap_or(0);
    let who = |name: &str, id: &str| {
        field(value, name)
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| field(value, id).to_string())
    };
    format!(
        "{} {mode:04o} {}:{} {} bytes",
        field(value, "kind").as_str().unwrap_or("?"),
        who("owner", "uid"),
        who("group", "gid"),
        field(value, "size").as_u64().unwrap_or(0)
    )
}

fn unit(value: &Value) -> String {
    let s = |k: &str| field(value, k).as_str().unwrap_or("").to_string();
    let mut text = format!(
        "{} {} {} ({})",
        s("load_state"),
        s("active_state"),
        s("sub_state"),
        s("unit_file_state")
    );
    if let Some(argv) = field(value, "exec_start")
        .as_array()
        .and_then(|c| c.first())
        .and_then(|c| c.get("argv"))
        .and_then(Value::as_array)
    {
        let words: Vec<&str> = argv.iter().filter_map(Value::as_str).collect();
        text.push_str(&format!("; ExecStart: {}", words.join(" ")));
    }
    text
}

/// The first lines of a text, joined with ` | `, with how many more there are.
fn first_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut shown = lines
        .iter()
        .take(LINES)
        .map(|l| l.trim_end())
        .collect::<Vec<_>>()
        .join(" | ");
    if lines.len() > LINES {
        shown.push_str(&format!(" | (+{} lines)", lines.len() - LINES));
    }
    shown
}

fn compact(value: &Value) -> String {
    match value {
        Value::Null => "none".to_string(),
        other => other.to_string(),
    }
}

pub(super) fn cut(text: &str) -> String {
    if text.chars().count() <= CHARS {
        return text.to_string();
    }
    let mut short: String = text.chars().take(CHARS).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_shows_its_exit_code_and_first_lines() {
        let q = Question::CmdRun {
            argv: vec!["ctr".into()],
            env: Default::default(),
            clear_env: false,
            cwd: None,
            stdin: None,
            max_output: None,
        };
        let answer = Ok(serde_json::json!({
            "code": 1, "stdout": "a\nb\nc\nd\ne\n", "stderr": "boom\n"
        }));
        assert_eq!(
            of(&q, &answer),
            "exit 1; stdout: a | b | c | (+2 lines); stderr: boom"
        );
    }

    #[test]
    fn a_file_shows_its_kind_mode_and_owner() {
        let q = Question::FsStat {
            path: "/dev/kvm".into(),
            follow: true,
        };
        let answer = Ok(serde_json::json!({
            "kind": "char_device", "mode": 0o660, "uid": 0, "gid": 108,
            "owner": "root", "group": "kvm", "size": 0
        }));
        assert_eq!(of(&q, &answer), "char_device 0660 root:kvm 0 bytes");
    }
}
