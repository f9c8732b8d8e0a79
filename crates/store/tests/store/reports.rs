//! Reports: the delivery summary, message and exclusion logs, non-deliverables, a profile's
//! history.

use std::time::Duration;

use pushgate_outcome::{FailureReason, FailureType, MessageStatus, OutcomeId};
use pushgate_store::queue::MessageResult;
use pushgate_store::reports::{ExclusionFilter, MessageFilter};
use pushgate_store::{Dialect, ExclusionKind, Page, Store, Target};

use crate::analysis::{analyze, analyzed, new_delivery};
use crate::both_backends;
use crate::subscriptions::unregistered;
use crate::support::{TestDb, apps, migrate_again, subscribe, t0};

/// A delivery to five tokens (one excluded as quarantined), then: one sent, one failed
/// and quarantined (unregistered), one failed soft, one retrying.
async fn delivered(store: &Store) -> pushgate_store::Delivery {
    apps(store).await;
    for token in ["s1", "u1", "f1", "r1", "q1"] {
        store
            .register_subscription("android-app", &format!("p-{token}"), token, t0(), t0())
            .await
            .unwrap();
    }
    store
        .put_address(&unregistered("android-app", "q1", t0(), None), t0())
        .await
        .unwrap();
    let delivery = analyzed(store, "android-app", Target::All, false, 1000).await;
    let claimed = store
        .claim("w", 10, Duration::from_secs(30), t0())
        .await
        .unwrap();
    let results: Vec<MessageResult> = claimed
        .iter()
        .map(|c| {
            let (status, outcome, failure_type, reason, quarantined) = match c.token.as_str() {
                "s1" => (MessageStatus::Sent, None, None, None, false),
                "u1" => (
                    MessageStatus::Failed,
                    Some(OutcomeId::FcmUnregistered),
                    Some(FailureType::Hard),
                    Some(FailureReason::UserUnknown),
                    true,
                ),
                "f1" => (
                    MessageStatus::Failed,
                    Some(OutcomeId::FcmSenderIdMismatch),
                    Some(FailureType::Soft),
                    Some(FailureReason::UserUnknown),
                    false,
                ),
                _ => (
                    MessageStatus::Retry,
                    Some(OutcomeId::FcmUnavailable),
                    Some(FailureType::Ignored),
                    Some(FailureReason::Refused),
                    false,
                ),
            };
            MessageResult {
                id: c.id,
                attempts: c.attempts,
                lease: c.lease,
                status,
                next_attempt_at: (status == MessageStatus::Retry)
                    .then(|| t0() + chrono::TimeDelta::seconds(30)),
                provider_id: None,
                outcome_id: outcome,
                failure_type,
                failure_reason: reason,
                error_text: outcome.map(|o| o.as_str().to_owned()),
                quarantined,
                no_answer: false,
            }
        })
        .collect();
    let mut tx = store.begin_results("w").await.unwrap();
    tx.write_results(&results, t0()).await.unwrap();
    tx.commit().await.unwrap();
    delivery
}

both_backends!(
    the_delivery_summary_counts_every_fate_and_both_kinds_of_quarantine,
    message_and_exclusion_logs_page_and_filter,
    non_deliverables_break_failures_down_by_platform_type_and_reason,
    a_profile_history_has_its_messages_and_exclusions,
    a_profile_history_has_the_messages_of_a_delivery_while_and_after_it_is_analysed,
);

// Migration 0007 on a database that has messages: it needs the database itself (to undo
// the migration), not only its store.
both_backends!(databases: migration_0007_indexes_by_profile_the_messages_of_deliveries_already_analysed);

// Deliveries whose messages lie in different blocks of message ids: the database is needed
// to move the next message id on.
both_backends!(
    databases: a_profile_history_reads_every_block_of_message_ids,
    migration_0012_puts_the_entries_there_in_the_block_of_their_delivery,
);

async fn the_delivery_summary_counts_every_fate_and_both_kinds_of_quarantine(store: Store) {
    // quarantine-rules.md, "Reports", delivery summary: targeted, excluded (by reason), sent,
    // failed (by type and reason), quarantined during analysis vs after sending.
    let delivery = delivered(&store).await;
    let summary = store.summary(&delivery).await.unwrap();
    assert_eq!(summary.targeted, 5);
    assert_eq!(summary.excluded, 1);
    assert_eq!(summary.excluded_by_reason.len(), 1);
    assert_eq!(
        summary.excluded_by_reason[0].kind,
        ExclusionKind::QuarantinedAddress
    );
    assert_eq!(
        summary.excluded_by_reason[0].reason,
        FailureReason::QuarantinedAddress
    );
    assert_eq!(
        (
            summary.sent,
            summary.failed,
            summary.retry,
            summary.pending,
            summary.planned
        ),
        (1, 2, 1, 0, 0)
    );
    assert_eq!(summary.quarantined_during_analysis, 1);
    assert_eq!(summary.quarantined_after_sending, 1);
    let mut failed: Vec<_> = summary
        .failed_by_type_and_reason
        .iter()
        .map(|f| (f.failure_type, f.failure_reason, f.count))
        .collect();
    failed.sort_by_key(|f| format!("{f:?}"));
    assert_eq!(
        failed,
        vec![
            (Some(FailureType::Hard), Some(FailureReason::UserUnknown), 1),
            (Some(FailureType::Soft), Some(FailureReason::UserUnknown), 1),
        ]
    );
}

async fn message_and_exclusion_logs_page_and_filter(store: Store) {
    let delivery = delivered(&store).await;
    let all = store
        .messages(
            &delivery.id,
            &MessageFilter::default(),
            Page { after: 0, limit: 2 },
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let rest = store
        .messages(
            &delivery.id,
            &MessageFilter::default(),
            Page {
                after: all[1].id,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.len(), 2);
    let failed = MessageFilter {
        status: Some(MessageStatus::Failed),
        ..MessageFilter::default()
    };
    assert_eq!(
        store
            .messages(&delivery.id, &failed, Page::default())
            .await
            .unwrap()
            .len(),
        2
    );
    let unregistered = MessageFilter {
        outcome_id: Some(OutcomeId::FcmUnregistered),
        ..MessageFilter::default()
    };
    let found = store
        .messages(&delivery.id, &unregistered, Page::default())
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].token, "u1");
    assert!(found[0].quarantined);

    let by_reason = ExclusionFilter {
        reason: Some(FailureReason::QuarantinedAddress),
        ..ExclusionFilter::default()
    };
    let exclusions = store
        .exclusions("android-app", &by_reason, Page::default())
        .await
        .unwrap();
    assert_eq!(exclusions.len(), 1);
    assert_eq!(exclusions[0].token.as_deref(), Some("q1"));
    let twice = ExclusionFilter {
        reason: Some(FailureReason::Twice),
        ..ExclusionFilter::default()
    };
    assert!(
        store
            .exclusions("android-app", &twice, Page::default())
            .await
            .unwrap()
            .is_empty()
    );
    let later = ExclusionFilter {
        from: Some(t0() + chrono::TimeDelta::seconds(1)),
        ..ExclusionFilter::default()
    };
    assert!(
        store
            .exclusions("android-app", &later, Page::default())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .exclusions("ios-app", &ExclusionFilter::default(), Page::default())
            .await
            .unwrap()
            .is_empty(),
        "other apps see nothing"
    );
}

async fn non_deliverables_break_failures_down_by_platform_type_and_reason(store: Store) {
    delivered(&store).await;
    let mut rows = store
        .non_deliverables("android-app", None, None)
        .await
        .unwrap();
    rows.sort_by_key(|r| format!("{:?}", r.failure_type));
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (
            rows[0].platform.as_str(),
            rows[0].failure_type,
            rows[0].failed,
            rows[0].quarantined
        ),
        ("android", Some(FailureType::Hard), 1, 1)
    );
    assert_eq!(
        (rows[1].failure_type, rows[1].failed, rows[1].quarantined),
        (Some(FailureType::Soft), 1, 0)
    );
    assert!(
        store
            .non_deliverables("ios-app", None, None)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_profile_history_has_its_messages_and_exclusions(store: Store) {
    // quarantine-rules.md, "Reports", per profile: every message, whether it failed, whether a
    // token was quarantined during analysis.
    delivered(&store).await;
    let history = store
        .profile_history("android-app", "p-u1", 100)
        .await
        .unwrap();
    assert_eq!(history.messages.len(), 1);
    assert_eq!(history.messages[0].status, MessageStatus::Failed);
    assert!(history.exclusions.is_empty());
    let history = store
        .profile_history("android-app", "p-q1", 100)
        .await
        .unwrap();
    assert!(history.messages.is_empty());
    assert_eq!(history.exclusions.len(), 1);
    assert_eq!(
        history.exclusions[0].kind,
        ExclusionKind::QuarantinedAddress
    );
    assert!(
        store
            .profile_history("ios-app", "p-u1", 100)
            .await
            .unwrap()
            .messages
            .is_empty()
    );
}

async fn a_profile_history_has_the_messages_of_a_delivery_while_and_after_it_is_analysed(
    store: Store,
) {
    // quarantine-rules.md, "Reports", per profile: every message. A delivery's messages
    // enter the profiles' index when its analysis ends; before, the history reads them from
    // the delivery, and no message shows twice, before, at or after the end.
    apps(&store).await;
    subscribe(
        &store,
        "android-app",
        &[("p-a", "a1"), ("p-a", "a2"), ("p-b", "b1"), ("p-c", "c1")],
    )
    .await;
    // The same profile name in another app is another profile.
    store
        .register_subscription("ios-app", "p-a", "i1", t0(), t0())
        .await
        .unwrap();
    let history_tokens = |store: Store| async move {
        let history = store
            .profile_history("android-app", "p-a", 100)
            .await
            .unwrap();
        let ids: Vec<i64> = history.messages.iter().map(|m| m.id).collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        sorted.dedup();
        assert_eq!(ids, sorted, "newest first, each message once");
        history
            .messages
            .into_iter()
            .map(|m| m.token)
            .collect::<Vec<_>>()
    };
    let first = analyzed(&store, "android-app", Target::All, false, 1000).await;
    assert_eq!(history_tokens(store.clone()).await, ["a2", "a1"]);

    // A second delivery, analysed in batches of two (token order: a1 a2 | b1 c1).
    let second = store
        .create_delivery(&new_delivery("android-app", Target::All, false), t0())
        .await
        .unwrap();
    store.analyze_batch(&second, 2, t0()).await.unwrap();
    let during = store
        .profile_history("android-app", "p-a", 100)
        .await
        .unwrap();
    assert_eq!(
        during
            .messages
            .iter()
            .map(|m| (m.delivery_id.as_str(), m.token.as_str()))
            .collect::<Vec<_>>(),
        [
            (second.id.as_str(), "a2"),
            (second.id.as_str(), "a1"),
            (first.id.as_str(), "a2"),
            (first.id.as_str(), "a1"),
        ]
    );
    let second = analyze(&store, &second, 2).await;
    assert_eq!(second.state, pushgate_store::DeliveryState::Sending);
    assert_eq!(
        history_tokens(store.clone()).await,
        ["a2", "a1", "a2", "a1"]
    );
    // The limit keeps the newest.
    let newest = store
        .profile_history("android-app", "p-a", 1)
        .await
        .unwrap();
    assert_eq!(newest.messages.len(), 1);
    assert_eq!(newest.messages[0].delivery_id, second.id);
    assert_eq!(newest.messages[0].token, "a2");
    assert_eq!(
        store
            .profile_history("ios-app", "p-a", 100)
            .await
            .unwrap()
            .messages
            .len(),
        0,
        "ios-app had no delivery"
    );
}

async fn migration_0007_indexes_by_profile_the_messages_of_deliveries_already_analysed(
    db: &TestDb,
) {
    let store = db.store.clone();
    // A database from before migration 0007: one delivery analysed, one half-way.
    let first = analysed_to_three(&store).await;
    let second = store
        .create_delivery(&new_delivery("android-app", Target::All, false), t0())
        .await
        .unwrap();
    store.analyze_batch(&second, 1, t0()).await.unwrap();
    // Migration 0012 runs again after it, as it did on such a database.
    let raw = migrate_again(
        db,
        &[7, 12],
        &[
            "DROP TABLE message_profiles",
            "CREATE INDEX messages_profile ON messages (profile_id)",
        ],
    )
    .await;
    let indexed: Vec<String> = sqlx::query_scalar(
        "SELECT m.delivery_id FROM message_profiles p JOIN messages m ON m.id = p.message_id",
    )
    .fetch_all(&raw)
    .await
    .unwrap();
    assert_eq!(
        indexed,
        vec![first.id.clone(); 3],
        "the analysed delivery's three messages, none of the delivery half-way"
    );
    // The delivery half-way enters the index when its analysis ends, without a conflict.
    let second = analyze(&store, &second, 1).await;
    let history = history_of(&store, "p-a").await;
    assert_eq!(
        history,
        [
            (second.id.clone(), "a2".to_owned()),
            (second.id.clone(), "a1".to_owned()),
            (first.id.clone(), "a2".to_owned()),
            (first.id.clone(), "a1".to_owned()),
        ]
    );
}

/// The history of an android-app profile, newest first, as (delivery, token).
async fn history_of(store: &Store, profile: &str) -> Vec<(String, String)> {
    store
        .profile_history("android-app", profile, 100)
        .await
        .unwrap()
        .messages
        .into_iter()
        .map(|m| (m.delivery_id, m.token))
        .collect()
}

/// The three subscriptions of android-app that the migration tests start from (p-a: a1 and
/// a2, p-b: b1), and a delivery to them, analysed.
async fn analysed_to_three(store: &Store) -> pushgate_store::Delivery {
    apps(store).await;
    subscribe(
        store,
        "android-app",
        &[("p-a", "a1"), ("p-a", "a2"), ("p-b", "b1")],
    )
    .await;
    analyzed(store, "android-app", Target::All, false, 1000).await
}

/// Two deliveries to every subscription of android-app (p-a: a1 and a2, p-b: b1): the
/// first's message ids start at 1, in block 0 of the profiles' index; the second's at
/// 3,000,001, in block 2. Returns a connection to the database and the two deliveries.
async fn two_blocks(
    db: &TestDb,
) -> (
    sqlx::AnyPool,
    pushgate_store::Delivery,
    pushgate_store::Delivery,
) {
    let store = db.store.clone();
    let first = analysed_to_three(&store).await;
    sqlx::any::install_default_drivers();
    let raw = sqlx::AnyPool::connect(&db.url).await.unwrap();
    // The next message id is 3,000,001: on SQLite the largest id plus one, so a message of
    // the first delivery holds 3,000,000 while the second is analysed; on PostgreSQL the
    // identity's sequence.
    match store.dialect() {
        Dialect::Sqlite => sqlx::query(
            "INSERT INTO messages (id, delivery_id, token, status, next_attempt_at, \
             created_at, updated_at) VALUES (3000000, $1, 'placeholder', 'Planned', 0, 0, 0)",
        )
        .bind(&first.id),
        Dialect::Postgres => {
            sqlx::query("SELECT setval(pg_get_serial_sequence('messages', 'id'), 3000000)")
        }
    }
    .execute(&raw)
    .await
    .unwrap();
    let second = analyzed(&store, "android-app", Target::All, false, 1000).await;
    sqlx::query("DELETE FROM messages WHERE id = 3000000")
        .execute(&raw)
        .await
        .unwrap();
    (raw, first, second)
}

/// Each delivery's entries in the profiles' index, as (block, delivery), in key order.
async fn blocks_of(raw: &sqlx::AnyPool) -> Vec<(i64, String)> {
    sqlx::query_as(
        "SELECT p.id_block, m.delivery_id FROM message_profiles p \
         JOIN messages m ON m.id = p.message_id ORDER BY p.id_block, p.profile_id, p.message_id",
    )
    .fetch_all(raw)
    .await
    .unwrap()
}

async fn a_profile_history_reads_every_block_of_message_ids(db: &TestDb) {
    // quarantine-rules.md, "Reports", per profile: every message, of every delivery.
    let (raw, first, second) = two_blocks(db).await;
    let (a, b) = (first.id.clone(), second.id.clone());
    assert_eq!(
        blocks_of(&raw).await,
        [
            (0, a.clone()),
            (0, a.clone()),
            (0, a.clone()),
            (2, b.clone()),
            (2, b.clone()),
            (2, b.clone())
        ],
        "a delivery's entries go to the block of its first message id"
    );
    let history = history_of(&db.store, "p-a").await;
    assert_eq!(
        history,
        [
            (b.clone(), "a2".to_owned()),
            (b.clone(), "a1".to_owned()),
            (a.clone(), "a2".to_owned()),
            (a.clone(), "a1".to_owned()),
        ]
    );
    let newest = db
        .store
        .profile_history("android-app", "p-b", 1)
        .await
        .unwrap()
        .messages;
    assert_eq!(newest.len(), 1);
    assert_eq!(
        (newest[0].delivery_id.as_str(), newest[0].token.as_str()),
        (b.as_str(), "b1")
    );
}

async fn migration_0012_puts_the_entries_there_in_the_block_of_their_delivery(db: &TestDb) {
    let (_, first, second) = two_blocks(db).await;
    // A database from before migration 0012: the index keyed by profile alone.
    let raw = migrate_again(
        db,
        &[12],
        &[
            "CREATE TABLE profiles_before AS SELECT profile_id, message_id FROM message_profiles",
            "DROP TABLE message_profiles",
            "CREATE TABLE message_profiles (profile_id TEXT NOT NULL, message_id BIGINT NOT NULL, \
             PRIMARY KEY (profile_id, message_id))",
            "INSERT INTO message_profiles SELECT profile_id, message_id FROM profiles_before",
            "DROP TABLE profiles_before",
        ],
    )
    .await;
    let (a, b) = (first.id, second.id);
    assert_eq!(
        blocks_of(&raw).await,
        [
            (0, a.clone()),
            (0, a.clone()),
            (0, a),
            (2, b.clone()),
            (2, b.clone()),
            (2, b)
        ]
    );
    assert_eq!(history_of(&db.store, "p-a").await.len(), 4);
}
