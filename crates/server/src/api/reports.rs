//! Reports of an app: the exclusion log (JSON or CSV), non-deliverables by platform,
//! failure type and reason, and one profile's history.

// utoipa's `path` macro names `IntoParams` types with a path of its own.
#![allow(unused_qualifications)]

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use pushgate_store::reports::{ExclusionFilter, ProfileHistory};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Caller;
use super::deliveries::{PageResponse, parse_reason};
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiPath, ApiQuery};
use super::input::{check_delivery_id, check_profile, page, page_limit, parse_opt_time};
use crate::render;

/// Routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(exclusions_report))
        .routes(routes!(non_deliverables))
        .routes(routes!(profile_history))
}

/// `json` (the default) or `csv`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A JSON page.
    #[default]
    Json,
    /// CSV with a header line.
    Csv,
}

/// Filters of the exclusions report.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, default)]
pub struct ExclusionsReportQuery {
    /// Only this delivery.
    pub delivery: Option<String>,
    /// Only this failure reason: value (`9`) or label (`Quarantined address`).
    pub reason: Option<String>,
    /// Only exclusions at or after this time (RFC 3339).
    pub from: Option<String>,
    /// Only exclusions at or before this time (RFC 3339).
    pub to: Option<String>,
    /// Rows after this exclusion id.
    pub after: Option<i64>,
    /// At most this many rows (1 to 1000, default 100).
    pub limit: Option<i64>,
    /// `json` or `csv`.
    pub format: Option<Format>,
}

fn csv(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response()
}

/// The exclusion log of an app: which targets the analyses left out, and why.
#[utoipa::path(
    get,
    path = "/v1/apps/{app}/reports/exclusions",
    tag = "reports",
    params(("app" = String, Path, description = "The app id"), ExclusionsReportQuery),
    responses(
        (status = 200, description = "A page of exclusions (JSON), or CSV", body = PageResponse),
        (status = 400, description = "Bad filter", body = ErrorBody),
        (status = 401, description = "No or wrong key", body = ErrorBody),
        (status = 404, description = "No such app", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn exclusions_report(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(app): ApiPath<String>,
    ApiQuery(query): ApiQuery<ExclusionsReportQuery>,
) -> Result<Response, ApiError> {
    caller.app(&state, &app)?;
    let page = page(query.after, query.limit)?;
    if let Some(delivery) = &query.delivery {
        check_delivery_id(delivery, "delivery")?;
    }
    let filter = ExclusionFilter {
        delivery_id: query.delivery,
        reason: parse_reason(query.reason, "reason")?,
        from: parse_opt_time(query.from.as_deref(), "from")?,
        to: parse_opt_time(query.to.as_deref(), "to")?,
    };
    let rows = state.store.exclusions(&app, &filter, page).await?;
    Ok(match query.format.unwrap_or_default() {
        Format::Json => Json(PageResponse::of(&rows, page.limit, |e| e.id)?).into_response(),
        Format::Csv => csv(render::exclusions(&rows, false).csv()),
    })
}

/// Filters of the non-deliverables report.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, default)]
pub struct NonDeliverablesQuery {
    /// Only failures at or after this time (RFC 3339).
    pub from: Option<String>,
    /// Only failures at or before this time (RFC 3339).
    pub to: Option<String>,
    /// `json` or `csv`.
    pub format: Option<Format>,
}

/// Failed messages by platform, failure type and reason.
#[derive(Debug, Serialize, ToSchema)]
pub struct NonDeliverablesResponse {
    /// One row per (platform, failure type, reason): failed, and of those quarantined.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<pushgate_store::reports::NonDeliverable>,
}

/// Non-deliverables: failed messages of an app by platform, failure type and reason, and
/// how many put their token in quarantine.
#[utoipa::path(
    get,
    path = "/v1/apps/{app}/reports/non-deliverables",
    tag = "reports",
    params(("app" = String, Path, description = "The app id"), NonDeliverablesQuery),
    responses(
        (status = 200, description = "The report (JSON), or CSV", body = NonDeliverablesResponse),
        (status = 400, description = "Bad filter", body = ErrorBody),
        (status = 401, description = "No or wrong key", body = ErrorBody),
        (status = 404, description = "No such app", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn non_deliverables(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(app): ApiPath<String>,
    ApiQuery(query): ApiQuery<NonDeliverablesQuery>,
) -> Result<Response, ApiError> {
    caller.app(&state, &app)?;
    let from = parse_opt_time(query.from.as_deref(), "from")?;
    let to = parse_opt_time(query.to.as_deref(), "to")?;
    let items = state.store.non_deliverables(&app, from, to).await?;
    Ok(match query.format.unwrap_or_default() {
        Format::Json => Json(NonDeliverablesResponse { items }).into_response(),
        Format::Csv => csv(render::non_deliverables(&items).csv()),
    })
}

/// How much of a profile's history.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, default)]
pub struct ProfileQuery {
    /// At most this many messages and this many exclusions (1 to 1000, default 100).
    pub limit: Option<i64>,
}

/// A profile's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileResponse {
    /// The profile.
    pub profile: String,
    /// Whether it is on the push denylist (null: no such profile).
    pub denylisted: Option<bool>,
    /// Its subscriptions.
    #[schema(value_type = Vec<Object>)]
    pub subscriptions: Vec<pushgate_store::Subscription>,
    /// Every message to it (newest first) with its fate, and every exclusion of it.
    #[schema(value_type = Object)]
    pub history: ProfileHistory,
}

/// Every message to a profile and its fate, and every time the analysis left it out.
#[utoipa::path(
    get,
    path = "/v1/apps/{app}/reports/profiles/{profile}",
    tag = "reports",
    params(("app" = String, Path, description = "The app id"), ("profile" = String, Path, description = "The profile id"), ProfileQuery),
    responses(
        (status = 200, description = "The profile's history", body = ProfileResponse),
        (status = 400, description = "Bad input", body = ErrorBody),
        (status = 401, description = "No or wrong key", body = ErrorBody),
        (status = 404, description = "No such app", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn profile_history(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath((app, profile)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<ProfileQuery>,
) -> Result<Json<ProfileResponse>, ApiError> {
    caller.app(&state, &app)?;
    check_profile(&profile, "profile")?;
    let limit = page_limit(query.limit)?;
    let history = state.store.profile_history(&app, &profile, limit).await?;
    let subscriptions = state.store.profile_subscriptions(&app, &profile).await?;
    let denylisted = state.store.profile_denylisted(&app, &profile).await?;
    Ok(Json(ProfileResponse {
        profile,
        denylisted,
        subscriptions,
        history,
    }))
}
