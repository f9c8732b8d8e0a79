//! Crash safety: a pipeline stopped mid-delivery without any clean-up, then another one
//! on the same database: every message ends with one final status, none is lost, and only
//! messages in flight at the crash were sent twice.

use std::sync::Arc;
use std::time::Duration;

use pushgate_dispatch::clock::SystemClock;
use pushgate_dispatch::pipeline::{Pipeline, PipelineConfig};
use pushgate_mocks::{Faults, Latency, Service};
use pushgate_outcome::MessageStatus;
use pushgate_store::reports::MessageFilter;
use pushgate_store::testing::TestDatabase;
use pushgate_store::{Page, Store, StoreOptions};
use tokio_util::sync::CancellationToken;

use crate::both_backends;
use crate::support::*;

both_backends!(a_pipeline_stopped_without_clean_up_loses_nothing_after_a_restart);

async fn a_pipeline_stopped_without_clean_up_loses_nothing_after_a_restart(db: TestDatabase) {
    let world = World::new(db).await;
    // Slow answers keep many messages in flight when the first pipeline dies.
    world
        .mocks
        .faults()
        .set(Faults {
            latency: Some(Latency::Fixed {
                delay: Duration::from_millis(25),
            }),
            services: vec![Service::Apns],
            ..Faults::default()
        })
        .unwrap();
    let tokens = apns_tokens("c4", 2000);
    world.subscribe(IOS, &tokens).await;
    let delivery = world.deliver(IOS, 3600).await;
    let config = PipelineConfig {
        lease_secs: 2,
        max_in_flight: 400,
        claim_batch: 100,
        ..test_config()
    };

    // The first node: its own runtime, dropped abruptly once part of the delivery is sent.
    let url = world.db.url.clone();
    let senders = world.senders();
    let first = std::thread::spawn({
        let config = config.clone();
        let delivery = delivery.id.clone();
        move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let store = Store::connect(&url, &StoreOptions::default())
                    .await
                    .unwrap();
                let pipeline = Pipeline::new(
                    store.clone(),
                    senders,
                    config,
                    fast_retries(),
                    pushgate_quarantine::QuarantinePolicy::default(),
                    Arc::new(SystemClock),
                    "node-that-dies",
                );
                tokio::spawn(async move { pipeline.run(CancellationToken::new()).await });
                let delivery = store.delivery(&delivery).await.unwrap().unwrap();
                loop {
                    let summary = store.summary(&delivery).await.unwrap();
                    if summary.sent >= 400 {
                        return summary.sent;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            });
            // No cancel, no drain, no writes: every task is dropped where it stands.
            runtime.shutdown_background();
        }
    });
    first.join().unwrap();
    let at_crash = world.store().summary(&delivery).await.unwrap();
    // What the dead node held: its in-flight messages.
    let in_flight: std::collections::HashSet<i64> = world
        .store()
        .leased_messages("node-that-dies")
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert!(
        at_crash.sent >= 400 && at_crash.sent < 2000,
        "the crash came mid-delivery: {at_crash:?}"
    );

    let restarted = world.pipeline_with(
        "node-restarted",
        config,
        fast_retries(),
        Arc::new(SystemClock),
    );
    let done = world
        .run_until_done(&restarted, &delivery, Duration::from_secs(120))
        .await;
    let summary = world.store().summary(&done).await.unwrap();
    assert_eq!(
        (summary.sent, summary.failed, summary.pending, summary.retry),
        (2000, 0, 0, 0)
    );

    let stats = world.mocks.stats();
    let mut messages = Vec::new();
    let mut page = Page {
        after: 0,
        limit: 1000,
    };
    loop {
        let batch = world
            .store()
            .messages(&done.id, &MessageFilter::default(), page)
            .await
            .unwrap();
        let Some(last) = batch.last() else { break };
        page.after = last.id;
        messages.extend(batch);
    }
    assert_eq!(messages.len(), 2000);
    let mut twice = 0;
    for message in &messages {
        assert_eq!(message.status, MessageStatus::Sent);
        let delivered = stats.delivered(Service::Apns, &message.token);
        assert!(delivered >= 1, "{} was never sent", message.token);
        if delivered > 1 {
            twice += 1;
            assert!(
                in_flight.contains(&message.id),
                "{} sent twice but not in flight at the crash",
                message.token
            );
        }
    }
    assert!(
        twice <= 400,
        "at most the in-flight window was sent again: {twice}"
    );
}
