//! What a classifier returns: one row of the table and the rendered error message.

use serde::Serialize;

use crate::reason::{FailureReason, FailureType};
use crate::status::SendStatus;
use crate::table::{Outcome, OutcomeId, PushTable};

/// The result of classifying one raw provider result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classification {
    /// The provider accepted the message.
    ///
    /// APNs names the row (`apns.device_on`); the FCM table has no row for a success, so
    /// an accepted FCM message carries no row.
    Accepted {
        /// The table the provider belongs to.
        table: PushTable,
        /// The row, where the table has one for a success.
        outcome: Option<&'static Outcome>,
    },
    /// The message failed: exactly one row, and its error message for this result.
    Rejected {
        /// The row the raw result lands on; its status is always `Failed`.
        outcome: &'static Outcome,
        /// The row's error message, rendered with the result's detail.
        error_message: Option<String>,
    },
}

impl Classification {
    /// A rejection on `id`'s row, its message rendered with `args`.
    pub(crate) fn rejected(id: OutcomeId, args: &[&str]) -> Self {
        let outcome = id.outcome();
        debug_assert_eq!(
            outcome.status,
            SendStatus::Failed,
            "{id} is not a failure row"
        );
        Self::Rejected {
            outcome,
            error_message: outcome.error_message.render(args),
        }
    }

    /// The row, if there is one.
    pub fn outcome(&self) -> Option<&'static Outcome> {
        match self {
            Self::Accepted { outcome, .. } => *outcome,
            Self::Rejected { outcome, .. } => Some(outcome),
        }
    }

    /// The row's id, if there is a row.
    pub fn id(&self) -> Option<OutcomeId> {
        self.outcome().map(|o| o.id)
    }

    /// The table of the provider that answered.
    pub fn table(&self) -> PushTable {
        match self {
            Self::Accepted { table, .. } => *table,
            Self::Rejected { outcome, .. } => outcome.table,
        }
    }

    /// `OK` for an accepted message, `Failed` otherwise.
    pub fn status(&self) -> SendStatus {
        match self {
            Self::Accepted { .. } => SendStatus::Ok,
            Self::Rejected { .. } => SendStatus::Failed,
        }
    }

    /// The row's failure type (`None` for a success, or where the table is blank).
    pub fn failure_type(&self) -> Option<FailureType> {
        self.outcome().and_then(|o| o.failure_type)
    }

    /// The row's failure reason (`None` for a success, or where the table is blank).
    pub fn failure_reason(&self) -> Option<FailureReason> {
        self.outcome().and_then(|o| o.failure_reason)
    }

    /// Whether the table says to retry in the same delivery (`None` where blank).
    pub fn retry(&self) -> Option<bool> {
        self.outcome().and_then(|o| o.retry)
    }

    /// The rendered error message, if the row gives one.
    pub fn error_message(&self) -> Option<&str> {
        match self {
            Self::Accepted { .. } => None,
            Self::Rejected { error_message, .. } => error_message.as_deref(),
        }
    }

    /// The flat view printed by `pushgate outcome classify`.
    pub fn summary(&self) -> Summary<'_> {
        Summary {
            id: self.id(),
            table: self.table(),
            status: self.status(),
            failure_type: self.failure_type(),
            failure_reason: self.failure_reason(),
            retry: self.retry(),
            error_message: self.error_message(),
        }
    }
}

/// A classification as one flat record: id, table, status, failure type, failure reason,
/// retry and error message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary<'a> {
    /// The row id (`null` for an accepted FCM message: its table has no success row).
    pub id: Option<OutcomeId>,
    /// The provider's table.
    pub table: PushTable,
    /// `OK` or `Failed`.
    pub status: SendStatus,
    /// The failure type, if any.
    pub failure_type: Option<FailureType>,
    /// The failure reason (serialised as its label), if any.
    pub failure_reason: Option<FailureReason>,
    /// The retry flag, if any.
    pub retry: Option<bool>,
    /// The rendered error message, if any.
    pub error_message: Option<&'a str>,
}
