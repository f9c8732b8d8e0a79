//! The HTTP/2 transport to FCM: a few connections (`settings.connections`) used in
//! turn, each carrying many concurrent streams, opened on first use and reopened when
//! they end.
//!
//! Built on the `h2` crate directly: a request costs a stream on an open connection and
//! nothing more (no pool checkout, no middleware), which is what lets one core keep up
//! with the mock. A stream the server refused unprocessed (REFUSED_STREAM, or a
//! connection that had ended before the request left) is resent on a fresh connection,
//! at most twice; any other loss is reported, since FCM may have processed the message.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, Method, Request, Uri};
use tracing::{debug, warn};

use crate::connection::{Conn, Endpoint, connect};

/// The most of an answer's body that is read (FCM's are a few hundred bytes).
const MAX_BODY: usize = 64 * 1024;
/// Sends of one request on fresh connections when the server refused it unprocessed.
const MAX_UNSENT_RETRIES: u32 = 3;

/// An HTTP answer: status, `Retry-After` and body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Bytes,
}

/// A send that got no complete answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The request timeout ran out.
    Timeout,
    /// Connect error, reset, GOAWAY or a cut body: no answer.
    Connection,
}

/// How one try ended without an answer.
enum Lost {
    /// The server did not process the request: safe to send again.
    Unsent,
    /// It may have been processed.
    Lost,
}

/// One connection slot: the connection, and a gate so that one caller connects while
/// the others wait for its result.
#[derive(Default)]
struct Slot {
    conn: RwLock<Option<Arc<Conn>>>,
    gate: tokio::sync::Mutex<()>,
    /// Connection attempts completed, to tell waiters that the one they waited on failed.
    attempts: AtomicU64,
}

impl Slot {
    fn live(&self) -> Option<Arc<Conn>> {
        let conn = self.conn.read().unwrap_or_else(|e| e.into_inner());
        conn.as_ref().filter(|c| !c.is_closed()).cloned()
    }
}

/// Round-robin over a few HTTP/2 connections to FCM.
pub(crate) struct Transport {
    endpoint: Endpoint,
    /// The send URL (absolute: `:scheme` and `:authority` come from it).
    uri: Uri,
    request_timeout: Duration,
    slots: Box<[Slot]>,
    next: AtomicUsize,
}

impl Transport {
    /// `connections` slots, none connected yet.
    pub fn new(
        endpoint: Endpoint,
        uri: Uri,
        request_timeout: Duration,
        connections: usize,
    ) -> Self {
        Self {
            endpoint,
            uri,
            request_timeout,
            slots: (0..connections.max(1)).map(|_| Slot::default()).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// `host:port`, for `fcm.connection_lost` messages.
    pub fn address(&self) -> String {
        let host = &self.endpoint.host;
        if host.contains(':') {
            format!("[{host}]:{}", self.endpoint.port)
        } else {
            format!("{host}:{}", self.endpoint.port)
        }
    }

    /// POSTs a JSON body with a bearer header and reads the whole answer. Connecting is
    /// bounded by the connect timeout, the exchange by the request timeout.
    pub async fn post(&self, authorization: &HeaderValue, body: Bytes) -> Result<Answer, Failure> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut unsent = 0;
        loop {
            let conn = self.connection(i).await?;
            let exchange = self.exchange(&conn, authorization, body.clone());
            match tokio::time::timeout(self.request_timeout, exchange).await {
                Err(_) => return Err(Failure::Timeout),
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err(Lost::Unsent)) if unsent < MAX_UNSENT_RETRIES => {
                    debug!("request not processed; sending it again");
                    unsent += 1;
                }
                Ok(Err(_)) => return Err(Failure::Connection),
            }
        }
    }

    /// The live connection of slot `i`, opening one if needed.
    async fn connection(&self, i: usize) -> Result<Arc<Conn>, Failure> {
        let slot = &self.slots[i];
        if let Some(conn) = slot.live() {
            return Ok(conn);
        }
        let seen = slot.attempts.load(Ordering::Acquire);
        let _gate = slot.gate.lock().await;
        if let Some(conn) = slot.live() {
            return Ok(conn);
        }
        if slot.attempts.load(Ordering::Acquire) != seen {
            // The attempt this caller waited for failed.
            return Err(Failure::Connection);
        }
        // Boxed: a rare path whose future is large; the hot path stays small.
        let result = Box::pin(connect(&self.endpoint)).await;
        slot.attempts.fetch_add(1, Ordering::AcqRel);
        match result {
            Ok(conn) => {
                debug!(slot = i, "fcm connection open");
                *slot.conn.write().unwrap_or_else(|e| e.into_inner()) = Some(conn.clone());
                Ok(conn)
            }
            Err(reason) => {
                warn!(address = %self.address(), %reason, "cannot connect to fcm");
                Err(Failure::Connection)
            }
        }
    }

    /// One request on `conn`.
    async fn exchange(
        &self,
        conn: &Conn,
        authorization: &HeaderValue,
        body: Bytes,
    ) -> Result<Answer, Lost> {
        let unsent = |e: h2::Error| {
            debug!(error = %e, "fcm connection unusable");
            conn.give_up();
            Lost::Unsent
        };
        let mut send = conn.send.clone().ready().await.map_err(unsent)?;
        let mut request = Request::new(());
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uri.clone();
        let headers = request.headers_mut();
        headers.insert(AUTHORIZATION, authorization.clone());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        let (response, mut stream) = send.send_request(request, false).map_err(unsent)?;
        let lost = |e: h2::Error| {
            if e.reason() == Some(h2::Reason::REFUSED_STREAM) {
                return Lost::Unsent;
            }
            debug!(error = %e, "fcm stream lost");
            if e.is_go_away() || e.is_io() {
                conn.give_up();
            }
            Lost::Lost
        };
        stream.send_data(body, true).map_err(lost)?;
        let (parts, mut recv) = response.await.map_err(lost)?.into_parts();
        let mut body = Bytes::new();
        while let Some(chunk) = recv.data().await {
            let chunk = chunk.map_err(lost)?;
            let _ = recv.flow_control().release_capacity(chunk.len());
            if body.is_empty() {
                body = chunk;
            } else if body.len() < MAX_BODY {
                let mut joined = BytesMut::from(&body[..]);
                joined.extend_from_slice(&chunk);
                body = joined.freeze();
            }
        }
        let retry_after = parts
            .headers
            .get(RETRY_AFTER)
            .and_then(|v| crate::backoff::parse_retry_after(v.to_str().ok()?));
        Ok(Answer {
            status: parts.status.as_u16(),
            retry_after,
            body,
        })
    }
}
