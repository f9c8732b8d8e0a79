//! pushgate's persistence: SQLite (the embedded default) and PostgreSQL (production,
//! several nodes), with the same behaviour on both.
//!
//! # How queries are checked
//! Every query is a runtime query (`sqlx::query` / `query_as` with `FromRow`) through
//! sqlx's `Any` driver, so one SQL text serves both backends; the few places where the
//! dialects differ (row locks, advisory locks) branch on [`Dialect`]. The compile-time
//! macros would need a live database or committed offline data for *two* backends and
//! could not check the queries we assemble for batches. Instead, every query runs in the
//! test suite against both SQLite and PostgreSQL (`tests/store`). Values cross the driver as
//! the types `Any` supports everywhere: times are epoch milliseconds (`i64`), flags are
//! `0`/`1`, enums are their spec spelling.
//!
//! # Layout
//! - [`error`](mod@error): [`StoreError`].
//! - [`model`]: the records the store reads and writes.
//! - [`apps`](mod@apps): apps and profiles (with the push denylist).
//! - [`subscriptions`](mod@subscriptions): registration (and re-registration release),
//!   removal.
//! - [`deliveries`](mod@deliveries): creating deliveries, their targets and state.
//! - [`analysis`](mod@analysis): one batch of a delivery's analysis: the exclusion rules.
//! - [`queue`](mod@queue): the durable message queue: claim with a lease, and the results
//!   transaction (message results and address states together).
//! - [`addresses`](mod@addresses): the quarantine list, release one or in bulk.
//! - [`jobs`](mod@jobs): the opt-out sweep, the cleanup's reads and writes, job runs and
//!   the one-node-at-a-time lock.
//! - [`reports`](mod@reports): delivery summary, message and exclusion logs, reports.
//! - `sql`: batch statements with each dialect's cheapest placeholders.
//! - `testing` (feature `testing`): throwaway databases for test suites.
//! - `writer`: the connection writes go through (on SQLite, one held for the store's
//!   life) and the write transaction.
//! - [`stats`](mod@stats): operational counts for metrics (queue depth).

pub mod addresses;
pub mod analysis;
pub mod apps;
pub mod deliveries;
pub mod error;
pub mod jobs;
pub mod model;
pub mod queue;
pub mod reports;
mod sql;
pub mod stats;
pub mod subscriptions;
#[cfg(feature = "testing")]
pub mod testing;
mod time;
mod writer;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, Connection, Executor, Row};
use writer::{WriteConnection, WriteTx, Writer};

pub use error::StoreError;
pub use model::*;
pub use time::{from_millis, millis};

/// Pages of SQLite's write-ahead log (4 KiB each) past which the write connection copies
/// the log into the database file itself, at the end of a commit (SQLite's default is
/// 1,000). Below it [`Store::checkpoint`], which `pushgate serve` runs every second, does
/// that work from a read connection, off the one write connection's path; the bound keeps
/// the log from growing without it.
pub const WAL_AUTOCHECKPOINT_PAGES: u32 = 10_000;

/// The default page cache of SQLite's write connection, in KiB
/// ([`StoreOptions::sqlite_write_cache_kib`]; its read connections keep SQLite's default of
/// 2,000 KiB). It also bounds what SQLite's sorter keeps in memory before it writes sorted
/// runs to temporary files, as when a delivery's messages are sorted by profile at the end
/// of its analysis (migration 0007). It was 64 MiB while the messages' index by profile
/// took a delivery's messages at random places; since that index is written sorted, a cache
/// of 2 to 64 MiB gave the same analysis and sending times within the noise, and 64 MiB
/// only made the process larger (a peak RSS of about 136 against 38 MiB).
pub const WRITER_PAGE_CACHE_KIB: u32 = 8_192;

/// What a SQLite checkpoint found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalCheckpoint {
    /// Frames in the write-ahead log.
    pub log_frames: i64,
    /// Frames of it now in the database file.
    pub checkpointed_frames: i64,
}

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite, one file in WAL mode: the embedded default.
    Sqlite,
    /// PostgreSQL: production, and several nodes on one database.
    Postgres,
}

impl Dialect {
    /// The dialect of a database URL (`sqlite:` or `postgres:`/`postgresql:`).
    pub fn of_url(url: &str) -> Result<Self, StoreError> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" | "postgresql" => Ok(Self::Postgres),
            _ => Err(StoreError::UnsupportedUrl {
                scheme: scheme.to_owned(),
            }),
        }
    }
}

/// How to connect.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Connections in the pool.
    pub max_connections: u32,
    /// How long to wait for a connection (or, on SQLite, for the write lock).
    pub acquire_timeout: Duration,
    /// On SQLite, the write connection's page cache in KiB (default
    /// [`WRITER_PAGE_CACHE_KIB`]); the read connections keep SQLite's default.
    pub sqlite_write_cache_kib: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(10),
            sqlite_write_cache_kib: WRITER_PAGE_CACHE_KIB,
        }
    }
}

/// The database, with the schema migrated; cheap to clone.
///
/// On SQLite, every write goes through one connection of its own, held for the store's
/// life (`writer`): SQLite has a single writer anyway, and a writer that waits for another
/// connection's lock sleeps in SQLite's busy handler (1, 2, 5, 10... ms), where waiting
/// for the one write connection is a wake-up as soon as it is free. Reads use the pool's
/// connections (WAL lets them run beside the writer). On PostgreSQL writes take
/// connections of the same pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    writer: Writer,
    dialect: Dialect,
}

/// Sets a new connection up: on PostgreSQL the planner's costs, on SQLite WAL mode and the
/// pragmas every connection needs, and `page_cache_kib` in place of the default page cache.
async fn set_up(
    dialect: Dialect,
    connection: &mut AnyConnection,
    page_cache_kib: Option<u32>,
) -> Result<(), sqlx::Error> {
    match dialect {
        Dialect::Postgres => {
            // The queue's statements look up batches of rows by key. With the default
            // random_page_cost (4, for spinning disks) the planner prefers scanning the
            // messages table whole once a batch has a few hundred rows: quadratic over a
            // large delivery. JIT compiling the analysis' large statements costs more than
            // it saves for queries of this size.
            connection
                .execute("SET random_page_cost = 1.1; SET jit = off;")
                .await?;
        }
        Dialect::Sqlite => {
            connection
                .execute(
                    format!(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                         PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES};"
                    )
                    .as_str(),
                )
                .await?;
            if let Some(kib) = page_cache_kib {
                // A negative size is in KiB, a positive one in pages.
                connection
                    .execute(format!("PRAGMA cache_size = -{kib}").as_str())
                    .await?;
            }
        }
    }
    Ok(())
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Store {
    /// Connects to `url` (`sqlite:PATH` or `postgres://...`) and runs the embedded
    /// migrations. A SQLite file is created if missing and put in WAL mode.
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::of_url(url)?;
        let url = match dialect {
            Dialect::Sqlite if !url.contains("mode=") => {
                let separator = if url.contains('?') { '&' } else { '?' };
                format!("{url}{separator}mode=rwc")
            }
            _ => url.to_owned(),
        };
        let connect_options = AnyConnectOptions::from_str(&url).map_err(StoreError::connect)?;
        let pool = Self::pool_options(dialect, options.max_connections, options)
            .connect_with(connect_options.clone())
            .await
            .map_err(StoreError::connect)?;
        let writer = match dialect {
            Dialect::Sqlite => {
                let mut connection = AnyConnection::connect_with(&connect_options)
                    .await
                    .map_err(StoreError::connect)?;
                set_up(
                    dialect,
                    &mut connection,
                    Some(options.sqlite_write_cache_kib),
                )
                .await
                .map_err(StoreError::connect)?;
                Writer::held(connection, options.acquire_timeout)
            }
            Dialect::Postgres => Writer::Pool(pool.clone()),
        };
        let store = Self {
            pool,
            writer,
            dialect,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// A pool's options, each new connection set up by [`set_up`] with the default page
    /// cache.
    fn pool_options(dialect: Dialect, connections: u32, options: &StoreOptions) -> AnyPoolOptions {
        AnyPoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(options.acquire_timeout)
            // A SQLite connection is a handle on a local file: it does not go stale as a
            // network connection does, and the ping sqlx sends before handing one out
            // would be one more trip to its thread for every transaction.
            .test_before_acquire(dialect == Dialect::Postgres)
            .after_connect(move |connection, _| {
                Box::pin(async move { set_up(dialect, connection, None).await })
            })
    }

    /// Runs the embedded migrations of this dialect (idempotent).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self.dialect {
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
            Dialect::Postgres => &POSTGRES_MIGRATIONS,
        };
        let mut connection = self.writer.connection().await?;
        migrator
            .run(&mut *connection)
            .await
            .map_err(StoreError::Migrate)
    }

    /// The database's dialect.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Checks that the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// On SQLite, copies what it can of the write-ahead log into the database file from a
    /// read connection (a `PASSIVE` checkpoint: it waits for no one and no one waits for
    /// it), so that the write connection seldom has to (see [`WAL_AUTOCHECKPOINT_PAGES`]).
    /// `None` on PostgreSQL, which has nothing of the kind to do.
    pub async fn checkpoint(&self) -> Result<Option<WalCheckpoint>, StoreError> {
        if self.dialect != Dialect::Sqlite {
            return Ok(None);
        }
        let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&self.pool)
            .await?;
        Ok(Some(WalCheckpoint {
            log_frames: row.try_get(1)?,
            checkpointed_frames: row.try_get(2)?,
        }))
    }

    /// Closes every connection; later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }

    /// Starts a write transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so that a read-then-write transaction cannot fail halfway
    /// on a lock upgrade.
    pub(crate) async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        self.writer
            .begin(match self.dialect {
                Dialect::Sqlite => Some("BEGIN IMMEDIATE"),
                Dialect::Postgres => None,
            })
            .await
    }

    /// The pool for reads.
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The connection for writes that need no transaction of their own (on SQLite, its
    /// one write connection), until dropped.
    pub(crate) async fn writer(&self) -> Result<WriteConnection, StoreError> {
        self.writer.connection().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlites_write_connection_alone_has_the_larger_page_cache() {
        let db = testing::TestDatabase::sqlite().await;
        let options = StoreOptions {
            sqlite_write_cache_kib: 4096,
            ..StoreOptions::default()
        };
        let smaller = testing::TestDatabase::sqlite_with(&options).await;
        let cache_size = "PRAGMA cache_size";
        let writer: i64 = sqlx::query_scalar(cache_size)
            .fetch_one(&mut *db.store.writer().await.unwrap())
            .await
            .unwrap();
        let reader: i64 = sqlx::query_scalar(cache_size)
            .fetch_one(db.store.pool())
            .await
            .unwrap();
        assert_eq!(writer, -i64::from(WRITER_PAGE_CACHE_KIB), "in KiB");
        assert_eq!(reader, -2000, "SQLite's default, 2,000 KiB");
        let writer: i64 = sqlx::query_scalar(cache_size)
            .fetch_one(&mut *smaller.store.writer().await.unwrap())
            .await
            .unwrap();
        assert_eq!(writer, -4096, "as configured");
    }
}
