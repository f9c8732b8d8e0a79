//! The `pushgate` command: parses the command line and runs the chosen subcommand.

use std::process::ExitCode;

fn main() -> ExitCode {
    pushgate::cli::main()
}
