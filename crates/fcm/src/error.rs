//! [`FcmError`]: what can go wrong while building an [`crate::FcmClient`].
//!
//! Only configuration and start-up problems are errors: a message that fails is a
//! [`crate::SendResult`] with its classification, so a batch never aborts. No variant
//! carries the private key or an access token; a key that does not parse is reported by
//! the file and the field that hold it, never by its text.

use std::path::PathBuf;

/// A configuration or start-up problem of the FCM sender.
#[derive(Debug, thiserror::Error)]
pub enum FcmError {
    /// The service-account key file (or the trust-roots file) could not be read.
    #[error("cannot read {}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The key file is not a JSON object of the expected shape.
    #[error("{}: not a service-account key file: {reason}", path.display())]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong (never the key's text).
        reason: String,
    },
    /// A required field of the key file is missing or empty.
    #[error("{}: field `{field}` is missing or empty", path.display())]
    MissingField {
        /// The file.
        path: PathBuf,
        /// The field (`client_email`, `private_key`, ...).
        field: &'static str,
    },
    /// `private_key` is not an RSA private key in PKCS#8 PEM form.
    #[error("{}: field `private_key` is not an RSA private key in PKCS#8 PEM: {reason}", path.display())]
    PrivateKey {
        /// The file.
        path: PathBuf,
        /// What is wrong with it (never the key's text).
        reason: String,
    },
    /// A setting is out of range or does not parse.
    #[error("setting `{field}`: {reason}")]
    Setting {
        /// The setting's name as written in the configuration (`retry.max_backoff_ms`).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The trust-roots file holds no usable certificate.
    #[error("{}: {reason}", path.display())]
    TrustRoots {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A message content that FCM's schema does not allow (from
    /// [`crate::MessageContent::from_json`]).
    #[error("invalid FCM message content: {0}")]
    Content(String),
    /// The HTTP clients could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

impl FcmError {
    /// A setting error.
    pub(crate) fn setting(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Setting {
            field,
            reason: reason.into(),
        }
    }
}
