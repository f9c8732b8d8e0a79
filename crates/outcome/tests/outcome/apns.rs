//! The `ios_http2` table: every APNs status and reason of `protocols.md` §1.4, the
//! transport failures and the pre-send problems, each to the row its wire condition names.

use pushgate_outcome::apns::{ApnsResult, REASONS, Transport, classify};
use pushgate_outcome::{Classification, OutcomeId, SendStatus};

fn body(reason: &str) -> Vec<u8> {
    format!(r#"{{"reason":"{reason}"}}"#).into_bytes()
}

fn response(status: u16, body: &[u8]) -> Classification {
    classify(&ApnsResult::Response { status, body })
}

/// Every (status, reason) of Apple's table, and the row it must land on.
const EXPECTED: [(u16, &str, OutcomeId); 32] = [
    (400, "BadCollapseId", OutcomeId::ApnsOther),
    (400, "BadDeviceToken", OutcomeId::ApnsOther),
    (400, "BadExpirationDate", OutcomeId::ApnsOther),
    (400, "BadMessageId", OutcomeId::ApnsOther),
    (400, "BadPriority", OutcomeId::ApnsOther),
    (400, "BadTopic", OutcomeId::ApnsOther),
    (400, "DeviceTokenNotForTopic", OutcomeId::ApnsOther),
    (400, "DuplicateHeaders", OutcomeId::ApnsOther),
    (400, "IdleTimeout", OutcomeId::ApnsOther),
    (400, "InvalidPushType", OutcomeId::ApnsOther),
    (400, "MissingDeviceToken", OutcomeId::ApnsOther),
    (400, "MissingTopic", OutcomeId::ApnsOther),
    (400, "PayloadEmpty", OutcomeId::ApnsOther),
    (400, "TopicDisallowed", OutcomeId::ApnsOther),
    (403, "BadCertificate", OutcomeId::ApnsCertificate),
    (403, "BadCertificateEnvironment", OutcomeId::ApnsCertificate),
    (403, "ExpiredProviderToken", OutcomeId::ApnsOther),
    (403, "Forbidden", OutcomeId::ApnsCertificate),
    (403, "InvalidProviderToken", OutcomeId::ApnsCertificate),
    (403, "MissingProviderToken", OutcomeId::ApnsCertificate),
    (403, "UnrelatedKeyIdInToken", OutcomeId::ApnsOther),
    (403, "BadEnvironmentKeyIdInToken", OutcomeId::ApnsOther),
    (404, "BadPath", OutcomeId::ApnsOther),
    (405, "MethodNotAllowed", OutcomeId::ApnsOther),
    (410, "ExpiredToken", OutcomeId::ApnsUnregistered),
    (410, "Unregistered", OutcomeId::ApnsUnregistered),
    (413, "PayloadTooLarge", OutcomeId::ApnsPayloadTooLarge),
    (
        429,
        "TooManyProviderTokenUpdates",
        OutcomeId::ApnsConnectionLost,
    ),
    (429, "TooManyRequests", OutcomeId::ApnsConnectionLost),
    (500, "InternalServerError", OutcomeId::ApnsConnectionLost),
    (503, "ServiceUnavailable", OutcomeId::ApnsConnectionLost),
    (503, "Shutdown", OutcomeId::ApnsConnectionLost),
];

#[test]
fn every_apns_reason_of_protocols_1_4_lands_on_its_row() {
    let listed: Vec<(u16, &str)> = EXPECTED.iter().map(|(s, r, _)| (*s, *r)).collect();
    assert_eq!(
        listed, REASONS,
        "the expectations cover every reason of §1.4"
    );
    for (status, reason, id) in EXPECTED {
        let classified = response(status, &body(reason));
        assert_eq!(classified.id(), Some(id), "{status} {reason}");
        assert_eq!(classified.status(), SendStatus::Failed, "{status} {reason}");
    }
}

#[test]
fn apns_other_and_apns_certificate_carry_the_apns_reason_as_their_message() {
    let other = response(400, &body("BadTopic"));
    assert_eq!(other.error_message(), Some("BadTopic"));
    let certificate = response(403, &body("InvalidProviderToken"));
    assert_eq!(certificate.error_message(), Some("InvalidProviderToken"));
}

#[test]
fn apns_unregistered_is_hard_user_unknown_with_message_unregistered() {
    let classified = response(
        410,
        br#"{"reason":"Unregistered","timestamp":1700000000000}"#,
    );
    assert_eq!(classified.id(), Some(OutcomeId::ApnsUnregistered));
    assert_eq!(classified.error_message(), Some("Unregistered"));
    assert_eq!(classified.failure_type().map(|t| t.as_str()), Some("Hard"));
    assert_eq!(
        classified.failure_reason().map(|r| r.label()),
        Some("User unknown")
    );
    assert_eq!(classified.retry(), Some(false));
}

#[test]
fn apns_device_on_is_the_row_of_http_200() {
    let classified = response(200, b"");
    assert_eq!(classified.id(), Some(OutcomeId::ApnsDeviceOn));
    assert_eq!(classified.status(), SendStatus::Ok);
    assert_eq!(classified.error_message(), None);
    assert_eq!(classified.failure_type(), None);
}

#[test]
fn apns_connection_lost_is_every_transport_failure() {
    for transport in [
        Transport::Connect,
        Transport::Reset,
        Transport::GoAway,
        Transport::Timeout,
    ] {
        let classified = classify(&ApnsResult::Transport(transport));
        assert_eq!(
            classified.id(),
            Some(OutcomeId::ApnsConnectionLost),
            "{transport:?}"
        );
        assert_eq!(classified.error_message(), Some("Connection error"));
        assert_eq!(classified.retry(), Some(true));
    }
}

#[test]
fn apns_payload_too_large_before_sending_and_on_http_413() {
    let before = classify(&ApnsResult::PayloadTooLarge {
        size: 4097,
        limit: 4096,
    });
    assert_eq!(before.id(), Some(OutcomeId::ApnsPayloadTooLarge));
    assert_eq!(before.error_message(), Some("Payload too long"));
    let on_the_wire = response(413, &body("PayloadTooLarge"));
    assert_eq!(on_the_wire.id(), Some(OutcomeId::ApnsPayloadTooLarge));
}

#[test]
fn apns_content_format_and_apns_certificate_render_the_detail() {
    let format = classify(&ApnsResult::ContentFormat {
        detail: "missing alert and content-available",
    });
    assert_eq!(format.id(), Some(OutcomeId::ApnsContentFormat));
    assert_eq!(
        format.error_message(),
        Some("missing alert and content-available")
    );
    let credentials = classify(&ApnsResult::Credentials {
        detail: "TLS handshake failed: no ALPN",
    });
    assert_eq!(credentials.id(), Some(OutcomeId::ApnsCertificate));
    assert_eq!(
        credentials.error_message(),
        Some("TLS handshake failed: no ALPN")
    );
}

#[test]
fn apns_other_is_a_request_refused_before_sending_with_the_reason_apns_would_give() {
    let refused = classify(&ApnsResult::Refused {
        reason: "BadDeviceToken",
    });
    assert_eq!(refused.id(), Some(OutcomeId::ApnsOther));
    assert_eq!(refused.error_message(), Some("BadDeviceToken"));
}

#[test]
fn apns_other_takes_malformed_bodies_and_unknown_reasons() {
    for (status, raw) in [
        (400, &b""[..]),
        (400, b"not json"),
        (400, br#"{"reason":5}"#),
        (400, b"[]"),
        (410, b""),
        (413, br#"{"reason":"Other"}"#),
        (403, br#"{"reason":"invalidprovidertoken"}"#),
        (418, br#"{"reason":"Teapot"}"#),
        (0, b"\xff\xfe"),
    ] {
        let classified = response(status, raw);
        assert_eq!(
            classified.id(),
            Some(OutcomeId::ApnsOther),
            "{status} {raw:?}"
        );
    }
    assert_eq!(
        response(400, b"").error_message(),
        Some("HTTP 400 without a reason")
    );
    assert_eq!(
        response(418, br#"{"reason":"Teapot"}"#).error_message(),
        Some("Teapot")
    );
}
