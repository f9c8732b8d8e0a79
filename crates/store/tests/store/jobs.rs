//! The opt-out sweep, the cleanup's reads and writes, job runs and the job lock.

use pushgate_outcome::FailureReason;
use pushgate_quarantine::AddressStatus;
use pushgate_store::jobs::{CleanupRelease, Job};
use pushgate_store::{Dialect, Store, Target};

use crate::analysis::analyzed;
use crate::both_backends;
use crate::subscriptions::unregistered;
use crate::support::{TestDb, apps, secs, status, subscribe, t0};

both_backends!(
    optout_sweep_disables_subscriptions_of_unregistered_tokens_and_records_them,
    cleanup_candidates_are_the_open_episodes_and_writes_are_recorded,
    one_node_at_a_time_holds_a_job_lock,
    job_runs_record_their_outcome,
);

both_backends!(databases: a_purge_deletes_every_row_of_the_deliveries_finished_before_it_in_chunks);

async fn optout_sweep_disables_subscriptions_of_unregistered_tokens_and_records_them(store: Store) {
    // quarantine-rules.md, "Scheduled jobs", opt-out sweep: every token declared unregistered
    // or no longer valid -> disabled = true on its subscriptions.
    apps(&store).await;
    subscribe(
        &store,
        "android-app",
        &[
            ("a", "u1"),
            ("b", "u1"),
            ("c", "r1"),
            ("d", "ok1"),
            ("e", "w1"),
        ],
    )
    .await;
    store
        .put_address(&unregistered("android-app", "u1", t0(), None), t0())
        .await
        .unwrap();
    let mut refused = unregistered("android-app", "r1", t0(), None);
    refused.state.last_failure_reason = Some(FailureReason::Refused);
    store.put_address(&refused, t0()).await.unwrap();
    let mut with_errors = unregistered("android-app", "w1", t0(), None);
    with_errors.state.status = AddressStatus::WithErrors;
    store.put_address(&with_errors, t0()).await.unwrap();

    let run = store
        .start_job_run(Job::OptoutSweep, "node-1", t0())
        .await
        .unwrap();
    assert_eq!(
        store.optout_sweep(run, t0()).await.unwrap(),
        2,
        "both subscriptions of u1, nothing else"
    );
    let changes = store.job_changes(run).await.unwrap();
    assert_eq!(changes.len(), 2);
    assert!(changes.iter().all(|c| c.subject == "subscription"
        && c.change == "disabled"
        && c.app_id == "android-app"));
    for (profile, disabled) in [
        ("a", true),
        ("b", true),
        ("c", false),
        ("d", false),
        ("e", false),
    ] {
        let subscription = store
            .profile_subscriptions("android-app", profile)
            .await
            .unwrap()
            .remove(0);
        assert_eq!(subscription.disabled, disabled, "{profile}");
        assert_eq!(subscription.disabled_at.is_some(), disabled, "{profile}");
    }
    let again = store
        .start_job_run(Job::OptoutSweep, "node-1", t0())
        .await
        .unwrap();
    assert_eq!(
        store.optout_sweep(again, t0()).await.unwrap(),
        0,
        "already disabled"
    );
}

async fn cleanup_candidates_are_the_open_episodes_and_writes_are_recorded(store: Store) {
    apps(&store).await;
    let mut with_errors = unregistered("ios-app", "w1", t0(), None);
    with_errors.state.status = AddressStatus::WithErrors;
    store.put_address(&with_errors, t0()).await.unwrap();
    let mut closed = unregistered("ios-app", "v1", t0(), None);
    closed.state = closed.state.cleared(t0());
    store.put_address(&closed, t0()).await.unwrap();
    store
        .put_address(&unregistered("ios-app", "q1", t0(), None), t0())
        .await
        .unwrap();
    let mut other_app = with_errors.clone();
    other_app.app_id = "android-app".into();
    store.put_address(&other_app, t0()).await.unwrap();

    let first = store.cleanup_candidates(None, 1).await.unwrap();
    assert_eq!(
        (first[0].app_id.as_str(), first[0].token.as_str()),
        ("android-app", "w1")
    );
    let rest = store
        .cleanup_candidates(Some(("android-app", "w1")), 10)
        .await
        .unwrap();
    assert_eq!(
        rest.iter()
            .map(|a| (a.app_id.as_str(), a.token.as_str()))
            .collect::<Vec<_>>(),
        [("ios-app", "w1")]
    );

    let run = store
        .start_job_run(Job::Cleanup, "node-1", t0())
        .await
        .unwrap();
    let release = |before: &pushgate_store::Address| CleanupRelease {
        before: before.clone(),
        after: pushgate_store::Address {
            state: before.state.cleared(t0()),
            ..before.clone()
        },
        change: "With errors -> Valid (10 days)".into(),
    };
    // quarantine-rules.md, the cleanup's 10-day rule applies to the address as it stands:
    // "android-app"/"w1" got a new error after the cleanup read it, so it keeps it, and
    // nothing is recorded for it.
    let mut newer = other_app.clone();
    newer.state.error_count += 1;
    newer.state.last_modified = t0() + secs(1);
    store.put_address(&newer, t0()).await.unwrap();
    let written = store
        .write_cleanup(run, &[release(&with_errors), release(&other_app)], t0())
        .await
        .unwrap();
    assert_eq!(written, 1);
    assert_eq!(status(&store, "ios-app", "w1").await, AddressStatus::Valid);
    assert_eq!(
        store.address("android-app", "w1").await.unwrap(),
        Some(newer)
    );
    let changes = store.job_changes(run).await.unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].subject_key, "w1");
    assert_eq!(changes[0].app_id, "ios-app");
    assert_eq!(changes[0].change, "With errors -> Valid (10 days)");
}

async fn one_node_at_a_time_holds_a_job_lock(store: Store) {
    let lock = store
        .try_lock_job(Job::OptoutSweep)
        .await
        .unwrap()
        .expect("free at first");
    if store.dialect() == Dialect::Postgres {
        assert!(
            store
                .try_lock_job(Job::OptoutSweep)
                .await
                .unwrap()
                .is_none(),
            "held by the first"
        );
        let other = store
            .try_lock_job(Job::Cleanup)
            .await
            .unwrap()
            .expect("another job's lock is free");
        other.release().await.unwrap();
    }
    lock.release().await.unwrap();
    let again = store
        .try_lock_job(Job::OptoutSweep)
        .await
        .unwrap()
        .expect("free after release");
    again.release().await.unwrap();
}

async fn job_runs_record_their_outcome(store: Store) {
    let run = store
        .start_job_run(Job::Cleanup, "node-7", t0())
        .await
        .unwrap();
    let runs = store.job_runs(Job::Cleanup, 10).await.unwrap();
    assert_eq!(runs[0].outcome, "running");
    store
        .finish_job_run(run, true, 3, None, t0())
        .await
        .unwrap();
    let failed = store
        .start_job_run(Job::Cleanup, "node-7", t0())
        .await
        .unwrap();
    store
        .finish_job_run(failed, false, 0, Some("database went away"), t0())
        .await
        .unwrap();
    let runs = store.job_runs(Job::Cleanup, 10).await.unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(
        (runs[0].outcome.as_str(), runs[0].detail.as_deref()),
        ("failed", Some("database went away"))
    );
    assert_eq!(
        (
            runs[1].outcome.as_str(),
            runs[1].changed,
            runs[1].node.as_str()
        ),
        ("ok", 3, "node-7")
    );
    assert!(
        store
            .job_runs(Job::OptoutSweep, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Rows of each table of the delivery log that belong to `delivery`; the profile entries
/// are counted apart, since they name messages only.
async fn log_rows(raw: &sqlx::AnyPool, delivery: &str) -> [i64; 3] {
    let mut counts = [0; 3];
    for (slot, sql) in [
        "SELECT COUNT(*) FROM deliveries WHERE id = $1",
        "SELECT COUNT(*) FROM messages WHERE delivery_id = $1",
        "SELECT COUNT(*) FROM exclusions WHERE delivery_id = $1",
    ]
    .into_iter()
    .enumerate()
    {
        counts[slot] = sqlx::query_scalar(sql)
            .bind(delivery)
            .fetch_one(raw)
            .await
            .unwrap();
    }
    counts
}

async fn a_purge_deletes_every_row_of_the_deliveries_finished_before_it_in_chunks(db: &TestDb) {
    let store = db.store.clone();
    apps(&store).await;
    subscribe(
        &store,
        "android-app",
        &[
            ("p-a", "a1"),
            ("p-a", "a2"),
            ("p-b", "b1"),
            ("p-c", "c1"),
            ("p-q", "q1"),
        ],
    )
    .await;
    store
        .put_address(&unregistered("android-app", "q1", t0(), None), t0())
        .await
        .unwrap();
    // A dry run ends with its analysis, at t0; a delivery being sent has not finished.
    let done = analyzed(&store, "android-app", Target::All, true, 1000).await;
    let sending = analyzed(&store, "android-app", Target::All, false, 1000).await;
    assert_eq!(done.finished_at, Some(t0()));
    assert_eq!(sending.finished_at, None);
    sqlx::any::install_default_drivers();
    let raw = sqlx::AnyPool::connect(&db.url).await.unwrap();
    assert_eq!(log_rows(&raw, &done.id).await, [1, 4, 1]);
    assert_eq!(log_rows(&raw, &sending.id).await, [1, 4, 1]);
    let profile_entries = "SELECT COUNT(*) FROM message_profiles";
    let entries: i64 = sqlx::query_scalar(profile_entries)
        .fetch_one(&raw)
        .await
        .unwrap();
    assert_eq!(entries, 8);

    let run = store
        .start_job_run(Job::Cleanup, "node-1", t0())
        .await
        .unwrap();
    // Finished exactly at the limit: kept.
    assert_eq!(store.purge_delivery_logs(run, t0(), 2).await.unwrap(), 0);
    assert_eq!(log_rows(&raw, &done.id).await, [1, 4, 1]);
    // Two messages per transaction: the four go in two.
    let later = t0() + chrono::TimeDelta::milliseconds(1);
    assert_eq!(store.purge_delivery_logs(run, later, 2).await.unwrap(), 1);
    assert_eq!(log_rows(&raw, &done.id).await, [0, 0, 0]);
    assert!(store.delivery(&done.id).await.unwrap().is_none());
    // The delivery still being sent keeps everything, its profile entries included.
    assert_eq!(log_rows(&raw, &sending.id).await, [1, 4, 1]);
    let orphans: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM message_profiles mp \
         WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = mp.message_id)",
    )
    .fetch_one(&raw)
    .await
    .unwrap();
    let entries: i64 = sqlx::query_scalar(profile_entries)
        .fetch_one(&raw)
        .await
        .unwrap();
    assert_eq!((entries, orphans), (4, 0));
    let changes = store.job_changes(run).await.unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(
        (
            changes[0].app_id.as_str(),
            changes[0].subject.as_str(),
            changes[0].subject_key.as_str(),
            changes[0].change.as_str()
        ),
        (
            "android-app",
            "delivery",
            done.id.as_str(),
            "delivery log purged (finished 2026-03-01T09:00:00Z; messages: 4, exclusions: 1)"
        )
    );
    // Nothing is left to purge.
    assert_eq!(store.purge_delivery_logs(run, later, 2).await.unwrap(), 0);
}
