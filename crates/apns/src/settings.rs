//! [`ApnsSettings`]: where to send, how to authenticate, and the pool, timeout and retry
//! knobs, with defaults and a validation that names the faulty field.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};

use crate::error::ApnsError;

/// Apple's production host.
pub const PRODUCTION_HOST: &str = "api.push.apple.com";
/// Apple's development (sandbox) host.
pub const SANDBOX_HOST: &str = "api.sandbox.push.apple.com";

/// The APNs sender's settings (the `[apns]` section of the application's configuration).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApnsSettings {
    /// `production`, `sandbox`, or any `https://host:port` (the mock in tests).
    pub endpoint: Endpoint,
    /// Provider token (`.p8` key) or client certificate (PEM or PKCS#12).
    pub auth: ApnsAuth,
    /// The bundle id sent as `apns-topic` when a notification names no topic of its own.
    pub topic: String,
    /// Extra trust roots (PEM), added to the public web roots: the mock's CA in tests.
    pub trust_roots: Option<PathBuf>,
    /// Connections in the pool. Apple allows many streams per connection, so a few
    /// connections carry a lot; more than one keeps sending while one reconnects.
    pub connections: usize,
    /// Longest wait for one attempt: a free stream, the request and its answer.
    pub request_timeout_ms: u64,
    /// Longest wait for TCP, TLS and the HTTP/2 preface of a new connection.
    pub connect_timeout_ms: u64,
    /// Age at which the provider token is regenerated. Apple refuses tokens older than
    /// an hour and new tokens more often than every 20 minutes: 1200 to 3600.
    pub token_refresh_secs: u64,
    /// A connection idle this long is sent a PING (and closed if no PONG comes within
    /// the connect timeout), so a silently dropped connection is found before a send
    /// needs it. Middleboxes often drop idle flows after about 5 minutes.
    pub ping_idle_secs: u64,
    /// The sender's own retries of 429, 500, 503 and transport failures.
    pub retry: RetrySettings,
}

impl Default for ApnsSettings {
    fn default() -> Self {
        Self {
            endpoint: Endpoint::Production,
            auth: ApnsAuth::Token {
                key_file: PathBuf::from("AuthKey.p8"),
                key_id: String::new(),
                team_id: String::new(),
            },
            topic: String::new(),
            trust_roots: None,
            connections: 2,
            request_timeout_ms: 10_000,
            connect_timeout_ms: 10_000,
            token_refresh_secs: 3000,
            ping_idle_secs: 300,
            retry: RetrySettings::default(),
        }
    }
}

/// Bounded exponential backoff with jitter for the answers the sender retries itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrySettings {
    /// Retries after the first attempt (429, 500, 503, transport failures). Requests the
    /// server did not process (GOAWAY, REFUSED_STREAM) go again without counting here.
    pub max_retries: u32,
    /// First backoff; each retry doubles it, up to `max_backoff_ms`.
    pub initial_backoff_ms: u64,
    /// Longest backoff. A `Retry-After` longer than this is not waited for inside the
    /// sender: the answer is handed over with its `retry_after`.
    pub max_backoff_ms: u64,
    /// How many times one notification may be re-sent because the server did not process
    /// it (GOAWAY, REFUSED_STREAM, a connection retired for the 20-minute token rule)
    /// before it counts as `apns.connection_lost`.
    pub max_unprocessed_resends: u32,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_retries: 3,
            initial_backoff_ms: 200,
            max_backoff_ms: 5_000,
            max_unprocessed_resends: 10,
        }
    }
}

/// How the sender authenticates to APNs.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ApnsAuth {
    /// Provider tokens (ES256 JWT) signed with the team's `.p8` key.
    Token {
        /// The `AuthKey_<KEYID>.p8` file (PKCS#8 PEM, P-256).
        key_file: PathBuf,
        /// The key id (`kid`), 10 characters.
        key_id: String,
        /// The team id (`iss`), 10 characters.
        team_id: String,
    },
    /// A push certificate and its private key, PEM files.
    Certificate {
        /// The certificate (chain), PEM.
        cert_file: PathBuf,
        /// Its private key, PEM (PKCS#8, PKCS#1 or SEC1).
        key_file: PathBuf,
    },
    /// A push certificate and its key in one PKCS#12 (`.p12`) file.
    Pkcs12 {
        /// The `.p12` file.
        file: PathBuf,
        /// Its password.
        password: SecretString,
    },
}

/// Where notifications go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `api.push.apple.com:443`.
    Production,
    /// `api.sandbox.push.apple.com:443`.
    Sandbox,
    /// Any `https://host[:port]` (a mock, a proxy).
    Url {
        /// Host name or IP address (IPv6 without brackets).
        host: String,
        /// TCP port.
        port: u16,
    },
}

impl Endpoint {
    /// Parses `production`, `sandbox` or an `https://host[:port]` URL (no path).
    pub fn parse(text: &str) -> Result<Self, ApnsError> {
        let bad = |problem: &str| ApnsError::setting("endpoint", format!("{text:?}: {problem}"));
        match text {
            "production" => return Ok(Self::Production),
            "sandbox" | "development" => return Ok(Self::Sandbox),
            _ => {}
        }
        let uri: http::Uri = text
            .parse()
            .map_err(|_| bad("not production, sandbox or a URL"))?;
        if uri.scheme_str() != Some("https") {
            return Err(bad("only https URLs are possible"));
        }
        if uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
            return Err(bad("a path is not allowed"));
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(Self::Url {
            host: host.to_owned(),
            port: authority.port_u16().unwrap_or(443),
        })
    }

    /// The host to connect to and to name in TLS (SNI and certificate check).
    pub fn host(&self) -> &str {
        match self {
            Self::Production => PRODUCTION_HOST,
            Self::Sandbox => SANDBOX_HOST,
            Self::Url { host, .. } => host,
        }
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        match self {
            Self::Production | Self::Sandbox => 443,
            Self::Url { port, .. } => *port,
        }
    }

    /// `host:port` as HTTP/2's `:authority` (IPv6 in brackets).
    pub fn authority(&self) -> String {
        let host = self.host();
        if host.contains(':') {
            format!("[{host}]:{}", self.port())
        } else {
            format!("{host}:{}", self.port())
        }
    }
}

impl<'de> Deserialize<'de> for Endpoint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl ApnsSettings {
    /// Checks every field; the error names the first faulty one.
    pub fn validate(&self) -> Result<(), ApnsError> {
        let fail = |field: &'static str, problem: &str| Err(ApnsError::setting(field, problem));
        if self.topic.trim().is_empty() {
            return fail("topic", "the bundle id is required");
        }
        if !(1..=64).contains(&self.connections) {
            return fail("connections", "must be 1 to 64");
        }
        if !(1..=600_000).contains(&self.request_timeout_ms) {
            return fail("request_timeout_ms", "must be 1 to 600000");
        }
        if !(1..=600_000).contains(&self.connect_timeout_ms) {
            return fail("connect_timeout_ms", "must be 1 to 600000");
        }
        if !(1200..=3600).contains(&self.token_refresh_secs) {
            return fail(
                "token_refresh_secs",
                "must be 1200 to 3600 (Apple: no more often than every 20 minutes, no less than every hour)",
            );
        }
        if self.ping_idle_secs == 0 {
            return fail("ping_idle_secs", "must be at least 1");
        }
        let retry = &self.retry;
        if retry.max_retries > 20 {
            return fail("retry.max_retries", "must be at most 20");
        }
        if retry.initial_backoff_ms == 0 {
            return fail("retry.initial_backoff_ms", "must be at least 1");
        }
        if retry.max_backoff_ms < retry.initial_backoff_ms {
            return fail(
                "retry.max_backoff_ms",
                "must be at least initial_backoff_ms",
            );
        }
        if retry.max_unprocessed_resends > 100 {
            return fail("retry.max_unprocessed_resends", "must be at most 100");
        }
        if let ApnsAuth::Token {
            key_id, team_id, ..
        } = &self.auth
        {
            let id_ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
            if !id_ok(key_id) {
                return fail("auth.key_id", "must be the key's id (letters and digits)");
            }
            if !id_ok(team_id) {
                return fail("auth.team_id", "must be the team id (letters and digits)");
            }
        }
        Ok(())
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> ApnsSettings {
        ApnsSettings {
            topic: "com.example.app".into(),
            auth: ApnsAuth::Token {
                key_file: "k.p8".into(),
                key_id: "ABC123DEFG".into(),
                team_id: "TEAM123456".into(),
            },
            ..ApnsSettings::default()
        }
    }

    #[test]
    fn endpoints_parse_by_name_or_url() {
        assert_eq!(
            Endpoint::parse("production").ok(),
            Some(Endpoint::Production)
        );
        assert_eq!(Endpoint::parse("sandbox").ok(), Some(Endpoint::Sandbox));
        let url = Endpoint::parse("https://127.0.0.1:8443").unwrap();
        assert_eq!(url.authority(), "127.0.0.1:8443");
        let v6 = Endpoint::parse("https://[::1]:9").unwrap();
        assert_eq!((v6.host(), v6.authority().as_str()), ("::1", "[::1]:9"));
        assert_eq!(Endpoint::Production.authority(), "api.push.apple.com:443");
        for bad in ["http://x:1", "https://x:1/3/device", "ftp", ""] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn validation_names_the_field() {
        assert!(valid().validate().is_ok());
        type Breaker = fn(&mut ApnsSettings);
        let cases: [(&str, Breaker); 6] = [
            ("topic", |s| s.topic.clear()),
            ("connections", |s| s.connections = 0),
            ("token_refresh_secs", |s| s.token_refresh_secs = 600),
            ("retry.max_backoff_ms", |s| s.retry.max_backoff_ms = 1),
            ("auth.key_id", |s| {
                s.auth = ApnsAuth::Token {
                    key_file: "k".into(),
                    key_id: String::new(),
                    team_id: "T".into(),
                }
            }),
            ("request_timeout_ms", |s| s.request_timeout_ms = 0),
        ];
        for (field, break_it) in cases {
            let mut s = valid();
            break_it(&mut s);
            let err = s.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }

    #[test]
    fn settings_deserialize_with_defaults_and_refuse_unknown_fields() {
        let json = r#"{"endpoint":"sandbox","topic":"com.x","auth":{"kind":"pkcs12","file":"a.p12","password":"hunter2"}}"#;
        let s: ApnsSettings = serde_json::from_str(json).unwrap();
        assert_eq!(s.endpoint, Endpoint::Sandbox);
        assert_eq!(s.token_refresh_secs, 3000);
        assert!(!format!("{s:?}").contains("hunter2"));
        let unknown = r#"{"topic":"com.x","colour":"red"}"#;
        assert!(serde_json::from_str::<ApnsSettings>(unknown).is_err());
    }
}
