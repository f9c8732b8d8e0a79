//! The scheduled jobs through the binary, on SQLite and on PostgreSQL: the delivery log
//! retention reaches the daily cleanup both in `pushgate jobs run cleanup` and in the
//! scheduler of `pushgate serve`.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Backend, World, command, ios_token};

/// The key that sets the retention, as an environment override.
const RETENTION: &str = "PUSHGATE_JOBS__DELIVERY_LOG_RETENTION_DAYS";

/// `pushgate send` to two tokens, the first of them twice (an exclusion of the log);
/// returns the delivery's id.
async fn send(world: &World, prefix: &str) -> String {
    let (first, second) = (ios_token(prefix, 1), ios_token(prefix, 2));
    let tokens = format!("{first},{second},{first}");
    let output = world
        .cli(&[
            "send", "--app", "ios-app", "--tokens", &tokens, "--title", "Hi", "--format", "json",
        ])
        .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(summary["state"], "done", "{summary}");
    assert_eq!(summary["sent"], 2, "{summary}");
    assert_eq!(summary["excluded"], 1, "{summary}");
    summary["delivery_id"]
        .as_str()
        .expect("the delivery's id")
        .to_owned()
}

/// A connection of the test's own to the database (both backends take `$1`).
async fn database(world: &World) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(&world.db.url)
        .await
        .expect("the database opens")
}

/// Moves the delivery's finish two days back, as if it had been sent then.
async fn age(world: &World, delivery: &str) {
    let pool = database(world).await;
    let aged =
        sqlx::query("UPDATE deliveries SET finished_at = finished_at - 2 * 86400000 WHERE id = $1")
            .bind(delivery.to_owned())
            .execute(&pool)
            .await
            .expect("the delivery is aged");
    assert_eq!(aged.rows_affected(), 1);
    pool.close().await;
}

/// Rows of `table` that belong to the delivery.
async fn rows(world: &World, table: &str, delivery: &str) -> i64 {
    let pool = database(world).await;
    let count: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM {table} WHERE delivery_id = $1"
    ))
    .bind(delivery.to_owned())
    .fetch_one(&pool)
    .await
    .expect("a count");
    pool.close().await;
    count
}

/// `pushgate jobs run cleanup` with these overrides; returns the run's id and how many it
/// changed, from its output line.
fn cleanup(world: &World, env: &[(&str, &str)]) -> (i64, u64) {
    let output = command(&world.config)
        .envs(env.iter().copied())
        .args(["jobs", "run", "cleanup"])
        .output()
        .expect("the pushgate binary runs");
    let line = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(
        output.status.success(),
        "{line}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // "cleanup: run ID changed N"
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["cleanup:", "run", id, "changed", n] => {
            (id.parse().expect("a run id"), n.parse().expect("a count"))
        }
        _ => panic!("unexpected output: {line:?}"),
    }
}

#[tokio::test]
async fn the_log_retention_reaches_the_cleanup_of_jobs_run_and_of_serve_on_sqlite() {
    log_retention(Backend::Sqlite).await;
}

#[tokio::test]
async fn the_log_retention_reaches_the_cleanup_of_jobs_run_and_of_serve_on_postgres() {
    log_retention(Backend::Postgres).await;
}

async fn log_retention(backend: Backend) {
    let Some(world) = World::with(backend, "").await else {
        eprintln!("skipped: PostgreSQL is unreachable");
        return;
    };
    // A delivery's rows in each table of its log. SQLite appends first attempts' results
    // to `message_results`; PostgreSQL writes them over the message's row.
    let results = match backend {
        Backend::Sqlite => 2,
        Backend::Postgres => 0,
    };
    let log = [
        ("messages", 2),
        ("message_results", results),
        ("exclusions", 1),
    ];
    let migrate = world.cli(&["migrate"]).await;
    assert!(migrate.status.success(), "{migrate:?}");
    let old = send(&world, "c1").await;
    let recent = send(&world, "c2").await;
    age(&world, &old).await;
    for (table, n) in log {
        assert_eq!(rows(&world, table, &old).await, n, "{table}");
    }

    // The default keeps every log, however old.
    let (_, changed) = cleanup(&world, &[]);
    assert_eq!(changed, 0);
    assert!(world.store().delivery(&old).await.unwrap().is_some());

    // One day: the delivery finished two days ago goes, with every row of its log; the
    // one finished now stays.
    let (run, changed) = cleanup(&world, &[(RETENTION, "1")]);
    assert_eq!(changed, 1);
    assert!(world.store().delivery(&old).await.unwrap().is_none());
    for (table, _) in log {
        assert_eq!(rows(&world, table, &old).await, 0, "{table}");
    }
    assert!(world.store().delivery(&recent).await.unwrap().is_some());
    for (table, n) in log {
        assert_eq!(rows(&world, table, &recent).await, n, "{table}");
    }
    let changes = world.store().job_changes(run).await.unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].subject, "delivery");
    assert_eq!(changes[0].subject_key, old);
    assert_eq!(changes[0].app_id, "ios-app");

    // `serve` runs the cleanup on its schedule (here every second) with the same setting.
    age(&world, &recent).await;
    let server = world.serve_with(&[
        (RETENTION, "1"),
        ("PUSHGATE_JOBS__CLEANUP_INTERVAL_SECS", "1"),
    ]);
    let started = Instant::now();
    while world.store().delivery(&recent).await.unwrap().is_some() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "serve did not purge the log within 30 s\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (table, _) in log {
        assert_eq!(rows(&world, table, &recent).await, 0, "{table}");
    }
    let status = server.terminate(Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
}
