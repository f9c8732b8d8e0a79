//! [`MockServers`]: binds the four listeners, runs them on the caller's runtime, and
//! offers in-process control mirroring the admin API.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

use crate::Service;
use crate::admin::{self, Info};
use crate::apns::Apns;
use crate::config::{ApnsKeyConfig, MockConfig, OAuthAccountConfig};
use crate::error::MockError;
use crate::faults::Faults;
use crate::fcm::Fcm;
use crate::fixtures::ClientCert;
use crate::record::RecordedRequest;
use crate::script::Rule;
use crate::state::Shared;
use crate::stats::StatsSnapshot;
use crate::tls::TlsMaterial;
use crate::{h2serve, oauth};

/// The running mocks. Dropping them stops every task (without waiting);
/// [`MockServers::shutdown`] stops them and waits.
pub struct MockServers {
    shared: Arc<Shared>,
    apns: SocketAddr,
    fcm: SocketAddr,
    oauth: SocketAddr,
    admin: SocketAddr,
    ca_path: PathBuf,
    /// A temporary folder we created for `ca.pem`, removed when we stop.
    temp_dir: Option<PathBuf>,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl std::fmt::Debug for MockServers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServers")
            .field("apns", &self.apns)
            .field("fcm", &self.fcm)
            .field("oauth", &self.oauth)
            .field("admin", &self.admin)
            .field("ca_path", &self.ca_path)
            .finish_non_exhaustive()
    }
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, MockError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| MockError::Bind { what, addr, source })
}

fn local_addr(
    listener: &TcpListener,
    what: &'static str,
    addr: SocketAddr,
) -> Result<SocketAddr, MockError> {
    listener
        .local_addr()
        .map_err(|source| MockError::Bind { what, addr, source })
}

/// `https://host:port` for a bound address (an unspecified address becomes loopback).
fn base_url(scheme: &str, addr: SocketAddr) -> String {
    let ip = addr.ip();
    let host = match ip {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
        ip if ip.is_unspecified() => "[::1]".to_owned(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        std::net::IpAddr::V4(v4) => v4.to_string(),
    };
    format!("{scheme}://{host}:{}", addr.port())
}

/// Writes `ca.pem` into `dir` (or a fresh temporary folder).
fn write_ca(dir: Option<&Path>, pem: &str) -> Result<(PathBuf, Option<PathBuf>), MockError> {
    let (dir, temp) = match dir {
        Some(dir) => (dir.to_owned(), None),
        None => {
            let name = format!(
                "pushgate-mock-{}-{}",
                std::process::id(),
                uuid::Uuid::new_v4().simple()
            );
            let dir = std::env::temp_dir().join(name);
            (dir.clone(), Some(dir))
        }
    };
    std::fs::create_dir_all(&dir).map_err(|e| MockError::file(&dir, e))?;
    let path = dir.join("ca.pem");
    std::fs::write(&path, pem).map_err(|e| MockError::file(&path, e))?;
    let path = std::path::absolute(&path).unwrap_or(path);
    Ok((path, temp))
}

impl MockServers {
    /// Generates (or loads) the TLS material, binds the listeners, writes `ca.pem` and
    /// starts serving on the current tokio runtime.
    pub async fn start(config: MockConfig) -> Result<Self, MockError> {
        let material = TlsMaterial::new(&config.tls)?;
        let apns_listener = bind("apns", config.apns_listen).await?;
        let fcm_listener = bind("fcm", config.fcm_listen).await?;
        let oauth_listener = bind("oauth", config.oauth_listen).await?;
        let admin_listener = bind("admin", config.admin_listen).await?;
        let apns = local_addr(&apns_listener, "apns", config.apns_listen)?;
        let fcm = local_addr(&fcm_listener, "fcm", config.fcm_listen)?;
        let oauth = local_addr(&oauth_listener, "oauth", config.oauth_listen)?;
        let admin = local_addr(&admin_listener, "admin", config.admin_listen)?;

        let (apns_tls, fcm_tls, oauth_tls) = (
            material.apns_config()?,
            material.fcm_config()?,
            material.oauth_config()?,
        );
        let (ca_path, temp_dir) = write_ca(config.tls.ca_dir.as_deref(), material.ca.cert_pem())?;
        let token_url = format!("{}/token", base_url("https", oauth));
        let mut audiences = vec![
            token_url.clone(),
            format!("https://localhost:{}/token", oauth.port()),
        ];
        audiences.extend(config.oauth.extra_audiences.iter().cloned());
        let shared = match Shared::new(&config, material.ca, audiences) {
            Ok(shared) => Arc::new(shared),
            Err(e) => {
                if let Some(dir) = &temp_dir {
                    let _ = std::fs::remove_dir_all(dir);
                }
                return Err(e);
            }
        };
        let info = Info {
            apns: apns.to_string(),
            fcm: fcm.to_string(),
            oauth: oauth.to_string(),
            admin: admin.to_string(),
            ca: ca_path.display().to_string(),
            apns_url: base_url("https", apns),
            fcm_url: base_url("https", fcm),
            oauth_token_url: token_url,
        };

        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let max_streams = config.max_concurrent_streams.max(1);
        let apns_service = Arc::new(Apns {
            shared: shared.clone(),
        });
        tracker.spawn(h2serve::serve(
            apns_listener,
            TlsAcceptor::from(apns_tls),
            max_streams,
            apns_service,
            cancel.clone(),
            tracker.clone(),
        ));
        let fcm_service = Arc::new(Fcm {
            shared: shared.clone(),
        });
        tracker.spawn(h2serve::serve(
            fcm_listener,
            TlsAcceptor::from(fcm_tls),
            max_streams,
            fcm_service,
            cancel.clone(),
            tracker.clone(),
        ));
        tracker.spawn(oauth::serve(
            oauth_listener,
            TlsAcceptor::from(oauth_tls),
            shared.clone(),
            cancel.clone(),
            tracker.clone(),
        ));
        let router = admin::router(shared.clone(), info);
        let admin_cancel = cancel.clone();
        tracker.spawn(async move {
            let serve = axum::serve(admin_listener, router)
                .with_graceful_shutdown(async move { admin_cancel.cancelled().await });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "admin listener failed");
            }
        });
        info!(%apns, %fcm, %oauth, %admin, ca = %ca_path.display(), "mock servers listening");
        Ok(Self {
            shared,
            apns,
            fcm,
            oauth,
            admin,
            ca_path,
            temp_dir,
            cancel,
            tracker,
        })
    }

    /// The APNs address.
    pub fn apns_addr(&self) -> SocketAddr {
        self.apns
    }

    /// The FCM address.
    pub fn fcm_addr(&self) -> SocketAddr {
        self.fcm
    }

    /// The OAuth address.
    pub fn oauth_addr(&self) -> SocketAddr {
        self.oauth
    }

    /// The admin address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
    }

    /// `https://127.0.0.1:PORT`: the APNs base URL (requests go to `/3/device/<token>`).
    pub fn apns_url(&self) -> String {
        base_url("https", self.apns)
    }

    /// `https://127.0.0.1:PORT`: the FCM base URL (requests go to
    /// `/v1/projects/{project}/messages:send`).
    pub fn fcm_url(&self) -> String {
        base_url("https", self.fcm)
    }

    /// The full send URL for `project`.
    pub fn fcm_send_url(&self, project: &str) -> String {
        format!("{}/v1/projects/{project}/messages:send", self.fcm_url())
    }

    /// `https://127.0.0.1:PORT/token`: the token URL, also the `aud` assertions need.
    pub fn oauth_token_url(&self) -> String {
        format!("{}/token", base_url("https", self.oauth))
    }

    /// `http://127.0.0.1:PORT`: the admin API base URL.
    pub fn admin_url(&self) -> String {
        base_url("http", self.admin)
    }

    /// The CA certificate, PEM: add it as a trust root.
    pub fn ca_pem(&self) -> &str {
        self.shared.ca.cert_pem()
    }

    /// Where `ca.pem` was written.
    pub fn ca_path(&self) -> &Path {
        &self.ca_path
    }

    /// Scripted answers.
    pub fn scenarios(&self) -> ScenarioControl<'_> {
        ScenarioControl(&self.shared)
    }

    /// Global faults.
    pub fn faults(&self) -> FaultControl<'_> {
        FaultControl(&self.shared)
    }

    /// A copy of the counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// The most recent `limit` requests (oldest first).
    pub fn requests(&self, limit: usize) -> Vec<RecordedRequest> {
        self.shared.log.recent(limit, None)
    }

    /// The most recent `limit` requests to `service` (oldest first).
    pub fn requests_to(&self, service: Service, limit: usize) -> Vec<RecordedRequest> {
        self.shared.log.recent(limit, Some(service))
    }

    /// Turns request recording on or off.
    pub fn set_request_log(&self, on: bool) {
        self.shared.log.set_enabled(on);
    }

    /// Clears the counters and the request log.
    pub fn reset_stats(&self) {
        self.shared.stats.reset();
        self.shared.log.clear();
    }

    /// Registers (or replaces) an APNs verification key.
    pub fn add_apns_key(&self, key: &ApnsKeyConfig) -> Result<(), MockError> {
        self.shared.add_apns_key(key)
    }

    /// Registers (or replaces) a service account.
    pub fn add_oauth_account(&self, account: &OAuthAccountConfig) -> Result<(), MockError> {
        self.shared.add_account(account)
    }

    /// Issues an APNs client certificate for `bundle_id` from the mock CA.
    pub fn issue_client_cert(
        &self,
        bundle_id: &str,
        team_id: &str,
    ) -> Result<ClientCert, MockError> {
        self.shared.ca.issue_client_cert(bundle_id, team_id)
    }

    /// Stops accepting, lets open streams finish (at most about two seconds), and waits
    /// for every task.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        info!("mock servers stopped");
    }
}

impl Drop for MockServers {
    fn drop(&mut self) {
        self.cancel.cancel();
        self.tracker.close();
        if let Some(dir) = &self.temp_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// In-process control of the scripted answers (the admin's `/_mock/scenarios`).
#[derive(Clone, Copy)]
pub struct ScenarioControl<'a>(&'a Shared);

impl ScenarioControl<'_> {
    /// Installs one rule (replacing one with the same service and key).
    pub fn add(&self, rule: Rule) -> Result<(), MockError> {
        self.0.rules.add(vec![rule])
    }

    /// Installs rules; none is installed if one is invalid.
    pub fn add_all(&self, rules: impl IntoIterator<Item = Rule>) -> Result<(), MockError> {
        self.0.rules.add(rules.into_iter().collect())
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.0.rules.clear(None);
    }

    /// Removes the rules of one service.
    pub fn clear_service(&self, service: Service) {
        self.0.rules.clear(Some(service));
    }

    /// The installed rules.
    pub fn list(&self) -> Vec<Rule> {
        self.0.rules.list()
    }
}

/// In-process control of the global faults (the admin's `/_mock/faults`).
#[derive(Clone, Copy)]
pub struct FaultControl<'a>(&'a Shared);

impl FaultControl<'_> {
    /// Replaces the faults in force.
    pub fn set(&self, faults: Faults) -> Result<(), MockError> {
        self.0.faults.set(faults)
    }

    /// The faults in force (`for` windows turned absolute).
    pub fn get(&self) -> Faults {
        self.0.faults.get()
    }

    /// No more faults.
    pub fn clear(&self) {
        let _ = self.0.faults.set(Faults::default());
    }
}
