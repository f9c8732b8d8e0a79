//! FCM sender throughput against the mock, compared with h2load on the same mock.
//!
//! ```sh
//! cargo build --release -p pushgate-mocks
//! cargo bench -p pushgate-fcm --bench throughput -- --n 200000 --in-flight 400 --runs 5
//! ```
//!
//! Starts `pushgate-mock` once (one tokio worker, `PUSHGATE_MOCK_BIN` or
//! `target/release/pushgate-mock`, the `pushgate-mock fixtures` configuration), gets an
//! access token from its OAuth endpoint, then alternates `h2load -n N -c 4 -m 100` on its
//! FCM send path (with that token and the body the sender sends) and runs of the sender,
//! each in a fresh child process (so the peak RSS is the sender's own), sending N messages
//! with at most `--in-flight` at once: both see the same (shared, noisy) machine. Every message goes to the
//! same registration token, as h2load's requests do. Prints one line per run and the
//! medians: notifications/s, peak RSS, ratio to h2load.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Parser;
use futures_util::StreamExt;
use pushgate_fcm::{FcmClient, FcmSettings, Message, MessageContent};
use pushgate_mocks::ServiceAccount;
use pushgate_mocks::bench::{self, Fixtures, MockProcess, SenderRun};
use serde_json::{Value, json};

/// The fixtures' project and account.
const PROJECT: &str = "demo-project";
const CLIENT_EMAIL: &str = "pushgate@demo-project.iam.gserviceaccount.com";
/// The key file the fixtures' mock configuration registers.
const KEY_FILE: &str = "service-account.json";

#[derive(Parser, Debug, Clone)]
struct Args {
    /// Messages per run.
    #[arg(long, default_value_t = 200_000)]
    n: usize,
    /// Messages in flight at once.
    #[arg(long, default_value_t = 400)]
    in_flight: usize,
    /// Sender runs (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// h2load runs (the median is the reference).
    #[arg(long, default_value_t = 3)]
    h2load_runs: usize,
    /// The sender's HTTP/2 connections.
    #[arg(long, default_value_t = FcmSettings::default().connections)]
    connections: usize,
    /// Sender runtime worker threads; 0 = a current-thread runtime, as in the APNs
    /// benchmark (the server's multi-threaded runtime on two cores is `2`).
    #[arg(long, default_value_t = 0)]
    sender_threads: usize,
    /// Internal: run the sender once with the fixtures in this folder; print JSON.
    #[arg(long, hide = true)]
    child: Option<PathBuf>,
    /// Internal: the mock's FCM URL for `--child`.
    #[arg(long, hide = true)]
    fcm_url: Option<String>,
    /// Internal: the mock's token URL for `--child`.
    #[arg(long, hide = true)]
    token_url: Option<String>,
    /// Ignored (cargo bench passes it).
    #[arg(long, hide = true)]
    bench: bool,
}

/// What every message shares: a typical alert with data and Android options.
fn content() -> anyhow::Result<Arc<MessageContent>> {
    let value = json!({
        "notification": {"title": "Your order has shipped", "body": "Order 4711 is on its way."},
        "data": {"order_id": "4711", "kind": "shipping"},
        "android": {"priority": "HIGH", "ttl": "86400s", "collapse_key": "orders",
                    "notification": {"channel_id": "orders", "sound": "default"}}
    });
    Ok(Arc::new(MessageContent::from_json(value)?))
}

/// A registration token of the usual length (163 characters).
fn registration_token() -> String {
    let mut token = String::from("bench:");
    while token.len() < 163 {
        token.push_str("APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx");
    }
    token.truncate(163);
    token
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match &args.child {
        Some(dir) => child(&args, dir),
        None => parent(&args),
    }
}

/// Writes the fixtures into `dir`, with a service account of our own (whose key signs
/// h2load's token) in place of the generated one.
fn fixtures(bin: &Path, dir: &Path) -> anyhow::Result<(PathBuf, ServiceAccount)> {
    let fixtures = Fixtures::create(bin, dir)?;
    let account =
        ServiceAccount::generate(CLIENT_EMAIL, PROJECT, "https://oauth2.googleapis.com/token")?;
    account.write_key_file(dir, KEY_FILE)?;
    Ok((fixtures.config, account))
}

/// An access token from the mock, for h2load.
fn access_token(account: &ServiceAccount, token_url: &str, ca: &Path) -> anyhow::Result<String> {
    let now = pushgate_mocks::fixtures::now_secs();
    let scope = pushgate_outcome::oauth::FCM_SCOPE;
    let assertion = account.assertion_with(token_url, scope, now, now + 3600)?;
    let cert = reqwest::Certificate::from_pem(&std::fs::read(ca)?)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let http = reqwest::Client::builder().tls_certs_merge([cert]).build()?;
        let form = [
            ("grant_type", pushgate_outcome::oauth::JWT_BEARER_GRANT),
            ("assertion", assertion.as_str()),
        ];
        let body: Value = http
            .post(token_url)
            .form(&form)
            .send()
            .await?
            .json()
            .await?;
        let token = body["access_token"].as_str().context("no access token")?;
        Ok(token.to_owned())
    })
}

fn parent(args: &Args) -> anyhow::Result<()> {
    let bin = bench::built_mock_bin()?;
    let dir = tempfile::tempdir()?;
    let (config, account) = fixtures(&bin, dir.path())?;
    let mock = MockProcess::start(&bin, &["--config", &config.display().to_string()])?;
    let bearer = access_token(&account, &mock.oauth_token_url(), &mock.addrs.ca)?;
    let mut message = serde_json::to_value(&*content()?)?;
    message["token"] = Value::from(registration_token());
    let body_file = dir.path().join("body.json");
    std::fs::write(
        &body_file,
        json!({"validate_only": false, "message": message}).to_string(),
    )?;

    bench::print_load();
    let send_url = format!("{}/v1/projects/{PROJECT}/messages:send", mock.fcm_url());
    let mock_pid = mock.pid().to_string();
    let headers = [
        format!("authorization: Bearer {bearer}"),
        "content-type: application/json".to_owned(),
    ];
    let exe = std::env::current_exe()?;
    let (mut rates, mut rss, mut cpu) = (Vec::new(), Vec::new(), Vec::new());
    // CPU seconds of the mock while serving h2load and the sender, and of h2load itself.
    let (mut mock_secs_h2load, mut mock_secs_sender, mut h2load_secs) = (0.0, 0.0, 0.0);
    let h2load_rates = bench::alternate(
        args.h2load_runs,
        args.runs,
        || {
            let (mock_before, h2load_before) =
                (bench::cpu_secs(&mock_pid)?, bench::children_cpu_secs()?);
            let h2 = bench::h2load(args.n, &headers, &body_file, &send_url)?;
            mock_secs_h2load += bench::cpu_secs(&mock_pid)? - mock_before;
            h2load_secs += bench::children_cpu_secs()? - h2load_before;
            Ok::<_, anyhow::Error>(h2)
        },
        |run| {
            let mock_before = bench::cpu_secs(&mock_pid)?;
            let report: SenderRun = bench::child_report(
                Command::new(&exe)
                    .arg("--child")
                    .arg(dir.path())
                    .args(["--fcm-url", &mock.fcm_url()])
                    .args(["--token-url", &mock.oauth_token_url()])
                    .args(["--n", &args.n.to_string()])
                    .args(["--in-flight", &args.in_flight.to_string()])
                    .args(["--connections", &args.connections.to_string()])
                    .args(["--sender-threads", &args.sender_threads.to_string()]),
            )?;
            mock_secs_sender += bench::cpu_secs(&mock_pid)? - mock_before;
            println!("{}", report.line(run));
            if report.failed > 0 {
                bail!("{} messages failed", report.failed);
            }
            rates.push(report.rate);
            rss.push(report.peak_rss_kib as f64);
            cpu.push(report.cpu_secs * 1e6 / report.ok.max(1) as f64);
            Ok(())
        },
    )?;
    let reference = bench::median(&h2load_rates).unwrap_or(0.0);
    let h2load_requests = (args.n * args.h2load_runs.max(1)) as f64;
    let mock_us_h2load = mock_secs_h2load * 1e6 / h2load_requests;
    let h2load_us = h2load_secs * 1e6 / h2load_requests;
    let sender_requests = (args.n * args.runs.max(1)) as f64;
    let mock_us_sender = mock_secs_sender * 1e6 / sender_requests;
    let rate = bench::median(&rates).unwrap_or(0.0);
    let peak = bench::median(&rss).unwrap_or(0.0) / 1024.0;
    let mock_rss = bench::peak_rss_kib(mock.pid()).unwrap_or(0) as f64 / 1024.0;
    println!(
        "median: h2load {reference:.0} req/s; sender {rate:.0} notifications/s ({:.1}% of h2load), peak RSS {peak:.1} MiB (n={}, in-flight={}, connections={}, sender threads={}); mock peak RSS {mock_rss:.1} MiB",
        100.0 * rate / reference.max(1.0),
        args.n,
        args.in_flight,
        args.connections,
        args.sender_threads,
    );
    println!(
        "CPU per request: sender {:.1} µs (median, whole process), h2load {h2load_us:.1} µs; mock {mock_us_sender:.1} µs serving the sender, {mock_us_h2load:.1} µs serving h2load",
        bench::median(&cpu).unwrap_or(0.0)
    );
    bench::print_load();
    Ok(())
}

/// One measured run in this process; prints a [`SenderRun`] as JSON.
fn child(args: &Args, dir: &Path) -> anyhow::Result<()> {
    // A subscriber at `info` (or `RUST_LOG`), as the server binary has.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let settings = FcmSettings {
        service_account_file: dir.join(KEY_FILE),
        token_uri: args.token_url.clone(),
        base_url: args.fcm_url.clone(),
        trust_roots: Some(dir.join("ca.pem")),
        connections: args.connections,
        ..FcmSettings::default()
    };
    let runtime = match args.sender_threads {
        0 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build()?,
    };
    let client = FcmClient::new(&settings)?;
    let (content, token) = (content()?, registration_token());
    let (n, in_flight) = (args.n, args.in_flight);
    // The driver is a task, as the dispatcher's are (not the thread `block_on` runs on).
    let run = async move {
        // Warm-up: the access token and a first connection, outside the timing.
        let first = client
            .send(&Message::new(token.clone(), content.clone()))
            .await;
        if !first.is_success() {
            bail!("warm-up send failed: {first:?}");
        }
        let messages = (0..n).map(|_| Message::new(token.clone(), content.clone()));
        let started = Instant::now();
        let mut results = std::pin::pin!(client.send_all(messages, in_flight));
        let (mut ok, mut failed) = (0, 0);
        while let Some((_, result)) = results.next().await {
            if result.is_success() {
                ok += 1;
            } else {
                if failed == 0 {
                    eprintln!("first failure: {result:?}");
                }
                failed += 1;
            }
        }
        Ok((ok, failed, started.elapsed().as_secs_f64()))
    };
    let (ok, failed, secs) = runtime.block_on(runtime.spawn(run))??;
    let report = SenderRun {
        rate: ok as f64 / secs,
        secs,
        ok,
        failed,
        peak_rss_kib: bench::self_peak_rss_kib()?,
        cpu_secs: bench::cpu_secs("self")?,
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
