//! `pushgate-mock`: the mock APNs, FCM v1 and OAuth servers as a process, plus helpers
//! that write fixtures and print provider tokens for benchmarks and the demo.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use pushgate_mocks::{ApnsKey, MockCa, MockConfig, MockServers, ServiceAccount};
use tracing_subscriber::EnvFilter;

/// Strict, scriptable mock APNs, FCM HTTP v1 and Google OAuth token servers.
///
/// Without a subcommand, serves: prints one JSON line with the bound addresses and the
/// CA path on stdout, logs to stderr, and stops on SIGINT or SIGTERM.
#[derive(Parser)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the mocks (the default).
    Serve(ServeArgs),
    /// Print an APNs provider token (ES256 JWT) signed with a `.p8` key.
    ApnsToken {
        /// The `.p8` (PKCS#8 PEM) signing key.
        #[arg(long)]
        key: PathBuf,
        /// The key id (`kid`).
        #[arg(long)]
        key_id: String,
        /// The team id (`iss`).
        #[arg(long)]
        team_id: String,
        /// `iat`, epoch seconds (default: now).
        #[arg(long)]
        iat: Option<i64>,
    },
    /// Generate an APNs key, a service account, a payload and a mock config into a
    /// folder (for benchmarks and the demo).
    Fixtures {
        /// Where to write the files.
        #[arg(long)]
        dir: PathBuf,
        /// The APNs key id.
        #[arg(long, default_value = "MOCKKEY001")]
        key_id: String,
        /// The APNs team id.
        #[arg(long, default_value = "MOCKTEAM01")]
        team_id: String,
        /// The service account's email.
        #[arg(long, default_value = "pushgate@demo-project.iam.gserviceaccount.com")]
        client_email: String,
        /// The Firebase project.
        #[arg(long, default_value = "demo-project")]
        project_id: String,
        /// The `token_uri` written in the key file (pushgate's config overrides it).
        #[arg(long, default_value = "https://oauth2.googleapis.com/token")]
        token_uri: String,
        /// The bundle id of the APNs client certificate.
        #[arg(long, default_value = "com.example.app")]
        bundle_id: String,
    },
}

#[derive(Args, Clone)]
struct ServeArgs {
    /// APNs listen address.
    #[arg(long)]
    apns_listen: Option<SocketAddr>,
    /// FCM listen address.
    #[arg(long)]
    fcm_listen: Option<SocketAddr>,
    /// OAuth listen address.
    #[arg(long)]
    oauth_listen: Option<SocketAddr>,
    /// Admin (plain HTTP) listen address.
    #[arg(long)]
    admin_listen: Option<SocketAddr>,
    /// TOML configuration file (flags override it).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Folder where `ca.pem` is written (default: a temporary folder).
    #[arg(long)]
    ca_dir: Option<PathBuf>,
    /// Server certificate chain (PEM) to load instead of generating one.
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// Private key of `--cert`.
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// CA certificate that issued `--cert` (trust root for APNs client certificates).
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Private key of `--ca` (to issue client certificates).
    #[arg(long, requires = "ca")]
    ca_key: Option<PathBuf>,
    /// SETTINGS_MAX_CONCURRENT_STREAMS for APNs and FCM.
    #[arg(long)]
    max_concurrent_streams: Option<u32>,
    /// Tokio worker threads (benchmarks use 1).
    #[arg(long)]
    worker_threads: Option<usize>,
    /// Do not record requests (`/_mock/requests` stays empty).
    #[arg(long)]
    no_request_log: bool,
    /// Do not count 200s per token (`deliveries` in `/_mock/stats` stays empty).
    #[arg(long)]
    no_delivery_counts: bool,
}

impl ServeArgs {
    fn config(&self) -> anyhow::Result<MockConfig> {
        let mut config = match &self.config {
            Some(path) => MockConfig::load(path)?,
            None => MockConfig::default(),
        };
        let set = |slot: &mut SocketAddr, value: Option<SocketAddr>| {
            if let Some(v) = value {
                *slot = v;
            }
        };
        set(&mut config.apns_listen, self.apns_listen);
        set(&mut config.fcm_listen, self.fcm_listen);
        set(&mut config.oauth_listen, self.oauth_listen);
        set(&mut config.admin_listen, self.admin_listen);
        let tls = &mut config.tls;
        for (slot, value) in [
            (&mut tls.ca_dir, &self.ca_dir),
            (&mut tls.cert_file, &self.cert),
            (&mut tls.key_file, &self.key),
            (&mut tls.ca_file, &self.ca),
            (&mut tls.ca_key_file, &self.ca_key),
        ] {
            if value.is_some() {
                slot.clone_from(value);
            }
        }
        if let Some(n) = self.max_concurrent_streams {
            config.max_concurrent_streams = n;
        }
        if self.no_request_log {
            config.request_log.enabled = false;
        }
        if self.no_delivery_counts {
            config.count_deliveries = false;
        }
        Ok(config)
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => serve(&cli.serve),
        Some(Command::Serve(args)) => serve(&args),
        Some(Command::ApnsToken {
            key,
            key_id,
            team_id,
            iat,
        }) => {
            let p8 = std::fs::read_to_string(&key)
                .with_context(|| format!("reading {}", key.display()))?;
            let key = ApnsKey::from_p8(key_id, team_id, &p8)?;
            let token = match iat {
                Some(iat) => key.provider_token(iat)?,
                None => key.provider_token_now()?,
            };
            println!("{token}");
            Ok(())
        }
        Some(Command::Fixtures {
            dir,
            key_id,
            team_id,
            client_email,
            project_id,
            token_uri,
            bundle_id,
        }) => fixtures(
            &dir,
            ApnsKey::generate(key_id, team_id)?,
            ServiceAccount::generate(client_email, project_id, token_uri)?,
            &bundle_id,
        ),
    }
}

fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = args.config()?;
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.worker_threads {
        runtime.worker_threads(n.max(1));
    }
    let runtime = runtime
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async {
        let mocks = MockServers::start(config).await?;
        let line = serde_json::json!({
            "apns": mocks.apns_addr().to_string(),
            "fcm": mocks.fcm_addr().to_string(),
            "oauth": mocks.oauth_addr().to_string(),
            "admin": mocks.admin_addr().to_string(),
            "ca": mocks.ca_path().display().to_string(),
        });
        println!("{line}");
        wait_for_signal().await?;
        tracing::info!("stopping");
        mocks.shutdown().await;
        anyhow::Ok(())
    })
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("waiting for SIGINT")?,
        _ = term.recv() => {}
    }
    Ok(())
}

/// Writes a CA, an APNs key, a client certificate, a service account, a payload and a
/// `mock.toml` that uses them, into `dir`; prints their paths as one JSON line.
fn fixtures(
    dir: &Path,
    key: ApnsKey,
    account: ServiceAccount,
    bundle_id: &str,
) -> anyhow::Result<()> {
    let write = |name: &str, text: &str| -> anyhow::Result<PathBuf> {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let ca = MockCa::generate()?;
    let ca_path = write("ca.pem", ca.cert_pem())?;
    write("ca.key.pem", &ca.key_pem().unwrap_or_default())?;
    let (client_cert, client_key) = ca
        .issue_client_cert(bundle_id, &key.team_id)?
        .write_to(dir, "client")?;
    let p8 = key.write_p8(dir)?;
    let sa = account.write_key_file(dir, "service-account.json")?;
    let payload = write(
        "payload.json",
        r#"{"aps":{"alert":{"title":"Hello","body":"from pushgate"}}}"#,
    )?;
    let p8_name = p8
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let config = format!(
        r#"# Written by `pushgate-mock fixtures`: the keys below are this folder's files.
[tls]
ca_dir = "."
ca_file = "ca.pem"
ca_key_file = "ca.key.pem"

[[apns.keys]]
key_id = "{key_id}"
team_id = "{team_id}"
public_key = {{ file = "{p8_name}" }}

[oauth]
service_account_files = ["service-account.json"]
"#,
        key_id = key.key_id,
        team_id = key.team_id,
    );
    let config_path = write("mock.toml", &config)?;
    let line = serde_json::json!({
        "ca": ca_path.display().to_string(),
        "apns_key": p8.display().to_string(),
        "key_id": key.key_id,
        "team_id": key.team_id,
        "client_cert": client_cert.display().to_string(),
        "client_key": client_key.display().to_string(),
        "service_account": sa.display().to_string(),
        "payload": payload.display().to_string(),
        "config": config_path.display().to_string(),
    });
    println!("{line}");
    Ok(())
}
