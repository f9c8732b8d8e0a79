//! The durable message queue: claim due messages with a lease, then write each batch's
//! results and the addresses' new states in one transaction.
//!
//! First attempts are claimed by range: a claim writes one [lease](Lease) row covering the
//! range, whose insert advances the delivery's `claim_cursor` (trigger
//! `leases_advance_claim_cursor`), so that claiming costs nothing per message. The range's
//! messages that still await their first result belong to the lease's owner until
//! `lease_until`; after that, any node takes the range over and sends what is left.
//! Retries are claimed message by message (their lease is the message's `lease_owner` and
//! a `next_attempt_at` moved to the end of the lease).
//!
//! Where a delivery's waiting messages are is an invariant of the queue, which lets every
//! query find them through the (delivery_id, id) index and a partial index on `Retry` rows,
//! with no index on status for every result to move:
//! - a `Pending` message past the delivery's `claim_cursor` has never been claimed;
//! - a `Pending` message up to the cursor either has its first attempt's result appended to
//!   `message_results`, or lies in a range lease and awaits it (`AWAITS_FIRST_RESULT`): a
//!   claim leases every `Pending` message up to the cursor it sets, a takeover keeps the
//!   rest of a range as a range of its own, and a range is deleted only once none of its
//!   messages awaits its result (its holder wrote them all, or a claim found none left);
//! - a `Retry` message waits for its `next_attempt_at`.
//!
//! The completeness of a delivery (`DELIVERY_COMPLETE`), [`Store::expire_messages`] and
//! [`Store::queue_depth`] read them that way.
//!
//! On SQLite the final result of a first attempt, nearly every result, is appended to
//! `message_results` and the message's row keeps what the analysis wrote: an insert at the
//! end of that table costs about two thirds of the update of the row in the middle of
//! `messages`. A result to retry, a retry's result, the end of the validity period, and
//! every result on PostgreSQL update the message's row. The `message_log` view puts the two
//! together for the reports; the queue reads both.
//!
//! A result is written only by the holder of the message's lease, and only over the attempt
//! it claimed (`attempts` fences it), so a late worker cannot overwrite a newer attempt.
//! `attempts` counts the attempts whose result was written. A worker that dies leaves its
//! leases to run out: every message is sent at least once and ends with one final status.
//!
//! A range lease's row is one claim of its range: a takeover makes new rows (the part taken,
//! and the rest if any) and deletes the old one, the end of the validity period deletes the
//! ranges whose messages it failed, and an id is never given twice. So the plain success of
//! a first attempt, nearly every result, is fenced by its lease's row alone, without reading
//! the message's.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use pushgate_outcome::{FailureReason, FailureType, MessageStatus, OutcomeId};
use sqlx::Row;

use crate::addresses::{Existing, lock_addresses, lock_addresses_of, write_addresses};
use crate::error::StoreError;
use crate::model::Address;
use crate::sql::{Padded, Statement, Value, padded_chunks};
use crate::time::millis;
use crate::writer::WriteTx;
use crate::{Dialect, Store};

/// How a claimed message is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lease {
    /// A first attempt, held by the range lease with this id.
    Range(i64),
    /// A retry, held by the message row itself.
    Message,
}

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
    /// What holds it.
    pub lease: Lease,
}

/// The result of one attempt, to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageResult {
    /// The message.
    pub id: i64,
    /// The attempt number it was claimed with.
    pub attempts: i64,
    /// What held it.
    pub lease: Lease,
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
    /// could be sent): no attempt is counted, and the last attempt's outcome, failure type
    /// and reason stay.
    pub no_answer: bool,
}

/// The condition on a message `m` up to its delivery's claim cursor that it still awaits the
/// result of its first attempt: `Pending`, and no result appended for it.
pub(crate) const AWAITS_FIRST_RESULT: &str = "(m.status = 'Pending' \
    AND NOT EXISTS (SELECT 1 FROM message_results r WHERE r.id = m.id))";

/// The messages of range leases, as a `FROM` clause: `l` a lease, `m` a message in its
/// range (whatever its status).
pub(crate) const LEASED_MESSAGES: &str = "leases l JOIN messages m \
    ON m.delivery_id = l.delivery_id AND m.id >= l.first_id AND m.id <= l.last_id";

/// The condition on a `deliveries` row that none of its messages waits any more: no
/// `Retry` message, no `Pending` one past the claim cursor, none in a leased range (the
/// queue's invariant, in the module doc, says these are all the places a waiting message
/// can be). The cursor's check comes first: while a delivery is being claimed it fails at
/// the first message past the cursor, so that the ranges are read only at the end.
pub(crate) static DELIVERY_COMPLETE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "NOT EXISTS (SELECT 1 FROM messages m WHERE m.delivery_id = deliveries.id \
         AND m.id > deliveries.claim_cursor AND m.status = 'Pending') \
         AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.delivery_id = deliveries.id \
         AND m.status = 'Retry') \
         AND NOT EXISTS (SELECT 1 FROM {LEASED_MESSAGES} \
         WHERE l.delivery_id = deliveries.id AND {AWAITS_FIRST_RESULT})"
    )
});

/// The error text of a message failed because its validity period ended before it could
/// be sent (by the pipeline at its attempt, or by [`Store::expire_messages`]).
pub const VALIDITY_ENDED_TEXT: &str = "validity period ended before the message was sent";

/// A message row as a claim reads it: id, token, attempts recorded so far.
type MessageRow = (i64, String, i64);

/// `inner` (a query selecting `id, token, attempts`) as one row holding its rows as a JSON
/// array: on SQLite every row of a result crosses from the database thread on its own, so
/// a claim of hundreds of messages reads one value instead.
fn as_json_array(dialect: Dialect, inner: &str) -> String {
    match dialect {
        Dialect::Sqlite => {
            format!("SELECT json_group_array(json_array(id, token, attempts)) FROM ({inner})")
        }
        Dialect::Postgres => format!(
            "SELECT COALESCE(json_agg(json_build_array(id, token, attempts)), '[]')::text \
             FROM ({inner}) AS claimed"
        ),
    }
}

/// The rows of [`as_json_array`]'s value, by id.
fn message_rows(json: &str) -> Result<Vec<MessageRow>, StoreError> {
    let mut rows: Vec<MessageRow> = serde_json::from_str(json)
        .map_err(|e| StoreError::Invalid(format!("claimed messages as JSON: {e}")))?;
    rows.sort_unstable_by_key(|row| row.0);
    Ok(rows)
}

fn claimed_message(row: MessageRow, delivery_id: &str, lease: Lease) -> Claimed {
    let (id, token, recorded) = row;
    Claimed {
        id,
        delivery_id: delivery_id.to_owned(),
        token,
        attempts: recorded + 1,
        lease,
    }
}

/// Whether any retry is due (1) and whether any range lease has run out (2), as a sum,
/// at the time `$1`.
const DUE_ELSEWHERE_SUM: &str = "CAST(\
    CASE WHEN EXISTS (SELECT 1 FROM messages WHERE status = 'Retry' AND next_attempt_at <= $1) \
    THEN 1 ELSE 0 END + \
    CASE WHEN EXISTS (SELECT 1 FROM leases WHERE lease_until <= $1) THEN 2 ELSE 0 END AS BIGINT)";

/// The end of a claim's read of rows it will take: on PostgreSQL it locks them and skips
/// those another claim holds; on SQLite the write transaction is the only one.
fn skip_locked(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "",
        Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
    }
}

/// The next new range to claim: the oldest delivery with messages past its claim cursor
/// (PostgreSQL: that no other claim holds).
fn next_delivery(dialect: Dialect) -> String {
    let skip_locked = skip_locked(dialect);
    format!(
        "SELECT id, claim_cursor, last_message_id FROM deliveries \
         WHERE state = 'sending' AND claim_cursor < last_message_id \
         ORDER BY created_at, id LIMIT 1{skip_locked}"
    )
}

/// The messages `Pending` of the delivery `delivery` past its claim cursor `cursor`, up to
/// its last message `last`, at most `limit` of them (`id, token, attempts`): each an SQL
/// expression.
fn next_messages(dialect: Dialect, [delivery, cursor, last, limit]: [&str; 4]) -> String {
    format!(
        "SELECT id, token, attempts FROM {} WHERE id > {cursor} AND id <= {last} \
         AND delivery_id = {delivery} AND status = 'Pending' ORDER BY id LIMIT {limit}",
        match dialect {
            // A delivery's messages are queued in batches of consecutive ids, up to its
            // last message: reading that range from the table itself reads each row once
            // (skipping the rows of another delivery queued meanwhile), where the index on
            // (delivery_id, id), which SQLite would pick, reads its entry and then the row:
            // a fifth more of the claim's time in SQLite alone.
            Dialect::Sqlite => "messages NOT INDEXED",
            Dialect::Postgres => "messages",
        }
    )
}

/// SQLite's first look of a claim, in one statement (one trip to SQLite's thread): the sum
/// of [`DUE_ELSEWHERE_SUM`] at `$1`, and the next new range ([`next_delivery`]) with up to
/// `$2` of its messages as [`as_json_array`] does (`'[]'` and no delivery when there is
/// none).
static SQLITE_FIRST_LOOK: LazyLock<String> = LazyLock::new(|| {
    let messages = as_json_array(
        Dialect::Sqlite,
        &next_messages(
            Dialect::Sqlite,
            ["d.id", "d.claim_cursor", "d.last_message_id", "$2"],
        ),
    );
    format!(
        "SELECT {DUE_ELSEWHERE_SUM} AS due, d.id, d.claim_cursor, d.last_message_id, \
         ({messages}) AS messages FROM (SELECT 1) LEFT JOIN ({}) AS d",
        next_delivery(Dialect::Sqlite)
    )
});

/// A new range a claim may take: a delivery's messages past its claim cursor, as many as
/// there is room for.
struct NextRange {
    delivery: String,
    cursor: i64,
    rows: Vec<MessageRow>,
}

/// What a claim's first look found of new ranges.
enum Looked {
    /// Not read (something else is due first, or PostgreSQL): read when the claim gets to
    /// new ranges.
    NotYet,
    /// Read: the next range, or `None` when no delivery has messages left to claim.
    Read(Option<NextRange>),
}

/// What a claim looks at first: whether retries are due (1) and whether ranges have run
/// out (2), as a sum; and, when neither, on SQLite in the same statement, the next new
/// range with up to `limit` messages.
async fn first_look(
    tx: &mut WriteTx,
    dialect: Dialect,
    limit: i64,
    now: DateTime<Utc>,
) -> Result<(i64, Looked), StoreError> {
    match dialect {
        Dialect::Sqlite => {
            let row = sqlx::query(&SQLITE_FIRST_LOOK)
                .bind(millis(now))
                .bind(limit)
                .fetch_one(&mut **tx)
                .await?;
            let due: i64 = row.try_get("due")?;
            if due != 0 {
                // What is due comes first; the new range is read again after it.
                return Ok((due, Looked::NotYet));
            }
            let Some(delivery) = row.try_get::<Option<String>, _>("id")? else {
                return Ok((0, Looked::Read(None)));
            };
            Ok((
                0,
                Looked::Read(Some(NextRange {
                    delivery,
                    cursor: row.try_get("claim_cursor")?,
                    rows: message_rows(&row.try_get::<String, _>("messages")?)?,
                })),
            ))
        }
        Dialect::Postgres => {
            let due: i64 = sqlx::query_scalar(&format!("SELECT {DUE_ELSEWHERE_SUM}"))
                .bind(millis(now))
                .fetch_one(&mut **tx)
                .await?;
            Ok((due, Looked::NotYet))
        }
    }
}

/// The next new range with up to `room` messages, or `None`: no delivery has messages past
/// its claim cursor.
async fn next_range(
    tx: &mut WriteTx,
    dialect: Dialect,
    room: i64,
) -> Result<Option<NextRange>, StoreError> {
    let next = sqlx::query(&next_delivery(dialect))
        .fetch_optional(&mut **tx)
        .await?;
    let Some(next) = next else { return Ok(None) };
    let delivery: String = next.try_get("id")?;
    let cursor: i64 = next.try_get("claim_cursor")?;
    let last_message: i64 = next.try_get("last_message_id")?;
    let messages = next_messages(dialect, ["$1", "$2", "$3", "$4"]);
    let json: String = sqlx::query_scalar(&as_json_array(dialect, &messages))
        .bind(&delivery)
        .bind(cursor)
        .bind(last_message)
        .bind(room)
        .fetch_one(&mut **tx)
        .await?;
    Ok(Some(NextRange {
        delivery,
        cursor,
        rows: message_rows(&json)?,
    }))
}

/// [`Store::claim`] in a transaction of the caller's.
async fn claim(
    tx: &mut WriteTx,
    dialect: Dialect,
    owner: &str,
    limit: i64,
    lease: Duration,
    now: DateTime<Utc>,
) -> Result<Vec<Claimed>, StoreError> {
    let until = TimeDelta::from_std(lease)
        .ok()
        .and_then(|lease| now.checked_add_signed(lease))
        .ok_or_else(|| StoreError::Invalid(format!("a lease of {lease:?} is out of range")))?;
    let skip_locked = skip_locked(dialect);
    let mut claimed = Vec::new();

    // Due retries and ranges whose lease ran out are rare: one read says which of the two
    // to look for, so that the usual claim, of new ranges alone, is not two statements
    // (two trips to SQLite's thread) longer. On SQLite the same read brings the next new
    // range when neither is due.
    let (due, mut looked) = first_look(tx, dialect, limit, now).await?;
    let (retries_due, ranges_ran_out) = (due & 1 != 0, due & 2 != 0);

    // Due retries, each leased by its row.
    let rows = if !retries_due {
        Vec::new()
    } else {
        sqlx::query(&format!(
            "UPDATE messages SET lease_owner = $1, next_attempt_at = $2, updated_at = $3 \
             WHERE id IN (SELECT id FROM messages WHERE status = 'Retry' \
             AND next_attempt_at <= $3 ORDER BY next_attempt_at LIMIT $4{skip_locked}) \
             RETURNING id, delivery_id, token, attempts"
        ))
        .bind(owner)
        .bind(millis(until))
        .bind(millis(now))
        .bind(limit)
        .fetch_all(&mut **tx)
        .await?
    };
    for row in &rows {
        let delivery: String = row.try_get("delivery_id")?;
        let message = (
            row.try_get("id")?,
            row.try_get("token")?,
            row.try_get("attempts")?,
        );
        claimed.push(claimed_message(message, &delivery, Lease::Message));
    }

    // Ranges whose holder did not finish in time.
    while ranges_ran_out && (claimed.len() as i64) < limit {
        let expired = sqlx::query(&format!(
            "SELECT id, delivery_id, first_id, last_id FROM leases WHERE lease_until <= $1 \
             ORDER BY lease_until LIMIT 1{skip_locked}"
        ))
        .bind(millis(now))
        .fetch_optional(&mut **tx)
        .await?;
        let Some(expired) = expired else { break };
        let lease_id: i64 = expired.try_get("id")?;
        let delivery: String = expired.try_get("delivery_id")?;
        let (first, last): (i64, i64) = (expired.try_get("first_id")?, expired.try_get("last_id")?);
        let room = limit - claimed.len() as i64;
        let json: String = sqlx::query_scalar(&as_json_array(
            dialect,
            &format!(
                "SELECT id, token, attempts FROM messages m WHERE delivery_id = $1 \
                 AND {AWAITS_FIRST_RESULT} AND id >= $2 AND id <= $3 ORDER BY id LIMIT $4"
            ),
        ))
        .bind(&delivery)
        .bind(first)
        .bind(last)
        .bind(room + 1)
        .fetch_one(&mut **tx)
        .await?;
        let mut rows = message_rows(&json)?;
        if rows.is_empty() {
            sqlx::query("DELETE FROM leases WHERE id = $1")
                .bind(lease_id)
                .execute(&mut **tx)
                .await?;
            continue;
        }
        let more = rows.len() as i64 > room;
        rows.truncate(room as usize);
        let taken_last = rows[rows.len() - 1].0;
        // The part taken becomes a lease of its own, under a new id, and the expired one
        // goes: the results of the claim that ran out carry its id, so none of them is
        // written any more (see `SENT_INSERT_FENCE`).
        let taken: i64 = sqlx::query_scalar(
            "INSERT INTO leases (delivery_id, first_id, last_id, owner, lease_until) \
             SELECT delivery_id, first_id, $2, $3, $4 FROM leases WHERE id = $1 RETURNING id",
        )
        .bind(lease_id)
        .bind(taken_last)
        .bind(owner)
        .bind(millis(until))
        .fetch_one(&mut **tx)
        .await?;
        if more {
            // More than there is room for: the rest stays an expired range of its own.
            sqlx::query(
                "INSERT INTO leases (delivery_id, first_id, last_id, owner, lease_until) \
                 SELECT delivery_id, $2, last_id, owner, lease_until FROM leases WHERE id = $1",
            )
            .bind(lease_id)
            .bind(taken_last + 1)
            .execute(&mut **tx)
            .await?;
        }
        sqlx::query("DELETE FROM leases WHERE id = $1")
            .bind(lease_id)
            .execute(&mut **tx)
            .await?;
        for row in rows {
            claimed.push(claimed_message(row, &delivery, Lease::Range(taken)));
        }
    }

    // New ranges of first attempts, oldest delivery first.
    while (claimed.len() as i64) < limit {
        let room = limit - claimed.len() as i64;
        let next = match std::mem::replace(&mut looked, Looked::NotYet) {
            Looked::Read(next) => next,
            Looked::NotYet => next_range(tx, dialect, room).await?,
        };
        let Some(NextRange {
            delivery,
            cursor,
            rows,
        }) = next
        else {
            break;
        };
        let Some(last_row) = rows.last() else {
            sqlx::query("UPDATE deliveries SET claim_cursor = last_message_id WHERE id = $1")
                .bind(&delivery)
                .execute(&mut **tx)
                .await?;
            continue;
        };
        // The lease's insert moves the delivery's claim cursor to the range's end (trigger
        // `leases_advance_claim_cursor`): one statement, one trip.
        let lease_id: i64 = sqlx::query_scalar(
            "INSERT INTO leases (delivery_id, first_id, last_id, owner, lease_until) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(&delivery)
        .bind(cursor + 1)
        .bind(last_row.0)
        .bind(owner)
        .bind(millis(until))
        .fetch_one(&mut **tx)
        .await?;
        for row in rows {
            claimed.push(claimed_message(row, &delivery, Lease::Range(lease_id)));
        }
    }
    Ok(claimed)
}

impl Store {
    /// Claims up to `limit` due messages for `owner`, each leased for `lease`: due retries
    /// first, then ranges whose lease ran out, then new ranges of first attempts.
    ///
    /// On PostgreSQL concurrent claimers skip each other's rows (`FOR UPDATE SKIP
    /// LOCKED`); on SQLite the write transaction is the only one.
    pub async fn claim(
        &self,
        owner: &str,
        limit: i64,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<Claimed>, StoreError> {
        let mut tx = self.begin_write().await?;
        let claimed = claim(&mut tx, self.dialect(), owner, limit, lease, now).await?;
        tx.commit().await?;
        Ok(claimed)
    }

    /// Starts the transaction in which `owner` writes a batch's results.
    pub async fn begin_results(&self, owner: &str) -> Result<ResultsTx, StoreError> {
        Ok(ResultsTx {
            tx: self.begin_write().await?,
            dialect: self.dialect(),
            owner: owner.to_owned(),
            locked: HashSet::new(),
        })
    }

    /// Fails the messages of deliveries whose validity period has ended and that are not
    /// in flight (not held by a lease that still runs); the last attempt's outcome and
    /// failure reason stay. Returns how many.
    ///
    /// It reads the waiting messages where the queue's invariant puts them: past the claim
    /// cursor (which then moves to the delivery's last message, nothing being left to
    /// claim), in ranges whose lease ran out (which are then deleted), and due retries.
    pub async fn expire_messages(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        const EXPIRED: &str =
            "SELECT id FROM deliveries WHERE state = 'sending' AND expires_at <= $1";
        const FAIL: &str = "UPDATE messages SET status = 'Failed', lease_owner = NULL, \
             updated_at = $1, error_text = $2 WHERE id IN ";
        let never_claimed = format!(
            "{FAIL}(SELECT m.id FROM deliveries d JOIN messages m ON m.delivery_id = d.id \
             AND m.id > d.claim_cursor WHERE d.id IN ({EXPIRED}) AND m.status = 'Pending' \
             AND m.next_attempt_at <= $1)"
        );
        let lease_ran_out = format!(
            "{FAIL}(SELECT m.id FROM {LEASED_MESSAGES} WHERE l.delivery_id IN ({EXPIRED}) \
             AND l.lease_until <= $1 AND {AWAITS_FIRST_RESULT} AND m.next_attempt_at <= $1)"
        );
        let retry_due = format!(
            "{FAIL}(SELECT id FROM messages WHERE status = 'Retry' AND next_attempt_at <= $1 \
             AND delivery_id IN ({EXPIRED}))"
        );
        let mut tx = self.begin_write().await?;
        let mut failed = 0;
        for sql in [&never_claimed, &lease_ran_out, &retry_due] {
            failed += sqlx::query(sql)
                .bind(millis(now))
                .bind(VALIDITY_ENDED_TEXT)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        // The ranges that ran out and have nothing left waiting go: a late result of their
        // claims, for a message just failed, must not be written over it.
        sqlx::query(&format!(
            "DELETE FROM leases WHERE lease_until <= $1 AND delivery_id IN ({EXPIRED}) \
             AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.delivery_id = leases.delivery_id \
             AND m.id >= leases.first_id AND m.id <= leases.last_id AND {AWAITS_FIRST_RESULT})"
        ))
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!(
            "UPDATE deliveries SET claim_cursor = last_message_id \
             WHERE claim_cursor < last_message_id AND id IN ({EXPIRED})"
        ))
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(failed)
    }

    /// Deletes the leases of finished deliveries (left behind by a node that stopped after
    /// writing its last results).
    pub async fn drop_finished_leases(&self) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM leases WHERE delivery_id IN (SELECT id FROM deliveries WHERE state = 'done')",
        )
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(done.rows_affected())
    }

    /// The messages `owner` holds (a node's in-flight messages, e.g. after it stopped).
    pub async fn leased_messages(&self, owner: &str) -> Result<Vec<i64>, StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar(&format!(
            "SELECT m.id FROM {LEASED_MESSAGES} WHERE l.owner = $1 AND {AWAITS_FIRST_RESULT} \
             UNION SELECT id FROM messages WHERE lease_owner = $1 AND status = 'Retry' ORDER BY 1"
        ))
        .bind(owner)
        .fetch_all(self.pool())
        .await?;
        Ok(ids)
    }
}

/// One result as the statements bind it.
#[derive(serde::Serialize)]
struct ResultRow<'a> {
    id: i64,
    attempts: i64,
    lease: Option<i64>,
    status: &'static str,
    next_attempt_at: i64,
    provider_id: Option<&'a str>,
    outcome_id: Option<&'static str>,
    failure_type: Option<&'static str>,
    failure_reason: Option<i64>,
    error_text: Option<&'a str>,
    quarantined: i64,
    no_answer: i64,
}

/// How a result is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    /// Appended to `message_results`, binding only what a plain success
    /// ([`MessageResult::is_plain_success`]) does not share with the others.
    AppendSent,
    /// Appended to `message_results`.
    Append,
    /// Over the message's row.
    Update,
}

impl MessageResult {
    /// Whether this result is appended to `message_results`: on SQLite, the final result of
    /// a first attempt (held by a range). Retries, and the first attempt's result that
    /// schedules one, update the message. PostgreSQL writes every result over its message:
    /// an update there writes a new version of the row anyway, and the pipeline benchmark
    /// sent about a quarter fewer notifications a second with the appends than without.
    fn appends(&self, dialect: Dialect) -> bool {
        dialect == Dialect::Sqlite
            && matches!(self.lease, Lease::Range(_))
            && matches!(self.status, MessageStatus::Sent | MessageStatus::Failed)
    }

    /// Whether this is a plain success: `Sent` on a provider's answer, with no failure
    /// type, reason or error text, and no quarantine. Nearly every result is one; where it
    /// is appended, only its id, attempt, lease, provider id and outcome are bound, and
    /// [`RESULT_VALUES`] reduce to constants ([`SENT_INSERT`]): a quarter of the values,
    /// which halves SQLite's cost per row.
    fn is_plain_success(&self) -> bool {
        self.status == MessageStatus::Sent
            && !self.no_answer
            && !self.quarantined
            && self.failure_type.is_none()
            && self.failure_reason.is_none()
            && self.error_text.is_none()
    }

    /// How this result is written on `dialect`.
    fn write(&self, dialect: Dialect) -> Write {
        match (self.appends(dialect), self.is_plain_success()) {
            (true, true) => Write::AppendSent,
            (true, false) => Write::Append,
            (false, _) => Write::Update,
        }
    }
}

impl<'a> ResultRow<'a> {
    fn new(result: &'a MessageResult, now: DateTime<Utc>) -> Self {
        Self {
            id: result.id,
            attempts: result.attempts,
            lease: match result.lease {
                Lease::Range(id) => Some(id),
                Lease::Message => None,
            },
            status: result.status.as_str(),
            next_attempt_at: millis(result.next_attempt_at.unwrap_or(now)),
            provider_id: result.provider_id.as_deref(),
            outcome_id: result.outcome_id.map(|id| id.as_str()),
            failure_type: result.failure_type.map(|t| t.as_str()),
            failure_reason: result.failure_reason.map(|r| i64::from(r.value())),
            error_text: result.error_text.as_deref(),
            quarantined: i64::from(result.quarantined),
            no_answer: i64::from(result.no_answer),
        }
    }
}

/// The start of the results statements on SQLite: the results as `v`, a VALUES list in
/// the order [`ResultRow::values`] binds them.
const RESULTS_VALUES: &str = "WITH v (id, attempts, lease, status, next_attempt_at, \
    provider_id, outcome_id, failure_type, failure_reason, error_text, quarantined, \
    no_answer) AS (VALUES ";

impl ResultRow<'_> {
    /// The row's values in the order of [`RESULTS_VALUES`].
    fn values(&self) -> [Value; 12] {
        [
            Value::from(self.id),
            Value::from(self.attempts),
            Value::from(self.lease),
            Value::from(self.status),
            Value::from(self.next_attempt_at),
            Value::from(self.provider_id),
            Value::from(self.outcome_id),
            Value::from(self.failure_type),
            Value::from(self.failure_reason),
            Value::from(self.error_text),
            Value::from(self.quarantined),
            Value::from(self.no_answer),
        ]
    }

    /// A plain success's values in the order of [`SENT_VALUES`]: the others are constants.
    fn sent_values(&self) -> [Value; 5] {
        [
            Value::from(self.id),
            Value::from(self.attempts),
            Value::from(self.lease),
            Value::from(self.provider_id),
            Value::from(self.outcome_id),
        ]
    }
}

/// What a result `v` writes into a message's result columns over what the message `m`
/// holds, as (column, value): a result without a provider's answer (`no_answer`) keeps the
/// last attempt's count, outcome, failure type and reason; the provider's id stays unless
/// a new one came; `quarantined` stays once set. Both the append and the update write these.
const RESULT_VALUES: [(&str, &str); 7] = [
    (
        "attempts",
        "CASE WHEN v.no_answer = 1 THEN m.attempts ELSE v.attempts END",
    ),
    ("provider_id", "COALESCE(v.provider_id, m.provider_id)"),
    (
        "outcome_id",
        "CASE WHEN v.no_answer = 1 THEN m.outcome_id ELSE v.outcome_id END",
    ),
    (
        "failure_type",
        "CASE WHEN v.no_answer = 1 THEN m.failure_type ELSE v.failure_type END",
    ),
    (
        "failure_reason",
        "CASE WHEN v.no_answer = 1 THEN m.failure_reason ELSE v.failure_reason END",
    ),
    ("error_text", "v.error_text"),
    (
        "quarantined",
        "CASE WHEN v.quarantined = 1 THEN 1 ELSE m.quarantined END",
    ),
];

/// The condition that this owner still holds the range lease `v.lease` (up to the owner
/// value).
const RANGE_HELD: &str = "EXISTS (SELECT 1 FROM leases l WHERE l.id = v.lease AND l.owner = ";

/// The append of first attempts' final results, from `v` joined with their messages `m`
/// (up to the `updated_at` value).
static RESULTS_INSERT: LazyLock<String> = LazyLock::new(|| {
    let columns = RESULT_VALUES.map(|(column, _)| column).join(", ");
    let values = RESULT_VALUES.map(|(_, value)| value).join(", ");
    format!(
        "INSERT INTO message_results (id, delivery_id, status, {columns}, updated_at) \
         SELECT m.id, m.delivery_id, v.status, {values}, "
    )
});

/// The fence of an appended result: the first attempt this owner still holds by its range
/// (up to the owner value, then the `)` that closes it). A message with a result already
/// keeps it ([`FIRST_RESULT_KEPT`]:
/// the padding's repeated rows are in the same statement, which no `NOT EXISTS` would see).
static RESULTS_INSERT_FENCE: LazyLock<String> = LazyLock::new(|| {
    format!(
        " FROM v JOIN messages m ON m.id = v.id \
         WHERE m.attempts = v.attempts - 1 AND m.status = 'Pending' AND {RANGE_HELD}"
    )
});

/// The end of the appends: a second result for the same message is dropped.
const FIRST_RESULT_KEPT: &str = " ON CONFLICT (id) DO NOTHING";

/// The start of the append of plain successes on SQLite: the results as `v`, a VALUES
/// list of what differs between them.
const SENT_VALUES: &str = "WITH v (id, attempts, lease, provider_id, outcome_id) AS (VALUES ";

/// The append of plain successes (up to the `updated_at` value): what [`RESULTS_INSERT`]
/// writes for a result that is `Sent` on a provider's answer with no failure and no
/// quarantine, each of [`RESULT_VALUES`] with `no_answer` and `quarantined` 0 and no
/// failure type, reason or error text, over a message that awaits its first result (no
/// earlier attempt, so no provider id and no quarantine of its own). [`SENT_INSERT_FENCE`]
/// fences it by its range lease alone: the message's row is not read.
const SENT_INSERT: &str = "INSERT INTO message_results (id, delivery_id, status, attempts, \
    provider_id, outcome_id, failure_type, failure_reason, error_text, quarantined, \
    updated_at) SELECT v.id, l.delivery_id, 'Sent', v.attempts, v.provider_id, v.outcome_id, \
    NULL, NULL, NULL, 0, ";

/// The fence of an appended plain success (up to the owner value): the range lease it was
/// claimed under is still this owner's. A lease row is one claim of its range: a takeover
/// makes new rows and deletes the old one, the end of the validity period deletes the
/// ranges whose messages it failed, and SQLite never gives a deleted lease's id again
/// (`AUTOINCREMENT`). So while the lease is there, none of its messages has been failed,
/// retried or claimed by anyone since; a message with a result already keeps it
/// ([`FIRST_RESULT_KEPT`]).
const SENT_INSERT_FENCE: &str = " FROM v JOIN leases l ON l.id = v.lease WHERE l.owner = ";

/// The update of the results statements, from `v` (up to the `updated_at` value).
static RESULTS_UPDATE: LazyLock<String> = LazyLock::new(|| {
    let values = RESULT_VALUES.map(|(column, value)| format!("{column} = {value}"));
    format!(
        "UPDATE messages AS m SET status = v.status, next_attempt_at = v.next_attempt_at, \
         {}, lease_owner = NULL, updated_at = ",
        values.join(", ")
    )
});

/// The fence of a retry's result: it still holds the message (up to the owner value).
const RESULTS_FENCE: &str = " FROM v WHERE m.id = v.id AND m.attempts = v.attempts - 1 \
    AND ((v.lease IS NULL AND m.status = 'Retry' AND m.lease_owner = ";

/// The fence of a first attempt's result to retry: the message awaits its first result and
/// this owner still holds its range (up to the owner value).
static RESULTS_FENCE_RANGE: LazyLock<String> = LazyLock::new(|| {
    format!(") OR (v.lease IS NOT NULL AND {AWAITS_FIRST_RESULT} AND {RANGE_HELD}")
});

/// The results update on PostgreSQL: the results as one JSON parameter (`$1`), the write
/// time `$2`, the owner `$3`.
static RESULTS_UPDATE_POSTGRES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH v AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS x (id bigint, \
         attempts bigint, lease bigint, status text, next_attempt_at bigint, provider_id text, \
         outcome_id text, failure_type text, failure_reason bigint, error_text text, \
         quarantined bigint, no_answer bigint)) {}$2{RESULTS_FENCE}$3{}$3)))",
        *RESULTS_UPDATE, *RESULTS_FENCE_RANGE
    )
});

/// A batch's results transaction: lock the addresses, write their new states and the
/// messages' results, release finished ranges, commit. Dropping it without
/// [`ResultsTx::commit`] writes nothing.
pub struct ResultsTx {
    tx: WriteTx,
    dialect: Dialect,
    owner: String,
    /// The addresses this transaction found and locked, by app and token.
    locked: HashSet<(String, String)>,
}

impl ResultsTx {
    /// The quarantine-list rows of these tokens of one app, locked until commit.
    pub async fn lock_addresses(
        &mut self,
        app_id: &str,
        tokens: &[&str],
    ) -> Result<Vec<Address>, StoreError> {
        let found = lock_addresses(&mut self.tx, self.dialect, app_id, tokens).await?;
        self.locked.extend(
            found
                .iter()
                .map(|address| (address.app_id.clone(), address.token.clone())),
        );
        Ok(found)
    }

    /// The quarantine-list rows of these (app, token) pairs, by app and token, locked until
    /// commit (in the order every transaction locks addresses).
    pub async fn lock_addresses_of<'a>(
        &mut self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<HashMap<(String, String), Address>, StoreError> {
        let found = lock_addresses_of(&mut self.tx, self.dialect, pairs).await?;
        self.locked.extend(found.keys().cloned());
        Ok(found)
    }

    /// Writes addresses' new states: over the rows this transaction locked, and as new rows
    /// for the others. If another transaction created one of those meanwhile (PostgreSQL:
    /// nothing locks a row that is not there), the new state was computed from a state
    /// that no longer holds: this fails with [`StoreError::Conflict`], and the batch is to
    /// be written again in a new transaction.
    pub async fn write_addresses(
        &mut self,
        addresses: &[Address],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // In (app, token) order, as addresses are locked, for the rows created here too.
        let mut addresses = addresses.to_vec();
        addresses.sort_unstable_by(|a, b| (&a.app_id, &a.token).cmp(&(&b.app_id, &b.token)));
        let (known, new): (Vec<Address>, Vec<Address>) =
            addresses.into_iter().partition(|address| {
                self.locked
                    .contains(&(address.app_id.clone(), address.token.clone()))
            });
        write_addresses(&mut self.tx, self.dialect, &known, now, Existing::Overwrite).await?;
        write_addresses(&mut self.tx, self.dialect, &new, now, Existing::Conflict).await
    }

    /// Writes the results of this owner's attempts and releases their row leases. A
    /// result whose message this owner no longer holds (its lease ran out and another
    /// node took it) is not written. On SQLite the final result of a first attempt is
    /// appended to `message_results`; other results update the message (see
    /// [`MessageResult::appends`]). Returns how many were written.
    pub async fn write_results(
        &mut self,
        results: &[MessageResult],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut written = 0;
        for write in [Write::AppendSent, Write::Append, Write::Update] {
            let results: Vec<&MessageResult> = results
                .iter()
                .filter(|r| r.write(self.dialect) == write)
                .collect();
            for chunk in padded_chunks(self.dialect, &results) {
                written += match self.dialect {
                    Dialect::Sqlite => self.write_results_sqlite(&chunk, write, now).await?,
                    // Nothing is appended on PostgreSQL.
                    Dialect::Postgres => self.write_results_postgres(chunk.items, now).await?,
                };
            }
        }
        Ok(written)
    }

    /// The results as SQLite parameters: anonymous ones, bound by position (plain successes
    /// five a row, [`SENT_VALUES`]; the others twelve). A repeated row joins the same
    /// message, which is written once.
    async fn write_results_sqlite(
        &mut self,
        chunk: &Padded<'_, &MessageResult>,
        write: Write,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        // Each way of writing: the start of its VALUES list, then of its statement (up to
        // the write time).
        let (values, start) = match write {
            Write::AppendSent => (SENT_VALUES, SENT_INSERT),
            Write::Append => (RESULTS_VALUES, RESULTS_INSERT.as_str()),
            Write::Update => (RESULTS_VALUES, RESULTS_UPDATE.as_str()),
        };
        let mut statement = Statement::new(self.dialect);
        statement.push(values);
        for (i, result) in chunk.rows().enumerate() {
            if i > 0 {
                statement.push(", ");
            }
            let row = ResultRow::new(result, now);
            if write == Write::AppendSent {
                statement.row(row.sent_values());
            } else {
                statement.row(row.values());
            }
        }
        statement.push(") ").push(start).bind(millis(now));
        match write {
            Write::AppendSent => statement
                .push(SENT_INSERT_FENCE)
                .bind(self.owner.as_str())
                .push(FIRST_RESULT_KEPT),
            Write::Append => statement
                .push(&RESULTS_INSERT_FENCE)
                .bind(self.owner.as_str())
                .push(")")
                .push(FIRST_RESULT_KEPT),
            Write::Update => statement
                .push(RESULTS_FENCE)
                .bind(self.owner.as_str())
                .push(&RESULTS_FENCE_RANGE)
                .bind(self.owner.as_str())
                .push(")))"),
        };
        Ok(statement
            .query()
            .execute(&mut *self.tx)
            .await?
            .rows_affected())
    }

    /// The results as one JSON parameter: PostgreSQL plans a statement with a thousand
    /// parameters anew for every size, and may scan the table for it.
    async fn write_results_postgres(
        &mut self,
        chunk: &[&MessageResult],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let rows: Vec<ResultRow<'_>> = chunk.iter().map(|r| ResultRow::new(r, now)).collect();
        let json = serde_json::to_string(&rows)
            .map_err(|e| StoreError::Invalid(format!("results as JSON: {e}")))?;
        let done = sqlx::query(&RESULTS_UPDATE_POSTGRES)
            .bind(json)
            .bind(millis(now))
            .bind(self.owner.clone())
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected())
    }

    /// Marks these deliveries `done` if every message of theirs is final (the batch's own
    /// deliveries, so that a delivery is done as soon as its last result is written).
    pub async fn finish_deliveries(
        &mut self,
        deliveries: &[&str],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut finished = 0;
        for chunk in padded_chunks(self.dialect, deliveries) {
            let mut statement = Statement::new(self.dialect);
            statement
                .push("UPDATE deliveries SET state = 'done', finished_at = ")
                .bind(millis(now))
                .push(" WHERE state = 'sending' AND id IN ");
            statement.row(chunk.rows().map(|id| Value::from(*id)));
            statement.push(" AND ").push(&DELIVERY_COMPLETE);
            finished += statement
                .query()
                .execute(&mut *self.tx)
                .await?
                .rows_affected();
        }
        Ok(finished)
    }

    /// Deletes this owner's range leases whose every result is written.
    pub async fn release_leases(&mut self, leases: &[i64]) -> Result<(), StoreError> {
        for chunk in padded_chunks(self.dialect, leases) {
            let mut statement = Statement::new(self.dialect);
            statement
                .push("DELETE FROM leases WHERE owner = ")
                .bind(self.owner.as_str());
            statement.push(" AND id IN ");
            statement.row(chunk.rows().map(|id| Value::from(*id)));
            statement.query().execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Claims up to `limit` due messages for this owner, as [`Store::claim`] does, in this
    /// transaction: a node that has just written a batch's results takes the next messages
    /// without waiting for the write connection again.
    pub async fn claim(
        &mut self,
        limit: i64,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<Claimed>, StoreError> {
        claim(&mut self.tx, self.dialect, &self.owner, limit, lease, now).await
    }

    /// Commits everything written in this transaction.
    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! `benches/sqlite_rows.py` measures SQLite's own cost of the results statements with
    //! copies of their texts (it runs without pushgate around it). These tests keep the
    //! copies the same as the statements, with the bound time and owner written in as the
    //! script writes them.

    use super::*;

    const SCRIPT: &str = include_str!("../benches/sqlite_rows.py");
    /// The time and owner the script writes where the store binds them.
    const NOW: &str = "5";
    const OWNER: &str = "'w'";

    /// The script's constant `name`, a string in double or triple double quotes.
    fn script_constant(name: &str) -> String {
        let start = format!("\n{name} = ");
        let at = SCRIPT
            .find(&start)
            .unwrap_or_else(|| panic!("sqlite_rows.py defines no {name}"))
            + start.len();
        let rest = &SCRIPT[at..];
        let quote = if rest.starts_with("\"\"\"") {
            "\"\"\""
        } else {
            "\""
        };
        let body = &rest[quote.len()..];
        let end = body
            .find(quote)
            .unwrap_or_else(|| panic!("{name} in sqlite_rows.py is not closed"));
        // A backslash at a line's end continues a Python string on the next line.
        body[..end].replace("\\\n", " ")
    }

    /// SQL with every run of white space one space.
    fn normalized(sql: &str) -> String {
        sql.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// The column list of a `WITH v (...) AS (VALUES ` start.
    fn columns(values_start: &str) -> String {
        let open = values_start.find('(').expect("a column list");
        let close = values_start.find(')').expect("a column list");
        normalized(&values_start[open + 1..close])
    }

    #[test]
    fn sqlite_rows_py_appends_plain_successes_as_the_store_does() {
        let store = format!("{SENT_INSERT}{NOW}{SENT_INSERT_FENCE}{OWNER}{FIRST_RESULT_KEPT}");
        assert_eq!(
            normalized(&script_constant("APPEND_SENT")),
            normalized(&store)
        );
        assert_eq!(
            normalized(&script_constant("SENT_COLUMNS")),
            columns(SENT_VALUES)
        );
    }

    #[test]
    fn sqlite_rows_py_appends_the_other_results_as_the_store_does() {
        let store = format!(
            "{}{NOW}{}{OWNER}){FIRST_RESULT_KEPT}",
            *RESULTS_INSERT, *RESULTS_INSERT_FENCE
        );
        assert_eq!(normalized(&script_constant("APPEND")), normalized(&store));
        assert_eq!(
            normalized(&script_constant("COLUMNS")),
            columns(RESULTS_VALUES)
        );
    }

    #[test]
    fn sqlite_rows_py_updates_results_as_the_store_does() {
        let script =
            script_constant("UPDATE").replace("{not_appended}", &script_constant("NOT_APPENDED"));
        let store = format!(
            "{}{NOW}{RESULTS_FENCE}{OWNER}{}{OWNER})))",
            *RESULTS_UPDATE, *RESULTS_FENCE_RANGE
        );
        assert_eq!(normalized(&script), normalized(&store));
    }
}
