//! The plain-HTTP admin API (`/_mock/...`): scenarios, faults, keys and accounts,
//! client certificates, stats and the request log.
//!
//! Bodies are JSON; a body that does not parse, or a rule or fault setting that makes
//! no sense, gets 400 `{"error": "<what is wrong>"}`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::Service;
use crate::config::{ApnsKeyConfig, OAuthAccountConfig};
use crate::error::MockError;
use crate::faults::Faults;
use crate::script::Rule;
use crate::state::Shared;

/// The addresses shown by `GET /_mock/info`.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Info {
    pub apns: String,
    pub fcm: String,
    pub oauth: String,
    pub admin: String,
    pub ca: String,
    pub apns_url: String,
    pub fcm_url: String,
    pub oauth_token_url: String,
}

#[derive(Clone)]
struct AdminState {
    shared: Arc<Shared>,
    info: Arc<Info>,
}

/// An error at the HTTP edge: a status and a safe message.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<MockError> for ApiError {
    fn from(e: MockError) -> Self {
        Self(StatusCode::BAD_REQUEST, e.to_string())
    }
}

type ApiResult = Result<Response, ApiError>;

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

fn ok(value: Value) -> ApiResult {
    Ok(axum::Json(value).into_response())
}

fn created(value: Value) -> ApiResult {
    Ok((StatusCode::CREATED, axum::Json(value)).into_response())
}

/// `name=value` pairs of a query string.
fn query(raw: Option<String>, name: &str) -> Option<String> {
    let raw = raw?;
    form_urlencoded::parse(raw.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn service_param(raw: Option<String>) -> Result<Option<Service>, ApiError> {
    query(raw, "service")
        .map(|s| {
            serde_json::from_value(Value::String(s.clone())).map_err(|_| {
                let message = format!("unknown service {s:?}: apns, fcm or oauth");
                ApiError(StatusCode::BAD_REQUEST, message)
            })
        })
        .transpose()
}

/// The admin router.
pub(crate) fn router(shared: Arc<Shared>, info: Info) -> Router {
    let state = AdminState {
        shared,
        info: Arc::new(info),
    };
    Router::new()
        .route("/_mock/info", get(info_handler))
        .route("/_mock/ca.pem", get(ca_pem))
        .route(
            "/_mock/scenarios",
            get(list_rules).post(add_rules).delete(clear_rules),
        )
        .route(
            "/_mock/faults",
            get(get_faults).put(set_faults).delete(clear_faults),
        )
        .route("/_mock/stats", get(stats))
        .route("/_mock/requests", get(requests).delete(clear_requests))
        .route("/_mock/reset", post(reset))
        .route("/_mock/apns/keys", post(add_key))
        .route("/_mock/apns/client-certs", post(client_cert))
        .route("/_mock/oauth/accounts", post(add_account))
        .fallback(|| async { ApiError(StatusCode::NOT_FOUND, "no such admin endpoint".into()) })
        .with_state(state)
}

async fn info_handler(State(s): State<AdminState>) -> ApiResult {
    ok(serde_json::to_value(&*s.info).unwrap_or_default())
}

async fn ca_pem(State(s): State<AdminState>) -> Response {
    s.shared.ca.cert_pem().to_owned().into_response()
}

async fn list_rules(State(s): State<AdminState>) -> ApiResult {
    ok(serde_json::to_value(s.shared.rules.list()).unwrap_or_default())
}

/// A rule, a list of rules, or `{"rules": [...]}`.
fn parse_rules(body: &[u8]) -> Result<Vec<Rule>, ApiError> {
    let value: Value = parse(body)?;
    let rules = match value {
        Value::Array(_) => value,
        Value::Object(ref map) if map.len() == 1 && map.contains_key("rules") => {
            map["rules"].clone()
        }
        single => Value::Array(vec![single]),
    };
    serde_json::from_value(rules)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("invalid rule: {e}")))
}

async fn add_rules(State(s): State<AdminState>, body: Bytes) -> ApiResult {
    let rules = parse_rules(&body)?;
    let added = rules.len();
    s.shared.rules.add(rules)?;
    created(json!({ "added": added }))
}

async fn clear_rules(State(s): State<AdminState>, RawQuery(q): RawQuery) -> ApiResult {
    s.shared.rules.clear(service_param(q)?);
    ok(json!({ "cleared": true }))
}

async fn get_faults(State(s): State<AdminState>) -> ApiResult {
    ok(serde_json::to_value(s.shared.faults.get()).unwrap_or_default())
}

async fn set_faults(State(s): State<AdminState>, body: Bytes) -> ApiResult {
    let faults: Faults = parse(&body)?;
    s.shared.faults.set(faults)?;
    get_faults(State(s)).await
}

async fn clear_faults(State(s): State<AdminState>) -> ApiResult {
    s.shared.faults.set(Faults::default())?;
    get_faults(State(s)).await
}

async fn stats(State(s): State<AdminState>) -> ApiResult {
    ok(serde_json::to_value(s.shared.stats.snapshot()).unwrap_or_default())
}

async fn requests(State(s): State<AdminState>, RawQuery(q): RawQuery) -> ApiResult {
    let limit = match query(q.clone(), "limit") {
        Some(l) => l.parse().map_err(|_| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("limit {l:?} is not a number"),
            )
        })?,
        None => 100,
    };
    let list = s.shared.log.recent(limit, service_param(q)?);
    ok(serde_json::to_value(list).unwrap_or_default())
}

async fn clear_requests(State(s): State<AdminState>) -> ApiResult {
    s.shared.log.clear();
    ok(json!({ "cleared": true }))
}

async fn reset(State(s): State<AdminState>) -> ApiResult {
    s.shared.stats.reset();
    s.shared.log.clear();
    ok(json!({ "reset": true }))
}

async fn add_key(State(s): State<AdminState>, body: Bytes) -> ApiResult {
    let key: ApnsKeyConfig = parse(&body)?;
    s.shared.add_apns_key(&key)?;
    created(json!({ "key_id": key.key_id }))
}

async fn add_account(State(s): State<AdminState>, body: Bytes) -> ApiResult {
    let account: OAuthAccountConfig = parse(&body)?;
    s.shared.add_account(&account)?;
    created(json!({ "client_email": account.client_email }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CertRequest {
    bundle_id: String,
    #[serde(default = "default_team")]
    team_id: String,
}

fn default_team() -> String {
    "MOCKTEAM01".into()
}

async fn client_cert(State(s): State<AdminState>, body: Bytes) -> ApiResult {
    let request: CertRequest = parse(&body)?;
    let cert = s
        .shared
        .ca
        .issue_client_cert(&request.bundle_id, &request.team_id)?;
    created(json!({
        "bundle_id": cert.bundle_id,
        "cert_pem": cert.cert_pem,
        "key_pem": cert.key_pem,
    }))
}
