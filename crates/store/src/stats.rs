//! Operational counts for metrics: the depth of the message queue.

use crate::Store;
use crate::error::StoreError;

impl Store {
    /// Messages waiting to be sent: `Pending` and `Retry`, due or not.
    pub async fn queue_depth(&self) -> Result<i64, StoreError> {
        let depth: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM messages WHERE status IN ('Pending', 'Retry')",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(depth)
    }
}
