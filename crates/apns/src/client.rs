//! [`ApnsClient`]: sends notifications through the pool, retries what may be retried,
//! and returns one classified [`SendResult`] per notification.
//!
//! # Retries and delivery guarantees
//! - Requests the server did not process (the stream could not be opened, REFUSED_STREAM,
//!   above a GOAWAY's last stream, or a connection retired for the 20-minute token rule)
//!   go again on another connection at once, without counting as an attempt, at most
//!   `retry.max_unprocessed_resends` times.
//! - 429, 500, 503 and transport failures (connect error, reset, connection lost after
//!   sending, timeout) are retried with exponential backoff and jitter, never sooner
//!   than the server's `Retry-After`, at most `retry.max_retries` times; a `Retry-After`
//!   beyond `retry.max_backoff_ms` is handed over instead of waited for. Then the last
//!   answer is classified (`apns.connection_lost`).
//! - 403 `ExpiredProviderToken`: a new token is signed and the request resent once.
//! - Anything else is classified at once.
//!
//! A request reset or cut off after it was sent may have been processed: retrying it is
//! *at least once*, so a device may see a notification twice in that case (with the same
//! `apns-id` if one was given). Only requests the server provably did not process are
//! re-sent without that risk.

use std::borrow::Borrow;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{Stream, StreamExt, stream};
use http::HeaderValue;
use http::uri::Authority;
use pushgate_outcome::apns::{Transport, is_retryable_status};
use rand::Rng;
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::{Instrument, debug};

use crate::connection::{ConnectError, Connector};
use crate::error::ApnsError;
use crate::notification::Notification;
use crate::pool::{AcquireError, Pool};
use crate::request::{CheckedPayload, Exchange, Prepared, Shared, exchange};
use crate::result::{Answer, SendResult};
use crate::settings::{ApnsAuth, ApnsSettings, RetrySettings};
use crate::tls::client_config;
use crate::token::{Clock, ProviderTokens, SystemClock};

/// The APNs sender. Cheap to clone (the pool is shared); dropping the last clone closes
/// the connections.
#[derive(Debug, Clone)]
pub struct ApnsClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: Arc<Pool>,
    tokens: Option<ProviderTokens>,
    authority: Authority,
    topic: HeaderValue,
    retry: RetrySettings,
    request_timeout: Duration,
    checked: CheckedPayload,
    _stop: DropGuard,
}

/// A notification's payload and `apns-*` headers, checked and built once for all the
/// tokens it goes to ([`ApnsClient::template`], [`ApnsClient::send_to`]). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Template(Arc<Shared>);

/// How one attempt went, and what it used.
struct Attempt {
    exchange: Exchange,
    /// The request went out (it counts as an attempt).
    sent: bool,
    /// The provider token generation it carried.
    token: Option<u64>,
}

impl ApnsClient {
    /// A client for `settings`, reading the key or certificate once. No connection is
    /// opened until the first send.
    pub fn new(settings: &ApnsSettings) -> Result<Self, ApnsError> {
        Self::with_clock(settings, Arc::new(SystemClock))
    }

    /// [`Self::new`] with another clock for the provider token's age and the 20-minute
    /// rule (tests move it).
    pub fn with_clock(settings: &ApnsSettings, clock: Arc<dyn Clock>) -> Result<Self, ApnsError> {
        settings.validate()?;
        let tokens = match &settings.auth {
            ApnsAuth::Token {
                key_file,
                key_id,
                team_id,
            } => Some(ProviderTokens::new(
                key_file,
                key_id,
                team_id,
                Duration::from_secs(settings.token_refresh_secs),
                clock,
            )?),
            ApnsAuth::Certificate { .. } | ApnsAuth::Pkcs12 { .. } => None,
        };
        let tls = client_config(settings)?;
        let authority = Authority::try_from(settings.endpoint.authority())
            .map_err(|e| ApnsError::setting("endpoint", e.to_string()))?;
        let topic = HeaderValue::try_from(settings.topic.trim())
            .map_err(|_| ApnsError::setting("topic", "not a valid header value"))?;
        let cancel = CancellationToken::new();
        let connector = Connector {
            endpoint: settings.endpoint.clone(),
            tls: tls.into(),
            timeout: settings.connect_timeout(),
        };
        let pool = Pool::new(
            connector,
            settings.connections,
            Duration::from_secs(settings.ping_idle_secs),
            cancel.clone(),
        );
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                tokens,
                authority,
                topic,
                retry: settings.retry.clone(),
                request_timeout: settings.request_timeout(),
                checked: CheckedPayload::default(),
                _stop: cancel.drop_guard(),
            }),
        })
    }

    /// Sends one notification; never fails: every outcome is a classified result.
    ///
    /// Cancel-safe: dropping the future resets its stream and frees its slot.
    pub async fn send(&self, notification: &Notification) -> SendResult {
        match Prepared::new(notification, &self.inner.checked) {
            Ok(prepared) => self.send_prepared(&prepared, &notification.token).await,
            Err(result) => result,
        }
    }

    /// Checks and builds what `notification` shares with every token (its payload and
    /// `apns-*` headers; its `token` is not read), once for all the tokens it goes to.
    /// A notification that cannot go out is refused here with the result each of its
    /// sends would have had.
    pub fn template(&self, notification: &Notification) -> Result<Template, SendResult> {
        Shared::new(notification, &self.inner.checked).map(|shared| Template(Arc::new(shared)))
    }

    /// Sends `template` to one device token: as [`Self::send`] a notification with that
    /// token would be sent.
    pub async fn send_to(&self, template: &Template, token: &str) -> SendResult {
        match Prepared::for_token(template.0.clone(), token) {
            Ok(prepared) => self.send_prepared(&prepared, token).await,
            Err(result) => result,
        }
    }

    async fn send_prepared(&self, prepared: &Prepared, token: &str) -> SendResult {
        // A span per notification only when someone listens: building one costs a
        // noticeable share of a send at full speed.
        if tracing::enabled!(tracing::Level::DEBUG) {
            let span = tracing::debug_span!(
                "apns_send",
                token = %short_token(token),
                push_type = %prepared.push_type(),
            );
            async {
                let result = self.inner.deliver(prepared).await;
                debug!(
                    outcome = %result.classification.id().map_or("-", |id| id.as_str()),
                    status = ?result.status,
                    attempts = result.attempts,
                    "apns result"
                );
                result
            }
            .instrument(span)
            .await
        } else {
            self.inner.deliver(prepared).await
        }
    }

    /// Sends many, at most `in_flight` at once, yielding `(index, result)` as each one
    /// finishes (so out of input order; the index is the notification's position in
    /// `notifications`). Every notification yields exactly one result when the stream is
    /// polled to its end; dropping the stream cancels the sends still running.
    pub fn send_all<'a, I, N>(
        &'a self,
        notifications: I,
        in_flight: usize,
    ) -> impl Stream<Item = (usize, SendResult)> + Send + 'a
    where
        I: IntoIterator<Item = N>,
        I::IntoIter: Send + 'a,
        N: Borrow<Notification> + Send + 'a,
    {
        stream::iter(notifications.into_iter().enumerate())
            .map(move |(index, n)| async move { (index, self.send(n.borrow()).await) })
            .buffer_unordered(in_flight.max(1))
    }

    /// [`Self::send_all`] collected in input order.
    pub async fn send_batch(
        &self,
        notifications: &[Notification],
        in_flight: usize,
    ) -> Vec<SendResult> {
        let mut results: Vec<Option<SendResult>> = vec![None; notifications.len()];
        let mut all = std::pin::pin!(self.send_all(notifications, in_flight));
        while let Some((index, result)) = all.next().await {
            if let Some(slot) = results.get_mut(index) {
                *slot = Some(result);
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| SendResult::transport(Transport::Reset, 0, None)))
            .collect()
    }
}

/// The first 8 characters of a device token, for logs.
fn short_token(token: &str) -> &str {
    token.get(..8).unwrap_or(token)
}

impl Inner {
    async fn deliver(&self, prepared: &Prepared) -> SendResult {
        let (mut attempts, mut retries, mut unprocessed) = (0u32, 0u32, 0u32);
        let mut resent_expired = false;
        let mut last_retry_after = None;
        loop {
            let attempt = self.attempt(prepared).await;
            let processed = !matches!(attempt.exchange, Exchange::Unprocessed);
            attempts += u32::from(attempt.sent && processed);
            match attempt.exchange {
                Exchange::Unprocessed => {
                    unprocessed += 1;
                    if unprocessed > self.retry.max_unprocessed_resends {
                        return SendResult::transport(
                            Transport::GoAway,
                            attempts,
                            prepared.apns_id(),
                        );
                    }
                }
                Exchange::Tls(detail) => return SendResult::credentials(&detail, attempts),
                Exchange::Failed(kind) => {
                    if retries >= self.retry.max_retries {
                        return SendResult::transport(kind, attempts, prepared.apns_id());
                    }
                    retries += 1;
                    tokio::time::sleep(self.backoff(retries)).await;
                }
                Exchange::Answer(answer) => {
                    last_retry_after = answer.retry_after.or(last_retry_after);
                    if !resent_expired && self.expired_token(&answer, attempt.token) {
                        resent_expired = true;
                        continue;
                    }
                    let wait = self.retry_wait(&answer, retries);
                    match wait {
                        Some(wait) => {
                            retries += 1;
                            tokio::time::sleep(wait).await;
                        }
                        None => {
                            let mut result = SendResult::response(&answer, attempts);
                            result.retry_after = last_retry_after;
                            return result;
                        }
                    }
                }
            }
        }
    }

    /// 403 ExpiredProviderToken: drop the token so the next attempt signs a new one.
    fn expired_token(&self, answer: &Answer, generation: Option<u64>) -> bool {
        let (Some(tokens), Some(generation)) = (&self.tokens, generation) else {
            return false;
        };
        if answer.status != 403 || answer.reason().as_deref() != Some("ExpiredProviderToken") {
            return false;
        }
        tokens.expire(generation);
        true
    }

    /// How long to wait before retrying `answer`, if it is retried at all.
    fn retry_wait(&self, answer: &Answer, retries: u32) -> Option<Duration> {
        if !is_retryable_status(answer.status) || retries >= self.retry.max_retries {
            return None;
        }
        let backoff = self.backoff(retries + 1);
        match answer.retry_after {
            Some(after) if after > Duration::from_millis(self.retry.max_backoff_ms) => None,
            Some(after) => Some(after.max(backoff)),
            None => Some(backoff),
        }
    }

    /// Exponential backoff for retry number `retry` (1-based), with "equal jitter": half
    /// fixed, half random, so retries neither bunch up nor come back at once.
    fn backoff(&self, retry: u32) -> Duration {
        let shift = retry.saturating_sub(1).min(20);
        let initial = self.retry.initial_backoff_ms;
        let ms = initial
            .saturating_mul(1 << shift)
            .min(self.retry.max_backoff_ms);
        let jitter = rand::rng().random_range(0..=ms / 2);
        Duration::from_millis(ms - ms / 2 + jitter)
    }

    /// One attempt on a leased stream, bounded by the request timeout.
    async fn attempt(&self, prepared: &Prepared) -> Attempt {
        let deadline = tokio::time::Instant::now() + self.request_timeout;
        let mut attempt = Attempt {
            exchange: Exchange::Unprocessed,
            sent: false,
            token: None,
        };
        let lease = match self.pool.acquire(deadline).await {
            Ok(lease) => lease,
            Err(error) => {
                attempt.exchange = match error {
                    AcquireError::Timeout => Exchange::Failed(Transport::Timeout),
                    AcquireError::Connect(ConnectError::Tls(detail)) => Exchange::Tls(detail),
                    AcquireError::Connect(ConnectError::Transport(_)) | AcquireError::Closed => {
                        Exchange::Failed(Transport::Connect)
                    }
                };
                return attempt;
            }
        };
        let conn = &lease.conn;
        let token = match &self.tokens {
            None => None,
            Some(tokens) => {
                let token = match tokens.current() {
                    Ok(token) => token,
                    Err(detail) => {
                        attempt.exchange = Exchange::Tls(detail);
                        return attempt;
                    }
                };
                let now = tokens.clock().now();
                let allowed = conn
                    .state
                    .token
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .allow(&token, now);
                if !allowed {
                    // Changing token on this connection now would break the 20-minute
                    // rule: retire it; a new connection takes the new token at once.
                    self.pool.retire(conn.state.id);
                    return attempt;
                }
                attempt.token = Some(token.generation);
                Some(token)
            }
        };
        let authorization = token.map(|t| t.header.clone());
        let request = || prepared.request(&self.authority, &self.topic, authorization.as_ref());
        let payload = prepared.payload();
        let reads_before = conn.state.io.reads();
        let exchanged = tokio::time::timeout_at(
            deadline,
            exchange(conn, request, payload, &mut attempt.sent),
        )
        .await;
        attempt.exchange = exchanged.unwrap_or(Exchange::Failed(Transport::Timeout));
        match &attempt.exchange {
            Exchange::Answer(answer) => self.after_answer(&lease.conn, answer),
            Exchange::Unprocessed | Exchange::Failed(Transport::GoAway) => {
                self.pool.retire(conn.state.id);
            }
            Exchange::Failed(Transport::Timeout) if conn.state.io.reads() == reads_before => {
                // Nothing at all came on this connection for a whole request timeout:
                // it may be black-holed; new requests go to a fresh one.
                self.pool.retire(conn.state.id);
            }
            Exchange::Failed(_) | Exchange::Tls(_) => {
                if conn.state.io.closed() {
                    self.pool.retire(conn.state.id);
                }
            }
        }
        attempt
    }

    /// What an answer tells about its connection.
    fn after_answer(&self, conn: &crate::pool::Conn, answer: &Answer) {
        let confirms = match self.tokens {
            // The token was valid: a success, or an answer about the device itself.
            Some(_) => matches!(answer.status, 200 | 410),
            None => true,
        };
        if confirms {
            self.pool.confirm(&conn.state);
        }
        if matches!(answer.status, 403 | 429)
            && matches!(
                answer.reason().as_deref(),
                Some("TooManyProviderTokenUpdates" | "UnrelatedKeyIdInToken")
            )
        {
            // This connection's token history is the problem: start afresh elsewhere.
            self.pool.retire(conn.state.id);
        }
    }
}
