//! `pushgate send`: create a delivery from the command line, analyse it, send it with the
//! pipeline in this process, show progress until every message is final, print the summary.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use clap::{ArgGroup, Args};
use indicatif::{ProgressBar, ProgressStyle};
use pushgate_dispatch::notification::Notification;
use pushgate_store::DeliveryState;
use pushgate_store::reports::DeliverySummary;
use tokio_util::sync::CancellationToken;

use super::{OutputFormat, UsageError, parse_duration};
use crate::api::deliveries::{DeliveryRequest, TargetRequest, new_delivery};
use crate::app::Pushgate;
use crate::config::Config;
use crate::render;

/// `pushgate send`
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").required(true).args(["all", "profiles", "tokens"])))]
pub struct SendArgs {
    /// The app to send for (an `id` of the configuration's [[apps]]).
    #[arg(long)]
    pub app: String,
    /// Send to every subscription of the app.
    #[arg(long)]
    pub all: bool,
    /// Send to every subscription of these profiles (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "PROFILE,...")]
    pub profiles: Vec<String>,
    /// Send to these device tokens (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "TOKEN,...")]
    pub tokens: Vec<String>,
    /// The notification's title.
    #[arg(long)]
    pub title: Option<String>,
    /// The notification's text.
    #[arg(long)]
    pub body: Option<String>,
    /// Custom data for the app, `key=value` (repeat for more).
    #[arg(long = "data", value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub data: Vec<(String, String)>,
    /// How long pushgate keeps trying (90s, 15m, 2h, 3d); over 3.5 days is capped.
    #[arg(long, default_value = "1d", value_parser = parse_duration)]
    pub validity: Duration,
    /// Analyse only: write the exclusions, send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How to print the summary.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

fn parse_pair(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("{text:?} is not KEY=VALUE"))
}

/// Runs `send`.
pub async fn run(config: Config, args: SendArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let platform = config
        .apps
        .iter()
        .find(|a| a.id == args.app)
        .map(|a| a.platform)
        .ok_or_else(|| {
            UsageError(format!(
                "--app {:?}: no such app in the configuration",
                args.app
            ))
        })?;
    let request = DeliveryRequest {
        target: TargetRequest {
            all: args.all.then_some(true),
            profiles: (!args.profiles.is_empty()).then_some(args.profiles),
            tokens: (!args.tokens.is_empty()).then_some(args.tokens),
        },
        notification: Notification {
            title: args.title,
            body: args.body,
            data: args.data.into_iter().collect::<BTreeMap<_, _>>(),
            ..Notification::default()
        },
        validity_secs: Some(args.validity.as_secs()),
        dry_run: args.dry_run,
    };
    let (new, validity) = new_delivery(&args.app, platform, request).map_err(|e| {
        let field = e.field.unwrap_or_default();
        UsageError(format!("{field}: {}", e.message))
    })?;
    if validity.was_capped() {
        eprintln!(
            "note: the validity period is capped at 3.5 days ({} s asked, {} s in effect)",
            validity.requested.as_secs(),
            validity.effective.as_secs()
        );
    }
    let pushgate = Pushgate::build(config).await?;
    let result = deliver(&pushgate, &new).await;
    pushgate.shutdown().await;
    let summary = result?;
    print_summary(&summary, args.format, out)
}

/// Creates the delivery, analyses it, runs the pipeline until it is final.
pub async fn deliver(
    pushgate: &Pushgate,
    new: &pushgate_store::NewDelivery,
) -> anyhow::Result<DeliverySummary> {
    let mut summaries = deliver_all(pushgate, std::slice::from_ref(new)).await?;
    summaries.pop().context("no summary")
}

/// Creates the deliveries, analyses them, runs one pipeline until all are final (with a
/// progress bar on a terminal, a line every 2 s otherwise); their summaries, in order.
pub async fn deliver_all(
    pushgate: &Pushgate,
    news: &[pushgate_store::NewDelivery],
) -> anyhow::Result<Vec<DeliverySummary>> {
    let store = &pushgate.store;
    let mut ids = Vec::with_capacity(news.len());
    let mut total = 0;
    for new in news {
        let delivery = store.create_delivery(new, Utc::now()).await?;
        let analysis = pushgate.analyzer.analyze(&delivery).await?;
        total += analysis.messages;
        if !std::io::stderr().is_terminal() {
            eprintln!(
                "delivery {} ({}): {} message(s) queued, {} excluded",
                delivery.id, delivery.app_id, analysis.messages, analysis.exclusions
            );
        }
        ids.push(delivery.id);
    }
    let cancel = CancellationToken::new();
    let pipeline = tokio::spawn({
        let pipeline = pushgate.pipeline.clone();
        let cancel = cancel.clone();
        async move { pipeline.run(cancel).await }
    });
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(total);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} final ({msg})",
        ) {
            bar.set_style(style);
        }
        bar
    });
    let mut last_line = std::time::Instant::now();
    let summaries = loop {
        let mut summaries = Vec::with_capacity(ids.len());
        let mut all_done = true;
        for id in &ids {
            let current = store.delivery(id).await?.context("a delivery vanished")?;
            all_done &= current.state == DeliveryState::Done;
            summaries.push(store.summary(&current).await?);
        }
        let sum = |f: fn(&DeliverySummary) -> i64| summaries.iter().map(f).sum::<i64>();
        let done = (sum(|s| s.sent) + sum(|s| s.failed) + sum(|s| s.planned)).unsigned_abs();
        let progress = format!(
            "sent {}, failed {}, waiting to retry {}",
            sum(|s| s.sent),
            sum(|s| s.failed),
            sum(|s| s.retry)
        );
        match &bar {
            Some(bar) => {
                bar.set_position(done);
                bar.set_message(progress);
            }
            None if last_line.elapsed() >= Duration::from_secs(2) => {
                eprintln!("{done}/{total} final ({progress})");
                last_line = std::time::Instant::now();
            }
            None => {}
        }
        if all_done {
            break summaries;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    cancel.cancel();
    match pipeline.await {
        Ok(result) => result?,
        Err(error) => anyhow::bail!("the send pipeline failed: {error}"),
    }
    Ok(summaries)
}

/// Prints a delivery summary.
pub fn print_summary(
    summary: &DeliverySummary,
    format: OutputFormat,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(summary)?)?,
        OutputFormat::Csv => write!(out, "{}", render::summary(summary).csv())?,
        OutputFormat::Table => write!(out, "{}", render::summary(summary).table())?,
    }
    Ok(())
}
