//! FCM HTTP v1 sender with Google service-account OAuth2 tokens.
//!
//! [`FcmClient`] sends [`Message`]s to Firebase Cloud Messaging's HTTP v1 API
//! (`shared/spec/protocols.md` §2) and returns, for each, a [`SendResult`] that
//! `pushgate-outcome` classified to exactly one FCM (Android V2) row of the outcome
//! table, or to none for a success. Access tokens come from the service account's JSON
//! key file through the JWT-bearer grant (§3), cached and refreshed ahead of expiry,
//! one refresh at a time. The crate knows nothing of the database.
//!
//! ```no_run
//! use std::sync::Arc;
//! use pushgate_fcm::{FcmClient, FcmSettings, Message, MessageContent};
//!
//! # async fn demo() -> Result<(), pushgate_fcm::FcmError> {
//! let settings = FcmSettings {
//!     service_account_file: "service-account.json".into(),
//!     ..FcmSettings::default()
//! };
//! let client = FcmClient::new(&settings)?;
//! let content = MessageContent::from_json(serde_json::json!({
//!     "notification": {"title": "Hello", "body": "World"},
//!     "android": {"priority": "HIGH", "ttl": "3600s"}
//! }))?;
//! let result = client.send(&Message::new("registration-token", Arc::new(content))).await;
//! println!("{:?}", result.classification.id());
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`settings`]: [`FcmSettings`] with [`RetrySettings`] and [`TokenSettings`].
//! - [`error`]: [`FcmError`], for configuration and start-up problems only.
//! - [`message`]: [`Message`], [`MessageContent`] and its parts.
//! - [`result`]: the [`SendResult`] of every send.
//! - [`client`]: [`FcmClient`]: send, retries, the 401 refresh, the batch form.
//! - `account`: the service-account key file and its signing key.
//! - `oauth`: the access-token source (assertions, cache, single-flight refresh).
//! - `body`: the request body built once per message, and the pre-send checks.
//! - `tls`: rustls set-up and the token endpoint's HTTP client.
//! - `connection` and `transport`: the HTTP/2 connections to FCM, used in turn.
//! - `backoff`: backoff with jitter and `Retry-After`.

pub mod client;
pub mod error;
pub mod message;
pub mod result;
pub mod settings;

mod account;
mod backoff;
mod body;
mod connection;
mod oauth;
mod tls;
mod transport;

pub use client::FcmClient;
pub use error::FcmError;
pub use message::{
    AndroidConfig, AndroidNotification, AndroidPriority, FcmOptions, Message, MessageContent,
    Notification, Ttl,
};
pub use result::SendResult;
pub use settings::{FcmSettings, RetrySettings, TokenSettings};

/// A registration token shortened for logs: its first 8 characters and its length.
pub(crate) fn redact(token: &str) -> String {
    let head: String = token.chars().take(8).collect();
    format!("{head}…({} chars)", token.chars().count())
}
