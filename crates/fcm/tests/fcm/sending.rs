//! Successful sends, the request as the mock saw it, pre-send checks and the batch form.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::StreamExt;
use pushgate_fcm::{Message, MessageContent};
use pushgate_mocks::{Answer, Rule, Service};
use pushgate_outcome::OutcomeId;
use pushgate_outcome::fcm::{ErrorCode, MESSAGE_LIMIT};
use serde_json::{Value, json};

use crate::helpers::{Harness, PROJECT, assert_row, assert_sent, content, message};

#[tokio::test]
async fn success_returns_the_message_name() {
    let h = Harness::start().await;
    let result = h.client().send(&message("tok-ok")).await;
    assert_sent(&result);
    assert_eq!(result.status, Some(200));
    assert_eq!(result.attempts, 1);
    assert_eq!(h.mocks.stats().delivered(Service::Fcm, "tok-ok"), 1);
}

#[tokio::test]
async fn request_carries_the_bearer_token_its_length_and_a_snake_case_body() {
    let h = Harness::start().await;
    assert_sent(&h.client().send(&message("tok-seen")).await);
    let requests = h.mocks.requests_to(Service::Fcm, 10);
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.path,
        format!("/v1/projects/{PROJECT}/messages:send")
    );
    let auth = request.header("authorization").unwrap_or_default();
    assert!(auth.starts_with("Bearer ya29.mock-"), "{auth}");
    assert_eq!(request.header("content-type"), Some("application/json"));
    let text = request.body_text().unwrap();
    let length = text.len().to_string();
    assert_eq!(request.header("content-length"), Some(length.as_str()));
    let body: Value = serde_json::from_str(text).unwrap();
    assert_eq!(
        body,
        json!({
            "validate_only": false,
            "message": {
                "token": "tok-seen",
                "notification": {"title": "Hello", "body": "World"},
                "data": {"order": "42"},
                "android": {"priority": "HIGH", "ttl": "3600s", "collapse_key": "news",
                            "notification": {"channel_id": "alerts"}}
            }
        })
    );
}

#[tokio::test]
async fn validate_only_is_sent_and_delivers_nothing() {
    let h = Harness::start().await;
    let mut msg = message("tok-dry");
    msg.validate_only = true;
    let result = h.client().send(&msg).await;
    assert!(result.is_success(), "{result:?}");
    let name = result.message_name.unwrap_or_default();
    assert!(name.ends_with("/messages/fake_message_id"), "{name}");
    assert_eq!(h.mocks.stats().delivered(Service::Fcm, "tok-dry"), 0);
    let request = &h.mocks.requests_to(Service::Fcm, 1)[0];
    let body: Value = serde_json::from_str(request.body_text().unwrap()).unwrap();
    assert_eq!(body["validate_only"], json!(true));
}

#[tokio::test]
async fn fcm_illegal_keyword_is_found_before_sending() {
    let h = Harness::start().await;
    let mut content = MessageContent::clone(&content());
    content.data = BTreeMap::from([
        ("from".to_owned(), "x".to_owned()),
        ("google.sent_time".to_owned(), "1".to_owned()),
        ("fine".to_owned(), "ok".to_owned()),
    ]);
    let result = h
        .client()
        .send(&Message::new("tok-1", Arc::new(content)))
        .await;
    assert_row(&result, OutcomeId::FcmIllegalKeyword);
    assert_eq!(result.attempts, 0);
    let text = result.classification.error_message().unwrap_or_default();
    assert!(
        text.contains("from") && text.contains("google.sent_time"),
        "{text}"
    );
    assert!(h.mocks.requests_to(Service::Fcm, 10).is_empty());
    assert_eq!(h.mocks.stats().token_requests, 0);
}

#[tokio::test]
async fn fcm_payload_too_large_is_found_before_sending() {
    let h = Harness::start().await;
    let mut content = MessageContent::clone(&content());
    content
        .data
        .insert("blob".into(), "x".repeat(MESSAGE_LIMIT));
    let result = h
        .client()
        .send(&Message::new("tok-1", Arc::new(content)))
        .await;
    assert_row(&result, OutcomeId::FcmPayloadTooLarge);
    assert_eq!(result.attempts, 0);
    let text = result.classification.error_message().unwrap_or_default();
    assert!(text.contains(&MESSAGE_LIMIT.to_string()), "{text}");
    assert!(h.mocks.requests_to(Service::Fcm, 10).is_empty());
}

#[tokio::test]
async fn send_all_bounds_the_flight_and_tags_each_result_with_its_index() {
    let h = Harness::start().await;
    let rule = Rule::fcm_prefix("dead-", Answer::fcm(ErrorCode::Unregistered));
    h.mocks.scenarios().add(rule).unwrap();
    let shared = content();
    let messages: Vec<Message> = (0..200)
        .map(|i| {
            let token = if i % 10 == 0 {
                format!("dead-{i}")
            } else {
                format!("live-{i}")
            };
            Message::new(token, shared.clone())
        })
        .collect();
    let client = h.client();
    let mut results: Vec<_> = client.send_all(&messages, 16).collect().await;
    assert_eq!(results.len(), 200);
    results.sort_by_key(|(i, _)| *i);
    for (i, result) in &results {
        if i % 10 == 0 {
            assert_row(result, OutcomeId::FcmUnregistered);
        } else {
            assert_sent(result);
        }
    }
    assert!(h.mocks.stats().max_concurrent_streams <= 16);
}

#[tokio::test]
async fn send_batch_returns_results_in_input_order() {
    let h = Harness::start().await;
    let rule = Rule::fcm_token("tok-3", Answer::fcm(ErrorCode::SenderIdMismatch));
    h.mocks.scenarios().add(rule).unwrap();
    let shared = content();
    let messages: Vec<Message> = (0..6)
        .map(|i| Message::new(format!("tok-{i}"), shared.clone()))
        .collect();
    let results = h.client().send_batch(&messages, 3).await;
    assert_eq!(results.len(), 6);
    for (i, result) in results.iter().enumerate() {
        if i == 3 {
            assert_row(result, OutcomeId::FcmSenderIdMismatch);
        } else {
            assert_sent(result);
        }
    }
}
