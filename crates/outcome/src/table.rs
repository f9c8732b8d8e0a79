//! The push outcome table: every row of `push-outcomes.tsv`, as static data.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize, Serializer};

use crate::reason::{FailureReason, FailureType, UnknownName};
use crate::status::SendStatus;

/// The table a row belongs to (the `table` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushTable {
    /// Apple APNs over HTTP/2.
    IosHttp2,
    /// Firebase Cloud Messaging HTTP v1 (Android V2), with the Google OAuth rows.
    AndroidV2,
    /// The legacy FCM API (Android V1): mapped for completeness, never sent through.
    AndroidV1,
    /// Baidu push.
    Baidu,
}

impl PushTable {
    /// The spelling of the spec (`ios_http2`, `android_v2`, `android_v1`, `baidu`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::IosHttp2 => "ios_http2",
            Self::AndroidV2 => "android_v2",
            Self::AndroidV1 => "android_v1",
            Self::Baidu => "baidu",
        }
    }
}

impl fmt::Display for PushTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The identifier of one row (the `id` column), e.g. `apns.unregistered`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OutcomeId {
    /// `apns.device_on`: Target device switched on.
    ApnsDeviceOn,
    /// `apns.device_off`: Target device switched off.
    ApnsDeviceOff,
    /// `apns.notifications_disabled`: User disabled notifications for the app.
    ApnsNotificationsDisabled,
    /// `apns.payload_too_large`: Message creation/analysis stage: payload too large.
    ApnsPayloadTooLarge,
    /// `apns.content_format`: Message creation/analysis stage: unexpected content format problem.
    ApnsContentFormat,
    /// `apns.certificate`: Certificate problem (password, corrupted, etc.) and connection test to APNs.
    ApnsCertificate,
    /// `apns.connection_lost`: Network connection lost during sending.
    ApnsConnectionLost,
    /// `apns.unregistered`: APNs message rejection: unregistration (the user removed the app or the token expired).
    ApnsUnregistered,
    /// `apns.other`: APNs message rejection: all other errors.
    ApnsOther,
    /// `fcm.illegal_keyword`: Message creation/analysis stage: illegal keyword used in a custom field.
    FcmIllegalKeyword,
    /// `fcm.payload_too_large`: Message creation/analysis stage: payload too large.
    FcmPayloadTooLarge,
    /// `fcm.connection_lost`: Network connection lost during sending.
    FcmConnectionLost,
    /// `fcm.service_unavailable`: FCM message rejection: FCM server temporarily unavailable (e.g. timeout).
    FcmServiceUnavailable,
    /// `fcm.sender_auth`: FCM message rejection: error while authenticating the sender account.
    FcmSenderAuth,
    /// `fcm.quota_exceeded`: FCM message rejection: device quota exceeded.
    FcmQuotaExceeded,
    /// `fcm.invalid_registration`: FCM message rejection: invalid registration / unregistered.
    FcmInvalidRegistration,
    /// `fcm.other`: FCM message rejection: all other errors.
    FcmOther,
    /// `fcm.invalid_argument`: FCM message rejection: invalid argument.
    FcmInvalidArgument,
    /// `fcm.third_party_auth`: FCM message rejection: third-party authentication error.
    FcmThirdPartyAuth,
    /// `fcm.sender_id_mismatch`: FCM message rejection: sender id mismatch.
    FcmSenderIdMismatch,
    /// `fcm.unregistered`: FCM message rejection: unregistered.
    FcmUnregistered,
    /// `fcm.internal`: FCM message rejection: internal.
    FcmInternal,
    /// `fcm.unavailable`: FCM message rejection: unavailable.
    FcmUnavailable,
    /// `fcm.unspecified`: FCM message rejection: unexpected error code.
    FcmUnspecified,
    /// `fcm.auth_connection`: Authentication: connection problem.
    FcmAuthConnection,
    /// `fcm.auth_unauthorized_client`: Authentication: unauthorized client or scope in request.
    FcmAuthUnauthorizedClient,
    /// `fcm.auth_client_not_authorized`: Authentication: client not authorized to retrieve access tokens using this method, or not authorized for any of the requested scopes.
    FcmAuthClientNotAuthorized,
    /// `fcm.auth_access_denied`: Authentication: access denied.
    FcmAuthAccessDenied,
    /// `fcm.auth_invalid_email`: Authentication: invalid email.
    FcmAuthInvalidEmail,
    /// `fcm.auth_invalid_jwt`: Authentication: invalid JWT.
    FcmAuthInvalidJwt,
    /// `fcm.auth_invalid_jwt_signature`: Authentication: invalid JWT signature.
    FcmAuthInvalidJwtSignature,
    /// `fcm.auth_invalid_scope`: Authentication: invalid OAuth scope or ID token audience provided.
    FcmAuthInvalidScope,
    /// `fcm.auth_disabled_client`: Authentication: OAuth client disabled.
    FcmAuthDisabledClient,
    /// `fcm_legacy.transient`: Payload length exceeded, connection problem, service availability problem.
    FcmLegacyTransient,
    /// `fcm_legacy.device_quota`: Device quota exceeded.
    FcmLegacyDeviceQuota,
    /// `fcm_legacy.invalid_token`: Invalid or unregistered token, unexpected error, sender account problem.
    FcmLegacyInvalidToken,
    /// `baidu.connect_at_start`: Connection problem at the start of the delivery.
    BaiduConnectAtStart,
    /// `baidu.connection_lost`: Connection lost during the delivery.
    BaiduConnectionLost,
    /// `baidu.sync_error`: Synchronous error returned by Baidu during sending.
    BaiduSyncError,
}

impl OutcomeId {
    /// Every row id, in the order of the spec file.
    pub fn all() -> impl ExactSizeIterator<Item = OutcomeId> {
        OUTCOMES.iter().map(|o| o.id)
    }

    /// The id as the spec spells it (`apns.unregistered`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ApnsDeviceOn => "apns.device_on",
            Self::ApnsDeviceOff => "apns.device_off",
            Self::ApnsNotificationsDisabled => "apns.notifications_disabled",
            Self::ApnsPayloadTooLarge => "apns.payload_too_large",
            Self::ApnsContentFormat => "apns.content_format",
            Self::ApnsCertificate => "apns.certificate",
            Self::ApnsConnectionLost => "apns.connection_lost",
            Self::ApnsUnregistered => "apns.unregistered",
            Self::ApnsOther => "apns.other",
            Self::FcmIllegalKeyword => "fcm.illegal_keyword",
            Self::FcmPayloadTooLarge => "fcm.payload_too_large",
            Self::FcmConnectionLost => "fcm.connection_lost",
            Self::FcmServiceUnavailable => "fcm.service_unavailable",
            Self::FcmSenderAuth => "fcm.sender_auth",
            Self::FcmQuotaExceeded => "fcm.quota_exceeded",
            Self::FcmInvalidRegistration => "fcm.invalid_registration",
            Self::FcmOther => "fcm.other",
            Self::FcmInvalidArgument => "fcm.invalid_argument",
            Self::FcmThirdPartyAuth => "fcm.third_party_auth",
            Self::FcmSenderIdMismatch => "fcm.sender_id_mismatch",
            Self::FcmUnregistered => "fcm.unregistered",
            Self::FcmInternal => "fcm.internal",
            Self::FcmUnavailable => "fcm.unavailable",
            Self::FcmUnspecified => "fcm.unspecified",
            Self::FcmAuthConnection => "fcm.auth_connection",
            Self::FcmAuthUnauthorizedClient => "fcm.auth_unauthorized_client",
            Self::FcmAuthClientNotAuthorized => "fcm.auth_client_not_authorized",
            Self::FcmAuthAccessDenied => "fcm.auth_access_denied",
            Self::FcmAuthInvalidEmail => "fcm.auth_invalid_email",
            Self::FcmAuthInvalidJwt => "fcm.auth_invalid_jwt",
            Self::FcmAuthInvalidJwtSignature => "fcm.auth_invalid_jwt_signature",
            Self::FcmAuthInvalidScope => "fcm.auth_invalid_scope",
            Self::FcmAuthDisabledClient => "fcm.auth_disabled_client",
            Self::FcmLegacyTransient => "fcm_legacy.transient",
            Self::FcmLegacyDeviceQuota => "fcm_legacy.device_quota",
            Self::FcmLegacyInvalidToken => "fcm_legacy.invalid_token",
            Self::BaiduConnectAtStart => "baidu.connect_at_start",
            Self::BaiduConnectionLost => "baidu.connection_lost",
            Self::BaiduSyncError => "baidu.sync_error",
        }
    }

    /// The row this id names.
    pub fn outcome(self) -> &'static Outcome {
        &OUTCOMES[self as usize]
    }
}

impl fmt::Display for OutcomeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OutcomeId {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::all()
            .find(|id| id.as_str() == s)
            .ok_or_else(|| UnknownName {
                given: s.to_owned(),
                kind: "outcome id",
            })
    }
}

impl Serialize for OutcomeId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for OutcomeId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The `error_message` column of a row, and how to render it for one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorMessage {
    /// `-` in the spec: the row gives no message.
    None,
    /// A fixed text.
    Fixed(&'static str),
    /// A text with `{1}` and `{2}` placeholders, filled from the raw result.
    Template(&'static str),
    /// A description in braces (`{various, per error}`): the message is the detail of the
    /// raw result itself.
    Detail(&'static str),
}

impl ErrorMessage {
    /// The text of the spec's column, or `None` for `-`.
    pub const fn spec_text(self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::Fixed(text) | Self::Template(text) | Self::Detail(text) => Some(text),
        }
    }

    /// The message for one result: `args[0]` fills `{1}` (or is the detail), `args[1]` fills `{2}`.
    ///
    /// A missing argument leaves its placeholder as it is, so that a gap is visible
    /// rather than silently dropped.
    pub fn render(self, args: &[&str]) -> Option<String> {
        match self {
            Self::None => None,
            Self::Fixed(text) => Some(text.to_owned()),
            Self::Template(text) => {
                let mut rendered = text.to_owned();
                for (index, arg) in args.iter().enumerate() {
                    rendered = rendered.replace(&format!("{{{}}}", index + 1), arg);
                }
                Some(rendered)
            }
            Self::Detail(text) => Some(args.first().map_or(text, |detail| *detail).to_owned()),
        }
    }
}

impl Serialize for ErrorMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.spec_text().serialize(serializer)
    }
}

/// One row of a push table: what a provider's answer means for the message and the address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// Stable identifier, e.g. `apns.unregistered`.
    pub id: OutcomeId,
    /// The table the row belongs to.
    pub table: PushTable,
    /// The scenario, as the published table words it.
    pub scenario: &'static str,
    /// What happens to the message.
    pub status: SendStatus,
    /// The message logged with the failure.
    pub error_message: ErrorMessage,
    /// Hard, soft, ignored or undefined; `None` where the table leaves it blank.
    pub failure_type: Option<FailureType>,
    /// The failure reason; `None` where the table leaves it blank.
    pub failure_reason: Option<FailureReason>,
    /// Whether the message is retried in the same delivery; `None` where blank.
    pub retry: Option<bool>,
    /// Which raw result lands on this row.
    pub wire_condition: &'static str,
}

/// Every row of `push-outcomes.tsv`, in its order; `OUTCOMES[id as usize].id == id`.
pub static OUTCOMES: [Outcome; 39] = [
    Outcome {
        id: OutcomeId::ApnsDeviceOn,
        table: PushTable::IosHttp2,
        scenario: "Target device switched on",
        status: SendStatus::Ok,
        error_message: ErrorMessage::None,
        failure_type: None,
        failure_reason: None,
        retry: None,
        wire_condition: "HTTP 200",
    },
    Outcome {
        id: OutcomeId::ApnsDeviceOff,
        table: PushTable::IosHttp2,
        scenario: "Target device switched off",
        status: SendStatus::Ok,
        error_message: ErrorMessage::None,
        failure_type: None,
        failure_reason: None,
        retry: None,
        wire_condition: "HTTP 200",
    },
    Outcome {
        id: OutcomeId::ApnsNotificationsDisabled,
        table: PushTable::IosHttp2,
        scenario: "User disabled notifications for the app",
        status: SendStatus::Ok,
        error_message: ErrorMessage::None,
        failure_type: None,
        failure_reason: None,
        retry: None,
        wire_condition: "HTTP 200",
    },
    Outcome {
        id: OutcomeId::ApnsPayloadTooLarge,
        table: PushTable::IosHttp2,
        scenario: "Message creation/analysis stage: payload too large",
        status: SendStatus::Failed,
        error_message: ErrorMessage::Fixed("Payload too long"),
        failure_type: Some(FailureType::Soft),
        failure_reason: Some(FailureReason::Refused),
        retry: Some(false),
        wire_condition: "payload over 4096 bytes (5120 for voip) found before sending, or HTTP 413 PayloadTooLarge",
    },
    Outcome {
        id: OutcomeId::ApnsContentFormat,
        table: PushTable::IosHttp2,
        scenario: "Message creation/analysis stage: unexpected content format problem",
        status: SendStatus::Failed,
        error_message: ErrorMessage::Detail("{various, per error}"),
        failure_type: Some(FailureType::Soft),
        failure_reason: Some(FailureReason::Undefined),
        retry: Some(false),
        wire_condition: "notification cannot be built or serialised (invalid JSON, missing alert and content-available, bad header value) before sending",
    },
    Outcome {
        id: OutcomeId::ApnsCertificate,
        table: PushTable::IosHttp2,
        scenario: "Certificate problem (password, corrupted, etc.) and connection test to APNs",
        status: SendStatus::Failed,
        error_message: ErrorMessage::Detail("{various, per error}"),
        failure_type: Some(FailureType::Soft),
        failure_reason: Some(FailureReason::Refused),
        retry: Some(false),
        wire_condition: "signing key or certificate unreadable/invalid, TLS handshake or ALPN failure, HTTP 403 with InvalidProviderToken, MissingProviderToken, BadCertificate, BadCertificateEnvironment or Forbidden",
    },
    Outcome {
        id: OutcomeId::ApnsConnectionLost,
        table: PushTable::IosHttp2,
        scenario: "Network connection lost during sending",
        status: SendStatus::Failed,
        error_message: ErrorMessage::Fixed("Connection error"),
        failure_type: Some(FailureType::Undefined),
        failure_reason: Some(FailureReason::Unreachable),
        retry: Some(true),
        wire_condition: "connect error, reset, GOAWAY or timeout before a response; also HTTP 429, 500 and 503 once the sender's own bounded retries are spent",
    },
    Outcome {
        id: OutcomeId::ApnsUnregistered,
        table: PushTable::IosHttp2,
        scenario: "APNs message rejection: unregistration (the user removed the app or the token expired)",
        status: SendStatus::Failed,
        error_message: ErrorMessage::Fixed("Unregistered"),
        failure_type: Some(FailureType::Hard),
        failure_reason: Some(FailureReason::UserUnknown),
        retry: Some(false),
        wire_condition: "HTTP 410 reason Unregistered (also 410 ExpiredToken)",
    },
    Outcome {
        id: OutcomeId::ApnsOther,
        table: PushTable::IosHttp2,
        scenario: "APNs message rejection: all other errors",
        status: SendStatus::Failed,
        error_message: ErrorMessage::Detail("{the rejection reason from APNs}"),
        failure_type: Some(FailureType::Soft),
        failure_reason: Some(FailureReason::Refused),
        retry: Some(false),
        wire_condition: "any other non-200 response; error_message is the APNs reason string",
    },
    Outcome {
        id: OutcomeId::FcmIllegalKeyword,
        table: PushTable::AndroidV2,
        scenario: "Message creation/analysis stage: illegal keyword used in a custom field",
        status: SendStatus::Failed,
        error_message: ErrorMessage::Template("The following keywords cannot be used: {1}"),
        failure_type: Some(FailureType::Soft),
        failure_reason: None,
        retry: Some(false),
        wire_condition: "data key is a reserved word (from, notification, message_type) or starts with google. or gcm.",
    },
    Outcome {
        id: OutcomeId::FcmPayloadTooLarge,
        table: PushTable::AndroidV2,
        scenario: "Message creation/analysis stage: payload too large",
        status: SendStatus::Failed,
        error_message: ErrorMessage::Template(
            "Notification too heavy: {1} bits while only {2} are authorized",
        ),
        failure_type: Some(FailureType::Soft),
        failure_reason: Some(FailureReason::Refused),
        retry: Some(false),
        wire_condition: "message over 4096 bytes found before sending",
    },
    Outcome {
        id: OutcomeId::FcmConnectionLost,
        table: PushTable::AndroidV2,
        scenario: "Network connection lost during sending",
        status: SendStatus::Failed,
        error_message: ErrorMessage::Template(
            "No response from Firebase Cloud Messaging service on address: {1}",
        ),
        failure_type: Some(FailureType::Soft),
        failure_reason: Some(FailureReason::Unreachable),
        retry: Some(true),
        wire_condition: "connect error, reset or GOAWAY before a response",
    },
    Outcome {
        id: OutcomeId::FcmServiceUnavailable,
        table: PushTable::AndroidV2,
        scenario: "FCM message rejection: FCM server temporarily unavailable (e.g. timeout)",
        status: SendStatus::Failed,
        error_message: ErrorMessage::Fixed(
            "Firebase Cloud Messaging service temporarily unavailable",
        ),
        failure_type: Some(FailureType::Soft),
        failure_reason: Some(FailureReason::Unreachable),
        retry: Some(true),
        wire_condition: "request timeout, or HTTP 5xx without a parseable FCM error body",
    },
    Outcome {
        id: OutcomeId::FcmSenderAuth,
        table: PushTable::AndroidV2,
        scenario: "FCM message rejection: error while authenticating the sender account",
        status: SendStatus::Failed,
        error_message: ErrorMessage::Fixed(
            "Unable to recognize developer account, check your ID and password",
        ),
        failure_type: Some(FailureType::Soft),
        failure_reason: Some(FailureReason::Refused),
        retry: Some(false),
        wire_condition: "HTTP 401 UNAUTHENTICATED or 403 PERMISSION_DENIED with no FcmError detail, after one access-token refresh and resend",
    },
    Outcome {
        id: OutcomeId::FcmQuotaExceeded,
        table: PushTable::AndroidV2,
        scenario: "FCM message rejection: device quota exceeded",
        status: SendStatus::Failed,
        error_message: ErrorMessage::None,
        failure_type: Some(FailureType::Soft),
        failure_reason: Some(FailureReason::Refused),
        retry: Some(true),
        wire_condition: "errorCode QUOTA_EXCEEDED (HTTP 429)",
    },
    Outcome {
        id: OutcomeId::FcmInvalidRegistration,
        table: PushTable::AndroidV2,
        scenario: "FCM message rejection: invalid registration / unregistered",
        status: SendStatus::Failed,
        error_message: ErrorMessage::None,
        failure_type: Some(FailureType::Hard),
        failure_reason: Some(FailureReason::UserUnknown),
        retry: Some(false),
        wire_condition: "legacy-style InvalidRegistration or NotRegistered in the error body",
    },
    Outcome {
        id: OutcomeId::FcmOther,
        table: PushTable::AndroidV2,
        scenario: "FCM message rejection: all other errors",
        status: SendStatus::Failed,
        error_message: ErrorMessage::Template(
            "Firebase Cloud Messaging server returned an unexpected error code: {1}",
        ),
        failure_type: None,
        failure_reason: Some(FailureReason::Refused),
        retry: Some(false),
        wire_condition: "an errorCode outside the FCM v1 enum, or an error body that cannot be parsed",
    },
    Outcome {
        id: OutcomeId::FcmInvalidArgument,
        table: PushTable::AndroidV2,
        scenario: "FCM message rejection: invalid argument",
        status: SendStatus::Failed,
        error_message: ErrorMessage::Fixed("INVALID_ARGUMENT"),
        failure_type: Some(FailureType::Ignored),
        failure_reason: Some(FailureReason::Undefined),
        retry: Some(false),
        wire_condition: "errorCode INVALID_ARGUMENT (HTTP 400)",
    },
    Outcome {
        id: OutcomeId::FcmThirdPartyAuth,
        table: PushTable::AndroidV2,
        scenario: "FCM message rejection: third-party authentication error",
        status: SendStatus::Failed,
        error_message: ErrorMessage::Fixed("THIRD_PARTY_AUTH_ERROR"),
        failure_type: Some(FailureType::Ignored),
        failure_reason: Some(FailureReason::Refused),
        retry: Some(true),
        wire_condition: "errorCode THIRD_PARTY_AUTH_ERROR (HTTP 401)",
    },
    Outcome {
        id: OutcomeId::FcmSenderIdMismatch,
        table: PushTable::AndroidV2,
        scenario: "FCM message rejection: sender id mismatch",
        status: SendStatus::Failed,
        error_message: ErrorMessage::Fixed("SENDER_ID_MISMATCH"),
        failure_type: Some(FailureType::Soft),
        failure_reason: Some(FailureReason::UserUnknown),
        retry: Some(false),
        wire_condition: "errorCode SENDER_ID_MISMATCH (HTTP 403)",
    },
    Outcome {
        id: OutcomeId::FcmUnregistered,
        table: PushTable::AndroidV2,
        scenario: "FCM message rejection: unregistered",
        status: SendStatus::Failed,
        error_message: ErrorMessage::Fixed("UNREGISTERED"),
        failure_type: Some(FailureType::Hard),
        failure_reason: Some(FailureReason::UserUnknown),
        retry: Some(false),
        wire_condition: "errorCode UNREGISTERED (HTTP 404)",
    },
    Outcome {
        id: OutcomeId::FcmInternal,
        table: PushTable::AndroidV2,
        scenario: "FCM message rejection: internal",
        status: SendStatus::Failed,
        error_message: ErrorMessage::Fixed("INTERNAL"),
        failure_type: Some(FailureType::Ignored),
        failure_reason: Some(FailureReason::Refused),
        retry: Some(true),
        wire_condition: "errorCode INTERNAL (HTTP 500)",
    },
    Outcome {
        id: OutcomeId::FcmUnavailable,
        table: PushTable::AndroidV2,
        scenario: "FCM message rejection: unavailable",
        status: SendStatus::Failed,
        error_message: ErrorMessage::Fixed("UNAVAILABLE"),
        failure_type: Some(FailureType::Ignored),
        failure_reason: Some(FailureReason::Refused),
        retry: Some(true),
        wire_condition: "errorCode UNAVAILABLE (HTTP 503)",
    },
    Outcome {
        id: OutcomeId::FcmUnspecified,
        table: PushTable::AndroidV2,
        scenario: "FCM message rejection: unexpected error code",
        status: SendStatus::Failed,
        error_message: ErrorMessage::Fixed("UNSPECIFIED_ERROR"),
        failure_type: Some(FailureType::Ignored),
        failure_reason: Some(FailureReason::Refused),
        retry: Some(false),
        wire_condition: "errorCode UNSPECIFIED_ERROR",
    },
    Outcome {
        id: OutcomeId::FcmAuthConnection,
        table: PushTable::AndroidV2,
        scenario: "Authentication: connection problem",
        status: SendStatus::Failed,
        error_message: ErrorMessage::Fixed("Cannot connect to authentication server"),
        failure_type: Some(FailureType::Ignored),
        failure_reason: Some(FailureReason::Refused),
        retry: Some(true),
        wire_condition: "the OAuth token endpoint cannot be reached, resets, or times out",
    },
    Outcome {
        id: OutcomeId::FcmAuthUnauthorizedClient,
        table: PushTable::AndroidV2,
        scenario: "Authentication: unauthorized client or scope in request",
        status: SendStatus::Failed,
        error_message: ErrorMessage::Fixed("unauthorized_client"),
        failure_type: Some(FailureType::Ignored),
        failure_reason: Some(FailureReason::Refused),
        retry: Some(false),
        wire_condition: "token endpoint error unauthorized_client",
    },
    Outcome {
        id: OutcomeId::FcmAuthClientNotAuthorized,
        table: PushTable::AndroidV2,
        scenario: "Authentication: client not authorized to retrieve access tokens using this method, or not authorized for any of the requested scopes",
        status: SendStatus::Failed,
        error_message: ErrorMessage::Fixed("unauthorized_client"),
        failure_type: Some(FailureType::Ignored),
        failure_reason: Some(FailureReason::Refused),
        retry: Some(false),
        wire_condition: "token endpoint error unauthorized_client whose description names the method or the scopes",
    },
    Outcome {
        id: OutcomeId::FcmAuthAccessDenied,
        table: PushTable::AndroidV2,
        scenario: "Authentication: access denied",
        status: SendStatus::Failed,
        error_message: ErrorMessage::Fixed("access_denied"),
        failure_type: Some(FailureType::Ignored),
        failure_reason: Some(FailureReason::Refused),
        retry: Some(false),
        wire_condition: "token endpoint error access_denied",
    },
    Outcome {
        id: OutcomeId::FcmAuthInvalidEmail,
        table: PushTable::AndroidV2,
        scenario: "Authentication: invalid email",
        status: SendStatus::Failed,
        error_message: ErrorMessage::Fixed("invalid_grant"),
        failure_type: Some(FailureType::Ignored),
        failure_reason: Some(FailureReason::Refused),
        retry: Some(false),
        wire_condition: "token endpoint error invalid_grant, description \"Invalid email or User ID\"",
    },
    Outcome {
        id: OutcomeId::FcmAuthInvalidJwt,
        table: PushTable::AndroidV2,
        scenario: "Authentication: invalid JWT",
        status: SendStatus::Failed,
        error_message: ErrorMessage::Fixed("invalid_grant"),
        failure_type: Some(FailureType::Ignored),
        failure_reason: Some(FailureReason::Refused),
        retry: Some(false),
        wire_condition: "token endpoint error invalid_grant, description starting \"Invalid JWT\" (other than the signature one)",
    },
    Outcome {
        id: OutcomeId::FcmAuthInvalidJwtSignature,
        table: PushTable::AndroidV2,
        scenario: "Authentication: invalid JWT signature",
        status: SendStatus::Failed,
        error_message: ErrorMessage::Fixed("invalid_grant"),
        failure_type: Some(FailureType::Ignored),
        failure_reason: Some(FailureReason::Refused),
        retry: Some(false),
        wire_condition: "token endpoint error invalid_grant, description \"Invalid JWT Signature.\"",
    },
    Outcome {
        id: OutcomeId::FcmAuthInvalidScope,
        table: PushTable::AndroidV2,
        scenario: "Authentication: invalid OAuth scope or ID token audience provided",
        status: SendStatus::Failed,
        error_message: ErrorMessage::Fixed("unauthorized_client"),
        failure_type: Some(FailureType::Ignored),
        failure_reason: Some(FailureReason::Refused),
        retry: Some(false),
        wire_condition: "token endpoint error unauthorized_client or invalid_scope whose description names the scope or audience",
    },
    Outcome {
        id: OutcomeId::FcmAuthDisabledClient,
        table: PushTable::AndroidV2,
        scenario: "Authentication: OAuth client disabled",
        status: SendStatus::Failed,
        error_message: ErrorMessage::Fixed("disabled_client"),
        failure_type: Some(FailureType::Ignored),
        failure_reason: Some(FailureReason::Refused),
        retry: Some(false),
        wire_condition: "token endpoint error disabled_client",
    },
    Outcome {
        id: OutcomeId::FcmLegacyTransient,
        table: PushTable::AndroidV1,
        scenario: "Payload length exceeded, connection problem, service availability problem",
        status: SendStatus::Failed,
        error_message: ErrorMessage::None,
        failure_type: Some(FailureType::Soft),
        failure_reason: Some(FailureReason::Refused),
        retry: Some(true),
        wire_condition: "legacy errors MessageTooBig, Unavailable, InternalServerError, connection failure",
    },
    Outcome {
        id: OutcomeId::FcmLegacyDeviceQuota,
        table: PushTable::AndroidV1,
        scenario: "Device quota exceeded",
        status: SendStatus::Failed,
        error_message: ErrorMessage::None,
        failure_type: Some(FailureType::Soft),
        failure_reason: Some(FailureReason::Refused),
        retry: Some(false),
        wire_condition: "legacy error DeviceMessageRateExceeded",
    },
    Outcome {
        id: OutcomeId::FcmLegacyInvalidToken,
        table: PushTable::AndroidV1,
        scenario: "Invalid or unregistered token, unexpected error, sender account problem",
        status: SendStatus::Failed,
        error_message: ErrorMessage::None,
        failure_type: Some(FailureType::Hard),
        failure_reason: Some(FailureReason::Refused),
        retry: Some(false),
        wire_condition: "legacy errors InvalidRegistration, NotRegistered, MismatchSenderId, any other",
    },
    Outcome {
        id: OutcomeId::BaiduConnectAtStart,
        table: PushTable::Baidu,
        scenario: "Connection problem at the start of the delivery",
        status: SendStatus::Failed,
        error_message: ErrorMessage::None,
        failure_type: Some(FailureType::Undefined),
        failure_reason: Some(FailureReason::Unreachable),
        retry: Some(true),
        wire_condition: "cannot connect when the delivery starts",
    },
    Outcome {
        id: OutcomeId::BaiduConnectionLost,
        table: PushTable::Baidu,
        scenario: "Connection lost during the delivery",
        status: SendStatus::Failed,
        error_message: ErrorMessage::None,
        failure_type: Some(FailureType::Soft),
        failure_reason: Some(FailureReason::Refused),
        retry: Some(true),
        wire_condition: "connection lost mid-delivery",
    },
    Outcome {
        id: OutcomeId::BaiduSyncError,
        table: PushTable::Baidu,
        scenario: "Synchronous error returned by Baidu during sending",
        status: SendStatus::Failed,
        error_message: ErrorMessage::None,
        failure_type: Some(FailureType::Hard),
        failure_reason: Some(FailureReason::Refused),
        retry: Some(false),
        wire_condition: "error in the send response",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_indexed_by_their_id() {
        for (index, outcome) in OUTCOMES.iter().enumerate() {
            assert_eq!(outcome.id as usize, index, "{}", outcome.id);
            assert_eq!(outcome.id.outcome(), outcome);
            assert_eq!(outcome.id.as_str().parse::<OutcomeId>(), Ok(outcome.id));
        }
    }

    #[test]
    fn templates_fill_their_placeholders() {
        let message = OutcomeId::FcmPayloadTooLarge.outcome().error_message;
        assert_eq!(
            message.render(&["5000", "4096"]).as_deref(),
            Some("Notification too heavy: 5000 bits while only 4096 are authorized")
        );
        assert_eq!(
            message.render(&["5000"]).as_deref(),
            Some("Notification too heavy: 5000 bits while only {2} are authorized")
        );
        let detail = OutcomeId::ApnsOther.outcome().error_message;
        assert_eq!(detail.render(&["BadTopic"]).as_deref(), Some("BadTopic"));
        assert_eq!(
            OutcomeId::FcmQuotaExceeded
                .outcome()
                .error_message
                .render(&["x"]),
            None
        );
    }
}
