//! The HTTP API: the router (built with its OpenAPI document from the handlers), the
//! shared state, and [`run`], which serves on an already-bound listener until a shutdown
//! future completes.

pub mod auth;
pub mod deliveries;
pub mod error;
pub mod extract;
pub mod health;
pub mod input;
pub mod openapi;
pub mod quarantine;
pub mod reports;
pub mod subscriptions;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use metrics_exporter_prometheus::PrometheusHandle;
use pushgate_dispatch::analysis::Analyzer;
use pushgate_dispatch::pipeline::Pipeline;
use pushgate_store::{Platform, Store};
use tokio::net::TcpListener;
use utoipa_axum::router::OpenApiRouter;

use self::auth::ApiKeys;
use self::error::ApiError;
use crate::app::Pushgate;

/// The largest request body accepted (1 MiB); larger answers 413.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Analysis, woken when a delivery is created.
    pub analyzer: Analyzer,
    /// The pipeline, woken when an analysis may have queued messages.
    pub pipeline: Option<Pipeline>,
    /// The configured apps and their platforms.
    pub apps: Arc<HashMap<String, Platform>>,
    /// The API keys.
    pub keys: Arc<ApiKeys>,
    /// The Prometheus recorder's handle (when `serve` installed it).
    pub metrics: Option<PrometheusHandle>,
    /// The OpenAPI document, served at `/openapi.json`.
    pub openapi: Arc<serde_json::Value>,
}

impl AppState {
    /// The state of a built pushgate.
    pub fn new(pushgate: &Pushgate, metrics: Option<PrometheusHandle>) -> Self {
        let apps = pushgate
            .config
            .apps
            .iter()
            .map(|app| (app.id.clone(), app.platform))
            .collect();
        let openapi = serde_json::to_value(openapi::document()).unwrap_or_default();
        Self {
            store: pushgate.store.clone(),
            analyzer: pushgate.analyzer.clone(),
            pipeline: Some(pushgate.pipeline.clone()),
            apps: Arc::new(apps),
            keys: Arc::new(ApiKeys::new(&pushgate.config.api_keys)),
            metrics,
            openapi: Arc::new(openapi),
        }
    }
}

/// The routes with their OpenAPI description, without state.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(subscriptions::routes())
        .merge(deliveries::routes())
        .merge(reports::routes())
        .merge(quarantine::routes())
        .merge(health::routes())
}

/// The router: every route, the 1 MiB body limit, JSON 404 and 405 answers.
pub fn router(state: AppState) -> Router {
    let (router, _) = routes().split_for_parts();
    router
        .fallback(|| async { ApiError::not_found("no such path") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` completes, then stops accepting and
/// lets the requests in progress finish.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
