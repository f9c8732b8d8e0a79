//! Classifiers for the tables pushgate maps but does not send through: the legacy FCM API
//! (Android V1, shut down in 2024) and Baidu.

use crate::classification::Classification;
use crate::table::OutcomeId;

/// Every error string of the legacy FCM API (`protocols.md` §2.5).
pub const LEGACY_FCM_ERRORS: [&str; 13] = [
    "MissingRegistration",
    "InvalidRegistration",
    "NotRegistered",
    "InvalidPackageName",
    "MismatchSenderId",
    "MessageTooBig",
    "InvalidDataKey",
    "InvalidTtl",
    "DeviceMessageRateExceeded",
    "TopicsMessageRateExceeded",
    "InvalidApnsCredential",
    "Unavailable",
    "InternalServerError",
];

/// One raw result of the legacy FCM API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyFcmResult<'a> {
    /// The connection to the legacy endpoint failed.
    ConnectionFailure,
    /// An error string from `results[].error`.
    Error(&'a str),
}

/// The Android V1 row of a legacy result: payload length, connection and availability
/// problems are transient; the device quota has its own row; every other error string
/// (invalid or unregistered token, sender mismatch, anything unknown) is an invalid token.
pub fn classify_legacy_fcm(result: &LegacyFcmResult<'_>) -> Classification {
    let id = match *result {
        LegacyFcmResult::ConnectionFailure
        | LegacyFcmResult::Error("MessageTooBig" | "Unavailable" | "InternalServerError") => {
            OutcomeId::FcmLegacyTransient
        }
        LegacyFcmResult::Error("DeviceMessageRateExceeded") => OutcomeId::FcmLegacyDeviceQuota,
        LegacyFcmResult::Error(_) => OutcomeId::FcmLegacyInvalidToken,
    };
    Classification::rejected(id, &[])
}

/// The three kinds of Baidu failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaiduResult {
    /// Cannot connect when the delivery starts.
    ConnectAtStart,
    /// The connection was lost during the delivery.
    ConnectionLost,
    /// Baidu returned an error in the send response.
    SyncError,
}

/// The Baidu row of a Baidu failure.
pub fn classify_baidu(result: BaiduResult) -> Classification {
    let id = match result {
        BaiduResult::ConnectAtStart => OutcomeId::BaiduConnectAtStart,
        BaiduResult::ConnectionLost => OutcomeId::BaiduConnectionLost,
        BaiduResult::SyncError => OutcomeId::BaiduSyncError,
    };
    Classification::rejected(id, &[])
}
