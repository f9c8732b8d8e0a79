//! Transport: ALPN `h2` only, TLS only, the advertised stream limit, shutdown, and the
//! `pushgate-mock` binary.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use pushgate_mocks::{Answer, MockConfig, MockServers, Rule};
use tokio::io::AsyncReadExt;

use crate::helpers::{DEVICE, Harness, Push, tls_config, tls_connect};

#[tokio::test]
async fn http1_only_clients_are_refused_by_apns_and_fcm() {
    let h = Harness::start().await;
    let http1 = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(h.mocks.ca_pem().as_bytes()).unwrap()])
        .http1_only()
        .build()
        .unwrap();
    for url in [
        format!("{}/3/device/{DEVICE}", h.mocks.apns_url()),
        h.mocks.fcm_send_url("p"),
    ] {
        let e = http1.post(&url).body("{}").send().await.unwrap_err();
        assert!(e.is_connect() || e.is_request(), "{e:?}");
    }
    // Offering only http/1.1 fails the handshake (no_application_protocol).
    let only_http1 = tls_config(h.mocks.ca_pem(), &[b"http/1.1"], None);
    let e = tls_connect(h.mocks.apns_addr(), only_http1)
        .await
        .unwrap_err();
    assert!(e.to_string().to_lowercase().contains("application"), "{e}");
    // Offering no ALPN at all: the handshake completes, then the mock closes.
    let no_alpn = tls_config(h.mocks.ca_pem(), &[], None);
    let mut tls = tls_connect(h.mocks.fcm_addr(), no_alpn).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf))
        .await
        .unwrap();
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    // Cleartext on a TLS port gets nothing.
    let plain = reqwest::Client::new();
    let url = format!("http://{}/3/device/{DEVICE}", h.mocks.apns_addr());
    assert!(plain.post(url).body("{}").send().await.is_err());
}

#[tokio::test]
async fn the_stream_limit_is_advertised() {
    for (limit, expected) in [(None, 1000), (Some(7), 7)] {
        let h = Harness::with(|c| {
            if let Some(n) = limit {
                c.max_concurrent_streams = n;
            }
        })
        .await;
        let tls = tls_connect(
            h.mocks.apns_addr(),
            tls_config(h.mocks.ca_pem(), &[b"h2"], None),
        )
        .await
        .unwrap();
        let (mut client, conn) = h2::client::handshake(tls).await.unwrap();
        tokio::spawn(conn);
        // The server's SETTINGS arrive with the handshake; one round trip makes sure.
        let request = Push::new(DEVICE, &h.provider_token())
            .request(h.mocks.apns_addr())
            .map(|_| ());
        let (response, mut body) = client.send_request(request, false).unwrap();
        body.send_data(bytes::Bytes::from_static(b"{\"aps\":{}}"), true)
            .unwrap();
        assert_eq!(response.await.unwrap().status(), 200);
        assert_eq!(client.current_max_send_streams(), expected);
    }
}

#[tokio::test]
async fn shutdown_ends_held_streams_and_stops_listening() {
    let mut config = MockConfig::default();
    let key = pushgate_mocks::ApnsKey::generate("SHUTKEY001", "SHUTTEAM01").unwrap();
    config.apns.keys.push(key.mock_key());
    config
        .scenarios
        .push(Rule::apns_token("ee", Answer::NoAnswer));
    let mocks = MockServers::start(config).await.unwrap();
    let addr = mocks.apns_addr();
    let ca_path = mocks.ca_path().to_owned();
    assert!(ca_path.exists());
    let mut apns = crate::helpers::H2::connect(addr, mocks.ca_pem(), None)
        .await
        .unwrap();
    let token = key.provider_token_now().unwrap();
    let held = tokio::spawn(async move { apns.send(Push::new("ee", &token).request(addr)).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    tokio::time::timeout(Duration::from_secs(10), mocks.shutdown())
        .await
        .unwrap();
    assert!(held.await.unwrap().is_err());
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    assert!(!ca_path.exists(), "the temporary CA folder is removed");
}

#[tokio::test]
async fn dropping_the_mocks_stops_them() {
    let mocks = MockServers::start(MockConfig::default()).await.unwrap();
    let addr = mocks.admin_addr();
    drop(mocks);
    let mut refused = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused);
}

/// The binary: fixtures, one JSON line at start, a working APNs 200 path with a printed
/// provider token, a clean stop on SIGTERM.
#[tokio::test]
async fn the_binary_serves_the_benchmark_recipe() {
    let bin = env!("CARGO_BIN_EXE_pushgate-mock");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin)
        .args(["fixtures", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fixtures: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    let mut child = Command::new(bin)
        .args([
            "--config",
            fixtures["config"].as_str().unwrap(),
            "--worker-threads",
            "1",
            "--no-request-log",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let started: serde_json::Value = serde_json::from_str(&line).unwrap();
    for key in ["apns", "fcm", "oauth", "admin", "ca"] {
        assert!(started[key].is_string(), "{key} in {line}");
    }

    let token = Command::new(bin)
        .args([
            "apns-token",
            "--key",
            fixtures["apns_key"].as_str().unwrap(),
        ])
        .args([
            "--key-id",
            fixtures["key_id"].as_str().unwrap(),
            "--team-id",
            fixtures["team_id"].as_str().unwrap(),
        ])
        .output()
        .unwrap();
    let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();
    let ca = std::fs::read_to_string(started["ca"].as_str().unwrap()).unwrap();
    let addr = started["apns"].as_str().unwrap().parse().unwrap();
    let payload = std::fs::read(fixtures["payload"].as_str().unwrap()).unwrap();
    let mut apns = crate::helpers::H2::connect(addr, &ca, None).await.unwrap();
    let reply = apns
        .send(Push::new(DEVICE, &token).body(payload).request(addr))
        .await
        .unwrap();
    assert_eq!(reply.status, 200);

    // The fixtures' CA is the one in use, and their client certificate authenticates.
    assert_eq!(
        ca,
        std::fs::read_to_string(fixtures["ca"].as_str().unwrap()).unwrap()
    );
    let read = |key: &str| std::fs::read_to_string(fixtures[key].as_str().unwrap()).unwrap();
    let cert = pushgate_mocks::ClientCert {
        cert_pem: read("client_cert"),
        key_pem: read("client_key"),
        bundle_id: crate::helpers::TOPIC.into(),
    };
    let mut apns = crate::helpers::H2::connect(addr, &ca, Some(&cert))
        .await
        .unwrap();
    let reply = apns
        .send(Push::new(DEVICE, "").request(addr))
        .await
        .unwrap();
    assert_eq!(reply.status, 200);

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
}
