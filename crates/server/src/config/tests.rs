//! Loading tests: errors name the key and the file (or the environment variable), the
//! environment overrides the file, secrets never appear in an error.

use std::path::{Path, PathBuf};

use super::{ConfigError, load_with_env};

fn write(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("pushgate.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The configuration `text` loads to (the test fails if it does not load).
fn loaded(text: &str) -> super::Config {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), text);
    load_with_env(&path, env(&[])).unwrap()
}

fn failure(text: &str, pairs: &[(&str, &str)]) -> (ConfigError, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), text);
    let error = load_with_env(&path, env(pairs)).unwrap_err();
    (error, path)
}

#[test]
fn an_unknown_key_names_the_key_and_the_file() {
    let (error, path) = failure("[pipeline]\nmax_in_flite = 3\n", &[]);
    let line = error.to_string();
    assert!(line.contains("pipeline.max_in_flite"), "{line}");
    assert!(line.contains(&path.display().to_string()), "{line}");
    assert!(line.contains("unknown key"), "{line}");
    assert!(!line.contains('\n'));
    let (error, _) = error_top("colour = 1\n");
    assert!(error.to_string().contains("colour: unknown key"), "{error}");
}

fn error_top(text: &str) -> (ConfigError, PathBuf) {
    failure(text, &[])
}

#[test]
fn result_writers_leave_connections_to_the_rest() {
    let (error, _) = failure("[pipeline]\nresult_writers = 0\n", &[]);
    let line = error.to_string();
    assert!(
        line.contains("pipeline.result_writers: must be at least 1"),
        "{line}"
    );
    let (error, _) = failure(
        "database_max_connections = 4\n[pipeline]\nresult_writers = 4\n",
        &[],
    );
    let line = error.to_string();
    assert!(
        line.contains("pipeline.result_writers: must be less than database_max_connections"),
        "{line}"
    );
    let config = loaded("database_max_connections = 4\n[pipeline]\nresult_writers = 3\n");
    assert_eq!(config.pipeline.result_writers, 3);
}

#[test]
fn the_queue_upkeep_interval_is_at_least_a_millisecond() {
    let (error, _) = failure("[pipeline]\nmaintenance_interval_ms = 0\n", &[]);
    let line = error.to_string();
    assert!(
        line.contains("pipeline.maintenance_interval_ms: must be at least 1"),
        "{line}"
    );
    let config = loaded("[pipeline]\nmaintenance_interval_ms = 250\n");
    assert_eq!(config.pipeline.maintenance_interval_ms, 250);
}

#[test]
fn the_delivery_log_retention_is_off_by_default_and_bounded() {
    assert_eq!(loaded("").jobs.delivery_log_retention_days, 0);
    let config = loaded("[jobs]\ndelivery_log_retention_days = 180\n");
    assert_eq!(config.jobs.delivery_log_retention_days, 180);
    let (error, _) = failure("[jobs]\ndelivery_log_retention_days = 36501\n", &[]);
    let line = error.to_string();
    assert!(
        line.contains(
            "jobs.delivery_log_retention_days: must be at most 36500 (0 keeps every log)"
        ),
        "{line}"
    );
}

#[test]
fn a_missing_file_is_named() {
    let error = load_with_env(Path::new("/nonexistent/pushgate.toml"), env(&[])).unwrap_err();
    assert!(
        error.to_string().contains("/nonexistent/pushgate.toml"),
        "{error}"
    );
}

#[test]
fn a_bad_value_names_the_key_without_echoing_it() {
    let (error, _) = failure("listen = \"postgres://user:hunter2@db/pushgate\"\n", &[]);
    let line = error.to_string();
    assert!(line.contains("listen"), "{line}");
    assert!(!line.contains("hunter2"), "{line}");
    let (error, _) = failure("[retry]\ninitial_backoff_secs = 0\n", &[]);
    assert!(
        error.to_string().contains("retry: initial_backoff_secs"),
        "{error}"
    );
    let (error, _) = failure("log_format = \"xml\"\n", &[]);
    assert!(error.to_string().contains("log_format"), "{error}");
}

#[test]
fn the_environment_overrides_the_file_and_its_errors_name_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "database_url = \"sqlite:file.db\"\n[pipeline]\nmax_in_flight = 10\n",
    );
    let config = load_with_env(
        &path,
        env(&[
            ("PUSHGATE_PIPELINE__MAX_IN_FLIGHT", "7"),
            ("PUSHGATE_QUARANTINE__SOFT_ERROR_THRESHOLD", "3"),
            ("PUSHGATE_LOG_FORMAT", "json"),
            ("PUSHGATE_TEST_DATABASE_URL", "postgres://ignored"),
            ("PUSHGATE_CONFIG", "ignored.toml"),
            ("OTHER", "x"),
        ]),
    )
    .unwrap();
    assert_eq!(config.pipeline.max_in_flight, 7);
    assert_eq!(config.quarantine.soft_error_threshold, 3);
    assert_eq!(config.log_format, super::LogFormat::Json);
    assert_eq!(
        config.database_url(),
        format!("sqlite:{}", dir.path().join("file.db").display())
    );
    let url = load_with_env(
        &path,
        env(&[("PUSHGATE_DATABASE_URL", "postgres://u:pw@127.0.0.1:5432/db")]),
    )
    .unwrap();
    assert_eq!(url.database_url(), "postgres://u:pw@127.0.0.1:5432/db");
    assert!(!format!("{url:?}").contains("pw@"), "the URL is a secret");

    let error =
        load_with_env(&path, env(&[("PUSHGATE_PIPELINE__MAX_IN_FLIGHT", "lots")])).unwrap_err();
    let line = error.to_string();
    assert!(line.contains("PUSHGATE_PIPELINE__MAX_IN_FLIGHT"), "{line}");
    assert!(line.contains("pipeline.max_in_flight"), "{line}");
    let error = load_with_env(&path, env(&[("PUSHGATE_PIPELINE__COLOUR", "1")])).unwrap_err();
    assert!(error.to_string().contains("pipeline.colour"), "{error}");
}

#[test]
fn a_missing_key_file_names_the_app_the_key_and_the_file() {
    let (error, _) = failure(
        r#"
[[apps]]
id = "shop-ios"
platform = "ios"
[apps.apns]
topic = "com.example.shop"
auth = { kind = "token", key_file = "keys/AuthKey_ABC.p8", key_id = "ABC123DEFG", team_id = "TEAM123456" }
"#,
        &[],
    );
    let line = error.to_string();
    assert!(line.contains("shop-ios"), "{line}");
    assert!(line.contains("apns.auth.key_file"), "{line}");
    assert!(line.contains("keys/AuthKey_ABC.p8"), "{line}");
}

#[test]
fn apps_are_checked_whole() {
    let cases = [
        (
            "[[apps]]\nid = \"Shop\"\nplatform = \"ios\"\n",
            "apps[0].id",
        ),
        ("[[apps]]\nid = \"a\"\nplatform = \"windows\"\n", "platform"),
        (
            "[[apps]]\nid = \"a\"\nplatform = \"ios\"\n",
            "apns: is required",
        ),
        (
            "[mocks]\nenabled = true\n[[apps]]\nid = \"a\"\nplatform = \"android\"\n[apps.apns]\ntopic = \"x\"\n",
            "an android app takes an fcm section",
        ),
        (
            "[mocks]\nenabled = true\n[[apps]]\nid = \"a\"\nplatform = \"ios\"\n[apps.apns]\ntopic = \"x\"\n",
            "mock mode",
        ),
        (
            "[mocks]\nenabled = true\n[[apps]]\nid = \"a\"\nplatform = \"ios\"\n[[apps]]\nid = \"a\"\nplatform = \"ios\"\n",
            "defined twice",
        ),
        (
            "[[api_keys]]\nname = \"k\"\nsha256 = \"abc\"\n",
            "api_keys[0].sha256",
        ),
        (
            "[[api_keys]]\nname = \"k\"\nsha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\napp = \"ghost\"\n",
            "api_keys[0].app",
        ),
    ];
    for (text, expected) in cases {
        let (error, _) = failure(text, &[]);
        assert!(error.to_string().contains(expected), "{text}: {error}");
    }
}

#[test]
fn the_embedded_default_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/pushgate.toml");
    let config = load_with_env(&path, env(&[])).unwrap();
    assert!(config.mocks.enabled);
    assert_eq!(config.apps.len(), 2);
    assert_eq!(config.api_keys.len(), 1);
}

#[test]
fn the_production_example_uses_only_known_keys() {
    // Everything parses; the first problem is the example's key file, which does not exist.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/production.example.toml");
    let error = load_with_env(&path, env(&[])).unwrap_err().to_string();
    assert!(
        error.contains("apps[0] (shop-ios).apns.auth.key_file: file"),
        "{error}"
    );
}

#[test]
fn the_sqlite_write_cache_is_between_one_mib_and_four_gib() {
    for text in [
        "database_sqlite_write_cache_mib = 0\n",
        "database_sqlite_write_cache_mib = 4097\n",
    ] {
        let (error, _) = failure(text, &[]);
        let line = error.to_string();
        assert!(
            line.contains("database_sqlite_write_cache_mib: must be between 1 and 4096"),
            "{line}"
        );
    }
    assert_eq!(loaded("").database_sqlite_write_cache_mib, 8, "the default");
    let config = loaded("database_sqlite_write_cache_mib = 16\n");
    assert_eq!(config.database_sqlite_write_cache_mib, 16);
}
