//! Operational counts for metrics: the depth of the message queue.

use crate::Store;
use crate::error::StoreError;
use crate::queue::{AWAITS_FIRST_RESULT, LEASED_MESSAGES};

impl Store {
    /// Messages waiting to be sent: `Pending` and `Retry`, due or not. Read where the
    /// queue's invariant puts them (see [`queue`](crate::queue)), so that the count costs
    /// what is waiting, not the whole message log.
    pub async fn queue_depth(&self) -> Result<i64, StoreError> {
        let depth: i64 = sqlx::query_scalar(&format!(
            "SELECT (SELECT COUNT(*) FROM deliveries d JOIN messages m ON m.delivery_id = d.id \
             AND m.id > d.claim_cursor WHERE d.state <> 'done' AND m.status = 'Pending') \
             + (SELECT COUNT(*) FROM {LEASED_MESSAGES} WHERE {AWAITS_FIRST_RESULT}) \
             + (SELECT COUNT(*) FROM messages WHERE status = 'Retry')"
        ))
        .fetch_one(self.pool())
        .await?;
        Ok(depth)
    }
}
