//! The `hostscript` binary: parse the command line, hand it to the library, and turn the
//! result into the process exit code. Everything else lives in the library so that tests and
//! benchmarks drive the same code paths as operators do. Argument errors are one line on
//! stderr and exit 2, as docs/OPERATING.md promises (clap would add usage and tips).

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = match hostscript::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                // Help and version are output, not errors.
                let _ = e.print();
                let code = if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    hostscript::error::exit_code::USAGE
                } else {
                    0
                };
                return std::process::ExitCode::from(code);
            }
            let message = hostscript::error::clap_one_line(&e.render().to_string());
            if hostscript::cli::nagios_requested(std::env::args_os()) {
                // A Nagios plugin that cannot run says UNKNOWN, on stdout, with status 3.
                return std::process::ExitCode::from(hostscript::report_unknown(&message));
            }
            hostscript::say!("hostscript: error: {message}");
            return std::process::ExitCode::from(hostscript::error::exit_code::USAGE);
        }
    };
    std::process::ExitCode::from(hostscript::run(cli))
}
