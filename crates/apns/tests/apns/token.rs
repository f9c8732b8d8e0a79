//! Provider tokens: reuse, refresh at `token_refresh_secs`, the 20-minute rule per
//! connection, and one refresh-and-resend on ExpiredProviderToken. Token age is moved
//! with an injected clock; the mock's own intervals are shortened where real time must
//! pass on its side.

use std::time::Duration;

use pushgate_apns::{ApnsClient, Notification};
use pushgate_mocks::{Answer, Rule, Service};

use crate::helpers::{Harness, TestClock, authorizations, payload, row, token};

#[tokio::test]
async fn provider_token_is_reused_then_refreshed_after_token_refresh_secs() {
    let h = Harness::with_config(|c| c.apns.token_update_interval = Duration::from_secs(1)).await;
    let clock = TestClock::new();
    let mut settings = h.settings();
    settings.connections = 1;
    let client = ApnsClient::with_clock(&settings, clock.clone()).expect("client");
    for i in 0..3 {
        let result = client
            .send(&Notification::new(token("70", i), payload()))
            .await;
        assert_eq!(row(&result), "apns.device_on");
    }
    clock.advance(3001);
    // Real time must pass on the mock's side too (its interval is one second).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let result = client
        .send(&Notification::new(token("70", 9), payload()))
        .await;
    assert_eq!(row(&result), "apns.device_on");
    let seen = authorizations(&h.mocks);
    assert_eq!(seen.len(), 4);
    assert!(
        seen[..3].iter().all(|a| *a == seen[0]),
        "one token while fresh"
    );
    assert_ne!(seen[3], seen[0], "a new token after 3000 s");
    assert!(seen[0].starts_with("bearer "));
    let stats = h.mocks.stats();
    assert_eq!(
        stats.count(Service::Apns, 429, Some("TooManyProviderTokenUpdates")),
        0
    );
}

#[tokio::test]
async fn the_20_minute_rule_retires_a_connection_instead_of_changing_its_token() {
    // The mock keeps Apple's 20 minutes: a token change on one connection within the
    // test would be refused with 429 TooManyProviderTokenUpdates.
    let h = Harness::start().await;
    let clock = TestClock::new();
    let mut settings = h.settings();
    settings.connections = 1;
    let client = ApnsClient::with_clock(&settings, clock.clone()).expect("client");
    let first = client
        .send(&Notification::new(token("71", 1), payload()))
        .await;
    assert_eq!(row(&first), "apns.device_on");

    // 2900 s later the first connection goes away; the second starts with the same,
    // still fresh token.
    clock.advance(2900);
    let moving = token("71", 2);
    let rule = Rule::apns_token(&moving, Answer::Goaway).times(1);
    h.mocks.scenarios().add(rule).expect("rule");
    let moved = client.send(&Notification::new(moving, payload())).await;
    assert_eq!(row(&moved), "apns.device_on");

    // At 3001 s the token is renewed, only 101 s after the second connection took its
    // token: it must not change there, so it is retired and a third connection opens.
    clock.advance(101);
    let renewed = client
        .send(&Notification::new(token("71", 3), payload()))
        .await;
    assert_eq!(row(&renewed), "apns.device_on");

    let stats = h.mocks.stats();
    assert_eq!(
        stats.count(Service::Apns, 429, Some("TooManyProviderTokenUpdates")),
        0
    );
    assert_eq!(stats.connection_count[&Service::Apns], 3);
    let requests = h.mocks.requests_to(Service::Apns, 10);
    let connections: Vec<u64> = requests.iter().map(|r| r.connection).collect();
    let auth: Vec<&str> = requests
        .iter()
        .filter_map(|r| r.header("authorization"))
        .collect();
    assert_eq!(auth.len(), 4, "{connections:?}");
    assert_eq!(
        auth[0], auth[1],
        "refused on the first connection with the first token"
    );
    assert_eq!(
        auth[1], auth[2],
        "the second connection starts with the same token"
    );
    assert_ne!(auth[2], auth[3], "the renewed token goes out");
    assert_ne!(connections[2], connections[3], "on a connection of its own");
}

#[tokio::test]
async fn expired_provider_token_is_refreshed_and_resent_once() {
    let h = Harness::with_config(|c| {
        c.apns.provider_token_max_age = Duration::from_secs(1);
        c.apns.token_update_interval = Duration::from_secs(1);
    })
    .await;
    let client = h.client();
    let first = client
        .send(&Notification::new(token("72", 1), payload()))
        .await;
    assert_eq!(row(&first), "apns.device_on");
    // The mock now finds the cached token more than a second old.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let t = token("72", 2);
    let result = client.send(&Notification::new(t.clone(), payload())).await;
    assert_eq!(row(&result), "apns.device_on");
    assert_eq!(result.attempts, 2);
    let stats = h.mocks.stats();
    assert_eq!(
        stats.count(Service::Apns, 403, Some("ExpiredProviderToken")),
        1
    );
    let path = format!("/3/device/{t}");
    let tries: Vec<String> = h
        .mocks
        .requests_to(Service::Apns, 10)
        .iter()
        .filter(|r| r.path == path)
        .filter_map(|r| r.header("authorization").map(str::to_owned))
        .collect();
    assert_eq!(
        tries.len(),
        2,
        "the mock saw the request and its one resend"
    );
    assert_ne!(tries[0], tries[1], "the resend carries a new token");
}

#[tokio::test]
async fn an_expired_token_that_stays_expired_is_resent_only_once() {
    let h = Harness::start().await;
    let t = token("73", 1);
    let rule = Rule::apns_token(&t, Answer::apns(403, "ExpiredProviderToken"));
    h.mocks.scenarios().add(rule).expect("rule");
    let client = h.client();
    let result = client.send(&Notification::new(t, payload())).await;
    assert_eq!(row(&result), "apns.other");
    assert_eq!(result.attempts, 2);
    let stats = h.mocks.stats();
    assert_eq!(
        stats.count(Service::Apns, 403, Some("ExpiredProviderToken")),
        2
    );
}

#[tokio::test]
async fn too_many_provider_token_updates_retires_the_connection_and_retries() {
    let h = Harness::start().await;
    let client = h.client_with(|s| s.connections = 1);
    let warm = client
        .send(&Notification::new(token("74", 1), payload()))
        .await;
    assert_eq!(row(&warm), "apns.device_on");
    let t = token("74", 2);
    let rule = Rule::apns_token(&t, Answer::apns(429, "TooManyProviderTokenUpdates")).times(1);
    h.mocks.scenarios().add(rule).expect("rule");
    let result = client.send(&Notification::new(t, payload())).await;
    assert_eq!(row(&result), "apns.device_on");
    assert_eq!(result.attempts, 2);
    let stats = h.mocks.stats();
    assert_eq!(
        stats.connection_count[&Service::Apns],
        2,
        "retried on a fresh connection"
    );
}
