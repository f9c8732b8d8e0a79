//! One HTTP/2 connection: TCP (with `TCP_NODELAY`), TLS with ALPN `h2`, the HTTP/2
//! preface; the state its requests share with the pool; and the task that drives it
//! (frames, the peer's stream limit, PING after idle).

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::client::{Connection, SendRequest};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::settings::Endpoint;
use crate::tls::tls_failure;
use crate::token::ConnToken;

/// Why a connection could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConnectError {
    /// TCP failed or timed out, or the peer went away during the handshake:
    /// `apns.connection_lost` (after retries).
    Transport(String),
    /// TLS or ALPN failed (certificate, alert, no `h2`): `apns.certificate`.
    Tls(String),
}

/// Where and how to connect.
#[derive(Clone)]
pub(crate) struct Connector {
    pub endpoint: Endpoint,
    pub tls: TlsConnector,
    pub timeout: Duration,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("endpoint", &self.endpoint)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A connection's socket: TLS over TCP, remembering whether the peer closed it (so a
/// GOAWAY error can be told from a connection that died with the stream on it) and any
/// TLS failure after the handshake (with TLS 1.3 a refused client certificate shows
/// only then, and `h2` keeps just the message of an I/O error).
pub(crate) struct Io {
    inner: TlsStream<TcpStream>,
    status: Arc<IoStatus>,
}

/// What [`Io`] saw.
#[derive(Debug, Default)]
pub(crate) struct IoStatus {
    closed: AtomicBool,
    tls_failure: Mutex<Option<String>>,
    /// Successful reads so far: a connection whose count stands still while a request
    /// times out has gone silent.
    reads: AtomicU64,
}

impl IoStatus {
    /// How many reads brought data so far.
    pub(crate) fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// The peer closed the socket, or reading or writing failed.
    pub(crate) fn closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The TLS failure that ended the connection, if that is what ended it.
    pub(crate) fn tls_failure(&self) -> Option<String> {
        self.tls_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn failed(&self, error: &io::Error) {
        if let Some(detail) = tls_failure(error) {
            *self.tls_failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(detail);
        }
        self.closed.store(true, Ordering::Release);
    }
}

impl AsyncRead for Io {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        match &result {
            Poll::Ready(Ok(())) if buf.filled().len() == before => {
                self.status.closed.store(true, Ordering::Release);
            }
            Poll::Ready(Ok(())) => {
                self.status.reads.fetch_add(1, Ordering::Relaxed);
            }
            Poll::Ready(Err(e)) => self.status.failed(e),
            _ => {}
        }
        result
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Err(e)) = &result {
            self.status.failed(e);
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Err(e)) = &result {
            self.status.failed(e);
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// What a connection's requests, the pool and the driver task share.
#[derive(Debug)]
pub(crate) struct ConnState {
    pub id: u64,
    /// Streams leased out now.
    pub in_flight: AtomicUsize,
    /// The peer's SETTINGS_MAX_CONCURRENT_STREAMS, as last seen by the driver.
    pub peer_max: AtomicUsize,
    /// Whether a request has succeeded here. Until then one stream at a time: APNs
    /// allows one stream until a valid provider token is seen, and the server's SETTINGS
    /// are known for sure only once an answer came.
    pub confirmed: AtomicBool,
    /// What the socket saw (closed, TLS failure).
    pub io: Arc<IoStatus>,
    /// Milliseconds (since `epoch`) of the last lease, for the idle PING.
    pub last_used_ms: AtomicU64,
    pub epoch: Instant,
    /// The provider token this connection last used (token auth only).
    pub token: Mutex<ConnToken>,
}

impl ConnState {
    /// How many streams may be in flight now.
    pub(crate) fn limit(&self) -> usize {
        if self.confirmed.load(Ordering::Acquire) {
            self.peer_max.load(Ordering::Relaxed).max(1)
        } else {
            1
        }
    }

    pub(crate) fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_used_ms.store(ms, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_used_ms.load(Ordering::Relaxed));
        self.epoch.elapsed().saturating_sub(last)
    }
}

/// A fresh connection: the handle to send on and the connection to drive.
pub(crate) struct Opened {
    pub send: SendRequest<Bytes>,
    pub connection: Connection<Io, Bytes>,
    pub io: Arc<IoStatus>,
}

impl Connector {
    /// TCP, TLS, ALPN check and HTTP/2 preface, within the connect timeout.
    pub(crate) async fn connect(&self) -> Result<Opened, ConnectError> {
        match tokio::time::timeout(self.timeout, self.open()).await {
            Ok(result) => result,
            Err(_) => Err(ConnectError::Transport("connect timed out".into())),
        }
    }

    async fn open(&self) -> Result<Opened, ConnectError> {
        let host = self.endpoint.host();
        let tcp = TcpStream::connect((host, self.endpoint.port()))
            .await
            .map_err(|e| ConnectError::Transport(format!("tcp connect: {e}")))?;
        tcp.set_nodelay(true)
            .map_err(|e| ConnectError::Transport(format!("TCP_NODELAY: {e}")))?;
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| ConnectError::Tls(format!("{host:?} is not a valid TLS server name")))?;
        let tls = self.tls.connect(name, tcp).await.map_err(|e| {
            tls_failure(&e).map_or_else(
                || ConnectError::Transport(format!("tls handshake: {e}")),
                ConnectError::Tls,
            )
        })?;
        if tls.get_ref().1.alpn_protocol() != Some(b"h2".as_slice()) {
            return Err(ConnectError::Tls(
                "tls: the server did not negotiate HTTP/2 (ALPN h2)".into(),
            ));
        }
        let status = Arc::new(IoStatus::default());
        let io = Io {
            inner: tls,
            status: status.clone(),
        };
        let (send, connection) = h2::client::Builder::new()
            .enable_push(false)
            .initial_window_size(1 << 20)
            .initial_connection_window_size(1 << 22)
            .handshake::<_, Bytes>(io)
            .await
            .map_err(|e| ConnectError::Transport(format!("http/2 handshake: {e}")))?;
        Ok(Opened {
            send,
            connection,
            io: status,
        })
    }
}

/// Drives a connection until it ends, the client stops, or a PING goes unanswered.
/// `on_change` is called when the peer's stream limit changes (the pool wakes waiters).
pub(crate) async fn drive(
    mut connection: Connection<Io, Bytes>,
    state: Arc<ConnState>,
    ping_idle: Duration,
    pong_timeout: Duration,
    cancel: CancellationToken,
    on_change: impl Fn(),
) {
    let mut ping = connection.ping_pong();
    let mut awaiting_pong: Option<tokio::time::Instant> = None;
    let mut last_max = usize::MAX;
    let run = poll_fn(|cx| {
        let result = Pin::new(&mut connection).poll(cx);
        let max = connection.max_concurrent_send_streams();
        if max != last_max {
            state.peer_max.store(max, Ordering::Relaxed);
            last_max = max;
            on_change();
        }
        result
    });
    tokio::pin!(run);
    loop {
        let idle = state.idle_for();
        let ping_at = tokio::time::Instant::now() + ping_idle.saturating_sub(idle);
        tokio::select! {
            // The connection first: it is what is ready nearly every time.
            biased;
            result = &mut run => {
                if let Err(e) = result {
                    debug!(connection = state.id, error = %e, "apns connection ended");
                }
                return;
            }
            () = cancel.cancelled() => return,
            () = tokio::time::sleep_until(ping_at), if awaiting_pong.is_none() => {
                if state.in_flight.load(Ordering::Relaxed) > 0 {
                    state.touch();
                    continue;
                }
                if state.idle_for() < ping_idle {
                    continue;
                }
                let Some(ping) = ping.as_mut() else { continue };
                if ping.send_ping(h2::Ping::opaque()).is_err() {
                    return;
                }
                debug!(connection = state.id, "idle: ping");
                awaiting_pong = Some(tokio::time::Instant::now() + pong_timeout);
            }
            pong = poll_fn(|cx| match ping.as_mut() {
                Some(p) => p.poll_pong(cx).map(|r| r.is_ok()),
                None => Poll::Pending,
            }), if awaiting_pong.is_some() => {
                if !pong {
                    return;
                }
                awaiting_pong = None;
                state.touch();
            }
            () = sleep_until_opt(awaiting_pong) => {
                debug!(connection = state.id, "no pong: connection closed");
                return;
            }
        }
    }
}

async fn sleep_until_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
