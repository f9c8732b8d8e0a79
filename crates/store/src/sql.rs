//! Statements with many parameters (the batch writes), built with each dialect's cheapest
//! placeholders.
//!
//! SQLite looks a named or numbered parameter (`$1`, `?1`) up by name, in a list, both
//! when it parses the statement and when a value is bound: quadratic in the number of
//! parameters, which a 10,000-value batch makes dominate everything else. Anonymous `?`
//! parameters are bound by position at no such cost. PostgreSQL only knows `$n`. A
//! [`Statement`] writes the right one as the SQL text is built and keeps the values in the
//! order of their placeholders, so each value appears exactly where it is used.
//!
//! On SQLite a batch's statements have a few fixed row counts, so that their texts stay
//! prepared: inserts are cut into pieces of those sizes ([`batch_chunks`]); lookups and
//! updates by key, where a repeated row changes nothing, are padded up to the next size
//! ([`padded_chunks`]), so that a batch of results is one statement. Each statement is a
//! round trip between the async side and the connection's own thread, which on a busy
//! machine costs more than SQLite's own work for a few rows.

use sqlx::Any;
use sqlx::any::AnyArguments;
use sqlx::query::Query;

use crate::Dialect;

/// The row counts of SQLite's batch inserts, largest first. A batch is cut into
/// statements of these sizes only ([`fixed_size_chunks`]), so that their few texts stay
/// prepared in the connection's statement cache: a statement of every batch size would be
/// parsed and planned anew each time (and kept, large, in the cache).
const SQLITE_BATCH_ROWS: [usize; 5] = [256, 64, 16, 4, 1];

/// `items` in consecutive chunks whose sizes are all from [`SQLITE_BATCH_ROWS`].
fn fixed_size_chunks<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = SQLITE_BATCH_ROWS
            .iter()
            .copied()
            .find(|&size| size <= rest.len())
            .unwrap_or(1);
        let (chunk, after) = rest.split_at(size);
        rest = after;
        Some(chunk)
    })
}

/// `items` cut for batch statements: on SQLite into [`fixed_size_chunks`], on PostgreSQL
/// into chunks of at most 1,000 (its batch statements take one JSON parameter or are rare).
pub(crate) fn batch_chunks<T>(dialect: Dialect, items: &[T]) -> Vec<&[T]> {
    match dialect {
        Dialect::Sqlite => fixed_size_chunks(items).collect(),
        Dialect::Postgres => items.chunks(1000).collect(),
    }
}

/// The row counts of SQLite's padded statements, smallest first.
const SQLITE_PADDED_ROWS: [usize; 6] = [1, 4, 16, 64, 256, 1024];

/// A chunk of a batch for a lookup or an update by key, with how many times its last item
/// is repeated to fill the statement.
#[derive(Debug)]
pub(crate) struct Padded<'a, T> {
    /// The chunk's own items.
    pub(crate) items: &'a [T],
    padding: usize,
}

impl<'a, T> Padded<'a, T> {
    /// The statement's rows: the items, then the last one again `padding` times.
    pub(crate) fn rows(&self) -> impl Iterator<Item = &'a T> + use<'a, T> {
        let last = self.items.last();
        self.items
            .iter()
            .chain(std::iter::repeat_n(last, self.padding).flatten())
    }
}

/// `items` cut for lookups and updates by key, where a repeated row changes nothing. On
/// SQLite each chunk (of at most 1,024) is padded up to one of [`SQLITE_PADDED_ROWS`]: a
/// result batch is then one statement, one round trip to the connection's thread instead
/// of one per fixed-size piece, and the few texts stay prepared. Not for inserts. On
/// PostgreSQL, chunks of at most 1,000, not padded.
pub(crate) fn padded_chunks<T>(dialect: Dialect, items: &[T]) -> Vec<Padded<'_, T>> {
    match dialect {
        Dialect::Sqlite => items
            .chunks(SQLITE_PADDED_ROWS[SQLITE_PADDED_ROWS.len() - 1])
            .map(|chunk| {
                let size = SQLITE_PADDED_ROWS
                    .iter()
                    .copied()
                    .find(|&size| size >= chunk.len())
                    .unwrap_or(chunk.len());
                Padded {
                    items: chunk,
                    padding: size - chunk.len(),
                }
            })
            .collect(),
        Dialect::Postgres => items
            .chunks(1000)
            .map(|items| Padded { items, padding: 0 })
            .collect(),
    }
}

/// A value bound to one placeholder.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Int(Option<i64>),
    Text(Option<String>),
}

impl From<i64> for Value {
    fn from(value: i64) -> Self {
        Self::Int(Some(value))
    }
}

impl From<Option<i64>> for Value {
    fn from(value: Option<i64>) -> Self {
        Self::Int(value)
    }
}

impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Self::Text(Some(value.to_owned()))
    }
}

impl From<String> for Value {
    fn from(value: String) -> Self {
        Self::Text(Some(value))
    }
}

impl From<Option<String>> for Value {
    fn from(value: Option<String>) -> Self {
        Self::Text(value)
    }
}

impl From<Option<&str>> for Value {
    fn from(value: Option<&str>) -> Self {
        Self::Text(value.map(str::to_owned))
    }
}

/// A statement being written: SQL text and the values of its placeholders, in order.
#[derive(Debug)]
pub(crate) struct Statement {
    dialect: Dialect,
    sql: String,
    values: Vec<Value>,
}

impl Statement {
    pub(crate) fn new(dialect: Dialect) -> Self {
        Self {
            dialect,
            sql: String::new(),
            values: Vec::new(),
        }
    }

    /// Appends SQL text.
    pub(crate) fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends a placeholder for `value`.
    pub(crate) fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.values.push(value.into());
        match self.dialect {
            Dialect::Sqlite => self.sql.push('?'),
            Dialect::Postgres => {
                self.sql.push('$');
                self.sql.push_str(&self.values.len().to_string());
            }
        }
        self
    }

    /// Appends `(v1, v2, ...)`: one row of values.
    pub(crate) fn row(&mut self, values: impl IntoIterator<Item = Value>) -> &mut Self {
        self.sql.push('(');
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            self.bind(value);
        }
        self.sql.push(')');
        self
    }

    /// The query, ready to run (it borrows the statement's text).
    pub(crate) fn query(&self) -> Query<'_, Any, AnyArguments<'_>> {
        let mut query = sqlx::query(&self.sql);
        for value in &self.values {
            query = match value {
                Value::Int(v) => query.bind(*v),
                // Borrowed: the query borrows the statement anyway.
                Value::Text(v) => query.bind(v.as_deref()),
            };
        }
        query
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_size_chunks_cover_every_item_once_in_order_with_the_fixed_sizes_only() {
        for len in [0, 1, 3, 4, 255, 256, 257, 345, 1000, 2049] {
            let items: Vec<usize> = (0..len).collect();
            let chunks: Vec<&[usize]> = fixed_size_chunks(&items).collect();
            assert!(
                chunks.iter().all(|c| SQLITE_BATCH_ROWS.contains(&c.len())),
                "{len}"
            );
            assert_eq!(chunks.concat(), items, "{len}");
        }
        let sizes: Vec<usize> = fixed_size_chunks(&[0u8; 345]).map(<[u8]>::len).collect();
        assert_eq!(sizes, [256, 64, 16, 4, 4, 1], "largest first");
    }

    #[test]
    fn padded_chunks_hold_every_item_once_in_order_filled_up_to_a_fixed_size_with_the_last() {
        for len in [1, 3, 4, 5, 255, 256, 257, 1000, 1024, 1025, 2049] {
            let items: Vec<usize> = (0..len).collect();
            let chunks = padded_chunks(Dialect::Sqlite, &items);
            let own: Vec<usize> = chunks.iter().flat_map(|c| c.items.to_vec()).collect();
            assert_eq!(own, items, "{len}");
            for chunk in &chunks {
                let rows: Vec<usize> = chunk.rows().copied().collect();
                assert!(
                    SQLITE_PADDED_ROWS.contains(&rows.len()),
                    "{len}: {}",
                    rows.len()
                );
                assert_eq!(rows[..chunk.items.len()], *chunk.items, "{len}");
                let last = chunk.items[chunk.items.len() - 1];
                assert!(
                    rows[chunk.items.len()..].iter().all(|&r| r == last),
                    "{len}"
                );
            }
        }
        let sizes: Vec<usize> = padded_chunks(Dialect::Sqlite, &[0u8; 1100])
            .iter()
            .map(|c| c.rows().count())
            .collect();
        assert_eq!(sizes, [1024, 256], "1,024 at most, then the next size up");
        assert!(padded_chunks(Dialect::Sqlite, &[0u8; 0]).is_empty());
        let postgres = padded_chunks(Dialect::Postgres, &[0u8; 1100]);
        let sizes: Vec<usize> = postgres.iter().map(|c| c.rows().count()).collect();
        assert_eq!(sizes, [1000, 100], "PostgreSQL: not padded");
    }

    #[test]
    fn placeholders_follow_the_dialect_and_the_values_their_order() {
        for (dialect, expected) in [
            (Dialect::Sqlite, "SELECT ? WHERE x IN ((?, ?), (?, ?))"),
            (
                Dialect::Postgres,
                "SELECT $1 WHERE x IN (($2, $3), ($4, $5))",
            ),
        ] {
            let mut statement = Statement::new(dialect);
            statement.push("SELECT ").bind(1).push(" WHERE x IN (");
            statement.row([Value::from(2), Value::from("a")]).push(", ");
            statement
                .row([Value::from(3), Value::from(None::<String>)])
                .push(")");
            assert_eq!(statement.sql, expected);
            assert_eq!(statement.values.len(), 5);
        }
    }
}
