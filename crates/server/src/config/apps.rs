//! `[[apps]]` and `[[api_keys]]`, and the checks that need the whole configuration: app ids,
//! one credential section matching the platform, mock mode, referenced files.

use std::collections::HashSet;

use pushgate_dispatch::jobs::MAX_DELIVERY_LOG_RETENTION_DAYS;
use pushgate_store::Platform;
use serde::Deserialize;

use super::Config;
use super::load::ConfigError;

/// The largest page cache the SQLite write connection may be given, in MiB.
const MAX_SQLITE_WRITE_CACHE_MIB: u32 = 4096;

/// The APNs settings of an iOS app.
pub type ApnsSection = crate::senders::ApnsSettings;
/// The FCM settings of an Android app.
pub type FcmSection = crate::senders::FcmSettings;

/// One mobile app.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// Its id in URLs and reports: `[a-z0-9-]{1,64}`.
    pub id: String,
    /// `ios` (APNs) or `android` (FCM).
    pub platform: Platform,
    /// iOS only: the APNs settings.
    #[serde(default)]
    pub apns: Option<ApnsSection>,
    /// Android only: the FCM settings.
    #[serde(default)]
    pub fcm: Option<FcmSection>,
}

/// Whether `id` is a valid app id: 1 to 64 of `a-z`, `0-9`, `-`.
pub fn is_app_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The checks of the whole configuration, after it parsed.
pub(super) fn check(config: &Config) -> Result<(), ConfigError> {
    let file = config.source.as_path();
    config
        .retry
        .validate()
        .map_err(|e| ConfigError::key(file, "retry", e))?;
    config
        .quarantine
        .validate()
        .map_err(|e| ConfigError::key(file, "quarantine", e))?;
    if config.analysis.batch_size < 1 {
        return Err(ConfigError::key(
            file,
            "analysis.batch_size",
            "must be at least 1",
        ));
    }
    if config.database_max_connections == 0 {
        return Err(ConfigError::key(
            file,
            "database_max_connections",
            "must be at least 1",
        ));
    }
    if !(1..=MAX_SQLITE_WRITE_CACHE_MIB).contains(&config.database_sqlite_write_cache_mib) {
        return Err(ConfigError::key(
            file,
            "database_sqlite_write_cache_mib",
            format!("must be between 1 and {MAX_SQLITE_WRITE_CACHE_MIB}"),
        ));
    }
    let pipeline = &config.pipeline;
    for (key, value) in [
        ("pipeline.claim_batch", pipeline.claim_batch as u64),
        ("pipeline.max_in_flight", pipeline.max_in_flight as u64),
        ("pipeline.write_batch", pipeline.write_batch as u64),
        ("pipeline.result_writers", pipeline.result_writers as u64),
        ("pipeline.lease_secs", pipeline.lease_secs),
        ("pipeline.idle_poll_ms", pipeline.idle_poll_ms),
        (
            "pipeline.maintenance_interval_ms",
            pipeline.maintenance_interval_ms,
        ),
        (
            "jobs.optout_sweep_interval_secs",
            config.jobs.optout_sweep_interval_secs,
        ),
        (
            "jobs.cleanup_interval_secs",
            config.jobs.cleanup_interval_secs,
        ),
    ] {
        if value == 0 {
            return Err(ConfigError::key(file, key, "must be at least 1"));
        }
    }
    if pipeline.result_writers as u64 >= u64::from(config.database_max_connections) {
        // The claims, the queue's upkeep and the API need connections of their own.
        return Err(ConfigError::key(
            file,
            "pipeline.result_writers",
            "must be less than database_max_connections",
        ));
    }
    if pipeline.lease_secs > 86_400 {
        return Err(ConfigError::key(
            file,
            "pipeline.lease_secs",
            "must be at most 86400",
        ));
    }
    if config.jobs.delivery_log_retention_days > MAX_DELIVERY_LOG_RETENTION_DAYS {
        return Err(ConfigError::key(
            file,
            "jobs.delivery_log_retention_days",
            format!("must be at most {MAX_DELIVERY_LOG_RETENTION_DAYS} (0 keeps every log)"),
        ));
    }

    let mut ids = HashSet::new();
    for (index, app) in config.apps.iter().enumerate() {
        let key = format!("apps[{index}]");
        if !is_app_id(&app.id) {
            return Err(ConfigError::key(
                file,
                &format!("{key}.id"),
                "must be 1 to 64 characters of a-z, 0-9 and -",
            ));
        }
        if !ids.insert(app.id.as_str()) {
            return Err(ConfigError::key(
                file,
                &format!("{key}.id"),
                format!("app {:?} is defined twice", app.id),
            ));
        }
        let key = format!("apps[{index}] ({})", app.id);
        match (app.platform, &app.apns, &app.fcm) {
            (Platform::Ios, _, Some(_)) => {
                return Err(ConfigError::key(
                    file,
                    &format!("{key}.fcm"),
                    "an ios app takes an apns section, not fcm",
                ));
            }
            (Platform::Android, Some(_), _) => {
                return Err(ConfigError::key(
                    file,
                    &format!("{key}.apns"),
                    "an android app takes an fcm section, not apns",
                ));
            }
            _ => {}
        }
        crate::senders::check_app(config, app).map_err(|(field, problem)| {
            ConfigError::key(file, &format!("{key}.{field}"), problem)
        })?;
    }

    let mut names = HashSet::new();
    for (index, api_key) in config.api_keys.iter().enumerate() {
        let key = format!("api_keys[{index}]");
        if api_key.name.trim().is_empty() || !names.insert(api_key.name.as_str()) {
            return Err(ConfigError::key(
                file,
                &format!("{key}.name"),
                "every key needs a name of its own",
            ));
        }
        let hex_ok =
            api_key.sha256.len() == 64 && api_key.sha256.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex_ok {
            return Err(ConfigError::key(
                file,
                &format!("{key}.sha256"),
                "must be 64 hex digits (the SHA-256 of the key: `pushgate keys hash`)",
            ));
        }
        if let Some(app) = &api_key.app
            && !ids.contains(app.as_str())
        {
            return Err(ConfigError::key(
                file,
                &format!("{key}.app"),
                format!("no app {app:?} is configured"),
            ));
        }
    }
    Ok(())
}
