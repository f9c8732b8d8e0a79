//! Times cross the database as epoch milliseconds.

use chrono::{DateTime, Utc};

/// A time as epoch milliseconds.
pub fn millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

/// Epoch milliseconds as a time (out-of-range values clamp to the epoch).
pub fn from_millis(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).unwrap_or(DateTime::UNIX_EPOCH)
}
