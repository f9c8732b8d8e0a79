//! APNs provider-token authentication, per connection.
//!
//! The first accepted token binds the connection to its team and key. A token is
//! verified (ES256 signature against the key registered under its `kid`, `iss` equal to
//! that key's team) the first time it is seen on a connection; the verified token is
//! then cached, so later requests carrying the same string cost a comparison and the
//! `iat` age check.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::HeaderValue;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use super::validate::{Reject, reject};
use crate::state::{ApnsKeyEntry, Shared};

const MISSING: Reject = reject(403, "MissingProviderToken");
const INVALID: Reject = reject(403, "InvalidProviderToken");
const EXPIRED: Reject = reject(403, "ExpiredProviderToken");
const UNRELATED: Reject = reject(403, "UnrelatedKeyIdInToken");
const TOO_MANY: Reject = reject(429, "TooManyProviderTokenUpdates");

/// The provider-token state of one connection.
#[derive(Default)]
pub(crate) struct TokenAuth {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// (team, key id) bound by the first accepted token.
    bound: Option<(String, String)>,
    /// The token in use: the last one accepted.
    current: Option<Current>,
}

struct Current {
    token: Box<[u8]>,
    iat: i64,
    /// When it was first accepted: a new token sooner than the update interval after
    /// this is refused.
    accepted_at: Instant,
    key: Arc<ApnsKeyEntry>,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    iat: i64,
}

/// The token in an `authorization` value (`bearer <token>`, scheme case-insensitive).
fn bearer(value: &HeaderValue) -> Option<&[u8]> {
    let bytes = value.as_bytes();
    let (scheme, rest) = bytes.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

fn too_old(iat: i64, now_secs: i64, max_age: Duration) -> bool {
    let max_age = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
    now_secs.saturating_sub(iat) > max_age
}

impl TokenAuth {
    /// Authenticates a request's `authorization` header; returns the key it was signed
    /// with.
    pub(crate) fn check(
        &self,
        header: Option<&HeaderValue>,
        shared: &Shared,
        now_secs: i64,
    ) -> Result<Arc<ApnsKeyEntry>, Reject> {
        let token = header.and_then(bearer).ok_or(MISSING)?;
        let settings = &shared.settings;
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(current) = &inner.current
            && *current.token == *token
        {
            if too_old(current.iat, now_secs, settings.provider_token_max_age) {
                return Err(EXPIRED);
            }
            return Ok(current.key.clone());
        }
        let (kid, key, claims) = verify(token, shared).ok_or(INVALID)?;
        if let Some((team, bound_kid)) = &inner.bound
            && *bound_kid != kid
        {
            return Err(if *team == key.team_id {
                UNRELATED
            } else {
                INVALID
            });
        }
        if too_old(claims.iat, now_secs, settings.provider_token_max_age) {
            return Err(EXPIRED);
        }
        let now = Instant::now();
        if let Some(current) = &inner.current
            && now.duration_since(current.accepted_at) < settings.token_update_interval
        {
            return Err(TOO_MANY);
        }
        inner
            .bound
            .get_or_insert_with(|| (key.team_id.clone(), kid));
        inner.current = Some(Current {
            token: token.into(),
            iat: claims.iat,
            accepted_at: now,
            key: key.clone(),
        });
        Ok(key)
    }
}

/// Verifies a token: ES256, a registered `kid`, a good signature, `iss` = the key's
/// team. Any failure is `None` (InvalidProviderToken).
fn verify(token: &[u8], shared: &Shared) -> Option<(String, Arc<ApnsKeyEntry>, Claims)> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    if header.alg != Algorithm::ES256 {
        return None;
    }
    let kid = header.kid?;
    let key = shared.apns_key(&kid)?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation)
        .ok()?
        .claims;
    (claims.iss == key.team_id).then_some((kid, key, claims))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_required() {
        let v = |s: &str| HeaderValue::from_str(s).unwrap();
        assert_eq!(bearer(&v("bearer abc")), Some(b"abc".as_slice()));
        assert_eq!(bearer(&v("Bearer  abc ")), Some(b"abc".as_slice()));
        assert_eq!(bearer(&v("bearer ")), None);
        assert_eq!(bearer(&v("basic abc")), None);
        assert_eq!(bearer(&v("abc")), None);
    }

    #[test]
    fn age_is_strictly_more_than_the_maximum() {
        let hour = Duration::from_secs(3600);
        assert!(!too_old(1000, 4600, hour));
        assert!(too_old(1000, 4601, hour));
    }
}
