//! The dispatcher's metrics, through the `metrics` facade: the binary installs a recorder
//! (Prometheus, [`install_prometheus`]) and these become visible; without one they cost
//! almost nothing.

use std::ops::ControlFlow;
use std::time::Duration;

use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use pushgate_store::Platform;
use tokio_util::sync::CancellationToken;

use crate::clock::every;

/// Sends by app, platform and outcome row id (`ok` for an accepted message without a row).
pub const SENDS: &str = "pushgate_sends_total";
/// Seconds from the start of an attempt to the provider's answer, by platform.
pub const SEND_SECONDS: &str = "pushgate_send_seconds";
/// Tokens put in quarantine by a send, by app and platform.
pub const QUARANTINED: &str = "pushgate_quarantined_total";
/// Seconds each results transaction took: from asking for the write connection to the
/// commit of a batch's results, address states and the claims that ride along.
pub const RESULT_WRITE_SECONDS: &str = "pushgate_result_write_seconds";
/// Job runs, by job and outcome (`ok`, `failed`, `skipped`: another node held the lock).
pub const JOB_RUNS: &str = "pushgate_job_runs_total";

/// The buckets of [`SEND_SECONDS`], in seconds: from 1 ms to 30 s.
pub const SEND_SECONDS_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The buckets of [`RESULT_WRITE_SECONDS`], in seconds: from 1 ms to 10 s.
pub const RESULT_WRITE_SECONDS_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often [`upkeep`] folds recorded histogram samples into their buckets.
pub const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Installs the Prometheus recorder as the process's recorder (send latency with
/// [`SEND_SECONDS_BUCKETS`], results transactions with [`RESULT_WRITE_SECONDS_BUCKETS`]).
/// Run [`upkeep`] beside it.
pub fn install_prometheus() -> Result<PrometheusHandle, BuildError> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(SEND_SECONDS.to_owned()),
            &SEND_SECONDS_BUCKETS,
        )?
        .set_buckets_for_metric(
            Matcher::Full(RESULT_WRITE_SECONDS.to_owned()),
            &RESULT_WRITE_SECONDS_BUCKETS,
        )?
        .install_recorder()
}

/// Folds histogram samples into their buckets every [`UPKEEP_EVERY`] until `cancel`: the
/// installed recorder keeps every sample until then, so a node that sends millions of
/// notifications between scrapes (or is never scraped) would grow without bound.
pub async fn upkeep(handle: PrometheusHandle, cancel: CancellationToken) {
    every(UPKEEP_EVERY, &cancel, || {
        handle.run_upkeep();
        std::future::ready(ControlFlow::Continue(()))
    })
    .await;
}

/// Records one job run's outcome.
pub(crate) fn record_job_run(job: &'static str, outcome: &'static str) {
    metrics::counter!(JOB_RUNS, "job" => job, "outcome" => outcome).increment(1);
}

/// Records how long one results transaction took.
pub(crate) fn record_result_write(elapsed: Duration) {
    metrics::histogram!(RESULT_WRITE_SECONDS).record(elapsed.as_secs_f64());
}

/// One attempt's outcome, as [`record_sends`] counts it.
pub(crate) struct SendRecord<'a> {
    pub(crate) app: &'a str,
    pub(crate) platform: Option<Platform>,
    /// The outcome label ([`crate::pipeline::outcome_label`]).
    pub(crate) outcome: &'static str,
    pub(crate) elapsed: Duration,
    pub(crate) quarantined: bool,
}

/// Records a written batch's attempts: each counted once in [`SENDS`] (and [`QUARANTINED`]
/// if it quarantined its token) and timed in [`SEND_SECONDS`]. Each series of the batch is
/// looked up in the recorder once, not once per attempt.
pub(crate) fn record_sends<'a>(sends: impl IntoIterator<Item = SendRecord<'a>>) {
    let mut counted: Vec<(&str, &'static str, &'static str, u64)> = Vec::new();
    let mut quarantined: Vec<(&str, &'static str, u64)> = Vec::new();
    let mut timers: Vec<(&'static str, metrics::Histogram)> = Vec::new();
    for send in sends {
        let platform = send.platform.map_or("none", Platform::as_str);
        match counted.iter_mut().find(|(app, p, outcome, _)| {
            *app == send.app && *p == platform && *outcome == send.outcome
        }) {
            Some((.., n)) => *n += 1,
            None => counted.push((send.app, platform, send.outcome, 1)),
        }
        if send.quarantined {
            match quarantined
                .iter_mut()
                .find(|(app, p, _)| *app == send.app && *p == platform)
            {
                Some((.., n)) => *n += 1,
                None => quarantined.push((send.app, platform, 1)),
            }
        }
        let timer = match timers.iter().position(|(p, _)| *p == platform) {
            Some(i) => &timers[i].1,
            None => {
                let histogram = metrics::histogram!(SEND_SECONDS, "platform" => platform);
                timers.push((platform, histogram));
                &timers[timers.len() - 1].1
            }
        };
        timer.record(send.elapsed.as_secs_f64());
    }
    for (app, platform, outcome, n) in counted {
        metrics::counter!(SENDS, "app" => app.to_owned(), "platform" => platform, "outcome" => outcome)
            .increment(n);
    }
    for (app, platform, n) in quarantined {
        metrics::counter!(QUARANTINED, "app" => app.to_owned(), "platform" => platform)
            .increment(n);
    }
}
