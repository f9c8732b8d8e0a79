//! The Google OAuth token endpoint classifier (the `fcm.auth_*` rows).

use serde::Deserialize;

use crate::classification::Classification;
use crate::table::OutcomeId;

/// The OAuth scope FCM HTTP v1 needs.
pub const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// The grant type of a service-account JWT assertion.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Longest lifetime of an assertion (`exp - iat`), in seconds.
pub const MAX_ASSERTION_LIFETIME_SECS: i64 = 3600;

/// The error bodies of the token endpoint (`protocols.md` §3.3): status, `error`,
/// `error_description`.
pub const ERRORS: [(u16, &str, &str); 8] = [
    (400, "invalid_grant", "Invalid JWT Signature."),
    (
        400,
        "invalid_grant",
        "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
    ),
    (400, "invalid_grant", "Invalid email or User ID"),
    (
        401,
        "unauthorized_client",
        "Unauthorized client or scope in request.",
    ),
    (
        401,
        "unauthorized_client",
        "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.",
    ),
    (403, "access_denied", "Requested client not authorized."),
    (401, "disabled_client", "The OAuth client was disabled."),
    (
        400,
        "invalid_scope",
        "Invalid OAuth scope or ID token audience provided.",
    ),
];

/// Whether a token-endpoint failure is worth retrying (google-auth-library's rule): HTTP
/// 500, 503, 504, 408 or 429, or an `error` that contains `internal_failure`,
/// `server_error` or `temporarily_unavailable`. Everything else is final.
pub fn is_retryable(status: u16, error: Option<&str>) -> bool {
    const RETRYABLE_ERRORS: [&str; 3] = [
        "internal_failure",
        "server_error",
        "temporarily_unavailable",
    ];
    matches!(status, 500 | 503 | 504 | 408 | 429)
        || error.is_some_and(|e| RETRYABLE_ERRORS.iter().any(|r| e.contains(r)))
}

/// One raw result of asking the token endpoint for an access token, when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthResult<'a> {
    /// The endpoint could not be reached, reset the connection, or did not answer in time
    /// (also: retryable failures once the token source's retries are spent).
    Transport,
    /// An HTTP answer without an access token.
    Response {
        /// The HTTP status.
        status: u16,
        /// The body (`{"error": ..., "error_description": ...}`).
        body: &'a [u8],
    },
}

/// The JSON error body of the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ErrorBody {
    /// `invalid_grant`, `unauthorized_client`...
    pub error: String,
    /// The human description, which tells some rows apart.
    #[serde(default)]
    pub error_description: String,
}

impl ErrorBody {
    /// The body, if it is an OAuth error body.
    pub fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice(body).ok()
    }
}

/// The `fcm.auth_*` row (or `fcm.other`) a failed token request lands on.
///
/// Retryable failures land on `fcm.auth_connection`: the token source hands them over
/// only once its retries are spent.
pub fn classify(result: &OAuthResult<'_>) -> Classification {
    let (status, body) = match *result {
        OAuthResult::Transport => {
            return Classification::rejected(OutcomeId::FcmAuthConnection, &[]);
        }
        OAuthResult::Response { status, body } => (status, body),
    };
    let parsed = ErrorBody::parse(body);
    let error = parsed.as_ref().map(|b| b.error.as_str());
    if is_retryable(status, error) {
        return Classification::rejected(OutcomeId::FcmAuthConnection, &[]);
    }
    let Some(ErrorBody {
        error,
        error_description,
    }) = parsed
    else {
        let detail = format!("token endpoint HTTP {status} without an OAuth error");
        return Classification::rejected(OutcomeId::FcmOther, &[&detail]);
    };
    match error_row(&error, &error_description) {
        Some(id) => Classification::rejected(id, &[]),
        None => Classification::rejected(OutcomeId::FcmOther, &[&error]),
    }
}

/// The row of an OAuth `error` and its description, if the table has one.
fn error_row(error: &str, description: &str) -> Option<OutcomeId> {
    let description = description.trim();
    match error {
        "invalid_grant" if description.starts_with("Invalid JWT Signature") => {
            Some(OutcomeId::FcmAuthInvalidJwtSignature)
        }
        "invalid_grant" if description.starts_with("Invalid JWT") => {
            Some(OutcomeId::FcmAuthInvalidJwt)
        }
        "invalid_grant" if description.starts_with("Invalid email or User ID") => {
            Some(OutcomeId::FcmAuthInvalidEmail)
        }
        "unauthorized_client"
            if description.contains("using this method")
                || description.contains("any of the scopes") =>
        {
            Some(OutcomeId::FcmAuthClientNotAuthorized)
        }
        "unauthorized_client"
            if description.contains("audience")
                || description.starts_with("Invalid OAuth scope") =>
        {
            Some(OutcomeId::FcmAuthInvalidScope)
        }
        "unauthorized_client" => Some(OutcomeId::FcmAuthUnauthorizedClient),
        "invalid_scope" => Some(OutcomeId::FcmAuthInvalidScope),
        "access_denied" => Some(OutcomeId::FcmAuthAccessDenied),
        "disabled_client" => Some(OutcomeId::FcmAuthDisabledClient),
        _ => None,
    }
}
