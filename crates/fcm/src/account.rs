//! The service account: its JSON key file (`protocols.md` §3.4) and its signing key.
//!
//! The private key is checked at load (RSA, PKCS#8 PEM, able to sign RS256) and kept
//! only as a signing key whose `Debug` is redacted; its text never reaches an error or a
//! log line.

use std::path::{Path, PathBuf};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::FcmError;

/// The RS256 key of the service account; `Debug` never shows it.
pub(crate) struct SigningKey(EncodingKey);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey([redacted])")
    }
}

/// A loaded service account.
#[derive(Debug)]
pub(crate) struct ServiceAccount {
    /// The account (`iss` of the assertions).
    pub client_email: String,
    /// The key id (`kid` of the assertions), when the file has one.
    pub private_key_id: Option<String>,
    /// The file's `project_id`.
    pub project_id: Option<String>,
    /// The file's `token_uri`.
    pub token_uri: Option<String>,
    key: SigningKey,
}

/// The claims of an assertion (`protocols.md` §3.1).
#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

/// A string field of the key file: `None` when absent, an error when not a string.
fn string_field(
    path: &Path,
    object: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, FcmError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(FcmError::KeyFile {
            path: path.to_path_buf(),
            reason: format!("field `{field}` is not a string"),
        }),
    }
}

impl ServiceAccount {
    /// Reads and checks the key file.
    pub fn load(path: &Path) -> Result<Self, FcmError> {
        let text = std::fs::read_to_string(path).map_err(|source| FcmError::File {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, SecretString::from(text))
    }

    /// Parses the key file's text; `path` only names the file in errors.
    pub fn parse(path: &Path, text: SecretString) -> Result<Self, FcmError> {
        let key_file = |reason: String| FcmError::KeyFile {
            path: path.to_path_buf(),
            reason,
        };
        // serde_json's errors give a line and column, never the text around them.
        let value: Value = serde_json::from_str(text.expose_secret())
            .map_err(|e| key_file(format!("not JSON ({e})")))?;
        drop(text);
        let Value::Object(mut object) = value else {
            return Err(key_file("not a JSON object".into()));
        };
        let kind = string_field(path, &object, "type")?;
        if let Some(kind) = kind.filter(|k| k != "service_account") {
            return Err(key_file(format!(
                "field `type` is {kind:?}, expected \"service_account\""
            )));
        }
        let required = |field: &'static str, value: Option<String>| {
            value.ok_or_else(|| FcmError::MissingField {
                path: path.to_path_buf(),
                field,
            })
        };
        let client_email = required("client_email", string_field(path, &object, "client_email")?)?;
        let pem = match object.remove("private_key") {
            Some(Value::String(pem)) if !pem.trim().is_empty() => SecretString::from(pem),
            Some(Value::String(_)) | Some(Value::Null) | None => {
                return Err(FcmError::MissingField {
                    path: path.to_path_buf(),
                    field: "private_key",
                });
            }
            Some(_) => return Err(key_file("field `private_key` is not a string".into())),
        };
        let key = signing_key(path, &pem)?;
        Ok(Self {
            client_email,
            private_key_id: string_field(path, &object, "private_key_id")?,
            project_id: string_field(path, &object, "project_id")?,
            token_uri: string_field(path, &object, "token_uri")?,
            key,
        })
    }

    /// Signs an RS256 assertion for `scope` and audience `aud`, valid from `iat` for
    /// `lifetime_secs`.
    pub fn assertion(
        &self,
        scope: &str,
        aud: &str,
        iat: i64,
        lifetime_secs: i64,
    ) -> Result<SecretString, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = self.private_key_id.clone();
        let claims = Claims {
            iss: &self.client_email,
            scope,
            aud,
            iat,
            exp: iat + lifetime_secs,
        };
        jsonwebtoken::encode(&header, &claims, &self.key.0).map(SecretString::from)
    }
}

/// The signing key of a PKCS#8 RSA PEM, checked by signing once.
fn signing_key(path: &Path, pem: &SecretString) -> Result<SigningKey, FcmError> {
    let refuse = |reason: &str| FcmError::PrivateKey {
        path: PathBuf::from(path),
        reason: reason.to_owned(),
    };
    let text = pem.expose_secret().trim_start();
    if text.starts_with("-----BEGIN RSA PRIVATE KEY-----") {
        return Err(refuse(
            "it is PKCS#1 (`BEGIN RSA PRIVATE KEY`); Google's key files hold PKCS#8 (`BEGIN PRIVATE KEY`)",
        ));
    }
    if !text.starts_with("-----BEGIN PRIVATE KEY-----") {
        return Err(refuse(
            "it does not start with `-----BEGIN PRIVATE KEY-----`",
        ));
    }
    let key = EncodingKey::from_rsa_pem(text.as_bytes())
        .map_err(|_| refuse("the PEM does not hold an RSA private key"))?;
    let claims = Claims {
        iss: "probe",
        scope: "probe",
        aud: "probe",
        iat: 0,
        exp: 1,
    };
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key)
        .map_err(|_| refuse("the key cannot sign RS256"))?;
    Ok(SigningKey(key))
}

/// Only for tests: parse a key file given as text.
#[cfg(test)]
pub(crate) fn parse_text(text: &str) -> Result<ServiceAccount, FcmError> {
    ServiceAccount::parse(Path::new("sa.json"), SecretString::from(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_files_that_are_not_key_files() {
        let err = parse_text("not json").unwrap_err().to_string();
        assert!(err.contains("not JSON"), "{err}");
        let err = parse_text("[1]").unwrap_err().to_string();
        assert!(err.contains("not a JSON object"), "{err}");
        let err = parse_text(r#"{"type":"authorized_user"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`type`"), "{err}");
    }

    #[test]
    fn names_the_missing_field() {
        let err = parse_text(r#"{"private_key":"x"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`client_email`"), "{err}");
        let err = parse_text(r#"{"client_email":"a@b"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`private_key`"), "{err}");
    }

    #[test]
    fn refuses_keys_that_are_not_pkcs8_rsa_without_echoing_them() {
        let secret = "MIIEsecretsecretsecret";
        for pem in [
            format!("-----BEGIN RSA PRIVATE KEY-----\n{secret}\n-----END RSA PRIVATE KEY-----\n"),
            format!("-----BEGIN PRIVATE KEY-----\n{secret}\n-----END PRIVATE KEY-----\n"),
            format!("-----BEGIN EC PRIVATE KEY-----\n{secret}\n-----END EC PRIVATE KEY-----\n"),
        ] {
            let json = serde_json::json!({"client_email": "a@b", "private_key": pem});
            let err = parse_text(&json.to_string()).unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(shown.contains("private_key"), "{shown}");
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
