//! The FCM HTTP v1 (Android V2) classifier, and the FCM facts it rests on.

use serde::Deserialize;
use serde_json::Value;

use crate::classification::Classification;
use crate::oauth::{self, OAuthResult};
use crate::table::{OutcomeId, PushTable};

/// Largest message FCM accepts, in bytes.
pub const MESSAGE_LIMIT: usize = 4096;
/// Largest topic message FCM accepts, in bytes.
pub const TOPIC_MESSAGE_LIMIT: usize = 2048;
/// The `@type` of the FCM error detail in a google.rpc.Status body.
pub const FCM_ERROR_TYPE: &str = "type.googleapis.com/google.firebase.fcm.v1.FcmError";
/// The `@type` of the google.rpc.ErrorInfo detail.
pub const ERROR_INFO_TYPE: &str = "type.googleapis.com/google.rpc.ErrorInfo";

/// Whether a `data` key is reserved by FCM: `from`, `message_type`, `notification`, or
/// anything starting with `google` or `gcm`.
///
/// Firebase's documentation reserves every key *starting with* `google` or `gcm`; the
/// table's wire condition writes `google.` and `gcm.`. The wider rule catches before
/// sending every key that FCM would refuse.
pub fn is_reserved_data_key(key: &str) -> bool {
    matches!(key, "from" | "message_type" | "notification")
        || key.starts_with("google")
        || key.starts_with("gcm")
}

/// Whether the sender retries this status itself (with backoff, honouring Retry-After)
/// before handing the result over: 429, 500 and 503.
pub const fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 503)
}

/// The FCM v1 `ErrorCode` enum (`protocols.md` §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// No more information is available.
    UnspecifiedError,
    /// The request is invalid (bad token, bad field, too big).
    InvalidArgument,
    /// The token is no longer valid.
    Unregistered,
    /// The token belongs to another sender.
    SenderIdMismatch,
    /// Sending limit exceeded.
    QuotaExceeded,
    /// The server is overloaded.
    Unavailable,
    /// An unknown internal error.
    Internal,
    /// The APNs certificate or web push auth key was invalid or missing.
    ThirdPartyAuthError,
}

impl ErrorCode {
    /// Every error code, in the order of the spec.
    pub const ALL: [ErrorCode; 8] = [
        Self::UnspecifiedError,
        Self::InvalidArgument,
        Self::Unregistered,
        Self::SenderIdMismatch,
        Self::QuotaExceeded,
        Self::Unavailable,
        Self::Internal,
        Self::ThirdPartyAuthError,
    ];

    /// The wire spelling (`UNREGISTERED`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::UnspecifiedError => "UNSPECIFIED_ERROR",
            Self::InvalidArgument => "INVALID_ARGUMENT",
            Self::Unregistered => "UNREGISTERED",
            Self::SenderIdMismatch => "SENDER_ID_MISMATCH",
            Self::QuotaExceeded => "QUOTA_EXCEEDED",
            Self::Unavailable => "UNAVAILABLE",
            Self::Internal => "INTERNAL",
            Self::ThirdPartyAuthError => "THIRD_PARTY_AUTH_ERROR",
        }
    }

    /// The code with this wire spelling.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// The HTTP status and canonical google.rpc status FCM answers with (UNSPECIFIED_ERROR
    /// has none documented; 500 INTERNAL is what a server would send).
    pub const fn http(self) -> (u16, &'static str) {
        match self {
            Self::UnspecifiedError => (500, "INTERNAL"),
            Self::InvalidArgument => (400, "INVALID_ARGUMENT"),
            Self::Unregistered => (404, "NOT_FOUND"),
            Self::SenderIdMismatch => (403, "PERMISSION_DENIED"),
            Self::QuotaExceeded => (429, "RESOURCE_EXHAUSTED"),
            Self::Unavailable => (503, "UNAVAILABLE"),
            Self::Internal => (500, "INTERNAL"),
            Self::ThirdPartyAuthError => (401, "UNAUTHENTICATED"),
        }
    }

    /// The row of the table for this code.
    pub const fn outcome_id(self) -> OutcomeId {
        match self {
            Self::UnspecifiedError => OutcomeId::FcmUnspecified,
            Self::InvalidArgument => OutcomeId::FcmInvalidArgument,
            Self::Unregistered => OutcomeId::FcmUnregistered,
            Self::SenderIdMismatch => OutcomeId::FcmSenderIdMismatch,
            Self::QuotaExceeded => OutcomeId::FcmQuotaExceeded,
            Self::Unavailable => OutcomeId::FcmUnavailable,
            Self::Internal => OutcomeId::FcmInternal,
            Self::ThirdPartyAuthError => OutcomeId::FcmThirdPartyAuth,
        }
    }
}

/// One raw result of sending a message to FCM, as the sender saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FcmResult<'a> {
    /// Found before sending: `data` uses reserved keys.
    IllegalKeywords {
        /// The offending keys.
        keys: &'a [String],
    },
    /// Found before sending: the message is over the limit.
    PayloadTooLarge {
        /// The message's size in bytes.
        size: usize,
        /// The limit it broke.
        limit: usize,
    },
    /// The connection failed, was reset or got GOAWAY before any answer.
    ConnectionLost {
        /// The address that did not answer (host and port, never a credential).
        address: &'a str,
    },
    /// No answer before the request timeout.
    Timeout,
    /// An HTTP response: its status and body.
    Response {
        /// The HTTP status.
        status: u16,
        /// The body (google.rpc.Status for an error).
        body: &'a [u8],
    },
    /// The access token could not be obtained from the token endpoint.
    Auth(OAuthResult<'a>),
}

/// Legacy (Android V1) error strings that mean the token is invalid or unregistered.
const LEGACY_INVALID_REGISTRATION: [&str; 2] = ["InvalidRegistration", "NotRegistered"];

/// A parsed FCM error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorBody {
    /// A google.rpc.Status (`{"error": {"code", "message", "status", "details"}}`).
    Status {
        /// The canonical status, e.g. `NOT_FOUND` (missing in some bodies).
        status: Option<String>,
        /// The `errorCode` of the FcmError detail, if there is one.
        error_code: Option<String>,
        /// The `reason` of a google.rpc.ErrorInfo detail (e.g. `ACCESS_TOKEN_EXPIRED`).
        error_info_reason: Option<String>,
        /// The human message.
        message: Option<String>,
    },
    /// A legacy-style body: `{"error": "NotRegistered"}` or `{"results": [{"error": ...}]}`.
    Legacy {
        /// The legacy error string.
        error: String,
    },
}

#[derive(Deserialize)]
struct RpcStatus {
    status: Option<String>,
    message: Option<String>,
    #[serde(default)]
    details: Vec<Value>,
}

impl ErrorBody {
    /// The body, if it is an FCM error body of either kind.
    pub fn parse(body: &[u8]) -> Option<Self> {
        let value: Value = serde_json::from_slice(body).ok()?;
        match value.get("error") {
            Some(Value::String(error)) => Some(Self::Legacy {
                error: error.clone(),
            }),
            Some(error @ Value::Object(_)) => {
                let status: RpcStatus = serde_json::from_value(error.clone()).ok()?;
                let detail = |type_url: &str, field: &str| {
                    status.details.iter().find_map(|d| {
                        (d.get("@type")?.as_str()? == type_url)
                            .then(|| d.get(field)?.as_str().map(str::to_owned))
                            .flatten()
                    })
                };
                Some(Self::Status {
                    error_code: detail(FCM_ERROR_TYPE, "errorCode"),
                    error_info_reason: detail(ERROR_INFO_TYPE, "reason"),
                    status: status.status,
                    message: status.message,
                })
            }
            _ => {
                let results = value.get("results")?.as_array()?;
                let error = results.iter().find_map(|r| r.get("error")?.as_str())?;
                Some(Self::Legacy {
                    error: error.to_owned(),
                })
            }
        }
    }

    /// Whether this is a 401 for an expired access token (`ACCESS_TOKEN_EXPIRED`): the
    /// sender refreshes the token once and resends once.
    pub fn is_access_token_expired(&self) -> bool {
        matches!(self, Self::Status { error_info_reason: Some(r), .. } if r == "ACCESS_TOKEN_EXPIRED")
    }
}

/// The canonical status FCM would give an HTTP status, for bodies that carry none.
fn canonical_status(http: u16) -> &'static str {
    match http {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        500 => "INTERNAL",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    }
}

/// The FCM row a raw result lands on, with its rendered error message.
///
/// The FcmError detail is read first; without it the canonical status decides. 401 and
/// 403 without an FcmError detail are `fcm.sender_auth` (the sender hands them over after
/// one token refresh and resend). 5xx without a parseable body is
/// `fcm.service_unavailable`; any other unparseable body is `fcm.other`.
pub fn classify(result: &FcmResult<'_>) -> Classification {
    match *result {
        FcmResult::IllegalKeywords { keys } => {
            Classification::rejected(OutcomeId::FcmIllegalKeyword, &[&keys.join(", ")])
        }
        FcmResult::PayloadTooLarge { size, limit } => Classification::rejected(
            OutcomeId::FcmPayloadTooLarge,
            &[&size.to_string(), &limit.to_string()],
        ),
        FcmResult::ConnectionLost { address } => {
            Classification::rejected(OutcomeId::FcmConnectionLost, &[address])
        }
        FcmResult::Timeout => Classification::rejected(OutcomeId::FcmServiceUnavailable, &[]),
        FcmResult::Response { status, body } => classify_response(status, body),
        FcmResult::Auth(auth) => oauth::classify(&auth),
    }
}

fn classify_response(status: u16, body: &[u8]) -> Classification {
    if (200..300).contains(&status) {
        return Classification::Accepted {
            table: PushTable::AndroidV2,
            outcome: None,
        };
    }
    match ErrorBody::parse(body) {
        None if (500..600).contains(&status) => {
            Classification::rejected(OutcomeId::FcmServiceUnavailable, &[])
        }
        None => {
            let detail = format!("HTTP {status} with an unreadable body");
            Classification::rejected(OutcomeId::FcmOther, &[&detail])
        }
        Some(ErrorBody::Legacy { error }) => classify_code(&error),
        Some(ErrorBody::Status {
            error_code: Some(code),
            ..
        }) => classify_code(&code),
        Some(ErrorBody::Status {
            status: canonical, ..
        }) => {
            let canonical = canonical
                .as_deref()
                .unwrap_or_else(|| canonical_status(status));
            let id = match canonical {
                "UNAUTHENTICATED" | "PERMISSION_DENIED" => OutcomeId::FcmSenderAuth,
                "INVALID_ARGUMENT" => OutcomeId::FcmInvalidArgument,
                "NOT_FOUND" => OutcomeId::FcmUnregistered,
                "RESOURCE_EXHAUSTED" => OutcomeId::FcmQuotaExceeded,
                "UNAVAILABLE" => OutcomeId::FcmUnavailable,
                "INTERNAL" => OutcomeId::FcmInternal,
                _ if LEGACY_INVALID_REGISTRATION.contains(&canonical) => {
                    OutcomeId::FcmInvalidRegistration
                }
                other => return Classification::rejected(OutcomeId::FcmOther, &[other]),
            };
            Classification::rejected(id, &[])
        }
    }
}

/// The row of an FCM `errorCode` (or a legacy error string found in a v1 body).
fn classify_code(code: &str) -> Classification {
    if LEGACY_INVALID_REGISTRATION.contains(&code) {
        return Classification::rejected(OutcomeId::FcmInvalidRegistration, &[]);
    }
    match ErrorCode::parse(code) {
        Some(code) => Classification::rejected(code.outcome_id(), &[]),
        None => Classification::rejected(OutcomeId::FcmOther, &[code]),
    }
}
