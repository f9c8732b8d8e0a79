//! The APNs mock: every reason on the wire, the validation order, provider tokens,
//! certificate authentication, payload limits.

use std::time::Duration;

use pushgate_mocks::{Answer, ApnsKey, ApnsKeyConfig, KeySource, MockCa, Rule, Service};
use pushgate_outcome::apns::REASONS;

use crate::helpers::{DEVICE, H2, Harness, KEY_ID, Push, TEAM_ID, TOPIC};

#[tokio::test]
async fn a_valid_push_gets_200_with_an_apns_id() {
    let h = Harness::start().await;
    let mut apns = h.apns().await;
    let token = h.provider_token();
    let reply = apns
        .send(Push::new(DEVICE, &token).request(h.mocks.apns_addr()))
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    assert!(reply.body.is_empty());
    let id = reply.header("apns-id").unwrap();
    assert_eq!(id.len(), 36, "{id}");

    let given = "123e4567-e89b-12d3-a456-426614174000";
    let push = Push::new(DEVICE, &token).header("apns-id", given);
    let reply = apns.send(push.request(h.mocks.apns_addr())).await.unwrap();
    assert_eq!(reply.header("apns-id"), Some(given));
    assert_eq!(h.mocks.stats().delivered(Service::Apns, DEVICE), 2);
}

#[tokio::test]
async fn every_reason_of_the_table_can_be_produced() {
    let h = Harness::start().await;
    let rules = REASONS.iter().enumerate().map(|(i, (status, reason))| {
        Rule::apns_token(format!("{i:04x}"), Answer::apns(*status, *reason))
    });
    h.mocks.scenarios().add_all(rules).unwrap();
    let mut apns = h.apns().await;
    let token = h.provider_token();
    for (i, (status, reason)) in REASONS.iter().enumerate() {
        let push = Push::new(&format!("{i:04x}"), &token);
        let reply = apns.send(push.request(h.mocks.apns_addr())).await.unwrap();
        assert_eq!(reply.status, *status, "{reason}");
        assert_eq!(reply.reason(), *reason);
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert!(reply.header("apns-id").is_some());
        assert_eq!(
            reply.json()["timestamp"].is_i64(),
            *status == 410,
            "{reason}"
        );
    }
    let stats = h.mocks.stats();
    assert_eq!(stats.count(Service::Apns, 410, Some("Unregistered")), 1);
    assert_eq!(stats.deliveries.apns.len(), 0);
}

/// Sends one push on a fresh connection and returns (status, reason).
async fn refused(h: &Harness, push: Push) -> (u16, String) {
    let mut apns = h.apns().await;
    let reply = apns.send(push.request(h.mocks.apns_addr())).await.unwrap();
    (reply.status.as_u16(), reply.reason())
}

#[tokio::test]
async fn each_header_and_path_rule_gives_its_reason() {
    let h = Harness::start().await;
    let t = h.provider_token();
    let ok = || Push::new(DEVICE, &t);
    let mut get = ok();
    get.method = "GET";
    let mut no_token = ok();
    no_token.path = "/3/device/".into();
    let mut non_hex = ok();
    non_hex.path = "/3/device/nothex".into();
    let mut bad_path = ok();
    bad_path.path = "/3/devices/abcd".into();
    let cases: Vec<(Push, u16, &str)> = vec![
        (ok().header("apns-topic", TOPIC), 400, "DuplicateHeaders"),
        (ok().header("apns-id", "not-a-uuid"), 400, "BadMessageId"),
        (get, 405, "MethodNotAllowed"),
        (ok().set("apns-topic", ""), 400, "MissingTopic"),
        (
            ok().header("apns-collapse-id", &"c".repeat(65)),
            400,
            "BadCollapseId",
        ),
        (ok().header("apns-priority", "7"), 400, "BadPriority"),
        (
            ok().header("apns-push-type", "background"),
            400,
            "BadPriority",
        ),
        (ok().header("apns-push-type", "fax"), 400, "InvalidPushType"),
        (
            ok().header("apns-expiration", "tomorrow"),
            400,
            "BadExpirationDate",
        ),
        (no_token, 400, "MissingDeviceToken"),
        (non_hex, 400, "BadDeviceToken"),
        (bad_path, 404, "BadPath"),
        (ok().set("authorization", ""), 403, "MissingProviderToken"),
        (
            ok().set("authorization", "basic abc"),
            403,
            "MissingProviderToken",
        ),
        (
            ok().set("authorization", "bearer not.a.jwt"),
            403,
            "InvalidProviderToken",
        ),
        (ok().body(""), 400, "PayloadEmpty"),
    ];
    for (push, status, reason) in cases {
        assert_eq!(refused(&h, push).await, (status, reason.to_owned()));
    }
    // Good values pass.
    let fine = ok()
        .header("apns-collapse-id", &"c".repeat(64))
        .header("apns-push-type", "background")
        .header("apns-priority", "5")
        .header("apns-expiration", "0");
    assert_eq!(refused(&h, fine).await, (200, String::new()));
}

#[tokio::test]
async fn the_first_failing_rule_wins() {
    let h = Harness::start().await;
    let t = h.provider_token();
    h.mocks
        .scenarios()
        .add(Rule::apns_token(DEVICE, Answer::apns(410, "Unregistered")))
        .unwrap();
    let mut get = Push::new(DEVICE, &t).set("apns-topic", "");
    get.method = "GET";
    let mut non_hex_no_auth = Push::new(DEVICE, "");
    non_hex_no_auth.path = "/3/device/xyz".into();
    let cases: Vec<(Push, &str)> = vec![
        (
            Push::new(DEVICE, &t)
                .header("apns-id", "x")
                .set("apns-topic", ""),
            "BadMessageId",
        ),
        (get, "MethodNotAllowed"),
        (non_hex_no_auth, "BadDeviceToken"),
        (Push::new(DEVICE, "").body(""), "MissingProviderToken"),
        // A scripted token does not skip validation.
        (Push::new(DEVICE, &t).set("apns-topic", ""), "MissingTopic"),
        (Push::new(DEVICE, &t).body(""), "PayloadEmpty"),
        (Push::new(DEVICE, &t), "Unregistered"),
    ];
    for (push, reason) in cases {
        assert_eq!(refused(&h, push).await.1, reason);
    }
}

#[tokio::test]
async fn payload_limits_are_4096_and_5120_for_voip() {
    let h = Harness::start().await;
    let t = h.provider_token();
    let body = |n: usize| format!("{{\"a\":\"{}\"}}", "x".repeat(n - 8));
    assert_eq!(body(4096).len(), 4096);
    let cases = [
        (Push::new(DEVICE, &t).body(body(4096)), 200),
        (Push::new(DEVICE, &t).body(body(4097)), 413),
        (
            Push::new(DEVICE, &t)
                .header("apns-push-type", "voip")
                .body(body(5120)),
            200,
        ),
        (
            Push::new(DEVICE, &t)
                .header("apns-push-type", "voip")
                .body(body(5121)),
            413,
        ),
        (
            Push::new(DEVICE, &t)
                .header("apns-push-type", "alert")
                .body(body(4097)),
            413,
        ),
    ];
    let mut apns = h.apns().await;
    for (push, status) in cases {
        let reply = apns.send(push.request(h.mocks.apns_addr())).await.unwrap();
        assert_eq!(reply.status, status);
        if status == 413 {
            assert_eq!(reply.reason(), "PayloadTooLarge");
        }
    }
}

#[tokio::test]
async fn provider_tokens_are_verified_for_real() {
    let h = Harness::start().await;
    let now = pushgate_mocks::fixtures::now_secs();
    // Another key under the registered kid: the signature does not verify.
    let impostor = ApnsKey::generate(KEY_ID, TEAM_ID).unwrap();
    // A key nobody registered.
    let unknown = ApnsKey::generate("UNKNOWN999", TEAM_ID).unwrap();
    // The registered key, claiming another team.
    let other_team = ApnsKey::from_p8(KEY_ID, "OTHERTEAM1", h.key.private_key_pem()).unwrap();
    let cases = [
        (
            impostor.provider_token(now).unwrap(),
            403,
            "InvalidProviderToken",
        ),
        (
            unknown.provider_token(now).unwrap(),
            403,
            "InvalidProviderToken",
        ),
        (
            other_team.provider_token(now).unwrap(),
            403,
            "InvalidProviderToken",
        ),
        (
            h.key.provider_token(now - 3601).unwrap(),
            403,
            "ExpiredProviderToken",
        ),
        (h.key.provider_token(now - 3500).unwrap(), 200, ""),
    ];
    for (token, status, reason) in cases {
        assert_eq!(
            refused(&h, Push::new(DEVICE, &token)).await,
            (status, reason.to_owned())
        );
    }
}

#[tokio::test]
async fn a_connection_is_bound_to_its_first_team_and_key() {
    let h = Harness::start().await;
    let other_team = ApnsKey::generate("KEYTEAM2XX", "TEAM222222").unwrap();
    let same_team = ApnsKey::generate("KEYTEAM1XX", TEAM_ID).unwrap();
    h.mocks.add_apns_key(&other_team.mock_key()).unwrap();
    h.mocks.add_apns_key(&same_team.mock_key()).unwrap();
    let addr = h.mocks.apns_addr();
    let mut apns = h.apns().await;
    let first = apns
        .send(Push::new(DEVICE, &h.provider_token()).request(addr))
        .await
        .unwrap();
    assert_eq!(first.status, 200);
    let other = other_team.provider_token_now().unwrap();
    let reply = apns
        .send(Push::new(DEVICE, &other).request(addr))
        .await
        .unwrap();
    assert_eq!(
        (reply.status.as_u16(), reply.reason()),
        (403, "InvalidProviderToken".into())
    );
    let same = same_team.provider_token_now().unwrap();
    let reply = apns
        .send(Push::new(DEVICE, &same).request(addr))
        .await
        .unwrap();
    assert_eq!(
        (reply.status.as_u16(), reply.reason()),
        (403, "UnrelatedKeyIdInToken".into())
    );
    // Each is fine on a connection of its own.
    assert_eq!(refused(&h, Push::new(DEVICE, &other)).await.0, 200);
    assert_eq!(refused(&h, Push::new(DEVICE, &same)).await.0, 200);
}

#[tokio::test]
async fn a_new_token_sooner_than_the_interval_is_refused() {
    let h = Harness::start().await;
    let now = pushgate_mocks::fixtures::now_secs();
    let (a, b) = (
        h.key.provider_token(now - 10).unwrap(),
        h.key.provider_token(now - 5).unwrap(),
    );
    let addr = h.mocks.apns_addr();
    let mut apns = h.apns().await;
    assert_eq!(
        apns.send(Push::new(DEVICE, &a).request(addr))
            .await
            .unwrap()
            .status,
        200
    );
    let reply = apns
        .send(Push::new(DEVICE, &b).request(addr))
        .await
        .unwrap();
    assert_eq!(
        (reply.status.as_u16(), reply.reason()),
        (429, "TooManyProviderTokenUpdates".into())
    );
    // The token in use still works.
    assert_eq!(
        apns.send(Push::new(DEVICE, &a).request(addr))
            .await
            .unwrap()
            .status,
        200
    );
}

#[tokio::test]
async fn a_new_token_after_the_interval_is_accepted() {
    let h = Harness::with(|c| c.apns.token_update_interval = Duration::from_millis(300)).await;
    let now = pushgate_mocks::fixtures::now_secs();
    let (a, b) = (
        h.key.provider_token(now - 10).unwrap(),
        h.key.provider_token(now - 5).unwrap(),
    );
    let addr = h.mocks.apns_addr();
    let mut apns = h.apns().await;
    assert_eq!(
        apns.send(Push::new(DEVICE, &a).request(addr))
            .await
            .unwrap()
            .status,
        200
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        apns.send(Push::new(DEVICE, &b).request(addr))
            .await
            .unwrap()
            .status,
        200
    );
}

#[tokio::test]
async fn keys_limited_to_topics_refuse_other_topics() {
    let h = Harness::start().await;
    let limited = ApnsKey::generate("LIMITED001", "TEAMLIMIT1").unwrap();
    h.mocks
        .add_apns_key(&ApnsKeyConfig {
            topics: vec!["com.example.limited".into()],
            ..limited.mock_key()
        })
        .unwrap();
    let token = limited.provider_token_now().unwrap();
    let push = Push::new(DEVICE, &token);
    assert_eq!(refused(&h, push).await, (400, "TopicDisallowed".into()));
    let push = Push::new(DEVICE, &token).set("apns-topic", "com.example.limited");
    assert_eq!(refused(&h, push).await.0, 200);
    // A key given as a PEM file works too.
    let dir = tempfile::tempdir().unwrap();
    let file_key = ApnsKey::generate("FILEKEY001", "TEAMFILE01").unwrap();
    let path = file_key.write_p8(dir.path()).unwrap();
    h.mocks
        .add_apns_key(&ApnsKeyConfig {
            public_key: KeySource::File(path),
            ..file_key.mock_key()
        })
        .unwrap();
    let push = Push::new(DEVICE, &file_key.provider_token_now().unwrap());
    assert_eq!(refused(&h, push).await.0, 200);
}

#[tokio::test]
async fn certificate_authentication_binds_the_topic() {
    let h = Harness::start().await;
    let cert = h.mocks.issue_client_cert(TOPIC, TEAM_ID).unwrap();
    let addr = h.mocks.apns_addr();
    let mut apns = H2::connect(addr, h.mocks.ca_pem(), Some(&cert))
        .await
        .unwrap();
    let cases = [
        (Push::new(DEVICE, ""), 200, ""),
        // authorization is ignored on a certificate connection.
        (Push::new(DEVICE, "garbage"), 200, ""),
        (
            Push::new(DEVICE, "").set("apns-topic", "com.example.app.voip"),
            200,
            "",
        ),
        // Without a topic, the certificate's is used.
        (Push::new(DEVICE, "").set("apns-topic", ""), 200, ""),
        (
            Push::new(DEVICE, "").set("apns-topic", "com.example.other"),
            400,
            "BadTopic",
        ),
    ];
    for (push, status, reason) in cases {
        let reply = apns.send(push.request(addr)).await.unwrap();
        assert_eq!(
            (reply.status.as_u16(), reply.reason()),
            (status, reason.to_owned())
        );
    }
    // A certificate from another CA does not get through the handshake.
    let stranger = MockCa::generate()
        .unwrap()
        .issue_client_cert(TOPIC, TEAM_ID)
        .unwrap();
    let failed = async {
        let mut apns = H2::connect(addr, h.mocks.ca_pem(), Some(&stranger)).await?;
        apns.send(Push::new(DEVICE, "").request(addr)).await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    };
    assert!(failed.await.is_err());
}
