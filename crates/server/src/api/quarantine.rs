//! The quarantine list of an app, and releases: one token, or in bulk by filter (e.g.
//! after a provider outage wrongly rejected many tokens).

// utoipa's `path` macro names `IntoParams` types with a path of its own.
#![allow(unused_qualifications)]

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use pushgate_quarantine::AddressStatus;
use pushgate_store::addresses::{AddressFilter, ReleaseAction};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Caller;
use super::deliveries::{PageResponse, parse_reason};
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::input::{check_text, check_token, page_limit, parse_opt_time};
use super::reports::Format;
use crate::render;

/// Routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(release))
}

/// An address status by its spec spelling (`With errors`) or in snake case
/// (`with_errors`), any case.
pub fn parse_status(text: &str, field: &str) -> Result<AddressStatus, ApiError> {
    let wanted = text.trim().replace('_', " ").to_lowercase();
    AddressStatus::ALL
        .into_iter()
        .find(|s| s.as_str().to_lowercase() == wanted)
        .ok_or_else(|| {
            ApiError::invalid(
                field,
                "expected Valid, With errors, Quarantine, Denylisted or Allowlisted",
            )
        })
}

/// Filters of the quarantine list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, default)]
pub struct QuarantineQuery {
    /// Only these statuses, comma-separated (`Quarantine,With errors`); default: all.
    pub status: Option<String>,
    /// Only this last failure reason: value (`1`) or label (`User unknown`).
    pub reason: Option<String>,
    /// Only addresses whose last error text contains this (case-sensitive).
    pub text: Option<String>,
    /// Only addresses last modified at or after this time (RFC 3339).
    pub modified_from: Option<String>,
    /// Only addresses last modified at or before this time (RFC 3339).
    pub modified_to: Option<String>,
    /// Rows after this token (the previous page's `next_after`).
    pub after: Option<String>,
    /// At most this many rows (1 to 1000, default 100).
    pub limit: Option<i64>,
    /// `json` or `csv`.
    pub format: Option<Format>,
}

/// Builds the store's filter from the query's parts.
fn filter(
    text_field: &str,
    statuses: Option<&str>,
    reason: Option<String>,
    text: Option<String>,
    modified_from: Option<&str>,
    modified_to: Option<&str>,
) -> Result<AddressFilter, ApiError> {
    let statuses = statuses
        .map(|list| {
            list.split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| parse_status(s, "status"))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    if let Some(text) = &text {
        check_text(text, text_field)?;
    }
    Ok(AddressFilter {
        statuses,
        reason: parse_reason(reason, "reason")?.map(|r| r.value()),
        text_contains: text.filter(|t| !t.is_empty()),
        modified_from: parse_opt_time(modified_from, "modified_from")?,
        modified_to: parse_opt_time(modified_to, "modified_to")?,
    })
}

/// The quarantine list of an app: every token with an error history or an operator
/// status, with its status, error count, last failure type and reason, error texts.
#[utoipa::path(
    get,
    path = "/v1/apps/{app}/quarantine",
    tag = "quarantine",
    params(("app" = String, Path, description = "The app id"), QuarantineQuery),
    responses(
        (status = 200, description = "A page of addresses, ordered by token (JSON), or CSV", body = PageResponse),
        (status = 400, description = "Bad filter", body = ErrorBody),
        (status = 401, description = "No or wrong key", body = ErrorBody),
        (status = 404, description = "No such app", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn list(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(app): ApiPath<String>,
    ApiQuery(query): ApiQuery<QuarantineQuery>,
) -> Result<Response, ApiError> {
    caller.app(&state, &app)?;
    let limit = page_limit(query.limit)?;
    if let Some(after) = &query.after {
        check_text(after, "after")?;
    }
    let filter = filter(
        "text",
        query.status.as_deref(),
        query.reason,
        query.text,
        query.modified_from.as_deref(),
        query.modified_to.as_deref(),
    )?;
    let rows = state
        .store
        .addresses(&app, &filter, query.after.as_deref(), limit)
        .await?;
    Ok(match query.format.unwrap_or_default() {
        Format::Json => {
            let items: Vec<AddressRow> = rows.iter().map(AddressRow::from).collect();
            Json(PageResponse::of(&items, limit, |a| a.token.clone())?).into_response()
        }
        Format::Csv => (
            [(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            render::addresses(&rows, false).csv(),
        )
            .into_response(),
    })
}

/// One row of the quarantine list, flat.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AddressRow {
    /// The device token.
    pub token: String,
    /// Valid, With errors, Quarantine, Denylisted, Allowlisted.
    pub status: String,
    /// Counted errors of the current episode.
    pub error_count: u32,
    /// Failure type of the last error.
    pub last_failure_type: Option<String>,
    /// Failure reason of the last error (label).
    pub last_failure_reason: Option<String>,
    /// Its value.
    pub last_failure_reason_value: Option<u8>,
    /// First error text of the episode.
    pub first_error_text: Option<String>,
    /// Last error text.
    pub last_error_text: Option<String>,
    /// When the episode began.
    pub first_error_at: Option<String>,
    /// When the last error happened.
    pub last_error_at: Option<String>,
    /// When APNs said the token stopped being valid.
    pub unregistered_at: Option<String>,
    /// Last change.
    pub last_modified: String,
}

impl From<&pushgate_store::Address> for AddressRow {
    fn from(a: &pushgate_store::Address) -> Self {
        let s = &a.state;
        Self {
            token: a.token.clone(),
            status: s.status.as_str().to_owned(),
            error_count: s.error_count,
            last_failure_type: s.last_failure_type.map(|t| t.as_str().to_owned()),
            last_failure_reason: s.last_failure_reason.map(|r| r.label().to_owned()),
            last_failure_reason_value: s.last_failure_reason.map(|r| r.value()),
            first_error_text: s.first_error_text.clone(),
            last_error_text: s.last_error_text.clone(),
            first_error_at: s.first_error_at.map(|t| t.to_rfc3339()),
            last_error_at: s.last_error_at.map(|t| t.to_rfc3339()),
            unregistered_at: a.unregistered_at.map(|t| t.to_rfc3339()),
            last_modified: s.last_modified.to_rfc3339(),
        }
    }
}

/// What a bulk release does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ActionRequest {
    /// Set them back to Valid (the default).
    #[default]
    Valid,
    /// Remove them from the list.
    Delete,
}

/// Which addresses a bulk release selects (at least one criterion).
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseFilter {
    /// Last error text contains this (case-sensitive).
    #[serde(default)]
    pub text_contains: Option<String>,
    /// Last modified at or after this time (RFC 3339).
    #[serde(default)]
    pub modified_from: Option<String>,
    /// Last modified at or before this time (RFC 3339).
    #[serde(default)]
    pub modified_to: Option<String>,
    /// Only these statuses (default: `Quarantine` and `With errors`; `Denylisted` and
    /// `Allowlisted` addresses are released only when named).
    #[serde(default)]
    pub statuses: Option<Vec<String>>,
}

/// A release: one token, or a filter.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    /// One token to set back to Valid.
    #[serde(default)]
    pub token: Option<String>,
    /// Or every address that matches.
    #[serde(default)]
    pub filter: Option<ReleaseFilter>,
    /// `valid` (default) or `delete` (bulk only).
    #[serde(default)]
    pub action: ActionRequest,
    /// Count only; change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// What a release did (or would do).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReleaseResponse {
    /// Addresses released (or that would be, for a dry run).
    pub released: u64,
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// `valid` or `delete`.
    pub action: ActionRequest,
}

/// Releases one token (back to Valid), or every address matching a filter (to Valid, or
/// deleted); each release is recorded. `dry_run` counts only.
#[utoipa::path(
    post,
    path = "/v1/apps/{app}/quarantine/release",
    tag = "quarantine",
    params(("app" = String, Path, description = "The app id")),
    request_body = ReleaseRequest,
    responses(
        (status = 200, description = "Released (or counted)", body = ReleaseResponse),
        (status = 400, description = "Bad input", body = ErrorBody),
        (status = 401, description = "No or wrong key", body = ErrorBody),
        (status = 404, description = "No such app, or the token is not in the list", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn release(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(app): ApiPath<String>,
    ApiJson(request): ApiJson<ReleaseRequest>,
) -> Result<Json<ReleaseResponse>, ApiError> {
    let platform = caller.app(&state, &app)?;
    let now = Utc::now();
    let released = match (&request.token, &request.filter) {
        (Some(token), None) => {
            check_token(platform, token, "token")?;
            if request.action != ActionRequest::Valid {
                return Err(ApiError::invalid(
                    "action",
                    "one token is released to valid; use a filter to delete",
                ));
            }
            let missing = || ApiError::not_found("the token is not in the quarantine list");
            if request.dry_run {
                state
                    .store
                    .address(&app, token)
                    .await?
                    .ok_or_else(missing)?;
            } else {
                state
                    .store
                    .release_address(&app, token, now)
                    .await?
                    .ok_or_else(missing)?;
            }
            1
        }
        (None, Some(f)) => {
            let statuses = f.statuses.as_ref().map(|s| s.join(","));
            let filter = filter(
                "filter.text_contains",
                statuses.as_deref(),
                None,
                f.text_contains.clone(),
                f.modified_from.as_deref(),
                f.modified_to.as_deref(),
            )?;
            if filter.text_contains.is_none()
                && filter.modified_from.is_none()
                && filter.modified_to.is_none()
                && filter.statuses.is_empty()
            {
                return Err(ApiError::invalid(
                    "filter",
                    "give at least one of text_contains, modified_from, modified_to, statuses",
                ));
            }
            let action = match request.action {
                ActionRequest::Valid => ReleaseAction::Valid,
                ActionRequest::Delete => ReleaseAction::Delete,
            };
            state
                .store
                .release_bulk(&app, &filter, action, request.dry_run, now)
                .await?
        }
        _ => {
            return Err(ApiError::invalid(
                "token",
                "give exactly one of token or filter",
            ));
        }
    };
    tracing::info!(app = %app, key = %caller.key_name, released, dry_run = request.dry_run, "quarantine release");
    Ok(Json(ReleaseResponse {
        released,
        dry_run: request.dry_run,
        action: request.action,
    }))
}
