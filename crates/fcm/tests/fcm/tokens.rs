//! The access-token source: one request for a burst, refresh ahead of expiry, the 401
//! refresh-and-resend, no request storm during an outage, cancellation.

use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::join_all;
use pushgate_fcm::Message;
use pushgate_mocks::{Answer, Faults, Outage, OutageMode, Rule, Service};
use pushgate_outcome::OutcomeId;

use crate::helpers::{CLIENT_EMAIL, Harness, assert_row, assert_sent, content, message};

#[tokio::test]
async fn a_burst_of_1000_concurrent_sends_makes_one_token_request() {
    let h = Harness::start().await;
    let client = h.client();
    let shared = content();
    let messages: Vec<Message> = (0..1000)
        .map(|i| Message::new(format!("burst-{i}"), shared.clone()))
        .collect();
    let results = join_all(messages.iter().map(|m| client.send(m))).await;
    for result in &results {
        assert_sent(result);
    }
    let stats = h.mocks.stats();
    assert_eq!(stats.token_requests, 1);
    // One HTTP/2 connection per configured client, not one per request.
    let connections = stats.connection_count[&Service::Fcm];
    assert!(
        connections <= h.settings.connections as u64,
        "{connections}"
    );
}

#[tokio::test]
async fn an_access_token_expiring_mid_run_is_refreshed_without_failures() {
    let h = Harness::with(|c| c.oauth.access_token_lifetime = Duration::from_secs(2)).await;
    let client = h.client();
    let shared = content();
    // About five seconds of traffic: two and a half token lifetimes.
    for round in 0..50 {
        let messages: Vec<Message> = (0..20)
            .map(|i| Message::new(format!("run-{round}-{i}"), shared.clone()))
            .collect();
        let results: Vec<_> = client.send_all(&messages, 20).collect().await;
        for (_, result) in &results {
            assert_sent(result);
            assert_eq!(result.attempts, 1, "{result:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stats = h.mocks.stats();
    assert!(stats.token_requests >= 2, "{}", stats.token_requests);
    assert_eq!(stats.status_count(Service::Fcm, 401), 0);
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_once_and_the_message_resent() {
    let h = Harness::start().await;
    let expired = Answer::FcmStatus {
        status: 401,
        canonical: "UNAUTHENTICATED".into(),
        message: None,
        error_info_reason: Some("ACCESS_TOKEN_EXPIRED".into()),
    };
    let rule = Rule::fcm_token("tok-stale", expired).times(1);
    h.mocks.scenarios().add(rule).unwrap();
    let client = h.client();
    let result = client.send(&message("tok-stale")).await;
    assert_sent(&result);
    assert_eq!(result.attempts, 2);
    assert_eq!(h.mocks.stats().token_requests, 2);
    let requests = h.mocks.requests_to(Service::Fcm, 10);
    assert_ne!(
        requests[0].header("authorization"),
        requests[1].header("authorization"),
        "the resend carries the new token"
    );
}

#[tokio::test]
async fn an_oauth_outage_does_not_become_a_token_request_storm() {
    let h = Harness::start().await;
    let outage = Outage {
        from_unix_ms: None,
        until_unix_ms: None,
        duration: Some(Duration::from_secs(60)),
        mode: OutageMode::Unavailable,
    };
    let faults = Faults {
        oauth_outage: Some(outage),
        ..Faults::default()
    };
    h.mocks.faults().set(faults).unwrap();
    let client = h.client_with(|s| {
        s.token.max_retries = 0;
        s.token.initial_backoff_ms = 1_000;
        s.token.max_backoff_ms = 1_000;
    });
    let shared = content();
    for _ in 0..3 {
        let messages: Vec<Message> = (0..100)
            .map(|i| Message::new(format!("out-{i}"), shared.clone()))
            .collect();
        let results = join_all(messages.iter().map(|m| client.send(m))).await;
        for result in &results {
            assert_row(result, OutcomeId::FcmAuthConnection);
            assert_eq!(result.attempts, 0);
        }
    }
    // One request: the rounds after the failed refresh came within its backoff (at
    // least half a second) and got its failure without asking again.
    assert_eq!(h.mocks.stats().token_requests, 1);
    assert!(h.mocks.requests_to(Service::Fcm, 10).is_empty());

    // Once the outage is over and the backoff has passed, sends go through.
    h.mocks.faults().clear();
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_sent(&client.send(&message("after-outage")).await);
}

#[tokio::test]
async fn a_cancelled_refresh_lets_the_next_caller_refresh() {
    let h = Harness::start().await;
    let slow = Answer::Delay {
        delay: Duration::from_secs(30),
        then: None,
    };
    h.mocks
        .scenarios()
        .add(Rule::oauth_client(CLIENT_EMAIL, slow))
        .unwrap();
    let client = h.client();
    let msg = message("tok-cancel");
    let cancelled = tokio::time::timeout(Duration::from_millis(200), client.send(&msg)).await;
    assert!(
        cancelled.is_err(),
        "the send should still be waiting for its token"
    );
    h.mocks.scenarios().clear();
    let result = tokio::time::timeout(Duration::from_secs(10), client.send(&msg))
        .await
        .expect("the refresh gate must not stay wedged");
    assert_sent(&result);
    assert_eq!(h.mocks.stats().token_requests, 2);
}
