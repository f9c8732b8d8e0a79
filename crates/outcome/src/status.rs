//! The status a table row gives a message, and the statuses a message goes through.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::reason::UnknownName;

/// The `status` column of the push tables: what the provider's answer means for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SendStatus {
    /// `OK`: the provider accepted the message.
    #[serde(rename = "OK")]
    Ok,
    /// `Failed`: the message was not accepted.
    Failed,
}

impl SendStatus {
    /// The spelling of the spec (`OK`, `Failed`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Failed => "Failed",
        }
    }
}

impl fmt::Display for SendStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one message of a delivery stands (the delivery log's status).
///
/// A message is `Pending` once the analysis has queued it, `Retry` while a retryable
/// failure waits for its next attempt inside the validity period, and ends `Sent`
/// (the provider accepted it), `Failed`, or `Received` (a provider that reports
/// reception, such as Baidu's polling). A dry run's messages are `Planned`: the analysis
/// let them through, and they are never sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MessageStatus {
    /// Queued, not attempted yet.
    Pending,
    /// A retryable failure; attempted again at the message's next attempt time.
    Retry,
    /// Accepted by the provider (the tables' `OK`).
    Sent,
    /// Failed for good: a failure that is not retried, or the validity period ended.
    Failed,
    /// Reported received on the device by the provider.
    Received,
    /// A dry run's message: it would have been sent; it never is.
    Planned,
}

impl MessageStatus {
    /// Every message status.
    pub const ALL: [MessageStatus; 6] = [
        Self::Pending,
        Self::Retry,
        Self::Sent,
        Self::Failed,
        Self::Received,
        Self::Planned,
    ];

    /// The spelling stored and shown (`Pending`, `Retry`, `Sent`, `Failed`, `Received`,
    /// `Planned`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Retry => "Retry",
            Self::Sent => "Sent",
            Self::Failed => "Failed",
            Self::Received => "Received",
            Self::Planned => "Planned",
        }
    }

    /// True once nothing more will happen to the message.
    pub const fn is_final(self) -> bool {
        match self {
            Self::Pending | Self::Retry => false,
            Self::Sent | Self::Failed | Self::Received | Self::Planned => true,
        }
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MessageStatus {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| UnknownName {
                given: s.to_owned(),
                kind: "message status",
            })
    }
}
