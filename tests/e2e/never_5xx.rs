//! No input makes the server answer 5xx or fall over: random JSON bodies, built from the
//! API's own field names so that many of them get past the first checks, sent to every
//! endpoint that takes a body.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use reqwest::Method;
use serde_json::{Map, Value};

use crate::support::{ADMIN_KEY, IOS_KEY, World, call};

const KEYS: [&str; 24] = [
    "target",
    "notification",
    "all",
    "tokens",
    "profiles",
    "title",
    "body",
    "data",
    "validity_secs",
    "dry_run",
    "profile",
    "token",
    "registered_at",
    "filter",
    "text_contains",
    "action",
    "denylisted",
    "statuses",
    "modified_from",
    "badge",
    "priority",
    "collapse_id",
    "content_available",
    "x",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[0-9a-f]{0,70}".prop_map(Value::from),
        ".{0,20}".prop_map(Value::from),
        Just(Value::from("2026-03-01T09:00:00Z")),
        Just(Value::from("delete")),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS.to_vec()), inner), 0..6).prop_map(
                |pairs| {
                    let map: Map<String, Value> =
                        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                    Value::Object(map)
                }
            ),
        ]
    })
}

#[tokio::test]
async fn random_bodies_never_get_a_5xx() {
    let world = World::new().await;
    let server = world.serve();
    let paths = [
        "/v1/apps/ios-app/subscriptions",
        "/v1/apps/android-app/subscriptions",
        "/v1/apps/ios-app/deliveries",
        "/v1/apps/android-app/deliveries",
        "/v1/apps/ios-app/quarantine/release",
        "/v1/apps/android-app/quarantine/release",
    ];
    let mut runner = TestRunner::new(Config {
        cases: 150,
        ..Config::default()
    });
    let strategy = json();
    for case in 0..150 {
        let body = strategy.new_tree(&mut runner).expect("a value").current();
        for path in paths {
            let key = if case % 2 == 0 { ADMIN_KEY } else { IOS_KEY };
            let answer = call(
                &world.http,
                Method::POST,
                &server.url(path),
                Some(key),
                Some(body.clone()),
            )
            .await;
            assert!(answer.status < 500, "{path} {body}: {answer:?}");
            if answer.status >= 400 {
                assert!(
                    answer.body["error"]["code"].is_string(),
                    "{path} {body}: {answer:?}"
                );
            }
        }
        let put = call(
            &world.http,
            Method::PUT,
            &server.url("/v1/apps/ios-app/profiles/p-1/denylist"),
            Some(ADMIN_KEY),
            Some(body.clone()),
        )
        .await;
        assert!(put.status < 500, "{body}: {put:?}");
    }
    // Still up.
    let health = call(&world.http, Method::GET, &server.url("/readyz"), None, None).await;
    assert_eq!(health.status, 200);
}
