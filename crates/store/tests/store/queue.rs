//! The durable queue: leases, fenced results, one transaction for results and addresses,
//! the validity period.

use std::time::Duration;

use pushgate_outcome::{FailureReason, FailureType, MessageStatus, OutcomeId};
use pushgate_quarantine::{AddressState, AddressStatus};
use pushgate_store::queue::{Claimed, Lease, MessageResult};
use pushgate_store::{
    Address, DeliveryState, Dialect, Page, Store, StoreError, Target,
    reports::{DeliverySummary, MessageFilter},
};

use crate::analysis::analyzed;
use crate::both_backends;
use crate::support::{apps, secs, t0};

const LEASE: Duration = Duration::from_secs(30);

async fn queued(store: &Store, tokens: &[&str]) -> pushgate_store::Delivery {
    apps(store).await;
    for token in tokens {
        store
            .register_subscription("ios-app", &format!("p-{token}"), token, t0(), t0())
            .await
            .unwrap();
    }
    analyzed(store, "ios-app", Target::All, false, 1000).await
}

async fn summary_of(store: &Store, delivery_id: &str) -> DeliverySummary {
    let delivery = store.delivery(delivery_id).await.unwrap().unwrap();
    store.summary(&delivery).await.unwrap()
}

/// A delivery's log: its first page of messages, unfiltered.
async fn log_of(store: &Store, delivery_id: &str) -> Vec<pushgate_store::Message> {
    store
        .messages(delivery_id, &MessageFilter::default(), Page::default())
        .await
        .unwrap()
}

/// A summary's messages: sent, failed, pending, to retry.
fn by_status(summary: &DeliverySummary) -> (i64, i64, i64, i64) {
    (summary.sent, summary.failed, summary.pending, summary.retry)
}

fn sent(claimed: &Claimed) -> MessageResult {
    let id = claimed.id;
    MessageResult {
        id,
        attempts: claimed.attempts,
        lease: claimed.lease,
        status: MessageStatus::Sent,
        next_attempt_at: None,
        provider_id: Some(format!("apns-{id}")),
        outcome_id: Some(OutcomeId::ApnsDeviceOn),
        failure_type: None,
        failure_reason: None,
        error_text: None,
        quarantined: false,
        no_answer: false,
    }
}

both_backends!(
    a_claim_leases_messages_until_the_lease_runs_out,
    a_takeover_leaves_the_claim_cursor_past_the_newer_ranges,
    a_result_is_written_only_by_the_claimer_of_that_attempt,
    results_and_addresses_commit_together_or_not_at_all,
    the_validity_period_fails_waiting_messages_but_not_those_in_flight,
    a_delivery_is_done_when_every_message_is_final,
    waiting_messages_are_past_the_cursor_in_leased_ranges_or_retries,
    a_results_transaction_claims_the_next_messages_with_its_results_or_not_at_all,
    a_checkpoint_copies_the_whole_write_ahead_log_into_the_database_file,
    a_claim_and_a_results_batch_of_any_size_keep_every_message_and_token,
    a_first_attempts_final_result_is_appended_once_and_read_as_the_messages_own,
    a_plain_success_is_read_back_as_written_beside_one_with_an_ignored_error,
    an_address_created_since_the_results_transaction_looked_is_a_conflict,
    a_late_result_of_a_range_the_validity_period_failed_is_not_written,
    a_worker_that_takes_its_own_range_back_writes_only_the_new_claims_results,
);

async fn a_claim_leases_messages_until_the_lease_runs_out(store: Store) {
    queued(&store, &["a1", "a2", "a3"]).await;
    let first = store.claim("w1", 2, LEASE, t0()).await.unwrap();
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|c| c.attempts == 1));
    let second = store.claim("w2", 10, LEASE, t0()).await.unwrap();
    assert_eq!(second.len(), 1, "leased messages are not claimed again");
    assert!(
        store
            .claim("w2", 10, LEASE, t0() + secs(29))
            .await
            .unwrap()
            .is_empty()
    );
    // The first worker died: its messages come back when the lease runs out.
    let again = store.claim("w3", 10, LEASE, t0() + secs(31)).await.unwrap();
    let mut ids: Vec<i64> = again.iter().map(|c| c.id).collect();
    ids.sort();
    let mut expected: Vec<i64> = first.iter().chain(second.iter()).map(|c| c.id).collect();
    expected.sort();
    assert_eq!(ids, expected);
    assert!(
        again.iter().all(|c| c.attempts == 1),
        "no result was written: still the first attempt"
    );
    assert!(again.iter().all(|c| matches!(c.lease, Lease::Range(_))));
    assert_eq!(store.leased_messages("w3").await.unwrap(), expected);
    assert!(store.leased_messages("w1").await.unwrap().is_empty());
}

/// The queue's invariant (module doc of `queue`): a claim leases every `Pending` message up
/// to the cursor it sets, and a takeover keeps the rest of a range as a range of its own.
/// A takeover's leases lie below the cursor: their insert (which moves the cursor of a new
/// range's delivery) must leave it past the newer ranges, or these would be claimed again
/// while their holder still sends them.
async fn a_takeover_leaves_the_claim_cursor_past_the_newer_ranges(store: Store) {
    queued(&store, &["a1", "a2", "a3", "a4", "a5"]).await;
    let older = store.claim("w1", 2, LEASE, t0()).await.unwrap();
    let newer = store.claim("w1", 2, LEASE, t0() + secs(1)).await.unwrap();
    let tokens = |claimed: &[Claimed]| {
        let mut tokens: Vec<String> = claimed.iter().map(|c| c.token.clone()).collect();
        tokens.sort();
        tokens
    };
    // The analysis queued the messages in token order, and claims take them in that order:
    // a5 is the one message that w1 never claimed.
    assert_eq!(tokens(&older), ["a1", "a2"]);
    assert_eq!(tokens(&newer), ["a3", "a4"]);
    // The older range has run out, the newer one not yet: w2 takes one message of the
    // older range over, and the other stays a range of its own.
    let ran_out = t0() + Duration::from_millis(30_500);
    let taken = store.claim("w2", 1, LEASE, ran_out).await.unwrap();
    assert_eq!(tokens(&taken), ["a1"]);
    let rest = store.claim("w3", 10, LEASE, ran_out).await.unwrap();
    let last = store.claim("w4", 10, LEASE, ran_out).await.unwrap();
    assert!(last.is_empty(), "nothing is left to claim: {last:?}");
    assert_eq!(
        tokens(&rest),
        ["a2", "a5"],
        "the rest of the older range and the one message never claimed, not the newer \
         range that w1 still holds"
    );
}

async fn a_result_is_written_only_by_the_claimer_of_that_attempt(store: Store) {
    let delivery = queued(&store, &["a1"]).await;
    let stale = store.claim("w1", 1, LEASE, t0()).await.unwrap().remove(0);
    let fresh = store
        .claim("w2", 1, LEASE, t0() + secs(31))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(fresh.id, stale.id);

    let mut tx = store.begin_results("w1").await.unwrap();
    let written = tx
        .write_results(&[sent(&stale)], t0() + secs(32))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(
        written == 0,
        "w1's lease was taken over: its result is not written"
    );

    let mut tx = store.begin_results("w2").await.unwrap();
    let written = tx
        .write_results(&[sent(&fresh)], t0() + secs(33))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(written, 1);
    let messages = log_of(&store, &delivery.id).await;
    assert_eq!(messages[0].status, MessageStatus::Sent);
    assert_eq!(messages[0].attempts, 1, "one attempt's result was written");
    assert_eq!(
        messages[0].provider_id.as_deref(),
        Some(format!("apns-{}", fresh.id).as_str())
    );
    assert!(
        store
            .claim("w3", 10, LEASE, t0() + secs(300))
            .await
            .unwrap()
            .is_empty(),
        "final messages are never claimed"
    );
}

async fn results_and_addresses_commit_together_or_not_at_all(store: Store) {
    let delivery = queued(&store, &["a1", "a2"]).await;
    let claimed = store.claim("w1", 10, LEASE, t0()).await.unwrap();
    let quarantined = Address {
        app_id: "ios-app".into(),
        token: "a1".into(),
        state: AddressState {
            status: AddressStatus::Quarantine,
            error_count: 1,
            last_failure_type: Some(FailureType::Hard),
            last_failure_reason: Some(FailureReason::UserUnknown),
            first_error_text: Some("Unregistered".into()),
            last_error_text: Some("Unregistered".into()),
            first_error_at: Some(t0()),
            last_error_at: Some(t0()),
            last_modified: t0(),
        },
        unregistered_at: Some(t0() - secs(60)),
    };
    let results: Vec<MessageResult> = claimed.iter().map(sent).collect();

    // Dropped without commit: nothing is written.
    {
        let mut tx = store.begin_results("w1").await.unwrap();
        assert!(
            tx.lock_addresses("ios-app", &["a1", "a2"])
                .await
                .unwrap()
                .is_empty()
        );
        tx.write_addresses(std::slice::from_ref(&quarantined), t0())
            .await
            .unwrap();
        tx.write_results(&results, t0()).await.unwrap();
    }
    assert!(store.address("ios-app", "a1").await.unwrap().is_none());
    let messages = log_of(&store, &delivery.id).await;
    assert!(messages.iter().all(|m| m.status == MessageStatus::Pending));

    let mut tx = store.begin_results("w1").await.unwrap();
    tx.write_addresses(std::slice::from_ref(&quarantined), t0())
        .await
        .unwrap();
    assert_eq!(tx.write_results(&results, t0()).await.unwrap(), 2);
    tx.commit().await.unwrap();
    assert_eq!(
        store.address("ios-app", "a1").await.unwrap(),
        Some(quarantined.clone())
    );
    let mut tx = store.begin_results("w1").await.unwrap();
    let locked = tx.lock_addresses("ios-app", &["a1", "a2"]).await.unwrap();
    assert_eq!(locked, vec![quarantined]);
}

async fn the_validity_period_fails_waiting_messages_but_not_those_in_flight(store: Store) {
    // quarantine-rules.md, "Retries": still undelivered when the validity period ends -> Failed.
    let delivery = queued(&store, &["a1", "a2"]).await;
    let in_flight = store
        .claim("w1", 1, Duration::from_secs(7200), t0())
        .await
        .unwrap()
        .remove(0);
    let expired_at = delivery.expires_at + secs(1);
    assert_eq!(
        store
            .expire_messages(delivery.expires_at - secs(1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.expire_messages(expired_at).await.unwrap(), 1);
    let messages = log_of(&store, &delivery.id).await;
    for message in &messages {
        if message.id == in_flight.id {
            assert_eq!(
                message.status,
                MessageStatus::Pending,
                "in flight: its worker writes the result"
            );
        } else {
            assert_eq!(message.status, MessageStatus::Failed);
            assert_eq!(
                message.error_text.as_deref(),
                Some("validity period ended before the message was sent")
            );
        }
    }
}

async fn a_delivery_is_done_when_every_message_is_final(store: Store) {
    let delivery = queued(&store, &["a1", "a2"]).await;
    let claimed = store.claim("w1", 10, LEASE, t0()).await.unwrap();
    let mut tx = store.begin_results("w1").await.unwrap();
    let mut retry = sent(&claimed[1]);
    retry.status = MessageStatus::Retry;
    retry.next_attempt_at = Some(t0() + secs(60));
    tx.write_results(&[sent(&claimed[0]), retry], t0())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.finish_complete_deliveries(t0()).await.unwrap(), 0);
    assert!(
        store
            .claim("w1", 10, LEASE, t0() + secs(59))
            .await
            .unwrap()
            .is_empty(),
        "not due yet"
    );
    let again = store.claim("w1", 10, LEASE, t0() + secs(60)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    let mut tx = store.begin_results("w1").await.unwrap();
    tx.write_results(&[sent(&again[0])], t0() + secs(61))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        store
            .finish_complete_deliveries(t0() + secs(62))
            .await
            .unwrap(),
        1
    );
    let done = store.delivery(&delivery.id).await.unwrap().unwrap();
    assert_eq!(done.state, DeliveryState::Done);
    assert_eq!(done.finished_at, Some(t0() + secs(62)));
}

/// The queue's invariant (module `queue`): a waiting message is past the claim cursor, in
/// a leased range, or a retry. The queue depth counts those three, the validity period
/// (quarantine-rules.md, "Retries") fails all but those in a running lease, and the
/// delivery is done once none is left, whatever lease rows remain.
async fn waiting_messages_are_past_the_cursor_in_leased_ranges_or_retries(store: Store) {
    let delivery = queued(&store, &["a1", "a2", "a3", "a4", "a5", "a6"]).await;
    assert_eq!(store.queue_depth().await.unwrap(), 6, "all past the cursor");
    // a1, a2: a range whose lease runs out at t0 + 30 s.
    let ran_out = store.claim("w1", 2, LEASE, t0()).await.unwrap();
    // a3: answered with a retry at t0 + 60 s; its range's row stays.
    let retried = store
        .claim("w2", 1, Duration::from_secs(7200), t0())
        .await
        .unwrap();
    let mut tx = store.begin_results("w2").await.unwrap();
    let mut retry = sent(&retried[0]);
    retry.status = MessageStatus::Retry;
    retry.next_attempt_at = Some(t0() + secs(60));
    assert_eq!(tx.write_results(&[retry], t0()).await.unwrap(), 1);
    tx.commit().await.unwrap();
    // a4: in flight until long after the validity period.
    let in_flight = store
        .claim("w3", 1, Duration::from_secs(7200), t0())
        .await
        .unwrap();
    let tokens = |claimed: &[Claimed]| claimed.iter().map(|c| c.token.clone()).collect::<Vec<_>>();
    assert_eq!(tokens(&ran_out), ["a1", "a2"]);
    assert_eq!(tokens(&retried), ["a3"]);
    assert_eq!(tokens(&in_flight), ["a4"]);
    assert_eq!(
        store.queue_depth().await.unwrap(),
        6,
        "a5, a6 past the cursor"
    );
    assert_eq!(store.finish_complete_deliveries(t0()).await.unwrap(), 0);

    let expired_at = delivery.expires_at + secs(1);
    assert_eq!(
        store.expire_messages(expired_at).await.unwrap(),
        5,
        "a1, a2 (lease ran out), a3 (retry due), a5, a6 (never claimed)"
    );
    assert_eq!(store.queue_depth().await.unwrap(), 1, "a4 in flight");
    assert_eq!(store.expire_messages(expired_at).await.unwrap(), 0);
    assert_eq!(
        store.finish_complete_deliveries(expired_at).await.unwrap(),
        0
    );
    assert!(
        store
            .claim("w4", 10, LEASE, expired_at)
            .await
            .unwrap()
            .is_empty(),
        "nothing past the cursor, nothing Pending in the range that ran out"
    );

    let mut tx = store.begin_results("w3").await.unwrap();
    assert_eq!(
        tx.write_results(&[sent(&in_flight[0])], expired_at)
            .await
            .unwrap(),
        1
    );
    tx.commit().await.unwrap();
    assert_eq!(store.queue_depth().await.unwrap(), 0);
    assert_eq!(
        store.finish_complete_deliveries(expired_at).await.unwrap(),
        1
    );
    let summary = summary_of(&store, &delivery.id).await;
    assert_eq!(by_status(&summary), (1, 5, 0, 0));
}

/// The pipeline's writer claims the next messages in the transaction that writes a batch's
/// results: both are committed together, or neither.
async fn a_results_transaction_claims_the_next_messages_with_its_results_or_not_at_all(
    store: Store,
) {
    queued(&store, &["a1", "a2", "a3", "a4"]).await;
    let first = store.claim("w1", 2, LEASE, t0()).await.unwrap();
    let results: Vec<MessageResult> = first.iter().map(sent).collect();
    let tokens = |claimed: &[Claimed]| claimed.iter().map(|c| c.token.clone()).collect::<Vec<_>>();

    let mut tx = store.begin_results("w1").await.unwrap();
    assert_eq!(tx.write_results(&results, t0()).await.unwrap(), 2);
    assert_eq!(
        tokens(&tx.claim(2, LEASE, t0()).await.unwrap()),
        ["a3", "a4"]
    );
    drop(tx);
    assert_eq!(store.queue_depth().await.unwrap(), 4, "neither written");

    let mut tx = store.begin_results("w1").await.unwrap();
    assert_eq!(tx.write_results(&results, t0()).await.unwrap(), 2);
    let next = tx.claim(10, LEASE, t0()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(tokens(&next), ["a3", "a4"]);
    assert!(
        next.iter()
            .all(|c| c.attempts == 1 && matches!(c.lease, Lease::Range(_)))
    );
    assert!(
        store.claim("w2", 10, LEASE, t0()).await.unwrap().is_empty(),
        "w1 holds them"
    );
    let mut tx = store.begin_results("w1").await.unwrap();
    let results: Vec<MessageResult> = next.iter().map(sent).collect();
    assert_eq!(tx.write_results(&results, t0()).await.unwrap(), 2);
    tx.commit().await.unwrap();
    assert_eq!(store.queue_depth().await.unwrap(), 0);
}

/// SQLite's write-ahead log is checkpointed from a read connection, off the write
/// connection's path; PostgreSQL has nothing of the kind to do.
async fn a_checkpoint_copies_the_whole_write_ahead_log_into_the_database_file(store: Store) {
    queued(&store, &["a1", "a2", "a3"]).await;
    let checkpoint = store.checkpoint().await.unwrap();
    match store.dialect() {
        Dialect::Sqlite => {
            let checkpoint = checkpoint.expect("SQLite checkpoints");
            assert!(checkpoint.log_frames > 0, "{checkpoint:?}");
            assert_eq!(checkpoint.checkpointed_frames, checkpoint.log_frames);
        }
        Dialect::Postgres => assert_eq!(checkpoint, None),
    }
}

/// Claims read their messages as one JSON value and SQLite writes results in statements of
/// a few fixed sizes: a batch of an odd size, with tokens JSON must escape, comes back and
/// is written whole, each result on its own message.
async fn a_claim_and_a_results_batch_of_any_size_keep_every_message_and_token(store: Store) {
    let mut tokens: Vec<String> = (0..343).map(|i| format!("token-{i:03}")).collect();
    tokens.push("quote\"back\\slash".into());
    tokens.push("ünïcödé\u{1F600}\ttab".into());
    let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
    let delivery = queued(&store, &refs).await;

    let claimed = store.claim("w1", 1000, LEASE, t0()).await.unwrap();
    let mut claimed_tokens: Vec<&str> = claimed.iter().map(|c| c.token.as_str()).collect();
    claimed_tokens.sort_unstable();
    let mut expected = refs.clone();
    expected.sort_unstable();
    assert_eq!(claimed_tokens, expected);
    assert!(claimed.windows(2).all(|w| w[0].id < w[1].id), "in id order");

    let results: Vec<MessageResult> = claimed.iter().map(sent).collect();
    let mut tx = store.begin_results("w1").await.unwrap();
    assert_eq!(tx.write_results(&results, t0()).await.unwrap(), 345);
    tx.commit().await.unwrap();
    let messages = store
        .messages(
            &delivery.id,
            &MessageFilter::default(),
            Page {
                limit: 1000,
                ..Page::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(messages.len(), 345);
    for message in &messages {
        assert_eq!(message.status, MessageStatus::Sent, "{}", message.token);
        assert_eq!(
            message.provider_id.as_deref(),
            Some(format!("apns-{}", message.id).as_str()),
            "each result lands on its own message"
        );
    }
}

/// The final result of a first attempt (on SQLite appended to `message_results` instead of
/// written over the message) is written once, never retried or taken over again, and read
/// back by the queue and the reports as the message's status, beside results that a retry
/// wrote over its message.
async fn a_first_attempts_final_result_is_appended_once_and_read_as_the_messages_own(store: Store) {
    let delivery = queued(&store, &["a1", "a2", "a3"]).await;
    let claimed = store.claim("w1", 3, LEASE, t0()).await.unwrap();
    assert_eq!(claimed.len(), 3);
    let failed = |claimed: &Claimed, quarantined: bool| MessageResult {
        status: MessageStatus::Failed,
        outcome_id: Some(OutcomeId::ApnsUnregistered),
        failure_type: Some(FailureType::Hard),
        failure_reason: Some(FailureReason::UserUnknown),
        error_text: Some(format!("unregistered {}", claimed.token)),
        quarantined,
        ..sent(claimed)
    };
    let mut retry = sent(&claimed[2]);
    retry.status = MessageStatus::Retry;
    retry.next_attempt_at = Some(t0() + secs(60));
    let mut tx = store.begin_results("w1").await.unwrap();
    let results = [sent(&claimed[0]), failed(&claimed[1], true), retry.clone()];
    assert_eq!(tx.write_results(&results, t0()).await.unwrap(), 3);
    tx.commit().await.unwrap();

    // A second result for a1, final or to retry, is not written.
    let mut again = sent(&claimed[0]);
    again.provider_id = Some("late".into());
    let mut late_retry = sent(&claimed[0]);
    late_retry.status = MessageStatus::Retry;
    let mut tx = store.begin_results("w1").await.unwrap();
    assert_eq!(
        tx.write_results(&[again, late_retry], t0()).await.unwrap(),
        0
    );
    tx.commit().await.unwrap();

    // w1's range runs out: a1 and a2 have their results, a3 waits for its retry.
    assert!(
        store
            .claim("w2", 10, LEASE, t0() + secs(31))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.queue_depth().await.unwrap(), 1, "a3, to retry");
    assert_eq!(store.expire_messages(t0() + secs(31)).await.unwrap(), 0);
    assert_eq!(
        store.leased_messages("w1").await.unwrap(),
        Vec::<i64>::new()
    );

    let messages = log_of(&store, &delivery.id).await;
    let states: Vec<_> = messages
        .iter()
        .map(|m| {
            (
                m.token.as_str(),
                m.status,
                m.attempts,
                m.provider_id.clone(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            (
                "a1",
                MessageStatus::Sent,
                1,
                Some(format!("apns-{}", claimed[0].id))
            ),
            (
                "a2",
                MessageStatus::Failed,
                1,
                Some(format!("apns-{}", claimed[1].id))
            ),
            (
                "a3",
                MessageStatus::Retry,
                1,
                Some(format!("apns-{}", claimed[2].id))
            ),
        ]
    );
    assert_eq!(messages[1].failure_reason, Some(FailureReason::UserUnknown));
    assert_eq!(messages[1].error_text.as_deref(), Some("unregistered a2"));
    assert!(messages[1].quarantined);
    let failed_only = store
        .messages(
            &delivery.id,
            &MessageFilter {
                status: Some(MessageStatus::Failed),
                ..MessageFilter::default()
            },
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        failed_only.len(),
        1,
        "the status filter reads appended results"
    );

    // a3's retry fails the same way: its result is written over its message.
    let retried = store.claim("w2", 10, LEASE, t0() + secs(61)).await.unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!((retried[0].lease, retried[0].attempts), (Lease::Message, 2));
    let mut tx = store.begin_results("w2").await.unwrap();
    let result = failed(&retried[0], false);
    assert_eq!(
        tx.write_results(&[result], t0() + secs(61)).await.unwrap(),
        1
    );
    tx.commit().await.unwrap();
    assert_eq!(
        store
            .finish_complete_deliveries(t0() + secs(61))
            .await
            .unwrap(),
        1
    );
    let summary = summary_of(&store, &delivery.id).await;
    assert_eq!(by_status(&summary), (1, 2, 0, 0));
    assert_eq!(summary.quarantined_after_sending, 1);
    assert_eq!(summary.failed_by_type_and_reason.len(), 1);
    let failures = &summary.failed_by_type_and_reason[0];
    assert_eq!(
        (
            failures.failure_type,
            failures.failure_reason,
            failures.count
        ),
        (Some(FailureType::Hard), Some(FailureReason::UserUnknown), 2),
        "one failure appended, one written over its message"
    );
    let non_deliverables = store.non_deliverables("ios-app", None, None).await.unwrap();
    assert_eq!(
        non_deliverables
            .iter()
            .map(|n| (n.failed, n.quarantined))
            .collect::<Vec<_>>(),
        [(2, 1)]
    );
}

/// A plain success (on SQLite appended with only the values that differ from the others')
/// is read back with every field as it was written, with or without a provider id, beside
/// a success that is not plain (an allowlisted address's ignored error, reason 25) in the
/// same batch; each is written once.
async fn a_plain_success_is_read_back_as_written_beside_one_with_an_ignored_error(store: Store) {
    let delivery = queued(&store, &["a1", "a2", "a3"]).await;
    let claimed = store.claim("w1", 3, LEASE, t0()).await.unwrap();
    assert_eq!(claimed.len(), 3);
    let without_id = MessageResult {
        provider_id: None,
        outcome_id: None,
        ..sent(&claimed[1])
    };
    let ignored = MessageResult {
        outcome_id: Some(OutcomeId::ApnsUnregistered),
        failure_type: Some(FailureType::Ignored),
        failure_reason: Some(FailureReason::ErrorIgnored),
        error_text: Some("unregistered, ignored".into()),
        ..sent(&claimed[2])
    };
    let written_at = t0() + secs(5);
    let mut tx = store.begin_results("w1").await.unwrap();
    let results = [sent(&claimed[0]), without_id, ignored];
    assert_eq!(tx.write_results(&results, written_at).await.unwrap(), 3);
    tx.commit().await.unwrap();
    let mut tx = store.begin_results("w1").await.unwrap();
    assert_eq!(
        tx.write_results(&results, written_at).await.unwrap(),
        0,
        "each is written once"
    );
    tx.commit().await.unwrap();

    let messages = log_of(&store, &delivery.id).await;
    let read: Vec<_> = messages
        .iter()
        .map(|m| {
            (
                m.token.as_str(),
                m.status,
                m.attempts,
                m.provider_id.clone(),
                m.outcome_id,
                m.failure_type,
                m.failure_reason,
                m.error_text.clone(),
                m.quarantined,
                m.updated_at,
            )
        })
        .collect();
    let sent_as = |token, provider_id, outcome_id| {
        (
            token,
            MessageStatus::Sent,
            1,
            provider_id,
            outcome_id,
            None,
            None,
            None,
            false,
            written_at,
        )
    };
    assert_eq!(
        read,
        [
            sent_as(
                "a1",
                Some(format!("apns-{}", claimed[0].id)),
                Some(OutcomeId::ApnsDeviceOn)
            ),
            sent_as("a2", None, None),
            (
                "a3",
                MessageStatus::Sent,
                1,
                Some(format!("apns-{}", claimed[2].id)),
                Some(OutcomeId::ApnsUnregistered),
                Some(FailureType::Ignored),
                Some(FailureReason::ErrorIgnored),
                Some("unregistered, ignored".to_owned()),
                false,
                written_at,
            ),
        ]
    );
    assert_eq!(
        by_status(&summary_of(&store, &delivery.id).await),
        (3, 0, 0, 0)
    );
}

async fn an_address_created_since_the_results_transaction_looked_is_a_conflict(store: Store) {
    // "How a failure moves an address": a new state is computed from the current one. A
    // results transaction writes over the rows it locked, and creates the others only if
    // nobody did meanwhile: otherwise it fails, writes nothing, and is tried again.
    apps(&store).await;
    let with_errors = |token: &str, count: u32| {
        let mut state = AddressState::valid(t0());
        state.status = AddressStatus::WithErrors;
        state.error_count = count;
        state.last_failure_type = Some(FailureType::Soft);
        Address {
            app_id: "ios-app".into(),
            token: token.into(),
            state,
            unregistered_at: None,
        }
    };
    store
        .put_address(&with_errors("a1", 1), t0())
        .await
        .unwrap();
    {
        // This transaction did not find "a1" (it looked only for "a2").
        let mut tx = store.begin_results("w1").await.unwrap();
        assert!(
            tx.lock_addresses("ios-app", &["a2"])
                .await
                .unwrap()
                .is_empty()
        );
        let error = tx
            .write_addresses(&[with_errors("a2", 1), with_errors("a1", 1)], t0())
            .await
            .unwrap_err();
        assert!(matches!(error, StoreError::Conflict(_)), "{error:?}");
    }
    assert_eq!(
        store.address("ios-app", "a1").await.unwrap(),
        Some(with_errors("a1", 1))
    );
    assert_eq!(store.address("ios-app", "a2").await.unwrap(), None);

    // Found, it is written over.
    let mut tx = store.begin_results("w1").await.unwrap();
    assert_eq!(
        tx.lock_addresses("ios-app", &["a1"]).await.unwrap().len(),
        1
    );
    tx.write_addresses(&[with_errors("a1", 2)], t0())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        store.address("ios-app", "a1").await.unwrap(),
        Some(with_errors("a1", 2))
    );

    if store.dialect() == Dialect::Postgres {
        // Two transactions side by side both find "a3" absent: the second to write it
        // waits for the first, then fails instead of writing over its count.
        let mut first = store.begin_results("w1").await.unwrap();
        let mut second = store.begin_results("w2").await.unwrap();
        assert!(
            first
                .lock_addresses("ios-app", &["a3"])
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            second
                .lock_addresses("ios-app", &["a3"])
                .await
                .unwrap()
                .is_empty()
        );
        first
            .write_addresses(&[with_errors("a3", 1)], t0())
            .await
            .unwrap();
        let waiting =
            tokio::spawn(
                async move { second.write_addresses(&[with_errors("a3", 1)], t0()).await },
            );
        first.commit().await.unwrap();
        let error = waiting.await.unwrap().unwrap_err();
        assert!(matches!(error, StoreError::Conflict(_)), "{error:?}");
    }
}

async fn a_late_result_of_a_range_the_validity_period_failed_is_not_written(store: Store) {
    // quarantine-rules.md, "Retries": still undelivered when the validity period ends ->
    // Failed; a worker whose lease ran out meanwhile must not turn it back into Sent.
    let delivery = queued(&store, &["a1", "a2"]).await;
    let claimed = store.claim("w1", 10, LEASE, t0()).await.unwrap();
    let after = delivery.expires_at.max(t0() + secs(30)) + secs(1);
    assert_eq!(store.expire_messages(after).await.unwrap(), 2);

    let mut tx = store.begin_results("w1").await.unwrap();
    let results: Vec<MessageResult> = claimed.iter().map(sent).collect();
    let written = tx.write_results(&results, after + secs(1)).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        written, 0,
        "the range's messages were failed: its lease is gone"
    );
    let messages = log_of(&store, &delivery.id).await;
    assert_eq!(messages.len(), 2);
    for message in &messages {
        assert_eq!(message.status, MessageStatus::Failed, "{message:?}");
        assert_eq!(message.provider_id, None, "{message:?}");
    }
    assert_eq!(
        by_status(&summary_of(&store, &delivery.id).await),
        (0, 2, 0, 0)
    );
}

async fn a_worker_that_takes_its_own_range_back_writes_only_the_new_claims_results(store: Store) {
    let delivery = queued(&store, &["a1", "a2"]).await;
    let stale = store.claim("w1", 10, LEASE, t0()).await.unwrap();
    // The same worker finds its own range run out and claims it again: a new claim.
    let fresh = store.claim("w1", 10, LEASE, t0() + secs(31)).await.unwrap();
    assert_eq!(
        fresh.iter().map(|c| c.id).collect::<Vec<_>>(),
        stale.iter().map(|c| c.id).collect::<Vec<_>>()
    );
    assert_ne!(
        fresh[0].lease, stale[0].lease,
        "a takeover is a lease of its own"
    );

    // The new claim's first message is retried; the old claim's results come in late.
    let mut retry = sent(&fresh[0]);
    retry.status = MessageStatus::Retry;
    retry.next_attempt_at = Some(t0() + secs(90));
    let mut tx = store.begin_results("w1").await.unwrap();
    assert_eq!(
        tx.write_results(&[retry], t0() + secs(32)).await.unwrap(),
        1
    );
    let results: Vec<MessageResult> = stale.iter().map(sent).collect();
    assert_eq!(
        tx.write_results(&results, t0() + secs(33)).await.unwrap(),
        0,
        "the old claim's results are not written"
    );
    assert_eq!(
        tx.write_results(&[sent(&fresh[1])], t0() + secs(34))
            .await
            .unwrap(),
        1
    );
    tx.commit().await.unwrap();
    assert_eq!(
        by_status(&summary_of(&store, &delivery.id).await),
        (1, 0, 0, 1)
    );
    let messages = log_of(&store, &delivery.id).await;
    let retried = messages.iter().find(|m| m.id == fresh[0].id).unwrap();
    assert_eq!(retried.status, MessageStatus::Retry);
}
