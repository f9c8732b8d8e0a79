//! The connection every write goes through, and the write transaction over it.
//!
//! On PostgreSQL writes take a connection of the pool, as reads do. SQLite has a single
//! writer, so the store keeps one connection for writes and holds it for its whole life
//! behind a fair (first come, first served) mutex: a transaction locks it, and unlocks it
//! when it commits or is dropped.
//!
//! Why not a pool of one: sqlx's pool gives a connection back through a task it spawns,
//! which sends the connection a ping before the next caller can have it. For the results
//! writer, which runs one transaction after another, that was a task to schedule and a
//! trip to SQLite's thread before each of its transactions, for nothing: a SQLite
//! connection is a handle on a local file and does not go stale.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use sqlx::{Any, AnyConnection, AnyPool, Database, TransactionManager};
use tokio::sync::{Mutex, OwnedMappedMutexGuard, OwnedMutexGuard};

use crate::error::StoreError;

type Manager = <Any as Database>::TransactionManager;

/// Where writes go.
#[derive(Debug, Clone)]
pub(crate) enum Writer {
    /// PostgreSQL: the pool.
    Pool(AnyPool),
    /// SQLite: its one write connection (`None` once the store is closed).
    Held {
        connection: Arc<Mutex<Option<AnyConnection>>>,
        /// How long a writer waits for it before giving up.
        timeout: Duration,
    },
}

impl Writer {
    /// SQLite's write connection, held from now on.
    pub(crate) fn held(connection: AnyConnection, timeout: Duration) -> Self {
        Self::Held {
            connection: Arc::new(Mutex::new(Some(connection))),
            timeout,
        }
    }

    /// The write connection, for statements that need no transaction of their own.
    pub(crate) async fn connection(&self) -> Result<WriteConnection, StoreError> {
        Ok(match self {
            Self::Pool(pool) => WriteConnection::Pool(pool.acquire().await?),
            Self::Held {
                connection,
                timeout,
            } => {
                let guard = tokio::time::timeout(*timeout, connection.clone().lock_owned())
                    .await
                    .map_err(|_| sqlx::Error::PoolTimedOut)?;
                let held = OwnedMutexGuard::try_map(guard, Option::as_mut)
                    .map_err(|_| sqlx::Error::PoolClosed)?;
                WriteConnection::Held(held)
            }
        })
    }

    /// Starts a write transaction with `begin` (SQLite's `BEGIN IMMEDIATE`) or the
    /// dialect's plain `BEGIN` (`None`).
    pub(crate) async fn begin(&self, begin: Option<&'static str>) -> Result<WriteTx, StoreError> {
        let mut connection = self.connection().await?;
        Manager::begin(&mut connection, begin.map(Into::into)).await?;
        Ok(WriteTx {
            connection,
            open: true,
        })
    }

    /// Closes the write connection; later writes fail.
    pub(crate) async fn close(&self) {
        match self {
            Self::Pool(pool) => pool.close().await,
            Self::Held { connection, .. } => {
                if let Some(connection) = connection.lock().await.take() {
                    // As the pool closes its connections: an error here leaves nothing to do.
                    let _ = sqlx::Connection::close(connection).await;
                }
            }
        }
    }
}

/// The write connection, taken until dropped.
pub(crate) enum WriteConnection {
    Pool(sqlx::pool::PoolConnection<Any>),
    Held(OwnedMappedMutexGuard<Option<AnyConnection>, AnyConnection>),
}

impl Deref for WriteConnection {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match self {
            Self::Pool(connection) => connection,
            Self::Held(connection) => connection,
        }
    }
}

impl DerefMut for WriteConnection {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            Self::Pool(connection) => connection,
            Self::Held(connection) => connection,
        }
    }
}

/// A write transaction: [`WriteTx::commit`] keeps what it wrote; dropped without it, it
/// is rolled back before the connection's next statement (as sqlx's own transactions
/// are, by the same calls).
pub(crate) struct WriteTx {
    connection: WriteConnection,
    /// Begun and not yet committed.
    open: bool,
}

impl WriteTx {
    /// Commits the transaction.
    pub(crate) async fn commit(mut self) -> Result<(), StoreError> {
        Manager::commit(&mut self.connection).await?;
        self.open = false;
        Ok(())
    }

    /// Rolls the transaction back.
    pub(crate) async fn rollback(mut self) -> Result<(), StoreError> {
        Manager::rollback(&mut self.connection).await?;
        self.open = false;
        Ok(())
    }
}

impl Deref for WriteTx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.connection
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.connection
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        if self.open {
            Manager::start_rollback(&mut self.connection);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::testing::TestDatabase;
    use crate::{Dialect, Store, StoreError, StoreOptions};

    async fn apps(store: &Store) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM apps")
            .fetch_one(store.pool())
            .await
            .unwrap()
    }

    async fn add_app(store: &Store, id: &str, commit: bool) {
        let mut tx = store.begin_write().await.unwrap();
        sqlx::query(
            "INSERT INTO apps (id, platform, created_at, updated_at) VALUES ($1, 'ios', 0, 0)",
        )
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap();
        if commit {
            tx.commit().await.unwrap();
        }
    }

    /// A transaction dropped without a commit writes nothing, and the connection (on
    /// SQLite the one held for every write) takes the next transaction as usual.
    async fn dropped_then_committed(store: &Store) {
        add_app(store, "dropped", false).await;
        assert_eq!(
            apps(store).await,
            0,
            "the dropped transaction was rolled back"
        );
        add_app(store, "kept", true).await;
        assert_eq!(apps(store).await, 1, "the next transaction was committed");
        let mut tx = store.begin_write().await.unwrap();
        sqlx::query("DELETE FROM apps")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        assert_eq!(apps(store).await, 1, "the rolled back delete left the app");
    }

    #[tokio::test]
    async fn a_write_transaction_dropped_without_commit_writes_nothing_on_sqlite() {
        let db = TestDatabase::sqlite().await;
        dropped_then_committed(&db.store).await;
    }

    #[tokio::test]
    async fn a_write_transaction_dropped_without_commit_writes_nothing_on_postgres() {
        let Some(db) = TestDatabase::postgres().await else {
            return;
        };
        dropped_then_committed(&db.store).await;
    }

    #[tokio::test]
    async fn a_sqlite_writer_waits_its_turn_and_gives_up_after_the_acquire_timeout() {
        let options = StoreOptions {
            acquire_timeout: Duration::from_millis(200),
            ..StoreOptions::default()
        };
        let db = TestDatabase::sqlite_with(&options).await;
        assert_eq!(db.store.dialect(), Dialect::Sqlite);
        let first = db.store.begin_write().await.unwrap();
        let error = db
            .store
            .begin_write()
            .await
            .err()
            .expect("the connection is taken");
        assert!(
            matches!(error, StoreError::Query(sqlx::Error::PoolTimedOut)),
            "{error:?}"
        );
        drop(first);
        // Waiting in turn: the second writer has the connection once the first commits. On
        // a store with the default timeout, so that a slow machine cannot make the second
        // give up while it waits.
        let db = TestDatabase::sqlite().await;
        let first = db.store.begin_write().await.unwrap();
        let second = tokio::spawn({
            let store = db.store.clone();
            async move { add_app(&store, "second", true).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !second.is_finished(),
            "the second writer waits for the first"
        );
        first.commit().await.unwrap();
        second.await.unwrap();
        assert_eq!(apps(&db.store).await, 1);
    }

    #[tokio::test]
    async fn a_closed_sqlite_store_refuses_writes() {
        let db = TestDatabase::sqlite().await;
        db.store.close().await;
        let error = db.store.begin_write().await.err().expect("closed");
        assert!(
            matches!(error, StoreError::Query(sqlx::Error::PoolClosed)),
            "{error:?}"
        );
    }
}
