//! The crate's table against the committed copies of `push-outcomes.tsv` and
//! `failure-reasons.tsv`: every field of every row.

use pushgate_outcome::{FailureReason, FailureType, OUTCOMES, OutcomeId};

const PUSH_OUTCOMES: &str = include_str!("../data/push-outcomes.tsv");
const FAILURE_REASONS: &str = include_str!("../data/failure-reasons.tsv");

/// The rows of a TSV file as maps from column name to value, header checked.
fn rows<'a>(text: &'a str, header: &[&str]) -> Vec<Vec<(&'a str, &'a str)>> {
    let mut lines = text.lines();
    let columns: Vec<&str> = lines.next().expect("a header line").split('\t').collect();
    assert_eq!(columns, header, "the spec file's columns changed");
    lines
        .filter(|line| !line.is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(
                fields.len(),
                columns.len(),
                "row with a wrong field count: {line}"
            );
            columns.iter().copied().zip(fields).collect()
        })
        .collect()
}

fn field<'a>(row: &[(&str, &'a str)], name: &str) -> &'a str {
    row.iter()
        .find(|(column, _)| *column == name)
        .expect("a column")
        .1
}

fn blank_or<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

#[test]
fn every_row_of_push_outcomes_tsv_matches_the_table_field_by_field() {
    let spec = rows(
        PUSH_OUTCOMES,
        &[
            "id",
            "table",
            "scenario",
            "status",
            "error_message",
            "failure_type",
            "failure_reason",
            "retry",
            "wire_condition",
        ],
    );
    assert_eq!(spec.len(), 39, "the spec has 39 rows");
    assert_eq!(OUTCOMES.len(), spec.len(), "one table row per spec row");

    for (row, outcome) in spec.iter().zip(OUTCOMES.iter()) {
        let id = field(row, "id");
        assert_eq!(outcome.id.as_str(), id, "rows are in the spec's order");
        assert_eq!(id.parse::<OutcomeId>().unwrap(), outcome.id);
        assert_eq!(outcome.table.as_str(), field(row, "table"), "{id}: table");
        assert_eq!(outcome.scenario, field(row, "scenario"), "{id}: scenario");
        assert_eq!(
            outcome.status.as_str(),
            field(row, "status"),
            "{id}: status"
        );
        assert_eq!(
            outcome.error_message.spec_text().unwrap_or("-"),
            field(row, "error_message"),
            "{id}: error_message"
        );
        assert_eq!(
            blank_or(outcome.failure_type),
            field(row, "failure_type"),
            "{id}: failure_type"
        );
        assert_eq!(
            blank_or(outcome.failure_reason),
            field(row, "failure_reason"),
            "{id}: failure_reason"
        );
        let retry = outcome.retry.map(|r| if r { "Yes" } else { "No" });
        assert_eq!(blank_or(retry), field(row, "retry"), "{id}: retry");
        assert_eq!(
            outcome.wire_condition,
            field(row, "wire_condition"),
            "{id}: wire_condition"
        );
    }
}

#[test]
fn the_tables_have_9_apns_24_fcm_3_legacy_and_3_baidu_rows() {
    let count = |table: &str| {
        OUTCOMES
            .iter()
            .filter(|o| o.table.as_str() == table)
            .count()
    };
    assert_eq!(count("ios_http2"), 9);
    assert_eq!(count("android_v2"), 24);
    assert_eq!(count("android_v1"), 3);
    assert_eq!(count("baidu"), 3);
}

#[test]
fn every_failure_reason_of_failure_reasons_tsv_has_its_value_label_and_types() {
    let spec = rows(
        FAILURE_REASONS,
        &["value", "reason", "failure_type", "meaning"],
    );
    assert_eq!(spec.len(), 20, "the spec has 20 failure reasons");
    assert_eq!(FailureReason::ALL.len(), spec.len());

    for row in &spec {
        let value: u8 = field(row, "value").parse().expect("a numeric value");
        let reason = FailureReason::from_value(value).expect("a reason for every value");
        assert_eq!(reason.value(), value);
        assert_eq!(reason.label(), field(row, "reason"), "value {value}: label");
        assert_eq!(FailureReason::parse(field(row, "reason")), Ok(reason));
        let types: Vec<FailureType> = field(row, "failure_type")
            .split('/')
            .map(|t| t.parse().expect("a failure type"))
            .collect();
        assert_eq!(
            reason.failure_types(),
            types.as_slice(),
            "value {value}: failure types"
        );
        assert_eq!(
            reason.meaning(),
            field(row, "meaning"),
            "value {value}: meaning"
        );
    }
}
