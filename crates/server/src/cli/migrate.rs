//! `pushgate migrate` (create or upgrade the schema) and `pushgate check-config`.

use std::io::Write;

use crate::app::open_store;
use crate::config::Config;

/// Opens the database, which runs the embedded migrations, and writes the configured apps.
pub async fn run(config: Config, out: &mut impl Write) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    store.close().await;
    writeln!(
        out,
        "database schema is up to date ({:?}); {} app(s) written",
        store.dialect(),
        config.apps.len()
    )?;
    Ok(())
}

/// Says what the (valid) configuration holds, without any secret.
pub fn check(config: &Config, out: &mut impl Write) -> anyhow::Result<()> {
    let scheme = config
        .database_url()
        .split(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    writeln!(out, "configuration OK: {}", config.source.display())?;
    writeln!(out, "  database: {scheme} (URL not shown)")?;
    writeln!(out, "  listen: {}", config.listen)?;
    writeln!(out, "  node: {}", config.node_name())?;
    writeln!(out, "  mock mode: {}", config.mocks.enabled)?;
    for app in &config.apps {
        writeln!(out, "  app {} ({})", app.id, app.platform)?;
    }
    let admins = config.api_keys.iter().filter(|k| k.app.is_none()).count();
    writeln!(
        out,
        "  api keys: {} ({admins} admin)",
        config.api_keys.len()
    )?;
    writeln!(
        out,
        "  pipeline.max_in_flight: {}, retry.initial_backoff_secs: {}, quarantine.soft_error_threshold: {}",
        config.pipeline.max_in_flight,
        config.retry.initial_backoff_secs,
        config.quarantine.soft_error_threshold
    )?;
    Ok(())
}
