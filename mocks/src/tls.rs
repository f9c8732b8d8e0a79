//! TLS: the mock CA, the server certificate, the three rustls server configurations, and
//! the identity of an APNs client certificate.
//!
//! APNs and FCM negotiate ALPN `h2` only: a client offering only `http/1.1` fails the
//! handshake with `no_application_protocol`, and one offering no ALPN is closed right
//! after the handshake. OAuth offers `h2` and `http/1.1`, as Google does. APNs asks for
//! an optional client certificate chaining to the mock CA (certificate authentication);
//! clients without one use provider tokens.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsConfig;
use crate::error::MockError;
use crate::fixtures::ClientCert;

/// OID of the `UID` attribute, where Apple puts the bundle id of a push certificate.
const UID_OID: [u64; 7] = [0, 9, 2342, 19200300, 100, 1, 1];
/// Topic suffixes Apple derives from a bundle id (voip, complication, ...).
const TOPIC_SUFFIXES: [&str; 6] = [
    ".voip",
    ".complication",
    ".pushkit.fileprovider",
    ".push-type.liveactivity",
    ".voip-ptt",
    ".location-query",
];

/// The mock's certificate authority: it issued the server certificate and issues APNs
/// client certificates.
pub struct MockCa {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    /// The signing half; `None` when the CA was loaded without its key.
    issuer: Option<Issuer<'static, KeyPair>>,
}

impl std::fmt::Debug for MockCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockCa")
            .field("can_issue", &self.issuer.is_some())
            .finish_non_exhaustive()
    }
}

impl MockCa {
    /// A fresh CA with a P-256 key.
    pub fn generate() -> Result<Self, MockError> {
        let key = KeyPair::generate().map_err(MockError::key)?;
        let mut params = CertificateParams::default();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.distinguished_name = dn(&[(DnType::CommonName, "pushgate mock CA")]);
        let cert = params.self_signed(&key).map_err(MockError::key)?;
        Ok(Self {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            issuer: Some(Issuer::new(params, key)),
        })
    }

    /// A CA from its PEM certificate and, to issue certificates, its PEM key.
    pub fn from_pem(cert_pem: &str, key_pem: Option<&str>) -> Result<Self, MockError> {
        let cert_der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|e| MockError::key(format!("ca certificate: {e}")))?;
        let issuer = match key_pem {
            Some(key_pem) => {
                let key = KeyPair::from_pem(key_pem).map_err(MockError::key)?;
                Some(Issuer::from_ca_cert_der(&cert_der, key).map_err(MockError::key)?)
            }
            None => None,
        };
        Ok(Self {
            cert_pem: cert_pem.to_owned(),
            cert_der,
            issuer,
        })
    }

    /// The CA certificate, PEM: what clients add as a trust root.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA's private key, PEM, to keep a generated CA for later runs (`ca_key_file`);
    /// `None` when the CA was loaded without it.
    pub fn key_pem(&self) -> Option<String> {
        self.issuer.as_ref().map(|i| i.key().serialize_pem())
    }

    fn issuer(&self) -> Result<&Issuer<'static, KeyPair>, MockError> {
        self.issuer
            .as_ref()
            .ok_or_else(|| MockError::key("the CA was loaded without its key: cannot issue"))
    }

    /// A server certificate for `127.0.0.1`, `::1`, `localhost` and `extra` names.
    fn issue_server(&self, extra: &[String]) -> Result<(String, String), MockError> {
        let mut names = vec!["localhost".to_owned(), "127.0.0.1".into(), "::1".into()];
        names.extend(extra.iter().cloned());
        let mut params = CertificateParams::new(names).map_err(MockError::key)?;
        params.distinguished_name = dn(&[(DnType::CommonName, "pushgate mock server")]);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().map_err(MockError::key)?;
        let cert = params
            .signed_by(&key, self.issuer()?)
            .map_err(MockError::key)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// An APNs client certificate for `bundle_id`, named the way Apple names them
    /// (`UID` = bundle id, `CN` = `Apple Push Services: <bundle id>`, `OU` = team).
    pub fn issue_client_cert(
        &self,
        bundle_id: &str,
        team_id: &str,
    ) -> Result<ClientCert, MockError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(&[
            (DnType::CustomDnType(UID_OID.to_vec()), bundle_id),
            (
                DnType::CommonName,
                &format!("Apple Push Services: {bundle_id}"),
            ),
            (DnType::OrganizationalUnitName, team_id),
            (DnType::OrganizationName, "pushgate mock"),
            (DnType::CountryName, "US"),
        ]);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().map_err(MockError::key)?;
        let cert = params
            .signed_by(&key, self.issuer()?)
            .map_err(MockError::key)?;
        Ok(ClientCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            bundle_id: bundle_id.to_owned(),
        })
    }
}

fn dn(entries: &[(DnType, &str)]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for (ty, value) in entries {
        dn.push(ty.clone(), *value);
    }
    dn
}

/// The TLS material in use: the CA and the server's chain and key.
pub(crate) struct TlsMaterial {
    pub ca: MockCa,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl TlsMaterial {
    /// Loads the files named in `config`, generating whatever is not given.
    pub(crate) fn new(config: &TlsConfig) -> Result<Self, MockError> {
        let read =
            |p: &std::path::Path| std::fs::read_to_string(p).map_err(|e| MockError::file(p, e));
        let ca = match &config.ca_file {
            Some(ca_file) => {
                let key = config.ca_key_file.as_deref().map(read).transpose()?;
                MockCa::from_pem(&read(ca_file)?, key.as_deref())?
            }
            None => MockCa::generate()?,
        };
        let (chain_pem, key_pem) = match (&config.cert_file, &config.key_file) {
            (Some(cert), Some(key)) => (read(cert)?, read(key)?),
            (None, None) => ca.issue_server(&config.server_names)?,
            _ => return Err(MockError::key("cert_file and key_file go together")),
        };
        let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| MockError::key(format!("server certificate: {e}")))?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| MockError::key(format!("server key: {e}")))?;
        Ok(Self { ca, chain, key })
    }

    fn config(&self, alpn: &[&[u8]], client_auth: bool) -> Result<Arc<ServerConfig>, MockError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let builder = if client_auth {
            let mut roots = RootCertStore::empty();
            roots.add(self.ca.cert_der.clone())?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| MockError::key(format!("client verifier: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let mut config = builder.with_single_cert(self.chain.clone(), self.key.clone_key())?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }

    /// APNs: ALPN `h2` only, optional client certificate.
    pub(crate) fn apns_config(&self) -> Result<Arc<ServerConfig>, MockError> {
        self.config(&[b"h2"], true)
    }

    /// FCM: ALPN `h2` only.
    pub(crate) fn fcm_config(&self) -> Result<Arc<ServerConfig>, MockError> {
        self.config(&[b"h2"], false)
    }

    /// OAuth: ALPN `h2` and `http/1.1`.
    pub(crate) fn oauth_config(&self) -> Result<Arc<ServerConfig>, MockError> {
        self.config(&[b"h2", b"http/1.1"], false)
    }
}

/// Who an APNs client certificate speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertIdentity {
    /// The bundle id (the certificate's `UID`, or its `CN` after "...: ").
    pub bundle_id: String,
}

impl CertIdentity {
    /// The identity in a (verified) client certificate.
    pub(crate) fn from_der(der: &[u8]) -> Option<Self> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let subject = cert.subject();
        let uid_oid = x509_parser::oid_registry::Oid::from(&UID_OID).ok()?;
        let uid = subject
            .iter_attributes()
            .find(|a| a.attr_type() == &uid_oid)
            .and_then(|a| a.as_str().ok());
        let bundle_id = match uid {
            Some(uid) => uid.to_owned(),
            None => {
                let cn = subject.iter_common_name().next()?.as_str().ok()?;
                cn.rsplit(": ").next()?.trim().to_owned()
            }
        };
        (!bundle_id.is_empty()).then_some(Self { bundle_id })
    }

    /// Whether the certificate may push to `topic`: its bundle id or a derived topic
    /// (`.voip`, `.complication`...).
    pub(crate) fn allows(&self, topic: &str) -> bool {
        topic == self.bundle_id
            || topic
                .strip_prefix(self.bundle_id.as_str())
                .is_some_and(|rest| TOPIC_SUFFIXES.contains(&rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_certificates_carry_the_bundle_id() {
        let ca = MockCa::generate().unwrap();
        let client = ca
            .issue_client_cert("com.example.app", "TEAM123456")
            .unwrap();
        let der = CertificateDer::from_pem_slice(client.cert_pem.as_bytes()).unwrap();
        let id = CertIdentity::from_der(&der).unwrap();
        assert_eq!(id.bundle_id, "com.example.app");
        assert!(id.allows("com.example.app"));
        assert!(id.allows("com.example.app.voip"));
        assert!(!id.allows("com.example.other"));
        assert!(!id.allows("com.example.app.x"));
    }

    #[test]
    fn a_loaded_ca_without_key_cannot_issue() {
        let ca = MockCa::generate().unwrap();
        let loaded = MockCa::from_pem(ca.cert_pem(), None).unwrap();
        assert!(loaded.issue_client_cert("a", "b").is_err());
        let material = TlsMaterial::new(&TlsConfig::default()).unwrap();
        assert!(material.apns_config().is_ok());
    }
}
