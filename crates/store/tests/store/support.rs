//! The harness: every store test runs on a fresh SQLite file and on a fresh PostgreSQL
//! database, each dropped at the end.
//!
//! PostgreSQL is at `PUSHGATE_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`): the harness creates a database per test next
//! to it. When it cannot be reached, CI (`CI=true`) fails the test; elsewhere the
//! PostgreSQL half is skipped with a printed reason.

use chrono::{DateTime, TimeZone, Utc};
use pushgate_store::{App, Platform, Store, StoreOptions};
use sqlx::AnyConnection;
use sqlx::Connection;
use sqlx::Executor;

/// Runs each named test function `async fn(Store)` once per backend.
#[macro_export]
macro_rules! both_backends {
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

/// A store on a throwaway database; the database goes when this is dropped.
pub struct TestDb {
    pub store: Store,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite:{}", dir.path().join("pushgate.db").display());
    let store = Store::connect(&url, &StoreOptions::default())
        .await
        .expect("SQLite opens");
    TestDb {
        store,
        _dir: Some(dir),
        postgres: None,
    }
}

/// The admin URL of the test PostgreSQL server.
pub fn postgres_url() -> String {
    std::env::var("PUSHGATE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

pub async fn postgres() -> Option<TestDb> {
    sqlx::any::install_default_drivers();
    let admin_url = postgres_url();
    let mut admin = match AnyConnection::connect(&admin_url).await {
        Ok(connection) => connection,
        Err(error) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("PostgreSQL at PUSHGATE_TEST_DATABASE_URL is unreachable in CI: {error}")
        }
        Err(error) => {
            eprintln!(
                "skipping the PostgreSQL half: cannot reach PUSHGATE_TEST_DATABASE_URL ({error})"
            );
            return None;
        }
    };
    let name = format!("pushgate_test_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("a test database can be created");
    let (base, _) = admin_url
        .rsplit_once('/')
        .expect("a database URL with a path");
    let url = format!("{base}/{name}");
    let store = Store::connect(&url, &StoreOptions::default())
        .await
        .expect("PostgreSQL opens");
    Some(TestDb {
        store,
        _dir: None,
        postgres: Some((admin_url, name)),
    })
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime: drop the database from a thread of its own.
        // FORCE ends the store's own connections.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let mut admin = AnyConnection::connect(&admin_url).await?;
                admin
                    .execute(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop a test database");
        }
    }
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
