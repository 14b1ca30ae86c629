//! Templates for the files remediations write (Jinja syntax through minijinja): found by name
//! in the remediation roots' `templates/` folders, rendered strictly (a var the template
//! names but nobody set is an error at the template's file and line, never an empty string in
//! a config file), with trailing newlines kept.

use std::collections::BTreeMap;
use std::path::PathBuf;

pub fn render(
    template_dirs: &[PathBuf],
    name: &str,
    context: &BTreeMap<String, serde_json::Value>,
) -> Result<String, String> {
    if name.contains("..") || name.starts_with('/') {
        return Err(format!(
            "template name `{name}` must be a path inside templates/"
        ));
    }
    let path = template_dirs
        .iter()
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            let dirs: Vec<String> = template_dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            format!("no template `{name}` in {}", dirs.join(", "))
        })?;
    // A template becomes a file root's services read: refused like a script when others
    // than its owner could change it.
    crate::trust::admit(&path)?;
    let source = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .build()
        .map_err(|e| e.to_string())?;
    env.set_syntax(syntax);
    let display = path.display().to_string();
    env.add_template(&display, &source)
        .map_err(|e| template_error(&display, &e))?;
    let context: BTreeMap<&str, minijinja::Value> = context
        .iter()
        .map(|(k, v)| {
            (
                k.as_str(),
                minijinja::Value::from(minijinja::value::Serde(v)),
            )
        })
        .collect();
    env.get_template(&display)
        .and_then(|t| t.render(&context))
        .map_err(|e| template_error(&display, &e))
}

fn template_error(file: &str, e: &minijinja::Error) -> String {
    match e.line() {
        Some(line) => format!(
            "{file}:{line}: {}",
            e.detail().unwrap_or(&e.kind().to_string())
        ),
        None => format!("{file}: {e}"),
    }
}
