//! `ensure_key`: one key in a config file set to a value, leaving the rest of the file as it
//! was (comments, order, formatting). TOML goes through toml_edit; INI files and systemd units
//! (`[Section]` headers, `Key=Value` lines) through a line editor, since their parsers rewrite
//! whole files.

/// The file formats `ensure_key` edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    /// INI files and systemd unit files.
    Ini,
}

impl Format {
    pub fn parse(name: &str) -> Result<Format, String> {
        match name {
            "toml" => Ok(Format::Toml),
            "ini" | "unit" | "systemd" => Ok(Format::Ini),
            _ => Err(format!("format `{name}`: expected toml, ini or unit")),
        }
    }

    /// From the file name: `.toml` is TOML, everything else INI-like.
    pub fn of_path(path: &str) -> Format {
        if path.ends_with(".toml") {
            Format::Toml
        } else {
            Format::Ini
        }
    }
}

/// A value to set: TOML keeps its type; INI writes its text.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::String(s) => f.write_str(s),
            Value::Integer(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// How `ensure_key` treats a key that may appear more than once (systemd's `Environment=`,
/// `ExecStartPre=`, `After=`): never by dropping entries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Repeat {
    /// The key appears at most once: it is set, or added. Several occurrences are an error
    /// (which one was meant is not known).
    #[default]
    One,
    /// The entry whose value starts with this prefix is set (`Environment` with `C=` edits
    /// `C=...` and leaves `A=1` alone), else one is added.
    Matching(String),
    /// An entry with exactly this value exists, else one is added; others are kept.
    Add,
}

/// `text` with `section.key = value`. `section` is a dotted TOML key path
/// (`plugins."io.containerd.snapshotter.v1.devmapper"`), or an INI section name (`Service`).
pub fn set_key(
    text: &str,
    format: Format,
    section: &str,
    key: &str,
    value: &Value,
) -> Result<String, String> {
    set_key_with(text, format, section, key, value, &Repeat::One)
}

pub fn set_key_with(
    text: &str,
    format: Format,
    section: &str,
    key: &str,
    value: &Value,
    repeat: &Repeat,
) -> Result<String, String> {
    match format {
        Format::Toml => set_toml(text, section, key, value),
        Format::Ini => {
            // systemd's own rule for Environment= (systemd.exec(5)): assignments of other
            // names are other entries.
            let implicit;
            let repeat = match (repeat, value) {
                (Repeat::One, Value::String(v)) if key == "Environment" && v.contains('=') => {
                    implicit = Repeat::Matching(format!("{}=", v.split('=').next().unwrap_or("")));
                    &implicit
                }
                _ => repeat,
            };
            set_ini(text, section, key, value, repeat)
        }
    }
}

fn set_toml(text: &str, section: &str, key: &str, value: &Value) -> Result<String, String> {
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| format!("not valid TOML: {}", e.message()))?;
    let path: Vec<toml_edit::Key> = if section.is_empty() {
        Vec::new()
    } else {
        toml_edit::Key::parse(section).map_err(|e| {
            format!(
                "section `{section}` is not a TOML key path: {}",
                e.message()
            )
        })?
    };
    let mut table = doc.as_table_mut();
    for part in &path {
        let entry = table
            .entry(part.get())
            .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
        table = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{section}`: `{}` is not a table", part.get()))?;
    }
    let new = match value {
        Value::String(s) => toml_edit::value(s.as_str()),
        Value::Integer(i) => toml_edit::value(*i),
        Value::Float(x) => toml_edit::value(*x),
        Value::Bool(b) => toml_edit::value(*b),
    };
    let unchanged = table
        .get(key)
        .and_then(|item| item.as_value())
        .is_some_and(|current| same_toml(current, value));
    if !unchanged {
        table[key] = new;
    }
    Ok(doc.to_string())
}

fn same_toml(current: &toml_edit::Value, value: &Value) -> bool {
    match (current, value) {
        (toml_edit::Value::String(s), Value::String(v)) => s.value() == v,
        (toml_edit::Value::Integer(i), Value::Integer(v)) => i.value() == v,
        (toml_edit::Value::Float(x), Value::Float(v)) => x.value() == v,
        (toml_edit::Value::Boolean(b), Value::Bool(v)) => b.value() == v,
        _ => false,
    }
}

/// One logical line of an INI or unit file: its physical lines (a trailing `\` continues a
/// line, systemd.syntax(7)) and their text joined.
struct Logical {
    first: usize,
    last: usize,
    text: String,
}

fn logical_lines(lines: &[&str]) -> Vec<Logical> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let first = i;
        let mut text = String::new();
        loop {
            let line = lines[i];
            let is_comment = text.is_empty() && line.trim_start().starts_with(['#', ';']);
            match line.strip_suffix('\\') {
                Some(head) if !is_comment && i + 1 < lines.len() => {
                    text.push_str(head);
                    text.push(' ');
                    i += 1;
                }
                _ => {
                    text.push_str(line);
                    break;
                }
            }
        }
        out.push(Logical {
            first,
            last: i,
            text,
        });
        i += 1;
    }
    out
}

/// Sets `key=value` in `[section]`. Returns `text` itself, byte for byte, when the key
/// already has the value (so CRLF endings or a missing final newline are no change); an edit
/// keeps the file's line endings. A value with a newline is refused: it would become a second
/// line of its own.
fn set_ini(
    text: &str,
    section: &str,
    key: &str,
    value: &Value,
    repeat: &Repeat,
) -> Result<String, String> {
    let wanted_value = value.to_string();
    if wanted_value.contains(['\n', '\r']) {
        return Err(format!("the value of {key} contains a line break"));
    }
    // systemd drops the whitespace around a value, and a final `\` would continue the line.
    if wanted_value.trim() != wanted_value || wanted_value.ends_with('\\') {
        return Err(format!(
            "the value of {key} starts or ends with whitespace or ends with `\\`"
        ));
    }
    let crlf = text.contains("\r\n");
    let eol = if crlf { "\r\n" } else { "\n" };
    let wanted_line = format!("{key}={wanted_value}");
    let physical: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    // `split` yields a last empty piece after a final newline.
    let physical = if text.is_empty() {
        &physical[..0]
    } else if text.ends_with('\n') {
        &physical[..physical.len() - 1]
    } else {
        &physical[..]
    };
    // A last line that ends in `\\` continues into nothing: whatever is added after it would
    // be swallowed into it on the next read.
    if physical.last().is_some_and(|l| l.ends_with('\\')) {
        return Err(
            "the file's last line ends with `\\` and continues into nothing: fix the file first"
                .into(),
        );
    }
    let logical = logical_lines(physical);
    let header = format!("[{section}]");
    let rebuild = |lines: Vec<String>| -> String {
        let mut out = lines.join(eol);
        out.push_str(eol);
        out
    };
    let Some(start) = logical.iter().position(|l| l.text.trim() == header) else {
        let mut lines: Vec<String> = physical.iter().map(|l| l.to_string()).collect();
        if !lines.is_empty() {
            lines.push(String::new());
        }
        lines.push(header);
        lines.push(wanted_line);
        return Ok(rebuild(lines));
    };
    let end = logical[start + 1..]
        .iter()
        .position(|l| l.text.trim_start().starts_with('['))
        .map_or(logical.len(), |i| start + 1 + i);
    let value_of = |l: &Logical| -> Option<String> {
        let t = l.text.trim_start();
        if t.starts_with(['#', ';']) {
            return None;
        }
        let (k, v) = t.split_once('=')?;
        (k.trim() == key).then(|| v.trim().to_string())
    };
    let entries: Vec<(usize, String)> = (start + 1..end)
        .filter_map(|i| value_of(&logical[i]).map(|v| (i, v)))
        .collect();
    let target = match repeat {
        Repeat::One if entries.len() > 1 => {
            return Err(format!(
                "{key} appears {} times in [{section}]: say which entry (repeat: \"add\", or a match prefix)",
                entries.len()
            ));
        }
        Repeat::One => entries.first().cloned(),
        Repeat::Matching(prefix) => entries
            .iter()
            .find(|(_, v)| v.starts_with(prefix.as_str()))
            .cloned(),
        Repeat::Add => entries.iter().find(|(_, v)| *v == wanted_value).cloned(),
    };
    let mut lines: Vec<String> = physical.iter().map(|l| l.to_string()).collect();
    match target {
        Some((_, current)) if current == wanted_value => return Ok(text.to_string()),
        Some((i, _)) => {
            let l = &logical[i];
            lines.splice(l.first..=l.last, [wanted_line]);
        }
        None => {
            // After the section's last non-blank line, so blank separators stay in place.
            let mut at = if end < logical.len() {
                logical[end].first
            } else {
                lines.len()
            };
            while at > logical[start].last + 1 && lines[at - 1].trim().is_empty() {
                at -= 1;
            }
            // A line that ends in `\\` with nothing after it would swallow the new one.
            if at > 0 && lines[at - 1].ends_with('\\') {
                return Err(format!(
                    "line {at} of [{section}] ends with `\\` and continues into nothing: fix the file first"
                ));
            }
            lines.insert(at, wanted_line);
        }
    }
    Ok(rebuild(lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_keys_are_set_in_nested_quoted_tables_keeping_comments() {
        let text = "# containerd-dev\nversion = 2\n\n[plugins.\"io.containerd.snapshotter.v1.devmapper\"]\n  pool_name = \"old\" # the pool\n";
        let out = set_key(
            text,
            Format::Toml,
            "plugins.\"io.containerd.snapshotter.v1.devmapper\"",
            "pool_name",
            &Value::String("flintlock-dev-thinpool".into()),
        )
        .expect("set");
        assert!(out.starts_with("# containerd-dev\nversion = 2\n"), "{out}");
        assert!(
            out.contains("pool_name = \"flintlock-dev-thinpool\""),
            "{out}"
        );
        let again = set_key(
            &out,
            Format::Toml,
            "plugins.\"io.containerd.snapshotter.v1.devmapper\"",
            "pool_name",
            &Value::String("flintlock-dev-thinpool".into()),
        )
        .expect("set");
        assert_eq!(again, out, "setting the same value changes nothing");
        assert!(set_key("a = [", Format::Toml, "", "a", &Value::Integer(1)).is_err());
    }

    #[test]
    fn ini_and_unit_keys_are_replaced_added_or_get_a_section() {
        let unit = "[Unit]\nDescription=x\n\n[Service]\nExecStart=/bin/a\nRestart=no\n\n[Install]\nWantedBy=multi-user.target\n";
        let out = set_key(
            unit,
            Format::Ini,
            "Service",
            "Restart",
            &Value::String("always".into()),
        );
        assert_eq!(
            out.as_deref(),
            Ok(
                "[Unit]\nDescription=x\n\n[Service]\nExecStart=/bin/a\nRestart=always\n\n[Install]\nWantedBy=multi-user.target\n"
            )
        );
        let out = set_key(
            unit,
            Format::Ini,
            "Service",
            "RestartSec",
            &Value::Integer(5),
        )
        .expect("set");
        assert!(
            out.contains("Restart=no\nRestartSec=5\n\n[Install]"),
            "{out}"
        );
        let out = set_key(
            "",
            Format::Ini,
            "Service",
            "Type",
            &Value::String("simple".into()),
        );
        assert_eq!(out.as_deref(), Ok("[Service]\nType=simple\n"));
    }

    #[test]
    fn repeated_keys_continuations_line_endings_and_newlines() {
        let env = |text: &str, v: &str| {
            set_key(
                text,
                Format::Ini,
                "Service",
                "Environment",
                &Value::String(v.into()),
            )
        };
        // Environment=C=3 adds beside A=1; Environment=A=2 edits A only.
        let unit = "[Service]\nEnvironment=A=1\nEnvironment=B=2\n";
        assert_eq!(
            env(unit, "C=3").as_deref(),
            Ok("[Service]\nEnvironment=A=1\nEnvironment=B=2\nEnvironment=C=3\n")
        );
        assert_eq!(
            env(unit, "A=9").as_deref(),
            Ok("[Service]\nEnvironment=A=9\nEnvironment=B=2\n")
        );
        // Other repeated keys: an error unless the caller says how.
        let pre = "[Service]\nExecStartPre=/bin/a\nExecStartPre=/bin/b\n";
        let v = Value::String("/bin/c".into());
        assert!(set_key(pre, Format::Ini, "Service", "ExecStartPre", &v).is_err());
        let added = set_key_with(
            pre,
            Format::Ini,
            "Service",
            "ExecStartPre",
            &v,
            &Repeat::Add,
        )
        .expect("add");
        assert_eq!(
            added,
            "[Service]\nExecStartPre=/bin/a\nExecStartPre=/bin/b\nExecStartPre=/bin/c\n"
        );
        let again = set_key_with(
            &added,
            Format::Ini,
            "Service",
            "ExecStartPre",
            &v,
            &Repeat::Add,
        )
        .expect("add");
        assert_eq!(again, added);
        // A continued line is one entry, replaced whole.
        let cont = "[Service]\nExecStart=/bin/x \\\n  --flag\nRestart=no\n";
        let out = set_key(
            cont,
            Format::Ini,
            "Service",
            "ExecStart",
            &Value::String("/bin/y".into()),
        )
        .expect("set");
        assert_eq!(out, "[Service]\nExecStart=/bin/y\nRestart=no\n");
        // Already set: the text comes back byte for byte, CRLF and missing newline included.
        for text in [
            "[Service]\r\nRestart=always\r\n",
            "[Service]\nRestart=always",
        ] {
            let out = set_key(
                text,
                Format::Ini,
                "Service",
                "Restart",
                &Value::String("always".into()),
            );
            assert_eq!(out.as_deref(), Ok(text));
        }
        let crlf = set_key(
            "[Service]\r\nRestart=no\r\n",
            Format::Ini,
            "Service",
            "Restart",
            &Value::String("always".into()),
        );
        assert_eq!(crlf.as_deref(), Ok("[Service]\r\nRestart=always\r\n"));
        // A value with a newline would be a second line: refused.
        assert!(
            set_key(
                unit,
                Format::Ini,
                "Service",
                "Restart",
                &Value::String("no\nUser=root".into())
            )
            .is_err()
        );
    }
}
