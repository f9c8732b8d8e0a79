//! Synchronous quarantine: each send's outcome moves its token's address in the same
//! transaction that records the message (`quarantine-rules.md`, "How a failure moves an
//! address").

use std::time::Duration;

use chrono::{DateTime, Utc};
use pushgate_dispatch::pipeline::PipelineConfig;
use pushgate_mocks::{Answer, Rule};
use pushgate_outcome::{FailureReason, FailureType, MessageStatus, OutcomeId};
use pushgate_quarantine::{AddressState, AddressStatus};
use pushgate_store::reports::MessageFilter;
use pushgate_store::testing::TestDatabase;
use pushgate_store::{Address, ExclusionKind, Page};
use tokio_util::sync::CancellationToken;

use crate::both_backends;
use crate::support::*;

both_backends!(
    apns_unregistered_quarantines_the_token_at_once_with_its_410_timestamp,
    fcm_unregistered_quarantines_the_token_at_once,
    soft_failures_count_and_quarantine_at_the_threshold_then_the_token_is_excluded,
    a_success_sets_with_errors_back_to_valid,
    an_allowlisted_token_ignores_errors_with_reason_25,
    ignored_failures_leave_the_address_alone,
    soft_failures_of_deliveries_written_side_by_side_each_count_once,
);

async fn apns_unregistered_quarantines_the_token_at_once_with_its_410_timestamp(db: TestDatabase) {
    let world = World::new(db).await;
    let gone = DateTime::<Utc>::from_timestamp_millis(1_700_000_000_123).unwrap();
    world.script(Rule::apns_prefix(
        "dead",
        Answer::ApnsError {
            status: 410,
            reason: "Unregistered".into(),
            timestamp: Some(gone.timestamp_millis()),
            retry_after_secs: None,
        },
    ));
    let mut tokens = apns_tokens("dead", 10);
    tokens.extend(apns_tokens("beef", 10));
    world.subscribe(IOS, &tokens).await;
    let done = world.send_to_all(IOS, 3600, Duration::from_secs(30)).await;
    let summary = world.store().summary(&done).await.unwrap();
    assert_eq!(
        (
            summary.sent,
            summary.failed,
            summary.quarantined_after_sending
        ),
        (10, 10, 10)
    );
    for token in &tokens[..10] {
        let address = world
            .store()
            .address(IOS, token)
            .await
            .unwrap()
            .expect("quarantined");
        assert_eq!(address.state.status, AddressStatus::Quarantine);
        assert_eq!(address.state.last_failure_type, Some(FailureType::Hard));
        assert_eq!(
            address.state.last_failure_reason,
            Some(FailureReason::UserUnknown)
        );
        assert_eq!(
            address.state.last_error_text.as_deref(),
            Some("Unregistered")
        );
        assert_eq!(address.unregistered_at, Some(gone));
    }
    assert!(
        world
            .store()
            .address(IOS, &tokens[10])
            .await
            .unwrap()
            .is_none(),
        "a success writes no address"
    );
    let failed = MessageFilter {
        outcome_id: Some(OutcomeId::ApnsUnregistered),
        ..MessageFilter::default()
    };
    let messages = world
        .store()
        .messages(&done.id, &failed, Page::default())
        .await
        .unwrap();
    assert_eq!(messages.len(), 10);
    assert!(
        messages
            .iter()
            .all(|m| m.quarantined && m.status == MessageStatus::Failed)
    );
}

async fn fcm_unregistered_quarantines_the_token_at_once(db: TestDatabase) {
    let world = World::new(db).await;
    world.script(Rule::fcm_prefix(
        "gone",
        Answer::fcm(pushgate_outcome::fcm::ErrorCode::Unregistered),
    ));
    let tokens = fcm_tokens("gone", 5);
    world.subscribe(ANDROID, &tokens).await;
    let delivery = world.deliver(ANDROID, 3600).await;
    world
        .run_until_done(
            &world.pipeline("node-a"),
            &delivery,
            Duration::from_secs(30),
        )
        .await;
    for token in &tokens {
        let address = world
            .store()
            .address(ANDROID, token)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(address.state.status, AddressStatus::Quarantine);
        assert_eq!(
            address.state.last_error_text.as_deref(),
            Some("UNREGISTERED")
        );
    }
}

async fn soft_failures_count_and_quarantine_at_the_threshold_then_the_token_is_excluded(
    db: TestDatabase,
) {
    // SENDER_ID_MISMATCH is Soft (no retry): one count per delivery; the 5th quarantines,
    // and the 6th delivery's analysis excludes the token (reason 9).
    let world = World::new(db).await;
    world.script(Rule::fcm_prefix(
        "soft",
        Answer::fcm(pushgate_outcome::fcm::ErrorCode::SenderIdMismatch),
    ));
    let tokens = fcm_tokens("soft", 1);
    world.subscribe(ANDROID, &tokens).await;
    let pipeline = world.pipeline("node-a");
    for n in 1..=5u32 {
        let delivery = world.deliver(ANDROID, 3600).await;
        world
            .run_until_done(&pipeline, &delivery, Duration::from_secs(30))
            .await;
        let address = world
            .store()
            .address(ANDROID, &tokens[0])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(address.state.error_count, n);
        let expected = if n < 5 {
            AddressStatus::WithErrors
        } else {
            AddressStatus::Quarantine
        };
        assert_eq!(address.state.status, expected, "after {n} soft failures");
    }
    let sixth = world.deliver(ANDROID, 3600).await;
    let summary = world.store().summary(&sixth).await.unwrap();
    assert_eq!(summary.excluded_by_reason.len(), 1);
    assert_eq!(
        summary.excluded_by_reason[0].kind,
        ExclusionKind::QuarantinedAddress
    );
    assert_eq!(summary.quarantined_during_analysis, 1);
}

async fn a_success_sets_with_errors_back_to_valid(db: TestDatabase) {
    let world = World::new(db).await;
    let token = apns_tokens("c0", 1).remove(0);
    world.subscribe(IOS, std::slice::from_ref(&token)).await;
    let mut state = AddressState::valid(t0());
    state.status = AddressStatus::WithErrors;
    state.error_count = 3;
    state.first_error_at = Some(Utc::now());
    state.last_error_at = Some(Utc::now());
    state.last_failure_type = Some(FailureType::Soft);
    world
        .store()
        .put_address(
            &Address {
                app_id: IOS.into(),
                token: token.clone(),
                state,
                unregistered_at: None,
            },
            Utc::now(),
        )
        .await
        .unwrap();
    let delivery = world.deliver(IOS, 3600).await;
    world
        .run_until_done(
            &world.pipeline("node-a"),
            &delivery,
            Duration::from_secs(30),
        )
        .await;
    let address = world.store().address(IOS, &token).await.unwrap().unwrap();
    assert_eq!(address.state.status, AddressStatus::Valid);
    assert_eq!(address.state.error_count, 0);
}

async fn an_allowlisted_token_ignores_errors_with_reason_25(db: TestDatabase) {
    let world = World::new(db).await;
    world.script(Rule::apns_prefix("a110", Answer::apns(410, "Unregistered")));
    let token = apns_tokens("a110", 1).remove(0);
    world.subscribe(IOS, std::slice::from_ref(&token)).await;
    let mut state = AddressState::valid(t0());
    state.status = AddressStatus::Allowlisted;
    let allowlisted = Address {
        app_id: IOS.into(),
        token: token.clone(),
        state,
        unregistered_at: None,
    };
    world.store().put_address(&allowlisted, t0()).await.unwrap();
    let done = world.send_to_all(IOS, 3600, Duration::from_secs(30)).await;
    assert_eq!(
        world.store().address(IOS, &token).await.unwrap().unwrap(),
        allowlisted,
        "unchanged"
    );
    let messages = world
        .store()
        .messages(&done.id, &MessageFilter::default(), Page::default())
        .await
        .unwrap();
    assert_eq!(messages[0].status, MessageStatus::Failed);
    assert_eq!(messages[0].outcome_id, Some(OutcomeId::ApnsUnregistered));
    assert_eq!(
        messages[0].failure_reason,
        Some(FailureReason::ErrorIgnored)
    );
    assert!(!messages[0].quarantined);
}

async fn ignored_failures_leave_the_address_alone(db: TestDatabase) {
    // INVALID_ARGUMENT is Ignored (no retry): the message fails, the address is untouched.
    let world = World::new(db).await;
    world.script(Rule::fcm_prefix(
        "ign",
        Answer::fcm(pushgate_outcome::fcm::ErrorCode::InvalidArgument),
    ));
    let tokens = fcm_tokens("ign", 3);
    world.subscribe(ANDROID, &tokens).await;
    let done = world
        .send_to_all(ANDROID, 3600, Duration::from_secs(30))
        .await;
    assert_eq!(world.store().summary(&done).await.unwrap().failed, 3);
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

async fn soft_failures_of_deliveries_written_side_by_side_each_count_once(db: TestDatabase) {
    // "How a failure moves an address": each counted soft failure adds one to the error
    // count. Three deliveries to the same tokens at once, their results in batches of 20
    // written by four transactions side by side on PostgreSQL (one at a time on SQLite):
    // the transactions lock a token's address in turn, so no count is lost.
    // The queue's upkeep never runs: each delivery is closed by the transaction that wrote
    // its last result (beside others, right after its commit, when it sees all of them).
    let world = World::new(db).await;
    world.script(Rule::fcm_prefix(
        "side",
        Answer::fcm(pushgate_outcome::fcm::ErrorCode::SenderIdMismatch),
    ));
    let tokens = fcm_tokens("side", 400);
    world.subscribe(ANDROID, &tokens).await;
    let mut deliveries = Vec::new();
    for _ in 0..3 {
        deliveries.push(world.deliver(ANDROID, 3600).await);
    }
    let config = PipelineConfig {
        write_batch: 20,
        result_writers: 4,
        maintenance_interval_ms: 3_600_000,
        ..test_config()
    };
    let pipeline = world.pipeline_with(
        "node-a",
        config,
        fast_retries(),
        std::sync::Arc::new(pushgate_dispatch::clock::SystemClock),
    );
    let cancel = CancellationToken::new();
    let running = tokio::spawn({
        let (pipeline, cancel) = (pipeline.clone(), cancel.clone());
        async move { pipeline.run(cancel).await }
    });
    for delivery in &deliveries {
        let done = wait_done(world.store(), &delivery.id, Duration::from_secs(60)).await;
        let summary = world.store().summary(&done).await.unwrap();
        assert_eq!((summary.sent, summary.failed), (0, 400));
    }
    cancel.cancel();
    running.await.unwrap().unwrap();
    // Each of the 1,200 messages was answered once.
    let answered = world
        .mocks
        .stats()
        .status_count(pushgate_mocks::Service::Fcm, 403);
    assert_eq!(answered, 1200);
    for token in &tokens {
        let address = world
            .store()
            .address(ANDROID, token)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(address.state.error_count, 3, "{token}");
        assert_eq!(address.state.status, AddressStatus::WithErrors, "{token}");
    }
    assert!(
        world
            .store()
            .leased_messages("node-a")
            .await
            .unwrap()
            .is_empty()
    );
    // Each range's results were split over several transactions: whichever committed the
    // last of them released the range, so no lease is left to drop.
    assert_eq!(world.store().drop_finished_leases().await.unwrap(), 0);
}
