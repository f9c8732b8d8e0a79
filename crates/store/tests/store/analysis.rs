//! Delivery analysis (`quarantine-rules.md`, "Delivery analysis"): each exclusion rule, its
//! failure reason in the exclusion log, batching and dry runs.

use pushgate_outcome::{FailureReason, MessageStatus};
use pushgate_quarantine::AddressStatus;
use pushgate_store::{
    Delivery, DeliveryState, ExclusionKind, NewDelivery, Page, Store, Target,
    reports::ExclusionFilter, reports::MessageFilter,
};

use crate::both_backends;
use crate::subscriptions::unregistered;
use crate::support::{TestDb, apps, migrate_again, subscribe, t0};

pub fn new_delivery(app: &str, target: Target, dry_run: bool) -> NewDelivery {
    NewDelivery {
        app_id: app.to_owned(),
        notification: serde_json::json!({ "title": "Hello", "body": "World" }),
        target,
        dry_run,
        validity_secs: 3600,
        requested_validity_secs: 3600,
    }
}

/// Runs the whole analysis in batches of `batch`; returns the delivery as it ends.
pub async fn analyze(store: &Store, delivery: &Delivery, batch: i64) -> Delivery {
    for _ in 0..10_000 {
        if store
            .analyze_batch(delivery, batch, t0())
            .await
            .unwrap()
            .done
        {
            return store.delivery(&delivery.id).await.unwrap().unwrap();
        }
    }
    panic!("the analysis did not finish");
}

/// Creates a delivery of `app` to `target` and runs its whole analysis in batches of
/// `batch`; returns the delivery as it ends.
pub async fn analyzed(
    store: &Store,
    app: &str,
    target: Target,
    dry_run: bool,
    batch: i64,
) -> Delivery {
    let delivery = store
        .create_delivery(&new_delivery(app, target, dry_run), t0())
        .await
        .unwrap();
    analyze(store, &delivery, batch).await
}

/// (token, reason) of every exclusion of a delivery, sorted.
async fn excluded(
    store: &Store,
    delivery: &Delivery,
) -> Vec<(Option<String>, Option<String>, ExclusionKind, FailureReason)> {
    let filter = ExclusionFilter {
        delivery_id: Some(delivery.id.clone()),
        ..ExclusionFilter::default()
    };
    let mut rows: Vec<_> = store
        .exclusions(
            &delivery.app_id,
            &filter,
            Page {
                after: 0,
                limit: 1000,
            },
        )
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.profile_id, e.token, e.kind, e.reason))
        .collect();
    rows.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    rows
}

/// Tokens that got a message, sorted.
async fn messaged(store: &Store, delivery: &Delivery) -> Vec<String> {
    let mut tokens: Vec<String> = store
        .messages(
            &delivery.id,
            &MessageFilter::default(),
            Page {
                after: 0,
                limit: 1000,
            },
        )
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.token)
        .collect();
    tokens.sort();
    tokens
}

fn row(
    profile: &str,
    token: &str,
    kind: ExclusionKind,
    reason: FailureReason,
) -> (Option<String>, Option<String>, ExclusionKind, FailureReason) {
    (
        Some(profile.to_owned()),
        Some(token.to_owned()),
        kind,
        reason,
    )
}

/// Six subscriptions, each meeting one rule, and one clean.
async fn seed(store: &Store) {
    apps(store).await;
    subscribe(
        store,
        "ios-app",
        &[
            ("clean", "c1"),
            ("quarantined", "q1"),
            ("denylisted-token", "d1"),
            ("denylisted-profile", "p1"),
            ("disabled", "x1"),
            ("twin-a", "t1"),
            ("twin-b", "t1"),
            ("with-errors", "w1"),
        ],
    )
    .await;
    store
        .put_address(&unregistered("ios-app", "q1", t0(), None), t0())
        .await
        .unwrap();
    let mut denylisted = unregistered("ios-app", "d1", t0(), None);
    denylisted.state.status = AddressStatus::Denylisted;
    store.put_address(&denylisted, t0()).await.unwrap();
    let mut with_errors = unregistered("ios-app", "w1", t0(), None);
    with_errors.state.status = AddressStatus::WithErrors;
    store.put_address(&with_errors, t0()).await.unwrap();
    store
        .set_profile_denylisted("ios-app", "denylisted-profile", true, t0())
        .await
        .unwrap();
    // Disable x1's subscription the way the sweep does: quarantine, sweep, release.
    store
        .put_address(&unregistered("ios-app", "x1", t0(), None), t0())
        .await
        .unwrap();
    let run = store
        .start_job_run(pushgate_store::jobs::Job::OptoutSweep, "test", t0())
        .await
        .unwrap();
    store.optout_sweep(run, t0()).await.unwrap();
    store.release_address("ios-app", "x1", t0()).await.unwrap();
}

both_backends!(
    every_exclusion_rule_writes_its_reason_to_the_exclusion_log,
    the_same_token_twice_is_excluded_across_batches,
    a_token_twice_goes_to_its_first_target_that_no_rule_excludes,
    a_targeted_profile_without_a_token_is_address_not_specified,
    explicit_tokens_are_sent_even_when_unregistered_and_deduplicated,
    a_dry_run_plans_messages_and_ends_done,
    a_delivery_with_nothing_to_send_ends_done,
    analysis_in_small_batches_equals_one_batch,
    analysis_resumes_after_an_interrupted_batch,
);

// Migration 0010 on a delivery half-way: it needs the database itself (to undo the
// migration), not only its store.
both_backends!(databases: migration_0010_carries_over_a_queued_cursor_token_of_a_delivery_half_way);

async fn every_exclusion_rule_writes_its_reason_to_the_exclusion_log(store: Store) {
    // quarantine token (9), denylisted token or profile (8), disabled subscription (1: the
    // sweep disables unregistered tokens), token twice (10). With errors is still targeted.
    seed(&store).await;
    let delivery = analyzed(&store, "ios-app", Target::All, false, 1000).await;
    assert_eq!(delivery.state, DeliveryState::Sending);
    assert_eq!(
        excluded(&store, &delivery).await,
        vec![
            row(
                "denylisted-profile",
                "p1",
                ExclusionKind::DenylistedProfile,
                FailureReason::DenylistedAddress
            ),
            row(
                "denylisted-token",
                "d1",
                ExclusionKind::DenylistedAddress,
                FailureReason::DenylistedAddress
            ),
            row(
                "disabled",
                "x1",
                ExclusionKind::DisabledSubscription,
                FailureReason::UserUnknown
            ),
            row(
                "quarantined",
                "q1",
                ExclusionKind::QuarantinedAddress,
                FailureReason::QuarantinedAddress
            ),
            row(
                "twin-b",
                "t1",
                ExclusionKind::DuplicateToken,
                FailureReason::Twice
            ),
        ]
    );
    assert_eq!(messaged(&store, &delivery).await, vec!["c1", "t1", "w1"]);
    let pending = store
        .messages(
            &delivery.id,
            &MessageFilter {
                status: Some(MessageStatus::Pending),
                ..MessageFilter::default()
            },
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(pending.len(), 3);
    let twin = pending.iter().find(|m| m.token == "t1").unwrap();
    assert_eq!(
        twin.profile_id.as_deref(),
        Some("twin-a"),
        "the first subscription keeps the message"
    );
}

async fn the_same_token_twice_is_excluded_across_batches(store: Store) {
    apps(&store).await;
    for profile in ["a", "b", "c"] {
        store
            .register_subscription("android-app", profile, "shared", t0(), t0())
            .await
            .unwrap();
    }
    let delivery = analyzed(&store, "android-app", Target::All, false, 1).await;
    assert_eq!(messaged(&store, &delivery).await, vec!["shared"]);
    let rows = excluded(&store, &delivery).await;
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.3 == FailureReason::Twice));
}

async fn a_token_twice_goes_to_its_first_target_that_no_rule_excludes(store: Store) {
    // quarantine-rules.md, "Delivery analysis": the same token twice in one delivery (10
    // Twice). A target that another rule excludes does not take the token's message: the
    // first target left gets it, every later one is Twice, within a batch and across the
    // edges of batches of every size (the token's run spans four batches of one).
    apps(&store).await;
    subscribe(
        &store,
        "ios-app",
        &[
            ("a-denylisted", "shared"),
            ("b", "shared"),
            ("c", "shared"),
            ("d", "shared"),
            ("e", "alone"),
            ("f", "pair"),
            ("g", "pair"),
        ],
    )
    .await;
    store
        .set_profile_denylisted("ios-app", "a-denylisted", true, t0())
        .await
        .unwrap();
    for batch in [1, 2, 3, 1000] {
        let delivery = analyzed(&store, "ios-app", Target::All, false, batch).await;
        assert_eq!(
            messaged(&store, &delivery).await,
            vec!["alone", "pair", "shared"],
            "batches of {batch}"
        );
        let twice = |profile: &str, token: &str| {
            row(
                profile,
                token,
                ExclusionKind::DuplicateToken,
                FailureReason::Twice,
            )
        };
        assert_eq!(
            excluded(&store, &delivery).await,
            vec![
                row(
                    "a-denylisted",
                    "shared",
                    ExclusionKind::DenylistedProfile,
                    FailureReason::DenylistedAddress
                ),
                twice("c", "shared"),
                twice("d", "shared"),
                twice("g", "pair"),
            ],
            "batches of {batch}"
        );
        let messages = store
            .messages(&delivery.id, &MessageFilter::default(), Page::default())
            .await
            .unwrap();
        let shared = messages.iter().find(|m| m.token == "shared").unwrap();
        assert_eq!(
            shared.profile_id.as_deref(),
            Some("b"),
            "batches of {batch}"
        );
    }
    // An explicit target: a token met again after others, in request order.
    let target = Target::Tokens(["z", "a", "m", "a", "a"].map(String::from).to_vec());
    let delivery = analyzed(&store, "ios-app", target, false, 1000).await;
    assert_eq!(messaged(&store, &delivery).await, vec!["a", "m", "z"]);
    let rows = excluded(&store, &delivery).await;
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .all(|r| r.3 == FailureReason::Twice && r.1.as_deref() == Some("a"))
    );
}

async fn a_targeted_profile_without_a_token_is_address_not_specified(store: Store) {
    apps(&store).await;
    store
        .register_subscription("ios-app", "alice", "a1", t0(), t0())
        .await
        .unwrap();
    store
        .set_profile_denylisted("ios-app", "ghost", false, t0())
        .await
        .unwrap();
    let target = Target::Profiles(vec!["alice".into(), "ghost".into(), "never-seen".into()]);
    let delivery = analyzed(&store, "ios-app", target, false, 2).await;
    assert_eq!(messaged(&store, &delivery).await, vec!["a1"]);
    let rows = excluded(&store, &delivery).await;
    assert_eq!(
        rows,
        vec![
            (
                Some("ghost".into()),
                None,
                ExclusionKind::MissingToken,
                FailureReason::AddressNotSpecified
            ),
            (
                Some("never-seen".into()),
                None,
                ExclusionKind::MissingToken,
                FailureReason::AddressNotSpecified
            ),
        ]
    );
}

async fn explicit_tokens_are_sent_even_when_unregistered_and_deduplicated(store: Store) {
    apps(&store).await;
    store
        .register_subscription("ios-app", "alice", "a1", t0(), t0())
        .await
        .unwrap();
    store
        .put_address(&unregistered("ios-app", "q1", t0(), None), t0())
        .await
        .unwrap();
    let target = Target::Tokens(vec!["a1".into(), "n1".into(), "a1".into(), "q1".into()]);
    let delivery = analyzed(&store, "ios-app", target, false, 1000).await;
    assert_eq!(messaged(&store, &delivery).await, vec!["a1", "n1"]);
    let rows = excluded(&store, &delivery).await;
    assert_eq!(
        rows,
        vec![
            (
                None,
                Some("q1".into()),
                ExclusionKind::QuarantinedAddress,
                FailureReason::QuarantinedAddress
            ),
            (
                Some("alice".into()),
                Some("a1".into()),
                ExclusionKind::DuplicateToken,
                FailureReason::Twice
            ),
        ]
    );
    let messages = store
        .messages(&delivery.id, &MessageFilter::default(), Page::default())
        .await
        .unwrap();
    let unknown = messages.iter().find(|m| m.token == "n1").unwrap();
    assert_eq!(unknown.subscription_id, None);
    assert_eq!(unknown.profile_id, None);
}

async fn a_dry_run_plans_messages_and_ends_done(store: Store) {
    seed(&store).await;
    let delivery = analyzed(&store, "ios-app", Target::All, true, 1000).await;
    assert_eq!(delivery.state, DeliveryState::Done);
    assert_eq!(excluded(&store, &delivery).await.len(), 5);
    let messages = store
        .messages(&delivery.id, &MessageFilter::default(), Page::default())
        .await
        .unwrap();
    assert_eq!(messages.len(), 3);
    assert!(messages.iter().all(|m| m.status == MessageStatus::Planned));
    let claimed = store
        .claim("worker", 100, std::time::Duration::from_secs(30), t0())
        .await
        .unwrap();
    assert!(claimed.is_empty(), "a dry run's messages are never claimed");
}

async fn a_delivery_with_nothing_to_send_ends_done(store: Store) {
    apps(&store).await;
    store
        .register_subscription("ios-app", "alice", "q1", t0(), t0())
        .await
        .unwrap();
    store
        .put_address(&unregistered("ios-app", "q1", t0(), None), t0())
        .await
        .unwrap();
    let delivery = analyzed(&store, "ios-app", Target::All, false, 10).await;
    assert_eq!(delivery.state, DeliveryState::Done);
    assert!(delivery.finished_at.is_some());
}

async fn analysis_in_small_batches_equals_one_batch(store: Store) {
    seed(&store).await;
    let whole = analyzed(&store, "ios-app", Target::All, false, 1000).await;
    // A second delivery in batches of one (after the first's messages exist: each delivery
    // dedups only its own tokens).
    let split = analyzed(&store, "ios-app", Target::All, false, 1).await;
    assert_eq!(
        messaged(&store, &whole).await,
        messaged(&store, &split).await
    );
    assert_eq!(
        excluded(&store, &whole).await,
        excluded(&store, &split).await
    );
}

async fn analysis_resumes_after_an_interrupted_batch(store: Store) {
    seed(&store).await;
    let delivery = store
        .create_delivery(&new_delivery("ios-app", Target::All, false), t0())
        .await
        .unwrap();
    // Two batches done, then a "restart": a fresh read of the delivery resumes at its cursor.
    store.analyze_batch(&delivery, 2, t0()).await.unwrap();
    store.analyze_batch(&delivery, 2, t0()).await.unwrap();
    let resumed = store.deliveries_to_analyze().await.unwrap();
    assert_eq!(resumed.len(), 1);
    let delivery = analyze(&store, &resumed[0], 3).await;
    assert_eq!(messaged(&store, &delivery).await, vec!["c1", "t1", "w1"]);
    assert_eq!(excluded(&store, &delivery).await.len(), 5);
    // Once done, more batches change nothing.
    assert!(store.analyze_batch(&delivery, 2, t0()).await.unwrap().done);
    assert_eq!(excluded(&store, &delivery).await.len(), 5);
}

async fn migration_0010_carries_over_a_queued_cursor_token_of_a_delivery_half_way(db: &TestDb) {
    // A database from before migration 0010, where the unique index on (delivery, token)
    // stopped a token's second message: a delivery half-way, its cursor on a token that
    // has a message and another target still to come.
    let store = db.store.clone();
    apps(&store).await;
    subscribe(
        &store,
        "android-app",
        &[("p-a", "t1"), ("p-b", "t1"), ("p-c", "t2")],
    )
    .await;
    let delivery = store
        .create_delivery(&new_delivery("android-app", Target::All, false), t0())
        .await
        .unwrap();
    store.analyze_batch(&delivery, 1, t0()).await.unwrap();
    migrate_again(
        db,
        &[10],
        &[
            "ALTER TABLE deliveries DROP COLUMN analysis_queued",
            "CREATE UNIQUE INDEX messages_delivery_token ON messages (delivery_id, token)",
        ],
    )
    .await;
    let delivery = analyze(&store, &delivery, 1).await;
    assert_eq!(messaged(&store, &delivery).await, vec!["t1", "t2"]);
    assert_eq!(
        excluded(&store, &delivery).await,
        vec![row(
            "p-b",
            "t1",
            ExclusionKind::DuplicateToken,
            FailureReason::Twice
        )]
    );
}
