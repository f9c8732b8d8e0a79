//! The APNs (iOS HTTP/2) classifier, and the APNs facts it rests on.

use serde::Deserialize;

use crate::classification::Classification;
use crate::table::{OutcomeId, PushTable};

/// Largest payload APNs accepts, in bytes.
pub const PAYLOAD_LIMIT: usize = 4096;
/// Largest payload APNs accepts for a `voip` push, in bytes.
pub const VOIP_PAYLOAD_LIMIT: usize = 5120;
/// Longest `apns-collapse-id`, in bytes.
pub const COLLAPSE_ID_LIMIT: usize = 64;

/// The payload limit for a push type (`voip` gets the larger one).
pub fn payload_limit(push_type: &str) -> usize {
    if push_type == "voip" {
        VOIP_PAYLOAD_LIMIT
    } else {
        PAYLOAD_LIMIT
    }
}

/// Every status and reason of Apple's table (`protocols.md` §1.4), 200 excepted.
pub const REASONS: [(u16, &str); 32] = [
    (400, "BadCollapseId"),
    (400, "BadDeviceToken"),
    (400, "BadExpirationDate"),
    (400, "BadMessageId"),
    (400, "BadPriority"),
    (400, "BadTopic"),
    (400, "DeviceTokenNotForTopic"),
    (400, "DuplicateHeaders"),
    (400, "IdleTimeout"),
    (400, "InvalidPushType"),
    (400, "MissingDeviceToken"),
    (400, "MissingTopic"),
    (400, "PayloadEmpty"),
    (400, "TopicDisallowed"),
    (403, "BadCertificate"),
    (403, "BadCertificateEnvironment"),
    (403, "ExpiredProviderToken"),
    (403, "Forbidden"),
    (403, "InvalidProviderToken"),
    (403, "MissingProviderToken"),
    (403, "UnrelatedKeyIdInToken"),
    (403, "BadEnvironmentKeyIdInToken"),
    (404, "BadPath"),
    (405, "MethodNotAllowed"),
    (410, "ExpiredToken"),
    (410, "Unregistered"),
    (413, "PayloadTooLarge"),
    (429, "TooManyProviderTokenUpdates"),
    (429, "TooManyRequests"),
    (500, "InternalServerError"),
    (503, "ServiceUnavailable"),
    (503, "Shutdown"),
];

/// 403 reasons that mean the credentials (provider token or certificate) are wrong.
const CREDENTIAL_REASONS: [&str; 5] = [
    "InvalidProviderToken",
    "MissingProviderToken",
    "BadCertificate",
    "BadCertificateEnvironment",
    "Forbidden",
];

/// Whether the sender retries this status itself (with backoff, honouring Retry-After)
/// before handing the result over: 429, 500 and 503.
pub const fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 503)
}

/// How a connection failed before any response came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// The TCP connection could not be made.
    Connect,
    /// The stream or connection was reset.
    Reset,
    /// The server sent GOAWAY before answering this stream.
    GoAway,
    /// No answer before the request timeout.
    Timeout,
}

/// One raw result of sending a notification to APNs, as the sender saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApnsResult<'a> {
    /// Found before sending: the payload is over the limit for its push type.
    PayloadTooLarge {
        /// The payload's size in bytes.
        size: usize,
        /// The limit it broke.
        limit: usize,
    },
    /// Found before sending: the notification cannot be built or serialised.
    ContentFormat {
        /// What is wrong with it.
        detail: &'a str,
    },
    /// The signing key or certificate is unreadable or invalid, or the TLS handshake or
    /// ALPN negotiation failed.
    Credentials {
        /// What is wrong (never the key itself).
        detail: &'a str,
    },
    /// Found before sending: the request breaks a rule APNs checks itself (an empty or
    /// non-hex device token), so it is refused with the reason APNs would give.
    Refused {
        /// The APNs reason, e.g. `BadDeviceToken`.
        reason: &'a str,
    },
    /// The connection failed before a response.
    Transport(Transport),
    /// An HTTP response: its status and body.
    Response {
        /// The `:status`.
        status: u16,
        /// The body (`{"reason": ...}` for an error).
        body: &'a [u8],
    },
}

/// The JSON body of an APNs error response.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ErrorBody {
    /// The reason, e.g. `Unregistered`.
    pub reason: String,
    /// For 410: epoch milliseconds at which the token stopped being valid.
    pub timestamp: Option<i64>,
}

impl ErrorBody {
    /// The body, if it is an APNs error body.
    pub fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice(body).ok()
    }
}

/// The APNs row a raw result lands on, with its rendered error message.
///
/// Statuses 429, 500 and 503 land on `apns.connection_lost`: the sender hands them over
/// only once its own bounded retries are spent.
pub fn classify(result: &ApnsResult<'_>) -> Classification {
    match *result {
        ApnsResult::PayloadTooLarge { .. } => {
            Classification::rejected(OutcomeId::ApnsPayloadTooLarge, &[])
        }
        ApnsResult::ContentFormat { detail } => {
            Classification::rejected(OutcomeId::ApnsContentFormat, &[detail])
        }
        ApnsResult::Credentials { detail } => {
            Classification::rejected(OutcomeId::ApnsCertificate, &[detail])
        }
        ApnsResult::Refused { reason } => Classification::rejected(OutcomeId::ApnsOther, &[reason]),
        ApnsResult::Transport(_) => Classification::rejected(OutcomeId::ApnsConnectionLost, &[]),
        ApnsResult::Response { status, body } => classify_response(status, body),
    }
}

fn classify_response(status: u16, body: &[u8]) -> Classification {
    if status == 200 {
        return Classification::Accepted {
            table: PushTable::IosHttp2,
            outcome: Some(OutcomeId::ApnsDeviceOn.outcome()),
        };
    }
    if is_retryable_status(status) {
        return Classification::rejected(OutcomeId::ApnsConnectionLost, &[]);
    }
    let Some(ErrorBody { reason, .. }) = ErrorBody::parse(body) else {
        let detail = format!("HTTP {status} without a reason");
        return Classification::rejected(OutcomeId::ApnsOther, &[&detail]);
    };
    let id = match (status, reason.as_str()) {
        (410, "Unregistered" | "ExpiredToken") => OutcomeId::ApnsUnregistered,
        (413, "PayloadTooLarge") => OutcomeId::ApnsPayloadTooLarge,
        (403, reason) if CREDENTIAL_REASONS.contains(&reason) => OutcomeId::ApnsCertificate,
        _ => OutcomeId::ApnsOther,
    };
    Classification::rejected(id, &[&reason])
}
