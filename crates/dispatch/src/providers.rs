//! The APNs and FCM clients as pipeline [`Sender`]s.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use pushgate_apns::{ApnsClient, PushType, Template};
use pushgate_fcm::{FcmClient, MessageContent};
use pushgate_outcome::apns::{self, ApnsResult};
use pushgate_outcome::fcm::{self, FcmResult};
use pushgate_store::Platform;

use crate::notification::{Notification, NotificationError, Problem};
use crate::sender::{BoxFuture, PrepareError, Prepared, SendReport, Sender};

/// An iOS app's sender: its notification becomes one APNs payload, shared by every token;
/// `apns-expiration` is the end of the delivery's validity period.
#[derive(Clone)]
pub struct ApnsSender {
    client: ApnsClient,
}

impl ApnsSender {
    /// A sender over an APNs client.
    pub fn new(client: ApnsClient) -> Self {
        Self { client }
    }
}

/// The APNs row of a notification that cannot be built: `apns.payload_too_large` or
/// `apns.content_format`.
fn apns_rejection(error: &NotificationError) -> PrepareError {
    let detail = error.to_string();
    let result = match error.problem {
        Problem::TooLarge { size, limit } => ApnsResult::PayloadTooLarge { size, limit },
        Problem::Content | Problem::ReservedKeys(_) => {
            ApnsResult::ContentFormat { detail: &detail }
        }
    };
    PrepareError::Rejected(apns::classify(&result))
}

impl Sender for ApnsSender {
    fn platform(&self) -> Platform {
        Platform::Ios
    }

    fn prepare(
        &self,
        notification: &Notification,
        expires_at: DateTime<Utc>,
        _now: DateTime<Utc>,
    ) -> Result<Arc<dyn Prepared>, PrepareError> {
        let payload = notification
            .apns_payload()
            .map_err(|e| apns_rejection(&e))?;
        let push_type = PushType::from_str(notification.apns_push_type())
            .map_err(|e| PrepareError::Invalid(e.to_string()))?;
        let notification = pushgate_apns::Notification {
            push_type,
            priority: Some(notification.apns_priority()),
            expiration: Some(expires_at.timestamp()),
            collapse_id: notification.collapse_id.clone(),
            ..pushgate_apns::Notification::new(String::new(), payload)
        };
        // Checked and built once; each token's send adds its path.
        let template = self
            .client
            .template(&notification)
            .map_err(|refused| PrepareError::Rejected(refused.classification))?;
        Ok(Arc::new(ApnsPrepared {
            client: self.client.clone(),
            template,
        }))
    }
}

struct ApnsPrepared {
    client: ApnsClient,
    template: Template,
}

impl Prepared for ApnsPrepared {
    fn send<'a>(&'a self, token: &'a str) -> BoxFuture<'a, SendReport> {
        Box::pin(async move {
            let result = self.client.send_to(&self.template, token).await;
            SendReport {
                classification: result.classification,
                provider_id: result.apns_id,
                retry_after: result.retry_after,
                unregistered_at: result.unregistered_at,
            }
        })
    }
}

/// An Android app's sender: its notification becomes one FCM message content, shared by
/// every token; `android.ttl` is the validity period left.
#[derive(Clone)]
pub struct FcmSender {
    client: FcmClient,
}

impl FcmSender {
    /// A sender over an FCM client.
    pub fn new(client: FcmClient) -> Self {
        Self { client }
    }
}

/// The FCM row of a notification that cannot be built: `fcm.illegal_keyword` or
/// `fcm.payload_too_large`; the table has no row for other problems.
fn fcm_rejection(error: NotificationError) -> PrepareError {
    match error.problem {
        Problem::ReservedKeys(keys) => {
            PrepareError::Rejected(fcm::classify(&FcmResult::IllegalKeywords { keys: &keys }))
        }
        Problem::TooLarge { size, limit } => {
            PrepareError::Rejected(fcm::classify(&FcmResult::PayloadTooLarge { size, limit }))
        }
        Problem::Content => PrepareError::Invalid(error.to_string()),
    }
}

impl Sender for FcmSender {
    fn platform(&self) -> Platform {
        Platform::Android
    }

    fn prepare(
        &self,
        notification: &Notification,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Arc<dyn Prepared>, PrepareError> {
        let ttl = (expires_at - now).num_seconds().max(0).unsigned_abs();
        // The sender checks each message's exact size, token included, before sending.
        let message = notification.fcm_message(ttl, 0).map_err(fcm_rejection)?;
        let content = MessageContent::from_json(message)
            .map_err(|e| PrepareError::Invalid(format!("the FCM message cannot be built: {e}")))?;
        Ok(Arc::new(FcmPrepared {
            client: self.client.clone(),
            content: Arc::new(content),
        }))
    }
}

struct FcmPrepared {
    client: FcmClient,
    content: Arc<MessageContent>,
}

impl Prepared for FcmPrepared {
    fn send<'a>(&'a self, token: &'a str) -> BoxFuture<'a, SendReport> {
        Box::pin(async move {
            let message = pushgate_fcm::Message::new(token, self.content.clone());
            let result = self.client.send(&message).await;
            SendReport {
                classification: result.classification,
                provider_id: result.message_name,
                retry_after: result.retry_after,
                unregistered_at: None,
            }
        })
    }
}
