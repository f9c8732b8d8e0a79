//! Retries inside the sender: `Retry-After` honoured, and handed back when too long.

use std::time::Duration;

use pushgate_mocks::{Answer, Rule, Service};
use pushgate_outcome::OutcomeId;

use crate::helpers::{Harness, assert_row, assert_sent, attempt_gaps_ms, message};

fn unavailable(retry_after_secs: u64) -> Answer {
    Answer::FcmError {
        error_code: "UNAVAILABLE".into(),
        status: None,
        canonical: None,
        message: None,
        retry_after_secs: Some(retry_after_secs),
    }
}

#[tokio::test]
async fn retry_after_is_honoured_and_the_third_attempt_succeeds() {
    let h = Harness::start().await;
    let rule = Rule::fcm_token("tok-busy", unavailable(1)).times(2);
    h.mocks.scenarios().add(rule).unwrap();
    let result = h.client().send(&message("tok-busy")).await;
    assert_sent(&result);
    assert_eq!(result.attempts, 3);
    assert_eq!(
        h.mocks
            .stats()
            .count(Service::Fcm, 503, Some("UNAVAILABLE")),
        2
    );
    // Each attempt came at least the second the server asked for after the one before.
    let gaps = attempt_gaps_ms(&h, "tok-busy");
    assert_eq!(gaps.len(), 2, "{gaps:?}");
    assert!(gaps.iter().all(|&gap| gap >= 1000), "{gaps:?}");
}

#[tokio::test]
async fn a_retry_after_beyond_the_longest_wait_is_handed_back() {
    let h = Harness::start().await;
    let rule = Rule::fcm_token("tok-later", unavailable(3600));
    h.mocks.scenarios().add(rule).unwrap();
    let result = h.client().send(&message("tok-later")).await;
    assert_row(&result, OutcomeId::FcmUnavailable);
    assert_eq!(result.attempts, 1);
    assert_eq!(result.retry_after, Some(Duration::from_secs(3600)));
}

#[tokio::test]
async fn no_retries_when_none_are_configured() {
    let h = Harness::start().await;
    let rule = Rule::fcm_token("tok-once", unavailable(1));
    h.mocks.scenarios().add(rule).unwrap();
    let client = h.client_with(|s| s.retry.max_retries = 0);
    let result = client.send(&message("tok-once")).await;
    assert_row(&result, OutcomeId::FcmUnavailable);
    assert_eq!(result.attempts, 1);
    assert_eq!(result.retry_after, Some(Duration::from_secs(1)));
}
