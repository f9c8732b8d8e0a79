//! The command line: clap derive, one module per subcommand.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{self, Config};

pub mod demo;
pub mod jobs;
pub mod keys;
pub mod migrate;
pub mod outcome;
pub mod quarantine;
pub mod report;
pub mod send;
pub mod serve;

/// Push-notification dispatcher with device-token quarantine.
///
/// pushgate sends pushes to Apple (APNs) and Google (FCM), maps every provider answer to an
/// outcome row (status, failure type, failure reason, retry), and quarantines the device
/// tokens that the providers reject. Try it with `pushgate demo`; run it with
/// `pushgate serve`.
#[derive(Debug, Parser)]
#[command(name = "pushgate", version, propagate_version = true)]
pub struct Cli {
    /// The configuration file (TOML). `PUSHGATE_...` environment variables override its
    /// keys, e.g. PUSHGATE_DATABASE_URL or PUSHGATE_PIPELINE__MAX_IN_FLIGHT.
    #[arg(
        long,
        global = true,
        env = "PUSHGATE_CONFIG",
        default_value = config::DEFAULT_CONFIG_FILE,
        value_name = "FILE"
    )]
    pub config: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or upgrade the database schema (every other command does it too).
    Migrate,
    /// Run the HTTP API, the send workers and the job scheduler in one process, until
    /// SIGTERM or Ctrl-C. Prints {"listen":"ADDRESS"} on standard output once listening.
    Serve(serve::ServeArgs),
    /// Create a delivery from the command line, send it, show progress until every
    /// message is final, then print its summary.
    Send(send::SendArgs),
    /// Read reports: a delivery summary, exclusions, the quarantine list, non-deliverables.
    #[command(subcommand)]
    Report(report::ReportCommand),
    /// Manage the quarantine list (release tokens).
    #[command(subcommand)]
    Quarantine(quarantine::QuarantineCommand),
    /// Run a scheduled job now: the opt-out sweep or the cleanup.
    #[command(subcommand)]
    Jobs(jobs::JobsCommand),
    /// Make API keys: generate a new one, or hash one for the configuration.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Check the configuration file (with its environment overrides) and say what it holds.
    CheckConfig,
    /// Look at the outcome table: list its rows, or classify a provider answer.
    #[command(subcommand)]
    Outcome(outcome::OutcomeCommand),
    /// Try pushgate out in one command: the bundled mocks, a temporary SQLite database,
    /// two apps, about 1,000 subscriptions, two deliveries and the opt-out sweep between
    /// them; prints the summaries, the exclusions and the quarantine list.
    Demo(demo::DemoArgs),
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
        Err(error) if error.is::<UsageError>() || error.is::<config::ConfigError>() => {
            report(&format!("error: {error}"));
            ExitCode::from(EXIT_USAGE)
        }
        Err(error) => {
            report(&format!("error: {error:#}"));
            ExitCode::FAILURE
        }
    }
}

/// Loads the configuration named on the command line.
pub fn load_config(path: &Path) -> anyhow::Result<Config> {
    Ok(config::load(path)?)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    match cli.command {
        Command::Outcome(command) => outcome::run(command, &mut stdout.lock())?,
        Command::Keys(command) => keys::run(command, &mut stdout.lock())?,
        Command::Demo(args) => {
            crate::telemetry::init(config::LogFormat::Text, "warn");
            runtime()?.block_on(demo::run(args, &mut stdout.lock()))?;
        }
        command => {
            let config = load_config(&cli.config)?;
            crate::telemetry::init(config.log_format, default_filter(&command));
            let runtime = runtime()?;
            match command {
                // `serve` writes its one line itself and holds no lock on standard output.
                Command::Serve(args) => runtime.block_on(serve::run(config, args))?,
                Command::Migrate => runtime.block_on(migrate::run(config, &mut stdout.lock()))?,
                Command::CheckConfig => migrate::check(&config, &mut stdout.lock())?,
                Command::Send(args) => {
                    runtime.block_on(send::run(config, args, &mut stdout.lock()))?
                }
                Command::Report(command) => {
                    runtime.block_on(report::run(config, command, &mut stdout.lock()))?
                }
                Command::Quarantine(command) => {
                    runtime.block_on(quarantine::run(config, command, &mut stdout.lock()))?
                }
                Command::Jobs(command) => {
                    runtime.block_on(jobs::run(config, command, &mut stdout.lock()))?
                }
                Command::Outcome(_) | Command::Keys(_) | Command::Demo(_) => {}
            }
        }
    }
    stdout.lock().flush()?;
    Ok(())
}

/// `serve` logs at info; the one-shot commands only warn (their output is the report).
fn default_filter(command: &Command) -> &'static str {
    match command {
        Command::Serve(_) => "info",
        _ => "warn",
    }
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

/// `--format` of the reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// A readable table.
    #[default]
    Table,
    /// JSON.
    Json,
    /// CSV with a header line.
    Csv,
}

/// Parses a time given on the command line: RFC 3339, or a humantime age back from now
/// (`2h`, `3days`).
pub fn parse_when(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&chrono::Utc));
    }
    let age = parse_duration(text)?;
    chrono::TimeDelta::from_std(age)
        .ok()
        .and_then(|age| chrono::Utc::now().checked_sub_signed(age))
        .ok_or_else(|| format!("{text:?} is too far back"))
}

/// Parses a duration: seconds (`90`) or `90s`, `15m`, `2h`, `3d`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, ""), |at| text.split_at(at));
    let value: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 90s, 15m, 2h, 3d)"))?;
    let factor = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1,
        "m" | "min" | "mins" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        _ => {
            return Err(format!(
                "{text:?} is not a duration (e.g. 90s, 15m, 2h, 3d)"
            ));
        }
    };
    Ok(std::time::Duration::from_secs(value.saturating_mul(factor)))
}
