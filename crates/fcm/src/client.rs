//! [`FcmClient`]: sends messages to FCM HTTP v1, retries what may be retried, and hands
//! every message back as a classified [`SendResult`].
//!
//! One send: pre-checks (reserved data keys, size) without the network; an access token
//! from the token source; the POST. Then:
//! - 2xx: success, with the message name;
//! - 401 with `ACCESS_TOKEN_EXPIRED`: the token is dropped, refreshed once, and the
//!   message resent once; a second refusal is classified (`fcm.sender_auth`);
//! - 429, 500, 503: retried with exponential backoff and jitter, never sooner than
//!   `Retry-After`, the first wait after QUOTA_EXCEEDED at least
//!   `retry.quota_min_backoff_secs`; when the retries are spent (or the server asks for
//!   a wait over `retry.max_wait_secs`), classified;
//! - anything else: classified at once. A timeout is `fcm.service_unavailable`; no
//!   answer at all (connect error, reset, GOAWAY) is `fcm.connection_lost`, not retried
//!   here since the message may have been processed.

use std::borrow::Borrow;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures_util::stream::{self, Stream, StreamExt};
use pushgate_outcome::OutcomeId;
use pushgate_outcome::fcm::{ErrorBody, is_retryable_status};
use tracing::{debug, instrument};

use crate::account::ServiceAccount;
use crate::backoff::backoff;
use crate::body::{PreCheck, PreparedContent};
use crate::connection::Endpoint;
use crate::error::FcmError;
use crate::message::{Message, MessageContent};
use crate::oauth::TokenSource;
use crate::result::SendResult;
use crate::settings::{DEFAULT_BASE_URL, FcmSettings, RetrySettings};
use crate::tls::{tls_config, token_client};
use crate::transport::{Failure, Transport};

/// The FCM HTTP v1 sender of one service account and project. Cheap to clone (an `Arc`
/// inside); `Send + Sync`.
#[derive(Clone)]
pub struct FcmClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for FcmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FcmClient")
            .field("project_id", &self.inner.project_id)
            .field("send_url", &self.inner.send_url.as_str())
            .finish_non_exhaustive()
    }
}

struct Inner {
    transport: Transport,
    send_url: reqwest::Url,
    /// `host:port` of FCM, for `fcm.connection_lost` messages.
    address: String,
    project_id: String,
    tokens: TokenSource,
    retry: RetrySettings,
    /// The last content serialized, by allocation: a delivery's messages share one.
    last_prepared: Mutex<Option<(Weak<MessageContent>, Arc<PreparedContent>)>>,
}

/// A URL with one of `schemes` and a host, or a setting error naming `field`.
fn parse_url(field: &'static str, text: &str, schemes: &[&str]) -> Result<reqwest::Url, FcmError> {
    let url = reqwest::Url::parse(text).map_err(|e| FcmError::setting(field, e.to_string()))?;
    if !schemes.contains(&url.scheme()) || url.host_str().is_none() {
        let schemes = schemes.join(" or ");
        return Err(FcmError::setting(
            field,
            format!("must be an {schemes} URL with a host"),
        ));
    }
    Ok(url)
}

impl FcmClient {
    /// Loads and checks the key file and builds the HTTP clients. No network yet: the
    /// first send connects and obtains the first access token.
    pub fn new(settings: &FcmSettings) -> Result<Self, FcmError> {
        settings.validate()?;
        let path = &settings.service_account_file;
        let account = ServiceAccount::load(path)?;
        let missing = |field| FcmError::MissingField {
            path: path.clone(),
            field,
        };
        let project_id = match &settings.project_id {
            Some(p) => p.clone(),
            None => account.project_id.clone().ok_or(missing("project_id"))?,
        };
        if !project_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
        {
            return Err(FcmError::setting(
                "project_id",
                "may hold only letters, digits, '-', '_', '.' and ':'",
            ));
        }
        let token_uri = match &settings.token_uri {
            Some(uri) => parse_url("token_uri", uri, &["https", "http"])?,
            None => {
                let uri = account.token_uri.clone().ok_or(missing("token_uri"))?;
                parse_url("token_uri", &uri, &["https", "http"]).map_err(|_| FcmError::KeyFile {
                    path: path.clone(),
                    reason: "field `token_uri` is not an http(s) URL".into(),
                })?
            }
        };
        let base = settings.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
        // FCM is HTTP/2 over TLS only.
        let base_url = parse_url("base_url", base, &["https"])?;
        let send_url = format!(
            "{}/v1/projects/{project_id}/messages:send",
            base_url.as_str().trim_end_matches('/')
        );
        let send_url = parse_url("base_url", &send_url, &["https"])?;
        // `[::1]` in a URL; `::1` to connect to and to name the server.
        let host = send_url.host_str().unwrap_or_default();
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = send_url.port_or_known_default().unwrap_or(443);
        let bad_url = |e: String| FcmError::setting("base_url", e);
        let server_name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| bad_url(e.to_string()))?;
        let uri: http::Uri = send_url
            .as_str()
            .parse()
            .map_err(|e: http::uri::InvalidUri| bad_url(e.to_string()))?;
        let tls = tls_config(settings.trust_roots.as_deref(), &[b"h2"])?;
        let keep_alive = settings.keep_alive_interval_secs;
        let endpoint = Endpoint {
            host,
            port,
            server_name,
            tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
            connect_timeout: settings.connect_timeout(),
            keep_alive: (keep_alive > 0).then(|| Duration::from_secs(keep_alive)),
        };
        let transport = Transport::new(
            endpoint,
            uri,
            settings.request_timeout(),
            settings.connections,
        );
        let address = transport.address();
        let tokens = TokenSource::new(
            account,
            token_uri.to_string(),
            token_client(settings)?,
            settings.token.clone(),
        );
        Ok(Self {
            inner: Arc::new(Inner {
                transport,
                send_url,
                address,
                project_id,
                tokens,
                retry: settings.retry.clone(),
                last_prepared: Mutex::new(None),
            }),
        })
    }

    /// The Firebase project messages are sent for.
    pub fn project_id(&self) -> &str {
        &self.inner.project_id
    }

    /// Sends one message; every outcome, failures included, is a classified result.
    ///
    /// Cancel-safe: dropping the future resets its stream; dropped during a token
    /// refresh, it lets the next caller refresh.
    pub async fn send(&self, message: &Message) -> SendResult {
        let prepared = self.inner.prepare(&message.content);
        self.inner
            .deliver(&prepared, &message.token, message.validate_only)
            .await
    }

    /// Sends many messages with at most `max_in_flight` in flight (at least 1).
    ///
    /// Results come in completion order, each with the index of its message in the
    /// input. All sends run inside the returned stream (no task is spawned): dropping
    /// the stream cancels the sends in flight.
    pub fn send_all<'a, I>(
        &'a self,
        messages: I,
        max_in_flight: usize,
    ) -> impl Stream<Item = (usize, SendResult)> + Send + 'a
    where
        I: IntoIterator + 'a,
        I::IntoIter: Send + 'a,
        I::Item: Borrow<Message> + Send + 'a,
    {
        stream::iter(messages.into_iter().enumerate())
            .map(move |(i, message)| async move { (i, self.send(message.borrow()).await) })
            .buffer_unordered(max_in_flight.max(1))
    }

    /// [`Self::send_all`] collected in input order.
    pub async fn send_batch(&self, messages: &[Message], max_in_flight: usize) -> Vec<SendResult> {
        let mut results: Vec<Option<SendResult>> = vec![None; messages.len()];
        let mut all = std::pin::pin!(self.send_all(messages, max_in_flight));
        while let Some((index, result)) = all.next().await {
            if let Some(slot) = results.get_mut(index) {
                *slot = Some(result);
            }
        }
        // Every index yields exactly once, so the fallback is never used.
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| SendResult::connection_lost(&self.inner.address, 0)))
            .collect()
    }
}

impl Inner {
    /// The serialized content, reused while consecutive messages share one allocation.
    fn prepare(&self, content: &Arc<MessageContent>) -> Arc<PreparedContent> {
        let mut slot = self.last_prepared.lock().unwrap_or_else(|e| e.into_inner());
        // The weak reference keeps the allocation, so an equal pointer is the same
        // content; a content cannot change while it is shared (`Arc::make_mut` moves it).
        if let Some((weak, prepared)) = slot.as_ref()
            && std::ptr::eq(weak.as_ptr(), Arc::as_ptr(content))
        {
            return prepared.clone();
        }
        let prepared = Arc::new(PreparedContent::new(content));
        *slot = Some((Arc::downgrade(content), prepared.clone()));
        prepared
    }

    #[instrument(name = "fcm_send", level = "debug", skip_all, fields(token = %crate::redact(token)))]
    async fn deliver(
        &self,
        prepared: &PreparedContent,
        token: &str,
        validate_only: bool,
    ) -> SendResult {
        let body = match prepared.body(token, validate_only) {
            Ok(body) => body,
            Err(PreCheck::IllegalKeywords(keys)) => return SendResult::illegal_keywords(&keys),
            Err(PreCheck::PayloadTooLarge { size }) => return SendResult::payload_too_large(size),
        };
        let mut attempts = 0;
        let mut retries = 0;
        let mut refreshed = false;
        loop {
            let access = match self.tokens.token().await {
                Ok(access) => access,
                Err(failure) => return SendResult::auth(&failure, attempts),
            };
            attempts += 1;
            let answer = match self.transport.post(access.header(), body.clone()).await {
                Ok(answer) => answer,
                Err(Failure::Timeout) => return SendResult::timeout(attempts),
                Err(Failure::Connection) => {
                    return SendResult::connection_lost(&self.address, attempts);
                }
            };
            let status = answer.status;
            if status == 401
                && !refreshed
                && ErrorBody::parse(&answer.body).is_some_and(|b| b.is_access_token_expired())
            {
                debug!(
                    generation = access.generation,
                    "access token expired; refreshing once"
                );
                refreshed = true;
                self.tokens.invalidate(access.generation);
                continue;
            }
            let result = SendResult::response(status, &answer.body, answer.retry_after, attempts);
            if !is_retryable_status(status) || retries >= self.retry.max_retries {
                return result;
            }
            let quota = result.outcome_id() == Some(OutcomeId::FcmQuotaExceeded);
            let Some(wait) = self.wait_before_retry(retries, quota, answer.retry_after) else {
                return result;
            };
            debug!(
                status,
                retries,
                wait_ms = wait.as_millis() as u64,
                "retrying after a retryable answer"
            );
            retries += 1;
            tokio::time::sleep(wait).await;
        }
    }

    /// The wait before retry number `retries` (0 for the first), or `None` when the
    /// server asks for longer than `retry.max_wait_secs`.
    fn wait_before_retry(
        &self,
        retries: u32,
        quota: bool,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        let retry = &self.retry;
        let mut wait = backoff(
            Duration::from_millis(retry.initial_backoff_ms),
            Duration::from_millis(retry.max_backoff_ms),
            retries,
        );
        if quota && retries == 0 {
            wait = wait.max(Duration::from_secs(retry.quota_min_backoff_secs));
        }
        if let Some(after) = retry_after {
            if after > Duration::from_secs(retry.max_wait_secs) {
                return None;
            }
            wait = wait.max(after);
        }
        Some(wait)
    }
}
