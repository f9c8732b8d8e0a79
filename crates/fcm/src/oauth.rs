//! The OAuth2 access-token source: JWT-bearer assertions (`protocols.md` §3), a cached
//! token refreshed ahead of expiry, one refresh at a time.
//!
//! - The hot path reads the cached token under a read lock.
//! - Within the refresh margin the token is still used; the first caller that finds the
//!   refresh gate free refreshes while the others go on with the old token.
//! - Without a usable token, callers queue on the gate (a tokio mutex). The first one
//!   refreshes; the others find, once through the gate, that an attempt completed while
//!   they waited and take its result, token or failure. A thousand concurrent sends
//!   cause one token request.
//! - A failed refresh is remembered with a backoff deadline; until then callers get that
//!   failure without a request, so an outage does not become a request storm.
//! - Dropping a refreshing future releases the gate without completing an attempt: the
//!   next caller in line refreshes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::HeaderValue;
use pushgate_outcome::Classification;
use pushgate_outcome::fcm::{self, FcmResult};
use pushgate_outcome::oauth::OAuthResult;
use pushgate_outcome::oauth::{self, FCM_SCOPE, JWT_BEARER_GRANT, MAX_ASSERTION_LIFETIME_SECS};
use secrecy::ExposeSecret;
use serde::Deserialize;
use tracing::{debug, info, instrument, warn};

use crate::account::ServiceAccount;
use crate::backoff::backoff;
use crate::settings::TokenSettings;
use crate::tls::describe;

/// A cached access token: the ready `authorization` header and its deadlines.
pub(crate) struct AccessToken {
    /// `Bearer <token>`, marked sensitive (never printed by `http`, never indexed by
    /// HPACK).
    header: HeaderValue,
    /// Which token this is (1, 2, ...), to invalidate only the one that failed.
    pub generation: u64,
    /// From then on, the next caller refreshes ahead.
    refresh_at: Instant,
    /// From then on, the token is not used.
    expires_at: Instant,
}

impl AccessToken {
    /// The `authorization` header value.
    pub fn header(&self) -> &HeaderValue {
        &self.header
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

/// Why no access token could be had, classified to its `fcm.auth_*` row.
#[derive(Debug, Clone)]
pub(crate) struct AuthFailure {
    /// The row, from [`fcm::classify`] of an [`FcmResult::Auth`].
    pub classification: Classification,
    /// The token endpoint's HTTP status, if it answered.
    pub status: Option<u16>,
    /// The OAuth `error`, if the body had one.
    pub error: Option<String>,
}

impl AuthFailure {
    fn transport() -> Self {
        Self {
            classification: fcm::classify(&FcmResult::Auth(OAuthResult::Transport)),
            status: None,
            error: None,
        }
    }

    fn response(status: u16, body: &[u8]) -> Self {
        let result = FcmResult::Auth(OAuthResult::Response { status, body });
        Self {
            classification: fcm::classify(&result),
            status: Some(status),
            error: oauth::ErrorBody::parse(body).map(|b| b.error),
        }
    }
}

/// What the refresh gate guards: the last failure and when the next attempt may start.
#[derive(Default)]
struct Gate {
    failure: Option<(AuthFailure, Instant)>,
    failures_in_a_row: u32,
}

/// A successful token answer (`protocols.md` §3.2).
#[derive(Deserialize)]
struct Granted {
    access_token: String,
    expires_in: Option<u64>,
    token_type: Option<String>,
}

/// Google's lifetime when an answer gives none.
const DEFAULT_LIFETIME_SECS: u64 = 3599;

/// The access-token source of one service account.
pub(crate) struct TokenSource {
    account: ServiceAccount,
    /// Where assertions are posted; also their audience.
    token_uri: String,
    http: reqwest::Client,
    settings: TokenSettings,
    current: RwLock<Option<Arc<AccessToken>>>,
    gate: tokio::sync::Mutex<Gate>,
    /// Refresh attempts completed (successful or not).
    completed: AtomicU64,
    generation: AtomicU64,
}

impl TokenSource {
    /// A source with no token yet.
    pub fn new(
        account: ServiceAccount,
        token_uri: String,
        http: reqwest::Client,
        settings: TokenSettings,
    ) -> Self {
        Self {
            account,
            token_uri,
            http,
            settings,
            current: RwLock::new(None),
            gate: tokio::sync::Mutex::new(Gate::default()),
            completed: AtomicU64::new(0),
            generation: AtomicU64::new(0),
        }
    }

    fn current(&self) -> Option<Arc<AccessToken>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The cached token if it has not expired.
    fn usable(&self, now: Instant) -> Option<Arc<AccessToken>> {
        self.current().filter(|t| now < t.expires_at)
    }

    /// A usable access token, refreshing it if needed.
    pub async fn token(&self) -> Result<Arc<AccessToken>, AuthFailure> {
        let now = Instant::now();
        if let Some(token) = self.usable(now) {
            if now < token.refresh_at {
                return Ok(token);
            }
            // In the margin: refresh ahead unless someone is already at it.
            let Ok(mut gate) = self.gate.try_lock() else {
                return Ok(token);
            };
            let refreshed = self.usable(now).filter(|t| now < t.refresh_at);
            let cooling = gate.failure.as_ref().is_some_and(|(_, at)| now < *at);
            if let Some(newer) = refreshed {
                return Ok(newer);
            }
            if cooling {
                return Ok(token);
            }
            return Ok(Box::pin(self.refresh(&mut gate)).await.unwrap_or(token));
        }
        let seen = self.completed.load(Ordering::Acquire);
        let mut gate = self.gate.lock().await;
        let now = Instant::now();
        if let Some(token) = self.usable(now) {
            return Ok(token);
        }
        if let Some((failure, not_before)) = &gate.failure {
            // An attempt failed while we waited, or the last one failed too recently.
            if self.completed.load(Ordering::Acquire) != seen || now < *not_before {
                return Err(failure.clone());
            }
        }
        // Boxed: a rare path whose future is large; the hot path stays small.
        Box::pin(self.refresh(&mut gate)).await
    }

    /// Forgets `generation` if it is still the cached token (FCM said it expired).
    pub fn invalidate(&self, generation: u64) {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        if current.as_ref().is_some_and(|t| t.generation == generation) {
            *current = None;
        }
    }

    /// One refresh: token requests, retried as §3.3 allows; the result is remembered.
    #[instrument(skip_all, fields(client_email = %self.account.client_email))]
    async fn refresh(&self, gate: &mut Gate) -> Result<Arc<AccessToken>, AuthFailure> {
        let initial = Duration::from_millis(self.settings.initial_backoff_ms);
        let max = Duration::from_millis(self.settings.max_backoff_ms);
        let mut retry = 0;
        loop {
            match self.request().await {
                Ok(token) => {
                    *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(token.clone());
                    *gate = Gate::default();
                    self.completed.fetch_add(1, Ordering::AcqRel);
                    return Ok(token);
                }
                Err((failure, retryable)) if retryable && retry < self.settings.max_retries => {
                    let status = failure.status;
                    let wait = backoff(initial, max, retry);
                    debug!(
                        retry,
                        status,
                        wait_ms = wait.as_millis() as u64,
                        "token request failed; retrying"
                    );
                    retry += 1;
                    tokio::time::sleep(wait).await;
                }
                Err((failure, _)) => {
                    gate.failures_in_a_row += 1;
                    let wait = backoff(initial, max, gate.failures_in_a_row - 1);
                    warn!(
                        row = failure.classification.id().map(|id| id.to_string()),
                        status = failure.status,
                        error = failure.error.as_deref(),
                        next_attempt_in_ms = wait.as_millis() as u64,
                        "no access token"
                    );
                    gate.failure = Some((failure.clone(), Instant::now() + wait));
                    self.completed.fetch_add(1, Ordering::AcqRel);
                    return Err(failure);
                }
            }
        }
    }

    /// One token request; on failure, whether §3.3 says to retry it.
    async fn request(&self) -> Result<Arc<AccessToken>, (AuthFailure, bool)> {
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let assertion = self
            .account
            .assertion(FCM_SCOPE, &self.token_uri, iat, MAX_ASSERTION_LIFETIME_SECS)
            .map_err(|e| {
                // The key signed at load; this cannot happen short of a bug.
                warn!(error = %e, "cannot sign the assertion");
                (AuthFailure::transport(), false)
            })?;
        let started = Instant::now();
        let form = [
            ("grant_type", JWT_BEARER_GRANT),
            ("assertion", assertion.expose_secret()),
        ];
        let answer = async {
            let response = self.http.post(&self.token_uri).form(&form).send().await?;
            let status = response.status().as_u16();
            Ok::<_, reqwest::Error>((status, response.bytes().await?))
        };
        let (status, body) = answer.await.map_err(|e| {
            debug!(error = %describe(&e.without_url()), "token endpoint unreachable");
            (AuthFailure::transport(), true)
        })?;
        if status != 200 {
            let failure = AuthFailure::response(status, &body);
            let retryable = oauth::is_retryable(status, failure.error.as_deref());
            return Err((failure, retryable));
        }
        let refused = || (AuthFailure::response(status, &body), false);
        let granted: Granted = serde_json::from_slice(&body).map_err(|_| refused())?;
        if granted
            .token_type
            .as_deref()
            .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
        {
            return Err(refused());
        }
        let mut header = HeaderValue::try_from(format!("Bearer {}", granted.access_token))
            .map_err(|_| refused())?;
        header.set_sensitive(true);
        // A lifetime of 0 would send every caller to the token endpoint.
        let lifetime_secs = granted.expires_in.unwrap_or(DEFAULT_LIFETIME_SECS).max(1);
        let lifetime = Duration::from_secs(lifetime_secs);
        let margin = Duration::from_secs(self.settings.refresh_margin_secs).min(lifetime / 4);
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        info!(
            generation,
            expires_in_secs = lifetime.as_secs(),
            "access token obtained"
        );
        Ok(Arc::new(AccessToken {
            header,
            generation,
            refresh_at: started + (lifetime - margin),
            expires_at: started + lifetime,
        }))
    }
}
