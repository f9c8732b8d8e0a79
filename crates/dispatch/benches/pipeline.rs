//! End-to-end delivery benchmark: seed N subscriptions, analyse one delivery to all of
//! them, send it through the real APNs client to the mock, every outcome persisted; on
//! SQLite and on PostgreSQL; compared with h2load against the same mock in the same run.
//!
//! ```sh
//! cargo build --release -p pushgate-mocks
//! cargo bench -p pushgate-dispatch --bench pipeline -- --n 200000 --runs 3
//! cargo bench -p pushgate-dispatch --bench pipeline -- --n 1000000 --runs 3 --backend sqlite
//! ```
//!
//! Starts `pushgate-mock` once (one tokio worker, its request log and its count of
//! deliveries per token off), then runs `--runs` deliveries per backend, each in a fresh
//! child process on a fresh database, each of the first `--h2load-runs` after a run of
//! `h2load -n N -c 4 -m 100` on the mock's APNs 200 path (the machine's speed drifts by
//! the minute; alternated, both see the same minutes).
//! A child allocates through jemalloc as the `pushgate` binary does, installs the tracing
//! subscriber and the Prometheus recorder and checkpoints SQLite's write-ahead log as
//! `pushgate serve` does, seeds the subscriptions (not timed; on PostgreSQL then `VACUUM
//! ANALYZE`s them, as autovacuum has a node's old rows), resets its peak RSS, then times
//! the analysis and the sending, checks that every message ended `Sent`, and reports.
//! Prints one line per run and the medians: analysis seconds, notifications/s end to end
//! (sending), the ratio to h2load (the median rate over the median h2load rate, and the
//! median of each run's rate over the last h2load run before it), and peak RSS. Also the
//! CPU time per notification of the child while sending and of the mock over the run (it is
//! idle but for the sending), and the mock's CPU time per request under h2load: the two
//! processes share the machine's cores. From the two, the "CPU bound": the rate at which
//! the machine's cores, all busy, would carry notifications at that cost, the ceiling of
//! any scheduling of the same work. And the child's CPU per notification over the mock's in
//! the same run: the machine's speed of the moment moves both, so this ratio compares runs
//! of different hours or binaries better than the rate does.
//!
//! By default subscription i has the token i (in hex) and the profile `profile-i`, so the
//! analysis, which reads the subscriptions in token order, queues the messages nearly in
//! profile order too: each index of `messages` grows at its end. `--scattered` gives the
//! tokens an order that has nothing to do with the profiles', as real tokens have.
//! `--excluded PCT` quarantines the tokens of PCT of each 100 subscriptions before the
//! analysis (half as User unknown, which the opt-out sweep then disables), so that the
//! analysis writes exclusions too, as it does for an app with dead tokens. `--earlier K`
//! analyses K dry runs to every subscription first (their times are printed, not in the
//! medians), so that the timed delivery meets the messages of earlier ones, as an app's
//! deliveries do. `--purge` then runs the cleanup of a node two days later with a delivery
//! log retention of one day, which purges every done delivery, and prints its seconds.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::Utc;
use clap::Parser;
use metrics_exporter_prometheus::PrometheusHandle;
use pushgate_apns::{ApnsAuth, ApnsClient, ApnsSettings, Endpoint};
use pushgate_dispatch::analysis::Analyzer;
use pushgate_dispatch::clock::SystemClock;
use pushgate_dispatch::jobs::{Jobs, checkpoint_wal};
use pushgate_dispatch::notification::Notification;
use pushgate_dispatch::pipeline::{Pipeline, PipelineConfig};
use pushgate_dispatch::providers::ApnsSender;
use pushgate_dispatch::retry::RetryPolicy;
use pushgate_dispatch::sender::Sender;
use pushgate_mocks::bench::{self, Fixtures, MockProcess};
use pushgate_outcome::{FailureReason, FailureType};
use pushgate_quarantine::{AddressState, AddressStatus, QuarantinePolicy};
use pushgate_store::jobs::Job;
use pushgate_store::testing::TestDatabase;
use pushgate_store::{App, DeliveryState, NewDelivery, Platform, StoreOptions, Target};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// The allocator of the `pushgate` binary, so that the child pays for allocation as a node
/// does.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const TOPIC: &str = "com.example.app";
const APP: &str = "bench-ios";

#[derive(Parser, Debug, Clone)]
struct Args {
    /// Subscriptions (and messages) per run.
    #[arg(long, default_value_t = 200_000)]
    n: usize,
    /// Deliveries per backend (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// h2load runs per backend, one before each of the first deliveries (the median is the
    /// reference).
    #[arg(long, default_value_t = 3)]
    h2load_runs: usize,
    /// `sqlite`, `postgres` or `both`.
    #[arg(long, default_value = "both")]
    backend: String,
    /// Messages in flight at most (default: the server's).
    #[arg(long, default_value_t = PipelineConfig::default().max_in_flight)]
    in_flight: usize,
    /// Targets analysed per transaction (default: the server's).
    #[arg(long, default_value_t = pushgate_dispatch::analysis::DEFAULT_BATCH_SIZE)]
    analysis_batch: i64,
    /// Messages claimed at a time.
    #[arg(long, default_value_t = 500)]
    claim_batch: usize,
    /// Results written in one transaction at most.
    #[arg(long, default_value_t = 1000)]
    write_batch: usize,
    /// How long a short results batch waits for more, in milliseconds (default: the server's).
    #[arg(long, default_value_t = PipelineConfig::default().write_interval_ms)]
    write_interval_ms: u64,
    /// Results transactions at once on PostgreSQL (default: the server's).
    #[arg(long, default_value_t = PipelineConfig::default().result_writers)]
    result_writers: usize,
    /// Connections in the APNs client's pool.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Tokio worker threads of the child; 0 = a current-thread runtime.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Stop after the analysis (no sending).
    #[arg(long)]
    analysis_only: bool,
    /// Seed tokens in no relation to the profiles' order, as real ones are (by default
    /// subscription i has token i and profile `profile-i`, so that the analysis, which
    /// reads in token order, queues messages nearly in profile order too).
    #[arg(long)]
    scattered: bool,
    /// Per cent of the subscriptions that the analysis excludes (0 to 100): of each 100, the
    /// first `PCT` have their token quarantined, half of them as User unknown, which the
    /// opt-out sweep then disables (excluded as disabled), half as Unreachable (excluded
    /// as reason 9, Quarantined address).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    excluded: u8,
    /// Dry-run deliveries to every subscription analysed before the timed one, not timed
    /// but reported: the timed analysis then meets the messages of earlier deliveries, as
    /// an app's deliveries do, each after the one before.
    #[arg(long, default_value_t = 0)]
    earlier: usize,
    /// After the delivery, run the cleanup with a delivery log retention that every done
    /// delivery has passed (the timed one once sent, and the `--earlier` dry runs), and
    /// report how long its purge took.
    #[arg(long)]
    purge: bool,
    /// SQLite's write connection's page cache, in MiB (default: the server's).
    #[arg(long, default_value_t = pushgate_store::WRITER_PAGE_CACHE_KIB / 1024)]
    sqlite_write_cache_mib: u32,
    /// Internal: run one delivery and print a JSON line.
    #[arg(long, hide = true)]
    child: Option<PathBuf>,
    /// Internal: the mock's APNs URL for `--child`.
    #[arg(long, hide = true)]
    apns_url: Option<String>,
    /// Ignored (cargo bench passes it).
    #[arg(long, hide = true)]
    bench: bool,
}

/// One delivery, as the child reports it.
#[derive(Debug, Serialize, Deserialize)]
struct RunReport {
    analysis_secs: f64,
    /// The analysis seconds of the `--earlier` dry runs, in order.
    earlier_analysis_secs: Vec<f64>,
    send_secs: f64,
    rate: f64,
    sent: i64,
    peak_rss_kib: u64,
    /// CPU time (user + system) of the child process while sending, per notification.
    send_cpu_us: f64,
    /// Results transactions while sending (`pushgate_result_write_seconds`): how many, and
    /// their seconds in all.
    result_writes: u64,
    result_write_secs: f64,
    /// With `--purge`: the deliveries the cleanup purged, and its seconds.
    purged: u64,
    purge_secs: f64,
}

impl RunReport {
    /// The results transactions' time (from asking for a write connection to the commit)
    /// as a share of the sending: on PostgreSQL, with several transactions at once, their
    /// times add up and the share can pass 100 %.
    fn write_busy(&self) -> f64 {
        if self.send_secs > 0.0 {
            self.result_write_secs / self.send_secs
        } else {
            0.0
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match &args.child {
        Some(dir) => child(&args, dir),
        None => parent(&args),
    }
}

fn parent(args: &Args) -> anyhow::Result<()> {
    let bin = bench::built_mock_bin()?;
    let dir = tempfile::tempdir()?;
    let fx = Fixtures::create(&bin, dir.path())?;
    let config = fx.config.display().to_string();
    let mock = MockProcess::start(
        &bin,
        &[
            "--config",
            &config,
            "--no-request-log",
            "--no-delivery-counts",
        ],
    )?;
    let token = fx.apns_provider_token(&bin)?;
    bench::print_load();

    let mock_pid = mock.pid().to_string();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let backends: Vec<&str> = match args.backend.as_str() {
        "both" => vec!["sqlite", "postgres"],
        one => vec![one],
    };
    let exe = std::env::current_exe()?;
    for backend in backends {
        // The database server shares the cores too, but its CPU time is not measured.
        let unseen = match backend {
            "postgres" => " (without PostgreSQL's own CPU)",
            _ => "",
        };
        let (mut analysis, mut rates, mut rss, mut cpu, mut mock_cpu, mut busy) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        let mut over_mock = Vec::new();
        let mut purge = Vec::new();
        // h2load runs alternate with the deliveries, one before each of the first
        // `--h2load-runs`, so that both see the machine of the same minutes; each delivery
        // is also compared with the last h2load run before it.
        let mut mock_per_h2load_request = Vec::new();
        let mut paired = Vec::new();
        let last_h2load = std::cell::Cell::new(0.0);
        let h2load_runs = if args.analysis_only {
            0
        } else {
            args.h2load_runs
        };
        let h2load_rates = bench::alternate(
            h2load_runs,
            args.runs,
            || -> anyhow::Result<bench::H2loadReport> {
                // The mock's CPU time per request, to compare with its time per
                // notification under pushgate: both processes share the machine's cores.
                let mock_before = bench::cpu_secs(&mock_pid)?;
                let h2 = bench::h2load(
                    args.n.min(200_000),
                    &[
                        format!("authorization: bearer {token}"),
                        format!("apns-topic: {TOPIC}"),
                        "apns-push-type: alert".to_owned(),
                    ],
                    &fx.payload,
                    &format!("{}/3/device/{:064x}", mock.apns_url(), 1),
                )?;
                let mock_us =
                    (bench::cpu_secs(&mock_pid)? - mock_before) * 1e6 / h2.succeeded.max(1) as f64;
                println!("h2load: the mock at {mock_us:.1} µs CPU per request");
                mock_per_h2load_request.push(mock_us);
                last_h2load.set(h2.requests_per_sec);
                Ok(h2)
            },
            |run| -> anyhow::Result<()> {
                let mut command = Command::new(&exe);
                command
                    .arg("--child")
                    .arg(dir.path())
                    .args(["--apns-url", &mock.apns_url()])
                    .args(["--n", &args.n.to_string()])
                    .args(["--backend", backend])
                    .args(["--in-flight", &args.in_flight.to_string()])
                    .args(["--analysis-batch", &args.analysis_batch.to_string()])
                    .args(["--claim-batch", &args.claim_batch.to_string()])
                    .args(["--write-batch", &args.write_batch.to_string()])
                    .args(["--write-interval-ms", &args.write_interval_ms.to_string()])
                    .args(["--result-writers", &args.result_writers.to_string()])
                    .args(["--connections", &args.connections.to_string()])
                    .args(["--threads", &args.threads.to_string()])
                    .args([
                        "--sqlite-write-cache-mib",
                        &args.sqlite_write_cache_mib.to_string(),
                    ]);
                if args.analysis_only {
                    command.arg("--analysis-only");
                }
                if args.scattered {
                    command.arg("--scattered");
                }
                command.args(["--excluded", &args.excluded.to_string()]);
                command.args(["--earlier", &args.earlier.to_string()]);
                if args.purge {
                    command.arg("--purge");
                }
                // The mock is idle but for the sending, so its CPU time over the whole run is
                // that of the sending.
                let mock_before = bench::cpu_secs(&mock_pid)?;
                let report: RunReport = bench::child_report(&mut command)?;
                let mock_secs = bench::cpu_secs(&mock_pid)? - mock_before;
                let mock_us = match report.sent {
                    0 => 0.0,
                    sent => mock_secs * 1e6 / sent as f64,
                };
                let ceiling = cpu_bound(cores, report.send_cpu_us + mock_us);
                let ratio = cpu_over_mock(report.send_cpu_us, mock_us);
                if args.purge {
                    println!(
                        "{backend} run {run}: the cleanup purged {} delivery logs in {:.2}s",
                        report.purged, report.purge_secs
                    );
                }
                if !report.earlier_analysis_secs.is_empty() {
                    let secs: Vec<String> = report
                        .earlier_analysis_secs
                        .iter()
                        .map(|s| format!("{s:.2}s"))
                        .collect();
                    println!(
                        "{backend} run {run}: analyses of the {} earlier dry runs {}",
                        secs.len(),
                        secs.join(", ")
                    );
                }
                println!(
                    "{backend} run {run}: analysis {:.2}s, sending {:.2}s = {:.0} notifications/s, {} sent, {:.1} µs CPU per notification (mock {mock_us:.1} µs, {ratio:.2}× as much for pushgate; {cores} cores allow {ceiling:.0}/s at that cost{unseen}), peak RSS {:.1} MiB; {} results transactions of {:.0} messages and {:.1} ms on average, {:.0}% of the sending",
                    report.analysis_secs,
                    report.send_secs,
                    report.rate,
                    report.sent,
                    report.send_cpu_us,
                    report.peak_rss_kib as f64 / 1024.0,
                    report.result_writes,
                    report.sent as f64 / report.result_writes.max(1) as f64,
                    report.result_write_secs * 1e3 / report.result_writes.max(1) as f64,
                    100.0 * report.write_busy(),
                );
                busy.push(report.write_busy());
                purge.push(report.purge_secs);
                over_mock.push(ratio);
                cpu.push(report.send_cpu_us);
                mock_cpu.push(mock_us);
                analysis.push(report.analysis_secs);
                rates.push(report.rate);
                rss.push(report.peak_rss_kib as f64 / 1024.0);
                if last_h2load.get() > 0.0 {
                    paired.push(report.rate / last_h2load.get());
                }
                Ok(())
            },
        )?;
        let rate = bench::median(&rates).unwrap_or(0.0);
        let reference = bench::median(&h2load_rates).unwrap_or(0.0);
        let bounds: Vec<f64> = cpu
            .iter()
            .zip(&mock_cpu)
            .map(|(pushgate, mock)| cpu_bound(cores, pushgate + mock))
            .collect();
        let ceiling = bench::median(&bounds).unwrap_or(0.0);
        // A rate as a share of the median h2load rate, or why there is none.
        let of_h2load = |value: f64| {
            if reference > 0.0 {
                format!("{:.1}% of h2load", 100.0 * value / reference)
            } else {
                "h2load not run".to_owned()
            }
        };
        println!(
            "{backend} median (n={}): analysis {:.2}s; {rate:.0} notifications/s end to end ({}); {:.1} µs CPU per notification, mock {:.1} µs ({}), pushgate's {:.2}× the mock's; CPU bound{unseen} {ceiling:.0}/s ({}); peak RSS {:.1} MiB; results transactions {:.0}% of the sending{}",
            args.n,
            bench::median(&analysis).unwrap_or(0.0),
            if reference > 0.0 {
                format!(
                    "{} {reference:.0} req/s; run by run over the last h2load run before it {:.1}%",
                    of_h2load(rate),
                    100.0 * bench::median(&paired).unwrap_or(0.0),
                )
            } else {
                of_h2load(rate)
            },
            bench::median(&cpu).unwrap_or(0.0),
            bench::median(&mock_cpu).unwrap_or(0.0),
            bench::median(&mock_per_h2load_request).map_or_else(
                || "h2load not run".to_owned(),
                |us| format!("under h2load {us:.1} µs per request"),
            ),
            bench::median(&over_mock).unwrap_or(0.0),
            of_h2load(ceiling),
            bench::median(&rss).unwrap_or(0.0),
            100.0 * bench::median(&busy).unwrap_or(0.0),
            match bench::median(&purge) {
                Some(secs) if args.purge => format!("; the purge {secs:.2}s"),
                _ => String::new(),
            },
        );
    }
    Ok(())
}

fn child(args: &Args, dir: &Path) -> anyhow::Result<()> {
    // As `pushgate serve` runs it: a tracing subscriber on standard error, filtered by
    // `RUST_LOG` (default `info`). Without one, every disabled span of the `h2` and
    // `sqlx` crates would still be formatted for the `log` crate (tracing's `log`
    // feature, which sqlx turns on).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init()
        .map_err(|e| anyhow::anyhow!("installing the tracing subscriber: {e}"))?;
    // Every send recorded in the Prometheus recorder.
    let prometheus = pushgate_dispatch::metrics::install_prometheus()?;
    let runtime = match args.threads {
        0 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build()?,
    };
    let cancel = CancellationToken::new();
    let _upkeep = runtime.spawn(pushgate_dispatch::metrics::upkeep(
        prometheus.clone(),
        cancel.clone(),
    ));
    let report = runtime.block_on(async {
        let (db, mut report) = run_delivery(args, dir, &prometheus).await?;
        if args.purge {
            (report.purged, report.purge_secs) = purge(&db.store).await?;
        }
        anyhow::Ok(report)
    });
    cancel.cancel();
    let report = report?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// The cleanup of a node two days later with a retention of one day: it purges every done
/// delivery. Returns how many it purged and its seconds.
async fn purge(store: &pushgate_store::Store) -> anyhow::Result<(u64, f64)> {
    struct Later(chrono::DateTime<Utc>);
    impl pushgate_dispatch::clock::Clock for Later {
        fn now(&self) -> chrono::DateTime<Utc> {
            self.0
        }
    }
    let later = Arc::new(Later(Utc::now() + chrono::TimeDelta::days(2)));
    let jobs = Jobs::new(store.clone(), QuarantinePolicy::default(), "bench", later)
        .with_delivery_log_retention(1);
    let started = Instant::now();
    let report = jobs
        .run(Job::Cleanup)
        .await?
        .context("the cleanup is not locked")?;
    Ok((report.changed, started.elapsed().as_secs_f64()))
}

/// Runs one delivery; returns the store (kept open, as the database it is on) and the
/// report.
async fn run_delivery(
    args: &Args,
    dir: &Path,
    prometheus: &PrometheusHandle,
) -> anyhow::Result<(TestDatabase, RunReport)> {
    let fx = Fixtures::read(dir)?;
    let options = StoreOptions {
        sqlite_write_cache_kib: args.sqlite_write_cache_mib * 1024,
        ..StoreOptions::default()
    };
    let db = match args.backend.as_str() {
        "sqlite" => TestDatabase::sqlite_with(&options).await,
        "postgres" => TestDatabase::postgres_with(&options)
            .await
            .context("PostgreSQL is not reachable at PUSHGATE_TEST_DATABASE_URL")?,
        other => bail!("--backend {other:?}: use sqlite, postgres or both"),
    };
    let store = db.store.clone();
    // As `pushgate serve` does: the write-ahead log checkpointed off the write connection.
    let checkpoints = CancellationToken::new();
    let _stop_checkpoints = checkpoints.clone().drop_guard();
    tokio::spawn(checkpoint_wal(store.clone(), checkpoints));
    let now = Utc::now();
    store
        .upsert_app(
            &App {
                id: APP.into(),
                platform: Platform::Ios,
            },
            now,
        )
        .await?;
    // Seed in chunks, so that seeding does not hold the whole base in memory either.
    for start in (0..args.n).step_by(50_000) {
        let pairs: Vec<(String, String)> = (start..(start + 50_000).min(args.n))
            .map(|i| (format!("profile-{i}"), seeded_token(i, args.scattered)))
            .collect();
        store.import_subscriptions(APP, &pairs, now).await?;
    }
    let excluded = seed_exclusions(&store, args, now).await?;
    if args.backend == "postgres" {
        // A node's subscriptions are mostly old rows that autovacuum has visited; freshly
        // seeded ones are not, and every index scan would check each row in the table.
        let admin = sqlx::AnyPool::connect(&db.url).await?;
        sqlx::query("VACUUM ANALYZE subscriptions")
            .execute(&admin)
            .await?;
        admin.close().await;
    }
    bench::reset_peak_rss()?;

    let notification = Notification {
        title: Some("Hello".into()),
        body: Some("World".into()),
        ..Notification::default()
    };
    let clock = Arc::new(SystemClock);
    let to_all = |dry_run| NewDelivery {
        app_id: APP.into(),
        notification: serde_json::to_value(&notification).expect("a notification is JSON"),
        target: Target::All,
        dry_run,
        validity_secs: 86_400,
        requested_validity_secs: 86_400,
    };
    let mut earlier_analysis_secs = Vec::with_capacity(args.earlier);
    for _ in 0..args.earlier {
        let dry_run = store.create_delivery(&to_all(true), Utc::now()).await?;
        let started = Instant::now();
        Analyzer::new(store.clone(), args.analysis_batch, clock.clone())
            .analyze(&dry_run)
            .await?;
        earlier_analysis_secs.push(started.elapsed().as_secs_f64());
    }
    let delivery = store.create_delivery(&to_all(false), Utc::now()).await?;
    let started = Instant::now();
    Analyzer::new(store.clone(), args.analysis_batch, clock.clone())
        .analyze(&delivery)
        .await?;
    let analysis_secs = started.elapsed().as_secs_f64();
    if args.analysis_only {
        let report = RunReport {
            analysis_secs,
            earlier_analysis_secs,
            send_secs: 0.0,
            rate: 0.0,
            sent: 0,
            peak_rss_kib: bench::self_peak_rss_kib()?,
            send_cpu_us: 0.0,
            result_writes: 0,
            result_write_secs: 0.0,
            purged: 0,
            purge_secs: 0.0,
        };
        return Ok((db, report));
    }

    let url = args.apns_url.as_deref().context("--apns-url")?;
    let settings = ApnsSettings {
        endpoint: Endpoint::parse(url)?,
        auth: ApnsAuth::Token {
            key_file: fx.apns_key.clone(),
            key_id: fx.key_id.clone(),
            team_id: fx.team_id.clone(),
        },
        topic: TOPIC.into(),
        trust_roots: Some(fx.ca.clone()),
        connections: args.connections,
        ..ApnsSettings::default()
    };
    let sender: Arc<dyn Sender> = Arc::new(ApnsSender::new(ApnsClient::new(&settings)?));
    let config = PipelineConfig {
        max_in_flight: args.in_flight,
        claim_batch: args.claim_batch,
        write_batch: args.write_batch,
        write_interval_ms: args.write_interval_ms,
        result_writers: args.result_writers,
        idle_poll_ms: 5,
        ..PipelineConfig::default()
    };
    let pipeline = Pipeline::new(
        store.clone(),
        [(APP.to_owned(), sender)].into(),
        config,
        RetryPolicy::default(),
        QuarantinePolicy::default(),
        clock,
        "bench",
    );
    let cancel = CancellationToken::new();
    let cpu_before = bench::cpu_secs("self")?;
    let started = Instant::now();
    let running = tokio::spawn({
        let (pipeline, cancel) = (pipeline.clone(), cancel.clone());
        async move { pipeline.run(cancel).await }
    });
    loop {
        let current = store
            .delivery(&delivery.id)
            .await?
            .context("the delivery")?;
        if current.state == DeliveryState::Done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let send_secs = started.elapsed().as_secs_f64();
    let send_cpu_us =
        (bench::cpu_secs("self")? - cpu_before) * 1e6 / (args.n - excluded).max(1) as f64;
    let rendered = prometheus.render();
    cancel.cancel();
    running.await??;
    let done = store
        .delivery(&delivery.id)
        .await?
        .context("the delivery")?;
    let summary = store.summary(&done).await?;
    let expected = (args.n - excluded) as i64;
    if summary.sent != expected {
        bail!(
            "{} messages were sent, not {expected}: {summary:?}",
            summary.sent
        );
    }
    let report = RunReport {
        analysis_secs,
        earlier_analysis_secs,
        send_secs,
        rate: expected as f64 / send_secs,
        sent: summary.sent,
        peak_rss_kib: bench::self_peak_rss_kib()?,
        send_cpu_us,
        result_writes: rendered_value(&rendered, "pushgate_result_write_seconds_count")? as u64,
        result_write_secs: rendered_value(&rendered, "pushgate_result_write_seconds_sum")?,
        purged: 0,
        purge_secs: 0.0,
    };
    Ok((db, report))
}

/// Quarantines the tokens of the first `--excluded` of each 100 subscriptions and runs the
/// opt-out sweep, which disables those quarantined as User unknown (every other one).
/// Returns how many subscriptions the analysis will exclude.
async fn seed_exclusions(
    store: &pushgate_store::Store,
    args: &Args,
    now: chrono::DateTime<Utc>,
) -> anyhow::Result<usize> {
    // Written 10,000 at a time, so that the seeding adds nothing to the peak RSS measured.
    const IMPORT: usize = 10_000;
    let mut excluded = 0;
    let mut addresses = Vec::with_capacity(IMPORT);
    for i in (0..args.n).filter(|i| i % 100 < usize::from(args.excluded)) {
        // A 410 quarantines at once; Unreachable, a soft failure, after several.
        let (reason, failure_type, errors) = if i % 2 == 0 {
            (FailureReason::UserUnknown, FailureType::Hard, 1)
        } else {
            (FailureReason::Unreachable, FailureType::Soft, 5)
        };
        let state = AddressState {
            status: AddressStatus::Quarantine,
            error_count: errors,
            last_failure_type: Some(failure_type),
            last_failure_reason: Some(reason),
            first_error_text: Some("seeded".into()),
            last_error_text: Some("seeded".into()),
            first_error_at: Some(now),
            last_error_at: Some(now),
            last_modified: now,
        };
        let address = pushgate_store::Address {
            app_id: APP.into(),
            token: seeded_token(i, args.scattered),
            state,
            unregistered_at: None,
        };
        addresses.push(address);
        excluded += 1;
        if addresses.len() == IMPORT {
            store.put_addresses(&addresses, now).await?;
            addresses.clear();
        }
    }
    if !addresses.is_empty() {
        store.put_addresses(&addresses, now).await?;
    }
    if excluded > 0 {
        let run = store.start_job_run(Job::OptoutSweep, "bench", now).await?;
        store.optout_sweep(run, now).await?;
    }
    Ok(excluded)
}

/// Subscription `i`'s token: `i` in hex, or with `scattered` a bijective mix of it (the
/// finalizer of SplitMix64), so that the tokens' order has nothing to do with `i`'s.
fn seeded_token(i: usize, scattered: bool) -> String {
    let mut x = i as u64;
    if scattered {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^= x >> 31;
    }
    format!("{x:064x}")
}

/// The child's CPU per notification over the mock's (0 when the mock's is unknown).
fn cpu_over_mock(pushgate_us: f64, mock_us: f64) -> f64 {
    if mock_us > 0.0 {
        pushgate_us / mock_us
    } else {
        0.0
    }
}

/// The most notifications a second that `cores` fully busy cores could carry when each one
/// costs `cpu_us` microseconds of CPU, pushgate's and the mock's together: the two share
/// the machine, so no pipelining can send faster than this.
fn cpu_bound(cores: usize, cpu_us: f64) -> f64 {
    if cpu_us > 0.0 {
        cores as f64 * 1e6 / cpu_us
    } else {
        0.0
    }
}

/// The value of an unlabelled series in the Prometheus text `rendered`.
fn rendered_value(rendered: &str, series: &str) -> anyhow::Result<f64> {
    rendered
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .with_context(|| format!("{series} in the rendered metrics"))?
        .trim()
        .parse()
        .with_context(|| format!("{series} is not a number"))
}
