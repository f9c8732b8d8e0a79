//! What the pipeline needs from a provider client: prepare a delivery once, then send it to
//! one token at a time. The APNs and FCM clients are plugged in through [`Sender`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pushgate_outcome::Classification;
use pushgate_store::Platform;

use crate::notification::Notification;

/// A boxed, sendable future (what trait objects can return).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What one send produced, as the pipeline records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReport {
    /// The provider's answer, classified to its row.
    pub classification: Classification,
    /// The provider's id for the message (`apns-id`, the FCM message name).
    pub provider_id: Option<String>,
    /// The provider's last Retry-After, if it gave one.
    pub retry_after: Option<Duration>,
    /// APNs's 410 `timestamp`: when the token stopped being valid.
    pub unregistered_at: Option<DateTime<Utc>>,
}

/// A delivery made ready for one provider: what all its messages share.
pub trait Prepared: Send + Sync {
    /// Sends the delivery's notification to one token.
    fn send<'a>(&'a self, token: &'a str) -> BoxFuture<'a, SendReport>;
}

/// Why a delivery cannot be prepared for its provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrepareError {
    /// The provider would refuse the notification (a pre-send problem with a row of the
    /// table, such as `apns.payload_too_large`): every message gets this classification
    /// without touching the network.
    Rejected(Classification),
    /// pushgate cannot build it at all, and the table has no row for that (the API refuses
    /// such notifications; this is for stored ones that no longer fit): every message
    /// fails with this text.
    Invalid(String),
}

/// A provider client for one app.
pub trait Sender: Send + Sync {
    /// The app's platform.
    fn platform(&self) -> Platform;

    /// Builds what a delivery's messages share. The pipeline calls it once per delivery
    /// (and again after a minute, so that time-dependent fields such as FCM's TTL stay
    /// close to the validity period left).
    fn prepare(
        &self,
        notification: &Notification,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Arc<dyn Prepared>, PrepareError>;
}
