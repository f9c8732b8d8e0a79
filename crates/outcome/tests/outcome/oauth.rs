//! The `fcm.auth_*` rows: every token-endpoint error of `protocols.md` §3.3.

use pushgate_outcome::oauth::{ERRORS, OAuthResult, classify, is_retryable};
use pushgate_outcome::{Classification, OutcomeId};

fn answer(status: u16, error: &str, description: &str) -> Classification {
    let body = serde_json::json!({ "error": error, "error_description": description }).to_string();
    classify(&OAuthResult::Response {
        status,
        body: body.as_bytes(),
    })
}

/// Every error of §3.3 and the row it must land on, with the row's message.
const EXPECTED: [(OutcomeId, &str); 8] = [
    (OutcomeId::FcmAuthInvalidJwtSignature, "invalid_grant"),
    (OutcomeId::FcmAuthInvalidJwt, "invalid_grant"),
    (OutcomeId::FcmAuthInvalidEmail, "invalid_grant"),
    (OutcomeId::FcmAuthUnauthorizedClient, "unauthorized_client"),
    (OutcomeId::FcmAuthClientNotAuthorized, "unauthorized_client"),
    (OutcomeId::FcmAuthAccessDenied, "access_denied"),
    (OutcomeId::FcmAuthDisabledClient, "disabled_client"),
    (OutcomeId::FcmAuthInvalidScope, "unauthorized_client"),
];

#[test]
fn every_oauth_error_of_protocols_3_3_lands_on_its_row() {
    for ((status, error, description), (id, message)) in ERRORS.iter().zip(EXPECTED) {
        let classified = answer(*status, error, description);
        assert_eq!(classified.id(), Some(id), "{error}: {description}");
        assert_eq!(
            classified.error_message(),
            Some(message),
            "{error}: {description}"
        );
        assert_eq!(
            classified.failure_type().map(|t| t.as_str()),
            Some("Ignored")
        );
        assert_eq!(classified.retry(), Some(false), "{error}: {description}");
    }
}

#[test]
fn fcm_auth_invalid_scope_is_also_unauthorized_client_naming_the_audience() {
    let classified = answer(
        401,
        "unauthorized_client",
        "Invalid OAuth scope or ID token audience provided.",
    );
    assert_eq!(classified.id(), Some(OutcomeId::FcmAuthInvalidScope));
}

#[test]
fn fcm_auth_connection_is_transport_and_retryable_answers() {
    let transport = classify(&OAuthResult::Transport);
    assert_eq!(transport.id(), Some(OutcomeId::FcmAuthConnection));
    assert_eq!(
        transport.error_message(),
        Some("Cannot connect to authentication server")
    );
    assert_eq!(transport.retry(), Some(true));
    for status in [500, 503, 504, 408, 429] {
        let raw = classify(&OAuthResult::Response {
            status,
            body: b"<html>busy</html>",
        });
        assert_eq!(raw.id(), Some(OutcomeId::FcmAuthConnection), "{status}");
    }
    for error in [
        "internal_failure",
        "server_error",
        "temporarily_unavailable",
    ] {
        assert_eq!(
            answer(400, error, "").id(),
            Some(OutcomeId::FcmAuthConnection),
            "{error}"
        );
    }
}

#[test]
fn the_retryable_rule_is_google_auths() {
    for status in [500, 503, 504, 408, 429] {
        assert!(is_retryable(status, None), "{status}");
    }
    for status in [400, 401, 403, 404, 502] {
        assert!(!is_retryable(status, None), "{status}");
        assert!(!is_retryable(status, Some("invalid_grant")), "{status}");
    }
    assert!(is_retryable(400, Some("server_error")));
    assert!(is_retryable(400, Some("x_temporarily_unavailable_y")));
}

#[test]
fn unknown_oauth_errors_and_malformed_bodies_land_on_fcm_other() {
    let unknown = answer(400, "unsupported_grant_type", "Invalid grant_type");
    assert_eq!(unknown.id(), Some(OutcomeId::FcmOther));
    assert_eq!(
        unknown.error_message(),
        Some(
            "Firebase Cloud Messaging server returned an unexpected error code: unsupported_grant_type"
        )
    );
    let other_grant = answer(400, "invalid_grant", "Bad Request");
    assert_eq!(other_grant.id(), Some(OutcomeId::FcmOther));
    for body in [
        &b""[..],
        b"not json",
        br#"{"error":3}"#,
        br#"{"access_token":"x"}"#,
    ] {
        let classified = classify(&OAuthResult::Response { status: 400, body });
        assert_eq!(classified.id(), Some(OutcomeId::FcmOther), "{body:?}");
    }
}
