//! The `android_v1` (legacy FCM) and `baidu` tables.

use pushgate_outcome::OutcomeId;
use pushgate_outcome::legacy::{
    BaiduResult, LEGACY_FCM_ERRORS, LegacyFcmResult, classify_baidu, classify_legacy_fcm,
};

#[test]
fn every_legacy_fcm_error_string_lands_on_its_android_v1_row() {
    let expected = |error: &str| match error {
        "MessageTooBig" | "Unavailable" | "InternalServerError" => OutcomeId::FcmLegacyTransient,
        "DeviceMessageRateExceeded" => OutcomeId::FcmLegacyDeviceQuota,
        _ => OutcomeId::FcmLegacyInvalidToken,
    };
    for error in LEGACY_FCM_ERRORS {
        let classified = classify_legacy_fcm(&LegacyFcmResult::Error(error));
        assert_eq!(classified.id(), Some(expected(error)), "{error}");
    }
}

#[test]
fn fcm_legacy_rows_by_name() {
    let id = |result| classify_legacy_fcm(&result).id();
    assert_eq!(
        id(LegacyFcmResult::ConnectionFailure),
        Some(OutcomeId::FcmLegacyTransient)
    );
    assert_eq!(
        id(LegacyFcmResult::Error("NotRegistered")),
        Some(OutcomeId::FcmLegacyInvalidToken)
    );
    assert_eq!(
        id(LegacyFcmResult::Error("MismatchSenderId")),
        Some(OutcomeId::FcmLegacyInvalidToken)
    );
    assert_eq!(
        id(LegacyFcmResult::Error("SomethingNew")),
        Some(OutcomeId::FcmLegacyInvalidToken)
    );
    assert_eq!(
        id(LegacyFcmResult::Error("DeviceMessageRateExceeded")),
        Some(OutcomeId::FcmLegacyDeviceQuota)
    );
    let transient = classify_legacy_fcm(&LegacyFcmResult::Error("Unavailable"));
    assert_eq!(transient.retry(), Some(true));
    assert_eq!(transient.error_message(), None);
}

#[test]
fn baidu_rows_by_name() {
    assert_eq!(
        classify_baidu(BaiduResult::ConnectAtStart).id(),
        Some(OutcomeId::BaiduConnectAtStart)
    );
    assert_eq!(
        classify_baidu(BaiduResult::ConnectionLost).id(),
        Some(OutcomeId::BaiduConnectionLost)
    );
    assert_eq!(
        classify_baidu(BaiduResult::SyncError).id(),
        Some(OutcomeId::BaiduSyncError)
    );
}
