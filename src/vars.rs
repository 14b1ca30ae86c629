//! Vars: the values check scripts read with `var("name")`.
//!
//! Layers, later wins: the `vars.toml` at the root of each checks directory (in argument order),
//! then each `--vars FILE`, then each `--var KEY=VALUE`. Values keep their TOML types, so
//! `--var thinpool_fail_percent=90` is an integer and `--var images='["a:1"]'` an array; a value
//! that does not parse as TOML is taken as a plain string (`--var parent_iface=eth0`).

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};

/// The merged vars of one run, as TOML values.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    values: BTreeMap<String, toml::Value>,
}

impl Vars {
    pub fn get(&self, key: &str) -> Option<&toml::Value> {
        self.values.get(key)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &toml::Value)> {
        self.values.iter()
    }

    pub fn set(&mut self, key: impl Into<String>, value: toml::Value) {
        self.values.insert(key.into(), value);
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
        self.values.extend(table);
        Ok(())
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
        self.values.insert(key.to_string(), parse_value(raw));
        Ok(())
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
