//! Retries inside the validity period (`quarantine-rules.md`, "Retries").

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use pushgate_mocks::{Answer, Rule, Service};
use pushgate_outcome::fcm::ErrorCode;
use pushgate_outcome::{MessageStatus, OutcomeId};
use pushgate_quarantine::AddressStatus;
use pushgate_store::reports::MessageFilter;
use pushgate_store::testing::TestDatabase;
use pushgate_store::{DeliveryState, Page};

use crate::both_backends;
use crate::support::*;

both_backends!(
    a_retryable_failure_is_retried_until_the_provider_accepts,
    retries_end_with_the_validity_period,
    the_providers_retry_after_sets_the_next_attempt,
    a_soft_retryable_failure_counts_on_every_attempt_until_quarantine_ends_the_retries,
);

async fn a_retryable_failure_is_retried_until_the_provider_accepts(db: TestDatabase) {
    // fcm.unavailable says retry Yes: the message comes back after the backoff.
    let world = World::new(db).await;
    world.script(Rule::fcm_prefix("flaky", Answer::fcm(ErrorCode::Unavailable)).times(2));
    let tokens = fcm_tokens("flaky", 3);
    world.subscribe(ANDROID, &tokens).await;
    let done = world
        .send_to_all(ANDROID, 3600, Duration::from_secs(60))
        .await;
    let messages = world
        .store()
        .messages(&done.id, &MessageFilter::default(), Page::default())
        .await
        .unwrap();
    assert_eq!(messages.len(), 3);
    let stats = world.mocks.stats();
    for message in &messages {
        assert_eq!(message.status, MessageStatus::Sent, "{message:?}");
        assert_eq!(stats.delivered(Service::Fcm, &message.token), 1);
    }
    let attempts: i64 = messages.iter().map(|m| m.attempts).sum();
    assert!(
        attempts >= 4,
        "the two scripted failures were retried: {attempts} attempts"
    );
    // UNAVAILABLE is Ignored: nothing counted on the addresses.
    for token in &tokens {
        assert!(
            world
                .store()
                .address(ANDROID, token)
                .await
                .unwrap()
                .is_none()
        );
    }
}

async fn retries_end_with_the_validity_period(db: TestDatabase) {
    // Still undelivered when the validity period ends: Failed, the last outcome kept.
    let world = World::new(db).await;
    world.script(Rule::fcm_prefix(
        "down",
        Answer::fcm(ErrorCode::Unavailable),
    ));
    world.subscribe(ANDROID, &fcm_tokens("down", 2)).await;
    let done = world.send_to_all(ANDROID, 3, Duration::from_secs(60)).await;
    assert_eq!(done.state, DeliveryState::Done);
    let messages = world
        .store()
        .messages(&done.id, &MessageFilter::default(), Page::default())
        .await
        .unwrap();
    for message in &messages {
        assert_eq!(message.status, MessageStatus::Failed);
        assert_eq!(message.outcome_id, Some(OutcomeId::FcmUnavailable));
        assert!(message.attempts >= 2, "{message:?}");
    }
}

async fn the_providers_retry_after_sets_the_next_attempt(db: TestDatabase) {
    let world = World::new(db).await;
    world.script(Rule::fcm_prefix(
        "later",
        Answer::FcmError {
            error_code: "UNAVAILABLE".into(),
            status: None,
            canonical: None,
            message: None,
            retry_after_secs: Some(30),
        },
    ));
    world.subscribe(ANDROID, &fcm_tokens("later", 1)).await;
    let delivery = world.deliver(ANDROID, 3600).await;
    let before = Utc::now();
    assert_eq!(world.pipeline("node-a").step().await.unwrap(), 1);
    let messages = world
        .store()
        .messages(&delivery.id, &MessageFilter::default(), Page::default())
        .await
        .unwrap();
    assert_eq!(messages[0].status, MessageStatus::Retry);
    assert!(
        messages[0].next_attempt_at >= before + TimeDelta::seconds(30),
        "{messages:?}"
    );
    assert_eq!(
        world.pipeline("node-a").step().await.unwrap(),
        0,
        "not due before the Retry-After"
    );
}

async fn a_soft_retryable_failure_counts_on_every_attempt_until_quarantine_ends_the_retries(
    db: TestDatabase,
) {
    // fcm.quota_exceeded: Soft, retry Yes. Each attempt counts; the 5th quarantines the
    // token, and a quarantined token gets no more attempts.
    let world = World::new(db).await;
    world.script(Rule::fcm_prefix(
        "quota",
        Answer::fcm(ErrorCode::QuotaExceeded),
    ));
    let tokens = fcm_tokens("quota", 1);
    world.subscribe(ANDROID, &tokens).await;
    let done = world
        .send_to_all(ANDROID, 120, Duration::from_secs(60))
        .await;
    let messages = world
        .store()
        .messages(&done.id, &MessageFilter::default(), Page::default())
        .await
        .unwrap();
    assert_eq!(messages[0].status, MessageStatus::Failed);
    assert_eq!(messages[0].attempts, 5);
    assert!(messages[0].quarantined);
    let address = world
        .store()
        .address(ANDROID, &tokens[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(address.state.status, AddressStatus::Quarantine);
    assert_eq!(address.state.error_count, 5);
}
