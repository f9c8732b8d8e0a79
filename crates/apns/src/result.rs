//! [`SendResult`]: what one notification came to, classified by `pushgate-outcome`.
//!
//! Every constructor goes through [`pushgate_outcome::apns::classify`]: the mapping from
//! an answer to a row of the table lives there only.

use std::time::Duration;

use chrono::{DateTime, Utc};
use pushgate_outcome::Classification;
use pushgate_outcome::apns::{ApnsResult, ErrorBody, Transport, classify};

/// The result of sending one notification: exactly one APNs row, and the raw facts
/// behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct SendResult {
    /// The row of the outcome table (and its rendered error message).
    pub classification: Classification,
    /// `apns-id` of the answer (or the one sent, when no answer came).
    pub apns_id: Option<String>,
    /// The last HTTP `:status`, if an answer came.
    pub status: Option<u16>,
    /// The APNs reason of the last answer (`Unregistered`, `BadDeviceToken`...), or the
    /// reason APNs would have given to a request refused before sending.
    pub reason: Option<String>,
    /// For 410: when the token stopped being valid (the answer's `timestamp`).
    pub unregistered_at: Option<DateTime<Utc>>,
    /// The server's last `Retry-After`, if any.
    pub retry_after: Option<Duration>,
    /// Requests put on the wire for this notification (0: refused before sending).
    /// Re-sends of requests the server did not process are not counted.
    pub attempts: u32,
    /// How the last attempt failed, when it got no answer.
    pub transport: Option<Transport>,
}

impl SendResult {
    fn local(result: &ApnsResult<'_>) -> Self {
        Self {
            classification: classify(result),
            apns_id: None,
            status: None,
            reason: None,
            unregistered_at: None,
            retry_after: None,
            attempts: 0,
            transport: None,
        }
    }

    /// `apns.content_format`: the notification cannot be built; nothing was sent.
    pub fn content_format(detail: &str) -> Self {
        Self::local(&ApnsResult::ContentFormat { detail })
    }

    /// `apns.payload_too_large` found before sending.
    pub(crate) fn payload_too_large(size: usize, limit: usize) -> Self {
        Self::local(&ApnsResult::PayloadTooLarge { size, limit })
    }

    /// `apns.certificate`: the credentials, TLS or ALPN failed.
    pub(crate) fn credentials(detail: &str, attempts: u32) -> Self {
        Self {
            attempts,
            ..Self::local(&ApnsResult::Credentials { detail })
        }
    }

    /// A request APNs would refuse with `400 <reason>` (an empty or non-hex token),
    /// refused here without the network: the same row as APNs' own answer.
    pub(crate) fn refused_locally(reason: &str) -> Self {
        Self {
            reason: Some(reason.to_owned()),
            ..Self::local(&ApnsResult::Refused { reason })
        }
    }

    /// No answer: the connection failed, was reset, went away, or timed out.
    pub(crate) fn transport(kind: Transport, attempts: u32, apns_id: Option<String>) -> Self {
        Self {
            apns_id,
            attempts,
            transport: Some(kind),
            ..Self::local(&ApnsResult::Transport(kind))
        }
    }

    /// An HTTP answer.
    pub(crate) fn response(answer: &Answer, attempts: u32) -> Self {
        let body = ErrorBody::parse(&answer.body);
        let unregistered_at = match (&body, answer.status) {
            (
                Some(ErrorBody {
                    timestamp: Some(ms),
                    ..
                }),
                410,
            ) => DateTime::<Utc>::from_timestamp_millis(*ms),
            _ => None,
        };
        Self {
            classification: classify(&ApnsResult::Response {
                status: answer.status,
                body: &answer.body,
            }),
            apns_id: answer.apns_id.clone(),
            status: Some(answer.status),
            reason: body.map(|b| b.reason),
            unregistered_at,
            retry_after: answer.retry_after,
            attempts,
            transport: None,
        }
    }

    /// Whether APNs accepted the notification.
    pub fn is_success(&self) -> bool {
        matches!(self.classification, Classification::Accepted { .. })
    }
}

/// An HTTP answer from APNs, as read off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub status: u16,
    pub apns_id: Option<String>,
    pub retry_after: Option<Duration>,
    pub body: bytes::Bytes,
}

impl Answer {
    /// The APNs reason in the body, if it has one.
    pub(crate) fn reason(&self) -> Option<String> {
        ErrorBody::parse(&self.body).map(|b| b.reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(r: &SendResult) -> String {
        r.classification
            .id()
            .map(|i| i.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn answers_keep_reason_and_the_410_timestamp() {
        let answer = Answer {
            status: 410,
            apns_id: Some("a".into()),
            retry_after: None,
            body: bytes::Bytes::from_static(
                br#"{"reason":"Unregistered","timestamp":1700000000123}"#,
            ),
        };
        let r = SendResult::response(&answer, 1);
        assert_eq!(id(&r), "apns.unregistered");
        assert_eq!(r.reason.as_deref(), Some("Unregistered"));
        let at = r.unregistered_at.unwrap();
        assert_eq!(at.timestamp_millis(), 1_700_000_000_123);
    }

    #[test]
    fn local_refusals_land_where_apns_would_put_them() {
        let r = SendResult::refused_locally("BadDeviceToken");
        assert_eq!(id(&r), "apns.other");
        assert_eq!(r.classification.error_message(), Some("BadDeviceToken"));
        assert_eq!((r.status, r.attempts), (None, 0));
        assert_eq!(
            id(&SendResult::payload_too_large(5000, 4096)),
            "apns.payload_too_large"
        );
        let t = SendResult::transport(Transport::Timeout, 2, None);
        assert_eq!((id(&t).as_str(), t.attempts), ("apns.connection_lost", 2));
    }
}
