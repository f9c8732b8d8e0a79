//! The scheduled jobs: the opt-out sweep (every 6 hours) and the daily cleanup, run by a
//! scheduler that sleeps until the next deadline; with PostgreSQL, one node at a time.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use pushgate_quarantine::rules::{error_count_expired, mailbox_full_expired};
use pushgate_quarantine::{QuarantinePolicy, cleanup};
use pushgate_store::jobs::{CleanupRelease, Job};
use pushgate_store::{Address, Store};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::clock::{Clock, every};
use crate::error::DispatchError;

/// How often each job runs, and how long the cleanup keeps delivery logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobSchedule {
    /// Seconds between opt-out sweeps (spec: every 6 hours).
    pub optout_sweep_interval_secs: u64,
    /// Seconds between cleanups (spec: daily).
    pub cleanup_interval_secs: u64,
    /// Days a finished delivery's log (its messages, results and exclusions) is kept
    /// before the cleanup purges it; 0 keeps every log (the spec sets no retention).
    pub delivery_log_retention_days: u64,
}

impl Default for JobSchedule {
    fn default() -> Self {
        Self {
            optout_sweep_interval_secs: 6 * 3600,
            cleanup_interval_secs: 24 * 3600,
            delivery_log_retention_days: 0,
        }
    }
}

/// The longest `delivery_log_retention_days` there can be (about 100 years).
pub const MAX_DELIVERY_LOG_RETENTION_DAYS: u64 = 36_500;

impl JobSchedule {
    /// The interval of a job.
    pub fn interval(&self, job: Job) -> Duration {
        Duration::from_secs(match job {
            Job::OptoutSweep => self.optout_sweep_interval_secs,
            Job::Cleanup => self.cleanup_interval_secs,
        })
    }
}

/// What a job run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobReport {
    /// Which job.
    pub job: Job,
    /// The run's id in the job log.
    pub run_id: i64,
    /// How many subscriptions, addresses or purged deliveries it changed.
    pub changed: u64,
}

/// Runs the scheduled jobs.
#[derive(Clone)]
pub struct Jobs {
    store: Store,
    policy: QuarantinePolicy,
    node: String,
    clock: Arc<dyn Clock>,
    wake: Arc<tokio::sync::Notify>,
    /// How long the cleanup keeps a finished delivery's log; `None`: for ever.
    log_retention: Option<TimeDelta>,
}

/// Addresses the cleanup reads at a time.
const CLEANUP_PAGE: i64 = 1000;

/// Messages or exclusions the purge of a delivery log deletes per transaction.
const PURGE_CHUNK: i64 = 10_000;

impl Jobs {
    /// Jobs on `store`, recorded as run by `node`.
    pub fn new(
        store: Store,
        policy: QuarantinePolicy,
        node: impl Into<String>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            policy,
            node: node.into(),
            clock,
            wake: Arc::new(tokio::sync::Notify::new()),
            log_retention: None,
        }
    }

    /// Makes the cleanup purge the log of every delivery that finished more than `days`
    /// days before it runs; 0 keeps every log (the default).
    pub fn with_delivery_log_retention(mut self, days: u64) -> Self {
        self.log_retention = i64::try_from(days)
            .ok()
            .filter(|&days| days > 0)
            .and_then(TimeDelta::try_days);
        self
    }

    /// Makes the scheduler read the schedule and the clock again now (after a clock
    /// change in tests, or a manual run elsewhere).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Runs one job now, if no other node is running it (`None` then). The run and what it
    /// changed are recorded, in the job log and the metrics; a failed run is recorded as
    /// failed.
    pub async fn run(&self, job: Job) -> Result<Option<JobReport>, DispatchError> {
        let result = self.run_locked(job).await;
        let outcome = match &result {
            Ok(Some(_)) => "ok",
            Ok(None) => "skipped",
            Err(_) => "failed",
        };
        crate::metrics::record_job_run(job.as_str(), outcome);
        result
    }

    async fn run_locked(&self, job: Job) -> Result<Option<JobReport>, DispatchError> {
        let Some(lock) = self.store.try_lock_job(job).await? else {
            info!(job = job.as_str(), "job already running on another node");
            return Ok(None);
        };
        let started = self.clock.now();
        let run_id = self.store.start_job_run(job, &self.node, started).await?;
        let result = match job {
            Job::OptoutSweep => self
                .store
                .optout_sweep(run_id, started)
                .await
                .map_err(DispatchError::from),
            Job::Cleanup => self.cleanup(run_id, started).await,
        };
        let finished = self.clock.now();
        let report = match result {
            Ok(changed) => {
                self.store
                    .finish_job_run(run_id, true, changed, None, finished)
                    .await?;
                info!(job = job.as_str(), run_id, changed, "job done");
                Ok(Some(JobReport {
                    job,
                    run_id,
                    changed,
                }))
            }
            Err(error) => {
                let detail = error.to_string();
                self.store
                    .finish_job_run(run_id, false, 0, Some(&detail), finished)
                    .await?;
                warn!(job = job.as_str(), run_id, error = %detail, "job failed");
                Err(error)
            }
        };
        lock.release().await?;
        report
    }

    /// The database cleanup: every address with an open error episode goes through the
    /// quarantine's `cleanup` rule; the ones it releases are written and recorded. Then,
    /// with a retention set, the logs of the deliveries that finished before it are purged.
    async fn cleanup(&self, run_id: i64, now: DateTime<Utc>) -> Result<u64, DispatchError> {
        let mut changed = self.release_expired_errors(run_id, now).await?;
        if let Some(retention) = self.log_retention {
            let before = now
                .checked_sub_signed(retention)
                .unwrap_or(DateTime::<Utc>::MIN_UTC);
            let purged = self
                .store
                .purge_delivery_logs(run_id, before, PURGE_CHUNK)
                .await?;
            if purged > 0 {
                info!(purged, finished_before = %before, "delivery logs purged");
            }
            changed += purged;
        }
        Ok(changed)
    }

    /// The cleanup's 10-day and 30-day rules.
    async fn release_expired_errors(
        &self,
        run_id: i64,
        now: DateTime<Utc>,
    ) -> Result<u64, DispatchError> {
        let mut changed = 0;
        let mut after: Option<(String, String)> = None;
        loop {
            let page = self
                .store
                .cleanup_candidates(
                    after.as_ref().map(|(a, t)| (a.as_str(), t.as_str())),
                    CLEANUP_PAGE,
                )
                .await?;
            let Some(last) = page.last() else { break };
            after = Some((last.app_id.clone(), last.token.clone()));
            let released: Vec<CleanupRelease> = page
                .iter()
                .filter_map(|address| {
                    let state = cleanup(&address.state, now, &self.policy)?;
                    let change = if error_count_expired(&address.state, now, &self.policy) {
                        format!(
                            "{} -> Valid: last error over {} days old",
                            address.state.status, self.policy.error_reset_after_days
                        )
                    } else if mailbox_full_expired(&address.state, now, &self.policy) {
                        format!(
                            "{} -> Valid: Mailbox full for over {} days",
                            address.state.status, self.policy.mailbox_full_release_after_days
                        )
                    } else {
                        format!("{} -> Valid", address.state.status)
                    };
                    Some(CleanupRelease {
                        before: address.clone(),
                        after: Address {
                            state,
                            ..address.clone()
                        },
                        change,
                    })
                })
                .collect();
            changed += self.store.write_cleanup(run_id, &released, now).await?;
        }
        Ok(changed)
    }

    /// When `job` is next due: one interval after its last run started, or now if it never
    /// ran.
    pub async fn next_due(
        &self,
        job: Job,
        schedule: &JobSchedule,
    ) -> Result<DateTime<Utc>, DispatchError> {
        let last = self.store.job_runs(job, 1).await?.into_iter().next();
        let interval = TimeDelta::from_std(schedule.interval(job)).unwrap_or(TimeDelta::MAX);
        Ok(match last {
            Some(run) => run
                .started_at
                .checked_add_signed(interval)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            None => self.clock.now(),
        })
    }

    /// Runs both jobs on their schedule until `cancel` fires: sleeps until the next
    /// deadline, runs what is due, and starts over. A failing run is logged and retried at
    /// its next deadline.
    pub async fn run_scheduler(&self, schedule: JobSchedule, cancel: CancellationToken) {
        const JOBS: [Job; 2] = [Job::OptoutSweep, Job::Cleanup];
        // After a database error, wait this long before reading the schedule again.
        const ERROR_PAUSE: Duration = Duration::from_secs(30);
        loop {
            let mut next: Option<(Job, DateTime<Utc>)> = None;
            for job in JOBS {
                match self.next_due(job, &schedule).await {
                    Ok(due) if next.is_none_or(|(_, n)| due < n) => next = Some((job, due)),
                    Ok(_) => {}
                    Err(error) => warn!(job = job.as_str(), %error, "cannot read the job schedule"),
                }
            }
            let wait = match next {
                Some((_, due)) => (due - self.clock.now()).to_std().unwrap_or(Duration::ZERO),
                None => ERROR_PAUSE,
            };
            tokio::select! {
                () = cancel.cancelled() => return,
                () = self.wake.notified() => continue,
                () = tokio::time::sleep(wait) => {}
            }
            if let Some((job, due)) = next
                && due <= self.clock.now()
                && let Err(error) = self.run(job).await
            {
                warn!(job = job.as_str(), %error, "job run failed");
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(ERROR_PAUSE) => {}
                }
            }
        }
    }
}

/// How often [`checkpoint_wal`] checkpoints.
pub const WAL_CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// On SQLite, checkpoints the write-ahead log every [`WAL_CHECKPOINT_EVERY`] from a read
/// connection until `cancel` ([`Store::checkpoint`]), so that the write connection, which
/// every claim and every batch of results goes through, does not do it in its commits.
/// Returns at once on PostgreSQL.
pub async fn checkpoint_wal(store: Store, cancel: CancellationToken) {
    every(WAL_CHECKPOINT_EVERY, &cancel, || async {
        match store.checkpoint().await {
            Ok(Some(_)) => ControlFlow::Continue(()),
            Ok(None) => ControlFlow::Break(()),
            Err(error) => {
                warn!(%error, "checkpointing the write-ahead log failed");
                ControlFlow::Continue(())
            }
        }
    })
    .await;
}
