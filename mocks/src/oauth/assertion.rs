//! Verification of a jwt-bearer token request (protocols.md §3.1 and §3.3).
//!
//! Checks, in order: the form (`grant_type`, `assertion`), the assertion's issuer (a
//! registered `client_email`), the account being enabled, `alg`/`kid` and the RS256
//! signature, `aud`, the `iat`/`exp` timeframe, and the scope. Each failure carries the
//! exact `error`, `error_description` and status Google sends.

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, Validation};
use pushgate_outcome::oauth::{FCM_SCOPE, JWT_BEARER_GRANT, MAX_ASSERTION_LIFETIME_SECS};
use serde::Deserialize;

use crate::state::Shared;

/// A scope that also grants FCM.
const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// A refused token request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub status: u16,
    pub error: &'static str,
    pub description: Cow<'static, str>,
}

/// The row of `pushgate_outcome::oauth::ERRORS` for this `error` and description start.
fn table(error: &str, starts: &str) -> Refusal {
    let row = pushgate_outcome::oauth::ERRORS
        .iter()
        .find(|(_, e, d)| *e == error && d.starts_with(starts));
    match row {
        Some((status, error, description)) => Refusal {
            status: *status,
            error,
            description: Cow::Borrowed(description),
        },
        None => Refusal {
            status: 500,
            error: "internal_failure",
            description: Cow::Borrowed("mock error table mismatch"),
        },
    }
}

fn bad_signature() -> Refusal {
    table("invalid_grant", "Invalid JWT Signature")
}

fn bad_timeframe() -> Refusal {
    table(
        "invalid_grant",
        "Invalid JWT: Token must be a short-lived token",
    )
}

fn request_error(error: &'static str, description: String) -> Refusal {
    Refusal {
        status: 400,
        error,
        description: Cow::Owned(description),
    }
}

/// The account a valid request is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Granted {
    pub client_email: String,
    pub project_id: String,
}

#[derive(Deserialize)]
struct Issuer {
    iss: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    aud: Option<serde_json::Value>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    iat: Option<i64>,
    #[serde(default)]
    exp: Option<i64>,
}

/// Checks a token request; `content_type` is its `content-type`, `form` its body.
pub(crate) fn check(
    content_type: Option<&str>,
    form: &[u8],
    shared: &Shared,
    now: SystemTime,
) -> Result<Granted, Refusal> {
    let form_type = content_type
        .and_then(|c| c.split(';').next())
        .map(str::trim)
        .is_some_and(|c| c.eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    if !form_type {
        let got = content_type.unwrap_or("none");
        return Err(request_error(
            "invalid_request",
            format!("Invalid Content-Type: {got}; expected application/x-www-form-urlencoded"),
        ));
    }
    let mut grant_type = None;
    let mut assertion = None;
    for (key, value) in form_urlencoded::parse(form) {
        match &*key {
            "grant_type" => grant_type = Some(value),
            "assertion" => assertion = Some(value),
            _ => {}
        }
    }
    match grant_type.as_deref() {
        None => {
            let text = "Missing required parameter: grant_type".to_owned();
            return Err(request_error("invalid_request", text));
        }
        Some(JWT_BEARER_GRANT) => {}
        Some(other) => {
            let text = format!("Invalid grant_type: {other}");
            return Err(request_error("unsupported_grant_type", text));
        }
    }
    let Some(assertion) = assertion else {
        let text = "Missing required parameter: assertion".to_owned();
        return Err(request_error("invalid_request", text));
    };
    let assertion = assertion.as_bytes();
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| bad_signature())?;
    let issuer: Issuer =
        jsonwebtoken::dangerous::insecure_decode_claims(assertion).map_err(|_| bad_signature())?;
    let client_email = issuer.iss.unwrap_or_default();
    let account = shared
        .account(&client_email)
        .ok_or_else(|| table("invalid_grant", "Invalid email or User ID"))?;
    if account.disabled {
        return Err(table("disabled_client", "The OAuth client was disabled."));
    }
    if header.alg != Algorithm::RS256
        || header
            .kid
            .as_ref()
            .is_some_and(|k| *k != account.private_key_id)
    {
        return Err(bad_signature());
    }
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Claims>(assertion, &account.decoding, &validation)
        .map_err(|_| bad_signature())?
        .claims;
    let audiences = &shared.settings.audiences;
    let aud_ok = match &claims.aud {
        Some(serde_json::Value::String(aud)) => audiences.contains(aud),
        _ => false,
    };
    if !aud_ok {
        let right = audiences.first().map_or("", String::as_str);
        return Err(request_error(
            "invalid_grant",
            format!("Invalid JWT: Failed audience check. The right audience is {right}"),
        ));
    }
    let now = i64::try_from(now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
        .unwrap_or(i64::MAX);
    let skew = i64::try_from(shared.settings.clock_skew.as_secs()).unwrap_or(i64::MAX);
    let (Some(iat), Some(exp)) = (claims.iat, claims.exp) else {
        return Err(bad_timeframe());
    };
    if exp <= iat
        || exp - iat > MAX_ASSERTION_LIFETIME_SECS
        || iat > now.saturating_add(skew)
        || exp < now.saturating_sub(skew)
    {
        return Err(bad_timeframe());
    }
    let scope = claims.scope.unwrap_or_default();
    if !scope
        .split_ascii_whitespace()
        .any(|s| s == FCM_SCOPE || s == CLOUD_PLATFORM_SCOPE)
    {
        return Err(table("invalid_scope", "Invalid OAuth scope"));
    }
    Ok(Granted {
        client_email,
        project_id: account.project_id.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_every_row_used_here() {
        for r in [
            bad_signature(),
            bad_timeframe(),
            table("invalid_grant", "Invalid email or User ID"),
            table("disabled_client", "The OAuth client was disabled."),
            table("invalid_scope", "Invalid OAuth scope"),
        ] {
            assert_ne!(r.status, 500, "{r:?}");
        }
    }
}
