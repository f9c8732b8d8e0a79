//! The admin API and inspection: scenarios, faults, keys, accounts, certificates, stats
//! and the request log, and its error answers.

use std::time::Duration;

use bytes::Bytes;
use pushgate_mocks::{ApnsKey, ServiceAccount, StatsSnapshot};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{DEVICE, H2, Harness, PROJECT, Push, TOPIC};

#[tokio::test]
async fn scenarios_can_be_managed_over_http() {
    let h = Harness::start().await;
    let rule = json!({ "service": "apns", "token": "dead", "answer": { "kind": "apns_error", "status": 410, "reason": "Unregistered", "timestamp": 1700000000000i64 } });
    let (status, body) = h
        .admin_send(Method::POST, "/_mock/scenarios", &rule.to_string())
        .await;
    assert_eq!((status, body), (201, json!({ "added": 1 })));
    let list = json!({ "rules": [
        { "service": "fcm", "prefix": "bad-", "answer": { "kind": "fcm_error", "error_code": "UNREGISTERED" }, "times": 2 },
        { "service": "oauth", "client_email": "x@y", "answer": { "kind": "no_answer" } },
    ] });
    assert_eq!(
        h.admin_send(Method::POST, "/_mock/scenarios", &list.to_string())
            .await
            .0,
        201
    );
    let (status, rules) = h.admin_get("/_mock/scenarios").await;
    assert_eq!(status, 200);
    assert_eq!(rules.as_array().unwrap().len(), 3);

    let mut apns = h.apns().await;
    let reply = apns
        .send(Push::new("dead", &h.provider_token()).request(h.mocks.apns_addr()))
        .await
        .unwrap();
    assert_eq!(
        (reply.status.as_u16(), reply.json()),
        (
            410,
            json!({ "reason": "Unregistered", "timestamp": 1700000000000i64 })
        )
    );

    assert_eq!(
        h.admin_send(Method::DELETE, "/_mock/scenarios?service=oauth", "")
            .await
            .0,
        200
    );
    assert_eq!(
        h.admin_get("/_mock/scenarios")
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        h.admin_send(Method::DELETE, "/_mock/scenarios", "").await.0,
        200
    );
    assert_eq!(h.admin_get("/_mock/scenarios").await.1, json!([]));
}

#[tokio::test]
async fn bad_admin_requests_say_what_is_wrong() {
    let h = Harness::start().await;
    let cases = [
        (Method::POST, "/_mock/scenarios", "{", "invalid JSON body"),
        (
            Method::POST,
            "/_mock/scenarios",
            r#"{"service":"apns","token":"a","answer":{"kind":"apns_error","status":410,"reason":"x","bogus":1}}"#,
            "bogus",
        ),
        (
            Method::POST,
            "/_mock/scenarios",
            r#"{"service":"apns","token":"a","answer":{"kind":"teleport"}}"#,
            "teleport",
        ),
        (
            Method::POST,
            "/_mock/scenarios",
            r#"{"service":"apns","answer":{"kind":"accept"}}"#,
            "exactly one of token",
        ),
        (
            Method::POST,
            "/_mock/scenarios",
            r#"{"service":"oauth","client_email":"a","answer":{"kind":"goaway"}}"#,
            "not available",
        ),
        (
            Method::POST,
            "/_mock/scenarios",
            r#"{"service":"sms","token":"a","answer":{"kind":"accept"}}"#,
            "sms",
        ),
        (
            Method::PUT,
            "/_mock/faults",
            r#"{"error_rate":2}"#,
            "fractions",
        ),
        (
            Method::PUT,
            "/_mock/faults",
            r#"{"latency":{"kind":"fixed","delay":"soon"}}"#,
            "invalid duration",
        ),
        (
            Method::POST,
            "/_mock/apns/keys",
            r#"{"key_id":"K","team_id":"T","public_key":{"pem":"nope"}}"#,
            "PEM",
        ),
        (
            Method::DELETE,
            "/_mock/scenarios?service=sms",
            "",
            "unknown service",
        ),
    ];
    for (method, path, body, expected) in cases {
        let (status, answer) = h.admin_send(method, path, body).await;
        assert_eq!(status, 400, "{path} {body}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(expected), "{error} / {expected}");
    }
    let (status, answer) = h.admin_get("/_mock/nothing").await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (404, Some("no such admin endpoint"))
    );
    assert!(h.mocks.scenarios().list().is_empty());
}

#[tokio::test]
async fn faults_can_be_set_over_http() {
    let h = Harness::start().await;
    let body = json!({ "error_rate": 1.0, "error_statuses": [503], "retry_after_secs": 3, "oauth_outage": { "for": "30s" } });
    let (status, faults) = h
        .admin_send(Method::PUT, "/_mock/faults", &body.to_string())
        .await;
    assert_eq!(status, 200);
    assert!(faults["oauth_outage"]["until_unix_ms"].is_u64());
    let mut apns = h.apns().await;
    let reply = apns
        .send(Push::new(DEVICE, &h.provider_token()).request(h.mocks.apns_addr()))
        .await
        .unwrap();
    assert_eq!(reply.status, 503);
    let (status, faults) = h.admin_send(Method::DELETE, "/_mock/faults", "").await;
    assert_eq!((status, &faults["error_rate"]), (200, &json!(0.0)));
}

#[tokio::test]
async fn keys_accounts_and_certificates_can_be_added_at_run_time() {
    let h = Harness::start().await;
    let key = ApnsKey::generate("LATEKEY001", "LATETEAM01").unwrap();
    let body = json!({ "key_id": key.key_id, "team_id": key.team_id, "public_key": { "pem": key.public_key_pem() } });
    assert_eq!(
        h.admin_send(Method::POST, "/_mock/apns/keys", &body.to_string())
            .await
            .0,
        201
    );
    let mut apns = h.apns().await;
    let reply = apns
        .send(Push::new(DEVICE, &key.provider_token_now().unwrap()).request(h.mocks.apns_addr()))
        .await
        .unwrap();
    assert_eq!(reply.status, 200);

    let account = ServiceAccount::generate(
        "late@demo.iam.gserviceaccount.com",
        PROJECT,
        h.mocks.oauth_token_url(),
    )
    .unwrap();
    let body = json!({ "client_email": account.client_email, "private_key_id": account.private_key_id, "project_id": PROJECT, "public_key": { "pem": account.public_key_pem() } });
    assert_eq!(
        h.admin_send(Method::POST, "/_mock/oauth/accounts", &body.to_string())
            .await
            .0,
        201
    );
    assert_eq!(h.token_request(&account.assertion().unwrap()).await.0, 200);

    let (status, cert) = h
        .admin_send(
            Method::POST,
            "/_mock/apns/client-certs",
            &json!({ "bundle_id": TOPIC }).to_string(),
        )
        .await;
    assert_eq!(status, 201);
    let cert = pushgate_mocks::ClientCert {
        cert_pem: cert["cert_pem"].as_str().unwrap().into(),
        key_pem: cert["key_pem"].as_str().unwrap().into(),
        bundle_id: TOPIC.into(),
    };
    let mut apns = H2::connect(h.mocks.apns_addr(), h.mocks.ca_pem(), Some(&cert))
        .await
        .unwrap();
    assert_eq!(
        apns.send(Push::new(DEVICE, "").request(h.mocks.apns_addr()))
            .await
            .unwrap()
            .status,
        200
    );

    let info = h.admin_get("/_mock/info").await.1;
    assert_eq!(info["apns_url"], h.mocks.apns_url());
    assert_eq!(info["oauth_token_url"], h.mocks.oauth_token_url());
    let pem = reqwest::get(format!("{}/_mock/ca.pem", h.mocks.admin_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(pem, h.mocks.ca_pem());
    assert_eq!(std::fs::read_to_string(h.mocks.ca_path()).unwrap(), pem);
}

#[tokio::test]
async fn stats_count_answers_deliveries_and_concurrency() {
    let h = Harness::start().await;
    h.mocks
        .scenarios()
        .add(pushgate_mocks::Rule::apns_prefix(
            "cc",
            pushgate_mocks::Answer::delay(Duration::from_millis(300)),
        ))
        .unwrap();
    let t = h.provider_token();
    let addr = h.mocks.apns_addr();
    let apns = h.apns().await;
    let sends = (0..20).map(|i| {
        let mut sender = apns.sender();
        let request = Push::new(&format!("cc{i:02}"), &t).request(addr);
        async move {
            sender.ready().await.unwrap();
            sender.send_request(request).await.unwrap().status()
        }
    });
    let statuses = futures_util::future::join_all(sends).await;
    assert!(statuses.iter().all(|s| *s == 200));
    let mut apns2 = h.apns().await;
    let bad = Push::new(DEVICE, &t).set("apns-topic", "");
    assert_eq!(apns2.send(bad.request(addr)).await.unwrap().status, 400);

    let (status, json) = h.admin_get("/_mock/stats").await;
    assert_eq!(status, 200);
    let stats: StatsSnapshot = serde_json::from_value(json).unwrap();
    assert_eq!(stats, h.mocks.stats());
    assert_eq!(stats.count(pushgate_mocks::Service::Apns, 200, None), 20);
    assert_eq!(
        stats.count(pushgate_mocks::Service::Apns, 400, Some("MissingTopic")),
        1
    );
    assert_eq!(stats.deliveries.apns.len(), 20);
    assert_eq!(stats.max_concurrent_streams, 20);
    assert_eq!(stats.connection_count[&pushgate_mocks::Service::Apns], 2);

    assert_eq!(h.admin_send(Method::POST, "/_mock/reset", "").await.0, 200);
    let stats = h.mocks.stats();
    assert!(stats.counts.is_empty() && stats.deliveries.apns.is_empty());
    assert!(h.mocks.requests(10).is_empty());
}

#[tokio::test]
async fn the_request_log_shows_what_clients_sent() {
    let h = Harness::start().await;
    let t = h.provider_token();
    let mut apns = h.apns().await;
    let push = Push::new(DEVICE, &t)
        .header("apns-push-type", "alert")
        .body(r#"{"aps":{"alert":"logged"}}"#);
    apns.send(push.request(h.mocks.apns_addr())).await.unwrap();
    let binary = Push::new(DEVICE, &t).body(Bytes::from_static(&[0xff, 0xfe]));
    apns.send(binary.request(h.mocks.apns_addr()))
        .await
        .unwrap();
    let access = h.access_token().await;
    h.fcm_send(&access, &crate::helpers::fcm_message("logged"))
        .await;

    let (status, log) = h.admin_get("/_mock/requests?service=apns&limit=2").await;
    assert_eq!(status, 200);
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 2);
    let first = &log[0];
    assert_eq!(first["method"], "POST");
    assert_eq!(first["path"], format!("/3/device/{DEVICE}"));
    assert_eq!(
        first["body"],
        json!({ "text": r#"{"aps":{"alert":"logged"}}"# })
    );
    assert_eq!(first["status"], 200);
    let headers: Vec<(String, String)> = serde_json::from_value(first["headers"].clone()).unwrap();
    assert!(headers.contains(&("authorization".into(), format!("bearer {t}"))));
    assert!(headers.contains(&("apns-push-type".into(), "alert".into())));
    assert_eq!(log[1]["body"], json!({ "base64": "//4=" }));
    assert_eq!(log[1]["outcome"], Value::Null);

    let all = h.mocks.requests(10);
    assert_eq!(all.len(), 4); // two pushes, one token request, one FCM send
    let fcm = &all[3];
    assert_eq!(
        fcm.header("authorization"),
        Some(format!("Bearer {access}").as_str())
    );
    assert!(fcm.body_text().unwrap().contains("logged"));
    let (status, _) = h.admin_get("/_mock/requests?limit=x").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_request_log_can_be_turned_off() {
    let h = Harness::with(|c| c.request_log.enabled = false).await;
    let mut apns = h.apns().await;
    apns.send(Push::new(DEVICE, &h.provider_token()).request(h.mocks.apns_addr()))
        .await
        .unwrap();
    assert!(h.mocks.requests(10).is_empty());
    assert_eq!(
        h.mocks
            .stats()
            .delivered(pushgate_mocks::Service::Apns, DEVICE),
        1
    );
}
