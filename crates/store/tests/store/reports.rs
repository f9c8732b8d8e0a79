//! Reports: the delivery summary, message and exclusion logs, non-deliverables, a profile's
//! history.

use std::time::Duration;

use pushgate_outcome::{FailureReason, FailureType, MessageStatus, OutcomeId};
use pushgate_store::queue::MessageResult;
use pushgate_store::reports::{ExclusionFilter, MessageFilter};
use pushgate_store::{ExclusionKind, Page, Store, Target};

use crate::analysis::analyzed;
use crate::both_backends;
use crate::subscriptions::unregistered;
use crate::support::{apps, t0};

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
