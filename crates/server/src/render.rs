//! Reports as rows: readable tables for the terminal and CSV for spreadsheets, shared by
//! the HTTP API and the command line.

use pushgate_store::reports::{DeliverySummary, NonDeliverable};
use pushgate_store::{Address, Exclusion, Message};

/// A report: a header and rows of text cells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rows {
    /// Column names.
    pub header: Vec<&'static str>,
    /// The cells.
    pub rows: Vec<Vec<String>>,
}

impl Rows {
    /// As CSV (RFC 4180: quoted where needed, CRLF-free `\n` line ends).
    pub fn csv(&self) -> String {
        let mut out = String::new();
        let line = |cells: Vec<String>| -> String {
            cells
                .into_iter()
                .map(|cell| {
                    if cell.contains([',', '"', '\n', '\r']) {
                        format!("\"{}\"", cell.replace('"', "\"\""))
                    } else {
                        cell
                    }
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        out.push_str(&line(self.header.iter().map(|h| (*h).to_owned()).collect()));
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(row.clone()));
            out.push('\n');
        }
        out
    }

    /// As an aligned table for people.
    pub fn table(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(width) = widths.get_mut(i) {
                    *width = (*width).max(cell.chars().count());
                }
            }
        }
        let format_row = |cells: Vec<&str>| -> String {
            let padded: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{c:<width$}", width = widths.get(i).copied().unwrap_or(0)))
                .collect();
            padded.join("  ").trim_end().to_owned()
        };
        let mut out = format_row(self.header.clone());
        out.push('\n');
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        out.push_str(&rule.join("  "));
        out.push('\n');
        for row in &self.rows {
            out.push_str(&format_row(row.iter().map(String::as_str).collect()));
            out.push('\n');
        }
        if self.rows.is_empty() {
            out.push_str("(none)\n");
        }
        out
    }
}

fn opt<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// A token shortened for people (reports keep full tokens in JSON and CSV).
pub fn short_token(token: &str) -> String {
    if token.chars().count() <= 20 {
        token.to_owned()
    } else {
        let head: String = token.chars().take(16).collect();
        format!("{head}…")
    }
}

/// The exclusion log.
pub fn exclusions(rows: &[Exclusion], shorten: bool) -> Rows {
    Rows {
        header: vec![
            "id",
            "delivery",
            "profile",
            "token",
            "reason_value",
            "reason",
            "kind",
            "at",
        ],
        rows: rows
            .iter()
            .map(|e| {
                let token = e.token.clone().unwrap_or_default();
                vec![
                    e.id.to_string(),
                    e.delivery_id.clone(),
                    opt(e.profile_id.as_ref()),
                    if shorten { short_token(&token) } else { token },
                    e.reason.value().to_string(),
                    e.reason.label().to_owned(),
                    e.kind.as_str().to_owned(),
                    e.created_at.to_rfc3339(),
                ]
            })
            .collect(),
    }
}

/// The non-deliverables report.
pub fn non_deliverables(rows: &[NonDeliverable]) -> Rows {
    Rows {
        header: vec![
            "app",
            "platform",
            "failure_type",
            "reason_value",
            "reason",
            "failed",
            "quarantined",
        ],
        rows: rows
            .iter()
            .map(|n| {
                vec![
                    n.app_id.clone(),
                    n.platform.clone(),
                    opt(n.failure_type),
                    opt(n.failure_reason.map(|r| r.value())),
                    opt(n.failure_reason.map(|r| r.label())),
                    n.failed.to_string(),
                    n.quarantined.to_string(),
                ]
            })
            .collect(),
    }
}

/// The quarantine list.
pub fn addresses(rows: &[Address], shorten: bool) -> Rows {
    Rows {
        header: vec![
            "token",
            "status",
            "errors",
            "failure_type",
            "reason",
            "last_error",
            "last_modified",
        ],
        rows: rows
            .iter()
            .map(|a| {
                let s = &a.state;
                vec![
                    if shorten {
                        short_token(&a.token)
                    } else {
                        a.token.clone()
                    },
                    s.status.as_str().to_owned(),
                    s.error_count.to_string(),
                    opt(s.last_failure_type),
                    opt(s.last_failure_reason.map(|r| r.label())),
                    s.last_error_text.clone().unwrap_or_default(),
                    s.last_modified.to_rfc3339(),
                ]
            })
            .collect(),
    }
}

/// A delivery log page.
pub fn messages(rows: &[Message], shorten: bool) -> Rows {
    Rows {
        header: vec![
            "id",
            "profile",
            "token",
            "status",
            "attempts",
            "outcome",
            "failure_type",
            "reason",
            "quarantined",
        ],
        rows: rows
            .iter()
            .map(|m| {
                vec![
                    m.id.to_string(),
                    opt(m.profile_id.as_ref()),
                    if shorten {
                        short_token(&m.token)
                    } else {
                        m.token.clone()
                    },
                    m.status.as_str().to_owned(),
                    m.attempts.to_string(),
                    opt(m.outcome_id.map(|o| o.as_str())),
                    opt(m.failure_type),
                    opt(m.failure_reason.map(|r| r.label())),
                    m.quarantined.to_string(),
                ]
            })
            .collect(),
    }
}

/// A delivery summary as (measure, value) rows.
pub fn summary(summary: &DeliverySummary) -> Rows {
    let mut rows = vec![
        vec!["delivery".to_owned(), summary.delivery_id.clone()],
        vec!["app".to_owned(), summary.app_id.clone()],
        vec!["state".to_owned(), summary.state.as_str().to_owned()],
        vec!["dry run".to_owned(), summary.dry_run.to_string()],
        vec![
            "validity (s)".to_owned(),
            if summary.validity_secs < summary.requested_validity_secs {
                format!(
                    "{} (asked {}, capped at 3.5 days)",
                    summary.validity_secs, summary.requested_validity_secs
                )
            } else {
                summary.validity_secs.to_string()
            },
        ],
        vec!["targeted".to_owned(), summary.targeted.to_string()],
        vec!["excluded".to_owned(), summary.excluded.to_string()],
    ];
    for e in &summary.excluded_by_reason {
        rows.push(vec![
            format!(
                "  excluded: {} ({}, {})",
                e.reason.label(),
                e.reason.value(),
                e.kind.as_str()
            ),
            e.count.to_string(),
        ]);
    }
    for (name, value) in [
        ("planned (dry run)", summary.planned),
        ("pending", summary.pending),
        ("retry", summary.retry),
        ("sent", summary.sent),
        ("failed", summary.failed),
    ] {
        rows.push(vec![name.to_owned(), value.to_string()]);
    }
    for f in &summary.failed_by_type_and_reason {
        rows.push(vec![
            format!(
                "  failed: {} / {}",
                opt(f.failure_type).if_empty("-"),
                opt(f.failure_reason.map(|r| r.label())).if_empty("validity period ended")
            ),
            f.count.to_string(),
        ]);
    }
    rows.push(vec![
        "quarantined during analysis".to_owned(),
        summary.quarantined_during_analysis.to_string(),
    ]);
    rows.push(vec![
        "quarantined after sending".to_owned(),
        summary.quarantined_after_sending.to_string(),
    ]);
    Rows {
        header: vec!["measure", "value"],
        rows,
    }
}

trait IfEmpty {
    fn if_empty(self, default: &str) -> String;
}

impl IfEmpty for String {
    fn if_empty(self, default: &str) -> String {
        if self.is_empty() {
            default.to_owned()
        } else {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_it_and_tables_align() {
        let rows = Rows {
            header: vec!["a", "b"],
            rows: vec![
                vec!["x,y".into(), "say \"hi\"".into()],
                vec!["1".into(), "22".into()],
            ],
        };
        assert_eq!(rows.csv(), "a,b\n\"x,y\",\"say \"\"hi\"\"\"\n1,22\n");
        let table = rows.table();
        assert!(table.starts_with("a    b\n---  --------\n"), "{table}");
        assert_eq!(
            short_token(&"ab".repeat(20)),
            format!("{}…", "ab".repeat(8))
        );
    }
}
