//! `apns.certificate` from every kind of credential failure, certificate authentication
//! (PEM and PKCS#12), and start-up refusals of unusable keys.

use std::path::PathBuf;
use std::sync::Arc;

use pushgate_apns::{ApnsAuth, ApnsClient, ApnsError, Notification};
use pushgate_mocks::{ApnsKey, Service};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use secrecy::SecretString;
use tokio::net::TcpListener;

use crate::helpers::{Harness, KEY_ID, TEAM_ID, TOPIC, payload, row, token};

async fn send_one(client: &ApnsClient) -> pushgate_apns::SendResult {
    client
        .send(&Notification::new(token("ce", 1), payload()))
        .await
}

#[tokio::test]
async fn apns_certificate_from_a_token_signed_with_the_wrong_key() {
    let h = Harness::start().await;
    let other = ApnsKey::generate(KEY_ID, TEAM_ID).expect("key");
    let client = ApnsClient::new(&h.settings_for(&other)).expect("client");
    let result = send_one(&client).await;
    assert_eq!(row(&result), "apns.certificate");
    assert_eq!(result.reason.as_deref(), Some("InvalidProviderToken"));
    assert_eq!(result.attempts, 1);
}

#[tokio::test]
async fn apns_certificate_from_an_unknown_key_id_or_another_team() {
    let h = Harness::start().await;
    for (key_id, team_id) in [("UNKNOWN001", TEAM_ID), (KEY_ID, "OTHERTEAM1")] {
        // The registered key's private half, under another kid or team.
        let key = ApnsKey::from_p8(key_id, team_id, h.key.private_key_pem()).expect("key");
        let client = ApnsClient::new(&h.settings_for(&key)).expect("client");
        let result = send_one(&client).await;
        assert_eq!(row(&result), "apns.certificate", "{key_id}/{team_id}");
        assert_eq!(result.reason.as_deref(), Some("InvalidProviderToken"));
    }
}

#[tokio::test]
async fn a_missing_or_malformed_key_is_refused_at_start_up() {
    let h = Harness::start().await;
    let mut settings = h.settings();
    let missing = h.dir.path().join("nope.p8");
    settings.auth = ApnsAuth::Token {
        key_file: missing,
        key_id: KEY_ID.into(),
        team_id: TEAM_ID.into(),
    };
    let err = ApnsClient::new(&settings).expect_err("missing key");
    assert!(matches!(err, ApnsError::Read { .. }), "{err}");
    let malformed = h.dir.path().join("bad.p8");
    let secret =
        "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END PRIVATE KEY-----\n";
    std::fs::write(&malformed, secret).expect("write");
    settings.auth = ApnsAuth::Token {
        key_file: malformed,
        key_id: KEY_ID.into(),
        team_id: TEAM_ID.into(),
    };
    let err = ApnsClient::new(&settings).expect_err("malformed key");
    let text = format!("{err} {err:?}");
    assert!(matches!(err, ApnsError::Credentials { .. }), "{text}");
    assert!(!text.contains("c2VjcmV0"), "key material echoed: {text}");
}

#[tokio::test]
async fn apns_certificate_from_a_server_certificate_not_trusted() {
    let h = Harness::start().await;
    let client = h.client_with(|s| s.trust_roots = None);
    let result = send_one(&client).await;
    assert_eq!(row(&result), "apns.certificate");
    let message = result.classification.error_message().unwrap_or_default();
    assert!(message.contains("tls"), "{message}");
    assert_eq!(result.attempts, 0);
}

fn certificate_settings(h: &Harness, cert: PathBuf, key: PathBuf) -> pushgate_apns::ApnsSettings {
    let mut settings = h.settings();
    settings.auth = ApnsAuth::Certificate {
        cert_file: cert,
        key_file: key,
    };
    settings
}

#[tokio::test]
async fn certificate_auth_with_pem_files() {
    let h = Harness::start().await;
    let cert = h.mocks.issue_client_cert(TOPIC, TEAM_ID).expect("cert");
    let (cert_file, key_file) = cert.write_to(h.dir.path(), "client").expect("write");
    let client = ApnsClient::new(&certificate_settings(&h, cert_file, key_file)).expect("client");
    let result = send_one(&client).await;
    assert_eq!(row(&result), "apns.device_on");
    let sent = h.mocks.requests_to(Service::Apns, 1);
    assert_eq!(
        sent[0].header("authorization"),
        None,
        "no token with a certificate"
    );
}

#[tokio::test]
async fn certificate_auth_with_pkcs12() {
    let h = Harness::start().await;
    let cert = h.mocks.issue_client_cert(TOPIC, TEAM_ID).expect("cert");
    let cert_der = CertificateDer::from_pem_slice(cert.cert_pem.as_bytes()).expect("cert");
    let key_der = match PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).expect("key") {
        PrivateKeyDer::Pkcs8(k) => k.secret_pkcs8_der().to_vec(),
        _ => panic!("rcgen writes PKCS#8"),
    };
    let chain = p12_keystore::PrivateKeyChain::new(
        vec![1u8, 2, 3, 4],
        p12_keystore::PrivateKey::from_der(&key_der).expect("p12 key"),
        [p12_keystore::Certificate::from_der(cert_der.as_ref()).expect("p12 cert")],
    );
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry("push", p12_keystore::KeyStoreEntry::PrivateKeyChain(chain));
    let p12 = store.writer("s3cret").write().expect("p12");
    let file = h.dir.path().join("push.p12");
    std::fs::write(&file, p12).expect("write");

    let mut settings = h.settings();
    settings.auth = ApnsAuth::Pkcs12 {
        file: file.clone(),
        password: SecretString::from("s3cret"),
    };
    let client = ApnsClient::new(&settings).expect("client");
    assert_eq!(row(&send_one(&client).await), "apns.device_on");

    settings.auth = ApnsAuth::Pkcs12 {
        file,
        password: SecretString::from("wrong"),
    };
    let err = ApnsClient::new(&settings).expect_err("wrong password");
    assert!(matches!(err, ApnsError::Credentials { .. }), "{err}");
    assert!(!format!("{err:?}").contains("wrong"));
}

#[tokio::test]
async fn apns_certificate_from_a_client_certificate_not_trusted() {
    let h = Harness::start().await;
    let stranger = rcgen::generate_simple_self_signed(vec!["client".to_owned()]).expect("cert");
    let cert_file = h.dir.path().join("stranger.crt.pem");
    let key_file = h.dir.path().join("stranger.key.pem");
    std::fs::write(&cert_file, stranger.cert.pem()).expect("write");
    std::fs::write(&key_file, stranger.signing_key.serialize_pem()).expect("write");
    let client = ApnsClient::new(&certificate_settings(&h, cert_file, key_file)).expect("client");
    let result = send_one(&client).await;
    assert_eq!(row(&result), "apns.certificate");
    let message = result.classification.error_message().unwrap_or_default();
    assert!(message.contains("tls"), "{message}");
}

/// A TLS server on 127.0.0.1 with a self-signed certificate (written as `roots`) and
/// the given ALPN protocols; it completes handshakes and answers nothing.
async fn tls_server(alpn: &[&[u8]], roots: &std::path::Path) -> String {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("cert");
    std::fs::write(roots, certified.cert.pem()).expect("write");
    let key = PrivateKeyDer::from_pem_slice(certified.signing_key.serialize_pem().as_bytes())
        .expect("key");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .expect("config");
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                    drop(tls);
                }
            });
        }
    });
    format!("https://{addr}")
}

#[tokio::test]
async fn apns_certificate_from_an_alpn_failure_against_a_server_without_h2() {
    let h = Harness::start().await;
    for (name, alpn) in [
        ("http/1.1 only", &[b"http/1.1".as_slice()][..]),
        ("no alpn", &[][..]),
    ] {
        let roots = h
            .dir
            .path()
            .join(format!("{}.pem", name.replace(['/', ' '], "_")));
        let url = tls_server(alpn, &roots).await;
        let client = h.client_with(|s| {
            s.endpoint = pushgate_apns::Endpoint::parse(&url).expect("url");
            s.trust_roots = Some(roots.clone());
        });
        let result = send_one(&client).await;
        assert_eq!(row(&result), "apns.certificate", "{name}");
        assert_eq!(result.attempts, 0, "{name}");
    }
}
