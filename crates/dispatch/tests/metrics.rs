//! The send metrics against the real APNs client, the mock and a real database: every
//! attempt is counted once, by outcome, even when its batch's results transaction fails
//! and is written again. A test binary of its own: the Prometheus recorder is the
//! process's one recorder.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::Utc;
use metrics_exporter_prometheus::PrometheusHandle;
use pushgate_dispatch::clock::SystemClock;
use pushgate_dispatch::metrics::{QUARANTINED, SEND_SECONDS, SENDS, install_prometheus};
use pushgate_dispatch::pipeline::Pipeline;
use pushgate_dispatch::sender::Sender;
use pushgate_mocks::{Answer, Rule, Service};
use pushgate_outcome::OutcomeId;
use pushgate_quarantine::QuarantinePolicy;
use pushgate_store::testing::TestDatabase;
use pushgate_store::{App, Dialect, Platform};
use sqlx::{AnyConnection, Connection, Executor};

#[allow(dead_code)]
#[path = "dispatch/support.rs"]
mod support;

use support::{World, apns_tokens, fast_retries, test_config};

static RECORDER: LazyLock<PrometheusHandle> =
    LazyLock::new(|| install_prometheus().expect("the only recorder of this test binary"));

/// The value of `series` (name and labels, as rendered), 0 if it is not there yet.
fn value(series: &str) -> f64 {
    RECORDER
        .render()
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().expect("a number"))
}

/// Refuses every results write on `url` until `until` (seconds since the epoch): the
/// append of first attempts' results on SQLite, every result on PostgreSQL. Row triggers,
/// so that claims (which write no result) go on.
async fn refuse_results_until(url: &str, dialect: Dialect, until: f64) {
    let mut connection = AnyConnection::connect(url).await.unwrap();
    let statements = match dialect {
        Dialect::Sqlite => vec![format!(
            "CREATE TRIGGER refuse_results BEFORE INSERT ON message_results \
             WHEN (julianday('now') - 2440587.5) * 86400.0 < {until} \
             BEGIN SELECT RAISE(ABORT, 'results refused by the test'); END"
        )],
        Dialect::Postgres => vec![
            format!(
                "CREATE FUNCTION refuse_results() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN IF clock_timestamp() < to_timestamp({until}) THEN \
                 RAISE EXCEPTION 'results refused by the test'; END IF; RETURN NEW; END $$"
            ),
            "CREATE TRIGGER refuse_results BEFORE UPDATE ON messages FOR EACH ROW \
             EXECUTE FUNCTION refuse_results()"
                .to_owned(),
        ],
    };
    for statement in statements {
        connection.execute(statement.as_str()).await.unwrap();
    }
    connection.close().await.unwrap();
}

/// Sends to 40 tokens of an app of its own (10 of them answered 410 Unregistered) while
/// the database refuses results for the first 1.5 s, then checks the counters.
async fn each_attempt_counts_once(db: TestDatabase, app: &str) {
    let dialect = db.store.dialect();
    let url = db.url.clone();
    let world = World::new(db).await;
    world
        .store()
        .upsert_app(
            &App {
                id: app.into(),
                platform: Platform::Ios,
            },
            Utc::now(),
        )
        .await
        .unwrap();
    world.script(Rule::apns_prefix(
        "dead",
        Answer::ApnsError {
            status: 410,
            reason: "Unregistered".into(),
            timestamp: None,
            retry_after_secs: None,
        },
    ));
    let mut tokens = apns_tokens("dead", 10);
    tokens.extend(apns_tokens("cafe", 30));
    world.subscribe(app, &tokens).await;
    let delivery = world.deliver(app, 3600).await;

    let senders: HashMap<String, Arc<dyn Sender>> =
        HashMap::from([(app.to_owned(), world.apns_sender())]);
    let pipeline = Pipeline::new(
        world.store().clone(),
        senders,
        test_config(),
        fast_retries(),
        QuarantinePolicy::default(),
        Arc::new(SystemClock),
        "node-a",
    );

    let sends = |outcome: &str| {
        value(&format!(
            "{SENDS}{{app=\"{app}\",platform=\"ios\",outcome=\"{outcome}\"}}"
        ))
    };
    // APNs 200 is the "device on" row; 410 Unregistered its own.
    let (accepted, unregistered) = (
        OutcomeId::ApnsDeviceOn.as_str(),
        OutcomeId::ApnsUnregistered.as_str(),
    );
    let quarantined = format!("{QUARANTINED}{{app=\"{app}\",platform=\"ios\"}}");
    let timed = format!("{SEND_SECONDS}_count{{platform=\"ios\"}}");
    let timed_before = value(&timed);

    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let until = now.as_secs_f64() + 1.5;
    refuse_results_until(&url, dialect, until).await;
    let done = world
        .run_until_done(&pipeline, &delivery, Duration::from_secs(30))
        .await;

    // Every answer came while results were refused, so each batch's first results
    // transaction failed...
    let answered = world.mocks.requests_to(Service::Apns, 100);
    assert_eq!(answered.len(), 40, "{app}");
    assert!(
        answered
            .iter()
            .all(|request| (request.at_unix_ms as f64) < until * 1000.0),
        "{app}: some sends were answered after the refusal ended; the test did not reach a refused write"
    );
    // ...the results were written only once the database took them again...
    let refused_until = chrono::DateTime::from_timestamp_millis((until * 1000.0) as i64).unwrap();
    assert!(
        done.finished_at.is_some_and(|at| at >= refused_until),
        "{app}: the delivery finished before results were taken: {:?}",
        done.finished_at
    );
    // ...each token was sent once: the refused batches were written again, not sent again...
    let stats = world.mocks.stats();
    for token in &tokens[10..] {
        assert_eq!(stats.delivered(Service::Apns, token), 1, "{app} {token}");
    }
    assert_eq!(
        stats.count(Service::Apns, 410, Some("Unregistered")),
        10,
        "{app}"
    );
    // ...and each attempt is counted once, by its outcome.
    assert_eq!(
        (sends(accepted), sends(unregistered), value(&quarantined)),
        (30.0, 10.0, 10.0),
        "{app}"
    );
    // The backends run one after the other: the platform's timer counted this run alone.
    assert_eq!(value(&timed) - timed_before, 40.0, "{app}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_attempt_is_counted_once_even_when_its_results_are_written_again() {
    LazyLock::force(&RECORDER);
    each_attempt_counts_once(TestDatabase::sqlite().await, "metrics-sqlite").await;
    if let Some(db) = TestDatabase::postgres().await {
        each_attempt_counts_once(db, "metrics-postgres").await;
    }
}
