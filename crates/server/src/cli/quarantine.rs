//! `pushgate quarantine release`: one token back to Valid, or every address matching a
//! filter (to Valid, or deleted), with a dry run to count first.

use std::io::Write;

use chrono::Utc;
use clap::{ArgGroup, Args, Subcommand};
use pushgate_store::addresses::{AddressFilter, ReleaseAction};

use super::{UsageError, parse_when};
use crate::app::open_store;
use crate::config::Config;

/// `pushgate quarantine ...`
#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// Release one token, or every address whose last error text contains a string
    /// (optionally within a last-modified window), e.g. after a provider outage.
    Release(ReleaseArgs),
}

/// `pushgate quarantine release`
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("which").required(true).args(["token", "text_contains"])))]
pub struct ReleaseArgs {
    /// The app.
    #[arg(long)]
    pub app: String,
    /// One token to set back to Valid.
    #[arg(long)]
    pub token: Option<String>,
    /// Every address whose last error text contains this.
    #[arg(long)]
    pub text_contains: Option<String>,
    /// Only addresses modified at or after this (RFC 3339, or an age such as 2h).
    #[arg(long, value_parser = parse_when, requires = "text_contains")]
    pub modified_from: Option<chrono::DateTime<Utc>>,
    /// Only addresses modified at or before this (RFC 3339, or an age such as 2h).
    #[arg(long, value_parser = parse_when, requires = "text_contains")]
    pub modified_to: Option<chrono::DateTime<Utc>>,
    /// Delete the matching addresses instead of setting them Valid (filter only).
    #[arg(long, requires = "text_contains")]
    pub delete: bool,
    /// Count only; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `quarantine`.
pub async fn run(
    config: Config,
    command: QuarantineCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let QuarantineCommand::Release(args) = command;
    if !config.apps.iter().any(|a| a.id == args.app) {
        return Err(UsageError(format!(
            "--app {:?}: no such app in the configuration",
            args.app
        ))
        .into());
    }
    let store = open_store(&config).await?;
    let now = Utc::now();
    let result = match (&args.token, &args.text_contains) {
        (Some(token), _) => {
            let found = if args.dry_run {
                store.address(&args.app, token).await?.is_some()
            } else {
                store
                    .release_address(&args.app, token, now)
                    .await?
                    .is_some()
            };
            if found {
                Ok(1)
            } else {
                Err(UsageError("the token is not in the quarantine list".into()).into())
            }
        }
        (None, text) => {
            let filter = AddressFilter {
                statuses: Vec::new(),
                reason: None,
                text_contains: text.clone(),
                modified_from: args.modified_from,
                modified_to: args.modified_to,
            };
            let action = if args.delete {
                ReleaseAction::Delete
            } else {
                ReleaseAction::Valid
            };
            store
                .release_bulk(&args.app, &filter, action, args.dry_run, now)
                .await
                .map_err(anyhow::Error::from)
        }
    };
    store.close().await;
    let count: u64 = result?;
    let verb = match (args.dry_run, args.delete) {
        (true, true) => "would delete",
        (true, false) => "would release",
        (false, true) => "deleted",
        (false, false) => "released",
    };
    writeln!(out, "{verb} {count} address(es)")?;
    Ok(())
}
