//! The `android_v2` table: every FCM errorCode of `protocols.md` §2.3, the canonical-status
//! fallbacks, legacy-style bodies, transport failures and the pre-send problems.

use pushgate_outcome::fcm::{ErrorBody, ErrorCode, FcmResult, classify};
use pushgate_outcome::oauth::OAuthResult;
use pushgate_outcome::{Classification, OutcomeId, SendStatus};

fn response(status: u16, body: &str) -> Classification {
    classify(&FcmResult::Response {
        status,
        body: body.as_bytes(),
    })
}

/// A google.rpc.Status body with an FcmError detail, as FCM sends it.
fn fcm_error(status: u16, canonical: &str, code: &str) -> String {
    format!(
        r#"{{"error":{{"code":{status},"message":"m","status":"{canonical}","details":[{{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"{code}"}}]}}}}"#
    )
}

/// A google.rpc.Status body without an FcmError detail.
fn rpc_status(status: u16, canonical: &str) -> String {
    format!(r#"{{"error":{{"code":{status},"message":"m","status":"{canonical}"}}}}"#)
}

/// Every errorCode of §2.3 at its HTTP status, and the row it must land on.
const EXPECTED: [(&str, OutcomeId, Option<&str>); 8] = [
    (
        "UNSPECIFIED_ERROR",
        OutcomeId::FcmUnspecified,
        Some("UNSPECIFIED_ERROR"),
    ),
    (
        "INVALID_ARGUMENT",
        OutcomeId::FcmInvalidArgument,
        Some("INVALID_ARGUMENT"),
    ),
    (
        "UNREGISTERED",
        OutcomeId::FcmUnregistered,
        Some("UNREGISTERED"),
    ),
    (
        "SENDER_ID_MISMATCH",
        OutcomeId::FcmSenderIdMismatch,
        Some("SENDER_ID_MISMATCH"),
    ),
    ("QUOTA_EXCEEDED", OutcomeId::FcmQuotaExceeded, None),
    (
        "UNAVAILABLE",
        OutcomeId::FcmUnavailable,
        Some("UNAVAILABLE"),
    ),
    ("INTERNAL", OutcomeId::FcmInternal, Some("INTERNAL")),
    (
        "THIRD_PARTY_AUTH_ERROR",
        OutcomeId::FcmThirdPartyAuth,
        Some("THIRD_PARTY_AUTH_ERROR"),
    ),
];

#[test]
fn every_fcm_error_code_of_protocols_2_3_lands_on_its_row() {
    let listed: Vec<&str> = EXPECTED.iter().map(|(code, _, _)| *code).collect();
    let all: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(
        listed, all,
        "the expectations cover every errorCode of §2.3"
    );
    for (code, id, message) in EXPECTED {
        let (status, canonical) = ErrorCode::parse(code).unwrap().http();
        let classified = response(status, &fcm_error(status, canonical, code));
        assert_eq!(classified.id(), Some(id), "{code}");
        assert_eq!(classified.status(), SendStatus::Failed, "{code}");
        assert_eq!(classified.error_message(), message, "{code}");
    }
}

#[test]
fn the_fcm_error_detail_wins_over_the_canonical_status() {
    let classified = response(400, &fcm_error(400, "INVALID_ARGUMENT", "UNREGISTERED"));
    assert_eq!(classified.id(), Some(OutcomeId::FcmUnregistered));
}

#[test]
fn fcm_sender_auth_is_401_or_403_without_an_fcm_error_detail() {
    assert_eq!(
        response(401, &rpc_status(401, "UNAUTHENTICATED")).id(),
        Some(OutcomeId::FcmSenderAuth)
    );
    assert_eq!(
        response(403, &rpc_status(403, "PERMISSION_DENIED")).id(),
        Some(OutcomeId::FcmSenderAuth)
    );
    let expired = r#"{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"ACCESS_TOKEN_EXPIRED","domain":"googleapis.com"}]}}"#;
    let classified = response(401, expired);
    assert_eq!(classified.id(), Some(OutcomeId::FcmSenderAuth));
    assert_eq!(
        classified.error_message(),
        Some("Unable to recognize developer account, check your ID and password")
    );
    assert!(
        ErrorBody::parse(expired.as_bytes())
            .unwrap()
            .is_access_token_expired()
    );
    assert!(
        !ErrorBody::parse(rpc_status(401, "UNAUTHENTICATED").as_bytes())
            .unwrap()
            .is_access_token_expired()
    );
}

#[test]
fn without_an_fcm_error_detail_the_canonical_status_decides() {
    for (status, canonical, id) in [
        (400, "INVALID_ARGUMENT", OutcomeId::FcmInvalidArgument),
        (404, "NOT_FOUND", OutcomeId::FcmUnregistered),
        (429, "RESOURCE_EXHAUSTED", OutcomeId::FcmQuotaExceeded),
        (503, "UNAVAILABLE", OutcomeId::FcmUnavailable),
        (500, "INTERNAL", OutcomeId::FcmInternal),
    ] {
        assert_eq!(
            response(status, &rpc_status(status, canonical)).id(),
            Some(id),
            "{canonical}"
        );
    }
    // No `status` field: the HTTP status stands for it.
    assert_eq!(
        response(404, r#"{"error":{"code":404}}"#).id(),
        Some(OutcomeId::FcmUnregistered)
    );
    assert_eq!(
        response(401, r#"{"error":{"code":401}}"#).id(),
        Some(OutcomeId::FcmSenderAuth)
    );
}

#[test]
fn fcm_other_takes_unknown_codes_and_statuses_and_names_them() {
    let unknown_code = response(400, &fcm_error(400, "INVALID_ARGUMENT", "APNS_AUTH_ERROR"));
    assert_eq!(unknown_code.id(), Some(OutcomeId::FcmOther));
    assert_eq!(
        unknown_code.error_message(),
        Some("Firebase Cloud Messaging server returned an unexpected error code: APNS_AUTH_ERROR")
    );
    let unknown_status = response(504, &rpc_status(504, "DEADLINE_EXCEEDED"));
    assert_eq!(unknown_status.id(), Some(OutcomeId::FcmOther));
    assert_eq!(
        unknown_status.error_message(),
        Some(
            "Firebase Cloud Messaging server returned an unexpected error code: DEADLINE_EXCEEDED"
        )
    );
    let unreadable = response(400, "<html>Bad Request</html>");
    assert_eq!(unreadable.id(), Some(OutcomeId::FcmOther));
    assert_eq!(
        unreadable.error_message(),
        Some(
            "Firebase Cloud Messaging server returned an unexpected error code: HTTP 400 with an unreadable body"
        )
    );
}

#[test]
fn fcm_invalid_registration_is_a_legacy_style_error_in_the_body() {
    for body in [
        r#"{"error":"NotRegistered"}"#.to_owned(),
        r#"{"error":"InvalidRegistration"}"#.to_owned(),
        r#"{"multicast_id":1,"results":[{"error":"NotRegistered"}]}"#.to_owned(),
        fcm_error(400, "INVALID_ARGUMENT", "InvalidRegistration"),
        rpc_status(404, "NotRegistered"),
    ] {
        let classified = response(400, &body);
        assert_eq!(
            classified.id(),
            Some(OutcomeId::FcmInvalidRegistration),
            "{body}"
        );
        assert_eq!(classified.error_message(), None);
    }
    let other_legacy = response(400, r#"{"error":"MismatchSenderId"}"#);
    assert_eq!(other_legacy.id(), Some(OutcomeId::FcmOther));
}

#[test]
fn fcm_service_unavailable_is_a_timeout_or_a_5xx_without_an_fcm_body() {
    assert_eq!(
        classify(&FcmResult::Timeout).id(),
        Some(OutcomeId::FcmServiceUnavailable)
    );
    for status in [500, 502, 503, 504] {
        for body in ["", "<html>Service Unavailable</html>", "{\"oops\":1}"] {
            let classified = response(status, body);
            assert_eq!(
                classified.id(),
                Some(OutcomeId::FcmServiceUnavailable),
                "{status} {body}"
            );
            assert_eq!(
                classified.error_message(),
                Some("Firebase Cloud Messaging service temporarily unavailable")
            );
        }
    }
}

#[test]
fn fcm_connection_lost_names_the_address() {
    let classified = classify(&FcmResult::ConnectionLost {
        address: "fcm.googleapis.com:443",
    });
    assert_eq!(classified.id(), Some(OutcomeId::FcmConnectionLost));
    assert_eq!(
        classified.error_message(),
        Some(
            "No response from Firebase Cloud Messaging service on address: fcm.googleapis.com:443"
        )
    );
    assert_eq!(classified.retry(), Some(true));
}

#[test]
fn fcm_illegal_keyword_and_fcm_payload_too_large_fill_their_templates() {
    let keys = ["from".to_owned(), "gcm.notification.x".to_owned()];
    let illegal = classify(&FcmResult::IllegalKeywords { keys: &keys });
    assert_eq!(illegal.id(), Some(OutcomeId::FcmIllegalKeyword));
    assert_eq!(
        illegal.error_message(),
        Some("The following keywords cannot be used: from, gcm.notification.x")
    );
    assert_eq!(
        illegal.failure_reason(),
        None,
        "the table leaves the reason blank"
    );
    let heavy = classify(&FcmResult::PayloadTooLarge {
        size: 5000,
        limit: 4096,
    });
    assert_eq!(heavy.id(), Some(OutcomeId::FcmPayloadTooLarge));
    assert_eq!(
        heavy.error_message(),
        Some("Notification too heavy: 5000 bits while only 4096 are authorized")
    );
}

#[test]
fn an_accepted_fcm_message_has_no_row_in_the_android_v2_table() {
    let classified = response(200, r#"{"name":"projects/p/messages/1"}"#);
    assert_eq!(classified.status(), SendStatus::Ok);
    assert_eq!(classified.id(), None);
    assert_eq!(classified.table().as_str(), "android_v2");
}

#[test]
fn a_token_endpoint_failure_is_classified_by_the_oauth_rows() {
    let classified = classify(&FcmResult::Auth(OAuthResult::Transport));
    assert_eq!(classified.id(), Some(OutcomeId::FcmAuthConnection));
}

#[test]
fn reserved_data_keys_follow_firebase() {
    use pushgate_outcome::fcm::is_reserved_data_key;
    for key in [
        "from",
        "message_type",
        "notification",
        "google",
        "google.c.a",
        "gcm.n.e",
        "gcmx",
    ] {
        assert!(is_reserved_data_key(key), "{key}");
    }
    for key in [
        "From",
        "title",
        "data",
        "notifications",
        "x.google",
        "messagetype",
        "",
    ] {
        assert!(!is_reserved_data_key(key), "{key}");
    }
}
