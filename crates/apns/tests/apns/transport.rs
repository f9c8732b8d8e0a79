//! The transport under stress: GOAWAY mid-batch, resets mid-flight, the peer's stream
//! limit, cancellation, and the headers as the server receives them.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::StreamExt;
use pushgate_apns::{Notification, PushType};
use pushgate_mocks::{Answer, Faults, Latency, Rule, Service};

use crate::helpers::{Harness, TOPIC, payload, row, token};

fn batch(prefix: &str, n: u32) -> Vec<Notification> {
    (0..n)
        .map(|i| Notification::new(token(prefix, i), payload()))
        .collect()
}

#[tokio::test]
async fn goaway_mid_batch_loses_nothing_and_sends_nothing_twice() {
    let h = Harness::start().await;
    let faults = Faults {
        goaway_after_streams: Some(37),
        ..Faults::default()
    };
    h.mocks.faults().set(faults).expect("faults");
    let client = h.client();
    let notifications = batch("90", 500);
    let results = client.send_batch(&notifications, 100).await;
    assert_eq!(results.len(), 500);
    let stats = h.mocks.stats();
    for (n, result) in notifications.iter().zip(&results) {
        assert_eq!(row(result), "apns.device_on", "{}", n.token);
        assert_eq!(result.attempts, 1, "{}", n.token);
        assert_eq!(stats.delivered(Service::Apns, &n.token), 1, "{}", n.token);
    }
    assert!(stats.connection_count[&Service::Apns] >= 500 / 37);
}

#[tokio::test]
async fn a_reset_mid_flight_is_retried() {
    let h = Harness::start().await;
    let rule = Rule::apns_prefix("91", Answer::reset()).times(1);
    h.mocks.scenarios().add(rule).expect("rule");
    let client = h.client();
    let notifications = batch("91", 100);
    let mut seen = HashSet::new();
    let mut results = std::pin::pin!(client.send_all(&notifications, 50));
    while let Some((index, result)) = results.next().await {
        assert!(seen.insert(index), "one result per notification");
        assert_eq!(row(&result), "apns.device_on");
        assert_eq!(result.attempts, 2, "the reset attempt counts");
    }
    assert_eq!(seen.len(), 100);
    let stats = h.mocks.stats();
    assert_eq!(stats.transport_count(Service::Apns, "reset"), 100);
    assert!(
        notifications
            .iter()
            .all(|n| stats.delivered(Service::Apns, &n.token) == 1)
    );
}

#[tokio::test]
async fn the_stream_limit_is_respected() {
    let h = Harness::with_config(|c| c.max_concurrent_streams = 5).await;
    let latency = Latency::Fixed {
        delay: Duration::from_millis(2),
    };
    let faults = Faults {
        latency: Some(latency),
        ..Faults::default()
    };
    h.mocks.faults().set(faults).expect("faults");
    let client = h.client_with(|s| s.connections = 2);
    let results = client.send_batch(&batch("92", 500), 100).await;
    assert!(results.iter().all(|r| row(r) == "apns.device_on"));
    let stats = h.mocks.stats();
    assert!(
        stats.max_concurrent_streams <= 5,
        "{}",
        stats.max_concurrent_streams
    );
    assert!(
        stats.max_concurrent_streams > 1,
        "the limit opens once the token is accepted"
    );
    assert!(stats.connections.len() <= 2);
    assert_eq!(stats.status_count(Service::Apns, 200), 500);
}

#[tokio::test]
async fn a_waiting_request_times_out_when_every_stream_is_taken() {
    let h = Harness::with_config(|c| c.max_concurrent_streams = 1).await;
    let stuck = token("93", 1);
    h.mocks
        .scenarios()
        .add(Rule::apns_token(&stuck, Answer::NoAnswer))
        .expect("rule");
    let client = h.client_with(|s| {
        s.connections = 1;
        s.request_timeout_ms = 400;
        s.retry.max_retries = 0;
    });
    let warm = client
        .send(&Notification::new(token("93", 2), payload()))
        .await;
    assert_eq!(row(&warm), "apns.device_on");
    let (first, second) = (
        Notification::new(stuck, payload()),
        Notification::new(token("93", 3), payload()),
    );
    let (held, waiting) = tokio::join!(client.send(&first), client.send(&second));
    assert_eq!(row(&held), "apns.connection_lost");
    assert_eq!(held.attempts, 1);
    // The second never got a stream: a timeout without an attempt, or a late success
    // once the first gave up; never anything else.
    assert!(
        (row(&waiting) == "apns.connection_lost" && waiting.attempts == 0)
            || row(&waiting) == "apns.device_on",
        "{waiting:?}"
    );
}

#[tokio::test]
async fn a_dropped_send_frees_its_stream() {
    let h = Harness::start().await;
    let stuck = token("94", 1);
    h.mocks
        .scenarios()
        .add(Rule::apns_token(&stuck, Answer::NoAnswer))
        .expect("rule");
    let client = h.client_with(|s| s.connections = 1);
    let n = Notification::new(stuck, payload());
    // A new connection carries one stream until a request succeeds: the dropped send
    // held the only one.
    let dropped = tokio::time::timeout(Duration::from_millis(300), client.send(&n)).await;
    assert!(dropped.is_err(), "no answer: the send was still running");
    let result = tokio::time::timeout(
        Duration::from_secs(3),
        client.send(&Notification::new(token("94", 2), payload())),
    )
    .await
    .expect("the slot was freed");
    assert_eq!(row(&result), "apns.device_on");
    for _ in 0..50 {
        if h.mocks.stats().transport_count(Service::Apns, "no_answer") == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        h.mocks.stats().transport_count(Service::Apns, "no_answer"),
        1
    );
}

/// A background notification to `token` with every optional `apns-*` header set.
fn with_every_header(token: String, collapse_id: &str) -> Notification {
    Notification {
        push_type: PushType::Background,
        priority: Some(5),
        expiration: Some(1_900_000_000),
        collapse_id: Some(collapse_id.into()),
        apns_id: Some("123e4567-e89b-12d3-a456-426614174000".into()),
        ..Notification::new(token, payload())
    }
}

#[tokio::test]
async fn headers_are_sent_as_given() {
    let h = Harness::start().await;
    let client = h.client();
    let n = with_every_header(token("95", 1), "news-1");
    assert_eq!(row(&client.send(&n).await), "apns.device_on");
    let mut voip = Notification::new(token("95", 2), payload());
    voip.push_type = PushType::Voip;
    voip.topic = Some(format!("{TOPIC}.voip"));
    assert_eq!(row(&client.send(&voip).await), "apns.device_on");

    let sent = h.mocks.requests_to(Service::Apns, 2);
    let first = &sent[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, format!("/3/device/{}", n.token));
    for (name, value) in [
        ("apns-topic", TOPIC),
        ("apns-push-type", "background"),
        ("apns-priority", "5"),
        ("apns-expiration", "1900000000"),
        ("apns-collapse-id", "news-1"),
        ("apns-id", "123e4567-e89b-12d3-a456-426614174000"),
    ] {
        assert_eq!(first.header(name), Some(value), "{name}");
    }
    assert_eq!(first.body_text(), std::str::from_utf8(&payload()).ok());
    let bearer = first.header("authorization").expect("authorization");
    let jwt = bearer.strip_prefix("bearer ").expect("bearer scheme");
    let header = jsonwebtoken::decode_header(jwt).expect("a JWT");
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    assert_eq!(header.kid.as_deref(), Some(crate::helpers::KEY_ID));

    let second = &sent[1];
    assert_eq!(
        second.header("apns-topic"),
        Some(format!("{TOPIC}.voip").as_str())
    );
    assert_eq!(second.header("apns-push-type"), Some("voip"));
    assert_eq!(second.header("apns-priority"), None, "APNs' default");
    assert_eq!(second.header("apns-id"), None);
}

/// A template sends to each token what `send` sends for a notification with that token:
/// the same path, `apns-*` headers and payload; a bad token is refused before sending as
/// `send` refuses it, and a bad header is refused when the template is built.
#[tokio::test]
async fn a_template_sends_each_token_what_send_sends() {
    let h = Harness::start().await;
    let client = h.client();
    let n = with_every_header(token("97", 1), "news-2");
    assert_eq!(row(&client.send(&n).await), "apns.device_on");
    let template = client.template(&n).expect("a valid notification");
    for i in [2, 3] {
        assert_eq!(
            row(&client.send_to(&template, &token("97", i)).await),
            "apns.device_on"
        );
    }
    let refused = client.send_to(&template, "not-hex").await;
    let by_send = client
        .send(&Notification {
            token: "not-hex".into(),
            ..n.clone()
        })
        .await;
    assert_eq!(row(&refused), row(&by_send));
    assert_eq!(
        (refused.reason.as_deref(), refused.status),
        (Some("BadDeviceToken"), None),
        "refused before sending"
    );

    let sent = h.mocks.requests_to(Service::Apns, 3);
    assert_eq!(sent.len(), 3, "nothing sent for the bad token");
    let names = [
        "apns-topic",
        "apns-push-type",
        "apns-priority",
        "apns-expiration",
        "apns-collapse-id",
        "apns-id",
    ];
    for (request, i) in sent.iter().zip([1, 2, 3]) {
        assert_eq!(request.path, format!("/3/device/{}", token("97", i)));
        for name in names {
            assert_eq!(request.header(name), sent[0].header(name), "{name}");
        }
        assert_eq!(request.body_text(), std::str::from_utf8(&payload()).ok());
    }
    assert_eq!(sent[1].header("apns-collapse-id"), Some("news-2"));

    let too_long = Notification {
        collapse_id: Some("x".repeat(65)),
        ..n
    };
    let refused = client.template(&too_long).expect_err("refused");
    assert_eq!(row(&refused), row(&client.send(&too_long).await));
}

#[tokio::test]
async fn a_connection_silent_for_a_whole_timeout_is_replaced() {
    let h = Harness::start().await;
    let t = token("96", 1);
    let rule = Rule::apns_token(&t, Answer::NoAnswer).times(1);
    h.mocks.scenarios().add(rule).expect("rule");
    let client = h.client_with(|s| {
        s.connections = 1;
        s.request_timeout_ms = 300;
        s.retry.max_retries = 1;
    });
    let warm = client
        .send(&Notification::new(token("96", 2), payload()))
        .await;
    assert_eq!(row(&warm), "apns.device_on");
    let result = client.send(&Notification::new(t, payload())).await;
    assert_eq!(row(&result), "apns.device_on");
    assert_eq!(result.attempts, 2);
    let stats = h.mocks.stats();
    assert_eq!(
        stats.connection_count[&Service::Apns],
        2,
        "the retry went to a new connection"
    );
}
