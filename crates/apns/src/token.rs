//! Provider tokens: the ES256 JWT (`kid`, `iss`, `iat`) signed once and shared by the
//! pool, regenerated at `token_refresh_secs`, and the [`Clock`] that tells its age.
//!
//! The `.p8` key is read and tried (one signature) at start-up, so a missing or malformed
//! key is a configuration error then, not a failure of every send. The key stays inside
//! `jsonwebtoken`'s `EncodingKey`, which never prints it.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderValue;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::error::ApnsError;

/// Apple refuses a new token on a connection sooner than this after the previous one.
pub const TOKEN_CHANGE_INTERVAL: Duration = Duration::from_secs(20 * 60);

/// Wall-clock time, injectable so tests can move it (token age, the 20-minute rule).
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// Now.
    fn now(&self) -> SystemTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// One signed provider token.
pub(crate) struct Token {
    /// `bearer <jwt>`, marked sensitive (HPACK never-indexed, hidden from `Debug`).
    pub header: HeaderValue,
    /// Its `iat`.
    pub issued_at: SystemTime,
    /// Increases with every new token; tells connections which one they last used.
    pub generation: u64,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("issued_at", &self.issued_at)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: u64,
}

/// The shared token cache.
pub(crate) struct ProviderTokens {
    key: EncodingKey,
    key_id: String,
    team_id: String,
    refresh: Duration,
    clock: Arc<dyn Clock>,
    current: RwLock<Option<Arc<Token>>>,
    generations: AtomicU64,
}

impl std::fmt::Debug for ProviderTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderTokens")
            .field("key_id", &self.key_id)
            .field("team_id", &self.team_id)
            .finish_non_exhaustive()
    }
}

impl ProviderTokens {
    /// Reads the `.p8` key once and checks it can sign.
    pub(crate) fn new(
        key_file: &Path,
        key_id: &str,
        team_id: &str,
        refresh: Duration,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ApnsError> {
        const WHAT: &str = "signing key";
        let pem = std::fs::read(key_file).map_err(|e| ApnsError::read(WHAT, key_file, e))?;
        let key = EncodingKey::from_ec_pem(&pem)
            .map_err(|e| ApnsError::credentials(WHAT, key_file, e.to_string()))?;
        let tokens = Self {
            key,
            key_id: key_id.to_owned(),
            team_id: team_id.to_owned(),
            refresh,
            clock,
            current: RwLock::new(None),
            generations: AtomicU64::new(0),
        };
        tokens.sign(SystemTime::now()).map_err(|problem| {
            ApnsError::credentials(WHAT, key_file, format!("cannot sign with it: {problem}"))
        })?;
        Ok(tokens)
    }

    pub(crate) fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    fn sign(&self, at: SystemTime) -> Result<Token, String> {
        let iat = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        // Apple asks for `alg` and `kid` only; `typ` would add 16 bytes to every request.
        header.typ = None;
        let claims = Claims {
            iss: &self.team_id,
            iat,
        };
        let jwt =
            jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| format!("ES256: {e}"))?;
        let mut value = HeaderValue::try_from(format!("bearer {jwt}"))
            .map_err(|_| "the token is not a valid header value".to_owned())?;
        value.set_sensitive(true);
        Ok(Token {
            header: value,
            issued_at: at,
            generation: 0,
        })
    }

    fn fresh(&self, token: &Token, now: SystemTime) -> bool {
        now.duration_since(token.issued_at)
            .is_ok_and(|age| age < self.refresh)
    }

    /// The token to use now: the cached one while younger than the refresh age, else a
    /// new one. `Err` carries a detail for `apns.certificate` (signing failed).
    pub(crate) fn current(&self) -> Result<Arc<Token>, String> {
        let now = self.clock.now();
        {
            let guard = self.current.read().unwrap_or_else(|e| e.into_inner());
            if let Some(token) = guard.as_ref().filter(|t| self.fresh(t, now)) {
                return Ok(token.clone());
            }
        }
        let mut guard = self.current.write().unwrap_or_else(|e| e.into_inner());
        if let Some(token) = guard.as_ref().filter(|t| self.fresh(t, now)) {
            return Ok(token.clone());
        }
        let mut token = self.sign(now)?;
        token.generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(
            generation = token.generation,
            key_id = %self.key_id,
            "new provider token"
        );
        let token = Arc::new(token);
        *guard = Some(token.clone());
        Ok(token)
    }

    /// APNs called token `generation` expired: the next [`Self::current`] signs anew
    /// (unless another caller already did).
    pub(crate) fn expire(&self, generation: u64) {
        let mut guard = self.current.write().unwrap_or_else(|e| e.into_inner());
        if guard.as_ref().is_some_and(|t| t.generation == generation) {
            *guard = None;
        }
    }
}

/// The provider token a connection last used, for the 20-minute rule.
#[derive(Debug, Default)]
pub(crate) struct ConnToken {
    last: Option<(u64, SystemTime)>,
}

impl ConnToken {
    /// Whether `token` may be used on this connection at `now`, recording the change if
    /// so: the first token always may; a different one only 20 minutes after the last
    /// change (a clock that went back counts as too soon).
    pub(crate) fn allow(&mut self, token: &Token, now: SystemTime) -> bool {
        match self.last {
            Some((generation, _)) if generation == token.generation => true,
            Some((_, changed_at))
                if now
                    .duration_since(changed_at)
                    .map_or(true, |d| d < TOKEN_CHANGE_INTERVAL) =>
            {
                false
            }
            _ => {
                self.last = Some((token.generation, now));
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(generation: u64) -> Token {
        Token {
            header: HeaderValue::from_static("bearer x"),
            issued_at: UNIX_EPOCH,
            generation,
        }
    }

    #[test]
    fn a_connection_changes_token_at_most_every_20_minutes() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut conn = ConnToken::default();
        assert!(conn.allow(&token(1), t0));
        assert!(conn.allow(&token(1), t0 + Duration::from_secs(5)));
        assert!(!conn.allow(&token(2), t0 + Duration::from_secs(1199)));
        assert!(!conn.allow(&token(2), t0 - Duration::from_secs(1)));
        assert!(conn.allow(&token(2), t0 + Duration::from_secs(1200)));
        assert!(!conn.allow(&token(3), t0 + Duration::from_secs(2000)));
        assert!(conn.allow(&token(2), t0 + Duration::from_secs(2000)));
    }
}
