//! The OAuth token endpoint: every error of §3.3 on the wire, success, HTTP/1.1.

use pushgate_mocks::fixtures::now_secs;
use pushgate_mocks::{Answer, OAuthAccountConfig, Rule, Service, ServiceAccount};
use pushgate_outcome::oauth::{ERRORS, FCM_SCOPE};
use serde_json::{Value, json};

use crate::helpers::{CLIENT_EMAIL, Harness, PROJECT, https_client};

fn oauth_row(status: u16, body: &Value) -> Option<pushgate_outcome::OutcomeId> {
    let body = body.to_string();
    let result = pushgate_outcome::oauth::OAuthResult::Response {
        status,
        body: body.as_bytes(),
    };
    pushgate_outcome::oauth::classify(&result).id()
}

#[tokio::test]
async fn a_valid_assertion_gets_an_access_token() {
    let h = Harness::start().await;
    let (status, body) = h.token_request(&h.account.assertion().unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].as_str().unwrap().starts_with("ya29."));
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["token_type"], "Bearer");
    let stats = h.mocks.stats();
    assert_eq!((stats.token_requests, stats.tokens_issued), (1, 1));
    // HTTP/1.1 works too, as on Google's endpoint.
    let http1 = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(h.mocks.ca_pem().as_bytes()).unwrap()])
        .http1_only()
        .build()
        .unwrap();
    let form = [
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned(),
        ),
        ("assertion", h.account.assertion().unwrap()),
    ];
    let response = http1
        .post(h.mocks.oauth_token_url())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn every_error_of_the_table_can_be_scripted() {
    let h = Harness::start().await;
    for (status, error, description) in ERRORS {
        let rule = Rule::oauth_client(CLIENT_EMAIL, Answer::oauth(status, error, description));
        h.mocks.scenarios().add(rule).unwrap();
        let (got, body) = h.token_request(&h.account.assertion().unwrap()).await;
        assert_eq!(got, status, "{error}");
        assert_eq!(
            body,
            json!({ "error": error, "error_description": description })
        );
        assert!(oauth_row(got, &body).is_some());
    }
    assert_eq!(h.mocks.stats().tokens_issued, 0);
}

#[tokio::test]
async fn broken_assertions_get_googles_answers() {
    let h = Harness::start().await;
    let url = h.mocks.oauth_token_url();
    let now = now_secs();
    let a = &h.account;
    // The same account id and kid with another key: the signature does not verify.
    let mut impostor = ServiceAccount::generate(CLIENT_EMAIL, PROJECT, url.clone()).unwrap();
    impostor.private_key_id = a.private_key_id.clone();
    let stranger =
        ServiceAccount::generate("nobody@x.iam.gserviceaccount.com", PROJECT, url.clone()).unwrap();
    let table = |i: usize| (ERRORS[i].0, ERRORS[i].1.to_owned(), ERRORS[i].2.to_owned());
    let cases = [
        (impostor.assertion().unwrap(), table(0)),
        (
            a.assertion_with(&url, FCM_SCOPE, now, now + 3601).unwrap(),
            table(1),
        ),
        (
            a.assertion_with(&url, FCM_SCOPE, now + 600, now + 1200)
                .unwrap(),
            table(1),
        ),
        (
            a.assertion_with(&url, FCM_SCOPE, now - 7200, now - 3600)
                .unwrap(),
            table(1),
        ),
        (stranger.assertion().unwrap(), table(2)),
        (
            a.assertion_with(
                &url,
                "https://www.googleapis.com/auth/userinfo.email",
                now,
                now + 3600,
            )
            .unwrap(),
            table(7),
        ),
        ("not-a-jwt".to_owned(), table(0)),
    ];
    for (assertion, (status, error, description)) in cases {
        let (got, body) = h.token_request(&assertion).await;
        assert_eq!(
            (got, &body["error"], &body["error_description"]),
            (status, &json!(error), &json!(description))
        );
    }
    // The audience must be the mock's token URL.
    let (got, body) = h
        .token_request(
            &a.assertion_with(
                "https://oauth2.googleapis.com/token",
                FCM_SCOPE,
                now,
                now + 3600,
            )
            .unwrap(),
        )
        .await;
    assert_eq!((got, body["error"].as_str()), (400, Some("invalid_grant")));
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("Invalid JWT: Failed audience check")
    );
    assert_eq!(h.mocks.stats().tokens_issued, 0);
}

#[tokio::test]
async fn disabled_accounts_and_bad_forms_are_refused() {
    let h = Harness::start().await;
    h.mocks
        .add_oauth_account(&OAuthAccountConfig {
            disabled: true,
            ..h.account.mock_account()
        })
        .unwrap();
    let (status, body) = h.token_request(&h.account.assertion().unwrap()).await;
    assert_eq!(
        (status, body),
        (
            401,
            json!({ "error": "disabled_client", "error_description": "The OAuth client was disabled." })
        )
    );

    let post = |form: Vec<(&'static str, String)>| {
        h.https.post(h.mocks.oauth_token_url()).form(&form).send()
    };
    let response = post(vec![
        ("grant_type", "client_credentials".into()),
        ("assertion", "x".into()),
    ])
    .await
    .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
    let response = post(vec![(
        "grant_type",
        "urn:ietf:params:oauth:grant-type:jwt-bearer".into(),
    )])
    .await
    .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let response = h
        .https
        .post(h.mocks.oauth_token_url())
        .json(&json!({ "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    assert_eq!(h.mocks.stats().token_requests, 4);
    assert_eq!(
        h.mocks
            .stats()
            .count(Service::OAuth, 401, Some("disabled_client")),
        1
    );
}

#[tokio::test]
async fn service_account_files_are_loaded_from_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let account = ServiceAccount::generate(
        "file@demo.iam.gserviceaccount.com",
        PROJECT,
        "https://placeholder/token",
    )
    .unwrap();
    let path = account.write_key_file(dir.path(), "sa.json").unwrap();
    let h = Harness::with(|c| c.oauth.service_account_files.push(path)).await;
    let mut account = account;
    account.token_uri = h.mocks.oauth_token_url();
    let (status, body) = h.token_request(&account.assertion().unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let client = https_client(h.mocks.ca_pem(), None);
    let response = client
        .get(h.mocks.oauth_token_url().replace("/token", "/other"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}
