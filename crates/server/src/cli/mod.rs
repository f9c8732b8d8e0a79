//! The command line: clap derive, one module per subcommand.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod outcome;

/// Push-notification dispatcher with device-token quarantine.
///
/// pushgate sends pushes to Apple (APNs) and Google (FCM), maps every provider answer to an
/// outcome row (status, failure type, failure reason, retry), and quarantines the device
/// tokens that the providers reject.
#[derive(Debug, Parser)]
#[command(name = "pushgate", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Look at the outcome table: list its rows, or classify a provider answer.
    #[command(subcommand)]
    Outcome(outcome::OutcomeCommand),
}

/// Exit status for a bad argument or bad input, as clap uses.
pub const EXIT_USAGE: u8 = 2;

/// An error the user can fix, reported on one line; exits with [`EXIT_USAGE`].
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Parses the command line, runs the subcommand, and turns its result into an exit code.
///
/// A bad argument prints one line naming it and exits 2; `--help` and `--version` print
/// clap's text and exit 0.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if !error.use_stderr() => {
            // --help, --version: clap's own output on stdout.
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            report(&first_paragraph(&error.render().to_string()));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.is::<UsageError>() => {
            report(&format!("error: {error}"));
            ExitCode::from(EXIT_USAGE)
        }
        Err(error) => {
            report(&format!("error: {error:#}"));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match cli.command {
        Command::Outcome(command) => outcome::run(command, &mut out)?,
    }
    out.flush()?;
    Ok(())
}

/// Clap's message up to its first blank line, on one line: the error and what it names,
/// without the usage and help hints.
fn first_paragraph(rendered: &str) -> String {
    let lines: Vec<&str> = rendered
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect();
    if lines.is_empty() {
        "error: invalid arguments".to_owned()
    } else {
        lines.join(" ")
    }
}

/// Writes one line to standard error.
fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}
