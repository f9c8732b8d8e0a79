//! Strict, scriptable mock APNs, FCM HTTP v1 and Google OAuth token servers.
//!
//! pushgate's tests, benchmarks and `pushgate demo` run against these mocks, so they
//! refuse what Apple and Google refuse (`shared/spec/protocols.md`): a sender that gets a
//! header, a signature or a body wrong fails here as it would in production. On top of
//! that, any answer can be scripted per token (or token prefix, or service account), and
//! global faults (error rate, resets, GOAWAY, latency, an OAuth outage) can be set at
//! start or at run time.
//!
//! # Using the mocks in a test
//!
//! ```no_run
//! use pushgate_mocks::{Answer, ApnsKey, MockConfig, MockServers, Rule, ServiceAccount};
//!
//! # async fn demo() -> Result<(), pushgate_mocks::MockError> {
//! let key = ApnsKey::generate("ABC123DEFG", "TEAM123456")?;
//! let mut config = MockConfig::default(); // every listener on 127.0.0.1:0
//! config.apns.keys.push(key.mock_key());
//! let mocks = MockServers::start(config).await?;
//!
//! // A service account whose key file points at the mock's token URL.
//! let account = ServiceAccount::generate("sender@demo.iam.gserviceaccount.com", "demo", mocks.oauth_token_url())?;
//! mocks.add_oauth_account(&account.mock_account())?;
//!
//! // Clients trust mocks.ca_pem() (or the file at mocks.ca_path()) and send to
//! // mocks.apns_url(), mocks.fcm_send_url("demo"), mocks.oauth_token_url().
//! mocks.scenarios().add(Rule::apns_token("dead", Answer::apns(410, "Unregistered")))?;
//! // ... run the code under test ...
//! assert_eq!(mocks.stats().delivered(pushgate_mocks::Service::Apns, "beef"), 1);
//! mocks.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`bench`]: benchmark support: the mock as a child process, `h2load`, peak RSS.
//! - [`config`]: [`MockConfig`] (also the binary's TOML file) and its parts.
//! - [`fixtures`]: generated credentials: [`ApnsKey`], [`ServiceAccount`], [`ClientCert`].
//! - [`script`]: scripted answers, [`Rule`] and [`Answer`].
//! - [`faults`]: global [`Faults`].
//! - [`stats`] and [`record`]: what `/_mock/stats` and `/_mock/requests` show.
//! - `server`: [`MockServers`], start, URLs, in-process control, shutdown.
//! - [`tls`]: the mock CA ([`MockCa`]) and the server TLS set-ups.
//! - `h2serve`: the HTTP/2 engine of the APNs and FCM mocks (streams, resets, GOAWAY).
//! - `apns`, `fcm`, `oauth`: the three mocks; `admin`: the plain-HTTP admin API.
//! - `state`: what the listeners share (keys, accounts, issued tokens, counters).

pub mod bench;
pub mod config;
pub mod error;
pub mod faults;
pub mod fixtures;
pub mod record;
pub mod script;
pub mod stats;
pub mod tls;

mod admin;
mod apns;
mod fcm;
mod h2serve;
mod oauth;
mod server;
mod state;

use serde::{Deserialize, Serialize};

pub use config::{
    ApnsConfig, ApnsKeyConfig, KeySource, MockConfig, OAuthAccountConfig, OAuthConfig,
    RequestLogConfig, TlsConfig,
};
pub use error::MockError;
pub use faults::{Faults, Latency, LatencyEntry, Outage, OutageMode};
pub use fixtures::{ApnsKey, ClientCert, ServiceAccount};
pub use record::{RecordedBody, RecordedRequest};
pub use script::{Answer, ResetCode, Rule};
pub use server::{FaultControl, MockServers, ScenarioControl};
pub use stats::{ConnectionStats, Count, Deliveries, StatsSnapshot};
pub use tls::MockCa;

/// One of the three mocked services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    /// Apple Push Notification service.
    Apns,
    /// Firebase Cloud Messaging HTTP v1.
    Fcm,
    /// Google's OAuth token endpoint.
    #[serde(rename = "oauth")]
    OAuth,
}

impl Service {
    /// Every service.
    pub const ALL: [Service; 3] = [Self::Apns, Self::Fcm, Self::OAuth];

    /// The lowercase name (`apns`, `fcm`, `oauth`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Apns => "apns",
            Self::Fcm => "fcm",
            Self::OAuth => "oauth",
        }
    }

    pub(crate) const fn index(self) -> usize {
        match self {
            Self::Apns => 0,
            Self::Fcm => 1,
            Self::OAuth => 2,
        }
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
