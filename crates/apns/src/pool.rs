//! The connection pool: up to `connections` HTTP/2 connections, opened on demand, each
//! leased out to at most as many requests as its peer allows at once.
//!
//! A request leases the least-loaded connection that has a free stream. A connection
//! allows one stream until a request on it succeeded (APNs' rule for provider tokens,
//! and the moment the server's SETTINGS are surely known), then the server's
//! SETTINGS_MAX_CONCURRENT_STREAMS, as the connection's driver last saw it. When every
//! connection is full the request waits, bounded by its deadline; when fewer than
//! `connections` are open or opening, a new one is opened. A connection that went away
//! (GOAWAY, an I/O error) or that must not change provider token yet is *retired*:
//! taken out of the pool at once, so no new request picks it, while the requests on it
//! finish; `h2` closes it when the last one is done. Failed connects back off
//! exponentially (50 ms doubling to 5 s); meanwhile, with no connection open, requests
//! fail at once with the last connect error.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::client::SendRequest;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::connection::{ConnState, ConnectError, Connector, drive};
use crate::token::ConnToken;

const RECONNECT_BACKOFF_FIRST: Duration = Duration::from_millis(50);
const RECONNECT_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// One pooled connection: the handle to open streams on and the shared state.
#[derive(Debug)]
pub(crate) struct Conn {
    pub send: SendRequest<Bytes>,
    pub state: Arc<ConnState>,
}

/// A stream slot on a connection; dropping it frees the slot (cancel-safe).
#[derive(Debug)]
pub(crate) struct Lease<'a> {
    pool: &'a Pool,
    pub conn: Arc<Conn>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        self.conn.state.in_flight.fetch_sub(1, Ordering::SeqCst);
        // One slot freed: one waiter (waking all of them would cost each release as many
        // polls as there are waiters).
        if self.pool.waiters.load(Ordering::SeqCst) > 0 {
            self.pool.changed.notify_one();
        }
    }
}

/// Why no stream could be leased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AcquireError {
    /// No free stream before the deadline.
    Timeout,
    /// No connection is open and the last attempt to open one failed.
    Connect(ConnectError),
    /// The client is shutting down.
    Closed,
}

#[derive(Debug, Default)]
struct State {
    conns: Vec<Arc<Conn>>,
    connecting: usize,
    /// Connect failures in a row (reset by a success).
    failures: u32,
    /// Connect failures ever: a waiter fails only on a failure newer than its start.
    failure_seq: u64,
    last_failure: Option<ConnectError>,
    backoff_until: Option<Instant>,
}

impl State {
    fn backing_off(&self) -> bool {
        self.backoff_until.is_some_and(|t| Instant::now() < t)
    }

    /// The least-loaded connection with a free stream, leased.
    fn lease(&self) -> Option<Arc<Conn>> {
        let mut best: Option<(&Arc<Conn>, usize)> = None;
        for conn in &self.conns {
            let n = conn.state.in_flight.load(Ordering::SeqCst);
            if n < conn.state.limit() && best.is_none_or(|(_, b)| n < b) {
                best = Some((conn, n));
            }
        }
        best.map(|(conn, _)| {
            conn.state.in_flight.fetch_add(1, Ordering::SeqCst);
            conn.state.touch();
            conn.clone()
        })
    }
}

/// The pool.
#[derive(Debug)]
pub(crate) struct Pool {
    connector: Connector,
    size: usize,
    ping_idle: Duration,
    state: Mutex<State>,
    changed: Notify,
    waiters: AtomicUsize,
    next_id: AtomicU64,
    epoch: Instant,
    cancel: CancellationToken,
}

/// Counts a waiter for as long as it waits.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Pool {
    pub(crate) fn new(
        connector: Connector,
        size: usize,
        ping_idle: Duration,
        cancel: CancellationToken,
    ) -> Arc<Self> {
        Arc::new(Self {
            connector,
            size: size.max(1),
            ping_idle,
            state: Mutex::new(State::default()),
            changed: Notify::new(),
            waiters: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            epoch: Instant::now(),
            cancel,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes every waiter (a connection opened, failed, grew or was retired).
    fn wake(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.changed.notify_waiters();
        }
    }

    /// Leases a stream, opening a connection if needed, waiting until `deadline` at most.
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        deadline: tokio::time::Instant,
    ) -> Result<Lease<'_>, AcquireError> {
        if let Some(conn) = self.lock().lease() {
            return Ok(Lease { pool: self, conn });
        }
        let mut seen_failures: Option<u64> = None;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            self.waiters.fetch_add(1, Ordering::SeqCst);
            let _waiting = Waiting(&self.waiters);
            {
                let mut state = self.lock();
                if let Some(conn) = state.lease() {
                    return Ok(Lease { pool: self, conn });
                }
                let seen = *seen_failures.get_or_insert(state.failure_seq);
                if state.conns.is_empty()
                    && state.connecting == 0
                    && let Some(error) = &state.last_failure
                    && (state.failure_seq > seen || state.backing_off())
                {
                    return Err(AcquireError::Connect(error.clone()));
                }
                if state.conns.len() + state.connecting < self.size && !state.backing_off() {
                    state.connecting += 1;
                    self.spawn_connect();
                }
            }
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep_until(deadline) => return Err(AcquireError::Timeout),
                () = self.cancel.cancelled() => return Err(AcquireError::Closed),
            }
        }
    }

    /// Takes a connection out of the pool; its requests finish, then it closes.
    pub(crate) fn retire(&self, id: u64) {
        let removed = {
            let mut state = self.lock();
            let before = state.conns.len();
            state.conns.retain(|c| c.state.id != id);
            before != state.conns.len()
        };
        if removed {
            debug!(connection = id, "apns connection retired");
            self.wake();
        }
    }

    /// A request succeeded on `conn`: it may carry the server's full stream limit.
    pub(crate) fn confirm(&self, conn: &ConnState) {
        if !conn.confirmed.swap(true, Ordering::AcqRel) {
            self.wake();
        }
    }

    fn spawn_connect(self: &Arc<Self>) {
        let pool = self.clone();
        tokio::spawn(async move {
            let opened = tokio::select! {
                opened = pool.connector.connect() => opened,
                () = pool.cancel.cancelled() => {
                    pool.lock().connecting -= 1;
                    return;
                }
            };
            let opened = match opened {
                Ok(opened) => opened,
                Err(error) => return pool.connect_failed(error),
            };
            let id = pool.next_id.fetch_add(1, Ordering::Relaxed);
            let state = Arc::new(ConnState {
                id,
                in_flight: AtomicUsize::new(0),
                peer_max: AtomicUsize::new(opened.connection.max_concurrent_send_streams()),
                confirmed: AtomicBool::new(false),
                io: opened.io,
                last_used_ms: AtomicU64::new(0),
                epoch: pool.epoch,
                token: Mutex::new(ConnToken::default()),
            });
            state.touch();
            {
                let mut guard = pool.lock();
                guard.connecting -= 1;
                guard.failures = 0;
                guard.backoff_until = None;
                guard.conns.push(Arc::new(Conn {
                    send: opened.send,
                    state: state.clone(),
                }));
            }
            debug!(connection = id, "apns connection open");
            pool.wake();
            let pong_timeout = pool.connector.timeout;
            let waker = pool.clone();
            drive(
                opened.connection,
                state,
                pool.ping_idle,
                pong_timeout,
                pool.cancel.clone(),
                move || waker.wake(),
            )
            .await;
            pool.retire(id);
        });
    }

    fn connect_failed(&self, error: ConnectError) {
        {
            let mut state = self.lock();
            state.connecting -= 1;
            state.failures = state.failures.saturating_add(1);
            state.failure_seq += 1;
            let shift = state.failures.saturating_sub(1).min(16);
            let backoff = RECONNECT_BACKOFF_FIRST
                .saturating_mul(1 << shift)
                .min(RECONNECT_BACKOFF_MAX);
            state.backoff_until = Some(Instant::now() + backoff);
            warn!(
                error = ?error,
                failures = state.failures,
                backoff_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
                "apns connect failed"
            );
            state.last_failure = Some(error);
        }
        self.wake();
    }
}
