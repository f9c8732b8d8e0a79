//! The APNs sender: notifications to Apple over HTTP/2, each answer classified to exactly
//! one APNs row of the outcome table by `pushgate-outcome`.
//!
//! The transport is our own (`h2` over `tokio-rustls` with aws-lc-rs), so that any
//! `https` endpoint and extra trust roots work (the mocks in tests), and so that the
//! pool can honour each connection's stream limit, tell GOAWAY'd requests that were not
//! processed (sent again) from those that may have been (retried as failures), and keep
//! APNs' provider-token rules.
//!
//! ```no_run
//! # async fn demo() -> Result<(), pushgate_apns::ApnsError> {
//! use pushgate_apns::{ApnsAuth, ApnsClient, ApnsSettings, Notification, Payload};
//!
//! let settings = ApnsSettings {
//!     topic: "com.example.app".into(),
//!     auth: ApnsAuth::Token {
//!         key_file: "AuthKey_ABC123DEFG.p8".into(),
//!         key_id: "ABC123DEFG".into(),
//!         team_id: "TEAM123456".into(),
//!     },
//!     ..ApnsSettings::default()
//! };
//! let client = ApnsClient::new(&settings)?;
//! let payload = Payload::alert("Hello", "world").build().map_err(|e| {
//!     pushgate_apns::ApnsError::Setting { field: "payload", problem: e.0 }
//! })?;
//! let result = client.send(&Notification::new("0123abcd", payload)).await;
//! println!("{:?}", result.classification.id());
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`settings`]: [`ApnsSettings`], [`Endpoint`], [`ApnsAuth`], [`RetrySettings`].
//! - [`error`]: [`ApnsError`], start-up problems only.
//! - [`client`]: [`ApnsClient`] (`send`, `send_all`, `send_batch`), retries.
//! - [`notification`]: [`Notification`] and [`PushType`]; [`payload`]: [`Payload`].
//! - [`result`]: [`SendResult`], built only through the outcome classifier.
//! - [`token`]: provider tokens (ES256, cached, 20-minute rule) and the [`Clock`].
//! - `request`: the checks before sending, the request, one exchange.
//! - `pool`: connections leased by free streams; `connection`: connect, drive, PING.
//! - `tls`: rustls configuration, PEM and PKCS#12 credentials.

pub mod client;
pub mod error;
pub mod notification;
pub mod payload;
pub mod result;
pub mod settings;
pub mod token;

mod connection;
mod pool;
mod request;
mod tls;

pub use client::{ApnsClient, Template};
pub use error::ApnsError;
pub use notification::{Notification, PushType, UnknownPushType};
pub use payload::{ContentFormatError, Payload};
pub use pushgate_outcome::apns::Transport;
pub use result::SendResult;
pub use settings::{ApnsAuth, ApnsSettings, Endpoint, RetrySettings};
pub use token::{Clock, SystemClock, TOKEN_CHANGE_INTERVAL};
