//! `fcm.connection_lost`: no answer at all (reset, GOAWAY, nothing listening).

use pushgate_mocks::{Answer, Rule, Service};
use pushgate_outcome::OutcomeId;

use crate::helpers::{Harness, assert_row, assert_sent, message};

#[tokio::test]
async fn fcm_connection_lost_on_a_stream_reset() {
    let h = Harness::start().await;
    h.mocks
        .scenarios()
        .add(Rule::fcm_token("tok-reset", Answer::reset()))
        .unwrap();
    let client = h.client();
    let result = client.send(&message("tok-reset")).await;
    assert_row(&result, OutcomeId::FcmConnectionLost);
    assert_eq!(result.status, None);
    assert_eq!(result.attempts, 1);
    assert_eq!(h.mocks.stats().transport_count(Service::Fcm, "reset"), 1);
    let address = h.mocks.fcm_addr().to_string();
    let text = result.classification.error_message().unwrap_or_default();
    assert!(text.contains(&address), "{text}");
    // The connection itself is fine: the next message goes through.
    assert_sent(&client.send(&message("tok-fine")).await);
}

#[tokio::test]
async fn fcm_connection_lost_on_goaway_before_the_answer() {
    let h = Harness::start().await;
    h.mocks
        .scenarios()
        .add(Rule::fcm_token("tok-goaway", Answer::Goaway))
        .unwrap();
    let client = h.client();
    let result = client.send(&message("tok-goaway")).await;
    assert_row(&result, OutcomeId::FcmConnectionLost);
    // A new connection serves the next message.
    assert_sent(&client.send(&message("tok-after")).await);
}

#[tokio::test]
async fn fcm_connection_lost_when_nothing_listens() {
    let h = Harness::start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let client = h.client_with(|s| s.base_url = Some(format!("https://127.0.0.1:{port}")));
    let result = client.send(&message("tok-1")).await;
    assert_row(&result, OutcomeId::FcmConnectionLost);
    let text = result.classification.error_message().unwrap_or_default();
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
}

#[tokio::test]
async fn streams_refused_by_a_closing_connection_are_sent_again_on_a_new_one() {
    let h = Harness::start().await;
    let faults = pushgate_mocks::Faults {
        goaway_after_streams: Some(25),
        ..pushgate_mocks::Faults::default()
    };
    h.mocks.faults().set(faults).unwrap();
    let client = h.client_with(|s| s.connections = 1);
    let shared = crate::helpers::content();
    let messages: Vec<pushgate_fcm::Message> = (0..200)
        .map(|i| pushgate_fcm::Message::new(format!("rotate-{i}"), shared.clone()))
        .collect();
    let results: Vec<_> = futures_util::StreamExt::collect(client.send_all(&messages, 50)).await;
    for (_, result) in &results {
        assert_sent(result);
        assert_eq!(result.attempts, 1);
    }
    let stats = h.mocks.stats();
    assert!(stats.connection_count[&Service::Fcm] >= 8, "{stats:?}");
    assert_eq!(stats.count(Service::Fcm, 200, None), 200);
}

#[tokio::test]
async fn an_ipv6_base_url_connects() {
    let h = Harness::with(|c| c.fcm_listen = "[::1]:0".parse().unwrap()).await;
    let port = h.mocks.fcm_addr().port();
    let client = h.client_with(|s| s.base_url = Some(format!("https://[::1]:{port}")));
    assert_sent(&client.send(&message("tok-v6")).await);
}
