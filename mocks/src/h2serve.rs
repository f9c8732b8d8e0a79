//! The HTTP/2-over-TLS engine shared by the APNs and FCM mocks: accept, handshake,
//! streams, and the transport-level answers (reset, GOAWAY, no answer).
//!
//! The `h2` crate is used directly rather than through hyper's service layer: the mocks
//! need per-stream RST_STREAM with a chosen code, GOAWAY at a chosen point, and
//! per-connection state (the APNs team binding, stream concurrency) that a hyper
//! service does not see.

use std::borrow::Cow;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use h2::server::SendResponse;
use h2::{Reason, RecvStream};
use http::request::Parts;
use http::{HeaderMap, Response, StatusCode};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use crate::Service;
use crate::record::Entry;
use crate::state::Shared;
use crate::stats::ConnCounters;

/// Largest request body kept; a longer one is cut there (enough to refuse it as too
/// large) and the rest is not read.
const MAX_BODY: usize = 1 << 20;
/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long open streams may take to finish once the mock shuts down.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// How a stream is answered.
pub(crate) enum Reply {
    /// An HTTP response; an empty body ends the stream on HEADERS.
    Response {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
    },
    /// RST_STREAM with this code.
    Reset(Reason),
    /// RST_STREAM REFUSED_STREAM, then GOAWAY on the connection.
    GoAway,
    /// No answer until the client resets the stream or the mock stops.
    Hold,
}

/// A service's decision for one request.
pub(crate) struct Decision<'a> {
    pub reply: Reply,
    /// Wait this long before answering (a scripted delay).
    pub delay: Option<Duration>,
    /// The reason, errorCode or OAuth error of the answer, for stats and the log.
    pub label: Cow<'static, str>,
    /// The token to count a delivery for once the answer is sent.
    pub deliver_to: Option<Cow<'a, str>>,
}

impl Decision<'_> {
    pub(crate) fn reply(reply: Reply, label: impl Into<Cow<'static, str>>) -> Self {
        Self {
            reply,
            delay: None,
            label: label.into(),
            deliver_to: None,
        }
    }

    /// The stats label of a transport-level answer.
    fn transport_label(&self) -> Option<&'static str> {
        match self.reply {
            Reply::Response { .. } => None,
            Reply::Reset(_) => Some("reset"),
            Reply::GoAway => Some("goaway"),
            Reply::Hold => Some("no_answer"),
        }
    }
}

/// One of the h2 mocks (APNs, FCM).
pub(crate) trait H2Service: Send + Sync + 'static {
    /// Which service this is.
    const SERVICE: Service;
    /// Per-connection state.
    type Conn: Send + Sync + 'static;

    fn shared(&self) -> &Shared;

    /// State for a new connection, from its TLS session (client certificate...).
    fn connection(&self, tls: &rustls::ServerConnection) -> Self::Conn;

    /// The answer to a request; `fault` is an error status drawn by the faults.
    fn decide<'a>(
        &self,
        conn: &Self::Conn,
        parts: &'a Parts,
        body: &'a Bytes,
        fault: Option<u16>,
    ) -> Decision<'a>;
}

/// A connection's context, shared by its streams.
struct ConnCtx<C> {
    counters: Arc<ConnCounters>,
    state: C,
    /// Set by a stream whose scripted answer is GOAWAY.
    goaway: AtomicBool,
}

/// Counts a stream as closed when its future ends or is dropped.
struct OpenStream<'a>(&'a ConnCounters);

impl Drop for OpenStream<'_> {
    fn drop(&mut self) {
        self.0.stream_closed();
    }
}

/// Accepts connections until `cancel` fires.
pub(crate) async fn serve<S: H2Service>(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    max_streams: u32,
    service: Arc<S>,
    cancel: CancellationToken,
    tracker: TaskTracker,
) {
    loop {
        let (tcp, peer) = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    warn!(service = %S::SERVICE, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, service, cancel) = (acceptor.clone(), service.clone(), cancel.clone());
        tracker.spawn(async move {
            connection(tcp, peer, acceptor, max_streams, &*service, &cancel).await;
        });
    }
}

/// Serves one connection. Its streams run inside this task (not one task each): the
/// loop accepts every stream that has arrived, runs every stream that can progress, and
/// only then lets h2 write, so a burst of answers leaves in one write.
async fn connection<S: H2Service>(
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    max_streams: u32,
    service: &S,
    cancel: &CancellationToken,
) {
    let tls = tokio::select! {
        _ = cancel.cancelled() => return,
        tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)) => match tls {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => return debug!(service = %S::SERVICE, %peer, error = %e, "tls handshake failed"),
            Err(_) => return debug!(service = %S::SERVICE, %peer, "tls handshake timed out"),
        },
    };
    let session = tls.get_ref().1;
    if session.alpn_protocol() != Some(b"h2".as_slice()) {
        // Apple and Google speak HTTP/2 only: no `h2` in ALPN, no service.
        return debug!(service = %S::SERVICE, %peer, "client did not negotiate h2: closed");
    }
    let ctx = ConnCtx {
        counters: service.shared().stats.connection(S::SERVICE, peer),
        state: service.connection(session),
        goaway: AtomicBool::new(false),
    };
    let handshake = h2::server::Builder::new()
        .max_concurrent_streams(max_streams)
        .initial_window_size(1 << 20)
        .initial_connection_window_size(1 << 24)
        .max_send_buffer_size(1 << 20)
        .handshake::<_, Bytes>(tls);
    let mut h2 = tokio::select! {
        _ = cancel.cancelled() => return ctx.counters.close(),
        h2 = handshake => match h2 {
            Ok(h2) => h2,
            Err(e) => {
                ctx.counters.close();
                return debug!(service = %S::SERVICE, %peer, error = %e, "h2 handshake failed");
            }
        },
    };
    debug!(service = %S::SERVICE, %peer, id = ctx.counters.id, "connection open");
    let shared = service.shared();
    let mut streams = FuturesUnordered::new();
    let cancelled = cancel.cancelled();
    let drain = tokio::time::sleep(DRAIN_TIMEOUT);
    tokio::pin!(cancelled, drain);
    let mut going_away = false;
    let mut stopping = false;
    poll_fn(|cx| {
        if !stopping && cancelled.as_mut().poll(cx).is_ready() {
            h2.graceful_shutdown();
            (going_away, stopping) = (true, true);
            drain
                .as_mut()
                .reset(tokio::time::Instant::now() + DRAIN_TIMEOUT);
        }
        if stopping && drain.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        loop {
            let mut progress = false;
            // Accept every stream that has arrived; this also writes queued answers.
            loop {
                let (request, mut respond) = match h2.poll_accept(cx) {
                    Poll::Pending => break,
                    Poll::Ready(None) => return Poll::Ready(()),
                    Poll::Ready(Some(Err(e))) => {
                        debug!(service = %S::SERVICE, %peer, error = %e, "connection error");
                        return Poll::Ready(());
                    }
                    Poll::Ready(Some(Ok(accepted))) => accepted,
                };
                progress = true;
                let n = ctx.counters.stream_opened();
                if going_away {
                    // Arrived after our GOAWAY was decided: not processed, safe to retry.
                    respond.send_reset(Reason::REFUSED_STREAM);
                    ctx.counters.stream_closed();
                    shared.answered(S::SERVICE, None, "refused");
                    continue;
                }
                if shared
                    .faults
                    .goaway_after(S::SERVICE)
                    .is_some_and(|max| n >= max)
                {
                    h2.graceful_shutdown();
                    going_away = true;
                }
                streams.push(stream(service, &ctx, request, respond, cancel));
            }
            // Run every stream that can progress (their answers queue up in h2).
            while let Poll::Ready(Some(())) = streams.poll_next_unpin(cx) {
                progress = true;
            }
            if !going_away && ctx.goaway.load(Ordering::Relaxed) {
                h2.graceful_shutdown();
                going_away = true;
                progress = true;
            }
            if !progress {
                return Poll::Pending;
            }
        }
    })
    .await;
    ctx.counters.close();
    debug!(service = %S::SERVICE, %peer, id = ctx.counters.id, "connection closed");
}

/// The headers of a scripted raw answer (names and values were checked when the rule
/// was added; anything unusable is skipped).
pub(crate) fn raw_headers(
    content_type: Option<&str>,
    extra: &std::collections::BTreeMap<String, String>,
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let content_type = content_type.map(|c| ("content-type", c));
    let extra = extra.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    for (name, value) in content_type.into_iter().chain(extra) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(value),
        ) {
            headers.append(name, value);
        }
    }
    headers
}

/// Reads a request body, releasing flow-control capacity as it goes.
async fn read_body(mut body: RecvStream) -> Result<Bytes, h2::Error> {
    let mut first: Option<Bytes> = None;
    let mut rest = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        match &first {
            None => first = Some(chunk),
            Some(f) => {
                if rest.is_empty() {
                    rest.extend_from_slice(f);
                }
                rest.extend_from_slice(&chunk);
            }
        }
        let len = if rest.is_empty() {
            first.as_ref().map_or(0, Bytes::len)
        } else {
            rest.len()
        };
        if len > MAX_BODY {
            break;
        }
    }
    if rest.is_empty() {
        Ok(first.unwrap_or_default())
    } else {
        rest.truncate(MAX_BODY + 1);
        Ok(rest.freeze())
    }
}

/// Waits `delay`; false if the client reset the stream or the mock stops meanwhile.
async fn wait(
    delay: Duration,
    respond: &mut SendResponse<Bytes>,
    cancel: &CancellationToken,
) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(delay) => true,
        _ = cancel.cancelled() => {
            respond.send_reset(Reason::CANCEL);
            false
        }
        _ = poll_fn(|cx| respond.poll_reset(cx)) => false,
    }
}

async fn stream<S: H2Service>(
    service: &S,
    ctx: &ConnCtx<S::Conn>,
    request: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    cancel: &CancellationToken,
) {
    let _open = OpenStream(&ctx.counters);
    let shared = service.shared();
    let (parts, body) = request.into_parts();
    let Ok(body) = read_body(body).await else {
        return; // The client reset the stream before sending it all.
    };
    let fault = shared.faults.sample(S::SERVICE);
    let decision = if fault.reset {
        Decision::reply(Reply::Reset(Reason::INTERNAL_ERROR), "")
    } else {
        service.decide(&ctx.state, &parts, &body, fault.error)
    };
    let delay = fault.latency.unwrap_or_default() + decision.delay.unwrap_or_default();
    if !delay.is_zero() && !wait(delay, &mut respond, cancel).await {
        return;
    }
    let transport = decision.transport_label();
    let status = match decision.reply {
        Reply::Response {
            status,
            headers,
            body,
        } => {
            let mut response = Response::new(());
            *response.status_mut() = status;
            *response.headers_mut() = headers;
            let end = body.is_empty();
            match respond.send_response(response, end) {
                Ok(mut send) if !end => {
                    let _ = send.send_data(body, true);
                }
                _ => {}
            }
            Some(status.as_u16())
        }
        Reply::Reset(reason) => {
            respond.send_reset(reason);
            None
        }
        Reply::GoAway => {
            respond.send_reset(Reason::REFUSED_STREAM);
            ctx.goaway.store(true, Ordering::Relaxed);
            None
        }
        Reply::Hold => {
            tokio::select! {
                _ = poll_fn(|cx| respond.poll_reset(cx)) => {}
                _ = cancel.cancelled() => respond.send_reset(Reason::CANCEL),
            }
            None
        }
    };
    let label = transport.map_or(decision.label, Cow::Borrowed);
    shared.answered(S::SERVICE, status, &label);
    if let Some(token) = &decision.deliver_to {
        shared.stats.delivered(S::SERVICE, token);
    }
    shared.record(|| Entry {
        service: S::SERVICE,
        connection: ctx.counters.id,
        method: parts.method,
        uri: parts.uri,
        headers: parts.headers,
        body,
        status,
        outcome: (!label.is_empty()).then(|| label.into_owned()),
        at: SystemTime::now(),
    });
}
