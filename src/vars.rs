//! Vars: the values check scripts read with `var("name")`.
//!
//! Layers, later wins: the `vars.toml` at the root of each checks directory (in argument order),
//! then each `--vars FILE`, then each `--var KEY=VALUE`. Values keep their TOML types, so
//! `--var thinpool_fail_percent=90` is an integer and `--var images='["a:1"]'` an array; a value
//! that does not parse as TOML is taken as a plain string (`--var parent_iface=eth0`).

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};

/// The merged vars of one run, as TOML values, with where each was set.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    values: BTreeMap<String, toml::Value>,
    /// The file (or `--var KEY=..`) that set each var, for the type error that names both.
    origins: BTreeMap<String, String>,
    /// Vars that only a `--var` flag set: no vars file knows them.
    flag_only: Vec<String>,
}

/// A TOML value's type, as the type error names it.
fn type_name(value: &toml::Value) -> &'static str {
    match value {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a datetime",
        toml::Value::Array(_) => "a list",
        toml::Value::Table(_) => "a table",
    }
}

impl Vars {
    pub fn get(&self, key: &str) -> Option<&toml::Value> {
        self.values.get(key)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &toml::Value)> {
        self.values.iter()
    }

    /// Vars that a `--var` flag set and no vars file defines.
    pub fn flag_only(&self) -> &[String] {
        &self.flag_only
    }

    /// Sets a value as the run itself decides it (`--target`, a replayed recording's vars).
    pub fn set(&mut self, key: impl Into<String>, value: toml::Value) {
        let key = key.into();
        self.origins.insert(key.clone(), "the run".into());
        self.values.insert(key, value);
    }

    /// Merges a vars file over the current values; a missing optional file is not an error.
    pub fn merge_file(&mut self, path: &Path) -> Result<()> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let table: toml::Table = toml::from_str(&text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|span| line_and_column(&text, span.start))
                .unwrap_or((1, 1));
            Error::VarsFile {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().trim().replace('\n', " "),
            }
        })?;
        for key in LISTS {
            if let Some(value) = table.get(key)
                && !is_list_of_strings(value)
            {
                let line = text
                    .lines()
                    .position(|l| l.trim_start().starts_with(key))
                    .map_or(1, |i| i + 1);
                return Err(Error::VarsFile {
                    path: path.to_path_buf(),
                    line,
                    column: 1,
                    message: format!("`{key}` must be a list of strings"),
                });
            }
        }
        for (key, value) in table {
            self.merge_value(key, value, path.display().to_string())?;
        }
        Ok(())
    }

    /// Sets a value; the lists in [`LISTS`] accumulate over layers instead. A value of another
    /// type than the one it replaces is an error naming both places (integers and floats are
    /// both numbers and may stand for each other).
    fn merge_value(&mut self, key: String, value: toml::Value, origin: String) -> Result<()> {
        let value = match (self.values.get(&key), value) {
            // Numbers are numbers: an integer where a float was becomes that float, and a
            // float may stand where an integer was (`canary_poll = 0.5` over the default 1).
            (Some(toml::Value::Float(_)), toml::Value::Integer(i)) => toml::Value::Float(i as f64),
            (Some(toml::Value::Integer(_)), toml::Value::Float(f)) => toml::Value::Float(f),
            (Some(old), new) if std::mem::discriminant(old) != std::mem::discriminant(&new) => {
                return Err(Error::VarType {
                    was: type_name(old),
                    was_at: self.origins.get(&key).cloned().unwrap_or_default(),
                    now: type_name(&new),
                    now_at: origin,
                    key,
                });
            }
            (_, new) => new,
        };
        self.origins.insert(key.clone(), origin);
        if LISTS.contains(&key.as_str())
            && let (Some(toml::Value::Array(have)), toml::Value::Array(more)) =
                (self.values.get_mut(&key), &value)
        {
            for item in more {
                if !have.contains(item) {
                    have.push(item.clone());
                }
            }
            return Ok(());
        }
        self.values.insert(key, value);
        Ok(())
    }

    /// Registers the run's secret values with `crate::secrets`: the string values of the vars
    /// named in `secrets` and of vars whose names end in `_token`, `_password` or `_secret`,
    /// entries of any map var whose key is `authorization` or ends in `token`,
    /// `password` or `secret` (gRPC metadata), values after secret flags in any var, and the
    /// flags in `secret_flags`. Returns a warning for each named value too short to redact.
    pub fn register_secrets(&self) -> Vec<String> {
        let names = |key: &str| -> Vec<String> {
            match self.values.get(key) {
                Some(toml::Value::Array(items)) => items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            }
        };
        crate::secrets::add_flags(names("secret_flags").iter().map(String::as_str));
        let listed = names("secrets");
        let mut warnings = Vec::new();
        for (name, value) in &self.values {
            if LISTS.contains(&name.as_str()) {
                continue;
            }
            let by_name = listed.contains(name)
                || ["_token", "_password", "_secret"]
                    .iter()
                    .any(|s| name.to_ascii_lowercase().ends_with(s));
            let mut short = false;
            mark(value, by_name, &mut short);
            if short && listed.contains(name) {
                warnings.push(format!(
                    "secret var `{name}` has a value shorter than {} characters, which cannot be redacted",
                    crate::secrets::MIN_LEN
                ));
            }
        }
        for name in &listed {
            if !self.values.contains_key(name) {
                warnings.push(format!(
                    "`secrets` names `{name}`, which no vars file or --var sets"
                ));
            }
        }
        warnings
    }

    /// Applies one `KEY=VALUE` flag.
    pub fn merge_flag(&mut self, arg: &str) -> Result<()> {
        let Some((key, raw)) = arg.split_once('=') else {
            return Err(Error::VarFlag {
                arg: arg.to_string(),
                message: "expected KEY=VALUE".to_string(),
            });
        };
        let key = key.trim();
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(Error::VarFlag {
                arg: arg.to_string(),
                message: "KEY must be letters, digits, `_` or `-`".to_string(),
            });
        }
        if !self.values.contains_key(key) {
            self.flag_only.push(key.to_string());
        }
        // Where the default is a string, the flag's text is that string as typed
        // (`--var parent_iface=123` is "123", not the number).
        let value = match self.values.get(key) {
            Some(toml::Value::String(_)) => toml::Value::String(raw.to_string()),
            _ => parse_value(raw),
        };
        if LISTS.contains(&key) && !is_list_of_strings(&value) {
            return Err(Error::VarFlag {
                arg: arg.to_string(),
                message: format!("`{key}` must be a list of strings, e.g. {key}='[\"name\"]'"),
            });
        }
        self.merge_value(key.to_string(), value, format!("--var {arg}"))
    }
}

/// Vars that add up over the layers rather than replace: which vars are secret, and which
/// command-line flags take secret values.
const LISTS: [&str; 2] = ["secrets", "secret_flags"];

fn is_list_of_strings(value: &toml::Value) -> bool {
    value
        .as_array()
        .is_some_and(|items| items.iter().all(toml::Value::is_str))
}

/// Registers the strings of a var: all of them when the var is secret, otherwise those under
/// secret map keys and after secret flags.
fn mark(value: &toml::Value, secret: bool, short: &mut bool) {
    match value {
        toml::Value::Array(items) => items.iter().for_each(|v| mark(v, secret, short)),
        toml::Value::Table(table) => {
            for (key, v) in table {
                mark(v, secret || crate::secrets::is_secret_name(key), short);
            }
        }
        toml::Value::String(text) if !secret => crate::secrets::discover(text),
        toml::Value::String(text) if text.is_empty() => {}
        toml::Value::String(text) => *short |= !crate::secrets::add_credential(text),
        // Only text is a secret: registering `true` or `80` would mask every one of them in
        // every report (a flag such as `require_token = true` is no secret).
        _ => {}
    }
}

/// Parses a flag value as a TOML scalar or array, falling back to a plain string.
fn parse_value(raw: &str) -> toml::Value {
    let wrapped = format!("value = {raw}");
    match toml::from_str::<toml::Table>(&wrapped) {
        Ok(mut table) => table.remove("value").unwrap_or_else(|| raw.into()),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_values_keep_toml_types_and_fall_back_to_strings() {
        assert_eq!(parse_value("80"), toml::Value::Integer(80));
        assert_eq!(parse_value("true"), toml::Value::Boolean(true));
        assert_eq!(parse_value("eth0"), toml::Value::String("eth0".into()));
        assert_eq!(
            parse_value("\"quoted\""),
            toml::Value::String("quoted".into())
        );
        assert_eq!(
            parse_value("[\"a:1\", \"b:2\"]"),
            toml::Value::Array(vec!["a:1".into(), "b:2".into()])
        );
        // A value that merely starts like TOML but is not valid stays as typed.
        assert_eq!(parse_value("1.2.3"), toml::Value::String("1.2.3".into()));
    }

    #[test]
    fn later_layers_win() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("v.toml");
        std::fs::write(&file, "a = 1\nb = \"file\"\n").expect("write");
        let mut vars = Vars::default();
        vars.set("a", toml::Value::Integer(0));
        vars.merge_file(&file).expect("merge");
        vars.merge_flag("b=flag").expect("flag");
        assert_eq!(vars.get("a"), Some(&toml::Value::Integer(1)));
        assert_eq!(vars.get("b"), Some(&toml::Value::String("flag".into())));
    }

    #[test]
    fn malformed_file_names_file_line_and_column() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "a = 1\nb = = 2\n").expect("write");
        let err = Vars::default().merge_file(&file).expect_err("must fail");
        let text = err.to_string();
        assert!(text.contains("bad.toml:2:"), "{text}");
        assert!(!text.contains('\n'), "one line: {text}");
    }

    #[test]
    fn flag_without_equals_is_rejected() {
        let err = Vars::default()
            .merge_flag("novalue")
            .expect_err("must fail");
        assert_eq!(err.to_string(), "--var `novalue`: expected KEY=VALUE");
    }

    #[test]
    fn columns_count_characters() {
        assert_eq!(line_and_column("é = x\nab", 7), (2, 1));
        assert_eq!(line_and_column("éé=", 4), (1, 3));
    }
}
