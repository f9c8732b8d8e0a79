//! [`FcmSettings`]: the FCM sender's configuration section, with production defaults.
//!
//! Durations carry their unit in the field name. Every field has a default except the
//! key file; [`FcmSettings::validate`] names the field that is out of range.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::FcmError;

/// FCM's production base URL.
pub const DEFAULT_BASE_URL: &str = "https://fcm.googleapis.com";

/// The FCM sender's settings (`[fcm]` in the application's configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FcmSettings {
    /// The service account's JSON key file (`protocols.md` §3.4). Required.
    pub service_account_file: PathBuf,
    /// The Firebase project to send for; default: the key file's `project_id`.
    pub project_id: Option<String>,
    /// The OAuth token endpoint; default: the key file's `token_uri`. Tests point it at
    /// the mock.
    pub token_uri: Option<String>,
    /// FCM's base URL; default [`DEFAULT_BASE_URL`]. Tests point it at the mock.
    pub base_url: Option<String>,
    /// A PEM file of extra trust roots (e.g. a test CA), added to the public web roots.
    pub trust_roots: Option<PathBuf>,
    /// How long a TCP and TLS connection set-up may take.
    pub connect_timeout_ms: u64,
    /// How long one send may take, from the request to the last byte of the answer.
    /// Running out is `fcm.service_unavailable`.
    pub request_timeout_ms: u64,
    /// HTTP/2 connections to FCM. Each carries many concurrent streams; more than one
    /// spreads the TLS work over several connection tasks (and cores).
    pub connections: usize,
    /// HTTP/2 keep-alive PING interval, which finds dead connections before a send
    /// does; 0 turns it off.
    pub keep_alive_interval_secs: u64,
    /// Retries of 429, 500 and 503 answers inside the sender.
    pub retry: RetrySettings,
    /// The OAuth access-token source.
    pub token: TokenSettings,
}

impl Default for FcmSettings {
    fn default() -> Self {
        Self {
            service_account_file: PathBuf::new(),
            project_id: None,
            token_uri: None,
            base_url: None,
            trust_roots: None,
            connect_timeout_ms: 5_000,
            request_timeout_ms: 10_000,
            connections: 4,
            keep_alive_interval_secs: 30,
            retry: RetrySettings::default(),
            token: TokenSettings::default(),
        }
    }
}

/// How the sender retries 429, 500 and 503 (exponential backoff with jitter, never
/// sooner than `Retry-After`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrySettings {
    /// Retries after the first attempt; 0 hands every 429/5xx over at once.
    pub max_retries: u32,
    /// The first backoff; doubled at each retry, with jitter.
    pub initial_backoff_ms: u64,
    /// The longest computed backoff.
    pub max_backoff_ms: u64,
    /// The first wait after QUOTA_EXCEEDED is at least this long: Google asks for one
    /// minute.
    pub quota_min_backoff_secs: u64,
    /// The longest single wait the sender accepts. A `Retry-After` beyond it is not
    /// waited for: the result goes back to the caller with its `retry_after`.
    pub max_wait_secs: u64,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_retries: 3,
            initial_backoff_ms: 500,
            max_backoff_ms: 30_000,
            quota_min_backoff_secs: 60,
            max_wait_secs: 120,
        }
    }
}

/// How access tokens are obtained and kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenSettings {
    /// Refresh this long before the token expires (Google: 3599 s lifetimes; clients
    /// refresh a few minutes ahead). Shortened to a quarter of the lifetime for short
    /// lifetimes, so a 2 s token is refreshed after 1.5 s.
    pub refresh_margin_secs: u64,
    /// How long one token request may take.
    pub timeout_ms: u64,
    /// Retries of a retryable token-endpoint failure (`protocols.md` §3.3) within one
    /// refresh.
    pub max_retries: u32,
    /// The first backoff between token requests; doubled at each retry, with jitter.
    /// After a failed refresh, the next one waits as long (doubling with each failed
    /// refresh in a row), so an OAuth outage does not turn into a request storm.
    pub initial_backoff_ms: u64,
    /// The longest backoff between token requests.
    pub max_backoff_ms: u64,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            refresh_margin_secs: 300,
            timeout_ms: 10_000,
            max_retries: 3,
            initial_backoff_ms: 250,
            max_backoff_ms: 30_000,
        }
    }
}

/// Longest accepted timeout or backoff, in milliseconds (an hour).
const MAX_MS: u64 = 3_600_000;

fn check_ms(field: &'static str, value: u64) -> Result<(), FcmError> {
    if value == 0 || value > MAX_MS {
        return Err(FcmError::setting(
            field,
            format!("{value} ms is outside 1..={MAX_MS}"),
        ));
    }
    Ok(())
}

impl FcmSettings {
    /// Checks every field; the error names the first one out of range.
    pub fn validate(&self) -> Result<(), FcmError> {
        if self.service_account_file.as_os_str().is_empty() {
            return Err(FcmError::setting(
                "service_account_file",
                "is required (the service account's JSON key file)",
            ));
        }
        if self.project_id.as_deref().is_some_and(str::is_empty) {
            return Err(FcmError::setting("project_id", "is empty"));
        }
        check_ms("connect_timeout_ms", self.connect_timeout_ms)?;
        check_ms("request_timeout_ms", self.request_timeout_ms)?;
        if !(1..=64).contains(&self.connections) {
            return Err(FcmError::setting("connections", "must be 1 to 64"));
        }
        if self.keep_alive_interval_secs > 3600 {
            return Err(FcmError::setting(
                "keep_alive_interval_secs",
                "must be at most 3600",
            ));
        }
        let retry = &self.retry;
        if retry.max_retries > 10 {
            return Err(FcmError::setting("retry.max_retries", "must be at most 10"));
        }
        check_ms("retry.initial_backoff_ms", retry.initial_backoff_ms)?;
        check_ms("retry.max_backoff_ms", retry.max_backoff_ms)?;
        if retry.max_backoff_ms < retry.initial_backoff_ms {
            return Err(FcmError::setting(
                "retry.max_backoff_ms",
                "must be at least retry.initial_backoff_ms",
            ));
        }
        if retry.max_wait_secs == 0 || retry.max_wait_secs > 3600 {
            return Err(FcmError::setting(
                "retry.max_wait_secs",
                "must be 1 to 3600",
            ));
        }
        if retry.quota_min_backoff_secs > retry.max_wait_secs {
            return Err(FcmError::setting(
                "retry.quota_min_backoff_secs",
                "must be at most retry.max_wait_secs",
            ));
        }
        let token = &self.token;
        if token.refresh_margin_secs > 3600 {
            return Err(FcmError::setting(
                "token.refresh_margin_secs",
                "must be at most 3600",
            ));
        }
        check_ms("token.timeout_ms", token.timeout_ms)?;
        if token.max_retries > 10 {
            return Err(FcmError::setting("token.max_retries", "must be at most 10"));
        }
        check_ms("token.initial_backoff_ms", token.initial_backoff_ms)?;
        check_ms("token.max_backoff_ms", token.max_backoff_ms)?;
        if token.max_backoff_ms < token.initial_backoff_ms {
            return Err(FcmError::setting(
                "token.max_backoff_ms",
                "must be at least token.initial_backoff_ms",
            ));
        }
        Ok(())
    }

    /// The connect timeout.
    pub(crate) fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// The request timeout.
    pub(crate) fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> FcmSettings {
        FcmSettings {
            service_account_file: "sa.json".into(),
            ..FcmSettings::default()
        }
    }

    #[test]
    fn defaults_are_valid_once_the_key_file_is_named() {
        assert!(valid().validate().is_ok());
        let err = FcmSettings::default().validate().unwrap_err();
        assert!(err.to_string().contains("service_account_file"), "{err}");
    }

    #[test]
    fn errors_name_the_field() {
        type Breaker = Box<dyn Fn(&mut FcmSettings)>;
        let cases: Vec<(&str, Breaker)> = vec![
            ("request_timeout_ms", Box::new(|s| s.request_timeout_ms = 0)),
            ("connections", Box::new(|s| s.connections = 0)),
            (
                "retry.max_backoff_ms",
                Box::new(|s| s.retry.max_backoff_ms = 1),
            ),
            (
                "retry.quota_min_backoff_secs",
                Box::new(|s| s.retry.quota_min_backoff_secs = 500),
            ),
            ("token.timeout_ms", Box::new(|s| s.token.timeout_ms = 0)),
            (
                "project_id",
                Box::new(|s| s.project_id = Some(String::new())),
            ),
        ];
        for (field, break_it) in cases {
            let mut settings = valid();
            break_it(&mut settings);
            let err = settings.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }

    #[test]
    fn parses_from_toml_like_json_and_refuses_unknown_fields() {
        let json = r#"{"service_account_file":"k.json","retry":{"max_retries":1}}"#;
        let settings: FcmSettings = serde_json::from_str(json).unwrap();
        assert_eq!(settings.retry.max_retries, 1);
        assert_eq!(settings.retry.quota_min_backoff_secs, 60);
        let unknown = r#"{"service_account_file":"k.json","retries":1}"#;
        assert!(serde_json::from_str::<FcmSettings>(unknown).is_err());
    }
}
