//! google.rpc.Status error bodies, as FCM sends them (protocols.md §2.2).

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, StatusCode};
use pushgate_outcome::fcm::{ERROR_INFO_TYPE, ErrorCode, FCM_ERROR_TYPE};
use serde_json::{Value, json};

use crate::h2serve::Reply;

/// `@type` of the google.rpc.BadRequest detail.
const BAD_REQUEST_TYPE: &str = "type.googleapis.com/google.rpc.BadRequest";

/// Message of a request without credentials.
pub(crate) const MISSING_CREDENTIAL: &str = "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";
/// Message of a request with a bad, unknown or expired access token.
pub(crate) const INVALID_CREDENTIAL: &str = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";

/// The message FCM sends with each error code (UNCONFIRMED ones are Google's generic
/// canonical-status messages).
pub(crate) fn default_message(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::UnspecifiedError | ErrorCode::Internal => "Internal error encountered.",
        ErrorCode::InvalidArgument => {
            "The registration token is not a valid FCM registration token"
        }
        ErrorCode::Unregistered => "Requested entity was not found.",
        ErrorCode::SenderIdMismatch => "SenderId mismatch",
        ErrorCode::QuotaExceeded => "Quota exceeded for sending messages.",
        ErrorCode::Unavailable => "The service is currently unavailable.",
        ErrorCode::ThirdPartyAuthError => "Auth error from APNS or Web Push Service",
    }
}

/// The FcmError detail.
pub(crate) fn fcm_error(code: &str) -> Value {
    json!({ "@type": FCM_ERROR_TYPE, "errorCode": code })
}

/// A google.rpc.ErrorInfo detail.
pub(crate) fn error_info(reason: &str) -> Value {
    json!({
        "@type": ERROR_INFO_TYPE,
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {
            "service": "fcm.googleapis.com",
            "method": "google.firebase.fcm.v1.FcmService.SendMessage",
        },
    })
}

/// A google.rpc.BadRequest detail naming one field.
pub(crate) fn bad_request(field: &str, description: &str) -> Value {
    json!({
        "@type": BAD_REQUEST_TYPE,
        "fieldViolations": [{ "field": field, "description": description }],
    })
}

/// A google.rpc.Status answer.
pub(crate) fn reply(
    status: u16,
    canonical: &str,
    message: &str,
    details: Vec<Value>,
    retry_after: Option<u64>,
) -> Reply {
    let mut error = json!({ "code": status, "message": message, "status": canonical });
    if !details.is_empty() {
        error["details"] = Value::Array(details);
    }
    let mut headers = HeaderMap::with_capacity(2);
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    if let Some(secs) = retry_after {
        headers.insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    Reply::Response {
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        headers,
        body: Bytes::from(json!({ "error": error }).to_string()),
    }
}

/// The answer for an FCM error code, with its FcmError detail.
pub(crate) fn code_reply(
    code: ErrorCode,
    message: Option<&str>,
    retry_after: Option<u64>,
) -> Reply {
    let (status, canonical) = code.http();
    let message = message.unwrap_or(default_message(code));
    reply(
        status,
        canonical,
        message,
        vec![fcm_error(code.as_str())],
        retry_after,
    )
}

/// A 200 with `{"name": ...}`.
pub(crate) fn success(name: &str) -> Reply {
    let mut headers = HeaderMap::with_capacity(1);
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    Reply::Response {
        status: StatusCode::OK,
        headers,
        body: Bytes::from(json!({ "name": name }).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_parse_with_the_outcome_classifier() {
        let Reply::Response { status, body, .. } = code_reply(ErrorCode::Unregistered, None, None)
        else {
            panic!("not a response");
        };
        assert_eq!(status, 404);
        let parsed = pushgate_outcome::fcm::ErrorBody::parse(&body).unwrap();
        assert_eq!(
            parsed,
            pushgate_outcome::fcm::ErrorBody::Status {
                status: Some("NOT_FOUND".into()),
                error_code: Some("UNREGISTERED".into()),
                error_info_reason: None,
                message: Some("Requested entity was not found.".into()),
            }
        );
    }
}
