//! The durable message queue: claim due messages with a lease, then write each batch's
//! results and the addresses' new states in one transaction.
//!
//! A claim moves a message's `next_attempt_at` to the end of its lease and stamps it with
//! the claimer and a new attempt number. A worker that dies leaves the message to become
//! due again when the lease runs out; a result is written only by the claimer of that
//! attempt (`lease_owner` and `attempts` fence it), so a late worker cannot overwrite a
//! newer attempt.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use pushgate_outcome::{FailureReason, FailureType, MessageStatus, OutcomeId};
use sqlx::{Any, AssertSqlSafe, Row, Transaction};

use crate::addresses::{lock_addresses, upsert_addresses};
use crate::error::StoreError;
use crate::model::Address;
use crate::sql::{Statement, Value};
use crate::time::millis;
use crate::{Dialect, Store};

/// A message claimed for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// The message.
    pub id: i64,
    /// Its delivery (the sender reads the app and the notification from it).
    pub delivery_id: String,
    /// The device token.
    pub token: String,
    /// This attempt's number (1 for the first); the result must carry it back.
    pub attempts: i64,
}

/// The result of one attempt, to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageResult {
    /// The message.
    pub id: i64,
    /// The attempt number it was claimed with.
    pub attempts: i64,
    /// `Sent`, `Failed`, or `Retry`.
    pub status: MessageStatus,
    /// For `Retry`: when to try again (final results keep the write time).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The provider's id for the message.
    pub provider_id: Option<String>,
    /// The outcome row.
    pub outcome_id: Option<OutcomeId>,
    /// The row's failure type.
    pub failure_type: Option<FailureType>,
    /// The row's failure reason (or Error ignored for an allowlisted address).
    pub failure_reason: Option<FailureReason>,
    /// The rendered error message.
    pub error_text: Option<String>,
    /// This result put the token in quarantine.
    pub quarantined: bool,
    /// No provider answer stands behind this result (the validity period ended, nothing
    /// could be sent): the last attempt's outcome, failure type and reason stay.
    pub no_answer: bool,
}

impl Store {
    /// Claims up to `limit` due messages for `owner`, leasing each for `lease`.
    ///
    /// On PostgreSQL concurrent claimers skip each other's rows (`FOR UPDATE SKIP
    /// LOCKED`); on SQLite the statement holds the write lock.
    pub async fn claim(
        &self,
        owner: &str,
        limit: i64,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<Claimed>, StoreError> {
        let lock = match self.dialect() {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE messages SET lease_owner = $1, next_attempt_at = $2, attempts = attempts + 1, \
             updated_at = $3 WHERE id IN (SELECT id FROM messages \
             WHERE status IN ('Pending', 'Retry') AND next_attempt_at <= $3 \
             ORDER BY next_attempt_at LIMIT $4{lock}) \
             RETURNING id, delivery_id, token, attempts"
        );
        let lease_until = TimeDelta::from_std(lease)
            .ok()
            .and_then(|lease| now.checked_add_signed(lease))
            .ok_or_else(|| StoreError::Invalid(format!("a lease of {lease:?} is out of range")))?;
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(owner)
            .bind(millis(lease_until))
            .bind(millis(now))
            .bind(limit)
            .fetch_all(self.writer())
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Claimed {
                    id: row.try_get("id")?,
                    delivery_id: row.try_get("delivery_id")?,
                    token: row.try_get("token")?,
                    attempts: row.try_get("attempts")?,
                })
            })
            .collect()
    }

    /// Starts the transaction in which `owner` writes a batch's results.
    pub async fn begin_results(&self, owner: &str) -> Result<ResultsTx, StoreError> {
        Ok(ResultsTx {
            tx: self.begin_write().await?,
            dialect: self.dialect(),
            owner: owner.to_owned(),
        })
    }

    /// Fails the messages of deliveries whose validity period has ended and that are not
    /// in flight (never leased, or their lease ran out); the last attempt's outcome and
    /// failure reason stay. Returns how many.
    pub async fn expire_messages(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE messages SET status = 'Failed', lease_owner = NULL, updated_at = $1, \
             error_text = 'validity period ended before the message was sent' \
             WHERE status IN ('Pending', 'Retry') AND next_attempt_at <= $1 \
             AND delivery_id IN (SELECT id FROM deliveries WHERE state = 'sending' AND expires_at <= $1)",
        )
        .bind(millis(now))
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected())
    }
}

/// A batch's results transaction: lock the addresses, write their new states and the
/// messages' results, commit. Dropping it without [`ResultsTx::commit`] writes nothing.
pub struct ResultsTx {
    tx: Transaction<'static, Any>,
    dialect: Dialect,
    owner: String,
}

impl ResultsTx {
    /// The quarantine-list rows of these tokens of one app, locked until commit.
    pub async fn lock_addresses(
        &mut self,
        app_id: &str,
        tokens: &[&str],
    ) -> Result<Vec<Address>, StoreError> {
        lock_addresses(&mut self.tx, self.dialect, app_id, tokens).await
    }

    /// Writes addresses' new states.
    pub async fn write_addresses(
        &mut self,
        addresses: &[Address],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        upsert_addresses(&mut self.tx, self.dialect, addresses, now).await
    }

    /// Writes the results of this owner's attempts and releases their leases. Returns the
    /// ids written; a result whose message was claimed again since (its lease ran out) is
    /// not written.
    pub async fn write_results(
        &mut self,
        results: &[MessageResult],
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError> {
        let mut written = Vec::with_capacity(results.len());
        for chunk in results.chunks(1000) {
            let mut statement = Statement::new(self.dialect);
            statement.push(
                "WITH v (id, attempts, status, next_attempt_at, provider_id, outcome_id, \
                 failure_type, failure_reason, error_text, quarantined, no_answer) AS (VALUES ",
            );
            for (i, result) in chunk.iter().enumerate() {
                if i > 0 {
                    statement.push(", ");
                }
                statement.row([
                    Value::from(result.id),
                    Value::from(result.attempts),
                    Value::from(result.status.as_str()),
                    Value::from(millis(result.next_attempt_at.unwrap_or(now))),
                    Value::from(result.provider_id.clone()),
                    Value::from(result.outcome_id.map(|id| id.as_str())),
                    Value::from(result.failure_type.map(|t| t.as_str())),
                    Value::from(result.failure_reason.map(|r| i64::from(r.value()))),
                    Value::from(result.error_text.clone()),
                    Value::from(i64::from(result.quarantined)),
                    Value::from(i64::from(result.no_answer)),
                ]);
            }
            statement
                .push(
                    ") UPDATE messages SET status = v.status, next_attempt_at = v.next_attempt_at, \
                     provider_id = COALESCE(v.provider_id, messages.provider_id), \
                     outcome_id = CASE WHEN v.no_answer = 1 THEN messages.outcome_id ELSE v.outcome_id END, \
                     failure_type = CASE WHEN v.no_answer = 1 THEN messages.failure_type ELSE v.failure_type END, \
                     failure_reason = CASE WHEN v.no_answer = 1 THEN messages.failure_reason ELSE v.failure_reason END, \
                     error_text = v.error_text, \
                     quarantined = CASE WHEN v.quarantined = 1 THEN 1 ELSE messages.quarantined END, \
                     lease_owner = NULL, updated_at = ",
                )
                .bind(millis(now))
                .push(" FROM v WHERE messages.id = v.id AND messages.attempts = v.attempts AND messages.lease_owner = ")
                .bind(self.owner.as_str())
                .push(" RETURNING messages.id");
            for row in statement.query().fetch_all(&mut *self.tx).await? {
                written.push(row.try_get(0)?);
            }
        }
        Ok(written)
    }

    /// Commits everything written in this transaction.
    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }
}
