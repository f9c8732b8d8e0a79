//! The nine `fcm.auth_*` rows, from real exchanges with the mock OAuth server.

use pushgate_fcm::{FcmClient, Message};
use pushgate_mocks::{Answer, Faults, Outage, OutageMode, Rule, Service, ServiceAccount};
use pushgate_outcome::OutcomeId;

use crate::helpers::{CLIENT_EMAIL, Harness, PROJECT, assert_row, content, message};

/// Sends one message and checks its row, that FCM saw nothing, and how many token
/// requests were made.
async fn assert_auth_row(h: &Harness, client: &FcmClient, row: OutcomeId, token_requests: u64) {
    let result = client.send(&message("tok-auth")).await;
    assert_row(&result, row);
    assert_eq!(result.attempts, 0);
    assert!(h.mocks.requests_to(Service::Fcm, 10).is_empty());
    assert_eq!(h.mocks.stats().token_requests, token_requests);
}

/// Scripts an OAuth error for the harness account.
fn script(h: &Harness, status: u16, error: &str, description: &str) {
    let answer = Answer::oauth(status, error, description);
    let rule = Rule::oauth_client(CLIENT_EMAIL, answer);
    h.mocks.scenarios().add(rule).unwrap();
}

#[tokio::test]
async fn fcm_auth_invalid_jwt_signature_for_a_key_the_server_does_not_know() {
    let h = Harness::start().await;
    // Same account name, another key pair: the server verifies with the first one.
    let impostor =
        ServiceAccount::generate(CLIENT_EMAIL, PROJECT, h.mocks.oauth_token_url()).unwrap();
    let client = h.client_for(&impostor, "impostor.json");
    assert_auth_row(&h, &client, OutcomeId::FcmAuthInvalidJwtSignature, 1).await;
}

#[tokio::test]
async fn fcm_auth_invalid_email_for_an_unknown_account() {
    let h = Harness::start().await;
    let stranger = ServiceAccount::generate(
        "stranger@demo-project.iam.gserviceaccount.com",
        PROJECT,
        h.mocks.oauth_token_url(),
    )
    .unwrap();
    let client = h.client_for(&stranger, "stranger.json");
    assert_auth_row(&h, &client, OutcomeId::FcmAuthInvalidEmail, 1).await;
}

#[tokio::test]
async fn fcm_auth_invalid_jwt_for_an_assertion_with_the_wrong_audience() {
    let h = Harness::start().await;
    // The assertion's `aud` is the token URI; with a query it no longer matches the
    // server's own URL, though the request still reaches /token.
    let uri = format!("{}?realm=elsewhere", h.mocks.oauth_token_url());
    let client = h.client_with(|s| s.token_uri = Some(uri));
    assert_auth_row(&h, &client, OutcomeId::FcmAuthInvalidJwt, 1).await;
}

#[tokio::test]
async fn fcm_auth_disabled_client() {
    let h = Harness::start().await;
    let disabled = ServiceAccount::generate(
        "disabled@demo-project.iam.gserviceaccount.com",
        PROJECT,
        h.mocks.oauth_token_url(),
    )
    .unwrap();
    let mut account = disabled.mock_account();
    account.disabled = true;
    h.mocks.add_oauth_account(&account).unwrap();
    let client = h.client_for(&disabled, "disabled.json");
    assert_auth_row(&h, &client, OutcomeId::FcmAuthDisabledClient, 1).await;
}

#[tokio::test]
async fn fcm_auth_unauthorized_client() {
    let h = Harness::start().await;
    script(
        &h,
        401,
        "unauthorized_client",
        "Unauthorized client or scope in request.",
    );
    assert_auth_row(&h, &h.client(), OutcomeId::FcmAuthUnauthorizedClient, 1).await;
}

#[tokio::test]
async fn fcm_auth_client_not_authorized() {
    let h = Harness::start().await;
    script(
        &h,
        401,
        "unauthorized_client",
        "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.",
    );
    assert_auth_row(&h, &h.client(), OutcomeId::FcmAuthClientNotAuthorized, 1).await;
}

#[tokio::test]
async fn fcm_auth_access_denied() {
    let h = Harness::start().await;
    script(&h, 403, "access_denied", "Requested client not authorized.");
    assert_auth_row(&h, &h.client(), OutcomeId::FcmAuthAccessDenied, 1).await;
}

#[tokio::test]
async fn fcm_auth_invalid_scope() {
    let h = Harness::start().await;
    script(
        &h,
        400,
        "invalid_scope",
        "Invalid OAuth scope or ID token audience provided.",
    );
    assert_auth_row(&h, &h.client(), OutcomeId::FcmAuthInvalidScope, 1).await;
}

#[tokio::test]
async fn fcm_auth_connection_during_an_oauth_outage_after_the_retries() {
    let h = Harness::start().await;
    let outage = Outage {
        from_unix_ms: None,
        until_unix_ms: None,
        duration: Some(std::time::Duration::from_secs(60)),
        mode: OutageMode::Refuse,
    };
    let faults = Faults {
        oauth_outage: Some(outage),
        ..Faults::default()
    };
    h.mocks.faults().set(faults).unwrap();
    let client = h.client_with(|s| s.token.max_retries = 2);
    let result = client.send(&message("tok-auth")).await;
    assert_row(&result, OutcomeId::FcmAuthConnection);
    assert_eq!(result.status, None);
}

#[tokio::test]
async fn fcm_auth_connection_for_a_5xx_token_endpoint() {
    let h = Harness::start().await;
    script(&h, 503, "temporarily_unavailable", "try later");
    let client = h.client_with(|s| s.token.max_retries = 2);
    // Retryable: the first request and two retries, then the row.
    assert_auth_row(&h, &client, OutcomeId::FcmAuthConnection, 3).await;
}

#[tokio::test]
async fn fcm_auth_connection_when_the_token_endpoint_is_unreachable() {
    let h = Harness::start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let client = h.client_with(|s| s.token_uri = Some(format!("https://127.0.0.1:{port}/token")));
    assert_auth_row(&h, &client, OutcomeId::FcmAuthConnection, 0).await;
}

#[tokio::test]
async fn every_message_waiting_on_a_failed_refresh_gets_its_row() {
    let h = Harness::start().await;
    script(&h, 401, "disabled_client", "The OAuth client was disabled.");
    let client = h.client();
    let shared = content();
    let messages: Vec<Message> = (0..50)
        .map(|i| Message::new(format!("wait-{i}"), shared.clone()))
        .collect();
    let results = futures_util::future::join_all(messages.iter().map(|m| client.send(m))).await;
    for result in &results {
        assert_row(result, OutcomeId::FcmAuthDisabledClient);
        assert_eq!(result.error_code.as_deref(), Some("disabled_client"));
        assert_eq!(result.status, Some(401));
    }
    assert_eq!(h.mocks.stats().token_requests, 1);
}
