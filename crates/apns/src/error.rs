//! [`ApnsError`]: configuration and start-up problems. Per-notification problems are
//! never errors: they are a classified [`crate::SendResult`].

use std::path::{Path, PathBuf};

/// Why an [`crate::ApnsClient`] could not be built. Messages name the setting or file and
/// never contain key material.
#[derive(Debug, thiserror::Error)]
pub enum ApnsError {
    /// A setting is out of range or malformed.
    #[error("apns setting `{field}`: {problem}")]
    Setting {
        /// The setting's name (`retry.max_retries`).
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// A key, certificate or trust-root file could not be read.
    #[error("cannot read the {what} {}", path.display())]
    Read {
        /// What the file is (`signing key`, `certificate`...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A key, certificate or trust-root file was read but is not usable.
    #[error("the {what} {} is not usable: {problem}", path.display())]
    Credentials {
        /// What the file is.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong (a parser's message, never the file's content).
        problem: String,
    },
    /// rustls refused the TLS configuration.
    #[error("tls configuration refused")]
    Tls(#[from] rustls::Error),
}

impl ApnsError {
    pub(crate) fn setting(field: &'static str, problem: impl Into<String>) -> Self {
        Self::Setting {
            field,
            problem: problem.into(),
        }
    }

    pub(crate) fn read(what: &'static str, path: &Path, source: std::io::Error) -> Self {
        Self::Read {
            what,
            path: path.to_owned(),
            source,
        }
    }

    pub(crate) fn credentials(what: &'static str, path: &Path, problem: impl Into<String>) -> Self {
        Self::Credentials {
            what,
            path: path.to_owned(),
            problem: problem.into(),
        }
    }
}
