//! Registration: subscriptions (profile, token) and the profiles' push denylist.

use axum::Json;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use super::input::{check_profile, check_token, parse_opt_time};
use axum::extract::State;

/// Routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(unregister))
        .routes(routes!(set_denylist))
}

/// A registration.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// The recipient: 1 to 128 of `A-Z a-z 0-9 _ . @ : -`.
    pub profile: String,
    /// The device token (iOS: hex; Android: `A-Z a-z 0-9 _ : . -`), kept as given.
    pub token: String,
    /// When the app got the token (RFC 3339); default: now. A token quarantined as
    /// unregistered is released when it is registered again after it stopped being valid.
    #[serde(default)]
    pub registered_at: Option<String>,
}

/// A subscription as stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisterResponse {
    /// The subscription (id, app_id, profile_id, token, disabled, times).
    #[schema(value_type = Object)]
    pub subscription: pushgate_store::Subscription,
    /// A new subscription (201), or a re-registration of an existing one (200).
    pub created: bool,
    /// This registration released the token from quarantine (it had been unregistered
    /// before the app got it again).
    pub released_from_quarantine: bool,
}

/// Registers a device token for a profile (registering it again updates it).
#[utoipa::path(
    post,
    path = "/v1/apps/{app}/subscriptions",
    tag = "subscriptions",
    params(("app" = String, Path, description = "The app id")),
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Created", body = RegisterResponse),
        (status = 200, description = "Already registered: updated", body = RegisterResponse),
        (status = 400, description = "Bad input", body = ErrorBody),
        (status = 401, description = "No or wrong key", body = ErrorBody),
        (status = 404, description = "No such app", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn register(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(app): ApiPath<String>,
    ApiJson(request): ApiJson<RegisterRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let platform = caller.app(&state, &app)?;
    check_profile(&request.profile, "profile")?;
    check_token(platform, &request.token, "token")?;
    let now = Utc::now();
    let registered_at =
        parse_opt_time(request.registered_at.as_deref(), "registered_at")?.unwrap_or(now);
    let registration = state
        .store
        .register_subscription(&app, &request.profile, &request.token, registered_at, now)
        .await?;
    let status = if registration.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(RegisterResponse {
            subscription: registration.subscription,
            created: registration.created,
            released_from_quarantine: registration.released.is_some(),
        }),
    ))
}

/// Deletes a subscription (its messages and exclusions stay in the logs).
#[utoipa::path(
    delete,
    path = "/v1/apps/{app}/subscriptions/{id}",
    tag = "subscriptions",
    params(("app" = String, Path, description = "The app id"), ("id" = i64, Path, description = "The subscription id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No or wrong key", body = ErrorBody),
        (status = 404, description = "No such app or subscription", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn unregister(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath((app, id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.app(&state, &app)?;
    let not_found = || ApiError::not_found(format!("no subscription {id:?} in app {app:?}"));
    let number: i64 = id.parse().map_err(|_| not_found())?;
    if state.store.delete_subscription(&app, number).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}

/// A profile's place on the push denylist.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DenylistRequest {
    /// On the denylist (no push to any of its tokens) or off it.
    pub denylisted: bool,
}

/// The denylist as it now is.
#[derive(Debug, Serialize, ToSchema)]
pub struct DenylistResponse {
    /// The app.
    pub app: String,
    /// The profile.
    pub profile: String,
    /// On the denylist.
    pub denylisted: bool,
}

/// Puts a profile on the app's push denylist, or takes it off (the profile is created if
/// it has no subscription yet).
#[utoipa::path(
    put,
    path = "/v1/apps/{app}/profiles/{profile}/denylist",
    tag = "subscriptions",
    params(("app" = String, Path, description = "The app id"), ("profile" = String, Path, description = "The profile id")),
    request_body = DenylistRequest,
    responses(
        (status = 200, description = "Done", body = DenylistResponse),
        (status = 400, description = "Bad input", body = ErrorBody),
        (status = 401, description = "No or wrong key", body = ErrorBody),
        (status = 404, description = "No such app", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn set_denylist(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath((app, profile)): ApiPath<(String, String)>,
    ApiJson(request): ApiJson<DenylistRequest>,
) -> Result<Json<DenylistResponse>, ApiError> {
    caller.app(&state, &app)?;
    check_profile(&profile, "profile")?;
    state
        .store
        .set_profile_denylisted(&app, &profile, request.denylisted, Utc::now())
        .await?;
    Ok(Json(DenylistResponse {
        app,
        profile,
        denylisted: request.denylisted,
    }))
}
