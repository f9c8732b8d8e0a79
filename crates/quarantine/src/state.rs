//! One device token's quarantine record.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use pushgate_outcome::{FailureReason, FailureType, UnknownName};
use serde::{Deserialize, Serialize};

/// Where an address stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AddressStatus {
    /// Targeted normally.
    Valid,
    /// Errors are being counted; still targeted.
    #[serde(rename = "With errors")]
    WithErrors,
    /// Excluded from deliveries (reason 9); never lifted by a success or the cleanup.
    Quarantine,
    /// Excluded from deliveries (reason 8): spam/abuse or opt-out; never lifted automatically.
    Denylisted,
    /// Errors are ignored (reason 25) and the address is always sent to.
    Allowlisted,
}

impl AddressStatus {
    /// Every status.
    pub const ALL: [AddressStatus; 5] = [
        Self::Valid,
        Self::WithErrors,
        Self::Quarantine,
        Self::Denylisted,
        Self::Allowlisted,
    ];

    /// The spelling of the spec (`Valid`, `With errors`, `Quarantine`, `Denylisted`,
    /// `Allowlisted`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "Valid",
            Self::WithErrors => "With errors",
            Self::Quarantine => "Quarantine",
            Self::Denylisted => "Denylisted",
            Self::Allowlisted => "Allowlisted",
        }
    }

    /// Whether a delivery's analysis excludes the address (Quarantine or Denylisted).
    pub const fn is_excluded(self) -> bool {
        matches!(self, Self::Quarantine | Self::Denylisted)
    }
}

impl fmt::Display for AddressStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AddressStatus {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownName {
                given: s.to_owned(),
                kind: "address status",
            })
    }
}

/// One token's quarantine record (a row of the quarantine list).
///
/// An *error episode* is open while `first_error_at` is set: it starts with the first
/// failure that is recorded and ends when the address is set back to `Valid` (by a
/// success, the 10-day rule, the 30-day rule or an operator). The error count and the
/// "is this Undefined error a repeat?" question both live inside one episode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressState {
    /// Where the address stands.
    pub status: AddressStatus,
    /// Counted errors in the current episode (soft failures and repeated undefined ones).
    pub error_count: u32,
    /// Failure type of the last recorded error (`None` where the table leaves it blank).
    pub last_failure_type: Option<FailureType>,
    /// Failure reason of the last recorded error.
    pub last_failure_reason: Option<FailureReason>,
    /// Error text of the first error of the episode, kept for operators.
    pub first_error_text: Option<String>,
    /// Error text of the last recorded error.
    pub last_error_text: Option<String>,
    /// When the current episode's first error happened; `None` when no episode is open.
    pub first_error_at: Option<DateTime<Utc>>,
    /// When the last recorded error happened (kept after the episode ends, as history).
    pub last_error_at: Option<DateTime<Utc>>,
    /// When anything in this record last changed; bulk release filters on it.
    pub last_modified: DateTime<Utc>,
}

impl AddressState {
    /// A `Valid` address with no history, as every token starts.
    pub fn valid(now: DateTime<Utc>) -> Self {
        Self {
            status: AddressStatus::Valid,
            error_count: 0,
            last_failure_type: None,
            last_failure_reason: None,
            first_error_text: None,
            last_error_text: None,
            first_error_at: None,
            last_error_at: None,
            last_modified: now,
        }
    }

    /// Whether an error episode is open.
    pub fn has_open_episode(&self) -> bool {
        self.first_error_at.is_some()
    }

    /// The same address set back to `Valid`: count 0 and the episode closed. The last
    /// error's type, reason, text and time stay as history.
    pub fn cleared(&self, now: DateTime<Utc>) -> Self {
        Self {
            status: AddressStatus::Valid,
            error_count: 0,
            first_error_text: None,
            first_error_at: None,
            last_modified: now,
            ..self.clone()
        }
    }
}
