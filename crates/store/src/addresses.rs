//! The quarantine list: read, write, release one address or many.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use pushgate_outcome::FailureType;
use pushgate_quarantine::{AddressState, AddressStatus};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, Row};

use crate::error::StoreError;
use crate::model::{Address, parse_column, reason_of, status_of};
use crate::sql::{Statement, Value, batch_chunks, padded_chunks};
use crate::time::{from_millis, millis};
use crate::writer::WriteTx;
use crate::{Dialect, Store};

/// The columns of `addresses`, in the order [`address_from_row`] and [`bind_address`] use.
pub(crate) const ADDRESS_COLUMNS: &str = "app_id, token, status, error_count, last_failure_type, \
    last_failure_reason, first_error_text, last_error_text, first_error_at, last_error_at, \
    unregistered_at, last_modified";

pub(crate) fn address_from_row(row: &AnyRow) -> Result<Address, StoreError> {
    let failure_type: Option<String> = row.try_get("last_failure_type")?;
    let error_count: i64 = row.try_get("error_count")?;
    Ok(Address {
        app_id: row.try_get("app_id")?,
        token: row.try_get("token")?,
        state: AddressState {
            status: status_of(row.try_get("status")?)?,
            error_count: u32::try_from(error_count)
                .map_err(|_| StoreError::corrupt(format!("error_count = {error_count}")))?,
            last_failure_type: failure_type
                .map(|t| parse_column::<FailureType>("last_failure_type", &t))
                .transpose()?,
            last_failure_reason: reason_of(row.try_get("last_failure_reason")?)?,
            first_error_text: row.try_get("first_error_text")?,
            last_error_text: row.try_get("last_error_text")?,
            first_error_at: row
                .try_get::<Option<i64>, _>("first_error_at")?
                .map(from_millis),
            last_error_at: row
                .try_get::<Option<i64>, _>("last_error_at")?
                .map(from_millis),
            last_modified: from_millis(row.try_get("last_modified")?),
        },
        unregistered_at: row
            .try_get::<Option<i64>, _>("unregistered_at")?
            .map(from_millis),
    })
}

/// Inserts or updates addresses, in statements of [`batch_chunks`]' sizes (on SQLite at
/// most 256 rows, on PostgreSQL 1,000).
pub(crate) async fn upsert_addresses(
    tx: &mut WriteTx,
    dialect: Dialect,
    addresses: &[Address],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    write_addresses(tx, dialect, addresses, now, Existing::Overwrite).await
}

/// What [`write_addresses`] does with a row that is already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Existing {
    /// Overwrite it.
    Overwrite,
    /// Fail with [`StoreError::Conflict`]: the rows were computed from their absence.
    Conflict,
}

/// Inserts addresses, or on an existing row does what `existing` says.
pub(crate) async fn write_addresses(
    tx: &mut WriteTx,
    dialect: Dialect,
    addresses: &[Address],
    now: DateTime<Utc>,
    existing: Existing,
) -> Result<(), StoreError> {
    for chunk in batch_chunks(dialect, addresses) {
        let mut statement = Statement::new(dialect);
        statement.push(&format!(
            "INSERT INTO addresses ({ADDRESS_COLUMNS}, created_at) VALUES "
        ));
        for (i, address) in chunk.iter().enumerate() {
            if i > 0 {
                statement.push(", ");
            }
            let state = &address.state;
            statement.row([
                Value::from(address.app_id.clone()),
                Value::from(address.token.clone()),
                Value::from(state.status.as_str()),
                Value::from(i64::from(state.error_count)),
                Value::from(state.last_failure_type.map(|t| t.as_str())),
                Value::from(state.last_failure_reason.map(|r| i64::from(r.value()))),
                Value::from(state.first_error_text.clone()),
                Value::from(state.last_error_text.clone()),
                Value::from(state.first_error_at.map(millis)),
                Value::from(state.last_error_at.map(millis)),
                Value::from(address.unregistered_at.map(millis)),
                Value::from(millis(state.last_modified)),
                Value::from(millis(now)),
            ]);
        }
        match existing {
            Existing::Overwrite => statement.push(
                " ON CONFLICT (app_id, token) DO UPDATE SET status = excluded.status, \
                 error_count = excluded.error_count, last_failure_type = excluded.last_failure_type, \
                 last_failure_reason = excluded.last_failure_reason, \
                 first_error_text = excluded.first_error_text, last_error_text = excluded.last_error_text, \
                 first_error_at = excluded.first_error_at, last_error_at = excluded.last_error_at, \
                 unregistered_at = excluded.unregistered_at, last_modified = excluded.last_modified",
            ),
            Existing::Conflict => statement.push(" ON CONFLICT (app_id, token) DO NOTHING"),
        };
        let inserted = statement.query().execute(&mut **tx).await?.rows_affected();
        if existing == Existing::Conflict && inserted < chunk.len() as u64 {
            return Err(StoreError::Conflict(
                "an address to create was created meanwhile",
            ));
        }
    }
    Ok(())
}

/// Reads the addresses of these (app, token) pairs, locking them for the transaction on
/// PostgreSQL, by app and token. Every transaction that locks several addresses goes
/// through here or [`lock_addresses`] (the bulk release on PostgreSQL orders its own
/// statement the same way), so that they all lock in (app, token) order and two of them
/// wait for each other instead of deadlocking. Pairs without a row are absent.
pub(crate) async fn lock_addresses_of<'a>(
    tx: &mut WriteTx,
    dialect: Dialect,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<HashMap<(String, String), Address>, StoreError> {
    let mut by_app: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (app_id, token) in pairs {
        by_app.entry(app_id).or_default().push(token);
    }
    let mut found = HashMap::new();
    for (app_id, tokens) in by_app {
        for address in lock_addresses(tx, dialect, app_id, &tokens).await? {
            found.insert((address.app_id.clone(), address.token.clone()), address);
        }
    }
    Ok(found)
}

/// Reads the addresses of these tokens of one app, locking them in token order for the
/// transaction on PostgreSQL (SQLite's write transaction already holds the only write
/// lock). Tokens without a row are absent from the result, which is in token order.
pub(crate) async fn lock_addresses(
    tx: &mut WriteTx,
    dialect: Dialect,
    app_id: &str,
    tokens: &[&str],
) -> Result<Vec<Address>, StoreError> {
    let mut tokens = tokens.to_vec();
    tokens.sort_unstable();
    tokens.dedup();
    let mut found = Vec::new();
    for chunk in padded_chunks(dialect, &tokens) {
        let rows = match dialect {
            Dialect::Sqlite => {
                // The tokens as a VALUES list that SQLite reads in turn, looking each up in
                // the table's key (CROSS JOIN keeps that order of the loops): `token IN
                // (...)` first sorts the list into a temporary index, which took about
                // twice as long for a batch of 1,024 (SQLite alone, 0.34 against 0.18 ms).
                // The padding's repeated token finds its row again: see the dedup below.
                let mut statement = Statement::new(dialect);
                statement.push(&format!("SELECT {ADDRESS_COLUMNS} FROM (VALUES "));
                for (i, token) in chunk.rows().enumerate() {
                    if i > 0 {
                        statement.push(", ");
                    }
                    statement.row([Value::from(*token)]);
                }
                statement
                    .push(") AS wanted CROSS JOIN addresses WHERE addresses.app_id = ")
                    .bind(app_id)
                    .push(" AND addresses.token = wanted.column1");
                statement.query().fetch_all(&mut **tx).await?
            }
            Dialect::Postgres => {
                // One JSON parameter: one statement text, planned once, whatever the count.
                let tokens = serde_json::to_string(chunk.items)
                    .map_err(|e| StoreError::Invalid(format!("tokens as JSON: {e}")))?;
                sqlx::query(&format!(
                    "SELECT {ADDRESS_COLUMNS} FROM addresses WHERE app_id = $1 AND token IN \
                     (SELECT jsonb_array_elements_text($2::jsonb)) ORDER BY token FOR UPDATE"
                ))
                .bind(app_id.to_owned())
                .bind(tokens)
                .fetch_all(&mut **tx)
                .await?
            }
        };
        for row in rows {
            found.push(address_from_row(&row)?);
        }
    }
    // In token order, each once (on SQLite a padded chunk repeats its last token).
    found.sort_unstable_by(|a, b| a.token.cmp(&b.token));
    found.dedup_by(|a, b| a.token == b.token);
    Ok(found)
}

/// Filters of the quarantine list.
#[derive(Debug, Clone, Default)]
pub struct AddressFilter {
    /// Only these statuses (all when empty).
    pub statuses: Vec<AddressStatus>,
    /// Only this last failure reason value.
    pub reason: Option<u8>,
    /// Only addresses whose last error text contains this (case-sensitive).
    pub text_contains: Option<String>,
    /// Only addresses last modified at or after this.
    pub modified_from: Option<DateTime<Utc>>,
    /// Only addresses last modified at or before this.
    pub modified_to: Option<DateTime<Utc>>,
}

/// What a bulk release does to the selected addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseAction {
    /// Set them back to Valid (count reset; the last error stays as history).
    Valid,
    /// Delete them from the quarantine list.
    Delete,
}

/// Why an address was released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ReleaseCause {
    /// An operator released one address.
    Manual,
    /// An operator released addresses by filter.
    Bulk,
    /// The app registered the token again after it stopped being valid.
    ReRegistration,
}

impl ReleaseCause {
    fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Bulk => "bulk",
            Self::ReRegistration => "re-registration",
        }
    }
}

/// A value bound to a filter's placeholder.
enum Bind {
    Text(String),
    Int(i64),
}

/// A filter's WHERE clause (`app_id = $1 AND ...`) and the values of `$2`, `$3`...
struct FilterSql {
    clause: String,
    binds: Vec<Bind>,
}

fn filter_sql(filter: &AddressFilter, dialect: Dialect) -> FilterSql {
    let mut clause = String::from("app_id = $1");
    let mut binds = Vec::new();
    let push = |binds: &mut Vec<Bind>, bind: Bind| {
        binds.push(bind);
        format!("${}", binds.len() + 1)
    };
    if !filter.statuses.is_empty() {
        let list: Vec<String> = filter
            .statuses
            .iter()
            .map(|s| push(&mut binds, Bind::Text(s.as_str().to_owned())))
            .collect();
        clause.push_str(&format!(" AND status IN ({})", list.join(", ")));
    }
    if let Some(text) = &filter.text_contains {
        // A literal substring match (not LIKE: `%` and `_` are ordinary characters).
        let position = match dialect {
            Dialect::Sqlite => "instr",
            Dialect::Postgres => "strpos",
        };
        let p = push(&mut binds, Bind::Text(text.clone()));
        clause.push_str(&format!(" AND {position}(last_error_text, {p}) > 0"));
    }
    let bounds = [
        (filter.reason.map(i64::from), "last_failure_reason ="),
        (filter.modified_from.map(millis), "last_modified >="),
        (filter.modified_to.map(millis), "last_modified <="),
    ];
    for (value, condition) in bounds {
        if let Some(value) = value {
            let p = push(&mut binds, Bind::Int(value));
            clause.push_str(&format!(" AND {condition} {p}"));
        }
    }
    FilterSql { clause, binds }
}

impl FilterSql {
    /// The number of the first placeholder after the filter's.
    fn next(&self) -> usize {
        self.binds.len() + 2
    }

    fn bind<'q>(
        &self,
        mut query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
        app_id: &str,
    ) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
        query = query.bind(app_id.to_owned());
        for bind in &self.binds {
            query = match bind {
                Bind::Text(text) => query.bind(text.clone()),
                Bind::Int(number) => query.bind(*number),
            };
        }
        query
    }
}

impl Store {
    /// The quarantine-list row of a token, if it has one.
    pub async fn address(&self, app_id: &str, token: &str) -> Result<Option<Address>, StoreError> {
        let sql =
            format!("SELECT {ADDRESS_COLUMNS} FROM addresses WHERE app_id = $1 AND token = $2");
        let row = sqlx::query(&sql)
            .bind(app_id)
            .bind(token)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(address_from_row).transpose()
    }

    /// A page of an app's quarantine list, ordered by token.
    pub async fn addresses(
        &self,
        app_id: &str,
        filter: &AddressFilter,
        after_token: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Address>, StoreError> {
        let where_sql = filter_sql(filter, self.dialect());
        let next = where_sql.next();
        let sql = format!(
            "SELECT {ADDRESS_COLUMNS} FROM addresses WHERE {} AND token > ${next} \
             ORDER BY token LIMIT ${}",
            where_sql.clause,
            next + 1
        );
        let query = where_sql
            .bind(sqlx::query(&sql), app_id)
            .bind(after_token.unwrap_or_default().to_owned())
            .bind(limit);
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter().map(address_from_row).collect()
    }

    /// Writes an address as given (an operator setting Denylisted or Allowlisted, an import).
    pub async fn put_address(
        &self,
        address: &Address,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.put_addresses(std::slice::from_ref(address), now).await
    }

    /// Writes addresses as given, all in one transaction (an import); each (app, token)
    /// at most once, or nothing is written.
    pub async fn put_addresses(
        &self,
        addresses: &[Address],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut seen = HashMap::with_capacity(addresses.len());
        for (at, address) in addresses.iter().enumerate() {
            if let Some(first) = seen.insert((address.app_id.as_str(), address.token.as_str()), at)
            {
                // By position: a device token does not go into an error message.
                return Err(StoreError::Invalid(format!(
                    "addresses {first} and {at} are the same token of app {:?}",
                    address.app_id
                )));
            }
        }
        let mut tx = self.begin_write().await?;
        upsert_addresses(&mut tx, self.dialect(), addresses, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets one address back to Valid (manual release) and records the release. Returns the
    /// address as it was, or `None` if the token has no row.
    pub async fn release_address(
        &self,
        app_id: &str,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Address>, StoreError> {
        let mut tx = self.begin_write().await?;
        let found = lock_addresses(&mut tx, self.dialect(), app_id, &[token]).await?;
        let Some(before) = found.into_iter().next() else {
            return Ok(None);
        };
        release_in(&mut tx, self.dialect(), &before, ReleaseCause::Manual, now).await?;
        tx.commit().await?;
        Ok(Some(before))
    }

    /// Releases every address of an app that matches `filter`: to Valid or deleted, each
    /// release recorded. With `dry_run`, only counts. Returns how many it released (with
    /// `dry_run`, how many match).
    ///
    /// Without a status in the filter, only `Quarantine` and `With errors` addresses are
    /// released: `Denylisted` (opt-outs, spam reports) and `Allowlisted` ones are operator
    /// decisions that an outage clean-up must not undo, and are released only when named.
    pub async fn release_bulk(
        &self,
        app_id: &str,
        filter: &AddressFilter,
        action: ReleaseAction,
        dry_run: bool,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut filter = filter.clone();
        if filter.statuses.is_empty() {
            filter.statuses = vec![AddressStatus::Quarantine, AddressStatus::WithErrors];
        }
        let where_sql = filter_sql(&filter, self.dialect());
        let clause = &where_sql.clause;
        if dry_run {
            let count_sql = format!("SELECT COUNT(*) FROM addresses WHERE {clause}");
            let count: i64 = where_sql
                .bind(sqlx::query(&count_sql), app_id)
                .fetch_one(self.pool())
                .await?
                .try_get(0)?;
            return Ok(count.unsigned_abs());
        }
        let mut tx = self.begin_write().await?;
        let next = where_sql.next();
        if self.dialect() == Dialect::Postgres {
            let released = release_bulk_postgres(&mut tx, &where_sql, app_id, action, now).await?;
            tx.commit().await?;
            return Ok(released);
        }
        let (action_name, change) = match action {
            ReleaseAction::Valid => (
                "valid",
                format!(
                    "UPDATE addresses SET status = 'Valid', error_count = 0, first_error_text = NULL, \
                     first_error_at = NULL, last_modified = ${next} WHERE {clause}"
                ),
            ),
            ReleaseAction::Delete => ("deleted", format!("DELETE FROM addresses WHERE {clause}")),
        };
        let record = format!(
            "INSERT INTO address_releases (app_id, token, from_status, action, cause, released_at) \
             SELECT app_id, token, status, '{action_name}', 'bulk', ${next} FROM addresses WHERE {clause}"
        );
        where_sql
            .bind(sqlx::query(&record), app_id)
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
        let mut change_query = where_sql.bind(sqlx::query(&change), app_id);
        if action == ReleaseAction::Valid {
            change_query = change_query.bind(millis(now));
        }
        // SQLite's one write transaction sees the same rows in both statements.
        let released = change_query.execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        Ok(released)
    }
}

/// A bulk release on PostgreSQL, as one statement: it locks the matching addresses in
/// token order (as results transactions lock theirs, so neither waits on the other in a
/// cycle), releases them and records each release from the rows it changed, all in one
/// snapshot. An address that a send changes meanwhile is released only if it still
/// matches once its lock is free, and recorded only if released. Returns how many.
async fn release_bulk_postgres(
    tx: &mut WriteTx,
    where_sql: &FilterSql,
    app_id: &str,
    action: ReleaseAction,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let (clause, next) = (&where_sql.clause, where_sql.next());
    let (action_name, change) = match action {
        ReleaseAction::Valid => (
            "valid",
            format!(
                "UPDATE addresses a SET status = 'Valid', error_count = 0, \
                 first_error_text = NULL, first_error_at = NULL, last_modified = ${next} \
                 FROM matching m WHERE a.app_id = m.app_id AND a.token = m.token \
                 RETURNING m.app_id, m.token, m.status"
            ),
        ),
        ReleaseAction::Delete => (
            "deleted",
            "DELETE FROM addresses a USING matching m \
             WHERE a.app_id = m.app_id AND a.token = m.token \
             RETURNING m.app_id, m.token, m.status"
                .to_owned(),
        ),
    };
    let sql = format!(
        "WITH matching AS (SELECT app_id, token, status FROM addresses WHERE {clause} \
         ORDER BY token FOR UPDATE), released AS ({change}) \
         INSERT INTO address_releases (app_id, token, from_status, action, cause, released_at) \
         SELECT app_id, token, status, '{action_name}', 'bulk', ${next} FROM released"
    );
    let done = where_sql
        .bind(sqlx::query(&sql), app_id)
        .bind(millis(now))
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected())
}

/// Sets `before` back to Valid inside `tx` and records why.
pub(crate) async fn release_in(
    tx: &mut WriteTx,
    dialect: Dialect,
    before: &Address,
    cause: ReleaseCause,
    now: DateTime<Utc>,
) -> Result<Address, StoreError> {
    let released = Address {
        state: before.state.cleared(now),
        ..before.clone()
    };
    upsert_addresses(tx, dialect, std::slice::from_ref(&released), now).await?;
    sqlx::query(
        "INSERT INTO address_releases (app_id, token, from_status, action, cause, released_at) \
         VALUES ($1, $2, $3, 'valid', $4, $5)",
    )
    .bind(before.app_id.clone())
    .bind(before.token.clone())
    .bind(before.state.status.as_str())
    .bind(cause.as_str())
    .bind(millis(now))
    .execute(&mut **tx)
    .await?;
    Ok(released)
}
