//! Access: `Authorization: Bearer <key>`. Keys are configured by their SHA-256 only and
//! compared in constant time; an app key reaches its own app, an admin key every app.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use pushgate_store::Platform;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiError;
use crate::config::ApiKeyConfig;

/// The prefix of generated keys (it makes a leaked key easy to recognise).
pub const KEY_PREFIX: &str = "pg_";

/// A new random key: `pg_` and 32 random bytes in hex.
pub fn generate_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{KEY_PREFIX}{}", hex::encode(bytes))
}

/// The SHA-256 of a key, as the configuration holds it (lowercase hex).
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The configured keys, as digests.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys {
    keys: Vec<(String, [u8; 32], Option<String>)>,
}

impl ApiKeys {
    /// The keys of the configuration (hashes that do not decode are skipped; the
    /// configuration check refuses them first).
    pub fn new(configured: &[ApiKeyConfig]) -> Self {
        let keys = configured
            .iter()
            .filter_map(|k| {
                let digest: [u8; 32] = hex::decode(&k.sha256).ok()?.try_into().ok()?;
                Some((k.name.clone(), digest, k.app.clone()))
            })
            .collect();
        Self { keys }
    }

    /// Who holds `key`, if anyone: every configured digest is compared (in constant
    /// time), so the time taken does not tell which one matched.
    pub fn identify(&self, key: &str) -> Option<Caller> {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let mut found = None;
        for (name, expected, app) in &self.keys {
            if bool::from(expected.ct_eq(&digest)) && found.is_none() {
                found = Some(Caller {
                    key_name: name.clone(),
                    app: app.clone(),
                });
            }
        }
        found
    }
}

/// The holder of a valid key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The key's configured name (for logs).
    pub key_name: String,
    /// The one app it reaches; `None`: admin.
    pub app: Option<String>,
}

impl Caller {
    /// Whether the key reaches every app.
    pub fn is_admin(&self) -> bool {
        self.app.is_none()
    }

    /// Whether the key reaches `app` (which may not exist).
    pub fn reaches(&self, app: &str) -> bool {
        self.app.as_deref().is_none_or(|own| own == app)
    }

    /// The platform of `app`, if it exists and this key reaches it; otherwise the same
    /// 404 either way, so that an app key learns nothing about other apps.
    pub fn app(&self, state: &AppState, app: &str) -> Result<Platform, ApiError> {
        match state.apps.get(app) {
            Some(platform) if self.reaches(app) => Ok(*platform),
            _ => Err(ApiError::app_not_found(app)),
        }
    }

    /// Refuses anything but an admin key (401: this key does not open this).
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::unauthorized())
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let key = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, key) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
            })
            .filter(|key| !key.is_empty())
            .ok_or_else(ApiError::unauthorized)?;
        state.keys.identify(key).ok_or_else(ApiError::unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_recognised_by_their_hash_only() {
        let admin = generate_key();
        let app = generate_key();
        assert!(admin.starts_with(KEY_PREFIX) && admin.len() == 3 + 64);
        let keys = ApiKeys::new(&[
            ApiKeyConfig {
                name: "admin".into(),
                sha256: hash_key(&admin),
                app: None,
            },
            ApiKeyConfig {
                name: "ios".into(),
                sha256: hash_key(&app).to_uppercase(),
                app: Some("ios-app".into()),
            },
        ]);
        assert!(keys.identify(&admin).is_some_and(|c| c.is_admin()));
        let caller = keys.identify(&app).unwrap();
        assert!(caller.reaches("ios-app") && !caller.reaches("other"));
        assert_eq!(keys.identify("pg_wrong"), None);
        assert_eq!(keys.identify(""), None);
    }
}
