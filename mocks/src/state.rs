//! The state every listener shares: verification keys, service accounts, issued access
//! tokens, scenarios, faults, counters and the request log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use base64::Engine;
use jsonwebtoken::DecodingKey;
use rand::Rng;

use crate::Service;
use crate::config::{ApnsKeyConfig, KeySource, MockConfig, OAuthAccountConfig};
use crate::error::MockError;
use crate::faults::FaultState;
use crate::record::{Entry, RequestLog};
use crate::script::RuleTable;
use crate::stats::Stats;
use crate::tls::MockCa;

/// Issued tokens are kept this long after they expire, so that a late request is told
/// "expired" rather than "unknown".
const EXPIRED_TOKENS_KEPT: Duration = Duration::from_secs(3600);
/// Above this many issued tokens, long-expired ones are pruned.
const ISSUED_PRUNE_AT: usize = 10_000;

/// An APNs verification key.
pub(crate) struct ApnsKeyEntry {
    pub team_id: String,
    pub decoding: DecodingKey,
    /// Allowed topics; empty: any.
    pub topics: Vec<String>,
}

/// A service account as the OAuth mock knows it.
pub(crate) struct Account {
    pub private_key_id: String,
    pub project_id: String,
    pub decoding: DecodingKey,
    pub disabled: bool,
}

/// An access token the OAuth mock issued.
#[derive(Debug, Clone)]
pub(crate) struct Issued {
    pub project_id: String,
    pub expires_at: SystemTime,
}

/// What the FCM mock learns from a bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenCheck {
    /// Issued and not expired, for this project.
    Valid { project_id: String },
    /// Issued, but expired.
    Expired,
    /// Never issued here.
    Unknown,
}

/// Settings read on the request path.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub token_update_interval: Duration,
    pub provider_token_max_age: Duration,
    pub access_token_lifetime: Duration,
    pub clock_skew: Duration,
    /// Accepted assertion audiences: the mock's own token URLs and the extra ones.
    pub audiences: Vec<String>,
}

/// Everything shared.
pub(crate) struct Shared {
    pub settings: Settings,
    pub ca: MockCa,
    pub apns_keys: RwLock<HashMap<String, Arc<ApnsKeyEntry>>>,
    pub accounts: RwLock<HashMap<String, Arc<Account>>>,
    pub issued: Mutex<HashMap<String, Issued>>,
    pub rules: RuleTable,
    pub faults: FaultState,
    pub stats: Stats,
    pub log: RequestLog,
}

impl Shared {
    pub(crate) fn new(
        config: &MockConfig,
        ca: MockCa,
        audiences: Vec<String>,
    ) -> Result<Self, MockError> {
        let shared = Self {
            settings: Settings {
                token_update_interval: config.apns.token_update_interval,
                provider_token_max_age: config.apns.provider_token_max_age,
                access_token_lifetime: config.oauth.access_token_lifetime,
                clock_skew: config.oauth.clock_skew,
                audiences,
            },
            ca,
            apns_keys: RwLock::default(),
            accounts: RwLock::default(),
            issued: Mutex::default(),
            rules: RuleTable::default(),
            faults: FaultState::default(),
            stats: Stats::new(config.count_deliveries),
            log: RequestLog::new(config.request_log.enabled, config.request_log.capacity),
        };
        for key in &config.apns.keys {
            shared.add_apns_key(key)?;
        }
        for account in &config.oauth.accounts {
            shared.add_account(account)?;
        }
        for file in &config.oauth.service_account_files {
            shared.add_account(&account_from_key_file(file)?)?;
        }
        shared.rules.add(config.scenarios.clone())?;
        shared.faults.set(config.faults.clone())?;
        Ok(shared)
    }

    /// Registers (or replaces) an APNs verification key.
    pub(crate) fn add_apns_key(&self, key: &ApnsKeyConfig) -> Result<(), MockError> {
        if key.key_id.is_empty() || key.team_id.is_empty() {
            return Err(MockError::key("an APNs key needs key_id and team_id"));
        }
        let pem = key.public_key.public_pem()?;
        let decoding = DecodingKey::from_ec_pem(pem.as_bytes())
            .map_err(|e| MockError::key(format!("APNs key {}: {e}", key.key_id)))?;
        let entry = ApnsKeyEntry {
            team_id: key.team_id.clone(),
            decoding,
            topics: key.topics.clone(),
        };
        write(&self.apns_keys).insert(key.key_id.clone(), Arc::new(entry));
        Ok(())
    }

    /// Registers (or replaces) a service account.
    pub(crate) fn add_account(&self, account: &OAuthAccountConfig) -> Result<(), MockError> {
        if account.client_email.is_empty() || account.project_id.is_empty() {
            return Err(MockError::key(
                "an account needs client_email and project_id",
            ));
        }
        let pem = account.public_key.public_pem()?;
        let decoding = DecodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|e| MockError::key(format!("account {}: {e}", account.client_email)))?;
        let entry = Account {
            private_key_id: account.private_key_id.clone(),
            project_id: account.project_id.clone(),
            decoding,
            disabled: account.disabled,
        };
        write(&self.accounts).insert(account.client_email.clone(), Arc::new(entry));
        Ok(())
    }

    pub(crate) fn apns_key(&self, kid: &str) -> Option<Arc<ApnsKeyEntry>> {
        read(&self.apns_keys).get(kid).cloned()
    }

    pub(crate) fn account(&self, client_email: &str) -> Option<Arc<Account>> {
        read(&self.accounts).get(client_email).cloned()
    }

    /// Issues an access token for `project_id`; returns it with its lifetime.
    pub(crate) fn issue_token(&self, project_id: &str, now: SystemTime) -> (String, Duration) {
        let lifetime = self.settings.access_token_lifetime;
        let random: [u8; 48] = rand::rng().random();
        let token = format!(
            "ya29.mock-{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
        );
        let mut issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        if issued.len() >= ISSUED_PRUNE_AT {
            issued.retain(|_, t| t.expires_at + EXPIRED_TOKENS_KEPT > now);
        }
        let entry = Issued {
            project_id: project_id.to_owned(),
            expires_at: now + lifetime,
        };
        issued.insert(token.clone(), entry);
        self.stats.token_issued();
        (token, lifetime)
    }

    /// What `token` is worth now.
    pub(crate) fn check_token(&self, token: &str, now: SystemTime) -> TokenCheck {
        let issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        match issued.get(token) {
            None => TokenCheck::Unknown,
            Some(t) if t.expires_at <= now => TokenCheck::Expired,
            Some(t) => TokenCheck::Valid {
                project_id: t.project_id.clone(),
            },
        }
    }

    /// Records a request in the log, if the log is on.
    pub(crate) fn record(&self, entry: impl FnOnce() -> Entry) {
        if self.log.enabled() {
            self.log.push(entry());
        }
    }

    /// Counts one answer (see [`Stats::answered`]).
    pub(crate) fn answered(&self, service: Service, status: Option<u16>, reason: &str) {
        self.stats.answered(service, status, reason);
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

/// The account described by a service-account JSON key file.
fn account_from_key_file(path: &std::path::Path) -> Result<OAuthAccountConfig, MockError> {
    let text = std::fs::read_to_string(path).map_err(|e| MockError::file(path, e))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| MockError::key(format!("{}: {e}", path.display())))?;
    let field = |name: &str| {
        json.get(name)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| MockError::key(format!("{}: no {name}", path.display())))
    };
    Ok(OAuthAccountConfig {
        client_email: field("client_email")?,
        private_key_id: field("private_key_id")?,
        project_id: field("project_id")?,
        public_key: KeySource::Pem(field("private_key")?),
        disabled: false,
    })
}
