//! One batch of a delivery's analysis: the exclusion rules of `quarantine-rules.md`
//! ("Delivery analysis"), applied set-wise in the database.
//!
//! A batch is a range of the target (subscription ids for "all subscribers", request order
//! for profiles or tokens). Each target in the range is either excluded, with its kind and
//! failure reason written to the exclusion log, or becomes one queued message. Everything of
//! a batch is written in one transaction together with the analysis cursor, so a crash
//! repeats at most the batch it interrupted, and memory does not depend on the target's size.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, Row};

use crate::error::StoreError;
use crate::model::{Delivery, DeliveryState, ExclusionKind};
use crate::time::millis;
use crate::{Dialect, Store};

/// The SQL condition under which a target row (`b`, with its profile `p` and its address
/// `a`) is excluded for `kind`. The kinds are checked in [`ExclusionKind::ALL`]'s order; the
/// first that holds wins. A duplicate token is found by ranking instead (see
/// [`ANALYSIS_SQL`]).
fn exclusion_condition(kind: ExclusionKind) -> Option<&'static str> {
    match kind {
        ExclusionKind::MissingToken => Some("b.token IS NULL OR b.token = ''"),
        ExclusionKind::DenylistedProfile => Some("p.denylisted = 1"),
        ExclusionKind::DenylistedAddress => Some("a.status = 'Denylisted'"),
        ExclusionKind::QuarantinedAddress => Some("a.status = 'Quarantine'"),
        ExclusionKind::DisabledSubscription => Some("b.disabled = 1"),
        ExclusionKind::DuplicateToken => None,
    }
}

/// The batch's target rows, per target kind: `(subscription_id, profile_id, token,
/// disabled, ord)`, for `ord` in `($3, $4]`. `$1` is the app, `$2` the delivery.
fn batch_sql(target_kind: &str) -> &'static str {
    match target_kind {
        "all" => {
            "SELECT s.id AS subscription_id, s.profile_id AS profile_id, s.token AS token, \
             s.disabled AS disabled, s.id AS ord FROM subscriptions s \
             WHERE s.app_id = $1 AND s.id > $3 AND s.id <= $4"
        }
        "profiles" => {
            "SELECT s.id AS subscription_id, t.profile_id AS profile_id, s.token AS token, \
             COALESCE(s.disabled, 0) AS disabled, t.seq AS ord FROM delivery_targets t \
             LEFT JOIN subscriptions s ON s.app_id = $1 AND s.profile_id = t.profile_id \
             WHERE t.delivery_id = $2 AND t.seq > $3 AND t.seq <= $4"
        }
        _ => {
            "SELECT s.id AS subscription_id, s.profile_id AS profile_id, t.token AS token, \
             COALESCE(s.disabled, 0) AS disabled, t.seq AS ord FROM delivery_targets t \
             LEFT JOIN subscriptions s ON s.app_id = $1 AND s.token = t.token \
             WHERE t.delivery_id = $2 AND t.seq > $3 AND t.seq <= $4"
        }
    }
}

/// The common part of both statements of a batch, with `{batch}` standing for
/// [`batch_sql`]: `judged` gives each target its exclusion kind (or none); `sendable`
/// ranks the rest by token, so that a token's first target in the delivery gets the
/// message and any other is a duplicate (also across batches: a message already queued
/// for the token makes it one).
static ANALYSIS_SQL: LazyLock<String> = LazyLock::new(|| {
    let arms: Vec<String> = ExclusionKind::ALL
        .into_iter()
        .filter_map(|kind| {
            exclusion_condition(kind).map(|c| format!("WHEN {c} THEN '{}'", kind.as_str()))
        })
        .collect();
    format!(
        "WITH batch AS ({{batch}}), \
         judged AS (SELECT b.subscription_id, b.profile_id, b.token, b.ord, \
           CASE {} ELSE NULL END AS kind \
           FROM batch b \
           LEFT JOIN profiles p ON p.app_id = $1 AND p.id = b.profile_id \
           LEFT JOIN addresses a ON a.app_id = $1 AND a.token = b.token), \
         sendable AS (SELECT j.subscription_id, j.profile_id, j.token, \
           ROW_NUMBER() OVER (PARTITION BY j.token ORDER BY j.ord, j.subscription_id) AS token_rank, \
           CASE WHEN EXISTS (SELECT 1 FROM messages m WHERE m.delivery_id = $2 AND m.token = j.token) \
             THEN 1 ELSE 0 END AS queued \
           FROM judged j WHERE j.kind IS NULL) ",
        arms.join(" ")
    )
});

/// The failure reason value of each exclusion kind, as SQL.
static REASON_SQL: LazyLock<String> = LazyLock::new(|| {
    let arms: Vec<String> = ExclusionKind::ALL
        .into_iter()
        .map(|kind| format!("WHEN '{}' THEN {}", kind.as_str(), kind.reason().value()))
        .collect();
    format!("CASE kind {} END", arms.join(" "))
});

/// What one batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchOutcome {
    /// Messages queued.
    pub messages: u64,
    /// Targets excluded.
    pub exclusions: u64,
    /// The target is exhausted: the analysis is complete.
    pub done: bool,
}

impl Store {
    /// Analyses the next batch of at most `batch_size` targets of `delivery` (resuming
    /// from its stored cursor) and writes the batch's exclusions, messages and the new
    /// cursor in one transaction. When the target is exhausted, the delivery moves to
    /// `sending` (or `done`, for a dry run or a delivery with nothing to send).
    pub async fn analyze_batch(
        &self,
        delivery: &Delivery,
        batch_size: i64,
        now: DateTime<Utc>,
    ) -> Result<BatchOutcome, StoreError> {
        let mut tx = self.begin_write().await?;
        // On PostgreSQL the row lock makes a second node wait, then see the new cursor.
        let lock = match self.dialect() {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        };
        let cursor: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT analysis_cursor FROM deliveries WHERE id = $1 AND state = 'analyzing'{lock}"
        )))
        .bind(&delivery.id)
        .fetch_optional(&mut *tx)
        .await?
        .unwrap_or(i64::MAX);
        if cursor == i64::MAX {
            // Already analysed (by another node, or before a restart).
            tx.rollback().await?;
            return Ok(BatchOutcome {
                done: true,
                ..BatchOutcome::default()
            });
        }
        let upper: Option<i64> = if delivery.target_kind == "all" {
            sqlx::query_scalar(
                "SELECT MAX(id) FROM (SELECT id FROM subscriptions WHERE app_id = $1 AND id > $2 \
                 ORDER BY id LIMIT $3) batch",
            )
            .bind(&delivery.app_id)
            .bind(cursor)
            .bind(batch_size)
            .fetch_one(&mut *tx)
            .await?
        } else {
            let last: Option<i64> =
                sqlx::query_scalar("SELECT MAX(seq) FROM delivery_targets WHERE delivery_id = $1")
                    .bind(&delivery.id)
                    .fetch_one(&mut *tx)
                    .await?;
            last.filter(|last| *last > cursor)
                .map(|last| last.min(cursor.saturating_add(batch_size)))
        };
        let Some(upper) = upper else {
            let messages: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM messages WHERE delivery_id = $1 AND status = 'Pending'",
            )
            .bind(&delivery.id)
            .fetch_one(&mut *tx)
            .await?;
            let state = if delivery.dry_run || messages == 0 {
                DeliveryState::Done
            } else {
                DeliveryState::Sending
            };
            let finished = (state == DeliveryState::Done).then_some(millis(now));
            sqlx::query(
                "UPDATE deliveries SET state = $2, analyzed_at = $3, finished_at = $4 WHERE id = $1",
            )
            .bind(&delivery.id)
            .bind(state.as_str())
            .bind(millis(now))
            .bind(finished)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(BatchOutcome {
                done: true,
                ..BatchOutcome::default()
            });
        };

        let common = ANALYSIS_SQL.replace("{batch}", batch_sql(&delivery.target_kind));
        let exclusions_sql = format!(
            "{common} INSERT INTO exclusions (delivery_id, subscription_id, profile_id, token, kind, reason, created_at) \
             SELECT $2, subscription_id, profile_id, token, kind, {reason}, $5 FROM ( \
               SELECT subscription_id, profile_id, token, kind FROM judged WHERE kind IS NOT NULL \
               UNION ALL \
               SELECT subscription_id, profile_id, token, 'duplicate_token' AS kind FROM sendable \
               WHERE token_rank > 1 OR queued = 1) excluded",
            reason = *REASON_SQL
        );
        let messages_sql = format!(
            "{common} INSERT INTO messages (delivery_id, subscription_id, profile_id, token, status, attempts, \
             next_attempt_at, created_at, updated_at) \
             SELECT $2, subscription_id, profile_id, token, $6, 0, $5, $5, $5 FROM sendable \
             WHERE token_rank = 1 AND queued = 0"
        );
        let status = if delivery.dry_run {
            "Planned"
        } else {
            "Pending"
        };
        let excluded = sqlx::query(AssertSqlSafe(exclusions_sql))
            .bind(&delivery.app_id)
            .bind(&delivery.id)
            .bind(cursor)
            .bind(upper)
            .bind(millis(now))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let queued = sqlx::query(AssertSqlSafe(messages_sql))
            .bind(&delivery.app_id)
            .bind(&delivery.id)
            .bind(cursor)
            .bind(upper)
            .bind(millis(now))
            .bind(status)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("UPDATE deliveries SET analysis_cursor = $2 WHERE id = $1")
            .bind(&delivery.id)
            .bind(upper)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(BatchOutcome {
            messages: queued,
            exclusions: excluded,
            done: false,
        })
    }

    /// How many exclusion rows a delivery has, by kind (for progress reports).
    pub async fn exclusion_count(&self, delivery_id: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM exclusions WHERE delivery_id = $1")
            .bind(delivery_id)
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("n")?)
    }
}
