//! One HTTP/2 connection to FCM: TCP with `TCP_NODELAY`, TLS with ALPN `h2`, the HTTP/2
//! handshake, and the task that drives it (frames, keep-alive PINGs).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use rustls::pki_types::ServerName;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tracing::{debug, instrument};

use crate::tls::describe;

/// How long a keep-alive PING may go unanswered before the connection is dropped.
const PING_TIMEOUT: Duration = Duration::from_secs(20);

/// Where and how to connect.
pub(crate) struct Endpoint {
    /// Host name or IP address (also the TLS server name).
    pub host: String,
    pub port: u16,
    pub server_name: ServerName<'static>,
    pub tls: TlsConnector,
    pub connect_timeout: Duration,
    /// PING interval; `None`: no keep-alive.
    pub keep_alive: Option<Duration>,
}

/// A live connection: the handle requests are opened with, and whether it ended.
pub(crate) struct Conn {
    pub send: SendRequest<Bytes>,
    closed: Arc<AtomicBool>,
}

impl Conn {
    /// Whether the connection ended (closed, GOAWAY, failed) or was given up.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Marks the connection as unusable: the next request opens a new one.
    pub fn give_up(&self) {
        self.closed.store(true, Ordering::Release);
    }
}

/// Opens a connection; the error says why, for logs.
#[instrument(name = "fcm_connect", skip_all, fields(host = %endpoint.host, port = endpoint.port))]
pub(crate) async fn connect(endpoint: &Endpoint) -> Result<Arc<Conn>, String> {
    let open = async {
        let tcp = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
            .await
            .map_err(|e| format!("tcp: {e}"))?;
        tcp.set_nodelay(true).map_err(|e| format!("tcp: {e}"))?;
        let tls = endpoint
            .tls
            .connect(endpoint.server_name.clone(), tcp)
            .await
            .map_err(|e| format!("tls: {}", describe(&e)))?;
        if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
            return Err("tls: the server did not negotiate HTTP/2 (ALPN h2)".to_owned());
        }
        let io = Unvectored(tls);
        let (send, connection) = h2::client::Builder::new()
            .initial_window_size(1 << 20)
            .initial_connection_window_size(4 << 20)
            .handshake::<_, Bytes>(io)
            .await
            .map_err(|e| format!("http/2 handshake: {e}"))?;
        let closed = Arc::new(AtomicBool::new(false));
        tokio::spawn(drive(connection, closed.clone(), endpoint.keep_alive));
        Ok(Arc::new(Conn { send, closed }))
    };
    match tokio::time::timeout(endpoint.connect_timeout, open).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "no connection within {} ms",
            endpoint.connect_timeout.as_millis()
        )),
    }
}

/// Drives the connection until it ends (or a keep-alive PING goes unanswered), then
/// marks it closed. It also ends once every handle is dropped and no stream is open.
async fn drive(
    mut connection: h2::client::Connection<Unvectored<TlsStream<TcpStream>>, Bytes>,
    closed: Arc<AtomicBool>,
    keep_alive: Option<Duration>,
) {
    let ping_pong = connection.ping_pong();
    let pinger = async move {
        let (Some(every), Some(mut ping_pong)) = (keep_alive, ping_pong) else {
            return std::future::pending().await;
        };
        loop {
            tokio::time::sleep(every).await;
            let pong = tokio::time::timeout(PING_TIMEOUT, ping_pong.ping(h2::Ping::opaque()));
            if !matches!(pong.await, Ok(Ok(_))) {
                return;
            }
        }
    };
    tokio::select! {
        result = connection => {
            if let Err(e) = result {
                debug!(error = %e, "fcm connection ended");
            }
        }
        () = pinger => debug!("keep-alive PING unanswered; dropping the fcm connection"),
    }
    closed.store(true, Ordering::Release);
}

/// The TLS stream, telling h2 it has no vectored writes.
///
/// With vectored writes h2 keeps every DATA payload over 256 bytes out of its write
/// buffer and flushes before the next frame: one TLS record and one syscall per
/// request. Without, payloads up to 1 KiB (most FCM messages) are copied into the
/// buffer, and a burst of requests leaves in a few records.
pub(crate) struct Unvectored<T>(T);

impl<T: AsyncRead + Unpin> AsyncRead for Unvectored<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Unvectored<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
