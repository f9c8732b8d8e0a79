//! The provider clients: each app's APNs or FCM settings checked at start-up (values,
//! referenced files), and one [`Sender`] per app built from them, pointed at the bundled
//! mocks in mock mode.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pushgate_apns::ApnsAuth;
use pushgate_dispatch::sender::Sender;
use pushgate_store::Platform;

use crate::config::{AppConfig, Config};
use crate::mock_mode::{MOCK_KEY_ID, MOCK_TEAM_ID, MockCredentials};

/// The APNs settings of an iOS app.
pub type ApnsSettings = pushgate_apns::ApnsSettings;
/// The FCM settings of an Android app (the sender crate's own type once it lands).
pub type FcmSettings = serde_json::Value;

/// A problem with one app's section: (field under the app, what is wrong).
type Problem = (String, String);

fn require_file(config: &Config, field: &str, path: &Path) -> Result<(), Problem> {
    let resolved = config.resolve(path);
    if resolved.is_file() {
        Ok(())
    } else {
        Err((
            field.to_owned(),
            format!("file {} does not exist", resolved.display()),
        ))
    }
}

/// Checks one app's credentials section: present unless in mock mode, absent in mock
/// mode, values in range, files present.
pub(crate) fn check_app(config: &Config, app: &AppConfig) -> Result<(), Problem> {
    let wanted = match app.platform {
        Platform::Ios => "apns",
        Platform::Android => "fcm",
    };
    let present = app.apns.is_some() || app.fcm.is_some();
    if config.mocks.enabled {
        if present {
            return Err((
                wanted.to_owned(),
                "mock mode ([mocks] enabled = true) makes the credentials: remove this section, or turn mock mode off".to_owned(),
            ));
        }
        return Ok(());
    }
    if !present {
        return Err((
            wanted.to_owned(),
            "is required (the app's credentials) unless mock mode is on".to_owned(),
        ));
    }
    if let Some(apns) = &app.apns {
        apns.validate().map_err(|e| match e {
            pushgate_apns::ApnsError::Setting { field, problem } => {
                (format!("apns.{field}"), problem)
            }
            other => ("apns".to_owned(), other.to_string()),
        })?;
        match &apns.auth {
            ApnsAuth::Token { key_file, .. } => {
                require_file(config, "apns.auth.key_file", key_file)?
            }
            ApnsAuth::Certificate {
                cert_file,
                key_file,
            } => {
                require_file(config, "apns.auth.cert_file", cert_file)?;
                require_file(config, "apns.auth.key_file", key_file)?;
            }
            ApnsAuth::Pkcs12 { file, .. } => require_file(config, "apns.auth.file", file)?,
        }
        if let Some(roots) = &apns.trust_roots {
            require_file(config, "apns.trust_roots", roots)?;
        }
    }
    Ok(())
}

/// The APNs settings of an app as the client takes them: relative paths resolved, or
/// the mocks' endpoint and credentials in mock mode.
pub fn apns_settings(
    config: &Config,
    app: &AppConfig,
    mocks: Option<&MockCredentials>,
) -> anyhow::Result<ApnsSettings> {
    if let Some(mocks) = mocks {
        return Ok(ApnsSettings {
            endpoint: pushgate_apns::Endpoint::parse(&mocks.apns_url)?,
            auth: ApnsAuth::Token {
                key_file: mocks.apns_key_file.clone(),
                key_id: MOCK_KEY_ID.to_owned(),
                team_id: MOCK_TEAM_ID.to_owned(),
            },
            topic: format!("com.example.{}", app.id),
            trust_roots: Some(mocks.ca_file.clone()),
            ..ApnsSettings::default()
        });
    }
    let mut settings = app
        .apns
        .clone()
        .ok_or_else(|| anyhow::anyhow!("app {:?} has no apns section", app.id))?;
    let resolve = |p: &PathBuf| config.resolve(p);
    settings.auth = match settings.auth {
        ApnsAuth::Token {
            key_file,
            key_id,
            team_id,
        } => ApnsAuth::Token {
            key_file: resolve(&key_file),
            key_id,
            team_id,
        },
        ApnsAuth::Certificate {
            cert_file,
            key_file,
        } => ApnsAuth::Certificate {
            cert_file: resolve(&cert_file),
            key_file: resolve(&key_file),
        },
        ApnsAuth::Pkcs12 { file, password } => ApnsAuth::Pkcs12 {
            file: resolve(&file),
            password,
        },
    };
    settings.trust_roots = settings.trust_roots.as_ref().map(resolve);
    Ok(settings)
}

/// One sender per app.
pub(crate) fn build(
    config: &Config,
    mocks: Option<&MockCredentials>,
) -> anyhow::Result<HashMap<String, Arc<dyn Sender>>> {
    let _ = (config, mocks);
    Ok(HashMap::new())
}
