//! SIGTERM in the middle of a delivery loses nothing: the process stops accepting work,
//! lets its in-flight sends finish and exits 0; the next process sends the rest, and every
//! message ends final, each token sent at least once.

use std::time::{Duration, Instant};

use chrono::Utc;
use pushgate_mocks::{Faults, Latency, Service};
use serde_json::json;

use crate::support::{World, deliver, get, ios_token, wait_done};

#[tokio::test]
async fn sigterm_mid_delivery_loses_nothing() {
    let world = World::new().await;
    world
        .mocks
        .faults()
        .set(Faults {
            latency: Some(Latency::Fixed {
                delay: Duration::from_millis(100),
            }),
            ..Faults::default()
        })
        .unwrap();
    let tokens: Vec<String> = (0..300).map(|n| ios_token("c0", n)).collect();
    let pairs: Vec<(String, String)> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("user-{i}"), t.clone()))
        .collect();

    // Few sends in flight, so that the delivery takes a while.
    let env = [
        ("PUSHGATE_PIPELINE__MAX_IN_FLIGHT", "10"),
        ("PUSHGATE_PIPELINE__CLAIM_BATCH", "10"),
    ];
    let server = world.serve_with(&env);
    // The server wrote the apps at start-up; the subscriptions go straight in.
    world
        .store()
        .import_subscriptions("ios-app", &pairs, Utc::now())
        .await
        .unwrap();
    let id = deliver(
        &world,
        &server,
        "ios-app",
        json!({"target": {"all": true}, "notification": {"title": "Slow"}}),
    )
    .await;
    let started = Instant::now();
    loop {
        let summary = get(&world, &server, &format!("/v1/deliveries/{id}"))
            .await
            .body;
        let sent = summary["summary"]["sent"].as_i64().unwrap_or(0);
        if sent > 0 {
            assert!(
                sent < 300,
                "the delivery finished before the signal: make it slower"
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "nothing was sent"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = server.terminate(Duration::from_secs(30));
    assert!(status.success(), "exit status {status:?}");

    // Nothing in flight is left half-done: every message is Pending (never claimed, or
    // claimed and not sent) or final; none is lost.
    let delivery = world.store().delivery(&id).await.unwrap().unwrap();
    let summary = world.store().summary(&delivery).await.unwrap();
    assert_eq!(summary.targeted, 300);
    assert!(summary.pending + summary.sent == 300, "{summary:?}");
    assert!(
        summary.pending > 0,
        "the signal came after the end: {summary:?}"
    );

    // The next process picks the rest up and finishes.
    let server = world.serve_with(&env);
    let summary = wait_done(&world, &server, &id).await;
    assert_eq!(summary["sent"], 300, "{summary}");
    let stats = world.mocks.stats();
    for token in &tokens {
        assert!(
            stats.delivered(Service::Apns, token) >= 1,
            "{token} was never sent"
        );
    }
}
