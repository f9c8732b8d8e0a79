//! TLS set-up (rustls with aws-lc-rs, public web roots plus configured extra roots) and
//! the reqwest client of the token endpoint.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::error::FcmError;
use crate::settings::FcmSettings;

/// A rustls client set-up: aws-lc-rs, web roots plus `extra_roots`, ALPN `alpn`.
pub(crate) fn tls_config(
    extra_roots: Option<&Path>,
    alpn: &[&[u8]],
) -> Result<rustls::ClientConfig, FcmError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_roots {
        let bad = |reason: String| FcmError::TrustRoots {
            path: path.to_path_buf(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|source| FcmError::File {
            path: path.to_path_buf(),
            source,
        })?;
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| bad(format!("not PEM certificates ({e})")))?;
            roots
                .add(cert)
                .map_err(|e| bad(format!("not a usable trust root ({e})")))?;
            added += 1;
        }
        if added == 0 {
            return Err(bad("holds no PEM certificate".into()));
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| FcmError::Http(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// The reqwest client for the token endpoint (HTTP/2 or HTTP/1.1, as ALPN decides).
pub(crate) fn token_client(settings: &FcmSettings) -> Result<reqwest::Client, FcmError> {
    let tls = tls_config(settings.trust_roots.as_deref(), &[b"h2", b"http/1.1"])?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(settings.connect_timeout())
        .timeout(Duration::from_millis(settings.token.timeout_ms))
        .tcp_nodelay(true)
        .no_proxy()
        .build()
        .map_err(|e| FcmError::Http(describe(&e)))
}

/// An error and its sources on one line, for logs.
pub(crate) fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}
