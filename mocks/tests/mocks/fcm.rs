//! The FCM v1 mock: every errorCode on the wire, body validation, access tokens.

use std::time::Duration;

use pushgate_mocks::{Answer, Rule, Service, ServiceAccount};
use pushgate_outcome::OutcomeId;
use pushgate_outcome::fcm::{ERROR_INFO_TYPE, ErrorBody, ErrorCode, FCM_ERROR_TYPE};
use serde_json::{Value, json};

use crate::helpers::{Harness, PROJECT, fcm_message, fcm_request};

/// The `@type`s of the details of an error body.
fn detail_types(body: &Value) -> Vec<String> {
    let details = body["error"]["details"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    details
        .iter()
        .map(|d| d["@type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn row(status: u16, body: &Value) -> Option<OutcomeId> {
    let body = body.to_string();
    let result = pushgate_outcome::fcm::FcmResult::Response {
        status,
        body: body.as_bytes(),
    };
    pushgate_outcome::fcm::classify(&result).id()
}

#[tokio::test]
async fn a_valid_message_gets_its_name() {
    let h = Harness::start().await;
    let token = h.access_token().await;
    let (status, body) = h.fcm_send(&token, &fcm_message("device-1")).await;
    assert_eq!(status, 200, "{body}");
    let name = body["name"].as_str().unwrap();
    assert!(
        name.starts_with(&format!("projects/{PROJECT}/messages/0:")),
        "{name}"
    );
    assert_eq!(h.mocks.stats().delivered(Service::Fcm, "device-1"), 1);

    // validate_only validates but delivers nothing.
    let dry = json!({ "validateOnly": true, "message": { "token": "device-2" } });
    let (status, body) = h.fcm_send(&token, &dry).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["name"],
        format!("projects/{PROJECT}/messages/fake_message_id")
    );
    assert_eq!(h.mocks.stats().delivered(Service::Fcm, "device-2"), 0);
}

#[tokio::test]
async fn every_error_code_can_be_produced() {
    let h = Harness::start().await;
    let rules = ErrorCode::ALL
        .iter()
        .map(|code| Rule::fcm_token(format!("tok-{}", code.as_str()), Answer::fcm(*code)));
    h.mocks.scenarios().add_all(rules).unwrap();
    let token = h.access_token().await;
    for code in ErrorCode::ALL {
        let (status, body) = h
            .fcm_send(&token, &fcm_message(&format!("tok-{}", code.as_str())))
            .await;
        let (http, canonical) = code.http();
        assert_eq!(status, http, "{code:?}");
        assert_eq!(body["error"]["code"], http);
        assert_eq!(body["error"]["status"], canonical);
        assert_eq!(body["error"]["details"][0]["@type"], FCM_ERROR_TYPE);
        assert_eq!(body["error"]["details"][0]["errorCode"], code.as_str());
        assert_eq!(row(status, &body), Some(code.outcome_id()), "{code:?}");
    }
    let stats = h.mocks.stats();
    assert_eq!(stats.count(Service::Fcm, 404, Some("UNREGISTERED")), 1);
}

#[tokio::test]
async fn each_body_rule_answers_invalid_argument() {
    let h = Harness::start().await;
    let token = h.access_token().await;
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({ "message": {} }),
            "Recipient of the message is not set.",
        ),
        (
            json!({ "message": { "token": "a", "topic": "b" } }),
            "oneof field 'target' is already set",
        ),
        (
            json!({ "message": { "token": "a", "data": { "n": 1 } } }),
            "(TYPE_STRING), 1",
        ),
        (
            json!({ "message": { "token": "a", "data": { "from": "x" } } }),
            "Invalid data payload key: from",
        ),
        (
            json!({ "message": { "token": "a", "data": { "gcm.x": "y" } } }),
            "Invalid data payload key: gcm.x",
        ),
        (
            json!({ "message": { "token": "a", "android": { "ttl": "10" } } }),
            "google.protobuf.Duration",
        ),
        (
            json!({ "message": { "token": "a", "android": { "ttl": "2419201s" } } }),
            "between 0 and 2419200",
        ),
        (
            json!({ "message": { "token": "a", "android": { "priority": "urgent" } } }),
            "AndroidMessagePriority",
        ),
        (
            json!({ "message": { "token": "a", "bogus": 1 } }),
            "Unknown name \"bogus\" at 'message': Cannot find field.",
        ),
        (
            json!({ "message": { "token": "a", "apns": [] } }),
            "'message.apns'",
        ),
        (
            json!({ "message": { "token": "a", "data": { "k": "x".repeat(4100) } } }),
            "too big",
        ),
        (
            json!({ "message": { "topic": "news", "data": { "k": "x".repeat(2100) } } }),
            "too big",
        ),
        (
            json!({ "message": { "token": "" } }),
            "not a valid FCM registration token",
        ),
        (
            json!({ "nope": true }),
            "Unknown name \"nope\": Cannot find field.",
        ),
    ];
    for (body, expected) in cases {
        let (status, answer) = h.fcm_send(&token, &body).await;
        assert_eq!(status, 400, "{body}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{message} / {expected}");
        assert_eq!(answer["error"]["status"], "INVALID_ARGUMENT");
        assert_eq!(
            answer["error"]["details"][0]["errorCode"],
            "INVALID_ARGUMENT"
        );
        assert_eq!(row(status, &answer), Some(OutcomeId::FcmInvalidArgument));
    }
    // Not JSON at all.
    let mut fcm = h.fcm().await;
    let reply = fcm
        .send(fcm_request(&h.mocks, &token, "{".into()))
        .await
        .unwrap();
    assert_eq!(reply.status, 400);
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid JSON payload received.")
    );
}

#[tokio::test]
async fn both_spellings_and_pass_through_blocks_are_accepted() {
    let h = Harness::start().await;
    let token = h.access_token().await;
    let snake = json!({ "validate_only": false, "message": {
        "token": "d1", "fcm_options": { "analytics_label": "x" },
        "android": { "collapse_key": "c", "priority": "high", "ttl": "3.5s",
                     "notification": { "channel_id": "c", "click_action": "open" } },
        "apns": { "headers": { "apns-priority": "10" }, "payload": { "aps": { "badge": 1 } } },
        "webpush": { "headers": { "TTL": "60" } }, "data": { "k": "v" } } });
    let camel = json!({ "validateOnly": false, "message": {
        "topic": "news", "fcmOptions": { "analyticsLabel": "x" },
        "android": { "collapseKey": "c", "priority": "NORMAL", "ttl": "0s",
                     "notification": { "channelId": "c", "clickAction": "open" } } } });
    for body in [snake, camel] {
        let (status, answer) = h.fcm_send(&token, &body).await;
        assert_eq!(status, 200, "{answer}");
    }
}

#[tokio::test]
async fn access_tokens_are_checked() {
    let h = Harness::start().await;
    // None at all.
    let (status, body) = h.fcm_send("", &fcm_message("d")).await;
    assert_eq!(status, 401);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Request is missing required authentication credential.")
    );
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
    assert_eq!(row(status, &body), Some(OutcomeId::FcmSenderAuth));
    // One the mock never issued.
    let (status, body) = h.fcm_send("ya29.forged", &fcm_message("d")).await;
    assert_eq!(status, 401);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Request had invalid authentication credentials.")
    );
    assert!(
        !ErrorBody::parse(body.to_string().as_bytes())
            .unwrap()
            .is_access_token_expired()
    );
    // One issued for another project.
    let other = ServiceAccount::generate(
        "other@other.iam.gserviceaccount.com",
        "other-project",
        h.mocks.oauth_token_url(),
    )
    .unwrap();
    h.mocks.add_oauth_account(&other.mock_account()).unwrap();
    let (_, issued) = h.token_request(&other.assertion().unwrap()).await;
    let other_token = issued["access_token"].as_str().unwrap();
    let (status, body) = h.fcm_send(other_token, &fcm_message("d")).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["status"], "PERMISSION_DENIED");
    assert!(!detail_types(&body).contains(&FCM_ERROR_TYPE.to_owned()));
    assert_eq!(row(status, &body), Some(OutcomeId::FcmSenderAuth));
}

#[tokio::test]
async fn expired_access_tokens_say_so() {
    let h = Harness::with(|c| c.oauth.access_token_lifetime = Duration::from_secs(1)).await;
    let (status, issued) = h.token_request(&h.account.assertion().unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(issued["expires_in"], 1);
    let token = issued["access_token"].as_str().unwrap().to_owned();
    assert_eq!(h.fcm_send(&token, &fcm_message("d")).await.0, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = h.fcm_send(&token, &fcm_message("d")).await;
    assert_eq!(status, 401);
    assert!(detail_types(&body).contains(&ERROR_INFO_TYPE.to_owned()));
    assert_eq!(
        body["error"]["details"][0]["reason"],
        "ACCESS_TOKEN_EXPIRED"
    );
    assert!(
        ErrorBody::parse(body.to_string().as_bytes())
            .unwrap()
            .is_access_token_expired()
    );
    // A refreshed token works again.
    let fresh = h.access_token().await;
    assert_eq!(h.fcm_send(&fresh, &fcm_message("d")).await.0, 200);
    assert_eq!(h.mocks.stats().token_requests, 2);
}

#[tokio::test]
async fn other_paths_and_methods_are_not_found() {
    let h = Harness::start().await;
    let token = h.access_token().await;
    let mut fcm = h.fcm().await;
    let legacy = http::Request::builder()
        .method("POST")
        .uri(format!("{}/fcm/send", h.mocks.fcm_url()))
        .header("authorization", format!("Bearer {token}"))
        .body(http_body_util::Full::new(bytes::Bytes::from(
            fcm_message("d").to_string(),
        )))
        .unwrap();
    let reply = fcm.send(legacy).await.unwrap();
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["error"]["status"], "NOT_FOUND");
}
