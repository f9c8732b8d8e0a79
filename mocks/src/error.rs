//! The error type of the library boundary.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while configuring, starting or controlling the mocks.
///
/// Request-level problems are never errors: a malformed request gets the answer the real
/// server would give. These are the caller's mistakes (a bad config, a bad key, a port in
/// use) and I/O failures.
#[derive(Debug, thiserror::Error)]
pub enum MockError {
    /// A listener could not be bound.
    #[error("cannot bind {what} listener on {addr}")]
    Bind {
        /// Which listener (`apns`, `fcm`, `oauth`, `admin`).
        what: &'static str,
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A file could not be read or written.
    #[error("cannot access {path}")]
    File {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The configuration file is not valid TOML for [`crate::MockConfig`].
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A scenario rule or a fault setting is not valid.
    #[error("invalid scenario: {0}")]
    Scenario(String),
    /// A key, certificate or service account could not be parsed or generated.
    #[error("invalid key or certificate: {0}")]
    Key(String),
    /// The TLS set-up failed.
    #[error("tls: {0}")]
    Tls(#[from] rustls::Error),
}

impl MockError {
    /// A [`MockError::File`] for `path`.
    pub(crate) fn file(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::File {
            path: path.into(),
            source,
        }
    }

    /// A [`MockError::Key`] from anything displayable (never the key itself).
    pub(crate) fn key(what: impl std::fmt::Display) -> Self {
        Self::Key(what.to_string())
    }
}
