//! Test scaffolding: mocks on port 0 with fresh credentials, and plain HTTP/2 and HTTPS
//! clients that trust the mock CA.

use std::sync::{Arc, Once};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use pushgate_mocks::{ApnsKey, ClientCert, MockConfig, MockServers, ServiceAccount};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::Value;

pub const KEY_ID: &str = "ABC123DEFG";
pub const TEAM_ID: &str = "TEAM123456";
pub const TOPIC: &str = "com.example.app";
pub const PROJECT: &str = "demo-project";
pub const CLIENT_EMAIL: &str = "sender@demo-project.iam.gserviceaccount.com";
/// A device token that no rule matches.
pub const DEVICE: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Installs a tracing subscriber when `PUSHGATE_TEST_LOG` is set (e.g. `debug`).
fn init_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Ok(filter) = std::env::var("PUSHGATE_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
    });
}

/// Running mocks with one APNs key and one service account registered.
pub struct Harness {
    pub mocks: MockServers,
    pub key: ApnsKey,
    pub account: ServiceAccount,
    pub https: reqwest::Client,
    pub admin: reqwest::Client,
}

impl Harness {
    pub async fn start() -> Self {
        Self::with(|_| {}).await
    }

    /// Starts with a config adjusted by `tune`.
    pub async fn with(tune: impl FnOnce(&mut MockConfig)) -> Self {
        init_tracing();
        let key = ApnsKey::generate(KEY_ID, TEAM_ID).unwrap();
        let mut config = MockConfig::default();
        config.apns.keys.push(key.mock_key());
        tune(&mut config);
        let mocks = MockServers::start(config).await.unwrap();
        let account = account(&mocks);
        mocks.add_oauth_account(&account.mock_account()).unwrap();
        let https = https_client(mocks.ca_pem(), None);
        let admin = reqwest::Client::new();
        Self {
            mocks,
            key,
            account,
            https,
            admin,
        }
    }

    /// A fresh provider token of the registered key.
    pub fn provider_token(&self) -> String {
        self.key.provider_token_now().unwrap()
    }

    /// An HTTP/2 connection to the APNs mock (provider-token auth).
    pub async fn apns(&self) -> H2 {
        H2::connect(self.mocks.apns_addr(), self.mocks.ca_pem(), None)
            .await
            .unwrap()
    }

    /// An HTTP/2 connection to the FCM mock.
    pub async fn fcm(&self) -> H2 {
        H2::connect(self.mocks.fcm_addr(), self.mocks.ca_pem(), None)
            .await
            .unwrap()
    }

    /// Asks the OAuth mock for an access token with a valid assertion.
    pub async fn access_token(&self) -> String {
        let (status, body) = self.token_request(&self.account.assertion().unwrap()).await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Posts a jwt-bearer grant with `assertion`; returns status and JSON body.
    pub async fn token_request(&self, assertion: &str) -> (u16, Value) {
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion),
        ];
        let response = self
            .https
            .post(self.mocks.oauth_token_url())
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Sends an FCM message body with `access_token`; returns status and JSON body.
    pub async fn fcm_send(&self, access_token: &str, body: &Value) -> (u16, Value) {
        let mut fcm = self.fcm().await;
        let request = fcm_request(&self.mocks, access_token, body.to_string());
        let reply = fcm.send(request).await.unwrap();
        (reply.status.as_u16(), reply.json())
    }

    /// `GET` an admin path; returns status and JSON body.
    pub async fn admin_get(&self, path: &str) -> (u16, Value) {
        let response = self
            .admin
            .get(format!("{}{path}", self.mocks.admin_url()))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    /// Sends `method` to an admin path with a raw body; returns status and JSON body.
    pub async fn admin_send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &str,
    ) -> (u16, Value) {
        let response = self
            .admin
            .request(method, format!("{}{path}", self.mocks.admin_url()))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }
}

/// A service account pointing at the mock's token URL.
pub fn account(mocks: &MockServers) -> ServiceAccount {
    ServiceAccount::generate(CLIENT_EMAIL, PROJECT, mocks.oauth_token_url()).unwrap()
}

/// A reqwest client trusting only the mock CA (ALPN h2 and http/1.1).
pub fn https_client(ca_pem: &str, identity: Option<&ClientCert>) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap();
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([ca])
        .timeout(Duration::from_secs(10));
    if let Some(cert) = identity {
        builder =
            builder.identity(reqwest::Identity::from_pem(cert.identity_pem().as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

/// A rustls client config trusting the mock CA, with the given ALPN protocols.
pub fn tls_config(
    ca_pem: &str,
    alpn: &[&[u8]],
    identity: Option<&ClientCert>,
) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match identity {
        Some(cert) => {
            let chain = vec![CertificateDer::from_pem_slice(cert.cert_pem.as_bytes()).unwrap()];
            let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

/// Opens a TLS connection with `config`.
pub async fn tls_connect(
    addr: std::net::SocketAddr,
    config: rustls::ClientConfig,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from("127.0.0.1").unwrap();
    connector.connect(name, tcp).await
}

/// An answer as a plain HTTP/2 client sees it.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The APNs `reason`.
    pub fn reason(&self) -> String {
        self.json()["reason"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One HTTP/2 connection (hyper's client over tokio-rustls, ALPN h2).
pub struct H2 {
    sender: SendRequest<Full<Bytes>>,
}

impl H2 {
    pub async fn connect(
        addr: std::net::SocketAddr,
        ca_pem: &str,
        identity: Option<&ClientCert>,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let tls = tls_connect(addr, tls_config(ca_pem, &[b"h2"], identity)).await?;
        let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .handshake(TokioIo::new(tls))
            .await?;
        tokio::spawn(conn);
        Ok(Self { sender })
    }

    /// Sends a request; an `Err` is a stream or connection failure (reset, GOAWAY...).
    pub async fn send(&mut self, request: Request<Full<Bytes>>) -> Result<Reply, hyper::Error> {
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    /// A sender for concurrent requests on this connection.
    pub fn sender(&self) -> SendRequest<Full<Bytes>> {
        self.sender.clone()
    }
}

/// The HTTP/2 error code of a failed request, if it was a stream or connection error.
pub fn h2_reason(error: &hyper::Error) -> Option<h2::Reason> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(e) = source {
        if let Some(h2) = e.downcast_ref::<h2::Error>() {
            return h2.reason();
        }
        source = e.source();
    }
    None
}

/// A builder for APNs requests: POST /3/device/<token> with a topic and a small payload.
pub struct Push {
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Push {
    /// A valid push to `token` with `provider_token` (empty: no authorization header).
    pub fn new(token: &str, provider_token: &str) -> Self {
        let mut headers = vec![("apns-topic".to_owned(), TOPIC.to_owned())];
        if !provider_token.is_empty() {
            headers.push(("authorization".into(), format!("bearer {provider_token}")));
        }
        Self {
            method: "POST",
            path: format!("/3/device/{token}"),
            headers,
            body: Bytes::from_static(br#"{"aps":{"alert":"hello"}}"#),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Replaces (or, with an empty value, removes) a header.
    pub fn set(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(k, _)| k != name);
        if !value.is_empty() {
            self.headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    pub fn request(&self, authority: std::net::SocketAddr) -> Request<Full<Bytes>> {
        let mut builder = Request::builder()
            .method(self.method)
            .uri(format!("https://{authority}{}", self.path));
        for (k, v) in &self.headers {
            builder = builder.header(k, v);
        }
        builder.body(Full::new(self.body.clone())).unwrap()
    }
}

/// An FCM send request.
pub fn fcm_request(mocks: &MockServers, access_token: &str, body: String) -> Request<Full<Bytes>> {
    let mut builder = Request::builder()
        .method("POST")
        .uri(mocks.fcm_send_url(PROJECT))
        .header("content-type", "application/json");
    if !access_token.is_empty() {
        builder = builder.header("authorization", format!("Bearer {access_token}"));
    }
    builder.body(Full::new(Bytes::from(body))).unwrap()
}

/// A minimal valid FCM message to `token`.
pub fn fcm_message(token: &str) -> Value {
    serde_json::json!({ "message": { "token": token, "notification": { "title": "t", "body": "b" } } })
}
