//! The layers of docs/ARCHITECTURE.md, enforced: a module may use modules of its own layer or
//! below, never above. Host probes in particular import nothing from the Rhai bindings, the
//! script model, the runner or the reporters.

use std::collections::BTreeSet;
use std::path::Path;

/// The layer of each top-level module of `src/`, bottom first.
fn layer(module: &str) -> Option<usize> {
    Some(match module {
        "text" | "limits" | "budget" | "error" | "outcome" | "interrupt" | "secrets" => 0,
        "host" | "vars" | "plan" | "waivers" | "trust" | "state" => 1,
        "probe" => 2,
        "bindings" => 3,
        "script" => 4,
        "runner" | "remediator" | "selection" | "target" => 5,
        "report" => 6,
        "commands" | "cli" | "fuzz" | "lib" | "main" => 7,
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

/// The read-only primitives reach the host only through the seam (`src/probe/`): no binding
/// but the remediations' `fix::` calls a host read or blocks on host I/O itself, so a recorded
/// or replayed run, and the run's snapshot, cannot be bypassed by accident.
#[test]
fn bindings_ask_the_host_only_through_the_seam() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bindings");
    let mut all = Vec::new();
    files(&dir, &mut all);
    let forbidden = [
        "block_on(",
        "cmd::run(",
        "fs::stat(",
        "fs::read(",
        "fs::kind(",
        "fs::target_kind(",
        "free_space(",
        "read_acl(",
        "Identity::lookup(",
        "glob::glob(",
        "which::which(",
        "procfs::listeners(",
        "procfs::unix_listeners(",
        "procfs::find_processes(",
        "procfs::cpu_flags(",
        "link::link(",
        "link::links(",
        "net::connect(",
        "sys::hostname(",
        "sys::uid(",
        "sys::kernel_release(",
        "systemd::unit(",
        "Dmsetup {",
        "kmod::Probe",
        "grpc::client(",
        "std::fs::",
        "SystemTime::now(",
    ];
    let mut violations = BTreeSet::new();
    for path in &all {
        let rel = path.strip_prefix(&dir).expect("under bindings");
        if rel.starts_with("fix") {
            continue;
        }
        let text = std::fs::read_to_string(path).expect("read");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for f in forbidden.iter().filter(|f| code.contains(*f)) {
                violations.insert(format!("bindings/{}:{}: `{f}`", rel.display(), n + 1));
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

/// The file a `crate::`/`super::` path names: the longest prefix of it that is a file of
/// `src/` (`a/b.rs` or `a/b/mod.rs`).
fn file_of(src: &Path, segments: &[String]) -> Option<std::path::PathBuf> {
    for len in (1..=segments.len()).rev() {
        let base = segments[..len].join("/");
        for candidate in [format!("{base}.rs"), format!("{base}/mod.rs")] {
            let path = src.join(&candidate);
            if path.is_file() {
                return Some(path);
            }
        }
    }
    None
}

/// The module path of a file: `src/commands/run.rs` is `commands::run`, `src/host/mod.rs`
/// is `host`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .components()
        .filter_map(|c| c.as_os_str().to_str())
        .map(|s| s.trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

#[test]
fn no_two_files_import_from_each_other_even_through_others() {
    // A file's edges: every `crate::x::y` and `super::y` it names, resolved to a file. A
    // module's own children (`mod x;`) are not uses. A cycle of files is a knot no layer rule
    // sees (issue 23: commands/run.rs and commands/fix.rs used each other).
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut edges: std::collections::BTreeMap<std::path::PathBuf, BTreeSet<std::path::PathBuf>> =
        std::collections::BTreeMap::new();
    for path in &all {
        let own = module_of(&src, path);
        let text = std::fs::read_to_string(path).expect("read");
        let mut out = BTreeSet::new();
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or("");
            for (prefix, base) in [
                ("crate::", Vec::new()),
                ("super::", {
                    let mut parent = own.clone();
                    // In a/b.rs and in a/b/mod.rs alike, `super` is the parent of module a::b.
                    parent.pop();
                    parent
                }),
            ] {
                for (i, _) in code.match_indices(prefix) {
                    if prefix == "super::" && i >= 1 && code[..i].ends_with("::") {
                        continue;
                    }
                    let rest: String = code[i + prefix.len()..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                        .collect();
                    let mut segments = base.clone();
                    segments.extend(
                        rest.split("::")
                            .filter(|s| !s.is_empty())
                            .map(str::to_string),
                    );
                    if let Some(target) = file_of(&src, &segments)
                        && target != *path
                    {
                        out.insert(target);
                    }
                }
            }
        }
        edges.insert(path.clone(), out);
    }
    // Depth-first search for a back edge.
    fn visit(
        node: &std::path::PathBuf,
        edges: &std::collections::BTreeMap<std::path::PathBuf, BTreeSet<std::path::PathBuf>>,
        stack: &mut Vec<std::path::PathBuf>,
        done: &mut BTreeSet<std::path::PathBuf>,
        cycles: &mut Vec<String>,
    ) {
        if done.contains(node) {
            return;
        }
        if let Some(at) = stack.iter().position(|n| n == node) {
            let names: Vec<String> = stack[at..]
                .iter()
                .chain(std::iter::once(node))
                .map(|p| p.display().to_string())
                .collect();
            cycles.push(names.join(" -> "));
            return;
        }
        stack.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            visit(next, edges, stack, done, cycles);
        }
        stack.pop();
        done.insert(node.clone());
    }
    let mut cycles = Vec::new();
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        visit(node, &edges, &mut Vec::new(), &mut done, &mut cycles);
    }
    assert!(
        cycles.is_empty(),
        "files that use each other:\n{}",
        cycles.join("\n")
    );
}
