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

/// A provider client for one app.
pub trait Sender: Send + Sync {
    /// The app's platform.
    fn platform(&self) -> Platform;

    /// Builds, once per delivery, what its messages share. A notification the provider
    /// cannot take is a pre-send problem: every message of the delivery gets that
    /// classification without touching the network.
    fn prepare(
        &self,
        notification: &Notification,
        expires_at: DateTime<Utc>,
    ) -> Result<Arc<dyn Prepared>, Classification>;
}
