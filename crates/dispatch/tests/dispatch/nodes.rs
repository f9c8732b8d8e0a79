//! Several nodes on one PostgreSQL: two pipelines share a delivery of 20,000 messages; each
//! token is sent exactly once.

use std::sync::Arc;
use std::time::Duration;

use pushgate_dispatch::clock::SystemClock;
use pushgate_dispatch::pipeline::{Pipeline, PipelineConfig};
use pushgate_mocks::Service;
use pushgate_store::testing::TestDatabase;
use pushgate_store::{Store, StoreOptions};
use tokio_util::sync::CancellationToken;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pipelines_on_one_postgres_send_each_of_20000_tokens_exactly_once() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let world = World::new(db).await;
    let tokens = apns_tokens("d0", 20_000);
    world.subscribe(IOS, &tokens).await;
    let delivery = world.deliver(IOS, 3600).await;
    let config = PipelineConfig {
        claim_batch: 200,
        ..test_config()
    };

    let cancel = CancellationToken::new();
    let nodes: Vec<_> = ["node-1", "node-2"]
        .into_iter()
        .map(|owner| {
            let (url, senders, config, cancel) = (
                world.db.url.clone(),
                world.senders(),
                config.clone(),
                cancel.clone(),
            );
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    let store = Store::connect(&url, &StoreOptions::default())
                        .await
                        .unwrap();
                    let pipeline = Pipeline::new(
                        store,
                        senders,
                        config,
                        fast_retries(),
                        pushgate_quarantine::QuarantinePolicy::default(),
                        Arc::new(SystemClock),
                        owner,
                    );
                    pipeline.run(cancel).await.unwrap();
                });
            })
        })
        .collect();
    let done = wait_done(world.store(), &delivery.id, Duration::from_secs(300)).await;
    cancel.cancel();
    for node in nodes {
        node.join().unwrap();
    }
    let summary = world.store().summary(&done).await.unwrap();
    assert_eq!(
        (summary.sent, summary.failed, summary.retry, summary.pending),
        (20_000, 0, 0, 0)
    );
    let stats = world.mocks.stats();
    for token in &tokens {
        assert_eq!(stats.delivered(Service::Apns, token), 1, "{token}");
    }
}
