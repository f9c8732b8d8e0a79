//! Every bad input of the issue: a 4xx with `{"error": {"code", "message", "field"}}` that
//! says what is wrong, and nothing written.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{ADMIN_KEY, World, call, post};

fn hello(target: Value) -> Value {
    json!({"target": target, "notification": {"title": "Hello", "body": "World"}})
}

#[tokio::test]
async fn bad_deliveries_are_refused_naming_the_field_and_write_nothing() {
    let world = World::new().await;
    let server = world.serve();
    let big = "x".repeat(5000);
    // (app, body, status, code, field)
    let cases: Vec<(&str, Value, u16, &str, Option<&str>)> = vec![
        (
            "ios-app",
            json!({"target": {"all": true}, "notification": {"title": "x"}, "colour": 1}),
            400,
            "invalid_field",
            Some("colour"),
        ),
        (
            "ios-app",
            json!({"target": {"all": true}, "notification": {"title": "x", "colour": 1}}),
            400,
            "invalid_field",
            Some("notification.colour"),
        ),
        (
            "ios-app",
            json!({"target": {"all": true, "everyone": true}, "notification": {"title": "x"}}),
            400,
            "invalid_field",
            Some("target.everyone"),
        ),
        (
            "ios-app",
            hello(json!({"tokens": []})),
            400,
            "invalid_field",
            Some("target.tokens"),
        ),
        (
            "ios-app",
            hello(json!({"profiles": []})),
            400,
            "invalid_field",
            Some("target.profiles"),
        ),
        (
            "ios-app",
            hello(json!({})),
            400,
            "invalid_field",
            Some("target"),
        ),
        (
            "ios-app",
            hello(json!({"all": false})),
            400,
            "invalid_field",
            Some("target.all"),
        ),
        (
            "ios-app",
            hello(json!({"all": true, "tokens": ["ab"]})),
            400,
            "invalid_field",
            Some("target"),
        ),
        (
            "ios-app",
            hello(json!({"tokens": ["ab12", "cd34", "not hex!"]})),
            400,
            "invalid_field",
            Some("target.tokens[2]"),
        ),
        (
            "android-app",
            hello(json!({"tokens": ["ok-token", "bad token"]})),
            400,
            "invalid_field",
            Some("target.tokens[1]"),
        ),
        (
            "ios-app",
            hello(json!({"profiles": ["alice", "bad profile"]})),
            400,
            "invalid_field",
            Some("target.profiles[1]"),
        ),
        (
            "ios-app",
            hello(json!({"tokens": "ab12"})),
            400,
            "invalid_field",
            Some("target.tokens"),
        ),
        (
            "ios-app",
            json!({"target": {"all": true}, "notification": {"body": big}}),
            400,
            "notification_too_large",
            Some("notification"),
        ),
        (
            "android-app",
            json!({"target": {"all": true}, "notification": {"body": big}}),
            400,
            "notification_too_large",
            Some("notification"),
        ),
        (
            "android-app",
            json!({"target": {"all": true}, "notification": {"title": "x", "data": {"from": "me"}}}),
            400,
            "invalid_field",
            Some("notification.data.from"),
        ),
        (
            "ios-app",
            json!({"target": {"all": true}, "notification": {}}),
            400,
            "invalid_field",
            Some("notification"),
        ),
        (
            "ios-app",
            json!({"target": {"all": true}, "notification": {"title": "x"}, "validity_secs": 0}),
            400,
            "invalid_field",
            Some("validity_secs"),
        ),
        (
            "ios-app",
            json!({"target": {"all": true}, "notification": {"title": "x"}, "validity_secs": -5}),
            400,
            "invalid_field",
            Some("validity_secs"),
        ),
        (
            "ios-app",
            json!({"notification": {"title": "x"}}),
            400,
            "invalid_field",
            None,
        ),
        (
            "no-such-app",
            hello(json!({"all": true})),
            404,
            "not_found",
            None,
        ),
    ];
    for (app, body, status, code, field) in cases {
        let answer = post(
            &world,
            &server,
            &format!("/v1/apps/{app}/deliveries"),
            body.clone(),
        )
        .await;
        assert_eq!(answer.status, status, "{body}: {answer:?}");
        let (got_code, got_field, message) = answer.error();
        assert_eq!(got_code, code, "{body}: {answer:?}");
        if field.is_some() {
            assert_eq!(got_field, field, "{body}: {answer:?}");
        }
        assert!(!message.is_empty());
    }
    // The validity cap is not an error: the delivery is accepted and says it was capped.
    let capped = post(
        &world,
        &server,
        "/v1/apps/ios-app/deliveries",
        json!({"target": {"all": true}, "notification": {"title": "x"}, "validity_secs": 400000, "dry_run": true}),
    )
    .await;
    assert_eq!(capped.status, 202, "{capped:?}");
    assert_eq!(
        capped.body["validity"],
        json!({"requested_secs": 400000, "effective_secs": 302400, "capped": true})
    );
    // Only that one delivery exists.
    assert_eq!(
        world
            .store()
            .deliveries("ios-app", 100)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        world
            .store()
            .deliveries("android-app", 100)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn malformed_bodies_wrong_types_and_big_bodies_are_4xx_json() {
    let world = World::new().await;
    let server = world.serve();
    let url = server.url("/v1/apps/ios-app/subscriptions");
    let send = |body: Vec<u8>, content_type: &'static str| {
        let request = world
            .http
            .post(&url)
            .bearer_auth(ADMIN_KEY)
            .header("content-type", content_type)
            .body(body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body: Value =
                serde_json::from_str(&response.text().await.unwrap()).expect("a JSON error body");
            (status, body)
        }
    };
    let (status, body) = send(b"{\"profile\": ".to_vec(), "application/json").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("malformed_json"))
    );
    let (status, body) = send(b"[1, 2]".to_vec(), "application/json").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_field"))
    );
    let (status, body) = send(
        b"{\"profile\": 5, \"token\": \"ab\"}".to_vec(),
        "application/json",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["field"], "profile");
    let (status, body) = send(
        b"{\"profile\": \"p\", \"token\": \"ab\"}".to_vec(),
        "text/plain",
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    let mut huge = b"{\"profile\": \"p\", \"token\": \"".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 1024 * 1024 + 10));
    huge.extend(b"\"}");
    let (status, body) = send(huge, "application/json").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("body_too_large"))
    );
    let (status, body) = send(b"\xff\xfe".to_vec(), "application/json").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("malformed_json"))
    );

    for (body, field) in [
        (json!({"profile": "p", "token": "not hex"}), "token"),
        (json!({"profile": "has space", "token": "ab"}), "profile"),
        (json!({"profile": "", "token": "ab"}), "profile"),
        (json!({"profile": "p", "token": ""}), "token"),
        (
            json!({"profile": "p", "token": "ab", "registered_at": "yesterday"}),
            "registered_at",
        ),
        (json!({"profile": "p"}), ""),
    ] {
        let answer = post(
            &world,
            &server,
            "/v1/apps/ios-app/subscriptions",
            body.clone(),
        )
        .await;
        assert_eq!(answer.status, 400, "{body}: {answer:?}");
        if !field.is_empty() {
            assert_eq!(answer.error().1, Some(field), "{body}: {answer:?}");
        }
    }
    // Bad query parameters and unknown routes are JSON too.
    for path in [
        "/v1/apps/ios-app/quarantine?limit=0",
        "/v1/apps/ios-app/quarantine?limit=abc",
        "/v1/apps/ios-app/quarantine?colour=red",
        "/v1/apps/ios-app/quarantine?status=Sleeping",
        "/v1/apps/ios-app/reports/exclusions?from=yesterday",
        "/v1/apps/ios-app/reports/exclusions?reason=Nonsense",
        "/v1/apps/ios-app/reports/exclusions?format=xml",
    ] {
        let answer = call(
            &world.http,
            Method::GET,
            &server.url(path),
            Some(ADMIN_KEY),
            None,
        )
        .await;
        assert_eq!(answer.status, 400, "{path}: {answer:?}");
        assert!(answer.error().1.is_some(), "{path}: {answer:?}");
    }
    let answer = call(
        &world.http,
        Method::GET,
        &server.url("/v2/nothing"),
        Some(ADMIN_KEY),
        None,
    )
    .await;
    assert_eq!((answer.status, answer.error().0), (404, "not_found"));
    let answer = call(
        &world.http,
        Method::PATCH,
        &server.url("/v1/apps/ios-app/quarantine"),
        Some(ADMIN_KEY),
        None,
    )
    .await;
    assert_eq!(
        (answer.status, answer.error().0),
        (405, "method_not_allowed")
    );
    // Nothing was registered.
    assert!(
        world
            .store()
            .profile_subscriptions("ios-app", "p")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn bad_releases_are_refused() {
    let world = World::new().await;
    let server = world.serve();
    for (body, status, field) in [
        (json!({}), 400, Some("token")),
        (
            json!({"token": "ab", "filter": {"text_contains": "x"}}),
            400,
            Some("token"),
        ),
        (json!({"filter": {}}), 400, Some("filter")),
        (
            json!({"filter": {"modified_from": "soon"}}),
            400,
            Some("modified_from"),
        ),
        (
            json!({"filter": {"statuses": ["Asleep"]}}),
            400,
            Some("status"),
        ),
        (
            json!({"token": "ab", "action": "delete"}),
            400,
            Some("action"),
        ),
        (json!({"token": "not hex"}), 400, Some("token")),
        (json!({"token": "abcd"}), 404, None),
    ] {
        let answer = post(
            &world,
            &server,
            "/v1/apps/ios-app/quarantine/release",
            body.clone(),
        )
        .await;
        assert_eq!(answer.status, status, "{body}: {answer:?}");
        if field.is_some() {
            assert_eq!(answer.error().1, field, "{body}: {answer:?}");
        }
    }
}
