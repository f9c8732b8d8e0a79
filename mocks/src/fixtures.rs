//! Credentials for tests and the demo, generated on demand (never committed): an APNs
//! signing key, a Google service account, and an APNs client certificate.
//!
//! Each fixture holds both halves: the private half for the client under test (the `.p8`
//! file, the service-account JSON file, the certificate and key PEM) and the public half
//! the mock verifies with ([`ApnsKey::mock_key`], [`ServiceAccount::mock_account`]).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::Rng;
use serde::Serialize;

use crate::config::{ApnsKeyConfig, KeySource, OAuthAccountConfig};
use crate::error::MockError;

/// Seconds since the epoch, now.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn write(dir: &Path, name: &str, text: &str) -> Result<PathBuf, MockError> {
    std::fs::create_dir_all(dir).map_err(|e| MockError::file(dir, e))?;
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|e| MockError::file(&path, e))?;
    Ok(path)
}

/// An APNs token-signing key (ES256, P-256), as Apple's `AuthKey_<KEYID>.p8` holds it.
#[derive(Clone)]
pub struct ApnsKey {
    /// The 10-character key id (`kid`).
    pub key_id: String,
    /// The team id (`iss`).
    pub team_id: String,
    private_pem: String,
    public_pem: String,
}

impl std::fmt::Debug for ApnsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApnsKey")
            .field("key_id", &self.key_id)
            .field("team_id", &self.team_id)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct ProviderClaims<'a> {
    iss: &'a str,
    iat: i64,
}

impl ApnsKey {
    /// A fresh key.
    pub fn generate(
        key_id: impl Into<String>,
        team_id: impl Into<String>,
    ) -> Result<Self, MockError> {
        let pair =
            rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(MockError::key)?;
        Ok(Self {
            key_id: key_id.into(),
            team_id: team_id.into(),
            private_pem: pair.serialize_pem(),
            public_pem: pair.public_key_pem(),
        })
    }

    /// A key from its `.p8` (PKCS#8 PEM) text.
    pub fn from_p8(
        key_id: impl Into<String>,
        team_id: impl Into<String>,
        p8: &str,
    ) -> Result<Self, MockError> {
        Ok(Self {
            key_id: key_id.into(),
            team_id: team_id.into(),
            public_pem: crate::config::public_pem_of(p8)?,
            private_pem: p8.to_owned(),
        })
    }

    /// The `.p8` text: PKCS#8 PEM of the private key.
    pub fn private_key_pem(&self) -> &str {
        &self.private_pem
    }

    /// The public key, SPKI PEM.
    pub fn public_key_pem(&self) -> &str {
        &self.public_pem
    }

    /// The entry for [`crate::ApnsConfig::keys`] (any topic).
    pub fn mock_key(&self) -> ApnsKeyConfig {
        ApnsKeyConfig {
            key_id: self.key_id.clone(),
            team_id: self.team_id.clone(),
            public_key: KeySource::Pem(self.public_pem.clone()),
            topics: Vec::new(),
        }
    }

    /// A provider token (`{"alg":"ES256","kid"}` / `{"iss","iat"}`) issued at `iat`.
    pub fn provider_token(&self, iat: i64) -> Result<String, MockError> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        let key = EncodingKey::from_ec_pem(self.private_pem.as_bytes()).map_err(MockError::key)?;
        let claims = ProviderClaims {
            iss: &self.team_id,
            iat,
        };
        jsonwebtoken::encode(&header, &claims, &key).map_err(MockError::key)
    }

    /// A provider token issued now.
    pub fn provider_token_now(&self) -> Result<String, MockError> {
        self.provider_token(now_secs())
    }

    /// Writes `AuthKey_<KEYID>.p8` into `dir`; returns its path.
    pub fn write_p8(&self, dir: &Path) -> Result<PathBuf, MockError> {
        write(
            dir,
            &format!("AuthKey_{}.p8", self.key_id),
            &self.private_pem,
        )
    }
}

/// A Google service account with an RSA 2048 key, as its JSON key file holds it (§3.4).
#[derive(Clone)]
pub struct ServiceAccount {
    /// `client_email` (the assertion's `iss`).
    pub client_email: String,
    /// `project_id`: the Firebase project its tokens may send to.
    pub project_id: String,
    /// `private_key_id` (the assertion's `kid`): 40 hex characters.
    pub private_key_id: String,
    /// `token_uri`: where the client asks for access tokens.
    pub token_uri: String,
    private_pem: String,
    public_pem: String,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("project_id", &self.project_id)
            .field("private_key_id", &self.private_key_id)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

impl ServiceAccount {
    /// A fresh account with a new RSA 2048 key.
    pub fn generate(
        client_email: impl Into<String>,
        project_id: impl Into<String>,
        token_uri: impl Into<String>,
    ) -> Result<Self, MockError> {
        let pair =
            rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
                .map_err(MockError::key)?;
        let id: [u8; 20] = rand::rng().random();
        Ok(Self {
            client_email: client_email.into(),
            project_id: project_id.into(),
            private_key_id: id.iter().map(|b| format!("{b:02x}")).collect(),
            token_uri: token_uri.into(),
            private_pem: pair.serialize_pem(),
            public_pem: pair.public_key_pem(),
        })
    }

    /// The private key, PKCS#8 PEM.
    pub fn private_key_pem(&self) -> &str {
        &self.private_pem
    }

    /// The public key, SPKI PEM.
    pub fn public_key_pem(&self) -> &str {
        &self.public_pem
    }

    /// The entry for [`crate::OAuthConfig::accounts`].
    pub fn mock_account(&self) -> OAuthAccountConfig {
        OAuthAccountConfig {
            client_email: self.client_email.clone(),
            private_key_id: self.private_key_id.clone(),
            project_id: self.project_id.clone(),
            public_key: KeySource::Pem(self.public_pem.clone()),
            disabled: false,
        }
    }

    /// The JSON key file text, with every field of protocols.md §3.4.
    pub fn key_file_json(&self) -> String {
        let client_id: u128 = rand::rng().random_range(10u128.pow(20)..10u128.pow(21));
        let json = serde_json::json!({
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": self.private_key_id,
            "private_key": self.private_pem,
            "client_email": self.client_email,
            "client_id": client_id.to_string(),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": format!(
                "https://www.googleapis.com/robot/v1/metadata/x509/{}",
                self.client_email.replace('@', "%40")
            ),
            "universe_domain": "googleapis.com",
        });
        serde_json::to_string_pretty(&json).unwrap_or_default()
    }

    /// Writes the JSON key file as `<dir>/<name>`; returns its path.
    pub fn write_key_file(&self, dir: &Path, name: &str) -> Result<PathBuf, MockError> {
        write(dir, name, &self.key_file_json())
    }

    /// An RS256 assertion with `kid`, for any claims (tests use it to break them).
    pub fn assertion_with(
        &self,
        aud: &str,
        scope: &str,
        iat: i64,
        exp: i64,
    ) -> Result<String, MockError> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.private_key_id.clone());
        let key = EncodingKey::from_rsa_pem(self.private_pem.as_bytes()).map_err(MockError::key)?;
        let claims = AssertionClaims {
            iss: &self.client_email,
            scope,
            aud,
            iat,
            exp,
        };
        jsonwebtoken::encode(&header, &claims, &key).map_err(MockError::key)
    }

    /// A valid assertion for the FCM scope, issued now, for one hour, to `token_uri`.
    pub fn assertion(&self) -> Result<String, MockError> {
        let now = now_secs();
        let scope = pushgate_outcome::oauth::FCM_SCOPE;
        self.assertion_with(&self.token_uri, scope, now, now + 3600)
    }
}

/// An APNs client certificate issued by the mock CA (see
/// [`crate::MockCa::issue_client_cert`]).
#[derive(Clone)]
pub struct ClientCert {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PKCS#8 PEM.
    pub key_pem: String,
    /// The bundle id the certificate names (its `UID`).
    pub bundle_id: String,
}

impl std::fmt::Debug for ClientCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCert")
            .field("bundle_id", &self.bundle_id)
            .finish_non_exhaustive()
    }
}

impl ClientCert {
    /// Certificate then key, PEM: what `reqwest::Identity::from_pem` takes.
    pub fn identity_pem(&self) -> String {
        format!("{}{}", self.cert_pem, self.key_pem)
    }

    /// Writes `<stem>.crt.pem` and `<stem>.key.pem` into `dir`; returns both paths.
    pub fn write_to(&self, dir: &Path, stem: &str) -> Result<(PathBuf, PathBuf), MockError> {
        let cert = write(dir, &format!("{stem}.crt.pem"), &self.cert_pem)?;
        let key = write(dir, &format!("{stem}.key.pem"), &self.key_pem)?;
        Ok((cert, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apns_keys_sign_tokens_their_public_half_verifies() {
        let key = ApnsKey::generate("ABC123DEFG", "TEAM123456").unwrap();
        assert!(
            key.private_key_pem()
                .starts_with("-----BEGIN PRIVATE KEY-----")
        );
        let token = key.provider_token(1_700_000_000).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::ES256);
        assert_eq!(header.kid.as_deref(), Some("ABC123DEFG"));
        let again = ApnsKey::from_p8("ABC123DEFG", "TEAM123456", key.private_key_pem()).unwrap();
        assert_eq!(again.public_key_pem(), key.public_key_pem());
        assert!(!format!("{key:?}").contains("PRIVATE"));
    }

    #[test]
    fn service_account_files_have_every_field() {
        let sa = ServiceAccount::generate("a@p.iam.gserviceaccount.com", "p", "https://x/token")
            .unwrap();
        let json: serde_json::Value = serde_json::from_str(&sa.key_file_json()).unwrap();
        for field in [
            "type",
            "project_id",
            "private_key_id",
            "private_key",
            "client_email",
            "client_id",
            "auth_uri",
            "token_uri",
            "auth_provider_x509_cert_url",
            "client_x509_cert_url",
            "universe_domain",
        ] {
            assert!(json.get(field).is_some(), "{field}");
        }
        assert_eq!(sa.private_key_id.len(), 40);
        let header = jsonwebtoken::decode_header(sa.assertion().unwrap()).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
    }
}
