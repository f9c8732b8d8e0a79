//! The opt-out sweep, the cleanup's reads and writes, job runs and the job lock.

use pushgate_outcome::FailureReason;
use pushgate_quarantine::AddressStatus;
use pushgate_store::jobs::{CleanupRelease, Job};
use pushgate_store::{Dialect, Store};

use crate::both_backends;
use crate::subscriptions::unregistered;
use crate::support::{apps, secs, status, subscribe, t0};

both_backends!(
    optout_sweep_disables_subscriptions_of_unregistered_tokens_and_records_them,
    cleanup_candidates_are_the_open_episodes_and_writes_are_recorded,
    one_node_at_a_time_holds_a_job_lock,
    job_runs_record_their_outcome,
);

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
