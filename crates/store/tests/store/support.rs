//! The harness: every store test runs on a fresh SQLite file and on a fresh PostgreSQL
//! database (`pushgate_store::testing`), each dropped at the end.

use chrono::{DateTime, TimeZone, Utc};
use pushgate_quarantine::AddressStatus;
use pushgate_store::{App, Platform, Store};

/// Runs each named test function `async fn(Store)` once per backend (after `databases:`,
/// each `async fn(&TestDb)`).
#[macro_export]
macro_rules! both_backends {
    // Tests that need the database itself (its URL), not only its store.
    (databases: $($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    let db = $crate::support::sqlite().await;
                    super::$name(&db).await;
                }

                #[tokio::test]
                async fn postgres() {
                    let Some(db) = $crate::support::postgres().await else { return };
                    super::$name(&db).await;
                }
            }
        )*
    };
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    let db = $crate::support::sqlite().await;
                    super::$name(db.store.clone()).await;
                }

                #[tokio::test]
                async fn postgres() {
                    let Some(db) = $crate::support::postgres().await else { return };
                    super::$name(db.store.clone()).await;
                }
            }
        )*
    };
}

pub use pushgate_store::testing::TestDatabase as TestDb;

pub async fn sqlite() -> TestDb {
    TestDb::sqlite().await
}

pub async fn postgres() -> Option<TestDb> {
    TestDb::postgres().await
}

/// Registers each `(profile, token)` with `app`, in order, at [`t0`].
pub async fn subscribe(store: &Store, app: &str, subscriptions: &[(&str, &str)]) {
    for (profile, token) in subscriptions {
        store
            .register_subscription(app, profile, token, t0(), t0())
            .await
            .unwrap();
    }
}

/// Turns `db` back into a database from before migrations `versions` (`undo` reverses
/// them), then migrates it again: a migration's test on the data it meets. Returns a
/// connection of its own to the database, for reading what the migrations did.
pub async fn migrate_again(db: &TestDb, versions: &[i64], undo: &[&str]) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let raw = sqlx::AnyPool::connect(&db.url).await.unwrap();
    for version in versions {
        sqlx::query("DELETE FROM _sqlx_migrations WHERE version = $1")
            .bind(version)
            .execute(&raw)
            .await
            .unwrap();
    }
    for sql in undo {
        sqlx::query(sql).execute(&raw).await.unwrap();
    }
    db.store.migrate().await.unwrap();
    raw
}

/// A fixed instant, so that tests read the same way.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

pub fn secs(n: i64) -> chrono::TimeDelta {
    chrono::TimeDelta::seconds(n)
}

pub fn days(n: i64) -> chrono::TimeDelta {
    chrono::TimeDelta::days(n)
}

/// Creates the apps `ios-app` and `android-app`.
pub async fn apps(store: &Store) {
    for (id, platform) in [
        ("ios-app", Platform::Ios),
        ("android-app", Platform::Android),
    ] {
        store
            .upsert_app(
                &App {
                    id: id.to_owned(),
                    platform,
                },
                t0(),
            )
            .await
            .expect("app written");
    }
}

/// The quarantine-list status of `token` of `app` (the address must exist).
pub async fn status(store: &Store, app: &str, token: &str) -> AddressStatus {
    let address = store.address(app, token).await.unwrap();
    address
        .unwrap_or_else(|| panic!("no address {token:?} of {app:?}"))
        .state
        .status
}
