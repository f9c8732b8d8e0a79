//! The provider clients: each app's APNs or FCM settings checked at start-up (values,
//! referenced files), and one [`Sender`] per app built from them, pointed at the bundled
//! mocks in mock mode.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use pushgate_apns::ApnsAuth;
use pushgate_dispatch::providers::{ApnsSender, FcmSender};
use pushgate_dispatch::sender::Sender;
use pushgate_store::Platform;

use crate::config::{AppConfig, Config};
use crate::mock_mode::{MOCK_KEY_ID, MOCK_PROJECT, MOCK_TEAM_ID, MockCredentials};

/// The APNs settings of an iOS app.
pub type ApnsSettings = pushgate_apns::ApnsSettings;
/// The FCM settings of an Android app.
pub type FcmSettings = pushgate_fcm::FcmSettings;

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
    if let Some(fcm) = &app.fcm {
        fcm.validate().map_err(|e| match e {
            pushgate_fcm::FcmError::Setting { field, reason } => (format!("fcm.{field}"), reason),
            other => ("fcm".to_owned(), other.to_string()),
        })?;
        require_file(
            config,
            "fcm.service_account_file",
            &fcm.service_account_file,
        )?;
        if let Some(roots) = &fcm.trust_roots {
            require_file(config, "fcm.trust_roots", roots)?;
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

/// The FCM settings of an app as the client takes them: relative paths resolved, or the
/// mocks' URLs and credentials in mock mode.
pub fn fcm_settings(
    config: &Config,
    app: &AppConfig,
    mocks: Option<&MockCredentials>,
) -> anyhow::Result<FcmSettings> {
    if let Some(mocks) = mocks {
        let mut settings = FcmSettings {
            service_account_file: mocks.service_account_file.clone(),
            project_id: Some(MOCK_PROJECT.to_owned()),
            token_uri: Some(mocks.oauth_token_url.clone()),
            base_url: Some(mocks.fcm_url.clone()),
            trust_roots: Some(mocks.ca_file.clone()),
            ..FcmSettings::default()
        };
        // Every answer goes to the pipeline at once: its retries and the quarantine
        // show without the sender's own waits.
        settings.retry.max_retries = 0;
        settings.retry.quota_min_backoff_secs = 1;
        return Ok(settings);
    }
    let mut settings = app
        .fcm
        .clone()
        .ok_or_else(|| anyhow::anyhow!("app {:?} has no fcm section", app.id))?;
    settings.service_account_file = config.resolve(&settings.service_account_file);
    settings.trust_roots = settings.trust_roots.as_ref().map(|p| config.resolve(p));
    Ok(settings)
}

/// One sender per app: an APNs client for iOS apps, an FCM client for Android apps.
pub(crate) fn build(
    config: &Config,
    mocks: Option<&MockCredentials>,
) -> anyhow::Result<HashMap<String, Arc<dyn Sender>>> {
    let mut senders: HashMap<String, Arc<dyn Sender>> = HashMap::new();
    for app in &config.apps {
        let sender: Arc<dyn Sender> = match app.platform {
            Platform::Ios => {
                let mut settings = apns_settings(config, app, mocks)?;
                if mocks.is_some() {
                    settings.retry.max_retries = 0;
                }
                let client = pushgate_apns::ApnsClient::new(&settings)
                    .with_context(|| format!("app {:?}: cannot build the APNs client", app.id))?;
                Arc::new(ApnsSender::new(client))
            }
            Platform::Android => {
                let settings = fcm_settings(config, app, mocks)?;
                let client = pushgate_fcm::FcmClient::new(&settings)
                    .with_context(|| format!("app {:?}: cannot build the FCM client", app.id))?;
                Arc::new(FcmSender::new(client))
            }
        };
        senders.insert(app.id.clone(), sender);
    }
    Ok(senders)
}
