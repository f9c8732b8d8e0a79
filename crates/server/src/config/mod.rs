//! The configuration: one [`Config`] read from a TOML file with `PUSHGATE_...` environment
//! variables over it (see [`load`]), checked as a whole before anything starts.
//!
//! Every section refuses unknown keys and has defaults; the sections that belong to a lower
//! crate are that crate's own settings types (`[pipeline]`, `[retry]`, `[quarantine]`,
//! `[jobs]`, each app's `apns`/`fcm`).

mod apps;
mod load;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::PathBuf;

use pushgate_dispatch::jobs::JobSchedule;
use pushgate_dispatch::pipeline::PipelineConfig;
use pushgate_dispatch::retry::RetryPolicy;
use pushgate_quarantine::QuarantinePolicy;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

pub use apps::{ApnsSection, AppConfig, FcmSection, is_app_id};
pub use load::{ConfigError, load, load_with_env};

/// The default configuration file, relative to the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "config/pushgate.toml";

/// Everything `pushgate` reads at start-up.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `sqlite:PATH` (the embedded default) or `postgres://user:password@host/db`. Held as
    /// a secret: a URL may carry a password, so it is never logged or printed.
    pub database_url: SecretString,
    /// Where `pushgate serve` listens for the HTTP API (port 0: any free port).
    pub listen: SocketAddr,
    /// This node's name in job runs and message leases; default: the host name.
    pub node: Option<String>,
    /// `text` (readable, the default) or `json` (one object a line, for log collectors).
    pub log_format: LogFormat,
    /// Database connections in the pool.
    pub database_max_connections: u32,
    /// On SQLite, the page cache of the one write connection, in MiB.
    pub database_sqlite_write_cache_mib: u32,
    /// The send pipeline.
    pub pipeline: PipelineConfig,
    /// Backoff between a message's attempts inside its validity period.
    pub retry: RetryPolicy,
    /// The quarantine rules' threshold and ages (the soft-error threshold lives here).
    pub quarantine: QuarantinePolicy,
    /// How often the opt-out sweep and the cleanup run.
    pub jobs: JobSchedule,
    /// Delivery analysis.
    pub analysis: AnalysisSettings,
    /// API keys, by their SHA-256 (the keys themselves are never stored).
    pub api_keys: Vec<ApiKeyConfig>,
    /// The mobile apps and their platform credentials.
    pub apps: Vec<AppConfig>,
    /// Mock mode: the bundled APNs/FCM/OAuth mocks, started in-process (trying pushgate
    /// out only: nothing reaches Apple or Google).
    pub mocks: MocksConfig,
    /// The folder relative paths in the file are taken from (the file's own folder);
    /// set by [`load`], not by the file.
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The file the configuration came from (for messages).
    #[serde(skip)]
    pub source: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: SecretString::from("sqlite:pushgate.db"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            node: None,
            log_format: LogFormat::Text,
            database_max_connections: 8,
            database_sqlite_write_cache_mib: pushgate_store::WRITER_PAGE_CACHE_KIB / 1024,
            pipeline: PipelineConfig::default(),
            retry: RetryPolicy::default(),
            quarantine: QuarantinePolicy::default(),
            jobs: JobSchedule::default(),
            analysis: AnalysisSettings::default(),
            api_keys: Vec::new(),
            apps: Vec::new(),
            mocks: MocksConfig::default(),
            base_dir: PathBuf::from("."),
            source: PathBuf::new(),
        }
    }
}

impl Config {
    /// The database URL, with a relative SQLite path made relative to the configuration
    /// file's folder.
    pub fn database_url(&self) -> String {
        let url = self.database_url.expose_secret();
        if let Some(path) = url.strip_prefix("sqlite:") {
            let (file, query) = match path.split_once('?') {
                Some((file, query)) => (file, Some(query)),
                None => (path, None),
            };
            let file = file.strip_prefix("//").unwrap_or(file);
            if !file.is_empty() && !file.starts_with('/') && file != ":memory:" {
                let absolute = self.base_dir.join(file);
                return match query {
                    Some(query) => format!("sqlite:{}?{query}", absolute.display()),
                    None => format!("sqlite:{}", absolute.display()),
                };
            }
        }
        url.to_owned()
    }

    /// The node name: configured, or the host name, or `pushgate`.
    pub fn node_name(&self) -> String {
        if let Some(node) = self.node.as_deref().filter(|n| !n.trim().is_empty()) {
            return node.to_owned();
        }
        std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "pushgate".to_owned())
    }

    /// A path from the file, relative to the file's folder.
    pub fn resolve(&self, path: &std::path::Path) -> PathBuf {
        if path.is_relative() {
            self.base_dir.join(path)
        } else {
            path.to_owned()
        }
    }
}

/// How logs are written (to standard error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines.
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

/// Delivery analysis settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalysisSettings {
    /// Targets analysed (and written) per transaction.
    pub batch_size: i64,
    /// How often the analyzer looks for deliveries created by another node, in ms.
    pub poll_ms: u64,
}

impl Default for AnalysisSettings {
    fn default() -> Self {
        Self {
            batch_size: pushgate_dispatch::analysis::DEFAULT_BATCH_SIZE,
            poll_ms: 1000,
        }
    }
}

/// One API key, by its hash.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// A name for people (shown in logs instead of the key).
    pub name: String,
    /// Hex SHA-256 of the key (`pushgate keys hash` prints it).
    pub sha256: String,
    /// The one app this key reaches; absent: an admin key that reaches every app.
    #[serde(default)]
    pub app: Option<String>,
}

/// Mock mode.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MocksConfig {
    /// Start the bundled mocks in-process and point every app at them.
    pub enabled: bool,
    /// Where the generated mock credentials (APNs key, service account, CA) are kept, so
    /// that a restart reuses them; relative to the configuration file.
    pub dir: PathBuf,
}

impl Default for MocksConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            dir: PathBuf::from("mock-credentials"),
        }
    }
}
