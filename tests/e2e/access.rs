//! Access: no or wrong key is 401; an app key reaches only its own app, and another app's
//! resources answer exactly like resources that do not exist.

use reqwest::Method;
use serde_json::json;

use crate::support::{ADMIN_KEY, ANDROID_KEY, IOS_KEY, World, call, deliver, register};

#[tokio::test]
async fn no_key_or_a_wrong_key_is_401_with_www_authenticate() {
    let world = World::new().await;
    let server = world.serve();
    let url = server.url("/v1/apps/ios-app/quarantine");
    for key in [None, Some("pg_not_a_key"), Some("")] {
        let answer = call(&world.http, Method::GET, &url, key, None).await;
        assert_eq!(answer.status, 401, "{key:?}: {answer:?}");
        assert_eq!(answer.error().0, "unauthorized");
        assert_eq!(answer.headers["www-authenticate"], "Bearer");
    }
    // A malformed header is the same 401.
    let answer = world
        .http
        .get(&url)
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    // 401 comes before any body check.
    let answer = call(
        &world.http,
        Method::POST,
        &server.url("/v1/apps/ios-app/subscriptions"),
        None,
        Some(json!({"nonsense": true})),
    )
    .await;
    assert_eq!(answer.status, 401);
    // Health, readiness and the OpenAPI document need no key; metrics need the admin's.
    for path in ["/healthz", "/readyz", "/openapi.json"] {
        let answer = call(&world.http, Method::GET, &server.url(path), None, None).await;
        assert_eq!(answer.status, 200, "{path}");
    }
    let metrics = call(
        &world.http,
        Method::GET,
        &server.url("/metrics"),
        Some(IOS_KEY),
        None,
    )
    .await;
    assert_eq!(metrics.status, 401);
}

#[tokio::test]
async fn an_app_key_reaches_only_its_app_and_learns_nothing_about_others() {
    let world = World::new().await;
    let server = world.serve();
    let token = "aa11";
    register(&world, &server, "ios-app", "alice", token).await;
    let delivery = deliver(
        &world,
        &server,
        "ios-app",
        json!({"target": {"tokens": [token]}, "notification": {"title": "hi"}, "dry_run": true}),
    )
    .await;

    // Its own app works.
    let own = call(
        &world.http,
        Method::GET,
        &server.url("/v1/apps/ios-app/quarantine"),
        Some(IOS_KEY),
        None,
    )
    .await;
    assert_eq!(own.status, 200, "{own:?}");

    // Another app that exists and one that does not: the same answer, byte for byte.
    let paths = |app: &str| {
        vec![
            (Method::GET, format!("/v1/apps/{app}/quarantine"), None),
            (
                Method::GET,
                format!("/v1/apps/{app}/reports/exclusions"),
                None,
            ),
            (
                Method::GET,
                format!("/v1/apps/{app}/reports/non-deliverables"),
                None,
            ),
            (
                Method::GET,
                format!("/v1/apps/{app}/reports/profiles/alice"),
                None,
            ),
            (
                Method::POST,
                format!("/v1/apps/{app}/subscriptions"),
                Some(json!({"profile": "p", "token": "ab"})),
            ),
            (
                Method::DELETE,
                format!("/v1/apps/{app}/subscriptions/1"),
                None,
            ),
            (
                Method::PUT,
                format!("/v1/apps/{app}/profiles/p/denylist"),
                Some(json!({"denylisted": true})),
            ),
            (
                Method::POST,
                format!("/v1/apps/{app}/deliveries"),
                Some(json!({"target": {"all": true}, "notification": {"title": "x"}})),
            ),
            (
                Method::POST,
                format!("/v1/apps/{app}/quarantine/release"),
                Some(json!({"token": "ab"})),
            ),
        ]
    };
    for ((method, existing, body), (_, missing, _)) in
        paths("other-ios").into_iter().zip(paths("no-such-app"))
    {
        let a = call(
            &world.http,
            method.clone(),
            &server.url(&existing),
            Some(IOS_KEY),
            body.clone(),
        )
        .await;
        let b = call(
            &world.http,
            method.clone(),
            &server.url(&missing),
            Some(IOS_KEY),
            body,
        )
        .await;
        assert_eq!(a.status, 404, "{method} {existing}: {a:?}");
        assert_eq!(b.status, 404, "{method} {missing}: {b:?}");
        assert_eq!(
            a.text.replace("other-ios", "X"),
            b.text.replace("no-such-app", "X"),
            "{method} {existing}"
        );
        assert!(!a.text.contains("ios\""), "no platform leaks: {}", a.text);
    }

    // Another app's delivery is 404, like a delivery that does not exist.
    for path in ["", "/messages", "/exclusions"] {
        let theirs = call(
            &world.http,
            Method::GET,
            &server.url(&format!("/v1/deliveries/{delivery}{path}")),
            Some(ANDROID_KEY),
            None,
        )
        .await;
        let none = call(
            &world.http,
            Method::GET,
            &server.url(&format!(
                "/v1/deliveries/00000000-0000-4000-8000-000000000000{path}"
            )),
            Some(ANDROID_KEY),
            None,
        )
        .await;
        assert_eq!(theirs.status, 404, "{path}");
        assert_eq!(none.status, 404, "{path}");
        assert_eq!(theirs.error().0, none.error().0);
        let mine = call(
            &world.http,
            Method::GET,
            &server.url(&format!("/v1/deliveries/{delivery}{path}")),
            Some(IOS_KEY),
            None,
        )
        .await;
        assert_eq!(mine.status, 200, "{path}: {mine:?}");
    }

    // Nothing was written for the other app.
    assert!(
        world
            .store()
            .deliveries("other-ios", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        world
            .store()
            .profile_subscriptions("other-ios", "p")
            .await
            .unwrap()
            .is_empty()
    );
    // The admin key reaches both.
    let admin = call(
        &world.http,
        Method::GET,
        &server.url("/v1/apps/other-ios/quarantine"),
        Some(ADMIN_KEY),
        None,
    )
    .await;
    assert_eq!(admin.status, 200);
}
