//! Registration, re-registration and removal of subscriptions.

use pushgate_outcome::{FailureReason, FailureType};
use pushgate_quarantine::{AddressState, AddressStatus};
use pushgate_store::subscriptions::Registration;
use pushgate_store::{Address, Store, StoreError};

use crate::both_backends;
use crate::support::{apps, days, t0};

/// An address in Quarantine as unregistered (APNs 410), with the 410 timestamp given.
pub fn unregistered(
    app: &str,
    token: &str,
    at: chrono::DateTime<chrono::Utc>,
    timestamp: Option<chrono::DateTime<chrono::Utc>>,
) -> Address {
    Address {
        app_id: app.to_owned(),
        token: token.to_owned(),
        state: AddressState {
            status: AddressStatus::Quarantine,
            error_count: 1,
            last_failure_type: Some(FailureType::Hard),
            last_failure_reason: Some(FailureReason::UserUnknown),
            first_error_text: Some("Unregistered".to_owned()),
            last_error_text: Some("Unregistered".to_owned()),
            first_error_at: Some(at),
            last_error_at: Some(at),
            last_modified: at,
        },
        unregistered_at: timestamp,
    }
}

both_backends!(
    registering_creates_the_profile_and_re_registering_updates_the_subscription,
    registering_for_an_unknown_app_is_an_error,
    tokens_are_case_sensitive,
    re_registration_after_the_410_timestamp_releases_the_token_and_enables_the_subscription,
    re_registration_before_the_410_timestamp_keeps_the_quarantine,
    deleting_a_subscription_is_scoped_to_its_app,
    profile_denylist_is_set_and_cleared,
    importing_many_subscriptions_creates_profiles_and_skips_known_pairs,
);

async fn importing_many_subscriptions_creates_profiles_and_skips_known_pairs(store: Store) {
    apps(&store).await;
    store
        .register_subscription("ios-app", "p0", "t0", t0(), t0())
        .await
        .unwrap();
    let pairs: Vec<(String, String)> = (0..4500)
        .map(|i| (format!("p{}", i % 3000), format!("t{i}")))
        .collect();
    let created = store
        .import_subscriptions("ios-app", &pairs, t0())
        .await
        .unwrap();
    assert_eq!(created, 4499, "(p0, t0) was already registered");
    assert_eq!(
        store
            .profile_subscriptions("ios-app", "p1")
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        store.profile_denylisted("ios-app", "p2999").await.unwrap(),
        Some(false)
    );
    assert_eq!(
        store
            .import_subscriptions("ios-app", &pairs, t0())
            .await
            .unwrap(),
        0
    );
    assert!(
        store
            .import_subscriptions("nope", &pairs, t0())
            .await
            .is_err()
    );
}

async fn registering_creates_the_profile_and_re_registering_updates_the_subscription(store: Store) {
    apps(&store).await;
    let first = store
        .register_subscription("ios-app", "alice", "aa01", t0(), t0())
        .await
        .unwrap();
    assert!(first.created);
    assert_eq!(first.subscription.profile_id, "alice");
    assert_eq!(first.subscription.token, "aa01");
    assert!(!first.subscription.disabled);
    assert_eq!(
        store.profile_denylisted("ios-app", "alice").await.unwrap(),
        Some(false)
    );

    let later = t0() + days(1);
    let again = store
        .register_subscription("ios-app", "alice", "aa01", later, later)
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.subscription.id, first.subscription.id);
    assert_eq!(again.subscription.registered_at, later);
    assert_eq!(again.subscription.updated_at, later);
    assert_eq!(again.subscription.created_at, t0());

    // The same token for another profile is another subscription (two profiles, one device).
    let bob = store
        .register_subscription("ios-app", "bob", "aa01", t0(), t0())
        .await
        .unwrap();
    assert!(bob.created);
    assert_ne!(bob.subscription.id, first.subscription.id);
    assert_eq!(
        store
            .profile_subscriptions("ios-app", "alice")
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn registering_for_an_unknown_app_is_an_error(store: Store) {
    apps(&store).await;
    let error = store
        .register_subscription("nope", "alice", "aa01", t0(), t0())
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::UnknownApp(ref app) if app == "nope"),
        "{error:?}"
    );
}

async fn tokens_are_case_sensitive(store: Store) {
    // quarantine-rules.md, "What is quarantined": lookups are case-sensitive.
    apps(&store).await;
    store
        .register_subscription("ios-app", "alice", "abcd", t0(), t0())
        .await
        .unwrap();
    let upper = store
        .register_subscription("ios-app", "alice", "ABCD", t0(), t0())
        .await
        .unwrap();
    assert!(upper.created, "ABCD is another token than abcd");
    store
        .put_address(&unregistered("ios-app", "abcd", t0(), None), t0())
        .await
        .unwrap();
    assert!(store.address("ios-app", "abcd").await.unwrap().is_some());
    assert!(store.address("ios-app", "ABCD").await.unwrap().is_none());
}

/// alice's `aa01` on ios-app, registered on day 0, found unregistered on day 2 (its 410
/// timestamp: day 1), its subscription disabled by the opt-out sweep on day 3. Returns the
/// registration and how many subscriptions the sweep disabled.
async fn unregistered_and_swept(store: &Store) -> (Registration, u64) {
    apps(store).await;
    let sub = store
        .register_subscription("ios-app", "alice", "aa01", t0(), t0())
        .await
        .unwrap();
    store
        .put_address(
            &unregistered("ios-app", "aa01", t0() + days(2), Some(t0() + days(1))),
            t0() + days(2),
        )
        .await
        .unwrap();
    let run = store
        .start_job_run(
            pushgate_store::jobs::Job::OptoutSweep,
            "test",
            t0() + days(3),
        )
        .await
        .unwrap();
    let swept = store.optout_sweep(run, t0() + days(3)).await.unwrap();
    (sub, swept)
}

async fn re_registration_after_the_410_timestamp_releases_the_token_and_enables_the_subscription(
    store: Store,
) {
    // Re-registration rule: registered again after its 410 timestamp -> released, recorded.
    let (sub, swept) = unregistered_and_swept(&store).await;
    assert_eq!(swept, 1);
    assert!(
        store
            .subscription("ios-app", sub.subscription.id)
            .await
            .unwrap()
            .unwrap()
            .disabled
    );

    let now = t0() + days(4);
    let again = store
        .register_subscription("ios-app", "alice", "aa01", now, now)
        .await
        .unwrap();
    let before = again.released.expect("the token is released");
    assert_eq!(before.state.status, AddressStatus::Quarantine);
    assert!(
        !again.subscription.disabled,
        "the subscription is enabled again"
    );
    assert_eq!(again.subscription.disabled_at, None);
    let address = store.address("ios-app", "aa01").await.unwrap().unwrap();
    assert_eq!(address.state.status, AddressStatus::Valid);
    assert_eq!(address.state.error_count, 0);
    assert_eq!(address.state.last_modified, now);
}

async fn re_registration_before_the_410_timestamp_keeps_the_quarantine(store: Store) {
    unregistered_and_swept(&store).await;
    // A replayed registration from before the token stopped being valid.
    let stale = store
        .register_subscription("ios-app", "alice", "aa01", t0(), t0() + days(3))
        .await
        .unwrap();
    assert!(stale.released.is_none());
    assert!(
        stale.subscription.disabled,
        "still disabled: the token is still quarantined"
    );
    let address = store.address("ios-app", "aa01").await.unwrap().unwrap();
    assert_eq!(address.state.status, AddressStatus::Quarantine);
}

async fn deleting_a_subscription_is_scoped_to_its_app(store: Store) {
    apps(&store).await;
    let sub = store
        .register_subscription("ios-app", "alice", "aa01", t0(), t0())
        .await
        .unwrap();
    assert!(
        !store
            .delete_subscription("android-app", sub.subscription.id)
            .await
            .unwrap()
    );
    assert!(
        store
            .subscription("ios-app", sub.subscription.id)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .delete_subscription("ios-app", sub.subscription.id)
            .await
            .unwrap()
    );
    assert!(
        store
            .subscription("ios-app", sub.subscription.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !store
            .delete_subscription("ios-app", sub.subscription.id)
            .await
            .unwrap()
    );
}

async fn profile_denylist_is_set_and_cleared(store: Store) {
    apps(&store).await;
    assert_eq!(
        store.profile_denylisted("ios-app", "carol").await.unwrap(),
        None
    );
    store
        .set_profile_denylisted("ios-app", "carol", true, t0())
        .await
        .unwrap();
    assert_eq!(
        store.profile_denylisted("ios-app", "carol").await.unwrap(),
        Some(true)
    );
    store
        .set_profile_denylisted("ios-app", "carol", false, t0())
        .await
        .unwrap();
    assert_eq!(
        store.profile_denylisted("ios-app", "carol").await.unwrap(),
        Some(false)
    );
    assert_eq!(
        store
            .profile_denylisted("android-app", "carol")
            .await
            .unwrap(),
        None
    );
}
