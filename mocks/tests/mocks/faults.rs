//! Global faults: error rate, resets, GOAWAY after N streams, latency, OAuth outage.

use std::time::{Duration, Instant};

use pushgate_mocks::{Faults, Latency, Outage, OutageMode, Service};

use crate::helpers::{DEVICE, Harness, Push, fcm_message, h2_reason};

fn faults(tune: impl FnOnce(&mut Faults)) -> Faults {
    let mut f = Faults::default();
    tune(&mut f);
    f
}

#[tokio::test]
async fn the_error_rate_answers_with_each_service_body_and_retry_after() {
    let h = Harness::start().await;
    let access = h.access_token().await;
    let t = h.provider_token();
    let addr = h.mocks.apns_addr();
    let mut apns = h.apns().await;
    let cases = [
        (429, "TooManyRequests", "QUOTA_EXCEEDED"),
        (500, "InternalServerError", "INTERNAL"),
        (503, "ServiceUnavailable", "UNAVAILABLE"),
    ];
    for (status, reason, code) in cases {
        h.mocks
            .faults()
            .set(faults(|f| {
                f.error_rate = 1.0;
                f.error_statuses = vec![status];
                f.retry_after_secs = Some(7);
            }))
            .unwrap();
        let reply = apns
            .send(Push::new(DEVICE, &t).request(addr))
            .await
            .unwrap();
        assert_eq!(
            (reply.status.as_u16(), reply.reason()),
            (status, reason.to_owned())
        );
        assert_eq!(reply.header("retry-after"), Some("7"));
        let (got, body) = h.fcm_send(&access, &fcm_message("d")).await;
        assert_eq!(
            (got, body["error"]["details"][0]["errorCode"].as_str()),
            (status, Some(code))
        );
    }
    h.mocks.faults().clear();
    assert_eq!(
        apns.send(Push::new(DEVICE, &t).request(addr))
            .await
            .unwrap()
            .status,
        200
    );
}

#[tokio::test]
async fn faults_apply_only_to_the_listed_services() {
    let h = Harness::start().await;
    h.mocks
        .faults()
        .set(faults(|f| {
            f.error_rate = 1.0;
            f.services = vec![Service::Fcm];
        }))
        .unwrap();
    let mut apns = h.apns().await;
    let reply = apns
        .send(Push::new(DEVICE, &h.provider_token()).request(h.mocks.apns_addr()))
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    let access = h.access_token().await;
    assert_ne!(h.fcm_send(&access, &fcm_message("d")).await.0, 200);
}

#[tokio::test]
async fn the_reset_rate_resets_streams() {
    let h = Harness::start().await;
    h.mocks
        .faults()
        .set(faults(|f| f.reset_rate = 1.0))
        .unwrap();
    let mut apns = h.apns().await;
    let e = apns
        .send(Push::new(DEVICE, &h.provider_token()).request(h.mocks.apns_addr()))
        .await
        .unwrap_err();
    assert_eq!(h2_reason(&e), Some(h2::Reason::INTERNAL_ERROR));
    assert_eq!(h.mocks.stats().transport_count(Service::Apns, "reset"), 1);
}

#[tokio::test]
async fn goaway_after_n_streams_closes_each_connection() {
    let h = Harness::start().await;
    h.mocks
        .faults()
        .set(faults(|f| f.goaway_after_streams = Some(3)))
        .unwrap();
    let t = h.provider_token();
    let addr = h.mocks.apns_addr();
    for _ in 0..2 {
        let mut apns = h.apns().await;
        for _ in 0..3 {
            assert_eq!(
                apns.send(Push::new(DEVICE, &t).request(addr))
                    .await
                    .unwrap()
                    .status,
                200
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            apns.send(Push::new(DEVICE, &t).request(addr))
                .await
                .is_err()
        );
    }
    let stats = h.mocks.stats();
    assert_eq!(stats.delivered(Service::Apns, DEVICE), 6);
    assert_eq!(stats.connection_count[&Service::Apns], 2);
    assert!(
        stats
            .connections
            .iter()
            .filter(|c| c.service == Service::Apns)
            .all(|c| c.streams <= 4)
    );
}

#[tokio::test]
async fn latency_delays_every_answer() {
    let h = Harness::start().await;
    let fixed = Latency::Fixed {
        delay: Duration::from_millis(250),
    };
    h.mocks
        .faults()
        .set(faults(|f| f.latency = Some(fixed)))
        .unwrap();
    let mut apns = h.apns().await;
    let start = Instant::now();
    let reply = apns
        .send(Push::new(DEVICE, &h.provider_token()).request(h.mocks.apns_addr()))
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    assert!(start.elapsed() >= Duration::from_millis(250));
}

#[tokio::test]
async fn an_oauth_outage_answers_503_or_refuses_connections() {
    let h = Harness::start().await;
    let assertion = h.account.assertion().unwrap();
    let outage = |mode| Outage {
        from_unix_ms: None,
        until_unix_ms: None,
        duration: Some(Duration::from_secs(60)),
        mode,
    };
    h.mocks
        .faults()
        .set(faults(|f| {
            f.oauth_outage = Some(outage(OutageMode::Unavailable))
        }))
        .unwrap();
    let (status, body) = h.token_request(&assertion).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("temporarily_unavailable"))
    );
    let window = h.mocks.faults().get().oauth_outage.unwrap();
    assert!(window.until_unix_ms.unwrap() > window.from_unix_ms.unwrap());

    h.mocks
        .faults()
        .set(faults(|f| {
            f.oauth_outage = Some(outage(OutageMode::Refuse))
        }))
        .unwrap();
    // A fresh client: a pooled connection would get its request reset instead.
    let client = crate::helpers::https_client(h.mocks.ca_pem(), None);
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ("assertion", assertion.as_str()),
    ];
    assert!(
        client
            .post(h.mocks.oauth_token_url())
            .form(&form)
            .send()
            .await
            .is_err()
    );

    h.mocks.faults().clear();
    assert_eq!(h.token_request(&assertion).await.0, 200);
    // A window in the past is no outage.
    let past = Outage {
        from_unix_ms: Some(1),
        until_unix_ms: Some(2),
        duration: None,
        mode: OutageMode::Unavailable,
    };
    h.mocks
        .faults()
        .set(faults(|f| f.oauth_outage = Some(past)))
        .unwrap();
    assert_eq!(h.token_request(&assertion).await.0, 200);
}

#[tokio::test]
async fn oauth_gets_the_global_faults_only_when_listed() {
    let h = Harness::start().await;
    let assertion = h.account.assertion().unwrap();
    h.mocks
        .faults()
        .set(faults(|f| {
            f.error_rate = 1.0;
            f.error_statuses = vec![500];
        }))
        .unwrap();
    assert_eq!(h.token_request(&assertion).await.0, 200);
    h.mocks
        .faults()
        .set(faults(|f| {
            f.error_rate = 1.0;
            f.error_statuses = vec![500];
            f.services = vec![Service::OAuth];
        }))
        .unwrap();
    let (status, body) = h.token_request(&assertion).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (500, Some("internal_failure"))
    );
}
