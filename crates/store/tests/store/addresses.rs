//! The quarantine list: reading, filters, release one and in bulk.

use pushgate_quarantine::AddressStatus;
use pushgate_store::addresses::{AddressFilter, ReleaseAction};
use pushgate_store::{Address, Store};

use crate::both_backends;
use crate::subscriptions::unregistered;
use crate::support::{apps, days, status, t0};

fn with_text(token: &str, text: &str, at: chrono::DateTime<chrono::Utc>) -> Address {
    let mut address = unregistered("android-app", token, at, None);
    address.state.last_error_text = Some(text.to_owned());
    address
}

async fn seed(store: &Store) {
    apps(store).await;
    store
        .put_address(&with_text("t1", "outage 50% of FCM", t0()), t0())
        .await
        .unwrap();
    store
        .put_address(&with_text("t2", "outage 50_ of FCM", t0() + days(1)), t0())
        .await
        .unwrap();
    store
        .put_address(&with_text("t3", "UNREGISTERED", t0() + days(2)), t0())
        .await
        .unwrap();
    let mut denylisted = with_text("t4", "outage 50% of FCM", t0() + days(1));
    denylisted.state.status = AddressStatus::Denylisted;
    store.put_address(&denylisted, t0()).await.unwrap();
    store
        .put_address(&unregistered("ios-app", "t1", t0(), None), t0())
        .await
        .unwrap();
}

fn quarantined_only() -> AddressFilter {
    AddressFilter {
        statuses: vec![AddressStatus::Quarantine],
        ..AddressFilter::default()
    }
}

both_backends!(
    the_quarantine_list_pages_and_filters,
    releasing_one_address_sets_it_valid,
    bulk_release_by_error_text_and_time_window_to_valid,
    bulk_release_can_delete_and_dry_run_counts_only,
    bulk_release_leaves_denylisted_and_allowlisted_addresses_unless_named,
    a_results_transaction_finds_each_address_once_in_token_order,
    an_import_writes_every_address_or_none,
);

async fn an_import_writes_every_address_or_none(store: Store) {
    apps(&store).await;
    // More than one statement's worth on SQLite (256 rows at most), so that the import
    // spans several there.
    let import: Vec<Address> = (0..700)
        .map(|i| unregistered("android-app", &format!("import-{i:04}"), t0(), None))
        .collect();
    let mut twice = import.clone();
    twice.push(import[3].clone());
    let error = store
        .put_addresses(&twice, t0())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("addresses 3 and 700 are the same token of app \"android-app\""),
        "{error}"
    );
    assert!(
        !error.contains("import-0003"),
        "no token in the error: {error}"
    );
    let first = store.address("android-app", "import-0000").await.unwrap();
    assert!(first.is_none(), "nothing written: {first:?}");

    store.put_addresses(&import, t0()).await.unwrap();
    for token in ["import-0000", "import-0350", "import-0699"] {
        assert_eq!(
            status(&store, "android-app", token).await,
            AddressStatus::Quarantine
        );
    }
}

async fn a_results_transaction_finds_each_address_once_in_token_order(store: Store) {
    seed(&store).await;
    let mut tx = store.begin_results("w1").await.unwrap();
    // Three tokens of which the last (in token order) has a row: on SQLite the lookup is padded to four
    // tokens with the last repeated. And the other app's t1 is not android-app's.
    let found = tx
        .lock_addresses("android-app", &["t3", "t0", "t1", "t3"])
        .await
        .unwrap();
    let tokens: Vec<&str> = found.iter().map(|a| a.token.as_str()).collect();
    assert_eq!(tokens, ["t1", "t3"]);
    assert!(found.iter().all(|a| a.app_id == "android-app"));
    let pairs = [("android-app", "t3"), ("ios-app", "t1"), ("ios-app", "t7")];
    let found = tx.lock_addresses_of(pairs).await.unwrap();
    let mut keys: Vec<(String, String)> = found.into_keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            ("android-app".to_owned(), "t3".to_owned()),
            ("ios-app".to_owned(), "t1".to_owned())
        ]
    );
}

async fn bulk_release_leaves_denylisted_and_allowlisted_addresses_unless_named(store: Store) {
    seed(&store).await;
    // t4 is Denylisted with "outage 50% of FCM", like t1.
    let filter = AddressFilter {
        text_contains: Some("outage".into()),
        ..AddressFilter::default()
    };
    let released = store
        .release_bulk("android-app", &filter, ReleaseAction::Valid, false, t0())
        .await
        .unwrap();
    assert_eq!(released, 2, "t1 and t2, not the denylisted t4");
    assert_eq!(
        status(&store, "android-app", "t4").await,
        AddressStatus::Denylisted
    );
    let named = AddressFilter {
        statuses: vec![AddressStatus::Denylisted],
        ..filter
    };
    assert_eq!(
        store
            .release_bulk("android-app", &named, ReleaseAction::Valid, false, t0())
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        status(&store, "android-app", "t4").await,
        AddressStatus::Valid
    );
}

async fn the_quarantine_list_pages_and_filters(store: Store) {
    seed(&store).await;
    let all = store
        .addresses("android-app", &AddressFilter::default(), None, 100)
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|a| a.token.as_str()).collect::<Vec<_>>(),
        ["t1", "t2", "t3", "t4"]
    );
    let page = store
        .addresses("android-app", &AddressFilter::default(), Some("t2"), 1)
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].token, "t3");
    let denylisted = AddressFilter {
        statuses: vec![AddressStatus::Denylisted],
        ..AddressFilter::default()
    };
    assert_eq!(
        store
            .addresses("android-app", &denylisted, None, 100)
            .await
            .unwrap()
            .len(),
        1
    );
    let text = AddressFilter {
        text_contains: Some("50%".into()),
        ..quarantined_only()
    };
    let found = store
        .addresses("android-app", &text, None, 100)
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|a| a.token.as_str()).collect::<Vec<_>>(),
        ["t1"],
        "% is a literal"
    );
    let window = AddressFilter {
        modified_from: Some(t0() + days(1)),
        modified_to: Some(t0() + days(1)),
        ..quarantined_only()
    };
    let found = store
        .addresses("android-app", &window, None, 100)
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|a| a.token.as_str()).collect::<Vec<_>>(),
        ["t2"]
    );
    let reason = AddressFilter {
        reason: Some(1),
        ..AddressFilter::default()
    };
    assert_eq!(
        store
            .addresses("android-app", &reason, None, 100)
            .await
            .unwrap()
            .len(),
        4
    );
}

async fn releasing_one_address_sets_it_valid(store: Store) {
    // quarantine-rules.md, "Manual and bulk release": one address back to Valid.
    seed(&store).await;
    let before = store
        .release_address("android-app", "t3", t0() + days(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(before.state.status, AddressStatus::Quarantine);
    let after = store.address("android-app", "t3").await.unwrap().unwrap();
    assert_eq!(after.state.status, AddressStatus::Valid);
    assert_eq!(after.state.error_count, 0);
    assert_eq!(after.state.last_modified, t0() + days(5));
    assert_eq!(
        after.state.last_error_text.as_deref(),
        Some("UNREGISTERED"),
        "history stays"
    );
    assert!(
        store
            .release_address("android-app", "nope", t0())
            .await
            .unwrap()
            .is_none()
    );
}

async fn bulk_release_by_error_text_and_time_window_to_valid(store: Store) {
    // quarantine-rules.md, "Manual and bulk release": select by error text (contains), app
    // and last-modified window, set them Valid.
    seed(&store).await;
    let filter = AddressFilter {
        text_contains: Some("outage".into()),
        modified_from: Some(t0()),
        modified_to: Some(t0() + days(1)),
        ..quarantined_only()
    };
    let released = store
        .release_bulk(
            "android-app",
            &filter,
            ReleaseAction::Valid,
            false,
            t0() + days(9),
        )
        .await
        .unwrap();
    assert_eq!(released, 2);
    for (token, status) in [
        ("t1", AddressStatus::Valid),
        ("t2", AddressStatus::Valid),
        ("t3", AddressStatus::Quarantine),
        ("t4", AddressStatus::Denylisted),
    ] {
        let address = store.address("android-app", token).await.unwrap().unwrap();
        assert_eq!(address.state.status, status, "{token}");
    }
    let other_app = store.address("ios-app", "t1").await.unwrap().unwrap();
    assert_eq!(
        other_app.state.status,
        AddressStatus::Quarantine,
        "only the filtered app"
    );
    let t1 = store.address("android-app", "t1").await.unwrap().unwrap();
    assert_eq!(t1.state.last_modified, t0() + days(9));
    assert_eq!(t1.state.error_count, 0);
}

async fn bulk_release_can_delete_and_dry_run_counts_only(store: Store) {
    seed(&store).await;
    let filter = AddressFilter {
        text_contains: Some("outage".into()),
        ..quarantined_only()
    };
    let counted = store
        .release_bulk("android-app", &filter, ReleaseAction::Delete, true, t0())
        .await
        .unwrap();
    assert_eq!(counted, 2);
    assert!(
        store.address("android-app", "t1").await.unwrap().is_some(),
        "a dry run changes nothing"
    );
    let deleted = store
        .release_bulk("android-app", &filter, ReleaseAction::Delete, false, t0())
        .await
        .unwrap();
    assert_eq!(deleted, 2);
    assert!(store.address("android-app", "t1").await.unwrap().is_none());
    assert!(store.address("android-app", "t2").await.unwrap().is_none());
    assert!(store.address("android-app", "t3").await.unwrap().is_some());
    let none = store
        .release_bulk("android-app", &filter, ReleaseAction::Delete, false, t0())
        .await
        .unwrap();
    assert_eq!(none, 0);
}

#[tokio::test]
async fn a_bulk_release_on_postgres_releases_and_records_only_what_still_matches_after_a_send() {
    // quarantine-rules.md, "Manual and bulk release": the selected addresses are released
    // and each release is recorded. A results transaction holds "x" while an operator
    // releases the app's quarantine list; the send succeeded, so "x" is Valid when its
    // lock comes free: it is neither released nor recorded, and the count says so.
    let Some(db) = crate::support::postgres().await else {
        return;
    };
    let store = db.store.clone();
    apps(&store).await;
    for token in ["x", "y"] {
        store
            .put_address(&unregistered("android-app", token, t0(), None), t0())
            .await
            .unwrap();
    }
    let mut results = store.begin_results("w1").await.unwrap();
    let locked = results.lock_addresses("android-app", &["x"]).await.unwrap();
    let release = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .release_bulk(
                    "android-app",
                    &AddressFilter::default(),
                    ReleaseAction::Valid,
                    false,
                    t0() + days(2),
                )
                .await
        }
    });

    // Wait until the release waits for the lock on "x".
    sqlx::any::install_default_drivers();
    let observer = sqlx::AnyPool::connect(&db.url).await.unwrap();
    let waiting = "SELECT COUNT(*) FROM pg_stat_activity \
                   WHERE datname = current_database() AND wait_event_type = 'Lock'";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while sqlx::query_scalar::<_, i64>(waiting)
        .fetch_one(&observer)
        .await
        .unwrap()
        == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the release never waited"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let sent = Address {
        state: locked[0].state.cleared(t0() + days(1)),
        ..locked[0].clone()
    };
    results
        .write_addresses(std::slice::from_ref(&sent), t0() + days(1))
        .await
        .unwrap();
    results.commit().await.unwrap();

    assert_eq!(release.await.unwrap().unwrap(), 1);
    assert_eq!(store.address("android-app", "x").await.unwrap(), Some(sent));
    assert_eq!(
        status(&store, "android-app", "y").await,
        AddressStatus::Valid
    );
    let recorded: Vec<String> =
        sqlx::query_scalar("SELECT token FROM address_releases ORDER BY token")
            .fetch_all(&observer)
            .await
            .unwrap();
    assert_eq!(recorded, ["y"]);
    observer.close().await;
}
