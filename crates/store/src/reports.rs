//! Reads for reports: the delivery summary, the message and exclusion logs, non-deliverables
//! and a profile's history.

use chrono::{DateTime, Utc};
use pushgate_outcome::{FailureReason, FailureType, MessageStatus, OutcomeId};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::StoreError;
use crate::model::{
    Delivery, DeliveryState, Exclusion, ExclusionKind, Message, Page, parse_column, reason_of,
};
use crate::time::{from_millis, millis};
use crate::{Dialect, Store};

const MESSAGE_COLUMNS: &str = "m.id, m.delivery_id, m.subscription_id, m.profile_id, m.token, \
    m.status, m.attempts, m.next_attempt_at, m.provider_id, m.outcome_id, m.failure_type, \
    m.failure_reason, m.error_text, m.quarantined, m.created_at, m.updated_at";

const EXCLUSION_COLUMNS: &str =
    "e.id, e.delivery_id, e.subscription_id, e.profile_id, e.token, e.kind, e.reason, e.created_at";

fn message_from_row(row: &AnyRow) -> Result<Message, StoreError> {
    let outcome: Option<String> = row.try_get("outcome_id")?;
    let failure_type: Option<String> = row.try_get("failure_type")?;
    Ok(Message {
        id: row.try_get("id")?,
        delivery_id: row.try_get("delivery_id")?,
        subscription_id: row.try_get("subscription_id")?,
        profile_id: row.try_get("profile_id")?,
        token: row.try_get("token")?,
        status: parse_column::<MessageStatus>("status", row.try_get("status")?)?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: from_millis(row.try_get("next_attempt_at")?),
        provider_id: row.try_get("provider_id")?,
        outcome_id: outcome
            .map(|o| parse_column::<OutcomeId>("outcome_id", &o))
            .transpose()?,
        failure_type: failure_type
            .map(|t| parse_column::<FailureType>("failure_type", &t))
            .transpose()?,
        failure_reason: reason_of(row.try_get("failure_reason")?)?,
        error_text: row.try_get("error_text")?,
        quarantined: row.try_get::<i64, _>("quarantined")? != 0,
        created_at: from_millis(row.try_get("created_at")?),
        updated_at: from_millis(row.try_get("updated_at")?),
    })
}

fn exclusion_from_row(row: &AnyRow) -> Result<Exclusion, StoreError> {
    Ok(Exclusion {
        id: row.try_get("id")?,
        delivery_id: row.try_get("delivery_id")?,
        subscription_id: row.try_get("subscription_id")?,
        profile_id: row.try_get("profile_id")?,
        token: row.try_get("token")?,
        kind: parse_column::<ExclusionKind>("kind", row.try_get("kind")?)?,
        reason: reason_of(Some(row.try_get("reason")?))?
            .ok_or_else(|| StoreError::corrupt("exclusion without a reason"))?,
        created_at: from_millis(row.try_get("created_at")?),
    })
}

/// Excluded targets of one kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExclusionCount {
    /// Why.
    pub kind: ExclusionKind,
    /// The failure reason written to the exclusion log.
    pub reason: FailureReason,
    /// How many.
    pub count: i64,
}

/// Failed messages of one failure type and reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailureCount {
    /// The failure type (none where the table leaves it blank).
    pub failure_type: Option<FailureType>,
    /// The failure reason (none where blank, or for a message failed by the validity period).
    pub failure_reason: Option<FailureReason>,
    /// How many.
    pub count: i64,
}

/// The delivery summary (`quarantine-rules.md`, "Reports").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliverySummary {
    /// The delivery.
    pub delivery_id: String,
    /// Its app.
    pub app_id: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// Whether it was a dry run.
    pub dry_run: bool,
    /// The validity period in effect, and the one asked for (larger when capped).
    pub validity_secs: i64,
    /// The validity period asked for.
    pub requested_validity_secs: i64,
    /// Targets analysed so far: messages plus exclusions.
    pub targeted: i64,
    /// Targets excluded by the analysis.
    pub excluded: i64,
    /// Exclusions by kind and reason.
    pub excluded_by_reason: Vec<ExclusionCount>,
    /// Messages waiting for their first attempt.
    pub pending: i64,
    /// Messages waiting for a retry.
    pub retry: i64,
    /// Messages accepted by the provider.
    pub sent: i64,
    /// Messages failed for good.
    pub failed: i64,
    /// A dry run's messages (would have been sent).
    pub planned: i64,
    /// Failed messages by failure type and reason.
    pub failed_by_type_and_reason: Vec<FailureCount>,
    /// Targets excluded during the analysis because their token was in quarantine.
    pub quarantined_during_analysis: i64,
    /// Tokens of this delivery that its sends put in quarantine.
    pub quarantined_after_sending: i64,
}

/// Filters of a delivery's message log.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    /// Only this status.
    pub status: Option<MessageStatus>,
    /// Only this outcome row.
    pub outcome_id: Option<OutcomeId>,
    /// Only this profile.
    pub profile_id: Option<String>,
}

/// Filters of the exclusion log.
#[derive(Debug, Clone, Default)]
pub struct ExclusionFilter {
    /// Only this delivery.
    pub delivery_id: Option<String>,
    /// Only this failure reason.
    pub reason: Option<FailureReason>,
    /// Only exclusions at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Only exclusions at or before this time.
    pub to: Option<DateTime<Utc>>,
}

/// One line of the non-deliverables report: failures of one type and reason on one
/// app/platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NonDeliverable {
    /// The app.
    pub app_id: String,
    /// Its platform.
    pub platform: String,
    /// The failure type.
    pub failure_type: Option<FailureType>,
    /// The failure reason.
    pub failure_reason: Option<FailureReason>,
    /// Failed messages.
    pub failed: i64,
    /// Of these, how many put their token in quarantine.
    pub quarantined: i64,
}

/// Every message to a profile and every exclusion of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProfileHistory {
    /// Messages to the profile's tokens, newest first.
    pub messages: Vec<Message>,
    /// Times the analysis left the profile out, newest first.
    pub exclusions: Vec<Exclusion>,
}

impl Store {
    /// The summary of a delivery.
    pub async fn summary(&self, delivery: &Delivery) -> Result<DeliverySummary, StoreError> {
        let statuses = sqlx::query(
            "SELECT status, COUNT(*) AS n, CAST(SUM(quarantined) AS BIGINT) AS q FROM message_log WHERE delivery_id = $1 GROUP BY status",
        )
        .bind(&delivery.id)
        .fetch_all(self.pool())
        .await?;
        let mut summary = DeliverySummary {
            delivery_id: delivery.id.clone(),
            app_id: delivery.app_id.clone(),
            state: delivery.state,
            dry_run: delivery.dry_run,
            validity_secs: delivery.validity_secs,
            requested_validity_secs: delivery.requested_validity_secs,
            targeted: 0,
            excluded: 0,
            excluded_by_reason: Vec::new(),
            pending: 0,
            retry: 0,
            sent: 0,
            failed: 0,
            planned: 0,
            failed_by_type_and_reason: Vec::new(),
            quarantined_during_analysis: 0,
            quarantined_after_sending: 0,
        };
        for row in &statuses {
            let count: i64 = row.try_get("n")?;
            let quarantined: Option<i64> = row.try_get("q")?;
            summary.quarantined_after_sending += quarantined.unwrap_or(0);
            match parse_column::<MessageStatus>("status", row.try_get("status")?)? {
                MessageStatus::Pending => summary.pending = count,
                MessageStatus::Retry => summary.retry = count,
                MessageStatus::Sent | MessageStatus::Received => summary.sent += count,
                MessageStatus::Failed => summary.failed = count,
                MessageStatus::Planned => summary.planned = count,
            }
        }
        let exclusions = sqlx::query(
            "SELECT kind, reason, COUNT(*) AS n FROM exclusions WHERE delivery_id = $1 GROUP BY kind, reason ORDER BY kind",
        )
        .bind(&delivery.id)
        .fetch_all(self.pool())
        .await?;
        for row in &exclusions {
            let kind = parse_column::<ExclusionKind>("kind", row.try_get("kind")?)?;
            let count: i64 = row.try_get("n")?;
            summary.excluded += count;
            if kind == ExclusionKind::QuarantinedAddress {
                summary.quarantined_during_analysis += count;
            }
            summary.excluded_by_reason.push(ExclusionCount {
                kind,
                reason: reason_of(Some(row.try_get("reason")?))?
                    .ok_or_else(|| StoreError::corrupt("exclusion without a reason"))?,
                count,
            });
        }
        let failures = sqlx::query(
            // Failed messages are in two places, each with a partial index on them: the
            // appended results of first attempts, and the messages whose retries failed.
            "SELECT failure_type, failure_reason, CAST(SUM(n) AS BIGINT) AS n FROM ( \
             SELECT failure_type, failure_reason, COUNT(*) AS n FROM message_results \
             WHERE delivery_id = $1 AND status = 'Failed' GROUP BY failure_type, failure_reason \
             UNION ALL SELECT failure_type, failure_reason, COUNT(*) AS n FROM messages \
             WHERE delivery_id = $1 AND status = 'Failed' GROUP BY failure_type, failure_reason \
             ) f GROUP BY failure_type, failure_reason ORDER BY SUM(n) DESC",
        )
        .bind(&delivery.id)
        .fetch_all(self.pool())
        .await?;
        for row in &failures {
            let failure_type: Option<String> = row.try_get("failure_type")?;
            summary.failed_by_type_and_reason.push(FailureCount {
                failure_type: failure_type
                    .map(|t| parse_column::<FailureType>("failure_type", &t))
                    .transpose()?,
                failure_reason: reason_of(row.try_get("failure_reason")?)?,
                count: row.try_get("n")?,
            });
        }
        summary.targeted = summary.excluded
            + summary.pending
            + summary.retry
            + summary.sent
            + summary.failed
            + summary.planned;
        Ok(summary)
    }

    /// A page of a delivery's message log, by id.
    pub async fn messages(
        &self,
        delivery_id: &str,
        filter: &MessageFilter,
        page: Page,
    ) -> Result<Vec<Message>, StoreError> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM message_log m WHERE m.delivery_id = $1 AND m.id > $2 \
             AND ($3 = '' OR m.status = $3) AND ($4 = '' OR m.outcome_id = $4) \
             AND ($5 = '' OR m.profile_id = $5) ORDER BY m.id LIMIT $6"
        );
        let rows = sqlx::query(&sql)
            .bind(delivery_id)
            .bind(page.after)
            .bind(filter.status.map_or("", MessageStatus::as_str))
            .bind(filter.outcome_id.map_or("", OutcomeId::as_str))
            .bind(filter.profile_id.clone().unwrap_or_default())
            .bind(page.limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(message_from_row).collect()
    }

    /// A page of an app's exclusion log, by id.
    pub async fn exclusions(
        &self,
        app_id: &str,
        filter: &ExclusionFilter,
        page: Page,
    ) -> Result<Vec<Exclusion>, StoreError> {
        let sql = format!(
            "SELECT {EXCLUSION_COLUMNS} FROM exclusions e JOIN deliveries d ON d.id = e.delivery_id \
             WHERE d.app_id = $1 AND e.id > $2 AND ($3 = '' OR e.delivery_id = $3) \
             AND ($4 < 0 OR e.reason = $4) AND e.created_at >= $5 AND e.created_at <= $6 \
             ORDER BY e.id LIMIT $7"
        );
        let rows = sqlx::query(&sql)
            .bind(app_id)
            .bind(page.after)
            .bind(filter.delivery_id.clone().unwrap_or_default())
            .bind(filter.reason.map_or(-1, |r| i64::from(r.value())))
            .bind(filter.from.map_or(i64::MIN, millis))
            .bind(filter.to.map_or(i64::MAX, millis))
            .bind(page.limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(exclusion_from_row).collect()
    }

    /// Failed messages of an app by failure type and reason, between `from` and `to`.
    pub async fn non_deliverables(
        &self,
        app_id: &str,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<NonDeliverable>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.app_id AS app_id, a.platform AS platform, m.failure_type AS failure_type, \
             m.failure_reason AS failure_reason, COUNT(*) AS n, CAST(SUM(m.quarantined) AS BIGINT) AS q \
             FROM message_log m JOIN deliveries d ON d.id = m.delivery_id JOIN apps a ON a.id = d.app_id \
             WHERE d.app_id = $1 AND m.status = 'Failed' AND m.updated_at >= $2 AND m.updated_at <= $3 \
             GROUP BY d.app_id, a.platform, m.failure_type, m.failure_reason ORDER BY COUNT(*) DESC",
        )
        .bind(app_id)
        .bind(from.map_or(i64::MIN, millis))
        .bind(to.map_or(i64::MAX, millis))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let failure_type: Option<String> = row.try_get("failure_type")?;
                Ok(NonDeliverable {
                    app_id: row.try_get("app_id")?,
                    platform: row.try_get("platform")?,
                    failure_type: failure_type
                        .map(|t| parse_column::<FailureType>("failure_type", &t))
                        .transpose()?,
                    failure_reason: reason_of(row.try_get("failure_reason")?)?,
                    failed: row.try_get("n")?,
                    quarantined: row.try_get::<Option<i64>, _>("q")?.unwrap_or(0),
                })
            })
            .collect()
    }

    /// Every message to a profile of an app, and every exclusion of it (newest first, at
    /// most `limit` of each).
    pub async fn profile_history(
        &self,
        app_id: &str,
        profile_id: &str,
        limit: i64,
    ) -> Result<ProfileHistory, StoreError> {
        // A delivery's messages enter `message_profiles` when its analysis ends (migrations
        // 0007 and 0012), in the block of its first message id: `blocks` goes down the
        // blocks there are, last first, and each is looked up by (block, profile), on
        // PostgreSQL by a lateral join so that the planner cannot choose to scan the table
        // instead. The messages of a delivery still analysed are read from the delivery.
        let entries = match self.dialect() {
            Dialect::Sqlite => {
                "blocks JOIN message_profiles mp ON mp.id_block = blocks.n AND mp.profile_id = $2"
            }
            Dialect::Postgres => {
                "blocks CROSS JOIN LATERAL (SELECT message_id FROM message_profiles \
                 WHERE id_block = blocks.n AND profile_id = $2) mp"
            }
        };
        let messages_sql = format!(
            "WITH RECURSIVE blocks (n) AS (SELECT MAX(id_block) FROM message_profiles \
             UNION ALL SELECT (SELECT MAX(id_block) FROM message_profiles \
             WHERE id_block < blocks.n) FROM blocks WHERE n IS NOT NULL), \
             ids AS (SELECT mp.message_id AS id FROM {entries} \
             UNION ALL SELECT a.id FROM deliveries ad JOIN messages a ON a.delivery_id = ad.id \
             WHERE ad.app_id = $1 AND ad.state = 'analyzing' AND a.profile_id = $2) \
             SELECT {MESSAGE_COLUMNS} FROM ids JOIN message_log m ON m.id = ids.id \
             JOIN deliveries d ON d.id = m.delivery_id \
             WHERE d.app_id = $1 ORDER BY m.id DESC LIMIT $3"
        );
        let messages = sqlx::query(&messages_sql)
            .bind(app_id)
            .bind(profile_id)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        let exclusions_sql = format!(
            "SELECT {EXCLUSION_COLUMNS} FROM exclusions e JOIN deliveries d ON d.id = e.delivery_id \
             WHERE d.app_id = $1 AND e.profile_id = $2 ORDER BY e.id DESC LIMIT $3"
        );
        let exclusions = sqlx::query(&exclusions_sql)
            .bind(app_id)
            .bind(profile_id)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        Ok(ProfileHistory {
            messages: messages
                .iter()
                .map(message_from_row)
                .collect::<Result<_, _>>()?,
            exclusions: exclusions
                .iter()
                .map(exclusion_from_row)
                .collect::<Result<_, _>>()?,
        })
    }
}
