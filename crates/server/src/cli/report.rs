//! `pushgate report summary|exclusions|quarantine|non-deliverables`: reports as readable
//! tables (default), JSON or CSV.

use std::io::Write;

use clap::{Args, Subcommand};
use pushgate_outcome::FailureReason;
use pushgate_store::reports::ExclusionFilter;
use pushgate_store::{Page, Store};

use super::{OutputFormat, UsageError, parse_when};
use crate::api::quarantine::{AddressRow, parse_status};
use crate::app::open_store;
use crate::config::Config;
use crate::render;

/// `pushgate report ...`
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// One delivery's summary: targeted, excluded by reason, sent, failed by type and
    /// reason, quarantined during the analysis and after sending.
    Summary {
        /// The delivery id.
        #[arg(long)]
        delivery: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// The exclusion log: targets the analysis left out, with their reasons.
    Exclusions(ExclusionsArgs),
    /// The quarantine list of an app.
    Quarantine(QuarantineArgs),
    /// Failed messages of an app by platform, failure type and reason.
    NonDeliverables {
        /// The app.
        #[arg(long)]
        app: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
}

/// `pushgate report exclusions`
#[derive(Debug, Args)]
pub struct ExclusionsArgs {
    /// The app.
    #[arg(long)]
    pub app: String,
    /// Only this delivery.
    #[arg(long)]
    pub delivery: Option<String>,
    /// Only this failure reason: value (9) or label ("Quarantined address").
    #[arg(long)]
    pub reason: Option<String>,
    /// At most this many rows.
    #[arg(long, default_value_t = 1000)]
    pub limit: i64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// `pushgate report quarantine`
#[derive(Debug, Args)]
pub struct QuarantineArgs {
    /// The app.
    #[arg(long)]
    pub app: String,
    /// Only these statuses, comma-separated (Quarantine, "With errors", Denylisted...).
    #[arg(long)]
    pub status: Option<String>,
    /// Only addresses whose last error text contains this.
    #[arg(long)]
    pub text_contains: Option<String>,
    /// Only addresses modified since (RFC 3339, or an age such as 2h or 3d).
    #[arg(long, value_parser = parse_when)]
    pub modified_from: Option<chrono::DateTime<chrono::Utc>>,
    /// At most this many rows.
    #[arg(long, default_value_t = 1000)]
    pub limit: i64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

fn check_app(config: &Config, app: &str) -> anyhow::Result<()> {
    if config.apps.iter().any(|a| a.id == app) {
        Ok(())
    } else {
        Err(UsageError(format!("--app {app:?}: no such app in the configuration")).into())
    }
}

/// Runs `report`.
pub async fn run(
    config: Config,
    command: ReportCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    let result = report(&config, &store, command, out).await;
    store.close().await;
    result
}

async fn report(
    config: &Config,
    store: &Store,
    command: ReportCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    match command {
        ReportCommand::Summary { delivery, format } => {
            let delivery = store
                .delivery(&delivery)
                .await?
                .ok_or_else(|| UsageError(format!("--delivery {delivery:?}: no such delivery")))?;
            let summary = store.summary(&delivery).await?;
            super::send::print_summary(&summary, format, out)?;
        }
        ReportCommand::Exclusions(args) => {
            check_app(config, &args.app)?;
            let reason = args
                .reason
                .map(|r| FailureReason::parse(&r).map_err(|e| UsageError(format!("--reason: {e}"))))
                .transpose()?;
            let filter = ExclusionFilter {
                delivery_id: args.delivery,
                reason,
                from: None,
                to: None,
            };
            let page = Page {
                after: 0,
                limit: args.limit.clamp(1, 100_000),
            };
            let rows = store.exclusions(&args.app, &filter, page).await?;
            match args.format {
                OutputFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?,
                OutputFormat::Csv => write!(out, "{}", render::exclusions(&rows, false).csv())?,
                OutputFormat::Table => write!(out, "{}", render::exclusions(&rows, true).table())?,
            }
        }
        ReportCommand::Quarantine(args) => {
            check_app(config, &args.app)?;
            let statuses = args
                .status
                .as_deref()
                .map(|list| {
                    list.split(',')
                        .map(|s| {
                            parse_status(s, "status")
                                .map_err(|e| UsageError(format!("--status: {}", e.message)))
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?
                .unwrap_or_default();
            let filter = pushgate_store::addresses::AddressFilter {
                statuses,
                reason: None,
                text_contains: args.text_contains,
                modified_from: args.modified_from,
                modified_to: None,
            };
            let rows = store
                .addresses(&args.app, &filter, None, args.limit.clamp(1, 100_000))
                .await?;
            match args.format {
                OutputFormat::Json => {
                    let rows: Vec<AddressRow> = rows.iter().map(AddressRow::from).collect();
                    writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
                }
                OutputFormat::Csv => write!(out, "{}", render::addresses(&rows, false).csv())?,
                OutputFormat::Table => write!(out, "{}", render::addresses(&rows, true).table())?,
            }
        }
        ReportCommand::NonDeliverables { app, format } => {
            check_app(config, &app)?;
            let rows = store.non_deliverables(&app, None, None).await?;
            match format {
                OutputFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?,
                OutputFormat::Csv => write!(out, "{}", render::non_deliverables(&rows).csv())?,
                OutputFormat::Table => write!(out, "{}", render::non_deliverables(&rows).table())?,
            }
        }
    }
    Ok(())
}
