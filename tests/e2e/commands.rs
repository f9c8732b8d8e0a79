//! The one-shot commands against a configuration: demo, send, keys, check-config with
//! environment overrides, migrate.

use std::io::Write;
use std::process::{Command, Stdio};

use pushgate_mocks::Service;

use crate::support::{World, command, ios_token};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_demo_prints_the_story_exits_0_and_leaves_nothing_behind() {
    let output = Command::new(env!("CARGO_BIN_EXE_pushgate"))
        .args(["demo", "--subscriptions", "200"])
        .output()
        .expect("the demo runs");
    let out = text(&output.stdout);
    assert!(output.status.success(), "{out}\n{}", text(&output.stderr));
    for needle in [
        "Delivery summaries",
        "quarantined after sending",
        "Exclusions of the second demo-ios delivery",
        "Quarantined address  9",
        "User unknown         1",
        "Quarantine list of demo-android",
        "With errors",
    ] {
        assert!(out.contains(needle), "{needle:?} in\n{out}");
    }
    let folder = out
        .lines()
        .next()
        .and_then(|l| l.rsplit(' ').next())
        .expect("the first line names the folder");
    assert!(
        !std::path::Path::new(folder).exists(),
        "{folder} was removed"
    );
}

#[tokio::test]
async fn send_delivers_from_the_command_line_and_prints_the_summary() {
    let world = World::new().await;
    let migrate = world.cli(&["migrate"]).await;
    assert!(migrate.status.success(), "{migrate:?}");
    let tokens = [ios_token("b1", 1), ios_token("b1", 2)];
    let list = tokens.join(",");
    let output = world
        .cli(&[
            "send", "--app", "ios-app", "--tokens", &list, "--title", "Hi", "--data", "k=v",
            "--format", "json",
        ])
        .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(summary["sent"], 2, "{summary}");
    assert_eq!(summary["state"], "done");
    for token in &tokens {
        assert_eq!(world.mocks.stats().delivered(Service::Apns, token), 1);
    }
    let bad = world
        .cli(&[
            "send", "--app", "ios-app", "--tokens", "zz", "--title", "Hi",
        ])
        .await;
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("target.tokens[0]"),
        "{}",
        text(&bad.stderr)
    );
    let table = world
        .cli(&[
            "send",
            "--app",
            "ios-app",
            "--all",
            "--title",
            "Hi",
            "--dry-run",
        ])
        .await;
    assert!(
        text(&table.stdout).contains("planned (dry run)"),
        "{}",
        text(&table.stdout)
    );
}

#[tokio::test]
async fn the_environment_overrides_the_file_and_bad_keys_are_named() {
    let world = World::new().await;
    let ok = command(&world.config)
        .arg("check-config")
        .env("PUSHGATE_QUARANTINE__SOFT_ERROR_THRESHOLD", "3")
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(
        text(&ok.stdout).contains("soft_error_threshold: 3"),
        "{}",
        text(&ok.stdout)
    );
    let bad = command(&world.config)
        .arg("check-config")
        .env("PUSHGATE_PIPELINE__MAX_IN_FLIGHT", "many")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let line = text(&bad.stderr);
    assert!(line.contains("PUSHGATE_PIPELINE__MAX_IN_FLIGHT"), "{line}");
    assert_eq!(line.trim().lines().count(), 1, "{line}");
    let secret = command(&world.config)
        .arg("serve")
        .env(
            "PUSHGATE_DATABASE_URL",
            "postgres://u:hunter2@127.0.0.1:1/none",
        )
        .output()
        .unwrap();
    assert_eq!(secret.status.code(), Some(1));
    assert!(
        !text(&secret.stderr).contains("hunter2"),
        "{}",
        text(&secret.stderr)
    );
}

#[test]
fn keys_generate_prints_a_key_once_and_hash_agrees() {
    let output = Command::new(env!("CARGO_BIN_EXE_pushgate"))
        .args(["keys", "generate", "--app", "shop-ios", "--name", "shop"])
        .output()
        .unwrap();
    let out = text(&output.stdout);
    let key = out
        .lines()
        .find_map(|l| l.strip_prefix("key: "))
        .expect("a key line")
        .to_owned();
    assert!(key.starts_with("pg_"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_pushgate"))
        .args(["keys", "hash"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(key.as_bytes())
        .unwrap();
    let hashed = child.wait_with_output().unwrap();
    let hash = text(&hashed.stdout).trim().to_owned();
    assert!(out.contains(&format!("sha256 = \"{hash}\"")), "{out}");
    assert!(out.contains("app = \"shop-ios\""));
}
