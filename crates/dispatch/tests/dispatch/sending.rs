//! Sending a delivery: every message sent once, results recorded, pre-send problems.

use std::collections::BTreeMap;
use std::time::Duration;

use pushgate_dispatch::notification::Notification;
use pushgate_mocks::Service;
use pushgate_outcome::{MessageStatus, OutcomeId};
use pushgate_store::reports::MessageFilter;
use pushgate_store::testing::TestDatabase;
use pushgate_store::{Page, Store};

use crate::both_backends;
use crate::support::*;

async fn all_messages(store: &Store, delivery: &str) -> Vec<pushgate_store::Message> {
    let mut all = Vec::new();
    let mut page = Page {
        after: 0,
        limit: 1000,
    };
    loop {
        let batch = store
            .messages(delivery, &MessageFilter::default(), page)
            .await
            .unwrap();
        let Some(last) = batch.last() else { return all };
        page.after = last.id;
        all.extend(batch);
    }
}

both_backends!(
    a_delivery_reaches_every_token_once_and_ends_done,
    a_notification_the_provider_refuses_fails_every_message_without_the_network,
    messages_of_an_app_without_a_sender_fail_with_a_reason,
);

async fn a_delivery_reaches_every_token_once_and_ends_done(db: TestDatabase) {
    let world = World::new(db).await;
    let ios = apns_tokens("a1", 300);
    let android = fcm_tokens("f1", 300);
    world.subscribe(IOS, &ios).await;
    world.subscribe(ANDROID, &android).await;
    let pipeline = world.pipeline("node-a");
    for (app, tokens, service) in [
        (IOS, &ios, Service::Apns),
        (ANDROID, &android, Service::Fcm),
    ] {
        let delivery = world.deliver(app, 3600).await;
        let done = world
            .run_until_done(&pipeline, &delivery, Duration::from_secs(60))
            .await;
        assert!(done.finished_at.is_some());
        let summary = world.store().summary(&done).await.unwrap();
        assert_eq!(
            (
                summary.targeted,
                summary.sent,
                summary.failed,
                summary.excluded
            ),
            (300, 300, 0, 0),
            "{app}"
        );
        let stats = world.mocks.stats();
        for token in tokens.iter() {
            assert_eq!(stats.delivered(service, token), 1, "{app} {token}");
        }
        let messages = all_messages(world.store(), &done.id).await;
        assert!(messages.iter().all(|m| m.status == MessageStatus::Sent
            && m.attempts == 1
            && m.provider_id.is_some()));
    }
    let sent = world.mocks.requests_to(Service::Apns, 1).remove(0);
    let header = |name: &str| {
        sent.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("apns-topic").as_deref(), Some(TOPIC));
    assert_eq!(header("apns-push-type").as_deref(), Some("alert"));
    assert!(
        header("apns-expiration").is_some(),
        "apns-expiration is the end of the validity period"
    );
}

async fn a_notification_the_provider_refuses_fails_every_message_without_the_network(
    db: TestDatabase,
) {
    // fcm.illegal_keyword and apns.payload_too_large: found before sending.
    let world = World::new(db).await;
    world.subscribe(ANDROID, &fcm_tokens("k", 20)).await;
    world.subscribe(IOS, &apns_tokens("b", 20)).await;
    let pipeline = world.pipeline("node-a");
    let reserved = Notification {
        data: BTreeMap::from([("from".into(), "x".into())]),
        ..hello()
    };
    let heavy = Notification {
        body: Some("x".repeat(5000)),
        ..hello()
    };
    for (app, notification, row) in [
        (ANDROID, reserved, OutcomeId::FcmIllegalKeyword),
        (IOS, heavy, OutcomeId::ApnsPayloadTooLarge),
    ] {
        let delivery = world.deliver_notification(app, notification, 3600).await;
        let done = world
            .run_until_done(&pipeline, &delivery, Duration::from_secs(30))
            .await;
        let messages = all_messages(world.store(), &done.id).await;
        assert_eq!(messages.len(), 20);
        assert!(
            messages
                .iter()
                .all(|m| m.status == MessageStatus::Failed && m.outcome_id == Some(row)),
            "{row}"
        );
    }
    assert!(
        world.mocks.requests(10).is_empty(),
        "nothing reached the network"
    );
}

async fn messages_of_an_app_without_a_sender_fail_with_a_reason(db: TestDatabase) {
    let world = World::new(db).await;
    world.subscribe(IOS, &apns_tokens("c", 5)).await;
    let delivery = world.deliver(IOS, 3600).await;
    let mut senders = world.senders();
    senders.remove(IOS);
    let pipeline = pushgate_dispatch::pipeline::Pipeline::new(
        world.store().clone(),
        senders,
        test_config(),
        fast_retries(),
        pushgate_quarantine::QuarantinePolicy::default(),
        std::sync::Arc::new(pushgate_dispatch::clock::SystemClock),
        "node-a",
    );
    let done = world
        .run_until_done(&pipeline, &delivery, Duration::from_secs(30))
        .await;
    let messages = all_messages(world.store(), &done.id).await;
    assert!(messages.iter().all(|m| m.status == MessageStatus::Failed
        && m.error_text.as_deref() == Some("no sender is configured for app \"ios-app\"")));
}
