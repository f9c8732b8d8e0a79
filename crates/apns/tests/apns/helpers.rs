//! Test scaffolding: a mock APNs per test (port 0, fresh key, real TLS), settings that
//! trust its CA, a movable clock, and small helpers.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use pushgate_apns::{ApnsAuth, ApnsClient, ApnsSettings, Clock, Endpoint, SendResult};
use pushgate_mocks::{ApnsKey, MockConfig, MockServers};
use tempfile::TempDir;

pub const KEY_ID: &str = "KEYID00001";
pub const TEAM_ID: &str = "TEAM000001";
pub const TOPIC: &str = "com.example.app";

/// Installs a tracing subscriber when `PUSHGATE_TEST_LOG` is set (e.g. `debug`).
pub fn init_tracing() {
    if let Ok(filter) = std::env::var("PUSHGATE_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

/// A running mock APNs with a registered key, and a folder for the key file.
pub struct Harness {
    pub mocks: MockServers,
    pub key: ApnsKey,
    pub dir: TempDir,
}

impl Harness {
    pub async fn start() -> Self {
        Self::with_config(|_| {}).await
    }

    pub async fn with_config(change: impl FnOnce(&mut MockConfig)) -> Self {
        init_tracing();
        let key = ApnsKey::generate(KEY_ID, TEAM_ID).expect("key");
        let mut config = MockConfig::default();
        config.apns.keys.push(key.mock_key());
        change(&mut config);
        let mocks = MockServers::start(config).await.expect("mocks start");
        let dir = tempfile::tempdir().expect("temp dir");
        Self { mocks, key, dir }
    }

    /// Token auth with `key`, the mock's URL and CA, fast retries.
    pub fn settings_for(&self, key: &ApnsKey) -> ApnsSettings {
        let key_file = key.write_p8(self.dir.path()).expect("write p8");
        let mut settings = ApnsSettings {
            endpoint: Endpoint::parse(&self.mocks.apns_url()).expect("url"),
            auth: ApnsAuth::Token {
                key_file,
                key_id: key.key_id.clone(),
                team_id: key.team_id.clone(),
            },
            topic: TOPIC.into(),
            trust_roots: Some(self.mocks.ca_path().to_owned()),
            connections: 2,
            request_timeout_ms: 5_000,
            connect_timeout_ms: 5_000,
            ..ApnsSettings::default()
        };
        settings.retry.initial_backoff_ms = 1;
        settings.retry.max_backoff_ms = 5;
        settings
    }

    pub fn settings(&self) -> ApnsSettings {
        self.settings_for(&self.key)
    }

    pub fn client(&self) -> ApnsClient {
        ApnsClient::new(&self.settings()).expect("client")
    }

    pub fn client_with(&self, change: impl FnOnce(&mut ApnsSettings)) -> ApnsClient {
        let mut settings = self.settings();
        change(&mut settings);
        ApnsClient::new(&settings).expect("client")
    }
}

/// A hex device token: `prefix` then `n`, padded to 64 characters.
pub fn token(prefix: &str, n: u32) -> String {
    format!("{prefix}{:0>width$x}", n, width = 64 - prefix.len())
}

pub fn payload() -> Bytes {
    Bytes::from_static(br#"{"aps":{"alert":{"title":"Hello","body":"from pushgate"}}}"#)
}

/// The row id of a result (`apns.device_on`...).
pub fn row(result: &SendResult) -> String {
    result
        .classification
        .id()
        .map(|id| id.to_string())
        .unwrap_or_default()
}

/// A clock that tests move forward (or back) by whole seconds.
#[derive(Debug, Default)]
pub struct TestClock {
    offset_secs: AtomicI64,
}

impl TestClock {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn advance(&self, secs: i64) {
        self.offset_secs.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> SystemTime {
        let offset = self.offset_secs.load(Ordering::SeqCst);
        let delta = Duration::from_secs(offset.unsigned_abs());
        if offset >= 0 {
            SystemTime::now() + delta
        } else {
            SystemTime::now() - delta
        }
    }
}

/// The `authorization` values of the mock's recorded APNs requests, oldest first.
pub fn authorizations(mocks: &MockServers) -> Vec<String> {
    mocks
        .requests_to(pushgate_mocks::Service::Apns, 1000)
        .iter()
        .filter_map(|r| r.header("authorization").map(str::to_owned))
        .collect()
}
