//! Apps and profiles (with the push denylist).

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::Store;
use crate::error::StoreError;
use crate::model::{App, Platform, parse_column};
use crate::time::millis;

impl Store {
    /// Creates the app, or updates its platform; apps come from the configuration and are
    /// written at start-up.
    pub async fn upsert_app(&self, app: &App, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO apps (id, platform, created_at, updated_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (id) DO UPDATE SET platform = excluded.platform, updated_at = excluded.updated_at",
        )
        .bind(&app.id)
        .bind(app.platform.as_str())
        .bind(millis(now))
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(())
    }

    /// The app with this id.
    pub async fn app(&self, id: &str) -> Result<Option<App>, StoreError> {
        let row = sqlx::query("SELECT id, platform FROM apps WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| {
            Ok(App {
                id: row.try_get("id")?,
                platform: parse_column::<Platform>("platform", row.try_get("platform")?)?,
            })
        })
        .transpose()
    }

    /// The app with this id, or [`StoreError::UnknownApp`].
    pub async fn require_app(&self, id: &str) -> Result<App, StoreError> {
        self.app(id)
            .await?
            .ok_or_else(|| StoreError::UnknownApp(id.to_owned()))
    }

    /// Puts a profile on the app's push denylist, or takes it off. The profile is created
    /// if it does not exist yet (a denylist can precede the first registration).
    pub async fn set_profile_denylisted(
        &self,
        app_id: &str,
        profile_id: &str,
        denylisted: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.require_app(app_id).await?;
        sqlx::query(
            "INSERT INTO profiles (app_id, id, denylisted, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT (app_id, id) DO UPDATE SET denylisted = excluded.denylisted, \
             updated_at = excluded.updated_at",
        )
        .bind(app_id)
        .bind(profile_id)
        .bind(i64::from(denylisted))
        .bind(millis(now))
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(())
    }

    /// Whether the profile is on the app's push denylist (`None`: no such profile).
    pub async fn profile_denylisted(
        &self,
        app_id: &str,
        profile_id: &str,
    ) -> Result<Option<bool>, StoreError> {
        let value: Option<i64> =
            sqlx::query_scalar("SELECT denylisted FROM profiles WHERE app_id = $1 AND id = $2")
                .bind(app_id)
                .bind(profile_id)
                .fetch_optional(self.pool())
                .await?;
        Ok(value.map(|v| v != 0))
    }
}
