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

/// `text` with `section.key = value`. `section` is a dotted TOML key path
/// (`plugins."io.containerd.snapshotter.v1.devmapper"`), or an INI section name (`Service`).
pub fn set_key(
    text: &str,
    format: Format,
    section: &str,
    key: &str,
    value: &Value,
) -> Result<String, String> {
    match format {
        Format::Toml => set_toml(text, section, key, value),
        Format::Ini => Ok(set_ini(text, section, key, value)),
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

fn set_ini(text: &str, section: &str, key: &str, value: &Value) -> String {
    let wanted_line = format!("{key}={value}");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let header = format!("[{section}]");
    let Some(start) = lines.iter().position(|l| l.trim() == header) else {
        let mut out = text.to_string();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!("{header}\n{wanted_line}\n"));
        return out;
    };
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.trim_start().starts_with('['))
        .map_or(lines.len(), |i| start + 1 + i);
    let is_key = |line: &str| {
        line.split_once('=')
            .is_some_and(|(k, _)| k.trim() == key && !line.trim_start().starts_with(['#', ';']))
    };
    match (start + 1..end).find(|&i| is_key(&lines[i])) {
        Some(i) => {
            let current = lines[i]
                .split_once('=')
                .map(|(_, v)| v.trim())
                .unwrap_or("");
            if current != value.to_string() {
                lines[i] = wanted_line;
            }
        }
        None => {
            // After the section's last non-blank line, so blank separators stay in place.
            let mut at = end;
            while at > start + 1 && lines[at - 1].trim().is_empty() {
                at -= 1;
            }
            lines.insert(at, wanted_line);
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
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
}
