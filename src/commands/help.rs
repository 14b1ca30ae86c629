//! `hostscript completions SHELL` and `hostscript man`: generated from the clap definitions
//! (clap_complete, clap_mangen), so they cannot drift from the flags.

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
