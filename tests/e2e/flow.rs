//! The main flow, on SQLite and on PostgreSQL: register, deliver, quarantine, sweep (the
//! CLI against the same configuration), exclude, report (JSON and CSV), release.

use pushgate_mocks::{Answer, Rule, Service};
use pushgate_outcome::fcm::ErrorCode;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{
    ADMIN_KEY, Backend, World, call, deliver, get, ios_token, post, register, wait_done,
};

#[tokio::test]
async fn main_flow_on_sqlite() {
    main_flow(Backend::Sqlite).await;
}

#[tokio::test]
async fn main_flow_on_postgres() {
    main_flow(Backend::Postgres).await;
}

fn count(summary: &Value, key: &str) -> i64 {
    summary[key].as_i64().unwrap_or(-1)
}

async fn main_flow(backend: Backend) {
    let Some(world) = World::with(backend, "").await else {
        eprintln!("skipped: PostgreSQL is unreachable");
        return;
    };
    let server = world.serve();
    let scenarios = world.mocks.scenarios();
    scenarios
        .add(Rule::apns_prefix("dead", Answer::apns(410, "Unregistered")))
        .unwrap();
    scenarios
        .add(Rule::fcm_prefix(
            "gone-",
            Answer::fcm(ErrorCode::Unregistered),
        ))
        .unwrap();

    // Register: three good iOS tokens (alice has two), one the mock calls unregistered.
    let good: Vec<String> = (0..3).map(|n| ios_token("a1", n)).collect();
    let dead = ios_token("dead", 1);
    register(&world, &server, "ios-app", "alice", &good[0]).await;
    register(&world, &server, "ios-app", "alice", &good[1]).await;
    register(&world, &server, "ios-app", "bob", &good[2]).await;
    let carol = register(&world, &server, "ios-app", "carol", &dead).await;
    assert_eq!(carol["created"], true);
    // Registering again updates (200, not a second subscription).
    let again = post(
        &world,
        &server,
        "/v1/apps/ios-app/subscriptions",
        json!({"profile": "carol", "token": dead}),
    )
    .await;
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(again.body["created"], false);
    register(&world, &server, "android-app", "dave", "ok-token-1").await;
    register(&world, &server, "android-app", "erin", "gone-token-1").await;

    // Deliver to everyone: the unregistered token is quarantined when its answer arrives.
    let first = deliver(
        &world,
        &server,
        "ios-app",
        json!({"target": {"all": true}, "notification": {"title": "Sale", "body": "Today only"}}),
    )
    .await;
    let summary = wait_done(&world, &server, &first).await;
    assert_eq!(count(&summary, "targeted"), 4, "{summary}");
    assert_eq!(count(&summary, "sent"), 3, "{summary}");
    assert_eq!(count(&summary, "failed"), 1, "{summary}");
    assert_eq!(count(&summary, "quarantined_after_sending"), 1, "{summary}");
    assert_eq!(
        summary["failed_by_type_and_reason"],
        json!([{"failure_type": "Hard", "failure_reason": "User unknown", "count": 1}])
    );
    let android = deliver(
        &world,
        &server,
        "android-app",
        json!({"target": {"profiles": ["dave", "erin"]}, "notification": {"title": "Hi"}}),
    )
    .await;
    let android_summary = wait_done(&world, &server, &android).await;
    assert_eq!(count(&android_summary, "sent"), 1, "{android_summary}");
    assert_eq!(count(&android_summary, "quarantined_after_sending"), 1);
    assert_eq!(world.mocks.stats().delivered(Service::Fcm, "ok-token-1"), 1);

    // The delivery log, filtered.
    let failed = get(
        &world,
        &server,
        &format!("/v1/deliveries/{first}/messages?status=Failed"),
    )
    .await;
    assert_eq!(failed.status, 200, "{failed:?}");
    let items = failed.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["token"], dead.as_str());
    assert_eq!(items[0]["outcome_id"], "apns.unregistered");
    let page = get(
        &world,
        &server,
        &format!("/v1/deliveries/{first}/messages?limit=2"),
    )
    .await;
    assert_eq!(page.body["items"].as_array().unwrap().len(), 2);
    let next = page.body["next_after"].as_i64().expect("a next page");
    let rest = get(
        &world,
        &server,
        &format!("/v1/deliveries/{first}/messages?limit=2&after={next}"),
    )
    .await;
    assert_eq!(rest.body["items"].as_array().unwrap().len(), 2);

    // The quarantine list has the token, with its reason.
    let list = get(
        &world,
        &server,
        "/v1/apps/ios-app/quarantine?status=Quarantine",
    )
    .await;
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list:?}");
    assert_eq!(items[0]["token"], dead.as_str());
    assert_eq!(items[0]["last_failure_reason"], "User unknown");
    assert_eq!(items[0]["last_failure_type"], "Hard");

    // The opt-out sweep, from the command line against the same configuration.
    let sweep = world.cli(&["jobs", "run", "optout-sweep"]).await;
    assert!(sweep.status.success(), "{sweep:?}");
    let said = String::from_utf8_lossy(&sweep.stdout);
    assert!(said.contains("changed 2"), "{said}");
    let subscription = carol["subscription"]["id"].as_i64().unwrap();
    let swept = world
        .store()
        .subscription("ios-app", subscription)
        .await
        .unwrap()
        .unwrap();
    assert!(swept.disabled);

    // The second delivery excludes the quarantined token, with its reason.
    let second = deliver(
        &world,
        &server,
        "ios-app",
        json!({"target": {"all": true}, "notification": {"title": "Again"}}),
    )
    .await;
    let summary = wait_done(&world, &server, &second).await;
    assert_eq!(count(&summary, "sent"), 3, "{summary}");
    assert_eq!(count(&summary, "excluded"), 1, "{summary}");
    assert_eq!(
        count(&summary, "quarantined_during_analysis"),
        1,
        "{summary}"
    );
    let exclusions = get(
        &world,
        &server,
        &format!("/v1/deliveries/{second}/exclusions"),
    )
    .await;
    let items = exclusions.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{exclusions:?}");
    assert_eq!(items[0]["reason"], "Quarantined address");
    assert_eq!(items[0]["profile_id"], "carol");
    assert_eq!(world.mocks.stats().delivered(Service::Apns, &good[0]), 2);

    // Reports: exclusions (JSON and CSV, filtered), non-deliverables, a profile.
    let report = get(
        &world,
        &server,
        &format!("/v1/apps/ios-app/reports/exclusions?delivery={second}&reason=9"),
    )
    .await;
    assert_eq!(
        report.body["items"].as_array().unwrap().len(),
        1,
        "{report:?}"
    );
    let none = get(
        &world,
        &server,
        "/v1/apps/ios-app/reports/exclusions?reason=Twice",
    )
    .await;
    assert!(none.body["items"].as_array().unwrap().is_empty());
    let csv = get(
        &world,
        &server,
        "/v1/apps/ios-app/reports/exclusions?format=csv",
    )
    .await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(
        lines[0],
        "id,delivery,profile,token,reason_value,reason,kind,at"
    );
    assert_eq!(lines.len(), 2, "{}", csv.text);
    assert!(
        lines[1].contains(&dead) && lines[1].contains(",9,Quarantined address,"),
        "{}",
        lines[1]
    );

    let non = get(&world, &server, "/v1/apps/ios-app/reports/non-deliverables").await;
    assert_eq!(
        non.body["items"],
        json!([{"app_id": "ios-app", "platform": "ios", "failure_type": "Hard", "failure_reason": "User unknown", "failed": 1, "quarantined": 1}])
    );
    let non_csv = get(
        &world,
        &server,
        "/v1/apps/android-app/reports/non-deliverables?format=csv",
    )
    .await;
    assert!(
        non_csv
            .text
            .contains("android-app,android,Hard,1,User unknown,1,1"),
        "{}",
        non_csv.text
    );
    let alice = get(&world, &server, "/v1/apps/ios-app/reports/profiles/alice").await;
    assert_eq!(
        alice.body["history"]["messages"].as_array().unwrap().len(),
        4,
        "{alice:?}"
    );
    assert_eq!(alice.body["subscriptions"].as_array().unwrap().len(), 2);
    let carol = get(&world, &server, "/v1/apps/ios-app/reports/profiles/carol").await;
    assert_eq!(
        carol.body["history"]["exclusions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let quarantine_csv = get(&world, &server, "/v1/apps/ios-app/quarantine?format=csv").await;
    assert!(
        quarantine_csv.text.starts_with("token,status,errors,"),
        "{}",
        quarantine_csv.text
    );

    // Release one token: a dry run changes nothing, then it is Valid.
    let path = "/v1/apps/ios-app/quarantine/release";
    let dry = post(
        &world,
        &server,
        path,
        json!({"token": dead, "dry_run": true}),
    )
    .await;
    assert_eq!(
        (dry.status, dry.body["released"].as_u64()),
        (200, Some(1)),
        "{dry:?}"
    );
    let address = world
        .store()
        .address("ios-app", &dead)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(address.state.status.as_str(), "Quarantine");
    let done = post(&world, &server, path, json!({"token": dead})).await;
    assert_eq!(done.body["released"], 1);
    let address = world
        .store()
        .address("ios-app", &dead)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(address.state.status.as_str(), "Valid");

    // Bulk release by error text on the Android app: count, then delete.
    let path = "/v1/apps/android-app/quarantine/release";
    let filter = json!({"text_contains": "UNREGISTERED"});
    let dry = post(
        &world,
        &server,
        path,
        json!({"filter": filter, "action": "delete", "dry_run": true}),
    )
    .await;
    assert_eq!(dry.body["released"], 1, "{dry:?}");
    assert!(
        world
            .store()
            .address("android-app", "gone-token-1")
            .await
            .unwrap()
            .is_some()
    );
    let gone = post(
        &world,
        &server,
        path,
        json!({"filter": filter, "action": "delete"}),
    )
    .await;
    assert_eq!(gone.body["released"], 1, "{gone:?}");
    assert!(
        world
            .store()
            .address("android-app", "gone-token-1")
            .await
            .unwrap()
            .is_none()
    );

    // Text PostgreSQL cannot hold is refused, not a database error.
    for path in [
        "/v1/apps/ios-app/quarantine?text=a%00b",
        "/v1/apps/ios-app/quarantine?after=%00",
        "/v1/apps/ios-app/reports/exclusions?delivery=%00",
        "/v1/apps/ios-app/reports/profiles/a%00b",
    ] {
        let answer = get(&world, &server, path).await;
        assert_eq!(answer.status, 400, "{path}: {answer:?}");
    }
    let nul = post(
        &world,
        &server,
        "/v1/apps/ios-app/quarantine/release",
        json!({"filter": {"text_contains": "a\u{0}b"}}),
    )
    .await;
    assert_eq!(nul.status, 400, "{nul:?}");

    // The CLI reads the same reports.
    let table = world
        .cli(&["report", "summary", "--delivery", &second])
        .await;
    assert!(table.status.success(), "{table:?}");
    assert!(String::from_utf8_lossy(&table.stdout).contains("quarantined during analysis"));
    let csv = world
        .cli(&[
            "report",
            "exclusions",
            "--app",
            "ios-app",
            "--format",
            "csv",
        ])
        .await;
    assert!(String::from_utf8_lossy(&csv.stdout).starts_with("id,delivery,"));
    let non = world
        .cli(&[
            "report",
            "non-deliverables",
            "--app",
            "ios-app",
            "--format",
            "json",
        ])
        .await;
    let rows: Value = serde_json::from_slice(&non.stdout).expect("JSON");
    assert_eq!(rows[0]["failed"], 1);

    // Metrics show the sends by outcome row, the quarantine, the latency, the results
    // transactions and the queue.
    let metrics = call(
        &world.http,
        Method::GET,
        &server.url("/metrics"),
        Some(ADMIN_KEY),
        None,
    )
    .await;
    assert_eq!(metrics.status, 200);
    for needle in [
        "pushgate_sends_total{app=\"ios-app\",platform=\"ios\",outcome=\"apns.unregistered\"} 1",
        "pushgate_quarantined_total{app=\"ios-app\",platform=\"ios\"} 1",
        "pushgate_send_seconds_bucket{platform=\"ios\"",
        "pushgate_result_write_seconds_bucket{le=\"0.001\"}",
        "pushgate_queue_depth",
        "pushgate_job_runs_total{job=\"optout-sweep\"",
    ] {
        assert!(
            metrics.text.contains(needle),
            "{needle} in\n{}",
            metrics.text
        );
    }
}
