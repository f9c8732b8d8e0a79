//! Extractors whose rejections are [`ApiError`]s: JSON bodies (content type, size, syntax,
//! unknown fields, each error naming its JSON path), query strings and path segments.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON body, read with `deny_unknown_fields` types; errors name the JSON path.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .is_some_and(|v| v == "application/json" || v.ends_with("+json"));
        if !json {
            return Err(ApiError::unsupported_media_type());
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::body_too_large()
                } else {
                    ApiError::malformed(format!("cannot read the body: {rejection}"))
                }
            })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses a JSON body, naming the path of the first problem.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let message = clean_message(&inner.to_string());
        match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                ApiError::malformed(format!("the body is not valid JSON: {message}"))
            }
            serde_json::error::Category::Io => ApiError::malformed(message),
            serde_json::error::Category::Data => {
                // A missing field is reported at its parent: name the field itself.
                let missing = message
                    .strip_prefix("missing field `")
                    .and_then(|rest| rest.split('`').next());
                let field = match (path.as_str(), missing) {
                    (".", Some(name)) => name.to_owned(),
                    (parent, Some(name)) => format!("{parent}.{name}"),
                    (".", None) => String::new(),
                    (at, None) => at.to_owned(),
                };
                if field.is_empty() {
                    ApiError {
                        field: None,
                        ..ApiError::invalid("", message)
                    }
                } else {
                    ApiError::invalid(field, message)
                }
            }
        }
    })?;
    deserializer.end().map_err(|e| {
        ApiError::malformed(format!(
            "the body is not valid JSON: {}",
            clean_message(&e.to_string())
        ))
    })?;
    Ok(value)
}

/// serde_json's message without its "at line 1 column 7" tail.
fn clean_message(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// A query string, read with `deny_unknown_fields` types; errors name the parameter.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(ApiQuery)
            .map_err(|error| {
                let path = error.path().to_string();
                let message = error.into_inner().to_string();
                let field = if path == "." {
                    message
                        .split('`')
                        .nth(1)
                        .map(str::to_owned)
                        .unwrap_or_default()
                } else {
                    path
                };
                ApiError::invalid(field, message)
            })
    }
}

/// Path segments; a segment that cannot be read answers 404 (no such resource).
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| ApiPath(value))
            .map_err(|_| ApiError::not_found("no such resource"))
    }
}
