//! End-to-end tests of the `pushgate` binary's command line: `outcome list` reproduces the
//! spec's table, `outcome classify` prints the row of a raw result, bad arguments fail with
//! one line.

use std::process::{Command, Output};

/// The committed copy of the spec's table (the repository builds and tests without `../shared`).
const PUSH_OUTCOMES: &str = include_str!("../../crates/outcome/tests/data/push-outcomes.tsv");

fn pushgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pushgate"))
        .args(args)
        .output()
        .expect("the pushgate binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

fn classify(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["outcome", "classify"];
    all.extend_from_slice(args);
    let output = pushgate(&all);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout(&output)).expect("one JSON object")
}

#[test]
fn outcome_list_tsv_reproduces_every_field_of_every_row_of_push_outcomes_tsv() {
    let output = pushgate(&["outcome", "list", "--format", "tsv"]);
    assert!(output.status.success());
    // The spec's file without its last column (wire_condition).
    let expected: Vec<String> = PUSH_OUTCOMES
        .lines()
        .map(|line| line.rsplit_once('\t').expect("nine columns").0.to_owned())
        .collect();
    let printed: Vec<String> = stdout(&output).lines().map(str::to_owned).collect();
    assert_eq!(printed.len(), 40, "a header and 39 rows");
    assert_eq!(printed, expected);
}

#[test]
fn outcome_list_json_has_39_rows_with_the_spec_ids() {
    let output = pushgate(&["outcome", "list", "--format", "json"]);
    assert!(output.status.success());
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout(&output)).unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let spec_ids: Vec<&str> = PUSH_OUTCOMES
        .lines()
        .skip(1)
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(ids, spec_ids);
    let unregistered = &rows[7];
    assert_eq!(unregistered["id"], "apns.unregistered");
    assert_eq!(unregistered["failure_type"], "Hard");
    assert_eq!(unregistered["failure_reason"], "User unknown");
    assert_eq!(unregistered["retry"], false);
}

#[test]
fn classify_apns_410_unregistered_prints_its_row() {
    let row = classify(&["apns", "--status", "410", "--reason", "Unregistered"]);
    assert_eq!(
        row,
        serde_json::json!({
            "id": "apns.unregistered", "table": "ios_http2", "status": "Failed",
            "failure_type": "Hard", "failure_reason": "User unknown", "retry": false,
            "error_message": "Unregistered"
        })
    );
}

#[test]
fn classify_covers_each_provider_and_kind() {
    let id = |args: &[&str]| classify(args)["id"].clone();
    assert_eq!(
        id(&["apns", "--transport", "timeout"]),
        "apns.connection_lost"
    );
    assert_eq!(id(&["apns", "--transport", "tls"]), "apns.certificate");
    assert_eq!(id(&["apns", "--status", "200"]), "apns.device_on");
    assert_eq!(
        id(&["apns", "--pre-send", "payload-too-large"]),
        "apns.payload_too_large"
    );
    assert_eq!(
        id(&[
            "apns",
            "--pre-send",
            "content-format",
            "--detail",
            "no alert"
        ]),
        "apns.content_format"
    );
    assert_eq!(
        id(&["fcm", "--status", "404", "--error-code", "UNREGISTERED"]),
        "fcm.unregistered"
    );
    assert_eq!(
        id(&["fcm", "--status", "401", "--canonical", "UNAUTHENTICATED"]),
        "fcm.sender_auth"
    );
    assert_eq!(id(&["fcm", "--status", "503"]), "fcm.service_unavailable");
    assert_eq!(id(&["fcm", "--transport", "goaway"]), "fcm.connection_lost");
    assert_eq!(
        id(&[
            "fcm",
            "--pre-send",
            "illegal-keyword",
            "--keys",
            "from,gcm.x"
        ]),
        "fcm.illegal_keyword"
    );
    assert_eq!(
        id(&[
            "fcm-auth",
            "--error",
            "invalid_grant",
            "--description",
            "Invalid JWT Signature."
        ]),
        "fcm.auth_invalid_jwt_signature"
    );
    assert_eq!(id(&["fcm-auth", "--transport"]), "fcm.auth_connection");
    assert_eq!(
        id(&["fcm-legacy", "--error", "DeviceMessageRateExceeded"]),
        "fcm_legacy.device_quota"
    );
    assert_eq!(id(&["baidu", "--kind", "sync-error"]), "baidu.sync_error");

    let accepted = classify(&["fcm", "--status", "200"]);
    assert_eq!(accepted["id"], serde_json::Value::Null);
    assert_eq!(accepted["status"], "OK");
    let heavy = classify(&["fcm", "--pre-send", "payload-too-large", "--size", "5000"]);
    assert_eq!(
        heavy["error_message"],
        "Notification too heavy: 5000 bits while only 4096 are authorized"
    );
}

#[test]
fn classify_reads_a_raw_body_from_a_file() {
    let dir = std::env::temp_dir().join(format!("pushgate-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let body = dir.join("body.json");
    std::fs::write(&body, r#"{"error":"NotRegistered"}"#).unwrap();
    let row = classify(&["fcm", "--status", "400", "--body", body.to_str().unwrap()]);
    assert_eq!(row["id"], "fcm.invalid_registration");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_arguments_exit_2_with_one_line_naming_them() {
    for (args, named) in [
        (vec!["outcome", "list", "--format", "xml"], "--format"),
        (
            vec!["outcome", "classify", "apns", "--status", "abc"],
            "--status",
        ),
        (
            vec!["outcome", "classify", "apns", "--transport", "smoke"],
            "--transport",
        ),
        (vec!["outcome", "classify", "apns"], "--status"),
        (
            vec![
                "outcome",
                "classify",
                "fcm",
                "--pre-send",
                "payload-too-large",
            ],
            "--size",
        ),
        (
            vec![
                "outcome",
                "classify",
                "fcm",
                "--status",
                "400",
                "--body",
                "/nonexistent/body.json",
            ],
            "--body",
        ),
        (
            vec![
                "outcome", "classify", "apns", "--status", "400", "--reason", "X", "--body", "f",
            ],
            "--body",
        ),
    ] {
        let output = pushgate(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}: nothing on stdout");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(
            stderr.lines().count(),
            1,
            "{args:?}: one line, got {stderr:?}"
        );
        assert!(stderr.contains(named), "{args:?}: {stderr:?} names {named}");
    }
}

#[test]
fn help_is_printed_and_succeeds() {
    let output = pushgate(&["outcome", "classify", "--help"]);
    assert!(output.status.success());
    assert!(stdout(&output).contains("fcm-auth"));
}
