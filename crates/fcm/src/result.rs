//! [`SendResult`]: what one message came to, classified by `pushgate-outcome`.
//!
//! Every constructor goes through [`pushgate_outcome::fcm::classify`]; this module only
//! adds the details the dispatcher keeps (message name, status, error code,
//! `Retry-After`, attempts).

use std::time::Duration;

use pushgate_outcome::fcm::{self, ErrorBody, FcmResult};
use pushgate_outcome::{Classification, OutcomeId};
use serde::Deserialize;

/// The result of sending one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    /// The row of the outcome table (none for an FCM success).
    pub classification: Classification,
    /// `projects/{project}/messages/{id}` on success.
    pub message_name: Option<String>,
    /// The last HTTP status FCM answered with; for an authentication failure, the token
    /// endpoint's status. `None` when nothing answered.
    pub status: Option<u16>,
    /// The FCM `errorCode` (or canonical status, or legacy error) of the last answer; for
    /// an authentication failure, the token endpoint's OAuth `error`.
    pub error_code: Option<String>,
    /// The last `Retry-After` FCM gave.
    pub retry_after: Option<Duration>,
    /// Sends of this message to FCM (0 when it never left). A stream the server refused
    /// unprocessed and that went out again on another connection counts once.
    pub attempts: u32,
}

/// A success body: `{"name": "projects/p/messages/id"}`.
#[derive(Deserialize)]
struct Sent {
    name: Option<String>,
}

impl SendResult {
    /// Whether FCM accepted the message.
    pub fn is_success(&self) -> bool {
        matches!(self.classification, Classification::Accepted { .. })
    }

    /// The row's id, if the result has a row.
    pub fn outcome_id(&self) -> Option<OutcomeId> {
        self.classification.id()
    }

    fn of(result: &FcmResult<'_>, attempts: u32) -> Self {
        Self {
            classification: fcm::classify(result),
            message_name: None,
            status: None,
            error_code: None,
            retry_after: None,
            attempts,
        }
    }

    /// A message refused before sending for its reserved data keys.
    pub(crate) fn illegal_keywords(keys: &[String]) -> Self {
        Self::of(&FcmResult::IllegalKeywords { keys }, 0)
    }

    /// A message refused before sending for its size.
    pub(crate) fn payload_too_large(size: usize) -> Self {
        let limit = fcm::MESSAGE_LIMIT;
        Self::of(&FcmResult::PayloadTooLarge { size, limit }, 0)
    }

    /// No answer before the request timeout.
    pub(crate) fn timeout(attempts: u32) -> Self {
        Self::of(&FcmResult::Timeout, attempts)
    }

    /// The connection failed or was lost before an answer.
    pub(crate) fn connection_lost(address: &str, attempts: u32) -> Self {
        Self::of(&FcmResult::ConnectionLost { address }, attempts)
    }

    /// The access token could not be obtained (classified by the token source, through
    /// the same classifier).
    pub(crate) fn auth(failure: &crate::oauth::AuthFailure, attempts: u32) -> Self {
        Self {
            classification: failure.classification.clone(),
            message_name: None,
            status: failure.status,
            error_code: failure.error.clone(),
            retry_after: None,
            attempts,
        }
    }

    /// An HTTP answer from FCM.
    pub(crate) fn response(
        status: u16,
        body: &[u8],
        retry_after: Option<Duration>,
        attempts: u32,
    ) -> Self {
        let mut result = Self::of(&FcmResult::Response { status, body }, attempts);
        result.status = Some(status);
        result.retry_after = retry_after;
        if result.is_success() {
            result.message_name = serde_json::from_slice::<Sent>(body)
                .ok()
                .and_then(|s| s.name);
        } else {
            result.error_code = error_code(body);
        }
        result
    }
}

/// The most specific code of an error body: the FcmError `errorCode`, else the canonical
/// status, else the legacy error string.
pub(crate) fn error_code(body: &[u8]) -> Option<String> {
    match ErrorBody::parse(body)? {
        ErrorBody::Status {
            error_code, status, ..
        } => error_code.or(status),
        ErrorBody::Legacy { error } => Some(error),
    }
}
