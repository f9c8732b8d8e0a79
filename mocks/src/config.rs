//! The mocks' configuration: listeners, TLS, keys, accounts, scenarios and faults.
//!
//! [`MockConfig`] is both the library's start-up argument and the binary's TOML file
//! (`--config`). Durations are humantime strings (`"20m"`, `"250ms"`) in files and
//! [`Duration`]s in code.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::MockError;
use crate::faults::Faults;
use crate::script::Rule;

/// Everything the mocks need to start. `MockConfig::default()` binds every listener to
/// `127.0.0.1:0`, generates a CA and a server certificate, and has no keys, no accounts,
/// no scenarios and no faults.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MockConfig {
    /// Address of the mock APNs (HTTP/2 over TLS, ALPN `h2` only).
    pub apns_listen: SocketAddr,
    /// Address of the mock FCM v1 (HTTP/2 over TLS, ALPN `h2` only).
    pub fcm_listen: SocketAddr,
    /// Address of the mock OAuth token endpoint (TLS, HTTP/2 or HTTP/1.1).
    pub oauth_listen: SocketAddr,
    /// Address of the plain-HTTP admin API (`/_mock/...`).
    pub admin_listen: SocketAddr,
    /// Where the CA and the server certificate come from.
    pub tls: TlsConfig,
    /// `SETTINGS_MAX_CONCURRENT_STREAMS` advertised by the APNs and FCM mocks. Apple's
    /// value varies; 1000 lets a client show how far it pushes concurrency.
    pub max_concurrent_streams: u32,
    /// The ring buffer of recent requests behind `/_mock/requests`.
    pub request_log: RequestLogConfig,
    /// Whether 200s are counted per token (`deliveries` in `/_mock/stats`). A benchmark
    /// that sends to many distinct tokens may turn it off: each new token is a new entry,
    /// which a load on one token, as h2load's, never pays for.
    pub count_deliveries: bool,
    /// Provider-token rules and the keys the APNs mock verifies with.
    pub apns: ApnsConfig,
    /// Token lifetime and the service accounts the OAuth mock verifies with.
    pub oauth: OAuthConfig,
    /// Scripted answers installed at start.
    pub scenarios: Vec<Rule>,
    /// Global faults in force at start.
    pub faults: Faults,
}

impl Default for MockConfig {
    fn default() -> Self {
        let local = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        Self {
            apns_listen: local,
            fcm_listen: local,
            oauth_listen: local,
            admin_listen: local,
            tls: TlsConfig::default(),
            max_concurrent_streams: 1000,
            request_log: RequestLogConfig::default(),
            count_deliveries: true,
            apns: ApnsConfig::default(),
            oauth: OAuthConfig::default(),
            scenarios: Vec::new(),
            faults: Faults::default(),
        }
    }
}

impl MockConfig {
    /// Parses a TOML configuration.
    pub fn from_toml_str(text: &str) -> Result<Self, MockError> {
        toml::from_str(text).map_err(|e| MockError::Config(e.to_string()))
    }

    /// Reads and parses a TOML configuration file. Relative key and certificate paths in
    /// it are taken relative to the file's folder.
    pub fn load(path: &Path) -> Result<Self, MockError> {
        let text = std::fs::read_to_string(path).map_err(|e| MockError::file(path, e))?;
        let mut config = Self::from_toml_str(&text)?;
        if let Some(dir) = path.parent() {
            config.rebase(dir);
        }
        Ok(config)
    }

    /// Makes every relative path in the configuration relative to `dir`.
    fn rebase(&mut self, dir: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                // `ca_dir = "."` means the config's own folder, not `<folder>/.`.
                let relative = p.strip_prefix(".").unwrap_or(p).to_path_buf();
                *p = dir.join(relative);
            }
        };
        let tls = &mut self.tls;
        for p in [
            &mut tls.ca_dir,
            &mut tls.cert_file,
            &mut tls.key_file,
            &mut tls.ca_file,
            &mut tls.ca_key_file,
        ]
        .into_iter()
        .flatten()
        {
            fix(p);
        }
        for key in &mut self.apns.keys {
            if let KeySource::File(p) = &mut key.public_key {
                fix(p);
            }
        }
        for account in &mut self.oauth.accounts {
            if let KeySource::File(p) = &mut account.public_key {
                fix(p);
            }
        }
        self.oauth.service_account_files.iter_mut().for_each(fix);
    }
}

/// Where the TLS material comes from. By default a CA and a server certificate (for
/// `127.0.0.1`, `::1` and `localhost`) are generated at start.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// Folder where `ca.pem` is written for clients to trust. Without it a fresh
    /// temporary folder is used and removed at shutdown.
    pub ca_dir: Option<PathBuf>,
    /// Server certificate chain (PEM) to load instead of generating one.
    pub cert_file: Option<PathBuf>,
    /// Private key (PEM) of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// CA certificate (PEM) that issued `cert_file`; also the root client certificates
    /// must chain to for APNs certificate authentication.
    pub ca_file: Option<PathBuf>,
    /// Private key of `ca_file`, needed only to issue client certificates at run time.
    pub ca_key_file: Option<PathBuf>,
    /// Extra DNS names or IP addresses for the generated server certificate.
    pub server_names: Vec<String>,
}

/// The ring buffer of recent requests.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RequestLogConfig {
    /// Whether requests are recorded at all (benchmarks may turn it off).
    pub enabled: bool,
    /// How many recent requests are kept; older ones are dropped.
    pub capacity: usize,
}

impl Default for RequestLogConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            capacity: 1024,
        }
    }
}

/// APNs provider-token rules and verification keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApnsConfig {
    /// A new provider token sooner than this after the previous one was first accepted
    /// on the same connection gets 429 TooManyProviderTokenUpdates. Apple: 20 minutes;
    /// tests shorten it.
    #[serde(with = "duration")]
    pub token_update_interval: Duration,
    /// A provider token whose `iat` is older than this gets 403 ExpiredProviderToken.
    #[serde(with = "duration")]
    pub provider_token_max_age: Duration,
    /// The signing keys (public halves) the mock verifies provider tokens with.
    pub keys: Vec<ApnsKeyConfig>,
}

impl Default for ApnsConfig {
    fn default() -> Self {
        Self {
            token_update_interval: Duration::from_secs(20 * 60),
            provider_token_max_age: Duration::from_secs(60 * 60),
            keys: Vec::new(),
        }
    }
}

/// One APNs signing key, as the mock knows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApnsKeyConfig {
    /// The 10-character key id (`kid` of the provider token).
    pub key_id: String,
    /// The team the key belongs to (`iss` of the provider token).
    pub team_id: String,
    /// The public key; a `.p8` private key file works too (its public half is used).
    pub public_key: KeySource,
    /// Topics this key may push to; empty means any topic (Apple's keys are team-wide).
    /// A topic outside a non-empty list gets 400 TopicDisallowed.
    #[serde(default)]
    pub topics: Vec<String>,
}

/// Token lifetime and service accounts of the OAuth mock.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OAuthConfig {
    /// Lifetime of the access tokens issued (`expires_in`). Google: 3599 s; tests use a
    /// second or two to exercise refresh.
    #[serde(with = "duration")]
    pub access_token_lifetime: Duration,
    /// How far in the future an assertion's `iat` may be (clock skew).
    #[serde(with = "duration")]
    pub clock_skew: Duration,
    /// Service accounts, given by their public halves.
    pub accounts: Vec<OAuthAccountConfig>,
    /// Service-account JSON key files (§3.4); their public halves are registered.
    pub service_account_files: Vec<PathBuf>,
    /// Audiences accepted besides the mock's own token URL (e.g. Google's real one).
    pub extra_audiences: Vec<String>,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        Self {
            access_token_lifetime: Duration::from_secs(3599),
            clock_skew: Duration::from_secs(60),
            accounts: Vec::new(),
            service_account_files: Vec::new(),
            extra_audiences: Vec::new(),
        }
    }
}

/// One Google service account, as the mock knows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthAccountConfig {
    /// The account (`iss` of the assertion).
    pub client_email: String,
    /// The key id (`kid` of the assertion header).
    pub private_key_id: String,
    /// The Firebase project the account's access tokens may send to.
    pub project_id: String,
    /// The RSA public key; the PEM private key works too.
    pub public_key: KeySource,
    /// A disabled account gets 401 disabled_client.
    #[serde(default)]
    pub disabled: bool,
}

/// A PEM key given inline or by file. A private key is accepted wherever a public key is
/// expected: its public half is used.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum KeySource {
    /// The PEM text.
    Pem(String),
    /// A PEM file.
    File(PathBuf),
}

impl KeySource {
    /// The public key as SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn public_pem(&self) -> Result<String, MockError> {
        let pem = match self {
            Self::Pem(pem) => pem.clone(),
            Self::File(path) => {
                std::fs::read_to_string(path).map_err(|e| MockError::file(path, e))?
            }
        };
        public_pem_of(&pem)
    }
}

/// The SPKI public-key PEM of a public or private key PEM.
pub(crate) fn public_pem_of(pem: &str) -> Result<String, MockError> {
    if pem.contains("PRIVATE KEY-----") {
        let pair = rcgen::KeyPair::from_pem(pem).map_err(MockError::key)?;
        Ok(pair.public_key_pem())
    } else if pem.contains("-----BEGIN PUBLIC KEY-----") {
        Ok(pem.to_owned())
    } else {
        Err(MockError::key("expected a PEM public or private key"))
    }
}

/// Serde for [`Duration`] as humantime strings (`"1h"`, `"250ms"`).
pub(crate) mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `"1h 20m"`-style text.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    /// Reads `"20m"`, `"2s"` or `"1s 500ms"`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text)
            .map_err(|e| serde::de::Error::custom(format!("invalid duration {text:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_bind_port_zero_and_parse_empty_toml() {
        let config = MockConfig::from_toml_str("").unwrap();
        assert_eq!(config.apns_listen.port(), 0);
        assert_eq!(config.max_concurrent_streams, 1000);
        assert_eq!(config.apns.token_update_interval, Duration::from_secs(1200));
        assert_eq!(
            config.oauth.access_token_lifetime,
            Duration::from_secs(3599)
        );
    }

    #[test]
    fn unknown_fields_and_bad_durations_are_refused() {
        let err = MockConfig::from_toml_str("bogus = 1").unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
        let err =
            MockConfig::from_toml_str("[apns]\ntoken_update_interval = \"soon\"").unwrap_err();
        assert!(err.to_string().contains("invalid duration"), "{err}");
    }

    #[test]
    fn the_readme_example_is_a_valid_config() {
        let readme = include_str!("../README.md");
        let block = &readme[readme.find("<!-- example-config -->").unwrap()..];
        let start = block.find("```toml\n").unwrap() + "```toml\n".len();
        let end = start + block[start..].find("```").unwrap();
        let config = MockConfig::from_toml_str(&block[start..end]).unwrap();
        assert_eq!(config.scenarios.len(), 3);
        for rule in &config.scenarios {
            rule.validate().unwrap();
        }
        assert_eq!(config.oauth.accounts.len(), 1);
        config.faults.resolve(std::time::SystemTime::now()).unwrap();
    }

    #[test]
    fn relative_paths_follow_the_config_file() {
        let mut config = MockConfig::from_toml_str(
            "[[apns.keys]]\nkey_id = \"K\"\nteam_id = \"T\"\npublic_key = { file = \"k.p8\" }",
        )
        .unwrap();
        config.rebase(Path::new("/etc/mock"));
        match &config.apns.keys[0].public_key {
            KeySource::File(p) => assert_eq!(p, Path::new("/etc/mock/k.p8")),
            other => panic!("{other:?}"),
        }
    }
}
