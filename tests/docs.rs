//! The docs cannot drift: every code block in README.md and docs/ is run by a test or says why
//! it cannot be, report examples are what the binary prints, every `hostscript` command line
//! a page shows parses, and every Rhai snippet lints.
//!
//! A block is marked by the line before it:
//! - `<!-- example: tests/FILE.rs FN -->`: FN reads this page and runs the block;
//! - `<!-- example: output of `CMD` -->`: the block is what `CMD` prints, run from the
//!   repository's root (`UPDATE_DOCS=1` rewrites it; durations are compared as `N ms`);
//! - `<!-- example: not run: REASON -->` (or `not run as written:`): why it cannot run here,
//!   and where its behaviour is tested if it is.
//!
//! docs/primitives.md and docs/suite.md are generated whole and checked in tests/cli.rs.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;

use crate::support::Test;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every page a user reads, by its path from the repository's root.
fn pages() -> Vec<(String, String)> {
    let mut names = vec![PathBuf::from("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .expect("docs/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .filter(|p| {
            !matches!(
                p.file_name().and_then(|n| n.to_str()),
                Some("primitives.md" | "suite.md")
            )
        })
        .map(|p| {
            p.strip_prefix(repo())
                .expect("under the repo")
                .to_path_buf()
        })
        .collect();
    docs.sort();
    names.extend(docs);
    names
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(repo().join(&p)).expect("page");
            (p.display().to_string(), text)
        })
        .collect()
}

struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    lang: String,
    body: String,
    /// The text of `<!-- example: TEXT -->` on the last non-empty line before the fence.
    mark: Option<String>,
}

fn blocks(text: &str) -> Vec<Block> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if let Some(lang) = lines[i].strip_prefix("```") {
            let start = i;
            let mut body = String::new();
            i += 1;
            while i < lines.len() && !lines[i].starts_with("```") {
                body.push_str(lines[i]);
                body.push('\n');
                i += 1;
            }
            let mark = lines[..start]
                .iter()
                .rev()
                .find(|l| !l.trim().is_empty())
                .and_then(|l| l.trim().strip_prefix("<!-- example:"))
                .and_then(|l| l.strip_suffix("-->"))
                .map(|m| m.trim().to_string());
            out.push(Block {
                line: start + 1,
                lang: lang.trim().to_string(),
                body,
                mark,
            });
        }
        i += 1;
    }
    out
}

/// The body of `fn name(` in a test file, up to the next `#[test]` or end of file.
fn test_body(file: &str, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(repo().join(file)).ok()?;
    let start = text.find(&format!("fn {name}("))?;
    let rest = &text[start..];
    let end = rest[1..].find("\n#[test]").map_or(rest.len(), |e| e + 1);
    Some(rest[..end].to_string())
}

#[test]
fn every_code_block_is_tested_or_marked() {
    let mut problems = Vec::new();
    let mut counted = 0;
    for (page, text) in pages() {
        for b in blocks(&text) {
            counted += 1;
            let at = format!("{page}:{}", b.line);
            let Some(mark) = b.mark else {
                problems.push(format!(
                    "{at}: a ```{} block with no `<!-- example: .. -->` line before it",
                    b.lang
                ));
                continue;
            };
            if let Some(reason) = mark
                .strip_prefix("not run:")
                .or_else(|| mark.strip_prefix("not run as written:"))
            {
                if reason.trim().len() < 10 {
                    problems.push(format!("{at}: `not run:` needs its reason"));
                }
            } else if let Some(cmd) = mark.strip_prefix("output of ") {
                if !(cmd.starts_with("`hostscript ") && cmd.ends_with('`')) {
                    problems.push(format!("{at}: `output of` takes `hostscript ...`"));
                }
            } else {
                let mut words = mark.split_whitespace();
                let (Some(file), Some(name), None) = (words.next(), words.next(), words.next())
                else {
                    problems.push(format!("{at}: unknown mark `{mark}`"));
                    continue;
                };
                match test_body(file, name) {
                    None => problems.push(format!("{at}: no test `{name}` in {file}")),
                    // The test must read this page (or every page), or it tests a copy.
                    Some(body) if !body.contains(&page) && !body.contains("pages()") => {
                        problems.push(format!("{at}: {file} `{name}` does not read {page}"));
                    }
                    Some(_) => {}
                }
            }
        }
    }
    assert!(counted > 30, "only {counted} blocks found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Run from the repository's root with the width, colour and environment fixed.
fn hostscript(args: &[String]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hostscript"))
        .args(args)
        .current_dir(repo())
        .env("COLUMNS", "100")
        .env("NO_COLOR", "1")
        .env_remove("HOSTSCRIPT_FORMAT")
        .env_remove("CI")
        .output()
        .expect("run hostscript")
}

/// Durations differ from run to run; everything else must not.
fn normalised(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut kept = String::new();
        let mut digits = String::new();
        let chars: Vec<char> = line.trim_end().chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c.is_ascii_digit() {
                digits.push(c);
            } else {
                let rest: String = chars[i..].iter().take(3).collect();
                if !digits.is_empty() && rest == " ms" {
                    kept.push('N');
                } else {
                    kept.push_str(&digits);
                }
                digits.clear();
                kept.push(c);
            }
            i += 1;
        }
        kept.push_str(&digits);
        // Nagios perfdata: `duration=0.122s`.
        if let Some(at) = kept.find("duration=") {
            let rest = &kept[at + "duration=".len()..];
            let len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            kept = format!("{}duration=N{}", &kept[..at], &rest[len..]);
        }
        // JSON durations.
        if let Some((key, _)) = kept.split_once("\"duration_ms\": ") {
            let tail = if kept.trim_end().ends_with(',') {
                ","
            } else {
                ""
            };
            kept = format!("{key}\"duration_ms\": N{tail}");
        }
        out.push_str(&kept);
        out.push('\n');
    }
    out
}

#[test]
fn document_outputs_are_what_the_binary_prints() {
    let update = std::env::var_os("UPDATE_DOCS").is_some();
    let mut problems = Vec::new();
    let mut ran = 0;
    for (page, text) in pages() {
        // Replacements by line: (first line of the body, its line count, new body).
        let mut replacements: Vec<(usize, usize, String)> = Vec::new();
        for b in blocks(&text) {
            let Some(cmd) = b
                .mark
                .as_deref()
                .and_then(|m| m.strip_prefix("output of `"))
            else {
                continue;
            };
            let cmd = cmd.trim_end_matches('`');
            let words = shlex::split(cmd).expect("the command splits as a shell would");
            let out = hostscript(&words[1..]);
            ran += 1;
            let stdout = String::from_utf8_lossy(&out.stdout);
            // A console block shows the prompt and the command, then what it printed.
            let expected = if b.lang == "console" {
                format!("$ {cmd}\n{stdout}")
            } else {
                stdout.to_string()
            };
            if normalised(&expected) != normalised(&b.body) {
                if update {
                    replacements.push((b.line, b.body.lines().count(), expected));
                } else {
                    problems.push(format!(
                        "{page}:{}: `{cmd}` prints (exit {:?}):\n{expected}\nbut the page shows:\n{}\n(UPDATE_DOCS=1 cargo test --test integration -- docs:: rewrites it)",
                        b.line,
                        out.status.code(),
                        b.body
                    ));
                }
            }
        }
        if !replacements.is_empty() {
            let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
            // From the end, so earlier line numbers stay right.
            for (fence, count, body) in replacements.into_iter().rev() {
                lines.splice(fence..fence + count, body.lines().map(str::to_string));
            }
            let mut page_text = lines.join("\n");
            page_text.push('\n');
            std::fs::write(repo().join(&page), page_text).expect("rewrite page");
        }
    }
    assert!(ran >= 3, "only {ran} generated examples");
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// Every `hostscript ...` line of a `sh` or `console` block (and `cargo run -- ...`) is one
/// the binary's argument parser accepts: no flag, value or subcommand a page shows is gone.
#[test]
fn documented_command_lines_parse() {
    let mut problems = Vec::new();
    let mut parsed = 0;
    for (page, text) in pages() {
        for b in blocks(&text) {
            if b.lang != "sh" && b.lang != "console" {
                continue;
            }
            let joined = b.body.replace("\\\n", " ");
            for line in joined.lines() {
                let line = line.trim().trim_start_matches("$ ").trim();
                let line = line.strip_prefix("sudo ").unwrap_or(line);
                let args = if let Some(rest) = line.strip_prefix("hostscript ") {
                    rest
                } else if let Some((_, rest)) = line
                    .strip_prefix("cargo run")
                    .and_then(|r| r.split_once(" -- "))
                {
                    rest
                } else {
                    continue;
                };
                // What the shell does after the command: comments, pipes, redirections.
                let mut cut = args.len();
                for stop in [" #", " |", " >", " &&", " ||", ";"] {
                    if let Some(at) = args.find(stop) {
                        cut = cut.min(at);
                    }
                }
                let Some(mut words) = shlex::split(&args[..cut]) else {
                    problems.push(format!("{page}:{}: `{line}` does not split", b.line));
                    continue;
                };
                words.insert(0, "hostscript".into());
                parsed += 1;
                if let Err(e) = hostscript::cli::Cli::try_parse_from(&words) {
                    use clap::error::ErrorKind;
                    if !matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                        let first = e.to_string();
                        let first = first.lines().next().unwrap_or_default().to_string();
                        problems.push(format!("{page}:{}: `{line}`: {first}", b.line));
                    }
                }
            }
        }
    }
    assert!(parsed > 30, "only {parsed} command lines");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A Rhai snippet that is no whole file (no `check(` or `remediation(`) is linted as the body
/// of a function: it compiles, and its primitives and vars exist with those arities.
#[test]
fn rhai_snippets_lint() {
    let mut t = Test::new();
    let mut n = 0;
    for (page, text) in pages() {
        for b in blocks(&text) {
            if b.lang != "rhai" || b.body.contains("check(#{") || b.body.contains("remediation(#{")
            {
                continue;
            }
            if b.mark.as_deref() != Some("tests/docs.rs rhai_snippets_lint") {
                continue;
            }
            n += 1;
            t = t.file(
                &format!("snippets/s{n}.rhai"),
                &format!("// {page}:{}\nfn snippet() {{\n{}}}\n", b.line, b.body),
            );
        }
    }
    assert!(n >= 2, "only {n} snippets");
    let checks = repo().join("checks");
    let out = t.run(&["lint", checks.to_str().expect("utf-8"), "snippets"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
}

/// The layout in docs/CONTRIBUTING.md names paths that exist.
#[test]
fn the_layout_names_paths_that_exist() {
    let page = std::fs::read_to_string(repo().join("docs/CONTRIBUTING.md")).expect("page");
    let layout = blocks(&page)
        .into_iter()
        .find(|b| b.body.starts_with("src/cli.rs"))
        .expect("the layout block");
    let mut missing = Vec::new();
    for line in layout.body.lines() {
        let Some(first) = line.split_whitespace().next() else {
            continue;
        };
        if line.starts_with(' ') || !(first.contains('/') || first.ends_with(".rs")) {
            continue;
        }
        if !repo().join(first).exists() {
            missing.push(first.to_string());
        }
    }
    assert!(missing.is_empty(), "{missing:?}");
}

/// docs/OPERATING.md's waiver file waives a failing check as the text says.
#[test]
fn the_waiver_example_waives() {
    let page = std::fs::read_to_string(repo().join("docs/OPERATING.md")).expect("page");
    let waiver = blocks(&page)
        .into_iter()
        .find(|b| b.body.contains("[[waiver]]"))
        .expect("the waiver block");
    let t = Test::new()
        .file(
            "c/a.rhai",
            &crate::support::check("thinpool.usage", r#"fail("96% used")"#),
        )
        .file("c/waivers.toml", &waiver.body);
    let out = t.run(&["run", "c", "--format", "json"]);
    assert_eq!(out.status("thinpool.usage"), "skip", "{}", out.stdout);
    assert!(
        out.message("thinpool.usage")
            .starts_with("waived: pool migration, OPS-123 (until "),
        "{}",
        out.stdout
    );
    // A waived check counts as checked (docs/OPERATING.md, exit codes).
    assert_eq!(out.code, 0, "{}", out.stderr);
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut fence = false;
    for line in text.lines() {
        if line.starts_with("```") {
            fence = !fence;
        }
        if !fence && let Some(heading) = line.strip_prefix('#') {
            found.push(anchor(heading.trim_start_matches('#')));
        }
        for (at, _) in line.match_indices("<a id=\"") {
            if let Some(id) = line[at + 7..].split('"').next() {
                found.push(id.to_string());
            }
        }
    }
    found
}

/// Every link between the pages (README.md, docs/, the generated ones too) leads to a file
/// that exists and, with `#anchor`, to a heading of it.
#[test]
fn links_between_pages_resolve() {
    let mut all = pages();
    for generated in ["docs/primitives.md", "docs/suite.md"] {
        let text = std::fs::read_to_string(repo().join(generated)).expect("page");
        all.push((generated.to_string(), text));
    }
    let mut broken = Vec::new();
    for (page, text) in &all {
        let dir = Path::new(page).parent().unwrap_or(Path::new(""));
        for (at, _) in text.match_indices("](") {
            let Some(target) = text[at + 2..].split(')').next() else {
                continue;
            };
            if target.starts_with("http") || target.contains(' ') {
                continue;
            }
            let (file, frag) = target.split_once('#').unwrap_or((target, ""));
            let path = if file.is_empty() {
                PathBuf::from(page)
            } else {
                dir.join(file)
            };
            if !repo().join(&path).exists() {
                broken.push(format!("{page}: `{target}`: no file {}", path.display()));
                continue;
            }
            if !frag.is_empty() {
                let linked = std::fs::read_to_string(repo().join(&path)).unwrap_or_default();
                if !anchors(&linked).iter().any(|a| a == frag) {
                    broken.push(format!("{page}: `{target}`: no heading #{frag}"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}
