//! The `hostscript` binary: parse the command line, hand it to the library, and turn the
//! result into the process exit code. Everything else lives in the library so that tests and
//! benchmarks drive the same code paths as operators do.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = hostscript::cli::Cli::parse();
    std::process::ExitCode::from(hostscript::run(cli))
}
