//! APNs sender throughput against the mock, compared with h2load on the same mock.
//!
//! ```sh
//! cargo build --release -p pushgate-mocks
//! cargo bench -p pushgate-apns --bench throughput -- --n 200000 --in-flight 400 --runs 5
//! ```
//!
//! Starts `pushgate-mock` once (one tokio worker, `PUSHGATE_MOCK_BIN` or
//! `target/release/pushgate-mock`), then alternates `h2load -n N -c 4 -m 100` on its APNs
//! 200 path with runs of the sender, each in a fresh child process (so the peak RSS is the
//! sender's own) sending N notifications with at most `--in-flight` at once, on a
//! current-thread runtime (`--sender-threads` for more) with a warn-level tracing
//! subscriber, as the pushgate binary has one. Prints one line per run, the load, and the
//! medians: notifications/s, peak RSS, ratio to h2load.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use bytes::Bytes;
use clap::Parser;
use futures_util::StreamExt;
use pushgate_apns::{ApnsAuth, ApnsClient, ApnsSettings, Endpoint, Notification};
use pushgate_mocks::bench::{self, Fixtures, MockProcess, SenderRun};

/// The one device token every request goes to (as h2load's URL has one).
const DEVICE: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const TOPIC: &str = "com.example.app";

#[derive(Parser, Debug, Clone)]
struct Args {
    /// Notifications per run.
    #[arg(long, default_value_t = 200_000)]
    n: usize,
    /// Notifications in flight at once.
    #[arg(long, default_value_t = 400)]
    in_flight: usize,
    /// Sender runs (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// h2load runs, alternating with the sender's (the median is the reference).
    #[arg(long, default_value_t = 5)]
    h2load_runs: usize,
    /// Connections in the sender's pool.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Sender runtime worker threads; 0 = a current-thread runtime.
    #[arg(long, default_value_t = 0)]
    sender_threads: usize,
    /// Internal: run the sender once and print a JSON line.
    #[arg(long, hide = true)]
    child: Option<PathBuf>,
    /// Internal: the mock's APNs URL for `--child`.
    #[arg(long, hide = true)]
    apns_url: Option<String>,
    /// Ignored (cargo bench passes it).
    #[arg(long, hide = true)]
    bench: bool,
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
    let mock = MockProcess::start(&bin, &["--config", &config])?;
    let token = fx.apns_provider_token(&bin)?;

    bench::print_load();
    let headers = [
        format!("authorization: bearer {token}"),
        format!("apns-topic: {TOPIC}"),
        "apns-push-type: alert".to_owned(),
    ];
    let url = format!("{}/3/device/{DEVICE}", mock.apns_url());
    let exe = std::env::current_exe()?;
    let (mut rates, mut rss) = (Vec::new(), Vec::new());
    let h2load_rates = bench::alternate(
        args.h2load_runs,
        args.runs,
        || Ok::<_, anyhow::Error>(bench::h2load(args.n, &headers, &fx.payload, &url)?),
        |run| {
            let report = sender_run(args, &exe, dir.path(), &mock.apns_url())?;
            println!("{}", report.line(run));
            rates.push(report.rate);
            rss.push(report.peak_rss_kib as f64);
            Ok(())
        },
    )?;
    let reference = bench::median(&h2load_rates).unwrap_or(0.0);
    let rate = bench::median(&rates).unwrap_or(0.0);
    let peak = bench::median(&rss).unwrap_or(0.0) / 1024.0;
    let mock_rss = bench::peak_rss_kib(mock.pid()).unwrap_or(0) as f64 / 1024.0;
    bench::print_load();
    println!(
        "median: h2load {reference:.0} req/s; sender {rate:.0} notifications/s ({:.1}% of h2load), peak RSS {peak:.1} MiB (n={}, in-flight={}, connections={}, sender threads={}); mock peak RSS {mock_rss:.1} MiB",
        100.0 * rate / reference.max(1.0),
        args.n,
        args.in_flight,
        args.connections,
        args.sender_threads,
    );
    Ok(())
}

/// One sender run in a fresh child process (this executable with `--child`).
fn sender_run(args: &Args, exe: &Path, dir: &Path, apns_url: &str) -> anyhow::Result<SenderRun> {
    Ok(bench::child_report(
        Command::new(exe)
            .arg("--child")
            .arg(dir)
            .args(["--apns-url", apns_url])
            .args(["--n", &args.n.to_string()])
            .args(["--in-flight", &args.in_flight.to_string()])
            .args(["--connections", &args.connections.to_string()])
            .args(["--sender-threads", &args.sender_threads.to_string()]),
    )?)
}

fn child(args: &Args, dir: &Path) -> anyhow::Result<()> {
    // As the pushgate binary runs it: a subscriber is installed (warnings to stderr).
    // Without any, `tracing` forwards every span of `h2` to the `log` crate's checks.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match args.sender_threads {
        0 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build()?,
    };
    let fx = Fixtures::read(dir)?;
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
    let payload = Bytes::from(std::fs::read(&fx.payload)?);
    let client = Arc::new(ApnsClient::new(&settings)?);
    let n = args.n;
    let in_flight = args.in_flight;
    let (ok, failed, secs) = runtime.block_on(async move {
        let notifications = (0..n).map(|_| Notification::new(DEVICE, payload.clone()));
        let started = Instant::now();
        let mut results = std::pin::pin!(client.send_all(notifications, in_flight));
        let (mut ok, mut failed) = (0usize, 0usize);
        while let Some((_, result)) = results.next().await {
            if result.is_success() {
                ok += 1;
            } else {
                failed += 1;
            }
        }
        (ok, failed, started.elapsed().as_secs_f64())
    });
    let report = SenderRun {
        rate: n as f64 / secs,
        secs,
        ok,
        failed,
        peak_rss_kib: bench::self_peak_rss_kib()?,
        cpu_secs: bench::cpu_secs("self")?,
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
