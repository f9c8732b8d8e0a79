//! Scheduled jobs' database side: the opt-out sweep, the cleanup's reads and writes (and
//! its purge of old delivery logs), job runs with what they changed, and the lock that lets
//! one node at a time run a job.

use chrono::{DateTime, Utc};
use pushgate_quarantine::rules::UNREGISTERED;
use serde::Serialize;
use sqlx::pool::PoolConnection;
use sqlx::{Any, Row};

use crate::addresses::{ADDRESS_COLUMNS, address_from_row, lock_addresses_of, upsert_addresses};
use crate::analysis::MESSAGE_ID_BLOCK;
use crate::error::StoreError;
use crate::model::Address;
use crate::sql::{Statement, Value};
use crate::time::{from_millis, millis};
use crate::writer::WriteTx;
use crate::{Dialect, Store};

/// An address the cleanup releases: as it read it, as it is to be written, and the change
/// recorded for the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanupRelease {
    /// The address as the cleanup read it.
    pub before: Address,
    /// Its new state.
    pub after: Address,
    /// What the run records (`With errors -> Valid: ...`).
    pub change: String,
}

/// The scheduled jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Job {
    /// Every 6 hours: disable subscriptions of unregistered tokens.
    OptoutSweep,
    /// Daily: the 10-day and 30-day rules, and the purge of old delivery logs when a
    /// retention is set.
    Cleanup,
}

impl Job {
    /// The job's name (`optout-sweep`, `cleanup`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OptoutSweep => "optout-sweep",
            Self::Cleanup => "cleanup",
        }
    }

    /// The PostgreSQL advisory lock key of the job (arbitrary, fixed, distinct).
    const fn lock_key(self) -> i64 {
        match self {
            Self::OptoutSweep => 0x7075_7368_0001,
            Self::Cleanup => 0x7075_7368_0002,
        }
    }
}

/// The right to run a job: on PostgreSQL a session advisory lock, held on its own
/// connection until [`JobLock::release`] (or until the process dies); on SQLite, a single
/// node, nothing to hold.
pub struct JobLock {
    connection: Option<PoolConnection<Any>>,
    key: i64,
}

impl JobLock {
    /// Gives the lock back.
    pub async fn release(self) -> Result<(), StoreError> {
        if let Some(mut connection) = self.connection {
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(self.key)
                .execute(&mut *connection)
                .await?;
        }
        Ok(())
    }
}

/// One run of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobRun {
    /// Identifier.
    pub id: i64,
    /// Which job.
    pub job: String,
    /// The node that ran it.
    pub node: String,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End, if it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// `running`, `ok` or `failed`.
    pub outcome: String,
    /// How many subscriptions, addresses or purged deliveries it changed.
    pub changed: i64,
    /// A note (the error of a failed run).
    pub detail: Option<String>,
}

/// One change a job run made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobChange {
    /// The app.
    pub app_id: String,
    /// `subscription`, `address` or `delivery`.
    pub subject: String,
    /// The subscription id, the token or the delivery id.
    pub subject_key: String,
    /// What changed.
    pub change: String,
}

impl Store {
    /// Takes the job's lock if no other node holds it; `None` if one does.
    pub async fn try_lock_job(&self, job: Job) -> Result<Option<JobLock>, StoreError> {
        let key = job.lock_key();
        if self.dialect() == Dialect::Sqlite {
            return Ok(Some(JobLock {
                connection: None,
                key,
            }));
        }
        let mut connection = self.pool().acquire().await?;
        let locked: bool = sqlx::query("SELECT pg_try_advisory_lock($1) AS locked")
            .bind(key)
            .fetch_one(&mut *connection)
            .await?
            .try_get("locked")?;
        Ok(locked.then_some(JobLock {
            connection: Some(connection),
            key,
        }))
    }

    /// Records the start of a run; returns its id.
    pub async fn start_job_run(
        &self,
        job: Job,
        node: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO job_runs (job, node, started_at, outcome) VALUES ($1, $2, $3, 'running') RETURNING id",
        )
        .bind(job.as_str())
        .bind(node)
        .bind(millis(now))
        .fetch_one(&mut *self.writer().await?)
        .await?;
        Ok(id)
    }

    /// Records the end of a run.
    pub async fn finish_job_run(
        &self,
        run_id: i64,
        ok: bool,
        changed: u64,
        detail: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE job_runs SET finished_at = $2, outcome = $3, changed = $4, detail = $5 WHERE id = $1",
        )
        .bind(run_id)
        .bind(millis(now))
        .bind(if ok { "ok" } else { "failed" })
        .bind(i64::try_from(changed).unwrap_or(i64::MAX))
        .bind(detail)
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(())
    }

    /// The latest runs of a job, newest first.
    pub async fn job_runs(&self, job: Job, limit: i64) -> Result<Vec<JobRun>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, job, node, started_at, finished_at, outcome, changed, detail FROM job_runs \
             WHERE job = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(job.as_str())
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(JobRun {
                    id: row.try_get("id")?,
                    job: row.try_get("job")?,
                    node: row.try_get("node")?,
                    started_at: from_millis(row.try_get("started_at")?),
                    finished_at: row
                        .try_get::<Option<i64>, _>("finished_at")?
                        .map(from_millis),
                    outcome: row.try_get("outcome")?,
                    changed: row.try_get("changed")?,
                    detail: row.try_get("detail")?,
                })
            })
            .collect()
    }

    /// What a run changed.
    pub async fn job_changes(&self, run_id: i64) -> Result<Vec<JobChange>, StoreError> {
        let rows = sqlx::query(
            "SELECT app_id, subject, subject_key, change FROM job_changes WHERE run_id = $1 ORDER BY subject_key",
        )
        .bind(run_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(JobChange {
                    app_id: row.try_get("app_id")?,
                    subject: row.try_get("subject")?,
                    subject_key: row.try_get("subject_key")?,
                    change: row.try_get("change")?,
                })
            })
            .collect()
    }

    /// The opt-out sweep (`mobileAppOptOutMgt`): sets `disabled` on every subscription
    /// whose token is quarantined as unregistered or invalid ([`UNREGISTERED`]: in
    /// `Quarantine` with failure reason 1, User unknown), recording each as a change of
    /// `run_id`. Returns how many.
    pub async fn optout_sweep(&self, run_id: i64, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let (status, reason) = UNREGISTERED;
        let rows = sqlx::query(
            "UPDATE subscriptions SET disabled = 1, disabled_at = $1, updated_at = $1 \
             WHERE disabled = 0 AND EXISTS (SELECT 1 FROM addresses a \
               WHERE a.app_id = subscriptions.app_id AND a.token = subscriptions.token \
               AND a.status = $2 AND a.last_failure_reason = $3) \
             RETURNING id, app_id",
        )
        .bind(millis(now))
        .bind(status.as_str())
        .bind(i64::from(reason.value()))
        .fetch_all(&mut *tx)
        .await?;
        let disabled: Vec<(i64, String)> = rows
            .iter()
            .map(|row| Ok((row.try_get("id")?, row.try_get("app_id")?)))
            .collect::<Result<_, StoreError>>()?;
        for chunk in disabled.chunks(5000) {
            let mut statement = Statement::new(self.dialect());
            statement.push(
                "INSERT INTO job_changes (run_id, app_id, subject, subject_key, change) VALUES ",
            );
            for (i, (id, app_id)) in chunk.iter().enumerate() {
                if i > 0 {
                    statement.push(", ");
                }
                statement.row([
                    Value::from(run_id),
                    Value::from(app_id.as_str()),
                    Value::from("subscription"),
                    Value::from(id.to_string()),
                    Value::from("disabled"),
                ]);
            }
            statement.query().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(disabled.len() as u64)
    }

    /// A page of the addresses the cleanup must look at: `Valid` or `With errors` with an
    /// open error episode, ordered by (app, token), after `after`.
    pub async fn cleanup_candidates(
        &self,
        after: Option<(&str, &str)>,
        limit: i64,
    ) -> Result<Vec<Address>, StoreError> {
        let (app, token) = after.unwrap_or(("", ""));
        let sql = format!(
            "SELECT {ADDRESS_COLUMNS} FROM addresses WHERE status IN ('Valid', 'With errors') \
             AND first_error_at IS NOT NULL AND (app_id > $1 OR (app_id = $1 AND token > $2)) \
             ORDER BY app_id, token LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(app)
            .bind(token)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(address_from_row).collect()
    }

    /// Writes the addresses the cleanup released, recording each as a change of `run_id`,
    /// and returns how many it wrote. An address is written only if it is still as the
    /// cleanup read it (`before`): one that a send changed meanwhile (a new error, a
    /// quarantine) keeps that change, and the next cleanup looks at it again.
    pub async fn write_cleanup(
        &self,
        run_id: i64,
        released: &[CleanupRelease],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        if released.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        let pairs = released
            .iter()
            .map(|r| (r.before.app_id.as_str(), r.before.token.as_str()));
        let current = lock_addresses_of(&mut tx, self.dialect(), pairs).await?;
        let released: Vec<&CleanupRelease> = released
            .iter()
            .filter(|release| {
                let key = (release.before.app_id.clone(), release.before.token.clone());
                current.get(&key) == Some(&release.before)
            })
            .collect();
        let addresses: Vec<Address> = released.iter().map(|r| r.after.clone()).collect();
        upsert_addresses(&mut tx, self.dialect(), &addresses, now).await?;
        for chunk in released.chunks(5000) {
            let mut statement = Statement::new(self.dialect());
            statement.push(
                "INSERT INTO job_changes (run_id, app_id, subject, subject_key, change) VALUES ",
            );
            for (i, release) in chunk.iter().enumerate() {
                if i > 0 {
                    statement.push(", ");
                }
                statement.row([
                    Value::from(run_id),
                    Value::from(release.after.app_id.as_str()),
                    Value::from("address"),
                    Value::from(release.after.token.as_str()),
                    Value::from(release.change.as_str()),
                ]);
            }
            statement.query().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(released.len() as u64)
    }

    /// Purges the delivery log of every delivery that finished before `finished_before`:
    /// its messages with their results and profile entries, its exclusions, its targets
    /// and the delivery itself, recording each delivery as a change of `run_id`. Returns
    /// how many deliveries it purged. Deliveries still analysed or sent are never touched.
    ///
    /// Each transaction deletes at most `chunk` messages or exclusions, so SQLite's one
    /// write connection (which every result and registration needs) is held briefly. A
    /// delivery's messages go from its highest id down, so that its lowest id, which names
    /// its block of profile entries (migration 0012), stays until the last chunk: a purge
    /// interrupted half-way is finished by the next one.
    pub async fn purge_delivery_logs(
        &self,
        run_id: i64,
        finished_before: DateTime<Utc>,
        chunk: i64,
    ) -> Result<u64, StoreError> {
        let chunk = chunk.max(1);
        let mut purged = 0;
        loop {
            let next = sqlx::query(
                "SELECT id, app_id, finished_at FROM deliveries WHERE state = 'done' \
                 AND finished_at < $1 ORDER BY finished_at, id LIMIT 1",
            )
            .bind(millis(finished_before))
            .fetch_optional(self.pool())
            .await?;
            let Some(next) = next else {
                return Ok(purged);
            };
            let delivery: String = next.try_get("id")?;
            let app_id: String = next.try_get("app_id")?;
            let finished_at = from_millis(next.try_get("finished_at")?);
            let messages = self.purge_messages(&delivery, chunk).await?;
            let exclusions = self.purge_exclusions(&delivery, chunk).await?;
            let mut tx = self.begin_write().await?;
            for sql in [
                "DELETE FROM delivery_targets WHERE delivery_id = $1",
                "DELETE FROM leases WHERE delivery_id = $1",
                "DELETE FROM deliveries WHERE id = $1",
            ] {
                sqlx::query(sql).bind(&delivery).execute(&mut *tx).await?;
            }
            sqlx::query(
                "INSERT INTO job_changes (run_id, app_id, subject, subject_key, change) \
                 VALUES ($1, $2, 'delivery', $3, $4)",
            )
            .bind(run_id)
            .bind(&app_id)
            .bind(&delivery)
            .bind(format!(
                "delivery log purged (finished {}; messages: {messages}, exclusions: \
                 {exclusions})",
                finished_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            purged += 1;
        }
    }

    /// Deletes a delivery's messages, with their results and profile entries, in windows
    /// of `chunk` ids from its highest id down, one transaction each; returns how many.
    /// Each statement reads its window by index, so its cost does not grow with the
    /// tables, and no window is read twice (on PostgreSQL the deleted rows stay in the
    /// indexes until a vacuum).
    async fn purge_messages(&self, delivery: &str, chunk: i64) -> Result<u64, StoreError> {
        // Both ends through the index by (delivery, id), each by a query of its own: SQLite
        // reads a lone MIN or MAX off the index's end, but both at once from every entry.
        let mut ends = [None; 2];
        for (end, sql) in ends.iter_mut().zip([
            "SELECT MIN(id) FROM messages WHERE delivery_id = $1",
            "SELECT MAX(id) FROM messages WHERE delivery_id = $1",
        ]) {
            *end = sqlx::query_scalar::<_, Option<i64>>(sql)
                .bind(delivery)
                .fetch_one(self.pool())
                .await?;
        }
        let [Some(first), Some(mut highest)] = ends else {
            return Ok(0);
        };
        // The block of the delivery's profile entries (migration 0012): its first id, which
        // stays until the last window.
        let block = first / MESSAGE_ID_BLOCK;
        let mut deleted = 0;
        while highest >= first {
            let lowest = highest.saturating_sub(chunk - 1).max(first);
            let mut tx = self.begin_write().await?;
            sqlx::query(purge_profile_entries(self.dialect()))
                .bind(delivery)
                .bind(lowest)
                .bind(highest)
                .bind(block)
                .execute(&mut *tx)
                .await?;
            let window = (delivery, lowest, highest);
            delete_window(&mut tx, "message_results", window).await?;
            deleted += delete_window(&mut tx, "messages", window).await?;
            tx.commit().await?;
            highest = lowest - 1;
        }
        Ok(deleted)
    }

    /// Deletes a delivery's exclusions in windows of `chunk` ids, one transaction each;
    /// returns how many.
    async fn purge_exclusions(&self, delivery: &str, chunk: i64) -> Result<u64, StoreError> {
        // `id + 0`: read from the delivery's own entries. An index of exclusions by
        // (delivery, id) there is none, and a plain MIN or MAX would walk the table's key
        // from its end, past every later delivery's exclusions.
        let ends = sqlx::query(
            "SELECT MIN(id + 0) AS first, MAX(id + 0) AS last FROM exclusions \
             WHERE delivery_id = $1",
        )
        .bind(delivery)
        .fetch_one(self.pool())
        .await?;
        let (Some(mut lowest), Some(last)) = (
            ends.try_get::<Option<i64>, _>("first")?,
            ends.try_get::<Option<i64>, _>("last")?,
        ) else {
            return Ok(0);
        };
        let mut deleted = 0;
        while lowest <= last {
            let highest = lowest.saturating_add(chunk - 1).min(last);
            let mut tx = self.begin_write().await?;
            deleted += delete_window(&mut tx, "exclusions", (delivery, lowest, highest)).await?;
            tx.commit().await?;
            lowest = highest + 1;
        }
        Ok(deleted)
    }
}

/// Deletes the rows of `table` (`messages`, `message_results` or `exclusions`, each with
/// an id and a delivery id) of a purge's window: `(delivery, lowest id, highest id)`; returns
/// how many.
async fn delete_window(
    tx: &mut WriteTx,
    table: &'static str,
    (delivery, lowest, highest): (&str, i64, i64),
) -> Result<u64, StoreError> {
    let sql = format!("DELETE FROM {table} WHERE id BETWEEN $2 AND $3 AND delivery_id = $1");
    Ok(sqlx::query(&sql)
        .bind(delivery)
        .bind(lowest)
        .bind(highest)
        .execute(&mut **tx)
        .await?
        .rows_affected())
}

/// The delete of the profile entries of a delivery's messages with ids from `$2` to `$3`
/// (`$1` the delivery, `$4` its block, migration 0012), each found by its key. SQLite seeks
/// each row of the `IN` list in the key. PostgreSQL, given the same text, hashes the whole
/// table (or the whole block) for every chunk; a lateral lookup with a `LIMIT`, which it
/// cannot flatten into a join, finds each entry by its key, and the delete takes them by
/// their row addresses.
fn purge_profile_entries(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => {
            "DELETE FROM message_profiles WHERE id_block = $4 AND (profile_id, message_id) IN \
             (SELECT profile_id, id FROM messages WHERE delivery_id = $1 AND id BETWEEN $2 AND $3 \
             AND profile_id IS NOT NULL)"
        }
        Dialect::Postgres => {
            "DELETE FROM message_profiles WHERE ctid = ANY (ARRAY(SELECT e.ctid FROM messages m \
             CROSS JOIN LATERAL (SELECT ctid FROM message_profiles WHERE id_block = $4 \
             AND profile_id = m.profile_id AND message_id = m.id LIMIT 1) e \
             WHERE m.delivery_id = $1 AND m.id BETWEEN $2 AND $3))"
        }
    }
}
