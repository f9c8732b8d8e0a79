//! `pushgate serve`: the HTTP API, the send pipeline, the analyzer and the job scheduler
//! in one process. SIGTERM or Ctrl-C stops accepting work, lets in-flight sends finish
//! (at most `pipeline.drain_timeout_secs`) and exits 0; whatever was not written is sent
//! again after its lease by the next process.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use pushgate_dispatch::jobs::checkpoint_wal;
use pushgate_dispatch::metrics::{install_prometheus, upkeep};
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
    let prometheus = install_prometheus().context("cannot install the metrics recorder")?;
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
    tokio::spawn(upkeep(prometheus.clone(), cancel.clone()));
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
    tokio::spawn(checkpoint_wal(pushgate.store.clone(), cancel.clone()));

    let state = AppState::new(&pushgate, Some(prometheus));
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
