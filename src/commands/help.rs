//! `hostscript completions SHELL` and `hostscript man`, generated from the clap definitions
//! (clap_complete, clap_mangen), and `hostscript doc`, generated from the primitives the
//! engine registers: none of them can drift from what the binary does.

use std::io::Write;

use clap::CommandFactory;

use crate::error::{Error, Result, exit_code};

pub fn completions(shell: clap_complete::Shell) -> Result<u8> {
    let mut command = crate::cli::Cli::command();
    let mut out: Vec<u8> = Vec::new();
    clap_complete::generate(shell, &mut command, "hostscript", &mut out);
    crate::report::stdout()
        .write_all(&out)
        .map_err(Error::Output)?;
    Ok(exit_code::SUCCESS)
}

pub fn man(dir: Option<&std::path::Path>) -> Result<u8> {
    let mut cli = crate::cli::Cli::command().disable_help_subcommand(true);
    cli.build();
    let Some(dir) = dir else {
        let page = man_page(cli, "hostscript").map_err(Error::Output)?;
        crate::report::stdout()
            .write_all(&page)
            .map_err(Error::Output)?;
        return Ok(exit_code::SUCCESS);
    };
    std::fs::create_dir_all(dir).map_err(|source| Error::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut pages = vec![("hostscript".to_string(), cli.clone())];
    for sub in cli.get_subcommands().filter(|s| !s.is_hide_set()) {
        pages.push((format!("hostscript-{}", sub.get_name()), sub.clone()));
    }
    for (name, cmd) in pages {
        let page = man_page(cmd, &name).map_err(Error::Output)?;
        let path = dir.join(format!("{name}.1"));
        crate::text::write_atomically(&path, &page, 0o644).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
    }
    Ok(exit_code::SUCCESS)
}

/// One man page: clap's sections (name, synopsis, description, options, subcommands), then
/// what every command shares: exit status, environment, files, and the other pages.
fn man_page(cmd: clap::Command, name: &str) -> std::io::Result<Vec<u8>> {
    let mut page = Vec::new();
    clap_mangen::Man::new(
        cmd.display_name(name.to_string())
            .version(env!("CARGO_PKG_VERSION")),
    )
    .render(&mut page)?;
    page.extend_from_slice(MAN_SHARED.as_bytes());
    Ok(page)
}

/// The sections every page ends with (roff).
const MAN_SHARED: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
every required check passed (warn and skip allowed); for remediate, nothing failed; for test, every expectation held
.TP
\fB1\fR
a required check failed or errored, a check ended on a bug in its script, or (lint) a problem was found; (remediate) a remediation failed; (test) an expectation did not hold; (merge) a host is not ready or sent no report
.TP
\fB2\fR
usage or configuration error (one line on stderr names the flag, path or file:line), or nothing was checked: every selected check was skipped
.TP
\fB3\fR
with \-\-format nagios: UNKNOWN (the plugin could not run, or a required check errored)
.TP
\fB130\fR, \fB143\fR
interrupted by SIGINT or SIGTERM
.SH ENVIRONMENT
.TP
\fBHOSTSCRIPT_FORMAT\fR, \fBHOSTSCRIPT_JOBS\fR, \fBHOSTSCRIPT_TIMEOUT\fR, \fBHOSTSCRIPT_SKIP\fR, \fBHOSTSCRIPT_WAIVERS\fR, \fBHOSTSCRIPT_TARGET\fR, \fBHOSTSCRIPT_RETRY_TIMEOUT\fR, \fBHOSTSCRIPT_SLEEP\fR, \fBHOSTSCRIPT_QUIET\fR, \fBHOSTSCRIPT_REMEDIATIONS\fR, \fBHOSTSCRIPT_STATE\fR
the options of the same names
.TP
\fBHOSTSCRIPT_SYSTEMCTL\fR, \fBHOSTSCRIPT_BUSCTL\fR, \fBHOSTSCRIPT_DMSETUP\fR
the programs systemd:: and dm:: ask (default: systemctl, busctl and dmsetup on PATH)
.TP
\fBHOSTSCRIPT_DESCRIPTOR_SETS\fR
colon-separated protobuf descriptor sets for grpc:: calls to servers without reflection
.TP
\fBNO_COLOR\fR, \fBCLICOLOR_FORCE\fR, \fBTERM\fR
colour, when \-\-color is auto
.TP
\fBCOLUMNS\fR
the width the human report and list fit (default: the terminal's, else 100)
.TP
\fBRUST_LOG\fR
debug logging, as \-vv (RUST_LOG=hostscript=debug)
.SH FILES
.TP
\fI/usr/share/hostscript/checks/\fR, \fI/usr/share/hostscript/remediations/\fR
the shipped suite, used when no path is given
.TP
\fI/etc/hostscript/checks.d/\fR
the site's own checks, run after the suite
.TP
\fI/etc/hostscript/vars.toml\fR
the site's vars, over the suite's defaults
.TP
\fIwaivers.toml\fR
waivers, beside each checks directory
.TP
\fI/var/log/hostscript/changes.log\fR
what remediations changed (under \-\-root)
.TP
\fI/var/lib/hostscript/state.json\fR
what runs remember (\-\-state; the installed layout run as root), 0600
.SH "SEE ALSO"
hostscript(1), hostscript\-run(1), hostscript\-list(1), hostscript\-lint(1), hostscript\-remediate(1), hostscript\-serve(1), hostscript\-test(1), hostscript\-merge(1), hostscript\-doc(1), hostscript\-man(1), hostscript\-completions(1)
"#;

/// The modules of primitives with their function signatures, read from the registrations
/// themselves (with the remediate capability, so `fix::` is listed too).
pub fn primitive_signatures() -> Result<Vec<(&'static str, Vec<String>)>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    let ctx = crate::bindings::Context {
        capability: doc_capability(),
        vars: std::sync::Arc::default(),
        runtime: runtime.handle().clone(),
    };
    Ok(crate::bindings::modules(&ctx)
        .into_iter()
        .map(|(name, module)| {
            let mut sigs: Vec<String> = module
                .gen_fn_signatures_with_mapper(std::borrow::Cow::Borrowed)
                .collect();
            sigs.sort();
            sigs.dedup();
            (name, sigs)
        })
        .collect())
}

/// The whole primitives reference as one Markdown page: every module's forms with their
/// parameters, types and return values, and the globals. docs/primitives.md is this output
/// (a test fails when it differs).
pub fn doc_markdown() -> Result<u8> {
    let all = primitive_signatures()?;
    let mut page = String::from(
        "# Primitives reference\n\n\
         Generated by `hostscript doc --format markdown > docs/primitives.md` from the functions \
         the binary registers; a test fails when this page differs. Each form is \
         `module::name(parameter: type, ..) -> return`; `map #{ a, b }` names a map's keys. \
         What the primitives mean for a check (budgets, errors and their kinds, the snapshot): \
         [WRITING-CHECKS.md](WRITING-CHECKS.md) and [HOST-AS-DATA.md](HOST-AS-DATA.md).\n\n",
    );
    let row = |sig: &str, line: &str| {
        format!(
            "| `{}` | {} |\n",
            sig.replace('|', "\\|"),
            line.replace('|', "\\|")
        )
    };
    page.push_str("## Globals\n\n| form | what it does |\n|---|---|\n");
    for (sig, line) in crate::bindings::docs::GLOBALS {
        page.push_str(&row(sig, line));
    }
    for (name, sigs) in &all {
        page.push_str(&format!(
            "\n## `{name}::`\n\n| form | what it does |\n|---|---|\n"
        ));
        for sig in sigs {
            let function = sig.split('(').next().unwrap_or_default();
            let Some((info, line)) =
                crate::bindings::docs::signature(name, function, arity_of(sig))
            else {
                continue;
            };
            let (ret, params) = info
                .split_last()
                .map_or(("", &info[..]), |(r, p)| (r.as_str(), p));
            page.push_str(&row(
                &format!("{name}::{function}({}) -> {ret}", params.join(", ")),
                line,
            ));
        }
    }
    crate::report::stdout()
        .write_all(page.as_bytes())
        .map_err(Error::Output)?;
    Ok(exit_code::SUCCESS)
}

/// How many parameters a generated signature `f(a: t, b: u #{ x, y }) -> r` has.
fn arity_of(signature: &str) -> usize {
    let inner = signature.split_once('(').map_or("", |(_, rest)| {
        rest.rsplit_once(") ->").map_or(rest, |(i, _)| i)
    });
    if inner.trim().is_empty() {
        return 0;
    }
    let mut depth = 0usize;
    let mut count = 1;
    for c in inner.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => count += 1,
            _ => {}
        }
    }
    count
}

fn doc_capability() -> crate::bindings::Capability {
    crate::bindings::Capability::Remediate(std::sync::Arc::new(crate::bindings::Remediating {
        settings: crate::host::change::Settings::new(true, "/".into()),
        template_dirs: Vec::new(),
    }))
}

pub fn doc(module: Option<&str>, definitions: Option<&std::path::Path>) -> Result<u8> {
    if let Some(dir) = definitions {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let engine = crate::script::engine::build(crate::script::engine::EngineOptions {
            capability: doc_capability(),
            roots: Vec::new(),
            lib_fallbacks: Vec::new(),
            vars: std::sync::Arc::default(),
            runtime: runtime.handle().clone(),
        });
        std::fs::create_dir_all(dir).map_err(|source| Error::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        engine
            .definitions()
            .with_headers(true)
            .write_to_dir(dir)
            .map_err(|source| Error::Read {
                path: dir.to_path_buf(),
                source,
            })?;
        return Ok(exit_code::SUCCESS);
    }
    let all = primitive_signatures()?;
    let mut out = crate::report::stdout();
    match module {
        None => {
            for (name, sigs) in &all {
                writeln!(
                    out,
                    "{name:<8} {} function{}",
                    sigs.len(),
                    if sigs.len() == 1 { "" } else { "s" }
                )
                .map_err(Error::Output)?;
            }
            let globals = crate::bindings::docs::GLOBALS.len();
            writeln!(out, "{:<8} {globals} functions", "globals").map_err(Error::Output)?;
            writeln!(
                out,
                "\nhostscript doc MODULE shows one; docs/WRITING-CHECKS.md explains them."
            )
            .map_err(Error::Output)?;
        }
        Some("globals") => {
            for (sig, line) in crate::bindings::docs::GLOBALS {
                writeln!(out, "{sig}\n    {line}").map_err(Error::Output)?;
            }
        }
        Some(wanted) => {
            let Some((name, sigs)) = all.iter().find(|(n, _)| *n == wanted) else {
                let mut names: Vec<&str> = all.iter().map(|(n, _)| *n).collect();
                names.push("globals");
                return Err(Error::Flag {
                    flag: "doc",
                    message: format!("no module `{wanted}` (modules: {})", names.join(", ")),
                });
            };
            // Each form with its parameters, their types and what it returns, then its line.
            for sig in sigs {
                let function = sig.split('(').next().unwrap_or_default();
                let arity = arity_of(sig);
                match crate::bindings::docs::signature(name, function, arity) {
                    Some((info, line)) => {
                        let (ret, params) = info
                            .split_last()
                            .map_or(("", &info[..]), |(r, p)| (r.as_str(), p));
                        writeln!(
                            out,
                            "{name}::{function}({}) -> {ret}\n    {line}",
                            params.join(", ")
                        )
                        .map_err(Error::Output)?;
                    }
                    None => {
                        writeln!(out, "{name}::{sig}\n    (undocumented)")
                            .map_err(Error::Output)?;
                    }
                }
            }
        }
    }
    Ok(exit_code::SUCCESS)
}

#[cfg(test)]
mod tests {
    /// Every documented form is registered, and every registered form documented: the table
    /// cannot keep a function that went away, nor miss one that came.
    #[test]
    fn the_signature_table_and_the_registrations_agree() {
        let registered = super::primitive_signatures().expect("modules");
        let mut documented = std::collections::BTreeMap::<&str, usize>::new();
        for (module, _, _) in crate::bindings::docs::SIGNATURES {
            *documented.entry(module).or_default() += 1;
        }
        for (module, sigs) in &registered {
            assert_eq!(
                documented.get(module).copied().unwrap_or(0),
                sigs.len(),
                "{module}: {sigs:?}"
            );
            for sig in sigs {
                let name = sig.split('(').next().unwrap_or_default();
                assert!(
                    crate::bindings::docs::signature(module, name, super::arity_of(sig)).is_some(),
                    "{module}::{sig} has no entry in bindings/docs.rs"
                );
            }
        }
        assert_eq!(documented.len(), registered.len());
    }
}
