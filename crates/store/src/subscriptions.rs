//! Subscriptions: registration (with the re-registration release) and removal.

use chrono::{DateTime, Utc};
use pushgate_quarantine::released_by_registration;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Store;
use crate::addresses::{ReleaseCause, lock_addresses, release_in};
use crate::error::StoreError;
use crate::model::{Address, Subscription};
use crate::sql::{Statement, Value};
use crate::time::{from_millis, millis};

const SUBSCRIPTION_COLUMNS: &str = "id, app_id, profile_id, token, disabled, disabled_at, \
    registered_at, created_at, updated_at";

fn subscription_from_row(row: &AnyRow) -> Result<Subscription, StoreError> {
    Ok(Subscription {
        id: row.try_get("id")?,
        app_id: row.try_get("app_id")?,
        profile_id: row.try_get("profile_id")?,
        token: row.try_get("token")?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        disabled_at: row
            .try_get::<Option<i64>, _>("disabled_at")?
            .map(from_millis),
        registered_at: from_millis(row.try_get("registered_at")?),
        created_at: from_millis(row.try_get("created_at")?),
        updated_at: from_millis(row.try_get("updated_at")?),
    })
}

/// What a registration did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Registration {
    /// The subscription as it now is.
    pub subscription: Subscription,
    /// A new subscription (not a re-registration of an existing one).
    pub created: bool,
    /// The token was in quarantine as unregistered and this registration released it:
    /// the address as it was before.
    pub released: Option<Address>,
}

impl Store {
    /// Registers `token` for `profile_id` (creating the profile if needed). Registering an
    /// existing (profile, token) again updates it.
    ///
    /// The re-registration rule: if the token is quarantined as unregistered and
    /// `registered_at` is after it stopped being valid, the address is released (and the
    /// release recorded). A disabled subscription is enabled again when its token is not
    /// (or no longer) excluded.
    pub async fn register_subscription(
        &self,
        app_id: &str,
        profile_id: &str,
        token: &str,
        registered_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Registration, StoreError> {
        self.require_app(app_id).await?;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO profiles (app_id, id, denylisted, created_at, updated_at) \
             VALUES ($1, $2, 0, $3, $3) ON CONFLICT (app_id, id) DO NOTHING",
        )
        .bind(app_id)
        .bind(profile_id)
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;

        let address = lock_addresses(&mut tx, self.dialect(), app_id, &[token])
            .await?
            .into_iter()
            .next();
        let mut released = None;
        let mut excluded = address
            .as_ref()
            .is_some_and(|a| a.state.status.is_excluded());
        if let Some(before) = address
            && released_by_registration(&before.state, before.unregistered_at, registered_at)
        {
            release_in(
                &mut tx,
                self.dialect(),
                &before,
                ReleaseCause::ReRegistration,
                now,
            )
            .await?;
            released = Some(before);
            excluded = false;
        }

        let existing: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM subscriptions WHERE app_id = $1 AND profile_id = $2 AND token = $3",
        )
        .bind(app_id)
        .bind(profile_id)
        .bind(token)
        .fetch_optional(&mut *tx)
        .await?;
        let sql = format!(
            "INSERT INTO subscriptions (app_id, profile_id, token, disabled, registered_at, created_at, updated_at) \
             VALUES ($1, $2, $3, 0, $4, $5, $5) \
             ON CONFLICT (app_id, profile_id, token) DO UPDATE SET \
             registered_at = excluded.registered_at, updated_at = excluded.updated_at, \
             disabled = CASE WHEN $6 = 1 THEN subscriptions.disabled ELSE 0 END, \
             disabled_at = CASE WHEN $6 = 1 THEN subscriptions.disabled_at ELSE NULL END \
             RETURNING {SUBSCRIPTION_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(app_id)
            .bind(profile_id)
            .bind(token)
            .bind(millis(registered_at))
            .bind(millis(now))
            .bind(i64::from(excluded))
            .fetch_one(&mut *tx)
            .await?;
        let subscription = subscription_from_row(&row)?;
        tx.commit().await?;
        Ok(Registration {
            subscription,
            created: existing.is_none(),
            released,
        })
    }

    /// The subscription with this id in this app.
    pub async fn subscription(
        &self,
        app_id: &str,
        id: i64,
    ) -> Result<Option<Subscription>, StoreError> {
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE app_id = $1 AND id = $2"
        );
        let row = sqlx::query(&sql)
            .bind(app_id)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(subscription_from_row).transpose()
    }

    /// The subscriptions of a profile, oldest first.
    pub async fn profile_subscriptions(
        &self,
        app_id: &str,
        profile_id: &str,
    ) -> Result<Vec<Subscription>, StoreError> {
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE app_id = $1 AND profile_id = $2 ORDER BY id"
        );
        let rows = sqlx::query(&sql)
            .bind(app_id)
            .bind(profile_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(subscription_from_row).collect()
    }

    /// Registers many (profile, token) pairs at once, e.g. to import an existing base:
    /// profiles are created as needed, pairs already registered are left as they are, and
    /// no quarantine is released (use [`Store::register_subscription`] for that). Returns
    /// how many subscriptions were new.
    pub async fn import_subscriptions(
        &self,
        app_id: &str,
        pairs: &[(String, String)],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.require_app(app_id).await?;
        let mut created = 0;
        let mut tx = self.begin_write().await?;
        for chunk in pairs.chunks(2000) {
            let mut profiles = Statement::new(self.dialect());
            profiles.push(
                "INSERT INTO profiles (app_id, id, denylisted, created_at, updated_at) VALUES ",
            );
            let mut subscriptions = Statement::new(self.dialect());
            subscriptions.push(
                "INSERT INTO subscriptions (app_id, profile_id, token, disabled, registered_at, \
                 created_at, updated_at) VALUES ",
            );
            for (i, (profile, token)) in chunk.iter().enumerate() {
                if i > 0 {
                    profiles.push(", ");
                    subscriptions.push(", ");
                }
                let at = millis(now);
                profiles.row([
                    Value::from(app_id),
                    Value::from(profile.as_str()),
                    Value::from(0),
                    Value::from(at),
                    Value::from(at),
                ]);
                subscriptions.row([
                    Value::from(app_id),
                    Value::from(profile.as_str()),
                    Value::from(token.as_str()),
                    Value::from(0),
                    Value::from(at),
                    Value::from(at),
                    Value::from(at),
                ]);
            }
            profiles.push(" ON CONFLICT (app_id, id) DO NOTHING");
            subscriptions.push(" ON CONFLICT (app_id, profile_id, token) DO NOTHING");
            profiles.query().execute(&mut *tx).await?;
            created += subscriptions
                .query()
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(created)
    }

    /// Deletes a subscription of this app; `false` if there is none with this id. Its
    /// messages and exclusions stay in the logs.
    pub async fn delete_subscription(&self, app_id: &str, id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM subscriptions WHERE app_id = $1 AND id = $2")
            .bind(app_id)
            .bind(id)
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
