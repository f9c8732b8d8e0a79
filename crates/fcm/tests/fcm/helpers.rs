//! Test scaffolding: mocks on port 0, a generated service account written to a key file,
//! and sender settings that point at the mocks with short backoffs.

use std::sync::{Arc, Once};

use pushgate_fcm::{FcmClient, FcmSettings, Message, MessageContent, SendResult};
use pushgate_mocks::{MockConfig, MockServers, Service, ServiceAccount};
use pushgate_outcome::OutcomeId;
use tempfile::TempDir;

pub const PROJECT: &str = "demo-project";
pub const CLIENT_EMAIL: &str = "sender@demo-project.iam.gserviceaccount.com";

/// Installs a tracing subscriber when `PUSHGATE_TEST_LOG` is set (e.g. `debug`).
fn init_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Ok(filter) = std::env::var("PUSHGATE_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
    });
}

/// Running mocks with one registered service account and its key file.
pub struct Harness {
    pub mocks: MockServers,
    pub account: ServiceAccount,
    pub dir: TempDir,
    pub settings: FcmSettings,
}

impl Harness {
    pub async fn start() -> Self {
        Self::with(|_| {}).await
    }

    /// Starts with a mock config adjusted by `tune`.
    pub async fn with(tune: impl FnOnce(&mut MockConfig)) -> Self {
        init_tracing();
        let mut config = MockConfig::default();
        tune(&mut config);
        let mocks = MockServers::start(config).await.unwrap();
        let account =
            ServiceAccount::generate(CLIENT_EMAIL, PROJECT, mocks.oauth_token_url()).unwrap();
        mocks.add_oauth_account(&account.mock_account()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let key_file = account.write_key_file(dir.path(), "sa.json").unwrap();
        let mut settings = FcmSettings {
            service_account_file: key_file,
            base_url: Some(mocks.fcm_url()),
            trust_roots: Some(mocks.ca_path().to_path_buf()),
            request_timeout_ms: 2_000,
            ..FcmSettings::default()
        };
        settings.retry.initial_backoff_ms = 10;
        settings.retry.max_backoff_ms = 100;
        settings.retry.quota_min_backoff_secs = 1;
        settings.retry.max_wait_secs = 5;
        settings.token.initial_backoff_ms = 10;
        settings.token.max_backoff_ms = 100;
        Self {
            mocks,
            account,
            dir,
            settings,
        }
    }

    /// A sender with the harness settings.
    pub fn client(&self) -> FcmClient {
        FcmClient::new(&self.settings).unwrap()
    }

    /// A sender with the harness settings adjusted by `tune`.
    pub fn client_with(&self, tune: impl FnOnce(&mut FcmSettings)) -> FcmClient {
        let mut settings = self.settings.clone();
        tune(&mut settings);
        FcmClient::new(&settings).unwrap()
    }

    /// Writes the key file of `account` and returns a sender using it.
    pub fn client_for(&self, account: &ServiceAccount, name: &str) -> FcmClient {
        let path = account.write_key_file(self.dir.path(), name).unwrap();
        self.client_with(|s| s.service_account_file = path)
    }
}

/// A small content with a notification, data and Android options.
pub fn content() -> Arc<MessageContent> {
    let value = serde_json::json!({
        "notification": {"title": "Hello", "body": "World"},
        "data": {"order": "42"},
        "android": {"priority": "HIGH", "ttl": "3600s", "collapse_key": "news",
                    "notification": {"channel_id": "alerts"}}
    });
    Arc::new(MessageContent::from_json(value).unwrap())
}

/// A message of [`content`] to `token`.
pub fn message(token: &str) -> Message {
    Message::new(token, content())
}

/// Asserts the result landed on `row`.
#[track_caller]
pub fn assert_row(result: &SendResult, row: OutcomeId) {
    assert_eq!(result.outcome_id(), Some(row), "{result:#?}");
    assert!(!result.is_success());
}

/// Asserts the result is a success with a message name.
#[track_caller]
pub fn assert_sent(result: &SendResult) {
    assert!(result.is_success(), "{result:#?}");
    assert_eq!(result.outcome_id(), None);
    let name = result.message_name.as_deref().unwrap_or_default();
    assert!(
        name.starts_with(&format!("projects/{PROJECT}/messages/")),
        "{name}"
    );
}

/// The time between consecutive send attempts for `token`, as the mock recorded them
/// (when it answered each), in milliseconds.
pub fn attempt_gaps_ms(h: &Harness, token: &str) -> Vec<u64> {
    let times: Vec<u64> = h
        .mocks
        .requests_to(Service::Fcm, 100)
        .into_iter()
        .filter(|request| {
            let body: serde_json::Value =
                serde_json::from_str(request.body_text().unwrap_or("{}")).unwrap_or_default();
            body["message"]["token"] == token
        })
        .map(|request| request.at_unix_ms)
        .collect();
    times.windows(2).map(|pair| pair[1] - pair[0]).collect()
}
