//! Operations endpoints: health, readiness, the OpenAPI document covering every route.

use reqwest::Method;

use crate::support::{ADMIN_KEY, World, call};

/// Every route of the API, as (method, OpenAPI path, a concrete path to call).
const ROUTES: [(&str, &str, &str); 16] = [
    (
        "post",
        "/v1/apps/{app}/subscriptions",
        "/v1/apps/ios-app/subscriptions",
    ),
    (
        "delete",
        "/v1/apps/{app}/subscriptions/{id}",
        "/v1/apps/ios-app/subscriptions/1",
    ),
    (
        "put",
        "/v1/apps/{app}/profiles/{profile}/denylist",
        "/v1/apps/ios-app/profiles/p/denylist",
    ),
    (
        "post",
        "/v1/apps/{app}/deliveries",
        "/v1/apps/ios-app/deliveries",
    ),
    ("get", "/v1/deliveries/{id}", "/v1/deliveries/x"),
    (
        "get",
        "/v1/deliveries/{id}/messages",
        "/v1/deliveries/x/messages",
    ),
    (
        "get",
        "/v1/deliveries/{id}/exclusions",
        "/v1/deliveries/x/exclusions",
    ),
    (
        "get",
        "/v1/apps/{app}/reports/exclusions",
        "/v1/apps/ios-app/reports/exclusions",
    ),
    (
        "get",
        "/v1/apps/{app}/reports/non-deliverables",
        "/v1/apps/ios-app/reports/non-deliverables",
    ),
    (
        "get",
        "/v1/apps/{app}/reports/profiles/{profile}",
        "/v1/apps/ios-app/reports/profiles/p",
    ),
    (
        "get",
        "/v1/apps/{app}/quarantine",
        "/v1/apps/ios-app/quarantine",
    ),
    (
        "post",
        "/v1/apps/{app}/quarantine/release",
        "/v1/apps/ios-app/quarantine/release",
    ),
    ("get", "/healthz", "/healthz"),
    ("get", "/readyz", "/readyz"),
    ("get", "/metrics", "/metrics"),
    ("get", "/openapi.json", "/openapi.json"),
];

#[tokio::test]
async fn the_openapi_document_covers_every_route_and_nothing_else() {
    let world = World::new().await;
    let server = world.serve();
    let doc = call(
        &world.http,
        Method::GET,
        &server.url("/openapi.json"),
        None,
        None,
    )
    .await;
    assert_eq!(doc.status, 200);
    let paths = doc.body["paths"].as_object().expect("paths");
    let mut documented = Vec::new();
    for (path, item) in paths {
        for method in item.as_object().expect("a path item").keys() {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                documented.push((method.clone(), path.clone()));
            }
        }
    }
    documented.sort();
    let mut expected: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    expected.sort();
    assert_eq!(documented, expected);
    // And each is really served (the method is routed: no 405, no "no such path").
    for (method, _, concrete) in ROUTES {
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let answer = call(
            &world.http,
            method.clone(),
            &server.url(concrete),
            Some(ADMIN_KEY),
            None,
        )
        .await;
        assert_ne!(answer.status, 405, "{method} {concrete}");
        assert_ne!(
            answer.body["error"]["message"], "no such path",
            "{method} {concrete}"
        );
    }
    assert!(doc.body["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn health_and_readiness() {
    let world = World::new().await;
    let server = world.serve();
    let health = call(
        &world.http,
        Method::GET,
        &server.url("/healthz"),
        None,
        None,
    )
    .await;
    assert_eq!(health.body["status"], "ok");
    let ready = call(&world.http, Method::GET, &server.url("/readyz"), None, None).await;
    assert_eq!(ready.body["status"], "ok");
}
