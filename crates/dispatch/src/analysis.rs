//! Runs delivery analysis: streams each delivery's target through the store's analysis in
//! batches, so memory stays flat whatever the target's size.

use std::sync::Arc;
use std::time::Duration;

use pushgate_store::{Delivery, Store};
use serde::Serialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, instrument, warn};

use crate::clock::Clock;
use crate::error::DispatchError;

/// What one delivery's analysis did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct AnalysisReport {
    /// Messages queued (or planned, for a dry run).
    pub messages: u64,
    /// Targets excluded, each written to the exclusion log.
    pub exclusions: u64,
    /// Batches it took.
    pub batches: u64,
}

/// Targets analysed per transaction unless configured otherwise. Larger batches analyse
/// faster (the pipeline benchmark's `--analysis-batch` compares them; figures in the
/// README) but hold SQLite's single writer longer, during which results and
/// registrations wait.
pub const DEFAULT_BATCH_SIZE: i64 = 20_000;

/// Analyses deliveries.
#[derive(Clone)]
pub struct Analyzer {
    store: Store,
    batch_size: i64,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
}

impl Analyzer {
    /// An analyzer reading `batch_size` targets at a time.
    pub fn new(store: Store, batch_size: i64, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            batch_size: batch_size.max(1),
            clock,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Tells the background loop that a delivery is waiting.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Analyses one delivery to the end (resuming where a previous run stopped).
    #[instrument(skip_all, fields(delivery = %delivery.id))]
    pub async fn analyze(&self, delivery: &Delivery) -> Result<AnalysisReport, DispatchError> {
        let mut report = AnalysisReport::default();
        loop {
            let batch = self
                .store
                .analyze_batch(delivery, self.batch_size, self.clock.now())
                .await?;
            report.messages += batch.messages;
            report.exclusions += batch.exclusions;
            if batch.done {
                info!(
                    messages = report.messages,
                    exclusions = report.exclusions,
                    "analysis done"
                );
                return Ok(report);
            }
            report.batches += 1;
        }
    }

    /// Analyses every delivery waiting for it, oldest first; returns how many.
    pub async fn run_once(&self) -> Result<usize, DispatchError> {
        let waiting = self.store.deliveries_to_analyze().await?;
        for delivery in &waiting {
            self.analyze(delivery).await?;
        }
        Ok(waiting.len())
    }

    /// Analyses deliveries as they arrive until `cancel` fires: woken by [`Self::wake`],
    /// and every `poll` anyway (deliveries created by another node).
    pub async fn run(&self, poll: Duration, cancel: CancellationToken) {
        loop {
            if let Err(error) = self.run_once().await {
                warn!(%error, "analysis failed; retrying");
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(poll) => {}
            }
        }
    }
}
