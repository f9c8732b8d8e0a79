//! The dispatcher's metrics, through the `metrics` facade: the binary installs a recorder
//! (Prometheus) and these become visible; without one they cost almost nothing.

use std::time::Duration;

use pushgate_store::Platform;

/// Sends by app, platform and outcome row id (`ok` for an accepted message without a row).
pub const SENDS: &str = "pushgate_sends_total";
/// Seconds from the start of an attempt to the provider's answer, by platform.
pub const SEND_SECONDS: &str = "pushgate_send_seconds";
/// Tokens put in quarantine by a send, by app and platform.
pub const QUARANTINED: &str = "pushgate_quarantined_total";
/// Job runs, by job and outcome (`ok`, `failed`, `skipped`: another node held the lock).
pub const JOB_RUNS: &str = "pushgate_job_runs_total";

/// Records one job run's outcome.
pub(crate) fn record_job_run(job: &'static str, outcome: &'static str) {
    metrics::counter!(JOB_RUNS, "job" => job, "outcome" => outcome).increment(1);
}

/// Records one attempt's outcome.
pub(crate) fn record_send(
    app: &str,
    platform: Option<Platform>,
    outcome: &'static str,
    elapsed: Duration,
    quarantined: bool,
) {
    let platform = platform.map_or("none", Platform::as_str);
    metrics::counter!(SENDS, "app" => app.to_owned(), "platform" => platform, "outcome" => outcome)
        .increment(1);
    metrics::histogram!(SEND_SECONDS, "platform" => platform).record(elapsed.as_secs_f64());
    if quarantined {
        metrics::counter!(QUARANTINED, "app" => app.to_owned(), "platform" => platform)
            .increment(1);
    }
}
