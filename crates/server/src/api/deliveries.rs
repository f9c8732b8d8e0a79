//! Deliveries: create one (checked whole before anything is written), read its summary,
//! page through its messages and exclusions.

// utoipa's `path` macro names `IntoParams` types with a path of its own.
#![allow(unused_qualifications)]

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use pushgate_dispatch::notification::{Notification, Problem};
use pushgate_dispatch::validity::Validity;
use pushgate_outcome::{FailureReason, MessageStatus, OutcomeId};
use pushgate_store::reports::{ExclusionFilter, MessageFilter};
use pushgate_store::{Delivery, NewDelivery, Platform, Target};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::input::{check_profile, check_token, page};

/// The validity period when a request gives none: one day.
pub const DEFAULT_VALIDITY_SECS: u64 = 86_400;

/// Routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(get_delivery))
        .routes(routes!(messages))
        .routes(routes!(exclusions))
}

/// Who a delivery goes to: exactly one of the three.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetRequest {
    /// `true`: every subscription of the app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all: Option<bool>,
    /// Every subscription of these profiles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profiles: Option<Vec<String>>,
    /// These device tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<Vec<String>>,
}

/// A delivery to create.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryRequest {
    /// Who it goes to.
    pub target: TargetRequest,
    /// What it shows: title, body, image, data, badge, sound, content_available,
    /// mutable_content, category, thread_id, collapse_id, priority, channel_id.
    #[schema(value_type = Object)]
    pub notification: Notification,
    /// The validity period in seconds (default 86400). Longer than 3.5 days (302400) is
    /// capped, and the answer says so.
    #[serde(default)]
    pub validity_secs: Option<u64>,
    /// Analyse only: the exclusions are written, nothing is sent.
    #[serde(default)]
    pub dry_run: bool,
}

/// The validity period asked for and the one in effect.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ValidityResponse {
    /// Asked for.
    pub requested_secs: u64,
    /// In effect (at most 302400, 3.5 days).
    pub effective_secs: u64,
    /// Whether the request was over the cap.
    pub capped: bool,
}

/// A delivery just created.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedResponse {
    /// Its id.
    pub id: String,
    /// Its app.
    pub app: String,
    /// `analyzing` at first.
    pub state: String,
    /// Analyse only.
    pub dry_run: bool,
    /// The validity period.
    pub validity: ValidityResponse,
    /// Where to follow it.
    pub summary_url: String,
}

/// Checks a delivery request for an app of `platform` and turns it into what the store
/// writes; nothing is written when this fails. Also used by `pushgate send`.
pub fn new_delivery(
    app: &str,
    platform: Platform,
    request: DeliveryRequest,
) -> Result<(NewDelivery, Validity), ApiError> {
    let TargetRequest {
        all,
        profiles,
        tokens,
    } = request.target;
    let given = usize::from(all.is_some())
        + usize::from(profiles.is_some())
        + usize::from(tokens.is_some());
    if given != 1 {
        return Err(ApiError::invalid(
            "target",
            "give exactly one of all (true), profiles or tokens",
        ));
    }
    let mut longest_token = 0;
    let target = match (all, profiles, tokens) {
        (Some(true), _, _) => Target::All,
        (Some(false), _, _) => {
            return Err(ApiError::invalid(
                "target.all",
                "must be true (or give profiles or tokens)",
            ));
        }
        (_, Some(profiles), _) => {
            if profiles.is_empty() {
                return Err(ApiError::invalid("target.profiles", "the list is empty"));
            }
            for (i, profile) in profiles.iter().enumerate() {
                check_profile(profile, &format!("target.profiles[{i}]"))?;
            }
            Target::Profiles(profiles)
        }
        (_, _, Some(tokens)) => {
            if tokens.is_empty() {
                return Err(ApiError::invalid("target.tokens", "the list is empty"));
            }
            for (i, token) in tokens.iter().enumerate() {
                check_token(platform, token, &format!("target.tokens[{i}]"))?;
                longest_token = longest_token.max(token.len());
            }
            Target::Tokens(tokens)
        }
        _ => return Err(ApiError::invalid("target", "give all, profiles or tokens")),
    };

    let requested = request.validity_secs.unwrap_or(DEFAULT_VALIDITY_SECS);
    if requested == 0 {
        return Err(ApiError::invalid("validity_secs", "must be at least 1"));
    }
    let validity = Validity::capped(Duration::from_secs(requested));
    let notification = request.notification;
    let built = match platform {
        Platform::Ios => notification.apns_payload().map(|_| ()),
        Platform::Android => notification
            .fcm_message(validity.effective.as_secs(), longest_token.max(200))
            .map(|_| ()),
    };
    if let Err(error) = built {
        return Err(match error.problem {
            Problem::TooLarge { .. } => {
                ApiError::too_large_notification(error.field, error.message)
            }
            Problem::Content | Problem::ReservedKeys(_) => {
                ApiError::invalid(error.field, error.message)
            }
        });
    }
    let notification = serde_json::to_value(&notification).map_err(ApiError::internal)?;
    let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    Ok((
        NewDelivery {
            app_id: app.to_owned(),
            notification,
            target,
            dry_run: request.dry_run,
            validity_secs: secs(validity.effective),
            requested_validity_secs: secs(validity.requested),
        },
        validity,
    ))
}

/// Creates a delivery: it is analysed (exclusions written) and then sent in the
/// background; follow it at `summary_url`.
#[utoipa::path(
    post,
    path = "/v1/apps/{app}/deliveries",
    tag = "deliveries",
    params(("app" = String, Path, description = "The app id")),
    request_body = DeliveryRequest,
    responses(
        (status = 202, description = "Accepted: analysis and sending follow", body = CreatedResponse),
        (status = 400, description = "Bad input (nothing written)", body = ErrorBody),
        (status = 401, description = "No or wrong key", body = ErrorBody),
        (status = 404, description = "No such app", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn create(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(app): ApiPath<String>,
    ApiJson(request): ApiJson<DeliveryRequest>,
) -> Result<(StatusCode, Json<CreatedResponse>), ApiError> {
    let platform = caller.app(&state, &app)?;
    let (new, validity) = new_delivery(&app, platform, request)?;
    if validity.was_capped() {
        tracing::warn!(
            app = %app,
            requested_secs = validity.requested.as_secs(),
            effective_secs = validity.effective.as_secs(),
            "validity period capped at 3.5 days"
        );
    }
    let delivery = state.store.create_delivery(&new, Utc::now()).await?;
    state.analyzer.wake();
    if let Some(pipeline) = &state.pipeline {
        pipeline.wake();
    }
    tracing::info!(delivery = %delivery.id, app = %app, key = %caller.key_name, dry_run = delivery.dry_run, "delivery created");
    Ok((
        StatusCode::ACCEPTED,
        Json(CreatedResponse {
            summary_url: format!("/v1/deliveries/{}", delivery.id),
            id: delivery.id,
            app,
            state: delivery.state.as_str().to_owned(),
            dry_run: delivery.dry_run,
            validity: ValidityResponse {
                requested_secs: validity.requested.as_secs(),
                effective_secs: validity.effective.as_secs(),
                capped: validity.was_capped(),
            },
        }),
    ))
}

/// The delivery with this id, if the caller reaches its app (404 otherwise, the same as
/// for a delivery that does not exist).
pub async fn load(state: &AppState, caller: &Caller, id: &str) -> Result<Delivery, ApiError> {
    let not_found = || ApiError::not_found(format!("no delivery {id:?}"));
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(not_found());
    }
    match state.store.delivery(id).await? {
        Some(delivery) if caller.reaches(&delivery.app_id) => Ok(delivery),
        _ => Err(not_found()),
    }
}

/// A delivery and its summary.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryResponse {
    /// The delivery: app, notification, target kind, state, validity, times.
    #[schema(value_type = Object)]
    pub delivery: Delivery,
    /// Targeted, excluded by reason, sent, failed by type and reason, quarantined during
    /// the analysis and after sending.
    #[schema(value_type = Object)]
    pub summary: pushgate_store::reports::DeliverySummary,
}

/// A delivery's summary.
#[utoipa::path(
    get,
    path = "/v1/deliveries/{id}",
    tag = "deliveries",
    params(("id" = String, Path, description = "The delivery id")),
    responses(
        (status = 200, description = "The delivery and its summary", body = DeliveryResponse),
        (status = 401, description = "No or wrong key", body = ErrorBody),
        (status = 404, description = "No such delivery", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn get_delivery(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DeliveryResponse>, ApiError> {
    let delivery = load(&state, &caller, &id).await?;
    let summary = state.store.summary(&delivery).await?;
    Ok(Json(DeliveryResponse { delivery, summary }))
}

/// Filters of the message log.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, default)]
pub struct MessagesQuery {
    /// Rows after this message id (the previous page's `next_after`).
    pub after: Option<i64>,
    /// At most this many rows (1 to 1000, default 100).
    pub limit: Option<i64>,
    /// Only this status: Pending, Retry, Sent, Failed, Received, Planned.
    pub status: Option<String>,
    /// Only this outcome row id (e.g. `apns.unregistered`).
    pub outcome: Option<String>,
    /// Only this profile.
    pub profile: Option<String>,
}

/// A page of rows.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageResponse {
    /// The rows.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<serde_json::Value>,
    /// Pass as `after` for the next page; null on the last page.
    #[schema(value_type = Option<Object>)]
    pub next_after: Option<serde_json::Value>,
}

impl PageResponse {
    /// A page of `rows`, whose last `cursor` starts the next page when the page is full.
    pub fn of<T: Serialize, C: Serialize>(
        rows: &[T],
        limit: i64,
        cursor: impl Fn(&T) -> C,
    ) -> Result<Self, ApiError> {
        let next_after = match rows.last() {
            Some(last) if rows.len() as i64 >= limit => {
                Some(serde_json::to_value(cursor(last)).map_err(ApiError::internal)?)
            }
            _ => None,
        };
        let items = rows
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<_, _>>()
            .map_err(ApiError::internal)?;
        Ok(Self { items, next_after })
    }
}

/// A page of a delivery's messages (its delivery log).
#[utoipa::path(
    get,
    path = "/v1/deliveries/{id}/messages",
    tag = "deliveries",
    params(("id" = String, Path, description = "The delivery id"), MessagesQuery),
    responses(
        (status = 200, description = "A page of messages", body = PageResponse),
        (status = 400, description = "Bad filter", body = ErrorBody),
        (status = 401, description = "No or wrong key", body = ErrorBody),
        (status = 404, description = "No such delivery", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn messages(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<MessagesQuery>,
) -> Result<Json<PageResponse>, ApiError> {
    let delivery = load(&state, &caller, &id).await?;
    let page = page(query.after, query.limit)?;
    if let Some(profile) = &query.profile {
        check_profile(profile, "profile")?;
    }
    let filter = MessageFilter {
        status: query
            .status
            .map(|s| {
                s.parse::<MessageStatus>()
                    .map_err(|e| ApiError::invalid("status", e.to_string()))
            })
            .transpose()?,
        outcome_id: query
            .outcome
            .map(|s| {
                s.parse::<OutcomeId>()
                    .map_err(|_| ApiError::invalid("outcome", format!("unknown outcome row {s:?}")))
            })
            .transpose()?,
        profile_id: query.profile,
    };
    let rows = state.store.messages(&delivery.id, &filter, page).await?;
    Ok(Json(PageResponse::of(&rows, page.limit, |m| m.id)?))
}

/// Filters of a delivery's exclusions.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, default)]
pub struct ExclusionsQuery {
    /// Rows after this exclusion id.
    pub after: Option<i64>,
    /// At most this many rows (1 to 1000, default 100).
    pub limit: Option<i64>,
    /// Only this failure reason: its value (`9`) or label (`Quarantined address`).
    pub reason: Option<String>,
}

/// Parses a failure reason given by value or label.
pub fn parse_reason(text: Option<String>, field: &str) -> Result<Option<FailureReason>, ApiError> {
    text.map(|r| FailureReason::parse(&r).map_err(|e| ApiError::invalid(field, e.to_string())))
        .transpose()
}

/// A page of a delivery's exclusions (what the analysis left out, and why).
#[utoipa::path(
    get,
    path = "/v1/deliveries/{id}/exclusions",
    tag = "deliveries",
    params(("id" = String, Path, description = "The delivery id"), ExclusionsQuery),
    responses(
        (status = 200, description = "A page of exclusions", body = PageResponse),
        (status = 400, description = "Bad filter", body = ErrorBody),
        (status = 401, description = "No or wrong key", body = ErrorBody),
        (status = 404, description = "No such delivery", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn exclusions(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<ExclusionsQuery>,
) -> Result<Json<PageResponse>, ApiError> {
    let delivery = load(&state, &caller, &id).await?;
    let page = page(query.after, query.limit)?;
    let filter = ExclusionFilter {
        delivery_id: Some(delivery.id.clone()),
        reason: parse_reason(query.reason, "reason")?,
        from: None,
        to: None,
    };
    let rows = state
        .store
        .exclusions(&delivery.app_id, &filter, page)
        .await?;
    Ok(Json(PageResponse::of(&rows, page.limit, |e| e.id)?))
}
