//! `hostscript list`: the checks the scripts declare (id, description, tags, required, needs,
//! remediation), without running any of them.

use std::io::Write;
use std::time::Duration;

use crate::cli::{ListArgs, ListFormat};
use crate::commands::{Session, SessionOptions, display_paths};
use crate::error::{Error, Result, exit_code};
use crate::selection::Selector;

pub fn execute(args: ListArgs) -> Result<u8> {
    let selector = Selector::new(&args.selection.only, &args.selection.tag)?;
    let mut session = Session::start(SessionOptions {
        replay_vars: None,
        paths: &args.selection.paths,
        vars_files: &args.selection.vars.files,
        var_flags: &args.selection.vars.flags,
        jobs: None,
        load_budget: Duration::from_secs(10),
        target: None,
        base_vars_dirs: &[],
        remediating: None,
    })?;
    for failure in &session.loaded.failures {
        crate::say!("hostscript: {}", failure.diagnostic);
    }
    if session.loaded.checks.is_empty() && session.loaded.failures.is_empty() {
        return Err(Error::NoChecks {
            paths: display_paths(&args.selection.paths),
        });
    }
    let checks = selector.apply(std::mem::take(&mut session.loaded.checks));
    let listed: Vec<crate::report::Item> =
        checks.iter().map(crate::report::Item::from_check).collect();

    let mut out = crate::report::stdout();
    match args.format {
        ListFormat::Markdown => {
            let page = markdown(&session, &checks);
            out.write_all(page.as_bytes()).map_err(Error::Output)?;
        }
        ListFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &listed).map_err(|e| Error::Output(e.into()))?;
            writeln!(out).map_err(Error::Output)?;
        }
        ListFormat::Human => {
            // The table fits the width: ids up to 40 columns (a longer one has its line to
            // itself), the description and its notes wrapped under their column.
            let total = crate::report::width();
            let width = listed
                .iter()
                .map(|l| l.id.chars().count())
                .max()
                .unwrap_or(2)
                .clamp(2, 40)
                .min(total.saturating_sub(2 + 8 + 2 + 30).max(8));
            let column = width + 2 + 8 + 2;
            let room = total.saturating_sub(column).max(30);
            writeln!(out, "{:<width$}  {:<8}  DESCRIPTION", "ID", "REQUIRED")
                .map_err(Error::Output)?;
            let pad = " ".repeat(column);
            for l in &listed {
                let mut extra = Vec::new();
                if !l.tags.is_empty() {
                    extra.push(format!("tags: {}", l.tags.join(",")));
                }
                if !l.needs.is_empty() {
                    extra.push(format!("needs: {}", l.needs.join(",")));
                }
                if let Some(fix) = &l.remediation {
                    extra.push(format!("fix: {fix}"));
                }
                if l.remote {
                    extra.push("remote".to_string());
                }
                let extra = if extra.is_empty() {
                    String::new()
                } else {
                    format!("  [{}]", extra.join("; "))
                };
                let required = if l.required { "yes" } else { "optional" };
                let lines = crate::text::wrap(&format!("{}{extra}", l.description), room);
                let mut rest = lines.iter();
                if l.id.chars().count() > width {
                    writeln!(out, "{}", l.id).map_err(Error::Output)?;
                    writeln!(
                        out,
                        "{:<width$}  {required:<8}  {}",
                        "",
                        rest.next().map_or("", String::as_str)
                    )
                    .map_err(Error::Output)?;
                } else {
                    writeln!(
                        out,
                        "{:<width$}  {required:<8}  {}",
                        l.id,
                        rest.next().map_or("", String::as_str)
                    )
                    .map_err(Error::Output)?;
                }
                for line in rest {
                    writeln!(out, "{pad}{line}").map_err(Error::Output)?;
                }
            }
        }
    }
    session.runtime.shutdown_background();
    Ok(if session.loaded.failures.is_empty() {
        exit_code::SUCCESS
    } else {
        exit_code::CHECK_FAILED
    })
}

/// Escapes a table cell: a `|` would end it, a line break would end the row.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// A list of names as code spans, or nothing.
fn codes(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{}`", cell(n)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The vars column: each var a link to its row in the vars table; `(any)` when the code reads
/// a var under a name only the run knows.
fn vars_cell(read: &crate::script::reads::VarsRead) -> String {
    let mut names: Vec<String> = read
        .names
        .keys()
        .map(|n| format!("[`{n}`](#var-{})", n.replace('_', "-")))
        .collect();
    if read.dynamic {
        names.push("(a var named at run time)".into());
    }
    names.join(", ")
}

/// Each var `read` names: its literal default in the code (the first one found) and `reader`
/// among the declarations that read it.
fn note_readers(
    vars: &mut std::collections::BTreeMap<String, (Option<String>, Vec<String>)>,
    read: &crate::script::reads::VarsRead,
    reader: String,
) {
    for (name, default) in &read.names {
        let entry = vars.entry(name.clone()).or_default();
        if entry.0.is_none() {
            entry.0 = default.clone();
        }
        entry.1.push(reader.clone());
    }
}

/// The suite's reference page (docs/suite.md): every check and remediation as declared, and
/// every var they read with its default and who reads it.
fn markdown(session: &crate::commands::Session, checks: &[crate::script::CheckDef]) -> String {
    use std::collections::BTreeMap;
    use std::fmt::Write as _;
    let mut reader = crate::script::reads::Reader::new(&session.engine);
    // var -> (literal default in the code, readers)
    let mut vars: BTreeMap<String, (Option<String>, Vec<String>)> = BTreeMap::new();
    let mut page = String::new();
    let _ = writeln!(
        page,
        "# The suite's reference\n\n\
         Generated by `hostscript list checks/ remediations/ --format markdown > docs/suite.md` \
         from the declarations of the shipped checks and remediations; a test fails when this page \
         differs. What each check inspects and when it passes, in prose: \
         [FLINTLOCK-SUITE.md](FLINTLOCK-SUITE.md). The vars a declaration reads are found in its \
         code (its `run` closure and every function it calls, `lib/` included).\n"
    );
    let _ = writeln!(page, "## Checks\n");
    let _ = writeln!(
        page,
        "| id | description | tags | required | needs | remediation | remote | vars |\n|---|---|---|---|---|---|---|---|"
    );
    for c in checks {
        let read = reader.vars_read(&c.script, &c.body);
        note_readers(&mut vars, &read, format!("`{}`", c.id));
        let _ = writeln!(
            page,
            "| `{}` | {} | {} | {} | {} | {} | {} | {} |",
            cell(&c.id),
            cell(&c.description),
            codes(&c.tags),
            if c.required { "yes" } else { "optional" },
            codes(&c.needs),
            c.remediation
                .as_deref()
                .map(|r| format!("`{r}`"))
                .unwrap_or_default(),
            if c.remote { "yes" } else { "" },
            vars_cell(&read),
        );
    }
    if !session.loaded.remediations.is_empty() {
        let _ = writeln!(page, "\n## Remediations\n");
        let _ = writeln!(
            page,
            "| id | description | touches | after | vars |\n|---|---|---|---|---|"
        );
        for r in &session.loaded.remediations {
            let read = reader.vars_read(&r.script, &r.body);
            note_readers(&mut vars, &read, format!("remediation `{}`", r.id));
            let _ = writeln!(
                page,
                "| `{}` | {} | {} | {} | {} |",
                cell(&r.id),
                cell(&r.description),
                codes(&r.touches),
                codes(&r.after),
                vars_cell(&read),
            );
        }
    }
    let _ = writeln!(page, "\n## Vars\n");
    let _ = writeln!(
        page,
        "The default is the value of the vars files loaded with the scripts (`vars.toml` of each \
         directory), else the default the code gives `vars::get`; `/etc/hostscript/vars.toml`, \
         `--vars` and `--var` change it.\n"
    );
    let _ = writeln!(page, "| var | default | read by |\n|---|---|---|");
    for (name, (code_default, readers)) in &vars {
        let default = match session.vars.get(name) {
            Some(value) => format!("`{}`", cell(&value.to_string())),
            None => match code_default {
                Some(d) => format!("`{}` (unset; the code's default)", cell(d)),
                None => "(unset)".to_string(),
            },
        };
        let _ = writeln!(
            page,
            "| <a id=\"var-{}\"></a>`{name}` | {default} | {} |",
            name.replace('_', "-"),
            readers.join(", ")
        );
    }
    page
}
