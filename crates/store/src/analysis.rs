//! One batch of a delivery's analysis: the exclusion rules of `quarantine-rules.md`
//! ("Delivery analysis"), applied set-wise in the database.
//!
//! Each target of a batch is either excluded, with its kind and failure reason written to
//! the exclusion log, or becomes one queued message. Everything of a batch is written in one
//! transaction together with the analysis cursor, so a crash repeats at most the batch it
//! interrupted, and memory does not depend on the target's size.
//!
//! "All subscribers" is read in batches in token order (the covering index
//! `subscriptions_by_token`, migration 0006 on SQLite and 0008 on PostgreSQL). A batch's
//! targets are judged in token order, so the same token twice meets itself next to itself
//! inside a batch, or at the edge with the previous batch, whose last token is the cursor
//! and whether it was queued the delivery's `analysis_queued` (migration 0010): no per-row
//! lookup of the messages already queued, and no window function, whose sort cost SQLite
//! about as much as the rest of the judging. An explicit target (profiles or tokens,
//! bounded by the API's body size) is analysed in one batch.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use pushgate_quarantine::AddressStatus;
use sqlx::Row;

use crate::error::StoreError;
use crate::model::{Delivery, DeliveryState, ExclusionKind};
use crate::queue::AWAITS_FIRST_RESULT;
use crate::time::millis;
use crate::writer::WriteTx;
use crate::{Dialect, Store};

/// The SQL condition under which a target row (`b`, with its profile `p` and its address
/// `a`) is excluded for `kind`. The kinds are checked in [`ExclusionKind::ALL`]'s order; the
/// first that holds wins. A duplicate token is found afterwards, among the targets no rule
/// excluded ([`DUPLICATES_SQL`]).
fn exclusion_condition(kind: ExclusionKind) -> Option<String> {
    match kind {
        ExclusionKind::MissingToken => Some("b.token IS NULL OR b.token = ''".into()),
        ExclusionKind::DenylistedProfile => Some("p.denylisted = 1".into()),
        ExclusionKind::DenylistedAddress | ExclusionKind::QuarantinedAddress => kind
            .address_status()
            .map(|status| format!("a.status = '{}'", status.as_str())),
        ExclusionKind::DisabledSubscription => Some("b.disabled = 1".into()),
        ExclusionKind::DuplicateToken => None,
    }
}

/// The statuses of an address that exclude its token ([`AddressStatus::is_excluded`]), as
/// an SQL list: `'Quarantine', 'Denylisted'`. The partial index `addresses_excluding` of
/// migration 0004 has the same list in its predicate, as SQLite needs to use it (checked
/// by a test).
fn excluding_statuses_sql() -> String {
    AddressStatus::ALL
        .into_iter()
        .filter(|status| status.is_excluded())
        .map(|status| format!("'{}'", status.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The batch's target rows, per target kind: `(subscription_id, profile_id, token,
/// disabled, ord)`. `$1` is the app, `$2` the delivery; for "all", `($3, $4)` is the cursor
/// (token, id) after which the batch starts and `($5, $6)` its last row.
fn batch_sql(target_kind: &str) -> &'static str {
    match target_kind {
        "all" => {
            "SELECT s.id AS subscription_id, s.profile_id AS profile_id, s.token AS token, \
             s.disabled AS disabled, s.id AS ord FROM subscriptions s \
             WHERE s.app_id = $1 AND (s.token, s.id) > ($3, $4) AND (s.token, s.id) <= ($5, $6)"
        }
        "profiles" => {
            "SELECT s.id AS subscription_id, t.profile_id AS profile_id, s.token AS token, \
             COALESCE(s.disabled, 0) AS disabled, t.seq AS ord FROM delivery_targets t \
             LEFT JOIN subscriptions s ON s.app_id = $1 AND s.profile_id = t.profile_id \
             WHERE t.delivery_id = $2"
        }
        _ => {
            "SELECT s.id AS subscription_id, s.profile_id AS profile_id, t.token AS token, \
             COALESCE(s.disabled, 0) AS disabled, t.seq AS ord FROM delivery_targets t \
             LEFT JOIN subscriptions s ON s.app_id = $1 AND s.token = t.token \
             WHERE t.delivery_id = $2"
        }
    }
}

/// The judging of a batch's targets, with `{batch}` standing for [`batch_sql`]: `judged`
/// gives each target its exclusion kind (or none); the statement writes them into
/// `analysis_batch` in token order (then the target's order), where [`DUPLICATES_SQL`]
/// finds a token's targets next to each other.
///
/// A target is joined only with the profile and the address that can exclude it (a
/// denylisted profile; an address in Quarantine or Denylisted, [`excluding_statuses_sql`]),
/// through the partial indexes of migration 0004, which SQLite is told to use: otherwise it
/// looks each target's profile up in the whole table. For "all subscribers" the index read
/// is already in token order, and SQLite sorts nothing.
fn analysis_sql(dialect: Dialect) -> &'static str {
    static SQLITE: LazyLock<String> = LazyLock::new(|| {
        judging_sql(
            " INDEXED BY profiles_denylisted",
            " INDEXED BY addresses_excluding",
        )
    });
    static POSTGRES: LazyLock<String> = LazyLock::new(|| judging_sql("", ""));
    match dialect {
        Dialect::Sqlite => &SQLITE,
        Dialect::Postgres => &POSTGRES,
    }
}

fn judging_sql(profiles_index: &str, addresses_index: &str) -> String {
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
           LEFT JOIN profiles p{profiles_index} ON p.app_id = $1 AND p.id = b.profile_id \
             AND p.denylisted = 1 \
           LEFT JOIN addresses a{addresses_index} ON a.app_id = $1 AND a.token = b.token \
             AND a.status IN ({})) \
         INSERT INTO analysis_batch (subscription_id, profile_id, token, kind) \
         SELECT subscription_id, profile_id, token, kind FROM judged \
         ORDER BY token, ord, subscription_id",
        arms.join(" "),
        excluding_statuses_sql(),
    )
}

/// Marks the duplicates among a judged batch's targets: of a token's targets that no rule
/// excluded, the first (in `seq`, that is the target's order) gets the message, and every
/// later one is `duplicate_token`; all of them are when a message was already queued for
/// the token by the previous batch (`$1`, the cursor's token then, else NULL).
///
/// A token met more than once is found by its targets being next to each other in `seq`
/// (`runs`, a lookup of the next row by key); only those tokens are grouped. Looking back
/// from every target instead costs as many steps as the batch has rows for each target
/// of a late run of one token.
static DUPLICATES_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH runs AS (SELECT DISTINCT q.token FROM analysis_batch p \
           JOIN analysis_batch q ON q.seq = p.seq + 1 AND q.token = p.token), \
         firsts AS (SELECT b.token, MIN(b.seq) AS seq FROM analysis_batch b \
           WHERE b.kind IS NULL AND b.token IN (SELECT token FROM runs) GROUP BY b.token \
           UNION ALL SELECT $1, 0 WHERE $1 IS NOT NULL) \
         UPDATE analysis_batch AS t SET kind = '{}' FROM firsts f \
         WHERE t.kind IS NULL AND t.token = f.token AND t.seq > f.seq",
        ExclusionKind::DuplicateToken.as_str()
    )
});

/// A batch's judged targets, between the statement that judges them and the two that
/// write them: `kind` is the exclusion kind, or NULL for a target that becomes a message;
/// `seq` keeps the judging statement's order (by token, then the target's order). On SQLite a
/// temporary table of the write connection, emptied at the start of each batch; on
/// PostgreSQL one of the batch's transaction.
const BATCH_TABLE_SQLITE: &str = "CREATE TEMPORARY TABLE IF NOT EXISTS analysis_batch ( \
    seq INTEGER PRIMARY KEY, subscription_id BIGINT, profile_id TEXT, token TEXT, kind TEXT)";
const BATCH_TABLE_POSTGRES: &str = "CREATE TEMPORARY TABLE analysis_batch ( \
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, subscription_id BIGINT, \
    profile_id TEXT, token TEXT, kind TEXT) ON COMMIT DROP";

/// The insert of a judged batch's exclusions (`$1` the delivery, `$2` the time), each with
/// its kind's failure reason value.
static EXCLUSIONS_INSERT: LazyLock<String> = LazyLock::new(|| {
    let arms: Vec<String> = ExclusionKind::ALL
        .into_iter()
        .map(|kind| format!("WHEN '{}' THEN {}", kind.as_str(), kind.reason().value()))
        .collect();
    format!(
        "INSERT INTO exclusions (delivery_id, subscription_id, profile_id, token, kind, reason, created_at) \
         SELECT $1, subscription_id, profile_id, token, kind, CASE kind {} END, $2 \
         FROM analysis_batch WHERE kind IS NOT NULL ORDER BY seq",
        arms.join(" ")
    )
});

/// The insert of a judged batch's messages (`$1` the delivery, `$2` the time, `$3` the
/// status).
const MESSAGES_INSERT: &str = "INSERT INTO messages (delivery_id, subscription_id, profile_id, \
    token, status, attempts, next_attempt_at, created_at, updated_at) \
    SELECT $1, subscription_id, profile_id, token, $3, 0, $2, $2, $2 FROM analysis_batch \
    WHERE kind IS NULL ORDER BY seq";

/// The message ids of one block of the profiles' index of messages (migration 0012, which
/// has the same number): a delivery's entries go to the block of its first message id
/// divided by this. The insert at the end of an analysis writes that block alone, which
/// holds at most the entries of the deliveries whose first id falls in the same range; a
/// profile's history looks up each block.
pub(crate) const MESSAGE_ID_BLOCK: i64 = 1 << 20;

/// The insert of a delivery's messages into the profiles' index of its messages (`$1` the
/// delivery, `$2` [`MESSAGE_ID_BLOCK`]), when its analysis ends: all at once, in the
/// delivery's block and sorted by profile, so each entry goes next to the previous one.
/// Inserted batch by batch in token order, they went to random places of it (migration
/// 0007).
const MESSAGE_PROFILES_INSERT: &str = "INSERT INTO message_profiles (id_block, profile_id, \
    message_id) SELECT (SELECT MIN(id) FROM messages WHERE delivery_id = $1) / $2, \
    profile_id, id FROM messages WHERE delivery_id = $1 AND profile_id IS NOT NULL \
    ORDER BY profile_id, id";

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

/// Where a batch of "all subscribers" starts and ends, by (token, subscription id).
struct Range {
    after: (String, i64),
    last: (String, i64),
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
        let cursor = sqlx::query(&format!(
            "SELECT analysis_token, analysis_id, analysis_queued FROM deliveries \
             WHERE id = $1 AND state = 'analyzing'{lock}"
        ))
        .bind(&delivery.id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(cursor) = cursor else {
            // Already analysed (by another node, or before a restart).
            tx.rollback().await?;
            return Ok(BatchOutcome {
                done: true,
                ..BatchOutcome::default()
            });
        };
        let after: (String, i64) = (
            cursor
                .try_get::<Option<String>, _>("analysis_token")?
                .unwrap_or_default(),
            cursor.try_get("analysis_id")?,
        );
        // Whether the previous batch queued a message for the cursor's token.
        let cursor_queued = cursor.try_get::<i64, _>("analysis_queued")? == 1;
        let explicit = delivery.target_kind != "all";
        let range = if explicit {
            // An explicit target is one batch: a cursor of 1 says it was done.
            (after.1 == 0).then(|| Range {
                after: after.clone(),
                last: (String::new(), 1),
            })
        } else {
            // The batch's last row: `batch_size - 1` entries of the index further on, or,
            // for the last batch, the app's last.
            let next =
                "SELECT token, id FROM subscriptions WHERE app_id = $1 AND (token, id) > ($2, $3)";
            let mut last = sqlx::query(&format!("{next} ORDER BY token, id LIMIT 1 OFFSET $4"))
                .bind(&delivery.app_id)
                .bind(&after.0)
                .bind(after.1)
                .bind(batch_size - 1)
                .fetch_optional(&mut *tx)
                .await?;
            if last.is_none() {
                last = sqlx::query(&format!("{next} ORDER BY token DESC, id DESC LIMIT 1"))
                    .bind(&delivery.app_id)
                    .bind(&after.0)
                    .bind(after.1)
                    .fetch_optional(&mut *tx)
                    .await?;
            }
            match last {
                Some(row) => Some(Range {
                    after: after.clone(),
                    last: (row.try_get("token")?, row.try_get("id")?),
                }),
                None => None,
            }
        };
        let Some(range) = range else {
            self.finish_analysis(&mut tx, delivery, now).await?;
            tx.commit().await?;
            return Ok(BatchOutcome {
                done: true,
                ..BatchOutcome::default()
            });
        };

        // A message already queued for the cursor's token (the previous batch's last).
        let queued_token = (cursor_queued && !range.after.0.is_empty()).then_some(&range.after.0);
        // The batch is judged once into `analysis_batch`, which the two inserts read:
        // judging it a second time, for the second insert, made the analysis of 1,000,000
        // subscriptions on SQLite about a tenth slower.
        let batch_table: &[&str] = match self.dialect() {
            Dialect::Sqlite => &[BATCH_TABLE_SQLITE, "DELETE FROM analysis_batch"],
            Dialect::Postgres => &[BATCH_TABLE_POSTGRES],
        };
        for sql in batch_table {
            sqlx::query(sql).execute(&mut *tx).await?;
        }
        let judge_sql =
            analysis_sql(self.dialect()).replace("{batch}", batch_sql(&delivery.target_kind));
        sqlx::query(&judge_sql)
            .bind(&delivery.app_id)
            .bind(&delivery.id)
            .bind(&range.after.0)
            .bind(range.after.1)
            .bind(&range.last.0)
            .bind(range.last.1)
            .execute(&mut *tx)
            .await?;
        sqlx::query(&DUPLICATES_SQL)
            .bind(queued_token)
            .execute(&mut *tx)
            .await?;
        let status = if delivery.dry_run {
            "Planned"
        } else {
            "Pending"
        };
        let mut written = [0; 2];
        for (slot, sql) in [EXCLUSIONS_INSERT.as_str(), MESSAGES_INSERT]
            .into_iter()
            .enumerate()
        {
            written[slot] = sqlx::query(sql)
                .bind(&delivery.id)
                .bind(millis(now))
                .bind(status)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        // The new cursor, and whether its token has a message: queued by this batch, or,
        // when the whole batch was that token, by an earlier one.
        sqlx::query(
            "UPDATE deliveries SET analysis_token = $2, analysis_id = $3, \
             analysis_queued = CASE WHEN EXISTS (SELECT 1 FROM analysis_batch \
               WHERE token = $2 AND kind IS NULL) \
               OR (analysis_token = $2 AND analysis_queued = 1) THEN 1 ELSE 0 END \
             WHERE id = $1",
        )
        .bind(&delivery.id)
        .bind(&range.last.0)
        .bind(range.last.1)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(BatchOutcome {
            messages: written[1],
            exclusions: written[0],
            done: false,
        })
    }

    /// Ends a delivery's analysis: indexes its messages by profile, and moves it to
    /// `sending`, or `done` for a dry run or when nothing is left to send.
    async fn finish_analysis(
        &self,
        tx: &mut WriteTx,
        delivery: &Delivery,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let queued: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT id FROM messages m WHERE delivery_id = $1 AND {AWAITS_FIRST_RESULT} LIMIT 1"
        ))
        .bind(&delivery.id)
        .fetch_optional(&mut **tx)
        .await?;
        let state = if delivery.dry_run || queued.is_none() {
            DeliveryState::Done
        } else {
            DeliveryState::Sending
        };
        let finished = (state == DeliveryState::Done).then_some(millis(now));
        sqlx::query(MESSAGE_PROFILES_INSERT)
            .bind(&delivery.id)
            .bind(MESSAGE_ID_BLOCK)
            .execute(&mut **tx)
            .await?;
        if self.dialect() == Dialect::Postgres && !delivery.dry_run {
            // The delivery just added its messages, maybe many: without fresh statistics
            // PostgreSQL plans the queue's statements for the table it saw before (a few
            // rows), and scans it whole for every claim and every batch of results.
            sqlx::query("ANALYZE messages").execute(&mut **tx).await?;
        }
        sqlx::query(
            "UPDATE deliveries SET state = $2, analyzed_at = $3, finished_at = $4, \
             last_message_id = COALESCE((SELECT MAX(id) FROM messages WHERE delivery_id = $1), 0) \
             WHERE id = $1",
        )
        .bind(&delivery.id)
        .bind(state.as_str())
        .bind(millis(now))
        .bind(finished)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// How many exclusion rows a delivery has.
    pub async fn exclusion_count(&self, delivery_id: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM exclusions WHERE delivery_id = $1")
            .bind(delivery_id)
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("n")?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The partial index that the analysis joins addresses through has exactly the
    /// excluding statuses in its predicate, on both backends: SQLite refuses a query whose
    /// `INDEXED BY` index does not match, and PostgreSQL would scan instead.
    #[test]
    fn the_partial_index_of_excluding_addresses_has_the_excluding_statuses() {
        let predicate = format!("WHERE status IN ({})", excluding_statuses_sql());
        assert_eq!(predicate, "WHERE status IN ('Quarantine', 'Denylisted')");
        for migration in [
            include_str!("../migrations/sqlite/0004_analysis_exclusions.sql"),
            include_str!("../migrations/postgres/0004_analysis_exclusions.sql"),
        ] {
            let index = migration
                .lines()
                .find(|line| line.starts_with("CREATE INDEX addresses_excluding"))
                .expect("migration 0004 creates addresses_excluding");
            assert!(index.ends_with(&format!("{predicate};")), "{index}");
        }
    }

    /// Migration 0012 puts the entries already there in the blocks that the insert at the
    /// end of an analysis uses, on both backends.
    #[test]
    fn migration_0012_divides_first_message_ids_by_the_block() {
        assert_eq!(MESSAGE_ID_BLOCK, 1_048_576);
        for migration in [
            include_str!("../migrations/sqlite/0012_message_profiles_by_block.sql"),
            include_str!("../migrations/postgres/0012_message_profiles_by_block.sql"),
        ] {
            assert!(
                migration.contains(&format!("MIN(id) / {MESSAGE_ID_BLOCK} AS id_block")),
                "{migration}"
            );
        }
    }
}
