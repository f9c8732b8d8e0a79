//! The send pipeline: claim due messages, send them with bounded concurrency through their
//! app's sender, classify, and write each batch's message results and address states in
//! one transaction.
//!
//! A hard failure quarantines its token in the same transaction that records the message,
//! so the token is quarantined before the batch is acknowledged. A message whose result is
//! not written (a crash, a lost lease) becomes due again when its lease runs out: every
//! message is sent at least once and ends with exactly one final status.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use pushgate_outcome::{MessageStatus, OutcomeId};
use pushgate_quarantine::QuarantinePolicy;
use pushgate_store::queue::{Claimed, Lease};
use pushgate_store::{Dialect, Platform, Store, StoreError};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::clock::Clock;
use crate::error::DispatchError;
use crate::notification::Notification;
use crate::record::{Attempt, Done, Written, write_batch};
use crate::sender::{PrepareError, Prepared, SendReport, Sender};

/// How the pipeline claims, sends and writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// Messages the claim loop claims at a time. On SQLite, under load, most messages are
    /// claimed in the results transactions instead, as many as each batch frees.
    pub claim_batch: usize,
    /// Messages in flight at most (sent or waiting to be written); bounds memory.
    pub max_in_flight: usize,
    /// Results written in one transaction at most.
    pub write_batch: usize,
    /// How long a result waits for others to share its transaction, in milliseconds.
    pub write_interval_ms: u64,
    /// Results transactions under way at once, at most, on PostgreSQL (each on a
    /// connection of the pool). SQLite has one write connection: there it is always 1.
    pub result_writers: usize,
    /// How long a claim lasts, in seconds. Must exceed the longest a send can take
    /// (request timeout times the sender's retries): a message whose lease runs out while
    /// it is still in flight may be sent again by another worker.
    pub lease_secs: u64,
    /// How often an idle pipeline looks for due messages, in milliseconds.
    pub idle_poll_ms: u64,
    /// How often the queue's upkeep runs, in milliseconds: it fails the messages whose
    /// validity period has ended, closes the deliveries that are complete but not yet
    /// closed (a results transaction closes its own deliveries; this catches those whose
    /// closing failed), and drops their leftover range leases.
    pub maintenance_interval_ms: u64,
    /// On shutdown, how long in-flight sends may take to finish, in seconds.
    pub drain_timeout_secs: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            claim_batch: 500,
            max_in_flight: 4000,
            write_batch: 1000,
            write_interval_ms: 10,
            result_writers: 4,
            lease_secs: 300,
            idle_poll_ms: 200,
            maintenance_interval_ms: 1000,
            drain_timeout_secs: 30,
        }
    }
}

/// A delivery as the pipeline sends it, prepared once (and again after
/// [`PREPARED_FOR`]).
pub(crate) struct DeliveryEntry {
    pub(crate) app_id: String,
    pub(crate) platform: Option<Platform>,
    pub(crate) expires_at: chrono::DateTime<chrono::Utc>,
    /// What its messages share, or why none of them can be sent.
    pub(crate) prepared: Result<Arc<dyn Prepared>, PrepareError>,
    /// When it was prepared.
    prepared_at: Instant,
}

/// How long a prepared delivery is used before it is prepared again.
const PREPARED_FOR: Duration = Duration::from_secs(60);

/// The send pipeline of one node.
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    senders: HashMap<String, Arc<dyn Sender>>,
    pub(crate) config: PipelineConfig,
    pub(crate) retry: crate::retry::RetryPolicy,
    pub(crate) quarantine: QuarantinePolicy,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) owner: String,
    deliveries: Mutex<HashMap<String, Arc<DeliveryEntry>>>,
    /// Range leases this pipeline holds, with how many of their messages still await a
    /// written result: a lease is released in the transaction that writes its last one.
    pub(crate) leases: Mutex<HashMap<i64, usize>>,
    wake: Notify,
}

/// Deliveries kept prepared at most; past it the cache starts over.
const DELIVERY_CACHE: usize = 1024;

impl Pipeline {
    /// A pipeline claiming as `owner` (unique per running pipeline), sending through the
    /// sender of each message's app.
    pub fn new(
        store: Store,
        senders: HashMap<String, Arc<dyn Sender>>,
        config: PipelineConfig,
        retry: crate::retry::RetryPolicy,
        quarantine: QuarantinePolicy,
        clock: Arc<dyn Clock>,
        owner: impl Into<String>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                senders,
                config,
                retry,
                quarantine,
                clock,
                owner: owner.into(),
                deliveries: Mutex::new(HashMap::new()),
                leases: Mutex::new(HashMap::new()),
                wake: Notify::new(),
            }),
        }
    }

    /// Tells an idle pipeline that messages are waiting.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// One step, for tests and tools: claims one batch, sends it, writes its results;
    /// returns how many messages it handled (0: nothing was due). As in [`Pipeline::run`],
    /// a message whose delivery cannot be read is left to its lease.
    pub async fn step(&self) -> Result<usize, DispatchError> {
        let inner = &self.inner;
        let now = inner.clock.now();
        let claimed = inner
            .store
            .claim(
                &inner.owner,
                inner.config.claim_batch as i64,
                inner.lease(),
                now,
            )
            .await?;
        // Counted like `run`'s claims, so that a range lease is released with its last result.
        inner.hold(&claimed);
        let permits = Arc::new(Semaphore::new(claimed.len().max(1)));
        let mut held = Vec::with_capacity(claimed.len());
        for _ in 0..claimed.len() {
            held.push(
                permits
                    .clone()
                    .try_acquire_owned()
                    .map_err(|_| DispatchError::Internal("no permit for a claimed message"))?,
            );
        }
        // Side by side, as `run` sends a claimed batch.
        let attempts: FuturesUnordered<_> = inner
            .ready(claimed, held)
            .await
            .into_iter()
            .map(|(message, entry, permit)| inner.attempt(message, entry, permit))
            .collect();
        let batch: Vec<Done> = attempts.collect().await;
        let handled = batch.len();
        if handled > 0 {
            write_batch(inner, batch, 0)
                .await
                .map_err(|(error, _)| error)?;
        }
        inner.maintain().await?;
        Ok(handled)
    }

    /// Runs until `cancel` fires: claims while there is room in flight, sends each claimed
    /// batch's messages side by side in a task of its own, and writes results in batches.
    /// On SQLite the transaction that writes a batch's results also claims as many
    /// messages as the batch held places in flight, and hands them its places: under load
    /// the next messages go out as soon as results are written, without waiting for the
    /// one write connection a second time. The claim loop takes whatever places are left
    /// over (on PostgreSQL, all of them).
    /// On cancel it stops claiming, lets in-flight sends finish (at most
    /// `drain_timeout_secs`) and writes their results; whatever is left is claimed again by
    /// someone once its lease runs out.
    pub async fn run(&self, cancel: CancellationToken) -> Result<(), DispatchError> {
        let inner = self.inner.clone();
        let permits = Arc::new(Semaphore::new(inner.config.max_in_flight.max(1)));
        let (results, receiver) = mpsc::channel::<Done>(inner.config.max_in_flight.max(1));
        let writer = tokio::spawn(writer(
            inner.clone(),
            receiver,
            results.clone(),
            cancel.clone(),
        ));
        let maintenance = Duration::from_millis(inner.config.maintenance_interval_ms);
        let mut last_maintenance = Instant::now();
        info!(owner = %inner.owner, "send pipeline started");
        while !cancel.is_cancelled() {
            if last_maintenance.elapsed() >= maintenance {
                if let Err(error) = inner.maintain().await {
                    warn!(%error, "queue maintenance failed");
                }
                last_maintenance = Instant::now();
            }
            let first = tokio::select! {
                () = cancel.cancelled() => break,
                permit = permits.clone().acquire_owned() => permit
                    .map_err(|_| DispatchError::Internal("the in-flight semaphore closed"))?,
            };
            let mut held = vec![first];
            while held.len() < inner.config.claim_batch {
                match permits.clone().try_acquire_owned() {
                    Ok(permit) => held.push(permit),
                    Err(_) => break,
                }
            }
            let claimed = match inner
                .store
                .claim(
                    &inner.owner,
                    held.len() as i64,
                    inner.lease(),
                    inner.clock.now(),
                )
                .await
            {
                Ok(claimed) => claimed,
                Err(error) => {
                    warn!(%error, "claiming messages failed; retrying");
                    Vec::new()
                }
            };
            if claimed.is_empty() {
                drop(held);
                tokio::select! {
                    () = cancel.cancelled() => break,
                    () = inner.wake.notified() => {}
                    () = tokio::time::sleep(Duration::from_millis(inner.config.idle_poll_ms)) => {}
                }
                continue;
            }
            held.truncate(claimed.len());
            inner.launch(claimed, held, &results).await;
        }
        drop(results);
        let drain = Duration::from_secs(inner.config.drain_timeout_secs);
        match tokio::time::timeout(drain, writer).await {
            Ok(Ok(())) => info!(owner = %inner.owner, "send pipeline stopped"),
            Ok(Err(error)) => warn!(%error, "the result writer panicked"),
            Err(_) => {
                warn!("in-flight sends did not finish in time; their leases will bring them back")
            }
        }
        Ok(())
    }
}

impl Inner {
    pub(crate) fn lease(&self) -> Duration {
        Duration::from_secs(self.config.lease_secs)
    }

    /// Sends claimed messages, each holding one of `permits` (as many), in a task of their
    /// own, their attempts polled side by side: each result goes to the writer as soon as
    /// it is in, without a task per message.
    async fn launch(
        self: &Arc<Self>,
        claimed: Vec<Claimed>,
        permits: Vec<OwnedSemaphorePermit>,
        results: &mpsc::Sender<Done>,
    ) {
        self.hold(&claimed);
        let batch = self.ready(claimed, permits).await;
        let inner = self.clone();
        let results = results.clone();
        tokio::spawn(async move {
            let mut attempts: FuturesUnordered<_> = batch
                .into_iter()
                .map(|(message, entry, permit)| inner.attempt(message, entry, permit))
                .collect();
            while let Some(done) = attempts.next().await {
                // A closed channel means the writer stopped: the lease brings it back.
                let _ = results.send(done).await;
            }
        });
    }

    /// Whether the results transactions claim the next messages: on SQLite, where a claim
    /// of its own would wait for the one write connection while results hold it. On
    /// PostgreSQL claims run beside the results transactions on connections of their own.
    fn claims_with_results(&self) -> bool {
        self.store.dialect() == Dialect::Sqlite
    }

    /// How many results transactions may be under way at once: SQLite has one write
    /// connection.
    pub(crate) fn result_writers(&self) -> usize {
        match self.store.dialect() {
            Dialect::Sqlite => 1,
            Dialect::Postgres => self.config.result_writers.max(1),
        }
    }

    /// Counts the claimed messages of each range lease.
    fn hold(&self, claimed: &[Claimed]) {
        let mut leases = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        for message in claimed {
            if let Lease::Range(id) = message.lease {
                *leases.entry(id).or_default() += 1;
            }
        }
    }

    /// The claimed messages with their prepared deliveries and their permits, ready to be
    /// sent. A message whose delivery cannot be read is left out: its lease is never
    /// released here, so it runs out and the message comes back.
    async fn ready(
        &self,
        claimed: Vec<Claimed>,
        permits: Vec<OwnedSemaphorePermit>,
    ) -> Vec<(Claimed, Arc<DeliveryEntry>, OwnedSemaphorePermit)> {
        let mut batch = Vec::with_capacity(claimed.len());
        for (message, permit) in claimed.into_iter().zip(permits) {
            match self.entry(&message.delivery_id).await {
                Ok(entry) => batch.push((message, entry, permit)),
                Err(error) => {
                    warn!(%error, message = message.id, "cannot read the message's delivery");
                }
            }
        }
        batch
    }

    /// Fails what the validity period has ended, closes deliveries that are complete, and
    /// drops their leftover leases.
    async fn maintain(&self) -> Result<(), DispatchError> {
        let now = self.clock.now();
        let expired = self.store.expire_messages(now).await?;
        let finished = self.store.finish_complete_deliveries(now).await?;
        if finished > 0 {
            self.store.drop_finished_leases().await?;
        }
        if expired > 0 || finished > 0 {
            debug!(expired, finished, "queue maintenance");
        }
        Ok(())
    }

    /// The prepared delivery, from the cache or the store.
    async fn entry(&self, delivery_id: &str) -> Result<Arc<DeliveryEntry>, DispatchError> {
        if let Some(entry) = self.cached(delivery_id) {
            return Ok(entry);
        }
        let delivery =
            self.store.delivery(delivery_id).await?.ok_or_else(|| {
                DispatchError::Internal("a claimed message's delivery is missing")
            })?;
        let sender = self.senders.get(&delivery.app_id);
        let notification = serde_json::from_value::<Notification>(delivery.notification.clone());
        let prepared = match (sender, notification) {
            (None, _) => Err(PrepareError::Invalid(format!(
                "no sender is configured for app {:?}",
                delivery.app_id
            ))),
            (Some(_), Err(error)) => Err(PrepareError::Invalid(format!(
                "the stored notification cannot be read: {error}"
            ))),
            (Some(sender), Ok(notification)) => {
                sender.prepare(&notification, delivery.expires_at, self.clock.now())
            }
        };
        let entry = Arc::new(DeliveryEntry {
            app_id: delivery.app_id.clone(),
            platform: sender.map(|s| s.platform()),
            expires_at: delivery.expires_at,
            prepared,
            prepared_at: Instant::now(),
        });
        let mut cache = self.deliveries.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= DELIVERY_CACHE {
            cache.clear();
        }
        cache.insert(delivery_id.to_owned(), entry.clone());
        Ok(entry)
    }

    fn cached(&self, delivery_id: &str) -> Option<Arc<DeliveryEntry>> {
        let cache = self.deliveries.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(delivery_id)
            .filter(|entry| entry.prepared_at.elapsed() < PREPARED_FOR)
            .cloned()
    }

    /// One attempt at one message: nothing sent once the validity period has ended.
    async fn attempt(
        &self,
        message: Claimed,
        entry: Arc<DeliveryEntry>,
        permit: OwnedSemaphorePermit,
    ) -> Done {
        let started = Instant::now();
        let attempt = if self.clock.now() >= entry.expires_at {
            Attempt::Expired
        } else {
            match &entry.prepared {
                Ok(prepared) => Attempt::Sent(prepared.send(&message.token).await),
                Err(PrepareError::Rejected(classification)) => Attempt::Sent(SendReport {
                    classification: classification.clone(),
                    provider_id: None,
                    retry_after: None,
                    unregistered_at: None,
                }),
                Err(PrepareError::Invalid(reason)) => Attempt::Unavailable(reason.clone()),
            }
        };
        Done {
            message,
            entry,
            attempt,
            elapsed: started.elapsed(),
            permit,
        }
    }
}

/// Collects results and writes them in batches until every sender of results is gone.
/// Until `cancel` fires, each batch's transaction on SQLite also claims the next messages,
/// which take the batch's places in flight and are sent through `relaunch`; then the
/// writer lets go of `relaunch` and writes what is still in flight. On PostgreSQL up to
/// `result_writers` batches are written at once, each in a task of its own.
async fn writer(
    inner: Arc<Inner>,
    mut receiver: mpsc::Receiver<Done>,
    relaunch: mpsc::Sender<Done>,
    cancel: CancellationToken,
) {
    let interval = Duration::from_millis(inner.config.write_interval_ms);
    let batch_size = inner.config.write_batch.max(1);
    let mut relaunch = Some(relaunch);
    let side_by_side = inner.result_writers();
    let slots = Arc::new(Semaphore::new(side_by_side));
    let mut writing = JoinSet::new();
    let mut batch = Vec::with_capacity(batch_size);
    loop {
        // Whatever is waiting is taken at once; only a short batch waits (one timer per
        // wait, not per result) for more to share its transaction.
        let received = tokio::select! {
            received = receiver.recv_many(&mut batch, batch_size) => received,
            () = cancel.cancelled(), if relaunch.is_some() => {
                relaunch = None;
                continue;
            }
        };
        if received == 0 {
            break;
        }
        let deadline = tokio::time::Instant::now() + interval;
        while batch.len() < batch_size {
            let room = batch_size - batch.len();
            match tokio::time::timeout_at(deadline, receiver.recv_many(&mut batch, room)).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        if cancel.is_cancelled() {
            relaunch = None;
        }
        let claim = if relaunch.is_some() && inner.claims_with_results() {
            batch.len()
        } else {
            0
        };
        if side_by_side > 1 {
            // Several results transactions at once (PostgreSQL, which claims apart from
            // them): each batch is written in a task of its own while the next one fills.
            while let Some(joined) = writing.try_join_next() {
                log_failed_write(joined);
            }
            let Ok(slot) = slots.clone().acquire_owned().await else {
                break;
            };
            let (inner, batch) = (inner.clone(), std::mem::take(&mut batch));
            writing.spawn(async move {
                let _slot = slot;
                // Its permits go with it: their places in flight return to the claim loop.
                drop(write_until_done(&inner, batch, 0).await);
            });
            continue;
        }
        let Written {
            claimed,
            mut permits,
        } = write_until_done(&inner, std::mem::take(&mut batch), claim).await;
        // The places the claim did not fill go back to the claim loop.
        permits.truncate(claimed.len());
        if let Some(relaunch) = &relaunch
            && !claimed.is_empty()
        {
            inner.launch(claimed, permits, relaunch).await;
        }
    }
    while let Some(joined) = writing.join_next().await {
        log_failed_write(joined);
    }
}

/// A results task that panicked: its messages come back when their leases run out.
fn log_failed_write(joined: Result<(), tokio::task::JoinError>) {
    if let Err(error) = joined {
        warn!(%error, "a results transaction's task failed; its leases will bring its messages back");
    }
}

/// Writes `batch` (claiming up to `claim` messages in its transaction), trying again
/// while the database is unavailable: the results are kept, and their permits hold the
/// claim loop back. A transaction that met another one's new address is tried again at
/// once.
async fn write_until_done(inner: &Inner, mut batch: Vec<Done>, claim: usize) -> Written {
    let mut pause = Duration::from_millis(100);
    loop {
        match write_batch(inner, std::mem::take(&mut batch), claim).await {
            Ok(written) => return written,
            Err((DispatchError::Store(StoreError::Conflict(what)), returned)) => {
                debug!(conflict = what, "writing results again");
                batch = returned;
            }
            Err((error, returned)) => {
                warn!(%error, "writing results failed; retrying");
                batch = returned;
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// The metrics label of an outcome: the row id, or `ok` for an accepted message without one.
pub(crate) fn outcome_label(id: Option<OutcomeId>, status: MessageStatus) -> &'static str {
    match (id, status) {
        (Some(id), _) => id.as_str(),
        (None, MessageStatus::Failed) => "failed",
        (None, _) => "ok",
    }
}
