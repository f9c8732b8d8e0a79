//! Throwaway databases for tests (feature `testing`): a fresh SQLite file, or a fresh
//! PostgreSQL database next to `PUSHGATE_TEST_DATABASE_URL`, dropped when the guard goes.
//!
//! PostgreSQL is at `PUSHGATE_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`). When it cannot be reached, CI (`CI=true`)
//! fails; elsewhere [`TestDatabase::postgres`] returns `None` after printing why, and the
//! caller skips its PostgreSQL half.

use sqlx::{AnyConnection, Connection, Executor};

use crate::{Store, StoreOptions};

/// A store on a throwaway database; the database goes when this is dropped.
pub struct TestDatabase {
    /// The store.
    pub store: Store,
    /// The URL the store was opened with (to open it again, e.g. from a child process).
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

/// The admin URL of the test PostgreSQL server.
pub fn postgres_url() -> String {
    std::env::var("PUSHGATE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

impl TestDatabase {
    /// A store on a new SQLite file in a temporary folder.
    ///
    /// # Panics
    /// If the folder or the database cannot be created (a test set-up failure).
    pub async fn sqlite() -> Self {
        Self::sqlite_with(&StoreOptions::default()).await
    }

    /// [`Self::sqlite`] with these options.
    ///
    /// # Panics
    /// If the folder or the database cannot be created (a test set-up failure).
    pub async fn sqlite_with(options: &StoreOptions) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite:{}", dir.path().join("pushgate.db").display());
        let store = Store::connect(&url, options).await.expect("SQLite opens");
        Self {
            store,
            url,
            _dir: Some(dir),
            postgres: None,
        }
    }

    /// A store on a new PostgreSQL database, or `None` (with a printed reason) when
    /// PostgreSQL is unreachable outside CI.
    ///
    /// # Panics
    /// In CI when PostgreSQL is unreachable, or if the database cannot be created.
    pub async fn postgres() -> Option<Self> {
        Self::postgres_with(&StoreOptions::default()).await
    }

    /// [`Self::postgres`] with these options.
    ///
    /// # Panics
    /// In CI when PostgreSQL is unreachable, or if the database cannot be created.
    pub async fn postgres_with(options: &StoreOptions) -> Option<Self> {
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
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("a test database can be created");
        let (base, _) = admin_url
            .rsplit_once('/')
            .expect("a database URL with a path");
        let url = format!("{base}/{name}");
        let store = Store::connect(&url, options)
            .await
            .expect("PostgreSQL opens");
        Some(Self {
            store,
            url,
            _dir: None,
            postgres: Some((admin_url, name)),
        })
    }
}

impl Drop for TestDatabase {
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
                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
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
