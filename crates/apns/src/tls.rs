//! TLS: the rustls client configuration (aws-lc-rs, ALPN `h2` only, web roots plus the
//! configured extra roots, an optional client certificate from PEM or PKCS#12), and the
//! test that tells a TLS failure (`apns.certificate`) from a lost connection.

use std::path::Path;
use std::sync::Arc;

use p12_keystore::{KeyStore, Pkcs12ImportPolicy};
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use secrecy::ExposeSecret;

use crate::error::ApnsError;
use crate::settings::{ApnsAuth, ApnsSettings};

/// The client configuration for `settings`. Reads the trust roots and, for certificate
/// authentication, the certificate and key, once.
pub(crate) fn client_config(settings: &ApnsSettings) -> Result<Arc<ClientConfig>, ApnsError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = &settings.trust_roots {
        let certs = read_certs("trust roots", path)?;
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| ApnsError::credentials("trust roots", path, e.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let mut config = match &settings.auth {
        ApnsAuth::Token { .. } => builder.with_no_client_auth(),
        ApnsAuth::Certificate {
            cert_file,
            key_file,
        } => {
            let chain = read_certs("certificate", cert_file)?;
            let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| match e {
                rustls_pki_types::pem::Error::Io(source) => {
                    ApnsError::read("certificate key", key_file, source)
                }
                other => ApnsError::credentials("certificate key", key_file, other.to_string()),
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| ApnsError::credentials("certificate key", key_file, e.to_string()))?
        }
        ApnsAuth::Pkcs12 { file, password } => {
            let (chain, key) = read_pkcs12(file, password.expose_secret())?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| ApnsError::credentials("PKCS#12 file", file, e.to_string()))?
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

fn read_certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, ApnsError> {
    let bytes = std::fs::read(path).map_err(|e| ApnsError::read(what, path, e))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApnsError::credentials(what, path, e.to_string()))?;
    if certs.is_empty() {
        return Err(ApnsError::credentials(
            what,
            path,
            "no PEM certificate in it",
        ));
    }
    Ok(certs)
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn read_pkcs12(path: &Path, password: &str) -> Result<Identity, ApnsError> {
    const WHAT: &str = "PKCS#12 file";
    let bytes = std::fs::read(path).map_err(|e| ApnsError::read(WHAT, path, e))?;
    // The parser's message may quote the password's effect but never the key.
    let store = KeyStore::from_pkcs12(&bytes, password, Pkcs12ImportPolicy::Relaxed)
        .map_err(|e| ApnsError::credentials(WHAT, path, format!("cannot open it: {e}")))?;
    let (_, chain) = store
        .private_key_chain()
        .ok_or_else(|| ApnsError::credentials(WHAT, path, "no private key in it"))?;
    let certs: Vec<CertificateDer<'static>> = chain
        .certs()
        .iter()
        .map(|c| CertificateDer::from(c.as_der().to_vec()))
        .collect();
    if certs.is_empty() {
        return Err(ApnsError::credentials(
            WHAT,
            path,
            "no certificate for its key",
        ));
    }
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec()));
    Ok((certs, key))
}

/// The TLS failure behind an I/O error, if it is one (a certificate not trusted, an
/// alert from the server, no common ALPN protocol...), described without secrets.
pub(crate) fn tls_failure(error: &std::io::Error) -> Option<String> {
    // `io::Error::source` skips the wrapped error itself: start from `get_ref`.
    let mut current: Option<&(dyn std::error::Error + 'static)> = error.get_ref().map(|e| e as _);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(format!("tls: {tls}"));
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_errors_are_found_inside_io_errors() {
        let inner = rustls::Error::NoApplicationProtocol;
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, inner);
        assert!(tls_failure(&io).is_some_and(|d| d.starts_with("tls: ")));
        let plain = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert_eq!(tls_failure(&plain), None);
    }
}
