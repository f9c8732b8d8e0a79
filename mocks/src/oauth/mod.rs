//! The mock Google OAuth token endpoint: `POST /token` with a jwt-bearer assertion, over
//! TLS with HTTP/2 or HTTP/1.1 (hyper).
//!
//! Order of work for a request: the outage fault, the global faults (only if their
//! `services` list `oauth`), the checks of [`assertion`], the scripted answer for the
//! `client_email`, then a fresh access token. Every request to `/token` counts in
//! `token_requests`.

mod assertion;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use crate::Service;
use crate::faults::OutageMode;
use crate::record::Entry;
use crate::script::Answer;
use crate::state::Shared;
use crate::stats::ConnCounters;

/// The description of a 503.
const UNAVAILABLE: &str = "The service is currently unavailable.";

/// Largest token-request body read.
const MAX_BODY: usize = 64 * 1024;

/// A request the mock drops instead of answering (stream reset, or connection closed on
/// HTTP/1.1).
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dropped by the mock")
    }
}

impl std::error::Error for Dropped {}

/// What the endpoint does with a request.
enum Action {
    /// Status, headers, body, and the label for stats and the log.
    Respond(StatusCode, HeaderMap, Bytes, String),
    Drop,
    Hold,
}

fn json(status: u16, value: &serde_json::Value, label: &str) -> Action {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = Bytes::from(value.to_string());
    let mut headers = HeaderMap::with_capacity(1);
    let json = HeaderValue::from_static("application/json; charset=utf-8");
    headers.insert(CONTENT_TYPE, json);
    Action::Respond(status, headers, body, label.to_owned())
}

fn oauth_error(status: u16, error: &str, description: &str) -> Action {
    let body = serde_json::json!({ "error": error, "error_description": description });
    json(status, &body, error)
}

fn text(status: StatusCode, body: &'static str) -> Action {
    let mut headers = HeaderMap::with_capacity(1);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Action::Respond(
        status,
        headers,
        Bytes::from_static(body.as_bytes()),
        String::new(),
    )
}

/// Accepts connections until `cancel` fires.
pub(crate) async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    tracker: TaskTracker,
) {
    loop {
        let (tcp, peer) = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    warn!(service = "oauth", error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if shared.faults.oauth_outage(SystemTime::now()) == Some(OutageMode::Refuse) {
            drop(tcp);
            continue;
        }
        let (acceptor, shared, cancel) = (acceptor.clone(), shared.clone(), cancel.clone());
        tracker.spawn(async move {
            let tls = tokio::select! {
                _ = cancel.cancelled() => return,
                tls = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)) => match tls {
                    Ok(Ok(tls)) => tls,
                    _ => return debug!(service = "oauth", %peer, "tls handshake failed"),
                },
            };
            connection(tls, peer, shared, cancel).await;
        });
    }
}

async fn connection(
    tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    peer: SocketAddr,
    shared: Arc<Shared>,
    cancel: CancellationToken,
) {
    let counters = shared.stats.connection(Service::OAuth, peer);
    let service = {
        let (shared, counters, cancel) = (shared.clone(), counters.clone(), cancel.clone());
        hyper::service::service_fn(move |request| {
            let (shared, counters, cancel) = (shared.clone(), counters.clone(), cancel.clone());
            async move { handle(&shared, &counters, &cancel, request).await }
        })
    };
    let builder = auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection(TokioIo::new(tls), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                debug!(service = "oauth", %peer, error = %e, "connection ended");
            }
        }
        _ = cancel.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
        }
    }
    counters.close();
}

async fn handle(
    shared: &Shared,
    counters: &ConnCounters,
    cancel: &CancellationToken,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    counters.stream_opened();
    let result = respond(shared, counters, cancel, request).await;
    counters.stream_closed();
    result
}

async fn respond(
    shared: &Shared,
    counters: &ConnCounters,
    cancel: &CancellationToken,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let (parts, body) = request.into_parts();
    let body = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|_| Dropped)?
        .to_bytes();
    let (action, delay) = if parts.uri.path() != "/token" {
        (text(StatusCode::NOT_FOUND, "Not Found"), None)
    } else if parts.method != Method::POST {
        (
            text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"),
            None,
        )
    } else {
        shared.stats.token_requested();
        let content_type = parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        decide(shared, content_type, &body)
    };
    if let Some(delay) = delay {
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = cancel.cancelled() => return Err(Dropped),
        }
    }
    let (status, label, response) = match action {
        Action::Respond(status, headers, body, label) => {
            let mut response = Response::new(Full::new(body));
            *response.status_mut() = status;
            *response.headers_mut() = headers;
            (Some(status.as_u16()), label, Ok(response))
        }
        Action::Drop => (None, "reset".to_owned(), Err(Dropped)),
        Action::Hold => {
            cancel.cancelled().await;
            (None, "no_answer".to_owned(), Err(Dropped))
        }
    };
    shared.answered(Service::OAuth, status, &label);
    shared.record(|| Entry {
        service: Service::OAuth,
        connection: counters.id,
        method: parts.method,
        uri: parts.uri,
        headers: parts.headers,
        body,
        status,
        outcome: (!label.is_empty()).then_some(label),
        at: SystemTime::now(),
    });
    response
}

/// The answer to `POST /token`, and a delay before it.
fn decide(shared: &Shared, content_type: Option<&str>, body: &[u8]) -> (Action, Option<Duration>) {
    let now = SystemTime::now();
    match shared.faults.oauth_outage(now) {
        Some(OutageMode::Refuse) => return (Action::Drop, None),
        Some(OutageMode::Unavailable) => {
            return (
                oauth_error(503, "temporarily_unavailable", UNAVAILABLE),
                None,
            );
        }
        None => {}
    }
    // The global faults reach OAuth only when their `services` list it.
    let fault = shared.faults.sample(Service::OAuth);
    if fault.reset {
        return (Action::Drop, fault.latency);
    }
    if let Some(status) = fault.error {
        let action = match status {
            429 => oauth_error(429, "rate_limit_exceeded", "Rate limit exceeded."),
            500 => oauth_error(500, "internal_failure", "Backend Error"),
            _ => oauth_error(503, "temporarily_unavailable", UNAVAILABLE),
        };
        return (action, fault.latency);
    }
    let granted = match assertion::check(content_type, body, shared, now) {
        Ok(granted) => granted,
        Err(r) => {
            let action = oauth_error(r.status, r.error, &r.description);
            return (action, fault.latency);
        }
    };
    let issue = || {
        let (token, lifetime) = shared.issue_token(&granted.project_id, now);
        let body = serde_json::json!({
            "access_token": token,
            "expires_in": lifetime.as_secs(),
            "token_type": "Bearer",
        });
        json(200, &body, "")
    };
    let (answer, scripted_delay) = match shared.rules.answer(Service::OAuth, &granted.client_email)
    {
        Some(Answer::Delay { delay, then }) => (then.map(|a| *a), Some(delay)),
        other => (other, None),
    };
    let delay = match (scripted_delay, fault.latency) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    };
    let action = match answer {
        None | Some(Answer::Accept) => issue(),
        Some(Answer::OauthError {
            status,
            error,
            error_description,
        }) => {
            let mut body = serde_json::json!({ "error": error });
            if let Some(description) = error_description {
                body["error_description"] = description.into();
            }
            json(status, &body, &error)
        }
        Some(Answer::Raw {
            status,
            body,
            content_type,
            headers,
        }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let headers = crate::h2serve::raw_headers(content_type.as_deref(), &headers);
            Action::Respond(status, headers, Bytes::from(body), "raw".to_owned())
        }
        Some(Answer::Reset { .. }) => Action::Drop,
        Some(Answer::NoAnswer) => Action::Hold,
        // Refused for OAuth rules when they are added.
        Some(
            Answer::ApnsError { .. }
            | Answer::FcmError { .. }
            | Answer::FcmStatus { .. }
            | Answer::Goaway
            | Answer::Delay { .. },
        ) => issue(),
    };
    (action, delay)
}
