//! Loading: the TOML file, then `PUSHGATE_...` environment variables over it, then the
//! checks that need the whole picture (apps, keys, referenced files).
//!
//! Every failure is one [`ConfigError`] line naming the key and where it came from (the
//! file, or the environment variable), and never a value: a value may be a secret.

use std::path::{Path, PathBuf};

use figment::providers::{Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};

use super::Config;

/// Environment variables that start with `PUSHGATE_` but are not configuration keys.
const NOT_KEYS: [&str; 2] = ["PUSHGATE_CONFIG", "PUSHGATE_LOG"];
/// Prefix of the test harness's own variables (e.g. `PUSHGATE_TEST_DATABASE_URL`).
const TEST_PREFIX: &str = "PUSHGATE_TEST_";

/// A configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration error in {origin}: {message}")]
pub struct ConfigError {
    /// The file or environment variable at fault.
    pub origin: String,
    /// What is wrong, naming the key.
    pub message: String,
}

impl ConfigError {
    /// An error about `key` in the file `path`.
    pub fn key(path: &Path, key: &str, problem: impl std::fmt::Display) -> Self {
        Self {
            origin: path.display().to_string(),
            message: format!("{key}: {problem}"),
        }
    }
}

/// Loads `path` with the process's environment over it.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_with_env(path, std::env::vars())
}

/// Loads `path` with the given environment over it (tests pass their own).
pub fn load_with_env(
    path: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    if !path.is_file() {
        return Err(ConfigError {
            origin: path.display().to_string(),
            message: "the configuration file does not exist (give one with --config)".into(),
        });
    }
    let figment = Figment::new()
        .merge(Toml::file_exact(path))
        .merge(EnvOverrides::new(env));
    let mut config: Config = figment.extract().map_err(|e| describe(path, e))?;
    config.base_dir = path
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                p.to_owned()
            }
        })
        .unwrap_or_else(|| PathBuf::from("."));
    config.base_dir = std::path::absolute(&config.base_dir).unwrap_or(config.base_dir);
    config.source = path.to_owned();
    super::apps::check(&config)?;
    Ok(config)
}

/// One line for a figment error: the key, where it came from, what is wrong; never the
/// value that was given.
fn describe(path: &Path, error: figment::Error) -> ConfigError {
    use figment::error::Kind;
    let mut key = error.path.clone();
    let problem = match &error.kind {
        Kind::UnknownField(name, expected) => {
            key.push(name.clone());
            format!("unknown key (expected one of: {})", expected.join(", "))
        }
        Kind::UnknownVariant(_, expected) => {
            format!(
                "not an accepted value (expected one of: {})",
                expected.join(", ")
            )
        }
        Kind::MissingField(name) => {
            key.push(name.to_string());
            "is required".to_owned()
        }
        Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => {
            format!("expected {expected}, found {}", kind_of(actual))
        }
        Kind::InvalidLength(len, expected) => format!("expected {expected}, found {len} items"),
        Kind::DuplicateField(name) => {
            key.push((*name).to_owned());
            "given twice".to_owned()
        }
        // Custom messages come from our own types' parsers (they do not echo secrets).
        Kind::Message(message) => message.clone(),
        other => other.to_string(),
    };
    let key = if key.is_empty() {
        "(top level)".to_owned()
    } else {
        key.join(".")
    };
    let origin = match &error.metadata {
        Some(metadata) if metadata.name == ENV_NAME => {
            let keys: Vec<&str> = error.path.iter().map(String::as_str).collect();
            metadata.interpolate(&Profile::Default, &keys)
        }
        _ => path.display().to_string(),
    };
    ConfigError {
        origin,
        message: format!("{key}: {problem}"),
    }
}

/// What kind of value was found, without the value itself.
fn kind_of(actual: &figment::error::Actual) -> &'static str {
    use figment::error::Actual;
    match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a float",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Bytes(_) => "bytes",
        Actual::Unit | Actual::Option => "nothing",
        Actual::Seq => "a list",
        Actual::Map => "a table",
        _ => "another kind of value",
    }
}

const ENV_NAME: &str = "environment variable";

/// `PUSHGATE_A__B=value` as the key `a.b`: the environment over the file.
struct EnvOverrides {
    values: Vec<(Vec<String>, String)>,
}

impl EnvOverrides {
    fn new(env: impl IntoIterator<Item = (String, String)>) -> Self {
        let values = env
            .into_iter()
            .filter(|(name, _)| {
                !NOT_KEYS.contains(&name.as_str()) && !name.starts_with(TEST_PREFIX)
            })
            .filter_map(|(name, value)| {
                let rest = name.strip_prefix("PUSHGATE_")?;
                let keys: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
                (!keys.iter().any(String::is_empty)).then_some((keys, value))
            })
            .collect();
        Self { values }
    }
}

impl Provider for EnvOverrides {
    fn metadata(&self) -> Metadata {
        Metadata::named(ENV_NAME).interpolater(|_: &Profile, keys: &[&str]| {
            let name: Vec<String> = keys.iter().map(|k| k.to_uppercase()).collect();
            format!("environment variable PUSHGATE_{}", name.join("__"))
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut root = Dict::new();
        for (keys, value) in &self.values {
            insert(&mut root, keys, value);
        }
        Ok(Profile::Default.collect(root))
    }
}

/// Puts `value` (parsed as figment parses environment values: numbers, booleans, else a
/// string) at the nested `keys`.
fn insert(dict: &mut Dict, keys: &[String], value: &str) {
    let Some((first, rest)) = keys.split_first() else {
        return;
    };
    if rest.is_empty() {
        let parsed: Value = value
            .parse()
            .unwrap_or_else(|_| Value::from(value.to_owned()));
        dict.insert(first.clone(), parsed);
        return;
    }
    let entry = dict
        .entry(first.clone())
        .or_insert_with(|| Value::from(Dict::new()));
    if let Value::Dict(_, inner) = entry {
        insert(inner, rest, value);
    } else {
        let mut inner = Dict::new();
        insert(&mut inner, rest, value);
        *entry = Value::from(inner);
    }
}
