//! `pushgate jobs run optout-sweep|cleanup`: run a scheduled job now.

use std::io::Write;

use clap::{Subcommand, ValueEnum};
use pushgate_store::jobs::Job;

use crate::config::Config;

/// `pushgate jobs ...`
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Run one job now (with PostgreSQL, unless another node is running it).
    Run {
        /// Which job.
        #[arg(value_enum)]
        job: JobName,
    },
}

/// The jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum JobName {
    /// Disable the subscriptions of tokens quarantined as unregistered (every 6 h in
    /// `serve`).
    OptoutSweep,
    /// The daily cleanup: the 10-day error reset, the 30-day Mailbox-full release and,
    /// with `jobs.delivery_log_retention_days` set, the purge of old delivery logs.
    Cleanup,
}

/// Runs `jobs`.
pub async fn run(config: Config, command: JobsCommand, out: &mut impl Write) -> anyhow::Result<()> {
    let JobsCommand::Run { job } = command;
    let job = match job {
        JobName::OptoutSweep => Job::OptoutSweep,
        JobName::Cleanup => Job::Cleanup,
    };
    let store = crate::app::open_store(&config).await?;
    let jobs = pushgate_dispatch::jobs::Jobs::new(
        store.clone(),
        config.quarantine.clone(),
        config.node_name(),
        std::sync::Arc::new(pushgate_dispatch::clock::SystemClock),
    )
    .with_delivery_log_retention(config.jobs.delivery_log_retention_days);
    let report = jobs.run(job).await;
    store.close().await;
    match report? {
        Some(report) => writeln!(
            out,
            "{}: run {} changed {}",
            job.as_str(),
            report.run_id,
            report.changed
        )?,
        None => writeln!(
            out,
            "{}: another node is running it; nothing done",
            job.as_str()
        )?,
    }
    Ok(())
}
