//! `pushgate serve`: the HTTP API, the send pipeline, the analyzer and the job scheduler
//! in one process. SIGTERM or Ctrl-C stops accepting work, lets in-flight sends finish
//! (at most `pipeline.drain_timeout_secs`) and exits 0; whatever was not written is sent
//! again after its lease by the next process.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::api::{self, AppState};
use crate::app::{Pushgate, sample_queue_depth};
use crate::config::Config;

/// `pushgate serve`
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Listen here instead of the configuration's `listen` (port 0: any free port).
    #[arg(long, value_name = "ADDRESS")]
    pub listen: Option<SocketAddr>,
}

/// Installs the Prometheus recorder (send latency in seconds, with buckets from 1 ms).
pub fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(pushgate_dispatch::metrics::SEND_SECONDS.to_owned()),
            &[
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ],
        )
        .context("metrics buckets")?
        .install_recorder()
        .context("cannot install the metrics recorder")
}

/// How often the recorder folds recorded histogram samples into their buckets.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// Folds histogram samples into their buckets every [`METRICS_UPKEEP`] until `cancel`:
/// the installed recorder keeps every sample until then, so a node that sends millions
/// of notifications between scrapes (or is never scraped) would grow without bound.
async fn metrics_upkeep(handle: PrometheusHandle, cancel: CancellationToken) {
    let mut every = tokio::time::interval(METRICS_UPKEEP);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = every.tick() => handle.run_upkeep(),
        }
    }
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs `serve` until a signal.
pub async fn run(config: Config, args: ServeArgs) -> anyhow::Result<()> {
    let metrics = install_metrics()?;
    let pushgate = Pushgate::build(config).await?;
    let address = args.listen.unwrap_or(pushgate.config.listen);
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    let local = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{}",
            serde_json::json!({ "listen": local.to_string() })
        )?;
        out.flush()?;
    }
    info!(listen = %local, node = %pushgate.node, "pushgate serving");

    let cancel = CancellationToken::new();
    tokio::spawn(metrics_upkeep(metrics.clone(), cancel.clone()));
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        signal().await;
        info!("signal received: stopping");
        on_signal.cancel();
    });

    let analyzer = pushgate.analyzer.clone();
    let poll = Duration::from_millis(pushgate.config.analysis.poll_ms.max(10));
    let analysis = tokio::spawn({
        let cancel = cancel.clone();
        async move { analyzer.run(poll, cancel).await }
    });
    let pipeline = tokio::spawn({
        let pipeline = pushgate.pipeline.clone();
        let cancel = cancel.clone();
        async move { pipeline.run(cancel).await }
    });
    let scheduler = tokio::spawn({
        let (jobs, schedule, cancel) = (
            pushgate.jobs.clone(),
            pushgate.config.jobs.clone(),
            cancel.clone(),
        );
        async move { jobs.run_scheduler(schedule, cancel).await }
    });
    let gauge = tokio::spawn(sample_queue_depth(pushgate.store.clone(), cancel.clone()));

    let state = AppState::new(&pushgate, Some(metrics));
    let served = api::run(listener, state, cancel.clone().cancelled_owned()).await;
    cancel.cancel();
    info!("no new work accepted; letting in-flight sends finish");
    let drain = Duration::from_secs(pushgate.config.pipeline.drain_timeout_secs + 5);
    match tokio::time::timeout(drain, pipeline).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(error))) => warn!(%error, "the send pipeline stopped with an error"),
        Ok(Err(error)) => warn!(%error, "the send pipeline task failed"),
        Err(_) => {
            warn!("the send pipeline did not stop in time; leases will bring its messages back")
        }
    }
    for task in [analysis, scheduler, gauge] {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    pushgate.shutdown().await;
    served.context("the HTTP server failed")?;
    info!("stopped");
    Ok(())
}
