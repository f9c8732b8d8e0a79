//! The scheduled jobs on a real database: the opt-out sweep and the next delivery, the
//! cleanup's rules, the scheduler, and one node at a time.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use pushgate_dispatch::jobs::{JobSchedule, Jobs};
use pushgate_mocks::{Answer, Rule};
use pushgate_outcome::{FailureReason, FailureType};
use pushgate_quarantine::{AddressState, AddressStatus, QuarantinePolicy};
use pushgate_store::jobs::Job;
use pushgate_store::testing::TestDatabase;
use pushgate_store::{Address, Dialect, ExclusionKind};
use tokio_util::sync::CancellationToken;

use crate::both_backends;
use crate::support::*;

both_backends!(
    the_optout_sweep_disables_unregistered_tokens_and_the_next_delivery_excludes_them,
    the_cleanup_releases_what_the_10_day_rule_says_and_records_it,
    the_cleanup_purges_the_logs_of_deliveries_finished_before_the_retention,
    the_scheduler_runs_each_job_once_per_interval,
    a_job_held_by_another_node_is_not_run,
);

async fn the_optout_sweep_disables_unregistered_tokens_and_the_next_delivery_excludes_them(
    db: TestDatabase,
) {
    // quarantine-rules.md, "Scheduled jobs" and "Delivery analysis".
    let world = World::new(db).await;
    world.script(Rule::fcm_prefix(
        "gone",
        Answer::fcm(pushgate_outcome::fcm::ErrorCode::Unregistered),
    ));
    let gone = fcm_tokens("gone", 4);
    let mut tokens = gone.clone();
    tokens.extend(fcm_tokens("fine", 4));
    world.subscribe(ANDROID, &tokens).await;
    let first = world.deliver(ANDROID, 3600).await;
    world
        .run_until_done(&world.pipeline("node-a"), &first, Duration::from_secs(30))
        .await;

    let jobs = Jobs::new(
        world.store().clone(),
        QuarantinePolicy::default(),
        "node-a",
        Arc::new(pushgate_dispatch::clock::SystemClock),
    );
    let report = jobs
        .run(Job::OptoutSweep)
        .await
        .unwrap()
        .expect("not locked elsewhere");
    assert_eq!(report.changed, 4);
    for token in &gone {
        let subscription = world
            .store()
            .profile_subscriptions(ANDROID, &format!("p-{token}"))
            .await
            .unwrap()
            .remove(0);
        assert!(subscription.disabled);
    }
    // An operator releases one token; its subscription stays disabled.
    world
        .store()
        .release_address(ANDROID, &gone[0], Utc::now())
        .await
        .unwrap();

    let second = world.deliver(ANDROID, 3600).await;
    let summary = world.store().summary(&second).await.unwrap();
    let kinds: Vec<(ExclusionKind, FailureReason, i64)> = summary
        .excluded_by_reason
        .iter()
        .map(|e| (e.kind, e.reason, e.count))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (
                ExclusionKind::DisabledSubscription,
                FailureReason::UserUnknown,
                1
            ),
            (
                ExclusionKind::QuarantinedAddress,
                FailureReason::QuarantinedAddress,
                3
            ),
        ]
    );
    assert_eq!(summary.pending, 4);
    let runs = world.store().job_runs(Job::OptoutSweep, 5).await.unwrap();
    assert_eq!((runs[0].outcome.as_str(), runs[0].changed), ("ok", 4));
}

fn with_errors(token: &str, last_error: chrono::DateTime<Utc>, reason: FailureReason) -> Address {
    let mut state = AddressState::valid(last_error);
    state.status = AddressStatus::WithErrors;
    state.error_count = 2;
    state.last_failure_type = Some(FailureType::Soft);
    state.last_failure_reason = Some(reason);
    state.first_error_at = Some(last_error);
    state.last_error_at = Some(last_error);
    Address {
        app_id: IOS.into(),
        token: token.into(),
        state,
        unregistered_at: None,
    }
}

async fn the_cleanup_releases_what_the_10_day_rule_says_and_records_it(db: TestDatabase) {
    // quarantine-rules.md, "Scheduled jobs", database cleanup.
    let world = World::new(db).await;
    let now = Utc::now();
    let old = with_errors("0ld0", now - TimeDelta::days(11), FailureReason::Refused);
    let recent = with_errors("4e11", now - TimeDelta::days(2), FailureReason::Refused);
    let mut quarantined = with_errors(
        "9a99",
        now - TimeDelta::days(40),
        FailureReason::UserUnknown,
    );
    quarantined.state.status = AddressStatus::Quarantine;
    for address in [&old, &recent, &quarantined] {
        world.store().put_address(address, now).await.unwrap();
    }
    let jobs = Jobs::new(
        world.store().clone(),
        QuarantinePolicy::default(),
        "node-a",
        Arc::new(pushgate_dispatch::clock::SystemClock),
    );
    let report = jobs.run(Job::Cleanup).await.unwrap().unwrap();
    assert_eq!(report.changed, 1);
    assert_eq!(world.status(IOS, "0ld0").await, AddressStatus::Valid);
    assert_eq!(world.status(IOS, "4e11").await, AddressStatus::WithErrors);
    assert_eq!(world.status(IOS, "9a99").await, AddressStatus::Quarantine);
    let changes = world.store().job_changes(report.run_id).await.unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(
        changes[0].change,
        "With errors -> Valid: last error over 10 days old"
    );
}

async fn the_cleanup_purges_the_logs_of_deliveries_finished_before_the_retention(db: TestDatabase) {
    // jobs.delivery_log_retention_days: the spec sets no retention, so none by default.
    let world = World::new(db).await;
    world.subscribe(IOS, &apns_tokens("aa", 3)).await;
    let old = world.send_to_all(IOS, 3600, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let recent = world.send_to_all(IOS, 3600, Duration::from_secs(30)).await;
    let (Some(old_end), Some(recent_end)) = (old.finished_at, recent.finished_at) else {
        panic!("both deliveries are done");
    };
    assert!(old_end < recent_end);
    // 30 days after the recent one finished: the old one finished more than 30 days ago.
    let clock = TestClock::new();
    clock.advance(recent_end + TimeDelta::days(30) - Utc::now());
    let jobs = |retention| {
        Jobs::new(
            world.store().clone(),
            QuarantinePolicy::default(),
            "node-a",
            clock.clone(),
        )
        .with_delivery_log_retention(retention)
    };

    let kept = jobs(0).run(Job::Cleanup).await.unwrap().unwrap();
    assert_eq!(kept.changed, 0);
    assert!(world.store().delivery(&old.id).await.unwrap().is_some());

    let purged = jobs(30).run(Job::Cleanup).await.unwrap().unwrap();
    assert_eq!(purged.changed, 1);
    assert!(world.store().delivery(&old.id).await.unwrap().is_none());
    let changes = world.store().job_changes(purged.run_id).await.unwrap();
    let subjects: Vec<(&str, &str)> = changes
        .iter()
        .map(|c| (c.subject.as_str(), c.subject_key.as_str()))
        .collect();
    assert_eq!(subjects, vec![("delivery", old.id.as_str())]);
    assert!(
        changes[0].change.ends_with("messages: 3, exclusions: 0)"),
        "{}",
        changes[0].change
    );
    let summary = world.store().summary(&recent).await.unwrap();
    assert_eq!((summary.sent, summary.targeted), (3, 3));
}

async fn the_scheduler_runs_each_job_once_per_interval(db: TestDatabase) {
    let world = World::new(db).await;
    let clock = TestClock::new();
    let jobs = Jobs::new(
        world.store().clone(),
        QuarantinePolicy::default(),
        "node-a",
        clock.clone(),
    );
    let cancel = CancellationToken::new();
    let scheduler = tokio::spawn({
        let (jobs, cancel) = (jobs.clone(), cancel.clone());
        async move { jobs.run_scheduler(JobSchedule::default(), cancel).await }
    });
    let store = world.store().clone();
    let runs = |job| {
        let store = store.clone();
        async move {
            store
                .job_runs(job, 100)
                .await
                .unwrap()
                .iter()
                .filter(|r| r.outcome == "ok")
                .count()
        }
    };
    let until = |sweeps: usize, cleanups: usize| async move {
        for _ in 0..400 {
            if runs(Job::OptoutSweep).await == sweeps && runs(Job::Cleanup).await == cleanups {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "expected {sweeps} sweeps and {cleanups} cleanups, got {} and {}",
            runs(Job::OptoutSweep).await,
            runs(Job::Cleanup).await
        );
    };
    // Never run: both are due at once.
    until(1, 1).await;
    // Six hours later: the sweep again, not the cleanup.
    clock.advance(TimeDelta::hours(6) + TimeDelta::seconds(1));
    jobs.wake();
    until(2, 1).await;
    // A day after the start: both.
    clock.advance(TimeDelta::hours(18));
    jobs.wake();
    until(3, 2).await;
    // Nothing more is due now.
    jobs.wake();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        (runs(Job::OptoutSweep).await, runs(Job::Cleanup).await),
        (3, 2)
    );
    cancel.cancel();
    scheduler.await.unwrap();
}

async fn a_job_held_by_another_node_is_not_run(db: TestDatabase) {
    let world = World::new(db).await;
    if world.store().dialect() == Dialect::Sqlite {
        // One node per SQLite file: there is no other node to hold the lock.
        return;
    }
    let held = world
        .store()
        .try_lock_job(Job::OptoutSweep)
        .await
        .unwrap()
        .unwrap();
    let jobs = Jobs::new(
        world.store().clone(),
        QuarantinePolicy::default(),
        "node-b",
        Arc::new(pushgate_dispatch::clock::SystemClock),
    );
    assert_eq!(jobs.run(Job::OptoutSweep).await.unwrap(), None);
    assert!(
        world
            .store()
            .job_runs(Job::OptoutSweep, 5)
            .await
            .unwrap()
            .is_empty()
    );
    held.release().await.unwrap();
    assert!(jobs.run(Job::OptoutSweep).await.unwrap().is_some());
}
