//! The layers of docs/ARCHITECTURE.md, enforced: a module may use modules of its own layer or
//! below, never above. Host probes in particular import nothing from the Rhai bindings, the
//! script model, the runner or the reporters.

use std::collections::BTreeSet;
use std::path::Path;

/// The layer of each top-level module of `src/`, bottom first.
fn layer(module: &str) -> Option<usize> {
    Some(match module {
        "text" | "limits" | "budget" | "error" | "outcome" | "interrupt" | "secrets" => 0,
        "host" | "vars" | "plan" | "waivers" | "trust" => 1,
        "bindings" => 2,
        "script" => 3,
        "runner" | "remediator" | "selection" | "target" => 4,
        "report" => 5,
        "commands" | "cli" | "fuzz" | "lib" | "main" => 6,
        _ => return None,
    })
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut violations = BTreeSet::new();
    for path in &all {
        let rel = path.strip_prefix(&src).expect("under src");
        let module = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .map(|s| s.trim_end_matches(".rs").to_string())
            .unwrap_or_default();
        let Some(own) = layer(&module) else {
            violations.insert(format!("{}: module `{module}` has no layer", rel.display()));
            continue;
        };
        let text = std::fs::read_to_string(path).expect("read");
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or("");
            for (i, _) in code.match_indices("crate::") {
                let used: String = code[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if used.is_empty() || used == module {
                    continue;
                }
                match layer(&used) {
                    Some(l) if l <= own => {}
                    Some(l) => {
                        violations.insert(format!(
                            "{}: `{module}` (layer {own}) uses `{used}` (layer {l})",
                            rel.display()
                        ));
                    }
                    None => {}
                }
            }
        }
    }
    assert!(violations.is_empty(), "{violations:#?}");
}

/// Output leaves only through the redaction of `crate::secrets`: no `eprintln!`, `println!`
/// or bare standard stream written outside `secrets.rs` and `report::stdout()`.
#[test]
fn every_output_goes_through_the_redaction() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let forbidden = [
        "eprintln!",
        "eprint!",
        "println!",
        "print!(",
        "dbg!",
        "stderr().lock()",
        "stdout().lock()",
        "(std::io::stderr()",
        "(std::io::stdout()",
        "(io::stderr()",
        "(io::stdout()",
    ];
    let mut violations = BTreeSet::new();
    for path in &all {
        let rel = path.strip_prefix(&src).expect("under src");
        let allowed: &[&str] = match rel.to_str() {
            Some("secrets.rs") => continue,
            // The one standard output, wrapped in the redacting writer right there.
            Some("report/mod.rs") => &["stdout().lock()"],
            _ => &[],
        };
        let text = std::fs::read_to_string(path).expect("read");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for f in forbidden.iter().filter(|f| !allowed.contains(f)) {
                if code.contains(f) {
                    violations.insert(format!("{}:{}: `{f}`", rel.display(), n + 1));
                }
            }
        }
    }
    assert!(violations.is_empty(), "{violations:#?}");
}
