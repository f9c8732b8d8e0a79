//! Every server-caused `fcm.*` row from a real exchange with the mock FCM.

use pushgate_fcm::MessageContent;
use pushgate_mocks::{Answer, Rule, Service};
use pushgate_outcome::OutcomeId;
use pushgate_outcome::fcm::ErrorCode;

use crate::helpers::{Harness, assert_row, attempt_gaps_ms, message};

/// Scripts `answer` for a token, sends to it, and returns the result.
async fn answered(h: &Harness, token: &str, answer: Answer) -> pushgate_fcm::SendResult {
    h.mocks
        .scenarios()
        .add(Rule::fcm_token(token, answer))
        .unwrap();
    h.client().send(&message(token)).await
}

#[tokio::test]
async fn fcm_unregistered() {
    let h = Harness::start().await;
    let result = answered(&h, "tok-gone", Answer::fcm(ErrorCode::Unregistered)).await;
    assert_row(&result, OutcomeId::FcmUnregistered);
    assert_eq!(result.status, Some(404));
    assert_eq!(result.error_code.as_deref(), Some("UNREGISTERED"));
    assert_eq!(result.attempts, 1);
}

#[tokio::test]
async fn fcm_invalid_argument_from_the_servers_own_validation() {
    let h = Harness::start().await;
    // Five weeks: over FCM's four-week limit, which only the server checks.
    let content = MessageContent::from_json(serde_json::json!({
        "notification": {"title": "t"},
        "android": {"ttl": "3024000s"}
    }))
    .unwrap();
    let msg = pushgate_fcm::Message::new("tok-ttl", std::sync::Arc::new(content));
    let result = h.client().send(&msg).await;
    assert_row(&result, OutcomeId::FcmInvalidArgument);
    assert_eq!(result.status, Some(400));

    let scripted = answered(&h, "tok-bad", Answer::fcm(ErrorCode::InvalidArgument)).await;
    assert_row(&scripted, OutcomeId::FcmInvalidArgument);
}

#[tokio::test]
async fn fcm_sender_id_mismatch() {
    let h = Harness::start().await;
    let result = answered(&h, "tok-other", Answer::fcm(ErrorCode::SenderIdMismatch)).await;
    assert_row(&result, OutcomeId::FcmSenderIdMismatch);
    assert_eq!(result.status, Some(403));
}

#[tokio::test]
async fn fcm_third_party_auth_is_not_taken_for_an_expired_token() {
    let h = Harness::start().await;
    let result = answered(&h, "tok-apns", Answer::fcm(ErrorCode::ThirdPartyAuthError)).await;
    assert_row(&result, OutcomeId::FcmThirdPartyAuth);
    assert_eq!(result.status, Some(401));
    assert_eq!(result.attempts, 1);
    assert_eq!(h.mocks.stats().token_requests, 1);
}

#[tokio::test]
async fn fcm_unspecified() {
    let h = Harness::start().await;
    let result = answered(&h, "tok-unspec", Answer::fcm(ErrorCode::UnspecifiedError)).await;
    assert_row(&result, OutcomeId::FcmUnspecified);
}

#[tokio::test]
async fn fcm_internal_after_the_retries() {
    let h = Harness::start().await;
    let result = answered(&h, "tok-internal", Answer::fcm(ErrorCode::Internal)).await;
    assert_row(&result, OutcomeId::FcmInternal);
    assert_eq!(result.attempts, h.settings.retry.max_retries + 1);
    assert_eq!(
        h.mocks.stats().count(Service::Fcm, 500, Some("INTERNAL")),
        4
    );
}

#[tokio::test]
async fn fcm_unavailable_after_the_retries() {
    let h = Harness::start().await;
    let result = answered(&h, "tok-unavail", Answer::fcm(ErrorCode::Unavailable)).await;
    assert_row(&result, OutcomeId::FcmUnavailable);
    assert_eq!(result.attempts, h.settings.retry.max_retries + 1);
}

#[tokio::test]
async fn fcm_quota_exceeded_waits_the_quota_minimum_first() {
    let h = Harness::start().await;
    let rule = Rule::fcm_token("tok-quota", Answer::fcm(ErrorCode::QuotaExceeded));
    h.mocks.scenarios().add(rule).unwrap();
    let client = h.client_with(|s| s.retry.max_retries = 1);
    let result = client.send(&message("tok-quota")).await;
    assert_row(&result, OutcomeId::FcmQuotaExceeded);
    assert_eq!(result.status, Some(429));
    assert_eq!(result.attempts, 2);
    // The one retry came at least the configured minimum (1 s) after the first attempt.
    let gaps = attempt_gaps_ms(&h, "tok-quota");
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert!(gaps[0] >= 1000, "{gaps:?}");
}

#[tokio::test]
async fn fcm_invalid_registration_from_a_legacy_body() {
    let h = Harness::start().await;
    for (token, error) in [
        ("tok-nr", "NotRegistered"),
        ("tok-ir", "InvalidRegistration"),
    ] {
        let body = format!(r#"{{"error":"{error}"}}"#);
        let result = answered(&h, token, Answer::raw(400, body)).await;
        assert_row(&result, OutcomeId::FcmInvalidRegistration);
        assert_eq!(result.error_code.as_deref(), Some(error));
    }
}

#[tokio::test]
async fn fcm_other_for_an_unknown_code_or_an_unreadable_body() {
    let h = Harness::start().await;
    let unknown = Answer::FcmError {
        error_code: "APOCALYPSE".into(),
        status: Some(400),
        canonical: Some("FAILED_PRECONDITION".into()),
        message: None,
        retry_after_secs: None,
    };
    let result = answered(&h, "tok-unknown", unknown).await;
    assert_row(&result, OutcomeId::FcmOther);
    let message = result.classification.error_message().unwrap_or_default();
    assert!(message.contains("APOCALYPSE"), "{message}");

    let result = answered(&h, "tok-garbage", Answer::raw(400, "<html>oops</html>")).await;
    assert_row(&result, OutcomeId::FcmOther);
    assert_eq!(result.attempts, 1);
}

#[tokio::test]
async fn fcm_service_unavailable_for_5xx_without_a_body() {
    let h = Harness::start().await;
    // 503 is retried, then handed over.
    let result = answered(&h, "tok-503", Answer::raw(503, "")).await;
    assert_row(&result, OutcomeId::FcmServiceUnavailable);
    assert_eq!(result.attempts, h.settings.retry.max_retries + 1);
    // 502 is not retried here.
    let result = answered(&h, "tok-502", Answer::raw(502, "")).await;
    assert_row(&result, OutcomeId::FcmServiceUnavailable);
    assert_eq!(result.attempts, 1);
}

#[tokio::test]
async fn fcm_service_unavailable_on_timeout() {
    let h = Harness::start().await;
    h.mocks
        .scenarios()
        .add(Rule::fcm_token("tok-silent", Answer::NoAnswer))
        .unwrap();
    let client = h.client_with(|s| s.request_timeout_ms = 300);
    let result = client.send(&message("tok-silent")).await;
    assert_row(&result, OutcomeId::FcmServiceUnavailable);
    assert_eq!(result.status, None);
    assert_eq!(result.attempts, 1);
}

#[tokio::test]
async fn fcm_sender_auth_for_a_token_of_another_project() {
    let h = Harness::start().await;
    // The account's tokens are for demo-project; sending for another project is 403.
    let client = h.client_with(|s| s.project_id = Some("someone-elses".into()));
    let result = client.send(&message("tok-1")).await;
    assert_row(&result, OutcomeId::FcmSenderAuth);
    assert_eq!(result.status, Some(403));
    assert_eq!(result.attempts, 1);
}

#[tokio::test]
async fn fcm_sender_auth_for_401_without_fcm_error() {
    let h = Harness::start().await;
    let answer = Answer::FcmStatus {
        status: 401,
        canonical: "UNAUTHENTICATED".into(),
        message: None,
        error_info_reason: None,
    };
    let result = answered(&h, "tok-401", answer).await;
    assert_row(&result, OutcomeId::FcmSenderAuth);
    assert_eq!(result.attempts, 1);
}

#[tokio::test]
async fn fcm_sender_auth_when_the_token_is_still_expired_after_one_refresh() {
    let h = Harness::start().await;
    let answer = Answer::FcmStatus {
        status: 401,
        canonical: "UNAUTHENTICATED".into(),
        message: None,
        error_info_reason: Some("ACCESS_TOKEN_EXPIRED".into()),
    };
    let result = answered(&h, "tok-expired", answer).await;
    assert_row(&result, OutcomeId::FcmSenderAuth);
    assert_eq!(result.attempts, 2);
    assert_eq!(h.mocks.stats().token_requests, 2);
}
