//! Building pushgate from a [`Config`]: the store (migrated, apps written), the mocks in mock
//! mode, one sender per app, the pipeline, the analyzer and the jobs.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use pushgate_dispatch::analysis::Analyzer;
use pushgate_dispatch::clock::{Clock, SystemClock};
use pushgate_dispatch::jobs::Jobs;
use pushgate_dispatch::pipeline::Pipeline;
use pushgate_store::{App, Store, StoreOptions};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::Config;
use crate::mock_mode::{self, RunningMocks};
use crate::senders;

/// Messages waiting to be sent (Pending and Retry), sampled every few seconds.
pub const QUEUE_DEPTH: &str = "pushgate_queue_depth";

/// Opens the database named by the configuration (running the embedded migrations) and
/// writes the configured apps.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let options = StoreOptions {
        max_connections: config.database_max_connections,
        sqlite_write_cache_kib: config.database_sqlite_write_cache_mib * 1024,
        ..StoreOptions::default()
    };
    let store = Store::connect(&config.database_url(), &options)
        .await
        .context("cannot open the database")?;
    let now = Utc::now();
    for app in &config.apps {
        store
            .upsert_app(
                &App {
                    id: app.id.clone(),
                    platform: app.platform,
                },
                now,
            )
            .await
            .with_context(|| format!("cannot write app {:?}", app.id))?;
    }
    Ok(store)
}

/// Everything a running pushgate is made of.
pub struct Pushgate {
    /// The configuration it was built from.
    pub config: Arc<Config>,
    /// The database.
    pub store: Store,
    /// The send pipeline (run it, or step it).
    pub pipeline: Pipeline,
    /// Delivery analysis.
    pub analyzer: Analyzer,
    /// The scheduled jobs.
    pub jobs: Jobs,
    /// This node's name.
    pub node: String,
    /// The bundled mocks, in mock mode.
    pub mocks: Option<RunningMocks>,
    /// Where the time comes from.
    pub clock: Arc<dyn Clock>,
}

impl Pushgate {
    /// Builds everything; starts the mocks first in mock mode.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let mocks = if config.mocks.enabled {
            let dir = config.resolve(&config.mocks.dir);
            let mocks = mock_mode::start(&dir).await?;
            info!(
                apns = %mocks.credentials.apns_url,
                fcm = %mocks.credentials.fcm_url,
                "mock mode: the bundled mocks are running; nothing reaches Apple or Google"
            );
            Some(mocks)
        } else {
            None
        };
        let store = open_store(&config).await?;
        let senders = senders::build(&config, mocks.as_ref().map(|m| &m.credentials))?;
        for app in &config.apps {
            if !senders.contains_key(&app.id) {
                warn!(app = %app.id, "no sender for this app: its messages will fail");
            }
        }
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let node = config.node_name();
        let owner = format!("{node}-{}", uuid::Uuid::new_v4().simple());
        let pipeline = Pipeline::new(
            store.clone(),
            senders,
            config.pipeline.clone(),
            config.retry.clone(),
            config.quarantine.clone(),
            clock.clone(),
            owner,
        );
        let analyzer = Analyzer::new(store.clone(), config.analysis.batch_size, clock.clone());
        let jobs = Jobs::new(
            store.clone(),
            config.quarantine.clone(),
            node.clone(),
            clock.clone(),
        )
        .with_delivery_log_retention(config.jobs.delivery_log_retention_days);
        Ok(Self {
            config: Arc::new(config),
            store,
            pipeline,
            analyzer,
            jobs,
            node,
            mocks,
            clock,
        })
    }

    /// Stops the mocks and closes the database.
    pub async fn shutdown(self) {
        if let Some(mocks) = self.mocks {
            mocks.servers.shutdown().await;
        }
        self.store.close().await;
    }
}

/// Samples the queue depth into its gauge every few seconds until `cancel` fires.
pub async fn sample_queue_depth(store: Store, cancel: CancellationToken) {
    loop {
        match store.queue_depth().await {
            Ok(depth) => metrics::gauge!(QUEUE_DEPTH).set(depth as f64),
            Err(error) => warn!(%error, "cannot read the queue depth"),
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
}
