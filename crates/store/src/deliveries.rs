//! Deliveries: creation with their explicit targets, reading, and state changes.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Store;
use crate::error::StoreError;
use crate::model::{Delivery, DeliveryState, NewDelivery, Target, parse_column};
use crate::queue::DELIVERY_COMPLETE;
use crate::sql::{Statement, Value};
use crate::time::{from_millis, millis};

const DELIVERY_COLUMNS: &str = "id, app_id, notification, target_kind, dry_run, state, \
    validity_secs, requested_validity_secs, created_at, expires_at, analyzed_at, finished_at";

fn delivery_from_row(row: &AnyRow) -> Result<Delivery, StoreError> {
    let notification: String = row.try_get("notification")?;
    Ok(Delivery {
        id: row.try_get("id")?,
        app_id: row.try_get("app_id")?,
        notification: serde_json::from_str(&notification)
            .map_err(|e| StoreError::corrupt(format!("notification: {e}")))?,
        target_kind: row.try_get("target_kind")?,
        dry_run: row.try_get::<i64, _>("dry_run")? != 0,
        state: parse_column::<DeliveryState>("state", row.try_get("state")?)?,
        validity_secs: row.try_get("validity_secs")?,
        requested_validity_secs: row.try_get("requested_validity_secs")?,
        created_at: from_millis(row.try_get("created_at")?),
        expires_at: from_millis(row.try_get("expires_at")?),
        analyzed_at: row
            .try_get::<Option<i64>, _>("analyzed_at")?
            .map(from_millis),
        finished_at: row
            .try_get::<Option<i64>, _>("finished_at")?
            .map(from_millis),
    })
}

impl Store {
    /// Creates a delivery in state `analyzing`, with its explicit targets (profiles or
    /// tokens) in request order. Returns it.
    pub async fn create_delivery(
        &self,
        new: &NewDelivery,
        now: DateTime<Utc>,
    ) -> Result<Delivery, StoreError> {
        self.require_app(&new.app_id).await?;
        let id = uuid::Uuid::new_v4().to_string();
        let expires_at = now + TimeDelta::seconds(new.validity_secs);
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO deliveries (id, app_id, notification, target_kind, dry_run, state, \
             validity_secs, requested_validity_secs, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, 'analyzing', $6, $7, $8, $9)",
        )
        .bind(id.clone())
        .bind(new.app_id.clone())
        .bind(new.notification.to_string())
        .bind(new.target.kind())
        .bind(i64::from(new.dry_run))
        .bind(new.validity_secs)
        .bind(new.requested_validity_secs)
        .bind(millis(now))
        .bind(millis(expires_at))
        .execute(&mut *tx)
        .await?;

        let (column, values) = match &new.target {
            Target::All => ("profile_id", &[][..]),
            Target::Profiles(profiles) => ("profile_id", profiles.as_slice()),
            Target::Tokens(tokens) => ("token", tokens.as_slice()),
        };
        for (chunk_index, chunk) in values.chunks(5000).enumerate() {
            let mut statement = Statement::new(self.dialect());
            statement.push(&format!(
                "INSERT INTO delivery_targets (delivery_id, seq, {column}) VALUES "
            ));
            for (i, value) in chunk.iter().enumerate() {
                if i > 0 {
                    statement.push(", ");
                }
                let seq = (chunk_index * 5000 + i + 1) as i64;
                statement.row([
                    Value::from(id.as_str()),
                    Value::from(seq),
                    Value::from(value.as_str()),
                ]);
            }
            statement.query().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        self.delivery(&id)
            .await?
            .ok_or_else(|| StoreError::corrupt("a delivery vanished after its creation"))
    }

    /// The delivery with this id.
    pub async fn delivery(&self, id: &str) -> Result<Option<Delivery>, StoreError> {
        let sql = format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(delivery_from_row).transpose()
    }

    /// The app's deliveries, newest first.
    pub async fn deliveries(&self, app_id: &str, limit: i64) -> Result<Vec<Delivery>, StoreError> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE app_id = $1 ORDER BY created_at DESC, id LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(app_id)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    /// Deliveries whose analysis has not finished (to resume after a restart), oldest first.
    pub async fn deliveries_to_analyze(&self) -> Result<Vec<Delivery>, StoreError> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE state = 'analyzing' ORDER BY created_at"
        );
        let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
        rows.iter().map(delivery_from_row).collect()
    }

    /// Marks `sending` deliveries whose messages are all final as `done`; returns how many.
    pub async fn finish_complete_deliveries(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query(&format!(
            "UPDATE deliveries SET state = 'done', finished_at = $1 WHERE state = 'sending' \
             AND {}",
            *DELIVERY_COMPLETE
        ))
        .bind(millis(now))
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(done.rows_affected())
    }
}
