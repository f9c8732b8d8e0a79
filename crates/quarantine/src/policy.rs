//! The configurable part of the quarantine rules.

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

/// The threshold and ages of the quarantine rules; the defaults are the spec's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuarantinePolicy {
    /// Counted errors that put an address in quarantine on a soft failure (spec: 5).
    pub soft_error_threshold: u32,
    /// An episode whose last error is older than this many days is over: the count
    /// restarts and the address is Valid again (spec: 10).
    pub error_reset_after_days: u32,
    /// A `With errors` address whose error is Mailbox full becomes Valid this many days
    /// after the episode's first error (spec: 30).
    pub mailbox_full_release_after_days: u32,
}

impl Default for QuarantinePolicy {
    fn default() -> Self {
        Self {
            soft_error_threshold: 5,
            error_reset_after_days: 10,
            mailbox_full_release_after_days: 30,
        }
    }
}

/// A policy value that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A threshold of 0 would quarantine before any error.
    #[error("soft_error_threshold must be at least 1, got 0")]
    ZeroThreshold,
    /// An age of 0 days would reset every error at once.
    #[error("{field} must be at least 1 day, got 0")]
    ZeroAge {
        /// The offending field.
        field: &'static str,
    },
}

impl QuarantinePolicy {
    /// Checks that the values can work; configuration loading calls it.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.soft_error_threshold == 0 {
            return Err(PolicyError::ZeroThreshold);
        }
        if self.error_reset_after_days == 0 {
            return Err(PolicyError::ZeroAge {
                field: "error_reset_after_days",
            });
        }
        if self.mailbox_full_release_after_days == 0 {
            return Err(PolicyError::ZeroAge {
                field: "mailbox_full_release_after_days",
            });
        }
        Ok(())
    }

    /// [`Self::error_reset_after_days`] as a duration.
    pub fn error_reset_after(&self) -> TimeDelta {
        TimeDelta::days(i64::from(self.error_reset_after_days))
    }

    /// [`Self::mailbox_full_release_after_days`] as a duration.
    pub fn mailbox_full_release_after(&self) -> TimeDelta {
        TimeDelta::days(i64::from(self.mailbox_full_release_after_days))
    }
}
