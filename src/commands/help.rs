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

pub fn man() -> Result<u8> {
    let mut out: Vec<u8> = Vec::new();
    clap_mangen::Man::new(crate::cli::Cli::command())
        .render(&mut out)
        .map_err(Error::Output)?;
    crate::report::stdout()
        .write_all(&out)
        .map_err(Error::Output)?;
    Ok(exit_code::SUCCESS)
}

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
            writeln!(out, "\nhostscript doc MODULE shows one; the README's primitives reference explains them.")
                .map_err(Error::Output)?;
        }
        Some(wanted) => {
            let Some((name, sigs)) = all.iter().find(|(n, _)| *n == wanted) else {
                let names: Vec<&str> = all.iter().map(|(n, _)| *n).collect();
                return Err(Error::Flag {
                    flag: "doc",
                    message: format!("no module `{wanted}` (modules: {})", names.join(", ")),
                });
            };
            let width = sigs.iter().map(|s| s.len()).max().unwrap_or(0) + name.len() + 2;
            for sig in sigs {
                let function = sig.split('(').next().unwrap_or_default();
                let line = crate::bindings::docs::line(name, function).unwrap_or("");
                let call = format!("{name}::{sig}");
                writeln!(out, "{call:<width$}  {line}").map_err(Error::Output)?;
            }
        }
    }
    Ok(exit_code::SUCCESS)
}
