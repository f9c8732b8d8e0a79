//! The world of a dispatch test: the mock APNs/FCM/OAuth servers, a throwaway database, the
//! real APNs and FCM clients pointed at the mocks, and helpers to deliver and wait.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use pushgate_apns::{ApnsAuth, ApnsClient, ApnsSettings, Endpoint};
use pushgate_dispatch::analysis::Analyzer;
use pushgate_dispatch::clock::Clock;
use pushgate_dispatch::notification::Notification;
use pushgate_dispatch::pipeline::{Pipeline, PipelineConfig};
use pushgate_dispatch::providers::{ApnsSender, FcmSender};
use pushgate_dispatch::retry::RetryPolicy;
use pushgate_dispatch::sender::Sender;
use pushgate_fcm::{FcmClient, FcmSettings};
use pushgate_mocks::{ApnsKey, MockConfig, MockServers, Rule, ServiceAccount};
use pushgate_quarantine::{AddressStatus, QuarantinePolicy};
use pushgate_store::testing::TestDatabase;
use pushgate_store::{App, Delivery, DeliveryState, NewDelivery, Platform, Store, Target};
use tokio_util::sync::CancellationToken;

pub const IOS: &str = "ios-app";
pub const ANDROID: &str = "android-app";
pub const TOPIC: &str = "com.example.app";
pub const PROJECT: &str = "demo-project";

/// Runs each named test function `async fn(TestDatabase)` once per backend.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(pushgate_store::testing::TestDatabase::sqlite().await).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let Some(db) = pushgate_store::testing::TestDatabase::postgres().await else { return };
                    super::$name(db).await;
                }
            }
        )*
    };
}

/// A clock tests can move; it starts at the real now (the mocks check real times).
pub struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    pub fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(Utc::now())))
    }

    pub fn advance(&self, by: TimeDelta) {
        let mut now = self.0.lock().unwrap();
        *now += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// A fixed, long-past instant for tests that only need an order of events.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

pub struct World {
    pub mocks: MockServers,
    pub db: TestDatabase,
    pub apns: ApnsSettings,
    pub fcm: FcmSettings,
    _dir: tempfile::TempDir,
}

impl World {
    /// Mocks with one APNs key and one service account; apps `ios-app` and `android-app`.
    pub async fn new(db: TestDatabase) -> Self {
        let key = ApnsKey::generate("KEY0000001", "TEAM000001").unwrap();
        let mut config = MockConfig::default();
        config.apns.keys.push(key.mock_key());
        let mocks = MockServers::start(config).await.unwrap();
        let account = ServiceAccount::generate(
            "sender@demo-project.iam.gserviceaccount.com",
            PROJECT,
            mocks.oauth_token_url(),
        )
        .unwrap();
        mocks.add_oauth_account(&account.mock_account()).unwrap();
        let dir = tempfile::tempdir().unwrap();

        let mut apns = ApnsSettings {
            endpoint: Endpoint::parse(&mocks.apns_url()).unwrap(),
            auth: ApnsAuth::Token {
                key_file: key.write_p8(dir.path()).unwrap(),
                key_id: "KEY0000001".into(),
                team_id: "TEAM000001".into(),
            },
            topic: TOPIC.into(),
            trust_roots: Some(mocks.ca_path().to_owned()),
            ..ApnsSettings::default()
        };
        apns.retry.max_retries = 0;
        let mut fcm = FcmSettings {
            service_account_file: account.write_key_file(dir.path(), "sa.json").unwrap(),
            base_url: Some(mocks.fcm_url()),
            token_uri: Some(mocks.oauth_token_url()),
            trust_roots: Some(mocks.ca_path().to_owned()),
            ..FcmSettings::default()
        };
        fcm.retry.max_retries = 0;

        for (id, platform) in [(IOS, Platform::Ios), (ANDROID, Platform::Android)] {
            db.store
                .upsert_app(
                    &App {
                        id: id.into(),
                        platform,
                    },
                    Utc::now(),
                )
                .await
                .unwrap();
        }
        Self {
            mocks,
            db,
            apns,
            fcm,
            _dir: dir,
        }
    }

    pub fn store(&self) -> &Store {
        &self.db.store
    }

    /// The quarantine-list status of `token` of `app` (the address must exist).
    pub async fn status(&self, app: &str, token: &str) -> AddressStatus {
        let address = self.store().address(app, token).await.unwrap();
        address
            .unwrap_or_else(|| panic!("no address {token:?} of {app:?}"))
            .state
            .status
    }

    /// The real APNs client pointed at the mock, as a sender.
    pub fn apns_sender(&self) -> Arc<dyn Sender> {
        Arc::new(ApnsSender::new(ApnsClient::new(&self.apns).unwrap()))
    }

    /// The real clients, as the pipeline's senders.
    pub fn senders(&self) -> HashMap<String, Arc<dyn Sender>> {
        let apns = self.apns_sender();
        let fcm: Arc<dyn Sender> = Arc::new(FcmSender::new(FcmClient::new(&self.fcm).unwrap()));
        HashMap::from([(IOS.to_owned(), apns), (ANDROID.to_owned(), fcm)])
    }

    /// A pipeline with fast retries (1 s, no jitter) on the system clock.
    pub fn pipeline(&self, owner: &str) -> Pipeline {
        self.pipeline_with(
            owner,
            test_config(),
            fast_retries(),
            Arc::new(pushgate_dispatch::clock::SystemClock),
        )
    }

    pub fn pipeline_with(
        &self,
        owner: &str,
        config: PipelineConfig,
        retry: RetryPolicy,
        clock: Arc<dyn Clock>,
    ) -> Pipeline {
        Pipeline::new(
            self.store().clone(),
            self.senders(),
            config,
            retry,
            QuarantinePolicy::default(),
            clock,
            owner,
        )
    }

    /// Registers each token for a profile of its own (`p-<token>`).
    pub async fn subscribe(&self, app: &str, tokens: &[String]) {
        let pairs: Vec<(String, String)> = tokens
            .iter()
            .map(|t| (format!("p-{t}"), t.clone()))
            .collect();
        self.store()
            .import_subscriptions(app, &pairs, Utc::now())
            .await
            .unwrap();
    }

    /// Creates and analyses a delivery to every subscriber of `app`.
    pub async fn deliver(&self, app: &str, validity_secs: i64) -> Delivery {
        self.deliver_notification(app, hello(), validity_secs).await
    }

    pub async fn deliver_notification(
        &self,
        app: &str,
        notification: Notification,
        validity_secs: i64,
    ) -> Delivery {
        let new = NewDelivery {
            app_id: app.into(),
            notification: serde_json::to_value(&notification).unwrap(),
            target: Target::All,
            dry_run: false,
            validity_secs,
            requested_validity_secs: validity_secs,
        };
        let delivery = self
            .store()
            .create_delivery(&new, Utc::now())
            .await
            .unwrap();
        let analyzer = Analyzer::new(
            self.store().clone(),
            1000,
            Arc::new(pushgate_dispatch::clock::SystemClock),
        );
        analyzer.analyze(&delivery).await.unwrap();
        self.store().delivery(&delivery.id).await.unwrap().unwrap()
    }

    /// Scripts the mocks' answer for the tokens `rule` matches.
    pub fn script(&self, rule: Rule) {
        self.mocks.scenarios().add(rule).unwrap();
    }

    /// Delivers to every subscriber of `app` and runs one pipeline (`node-a`) until the
    /// delivery is done (or panics after `limit`).
    pub async fn send_to_all(&self, app: &str, validity_secs: i64, limit: Duration) -> Delivery {
        let delivery = self.deliver(app, validity_secs).await;
        self.run_until_done(&self.pipeline("node-a"), &delivery, limit)
            .await
    }

    /// Runs `pipeline` until the delivery is done (or panics after `limit`).
    pub async fn run_until_done(
        &self,
        pipeline: &Pipeline,
        delivery: &Delivery,
        limit: Duration,
    ) -> Delivery {
        let cancel = CancellationToken::new();
        let running = tokio::spawn({
            let pipeline = pipeline.clone();
            let cancel = cancel.clone();
            async move { pipeline.run(cancel).await }
        });
        let done = wait_done(self.store(), &delivery.id, limit).await;
        cancel.cancel();
        running.await.unwrap().unwrap();
        done
    }
}

/// Polls the delivery until it is done (or panics after `limit`).
pub async fn wait_done(store: &Store, delivery: &str, limit: Duration) -> Delivery {
    let start = std::time::Instant::now();
    loop {
        let current = store.delivery(delivery).await.unwrap().unwrap();
        if current.state == DeliveryState::Done {
            return current;
        }
        assert!(
            start.elapsed() < limit,
            "delivery {delivery} not done after {limit:?}: {:?}",
            store.summary(&current).await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn test_config() -> PipelineConfig {
    PipelineConfig {
        idle_poll_ms: 20,
        write_interval_ms: 5,
        lease_secs: 30,
        drain_timeout_secs: 5,
        ..PipelineConfig::default()
    }
}

pub fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        initial_backoff_secs: 1,
        max_backoff_secs: 1,
        jitter: 0.0,
    }
}

pub fn hello() -> Notification {
    Notification {
        title: Some("Hello".into()),
        body: Some("World".into()),
        ..Notification::default()
    }
}

/// `n` distinct 64-hex-character APNs tokens starting with `prefix` (hex).
pub fn apns_tokens(prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{prefix}{i:0width$x}", width = 64 - prefix.len()))
        .collect()
}

/// `n` distinct FCM-like tokens starting with `prefix`.
pub fn fcm_tokens(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}:APA91b{i:08}")).collect()
}
