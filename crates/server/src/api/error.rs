//! [`ApiError`]: the one error type at the HTTP edge. Every failure, axum's own rejections
//! included, leaves as `{"error": {"code", "message", "field"}}`; a database failure is
//! logged with its cause and answered with a generic message (never a URL or SQL).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pushgate_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// An error answered to an API client.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable, machine-readable code (`invalid_field`, `not_found`...).
    pub code: &'static str,
    /// What is wrong, for people.
    pub message: String,
    /// The JSON path (or query parameter) at fault, if one is.
    pub field: Option<String>,
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `malformed_json`, `invalid_field`, `notification_too_large`, `unauthorized`,
    /// `not_found`, `method_not_allowed`, `body_too_large`, `unsupported_media_type`,
    /// `unavailable`, `internal`.
    pub code: String,
    /// What is wrong, for people.
    pub message: String,
    /// The JSON path (`target.tokens[2]`) or query parameter at fault, or null.
    pub field: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    /// 400: a field has a bad value (`field` names it).
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            ..Self::new(StatusCode::BAD_REQUEST, "invalid_field", message)
        }
    }

    /// 400: the body is not JSON.
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_json", message)
    }

    /// 400: the notification is over the platform's payload limit.
    pub fn too_large_notification(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            ..Self::new(StatusCode::BAD_REQUEST, "notification_too_large", message)
        }
    }

    /// 401: no key, or not a key we know.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid API key is required: Authorization: Bearer <key>",
        )
    }

    /// 404 with a message naming what was asked for.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 404 for an app that does not exist or that the key does not reach (the same
    /// answer, so that nothing about other apps leaks).
    pub fn app_not_found(app: &str) -> Self {
        Self::not_found(format!("no app {app:?}"))
    }

    /// 405.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this method is not allowed on this path",
        )
    }

    /// 413: the body is over the limit.
    pub fn body_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is over {} bytes", super::BODY_LIMIT),
        )
    }

    /// 415: the body is not `application/json`.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be JSON: Content-Type: application/json",
        )
    }

    /// 503 for a database failure, logged with its cause.
    pub fn store(error: StoreError) -> Self {
        match error {
            StoreError::UnknownApp(app) => Self::app_not_found(&app),
            StoreError::Invalid(message) => {
                tracing::warn!(%message, "request refused by the store");
                Self::new(StatusCode::BAD_REQUEST, "invalid_field", message)
            }
            other => {
                tracing::error!(error = %error_chain(&other), "database failure");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is unavailable; try again later",
                )
            }
        }
    }

    /// 500 for anything else, logged with its cause.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; it has been logged",
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        Self::store(error)
    }
}

/// An error and its sources on one line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                field: self.field,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
