//! Scripted answers: transport-level answers, delays, fail-N-then-succeed, prefixes, raw
//! bodies, for each service.

use std::time::{Duration, Instant};

use pushgate_mocks::{Answer, ResetCode, Rule, Service};
use pushgate_outcome::OutcomeId;
use pushgate_outcome::fcm::ErrorCode;

use crate::helpers::{CLIENT_EMAIL, DEVICE, Harness, Push, fcm_message, fcm_request, h2_reason};

#[tokio::test]
async fn resets_carry_the_chosen_code() {
    let h = Harness::start().await;
    h.mocks
        .scenarios()
        .add_all([
            Rule::apns_token("aa", Answer::reset()),
            Rule::apns_token(
                "bb",
                Answer::Reset {
                    code: ResetCode::RefusedStream,
                },
            ),
            Rule::fcm_token("reset-me", Answer::reset()),
        ])
        .unwrap();
    let t = h.provider_token();
    let mut apns = h.apns().await;
    let e = apns
        .send(Push::new("aa", &t).request(h.mocks.apns_addr()))
        .await
        .unwrap_err();
    assert_eq!(h2_reason(&e), Some(h2::Reason::INTERNAL_ERROR), "{e:?}");
    let e = apns
        .send(Push::new("bb", &t).request(h.mocks.apns_addr()))
        .await
        .unwrap_err();
    assert_eq!(h2_reason(&e), Some(h2::Reason::REFUSED_STREAM), "{e:?}");
    // The connection is still usable.
    assert_eq!(
        apns.send(Push::new(DEVICE, &t).request(h.mocks.apns_addr()))
            .await
            .unwrap()
            .status,
        200
    );

    let token = h.access_token().await;
    let mut fcm = h.fcm().await;
    let e = fcm
        .send(fcm_request(
            &h.mocks,
            &token,
            fcm_message("reset-me").to_string(),
        ))
        .await
        .unwrap_err();
    assert_eq!(h2_reason(&e), Some(h2::Reason::INTERNAL_ERROR));
    let stats = h.mocks.stats();
    assert_eq!(stats.transport_count(Service::Apns, "reset"), 2);
    assert_eq!(stats.transport_count(Service::Fcm, "reset"), 1);
}

#[tokio::test]
async fn goaway_refuses_the_stream_and_closes_the_connection() {
    let h = Harness::start().await;
    h.mocks
        .scenarios()
        .add(Rule::apns_token("dd", Answer::Goaway))
        .unwrap();
    let t = h.provider_token();
    let addr = h.mocks.apns_addr();
    let mut apns = h.apns().await;
    let e = apns
        .send(Push::new("dd", &t).request(addr))
        .await
        .unwrap_err();
    assert_eq!(h2_reason(&e), Some(h2::Reason::REFUSED_STREAM), "{e:?}");
    // No new stream on that connection; a new connection works.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        apns.send(Push::new(DEVICE, &t).request(addr))
            .await
            .is_err()
    );
    let mut fresh = h.apns().await;
    assert_eq!(
        fresh
            .send(Push::new(DEVICE, &t).request(addr))
            .await
            .unwrap()
            .status,
        200
    );
    assert_eq!(h.mocks.stats().transport_count(Service::Apns, "goaway"), 1);
}

#[tokio::test]
async fn no_answer_holds_the_stream_until_the_client_gives_up() {
    let h = Harness::start().await;
    h.mocks
        .scenarios()
        .add_all([
            Rule::apns_token("ee", Answer::NoAnswer),
            Rule::oauth_client(CLIENT_EMAIL, Answer::NoAnswer),
        ])
        .unwrap();
    let t = h.provider_token();
    let mut apns = h.apns().await;
    let held = apns.send(Push::new("ee", &t).request(h.mocks.apns_addr()));
    assert!(
        tokio::time::timeout(Duration::from_millis(300), held)
            .await
            .is_err()
    );
    // The client cancelled the stream: the mock counts it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while h.mocks.stats().transport_count(Service::Apns, "no_answer") == 0 {
        assert!(Instant::now() < deadline, "no_answer never counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The OAuth endpoint can hang too.
    let assertion = h.account.assertion().unwrap();
    let request = h.token_request(&assertion);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), request)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn delays_come_before_the_answer() {
    let h = Harness::start().await;
    h.mocks
        .scenarios()
        .add_all([
            Rule::apns_token("ff", Answer::delay(Duration::from_millis(300))),
            Rule::apns_token(
                "fe",
                Answer::Delay {
                    delay: Duration::from_millis(200),
                    then: Some(Box::new(Answer::apns(500, "InternalServerError"))),
                },
            ),
            Rule::apns_token("fd", Answer::delay(Duration::from_secs(30))),
        ])
        .unwrap();
    let t = h.provider_token();
    let addr = h.mocks.apns_addr();
    let mut apns = h.apns().await;
    let start = Instant::now();
    assert_eq!(
        apns.send(Push::new("ff", &t).request(addr))
            .await
            .unwrap()
            .status,
        200
    );
    assert!(start.elapsed() >= Duration::from_millis(300));
    let start = Instant::now();
    let reply = apns.send(Push::new("fe", &t).request(addr)).await.unwrap();
    assert!(start.elapsed() >= Duration::from_millis(200));
    assert_eq!(
        (reply.status.as_u16(), reply.reason()),
        (500, "InternalServerError".into())
    );
    // A long delay looks like a timeout to a client.
    let slow = apns.send(Push::new("fd", &t).request(addr));
    assert!(
        tokio::time::timeout(Duration::from_millis(200), slow)
            .await
            .is_err()
    );
    assert_eq!(h.mocks.stats().delivered(Service::Apns, "ff"), 1);
}

#[tokio::test]
async fn fail_n_times_then_succeed_counts_per_token() {
    let h = Harness::start().await;
    let rule = Rule::apns_prefix("ab", Answer::apns(503, "ServiceUnavailable")).times(2);
    h.mocks.scenarios().add(rule).unwrap();
    h.mocks
        .scenarios()
        .add(Rule::fcm_token("flaky", Answer::fcm(ErrorCode::Unavailable)).times(1))
        .unwrap();
    let t = h.provider_token();
    let addr = h.mocks.apns_addr();
    let mut apns = h.apns().await;
    for token in ["ab01", "ab02"] {
        let statuses: Vec<u16> = futures_statuses(&mut apns, token, &t, addr, 3).await;
        assert_eq!(statuses, [503, 503, 200], "{token}");
    }
    let access = h.access_token().await;
    assert_eq!(h.fcm_send(&access, &fcm_message("flaky")).await.0, 503);
    assert_eq!(h.fcm_send(&access, &fcm_message("flaky")).await.0, 200);
}

async fn futures_statuses(
    apns: &mut crate::helpers::H2,
    token: &str,
    t: &str,
    addr: std::net::SocketAddr,
    n: usize,
) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(
            apns.send(Push::new(token, t).request(addr))
                .await
                .unwrap()
                .status
                .as_u16(),
        );
    }
    out
}

#[tokio::test]
async fn exact_rules_beat_prefixes_and_longer_prefixes_win() {
    let h = Harness::start().await;
    h.mocks
        .scenarios()
        .add_all([
            Rule::apns_prefix("dead", Answer::apns(410, "Unregistered")),
            Rule::apns_prefix("deadbe", Answer::apns(400, "BadDeviceToken")),
            Rule::apns_token("deadbeef", Answer::Accept),
        ])
        .unwrap();
    let t = h.provider_token();
    let addr = h.mocks.apns_addr();
    let mut apns = h.apns().await;
    let mut answer = async |token: &str| {
        let reply = apns.send(Push::new(token, &t).request(addr)).await.unwrap();
        (reply.status.as_u16(), reply.reason())
    };
    assert_eq!(answer("dead0001").await, (410, "Unregistered".into()));
    assert_eq!(answer("deadbe01").await, (400, "BadDeviceToken".into()));
    assert_eq!(answer("deadbeef").await, (200, String::new()));
    assert_eq!(answer("beef").await, (200, String::new()));
    let rules = h.mocks.scenarios().list();
    assert_eq!(rules.len(), 3);
    h.mocks.scenarios().clear();
    assert_eq!(answer("dead0001").await, (200, String::new()));
}

#[tokio::test]
async fn raw_answers_reach_the_unparseable_rows() {
    let h = Harness::start().await;
    let legacy = Answer::Raw {
        status: 400,
        body: r#"{"error":"NotRegistered"}"#.into(),
        content_type: Some("application/json".into()),
        headers: Default::default(),
    };
    h.mocks
        .scenarios()
        .add_all([
            Rule::apns_token("ca", Answer::raw(500, "")),
            Rule::apns_token("cb", Answer::raw(400, "<html>nope</html>")),
            Rule::fcm_token("legacy", legacy),
            Rule::fcm_token("bare503", Answer::raw(503, "")),
            Rule::fcm_token("garbled", Answer::raw(400, "{not json")),
            Rule::fcm_token(
                "no-detail",
                Answer::FcmStatus {
                    status: 401,
                    canonical: "UNAUTHENTICATED".into(),
                    message: None,
                    error_info_reason: None,
                },
            ),
            Rule::fcm_token(
                "new-code",
                Answer::FcmError {
                    error_code: "NEW_CODE".into(),
                    status: Some(400),
                    canonical: Some("FAILED_PRECONDITION".into()),
                    message: None,
                    retry_after_secs: None,
                },
            ),
        ])
        .unwrap();
    let t = h.provider_token();
    let addr = h.mocks.apns_addr();
    let mut apns = h.apns().await;
    let reply = apns.send(Push::new("ca", &t).request(addr)).await.unwrap();
    assert_eq!((reply.status.as_u16(), reply.body.len()), (500, 0));
    let reply = apns.send(Push::new("cb", &t).request(addr)).await.unwrap();
    assert_eq!(&reply.body[..], b"<html>nope</html>");

    let access = h.access_token().await;
    let mut fcm = h.fcm().await;
    let cases = [
        ("legacy", OutcomeId::FcmInvalidRegistration),
        ("bare503", OutcomeId::FcmServiceUnavailable),
        ("garbled", OutcomeId::FcmOther),
        ("no-detail", OutcomeId::FcmSenderAuth),
        ("new-code", OutcomeId::FcmOther),
    ];
    for (token, row) in cases {
        let reply = fcm
            .send(fcm_request(
                &h.mocks,
                &access,
                fcm_message(token).to_string(),
            ))
            .await
            .unwrap();
        let result = pushgate_outcome::fcm::FcmResult::Response {
            status: reply.status.as_u16(),
            body: &reply.body,
        };
        assert_eq!(
            pushgate_outcome::fcm::classify(&result).id(),
            Some(row),
            "{token}"
        );
    }
}

#[tokio::test]
async fn oauth_answers_can_be_scripted() {
    let h = Harness::start().await;
    let assertion = h.account.assertion().unwrap();
    let scripted = Rule::oauth_client(
        CLIENT_EMAIL,
        Answer::Delay {
            delay: Duration::from_millis(100),
            then: Some(Box::new(Answer::oauth(
                403,
                "access_denied",
                "Requested client not authorized.",
            ))),
        },
    );
    h.mocks.scenarios().add(scripted.times(1)).unwrap();
    let (status, body) = h.token_request(&assertion).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("access_denied"))
    );
    assert_eq!(h.token_request(&assertion).await.0, 200);
    h.mocks
        .scenarios()
        .add(Rule::oauth_client(CLIENT_EMAIL, Answer::reset()))
        .unwrap();
    let form = [
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned(),
        ),
        ("assertion", assertion),
    ];
    assert!(
        h.https
            .post(h.mocks.oauth_token_url())
            .form(&form)
            .send()
            .await
            .is_err()
    );
    assert_eq!(h.mocks.stats().transport_count(Service::OAuth, "reset"), 1);
}

#[tokio::test]
async fn fcm_streams_can_be_refused_or_held_too() {
    let h = Harness::start().await;
    h.mocks
        .scenarios()
        .add_all([
            Rule::fcm_token("gone-away", Answer::Goaway),
            Rule::fcm_token("silent", Answer::NoAnswer),
            Rule::fcm_prefix("topic-", Answer::fcm(ErrorCode::QuotaExceeded)),
        ])
        .unwrap();
    let access = h.access_token().await;
    let mut fcm = h.fcm().await;
    let send = |token: &str| fcm_request(&h.mocks, &access, fcm_message(token).to_string());
    let held = fcm.send(send("silent"));
    assert!(
        tokio::time::timeout(Duration::from_millis(200), held)
            .await
            .is_err()
    );
    let e = fcm.send(send("gone-away")).await.unwrap_err();
    assert_eq!(h2_reason(&e), Some(h2::Reason::REFUSED_STREAM));
    // Topic messages are matched on the topic.
    let topic = serde_json::json!({ "message": { "topic": "topic-news" } });
    assert_eq!(h.fcm_send(&access, &topic).await.0, 429);
}
