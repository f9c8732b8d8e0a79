//! `pushgate keys generate|hash`: API keys for the configuration, which holds only their
//! SHA-256.

use std::io::{BufRead, Write};

use clap::Subcommand;

use super::UsageError;
use crate::api::auth::{generate_key, hash_key};
use crate::config::is_app_id;

/// `pushgate keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print a new random key (shown once: keep it) and the [[api_keys]] entry, holding
    /// only its hash, to paste into the configuration.
    Generate {
        /// The one app the key reaches; without it, an admin key that reaches every app.
        #[arg(long)]
        app: Option<String>,
        /// A name for the key (shown in logs instead of the key).
        #[arg(long, default_value = "backend")]
        name: String,
    },
    /// Read a key on standard input and print its SHA-256 (the `sha256` of [[api_keys]]).
    Hash,
}

/// Runs `keys`.
pub fn run(command: KeysCommand, out: &mut impl Write) -> anyhow::Result<()> {
    match command {
        KeysCommand::Generate { app, name } => {
            if let Some(app) = &app
                && !is_app_id(app)
            {
                return Err(UsageError(format!(
                    "--app {app:?}: not an app id ([a-z0-9-]{{1,64}})"
                ))
                .into());
            }
            let key = generate_key();
            writeln!(out, "key: {key}")?;
            writeln!(
                out,
                "(shown once: give it to the client; pushgate keeps only its hash)"
            )?;
            writeln!(out)?;
            writeln!(out, "[[api_keys]]")?;
            writeln!(out, "name = {}", toml_string(&name))?;
            writeln!(out, "sha256 = \"{}\"", hash_key(&key))?;
            if let Some(app) = app {
                writeln!(out, "app = \"{app}\"")?;
            }
        }
        KeysCommand::Hash => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            let key = line.trim_end_matches(['\n', '\r']);
            if key.is_empty() {
                return Err(UsageError("no key on standard input".into()).into());
            }
            writeln!(out, "{}", hash_key(key))?;
        }
    }
    Ok(())
}

fn toml_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}
