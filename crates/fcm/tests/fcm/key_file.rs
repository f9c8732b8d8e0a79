//! Bad key files and settings: the error names the file or the field, never the key.

use pushgate_fcm::{FcmClient, FcmError};
use pushgate_mocks::ApnsKey;
use serde_json::Value;

use crate::helpers::Harness;

/// The key file's JSON with `edit` applied, written as `name`; the client's error.
fn error_for(h: &Harness, name: &str, edit: impl FnOnce(&mut Value)) -> FcmError {
    let mut json: Value = serde_json::from_str(&h.account.key_file_json()).unwrap();
    edit(&mut json);
    let path = h.dir.path().join(name);
    std::fs::write(&path, json.to_string()).unwrap();
    let mut settings = h.settings.clone();
    settings.service_account_file = path;
    FcmClient::new(&settings).unwrap_err()
}

/// The base64 body of a PEM, which must never appear in an error.
fn pem_body(pem: &str) -> String {
    pem.lines()
        .filter(|l| !l.starts_with("-----"))
        .take(3)
        .collect::<String>()
}

#[tokio::test]
async fn a_missing_key_file_is_named() {
    let h = Harness::start().await;
    let mut settings = h.settings.clone();
    settings.service_account_file = h.dir.path().join("nowhere.json");
    let err = FcmClient::new(&settings).unwrap_err();
    assert!(matches!(err, FcmError::File { .. }), "{err:?}");
    assert!(err.to_string().contains("nowhere.json"), "{err}");
}

#[tokio::test]
async fn a_missing_field_is_named_without_the_key() {
    let h = Harness::start().await;
    let secret = pem_body(h.account.private_key_pem());
    for field in ["client_email", "private_key"] {
        let err = error_for(&h, "missing.json", |json| {
            json.as_object_mut().unwrap().remove(field);
        });
        let shown = format!("{err} {err:?}");
        assert!(shown.contains(field), "{shown}");
        assert!(shown.contains("missing.json"), "{shown}");
        assert!(!shown.contains(&secret), "the key leaked: {shown}");
    }
}

#[tokio::test]
async fn a_missing_project_or_token_uri_is_named_unless_configured() {
    let h = Harness::start().await;
    let err = error_for(&h, "noproject.json", |json| {
        json.as_object_mut().unwrap().remove("project_id");
    });
    assert!(err.to_string().contains("project_id"), "{err}");
    let err = error_for(&h, "nouri.json", |json| {
        json.as_object_mut().unwrap().remove("token_uri");
    });
    assert!(err.to_string().contains("token_uri"), "{err}");
}

#[tokio::test]
async fn a_key_that_is_not_rsa_is_refused_without_echoing_it() {
    let h = Harness::start().await;
    // An EC P-256 PKCS#8 key (an APNs key) where an RSA key belongs.
    let ec = ApnsKey::generate("ABC123DEFG", "TEAM123456").unwrap();
    let pem = ec.private_key_pem().to_owned();
    let err = error_for(&h, "ec.json", |json| {
        json["private_key"] = Value::from(pem.clone())
    });
    assert!(matches!(err, FcmError::PrivateKey { .. }), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(
        shown.contains("private_key") && shown.contains("RSA"),
        "{shown}"
    );
    assert!(!shown.contains(&pem_body(&pem)), "the key leaked: {shown}");
}

#[tokio::test]
async fn a_pkcs1_key_is_refused_as_not_pkcs8() {
    let h = Harness::start().await;
    let pkcs1 = h
        .account
        .private_key_pem()
        .replace("BEGIN PRIVATE KEY", "BEGIN RSA PRIVATE KEY")
        .replace("END PRIVATE KEY", "END RSA PRIVATE KEY");
    let err = error_for(&h, "pkcs1.json", |json| {
        json["private_key"] = Value::from(pkcs1.clone())
    });
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("PKCS#8"), "{shown}");
    assert!(
        !shown.contains(&pem_body(&pkcs1)),
        "the key leaked: {shown}"
    );
}

#[tokio::test]
async fn a_bad_url_setting_is_named() {
    let h = Harness::start().await;
    let mut settings = h.settings.clone();
    settings.base_url = Some("fcm.example.com".into());
    let err = FcmClient::new(&settings).unwrap_err();
    assert!(err.to_string().contains("base_url"), "{err}");
    settings.base_url = None;
    settings.trust_roots = Some(h.dir.path().join("sa.json"));
    let err = FcmClient::new(&settings).unwrap_err();
    assert!(err.to_string().contains("sa.json"), "{err}");
}
