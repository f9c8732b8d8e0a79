//! Every APNs row of the outcome table, each produced by a real exchange with the mock
//! (or, for the rows found before sending, by a notification the mock never sees).

use std::time::Duration;

use bytes::Bytes;
use pushgate_apns::{Notification, Payload, PushType, Transport};
use pushgate_mocks::{Answer, Rule, Service};

use crate::helpers::{Harness, payload, row, token};

#[tokio::test]
async fn apns_device_on_from_a_200() {
    let h = Harness::start().await;
    let client = h.client();
    let mut n = Notification::new(token("ab", 1), payload());
    n.apns_id = Some("123e4567-e89b-12d3-a456-426614174000".into());
    let result = client.send(&n).await;
    assert_eq!(row(&result), "apns.device_on");
    assert!(result.is_success());
    assert_eq!((result.status, result.attempts), (Some(200), 1));
    assert_eq!(result.apns_id, n.apns_id);
    assert_eq!(h.mocks.stats().delivered(Service::Apns, &n.token), 1);
}

#[tokio::test]
async fn apns_payload_too_large_before_sending() {
    let h = Harness::start().await;
    let client = h.client();
    let big = Bytes::from(format!(r#"{{"aps":{{"alert":"{}"}}}}"#, "x".repeat(4100)));
    let result = client
        .send(&Notification::new(token("ab", 2), big.clone()))
        .await;
    assert_eq!(row(&result), "apns.payload_too_large");
    assert_eq!(result.attempts, 0);
    // The same payload fits a voip push (5120 bytes) and goes out.
    let mut voip = Notification::new(token("ab", 3), big);
    voip.push_type = PushType::Voip;
    assert_eq!(row(&client.send(&voip).await), "apns.device_on");
    assert_eq!(h.mocks.stats().status_count(Service::Apns, 413), 0);
    assert_eq!(h.mocks.requests_to(Service::Apns, 10).len(), 1);
}

#[tokio::test]
async fn apns_payload_too_large_from_a_413() {
    let h = Harness::start().await;
    let t = token("413", 1);
    let rule = Rule::apns_token(&t, Answer::apns(413, "PayloadTooLarge"));
    h.mocks.scenarios().add(rule).expect("rule");
    let result = h.client().send(&Notification::new(t, payload())).await;
    assert_eq!(row(&result), "apns.payload_too_large");
    assert_eq!(result.status, Some(413));
    assert_eq!(result.reason.as_deref(), Some("PayloadTooLarge"));
}

#[tokio::test]
async fn apns_content_format_before_sending() {
    let h = Harness::start().await;
    let client = h.client();
    let broken = [
        Notification::new(token("cf", 1), Bytes::from_static(b"{\"aps\":")),
        Notification {
            collapse_id: Some("c".repeat(65)),
            ..Notification::new(token("cf", 2), payload())
        },
        Notification {
            topic: Some("com.example\r\nx".into()),
            ..Notification::new(token("cf", 3), payload())
        },
    ];
    for n in &broken {
        let result = client.send(n).await;
        assert_eq!(row(&result), "apns.content_format", "{n:?}");
        assert_eq!(result.attempts, 0);
    }
    let unbuildable = Payload::default().badge(1).build().expect_err("no alert");
    assert_eq!(row(&unbuildable.into_result()), "apns.content_format");
    assert!(h.mocks.requests_to(Service::Apns, 10).is_empty());
}

#[tokio::test]
async fn apns_unregistered_carries_the_410_timestamp() {
    let h = Harness::start().await;
    let (gone, expired) = (token("410", 1), token("410", 2));
    let unregistered = Answer::ApnsError {
        status: 410,
        reason: "Unregistered".into(),
        timestamp: Some(1_700_000_000_123),
        retry_after_secs: None,
    };
    let scenarios = h.mocks.scenarios();
    scenarios
        .add(Rule::apns_token(&gone, unregistered))
        .expect("rule");
    let expired_rule = Rule::apns_token(&expired, Answer::apns(410, "ExpiredToken"));
    scenarios.add(expired_rule).expect("rule");
    let client = h.client();
    let result = client.send(&Notification::new(gone, payload())).await;
    assert_eq!(row(&result), "apns.unregistered");
    let at = result.unregistered_at.expect("timestamp kept");
    assert_eq!(at.timestamp_millis(), 1_700_000_000_123);
    let result = client.send(&Notification::new(expired, payload())).await;
    assert_eq!(row(&result), "apns.unregistered");
    assert_eq!(result.reason.as_deref(), Some("ExpiredToken"));
    assert!(result.unregistered_at.is_some());
}

#[tokio::test]
async fn apns_other_carries_the_reason_as_its_message() {
    let h = Harness::start().await;
    let (disallowed, raw) = (token("400", 1), token("400", 2));
    let scenarios = h.mocks.scenarios();
    let rule = Rule::apns_token(&disallowed, Answer::apns(400, "TopicDisallowed"));
    scenarios.add(rule).expect("rule");
    scenarios
        .add(Rule::apns_token(&raw, Answer::raw(400, "")))
        .expect("rule");
    let client = h.client();
    let result = client.send(&Notification::new(disallowed, payload())).await;
    assert_eq!(row(&result), "apns.other");
    assert_eq!(
        result.classification.error_message(),
        Some("TopicDisallowed")
    );
    let result = client.send(&Notification::new(raw, payload())).await;
    assert_eq!(row(&result), "apns.other");
    assert_eq!(result.status, Some(400));
    // The mock's own validation: an invalid priority is refused by APNs, not by us.
    let bad_priority = Notification {
        priority: Some(7),
        ..Notification::new(token("400", 3), payload())
    };
    let result = client.send(&bad_priority).await;
    assert_eq!(row(&result), "apns.other");
    assert_eq!(result.classification.error_message(), Some("BadPriority"));
}

#[tokio::test]
async fn apns_other_for_a_non_hex_token_without_the_network() {
    let h = Harness::start().await;
    let client = h.client();
    let result = client.send(&Notification::new("not-hex!", payload())).await;
    assert_eq!(row(&result), "apns.other");
    assert_eq!(result.reason.as_deref(), Some("BadDeviceToken"));
    assert_eq!((result.status, result.attempts), (None, 0));
    let empty = client.send(&Notification::new("", payload())).await;
    assert_eq!(empty.reason.as_deref(), Some("MissingDeviceToken"));
    assert!(h.mocks.requests_to(Service::Apns, 10).is_empty());
}

#[tokio::test]
async fn apns_connection_lost_after_429_500_and_503_retries() {
    let h = Harness::start().await;
    let client = h.client();
    for (status, reason) in [
        (429, "TooManyRequests"),
        (500, "InternalServerError"),
        (503, "ServiceUnavailable"),
    ] {
        let t = token(&status.to_string(), 1);
        let rule = Rule::apns_token(&t, Answer::apns(status, reason));
        h.mocks.scenarios().add(rule).expect("rule");
        let result = client.send(&Notification::new(t, payload())).await;
        assert_eq!(row(&result), "apns.connection_lost", "{status}");
        assert_eq!(result.status, Some(status));
        assert_eq!(result.attempts, 4, "{status}: one try and three retries");
        let seen = h.mocks.stats().count(Service::Apns, status, Some(reason));
        assert_eq!(seen, 4, "{status}: the mock saw every attempt");
    }
}

#[tokio::test]
async fn retries_succeed_once_the_server_recovers() {
    let h = Harness::start().await;
    let t = token("503", 2);
    let rule = Rule::apns_token(&t, Answer::apns(503, "ServiceUnavailable")).times(2);
    h.mocks.scenarios().add(rule).expect("rule");
    let result = h
        .client()
        .send(&Notification::new(t.clone(), payload()))
        .await;
    assert_eq!(row(&result), "apns.device_on");
    assert_eq!(result.attempts, 3);
    assert_eq!(h.mocks.stats().delivered(Service::Apns, &t), 1);
}

#[tokio::test]
async fn retry_after_is_honoured_or_handed_over() {
    let h = Harness::start().await;
    let (short, long) = (token("429", 2), token("429", 3));
    let answer = |secs| Answer::ApnsError {
        status: 429,
        reason: "TooManyRequests".into(),
        timestamp: None,
        retry_after_secs: Some(secs),
    };
    let scenarios = h.mocks.scenarios();
    scenarios
        .add(Rule::apns_token(&short, answer(1)).times(1))
        .expect("rule");
    scenarios
        .add(Rule::apns_token(&long, answer(3600)))
        .expect("rule");
    let client = h.client_with(|s| s.retry.max_backoff_ms = 2_000);
    let result = client.send(&Notification::new(short, payload())).await;
    assert_eq!(
        (row(&result).as_str(), result.attempts),
        ("apns.device_on", 2)
    );
    assert_eq!(result.retry_after, Some(Duration::from_secs(1)));
    // An hour is more than the sender waits: handed over at once, with the hint.
    let result = client.send(&Notification::new(long, payload())).await;
    assert_eq!(row(&result), "apns.connection_lost");
    assert_eq!(result.attempts, 1);
    assert_eq!(result.retry_after, Some(Duration::from_secs(3600)));
}

#[tokio::test]
async fn apns_connection_lost_from_a_reset() {
    let h = Harness::start().await;
    let t = token("5e5e", 1);
    h.mocks
        .scenarios()
        .add(Rule::apns_token(&t, Answer::reset()))
        .expect("rule");
    let result = h.client().send(&Notification::new(t, payload())).await;
    assert_eq!(row(&result), "apns.connection_lost");
    assert_eq!(result.transport, Some(Transport::Reset));
    assert_eq!(result.attempts, 4);
    assert_eq!(h.mocks.stats().transport_count(Service::Apns, "reset"), 4);
}

#[tokio::test]
async fn apns_connection_lost_from_a_goaway_refusing_every_resend() {
    let h = Harness::start().await;
    let t = token("60a", 1);
    h.mocks
        .scenarios()
        .add(Rule::apns_token(&t, Answer::Goaway))
        .expect("rule");
    let client = h.client_with(|s| s.retry.max_unprocessed_resends = 3);
    let result = client.send(&Notification::new(t.clone(), payload())).await;
    assert_eq!(row(&result), "apns.connection_lost");
    assert_eq!(result.transport, Some(Transport::GoAway));
    assert_eq!(result.attempts, 0, "unprocessed re-sends are not attempts");
    assert_eq!(h.mocks.stats().transport_count(Service::Apns, "goaway"), 4);
    assert_eq!(h.mocks.stats().delivered(Service::Apns, &t), 0);
    // The connections that went away were replaced: the next send goes through.
    let ok = client
        .send(&Notification::new(token("60a", 2), payload()))
        .await;
    assert_eq!(row(&ok), "apns.device_on");
}

#[tokio::test]
async fn apns_connection_lost_from_no_answer_before_the_timeout() {
    let h = Harness::start().await;
    let t = token("0a0a", 1);
    h.mocks
        .scenarios()
        .add(Rule::apns_token(&t, Answer::NoAnswer))
        .expect("rule");
    let client = h.client_with(|s| {
        s.request_timeout_ms = 300;
        s.retry.max_retries = 1;
    });
    let result = client.send(&Notification::new(t, payload())).await;
    assert_eq!(row(&result), "apns.connection_lost");
    assert_eq!(result.transport, Some(Transport::Timeout));
    assert_eq!(result.attempts, 2);
    // The abandoned streams were reset, and the connection still works.
    let ok = client
        .send(&Notification::new(token("0a0a", 2), payload()))
        .await;
    assert_eq!(row(&ok), "apns.device_on");
}

#[tokio::test]
async fn apns_connection_lost_from_a_connect_error() {
    let h = Harness::start().await;
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let client = h.client_with(|s| {
        s.endpoint =
            pushgate_apns::Endpoint::parse(&format!("https://127.0.0.1:{port}")).expect("url");
    });
    let result = client
        .send(&Notification::new(token("cc", 1), payload()))
        .await;
    assert_eq!(row(&result), "apns.connection_lost");
    assert_eq!(result.transport, Some(Transport::Connect));
    assert_eq!(result.attempts, 0);
}
