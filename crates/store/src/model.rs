//! The records the store reads and writes.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use pushgate_outcome::{FailureReason, FailureType, MessageStatus, OutcomeId};
use pushgate_quarantine::{AddressState, AddressStatus};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;

/// Parses a stored spelling, naming the column when it is not one the code knows.
pub(crate) fn parse_column<T: FromStr>(column: &str, value: &str) -> Result<T, StoreError> {
    value
        .parse()
        .map_err(|_| StoreError::corrupt(format!("{column} = {value:?}")))
}

/// A stored failure reason value as a reason.
pub(crate) fn reason_of(value: Option<i64>) -> Result<Option<FailureReason>, StoreError> {
    value
        .map(|v| {
            u8::try_from(v)
                .ok()
                .and_then(FailureReason::from_value)
                .ok_or_else(|| StoreError::corrupt(format!("failure_reason = {v}")))
        })
        .transpose()
}

/// The platform of an app: which provider its messages go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Apple, through APNs.
    Ios,
    /// Android, through FCM HTTP v1.
    Android,
}

impl Platform {
    /// The stored spelling (`ios`, `android`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ios => "ios",
            Self::Android => "android",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Platform {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ios" => Ok(Self::Ios),
            "android" => Ok(Self::Android),
            other => Err(StoreError::corrupt(format!("platform = {other:?}"))),
        }
    }
}

/// A mobile application: one platform credential set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct App {
    /// Stable identifier, used in URLs.
    pub id: String,
    /// Where its messages go.
    pub platform: Platform,
}

/// A registered device token of a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subscription {
    /// Identifier.
    pub id: i64,
    /// The app.
    pub app_id: String,
    /// The recipient.
    pub profile_id: String,
    /// The device token, exactly as registered.
    pub token: String,
    /// Set by the opt-out sweep: the token is unregistered; excluded from deliveries.
    pub disabled: bool,
    /// When the sweep disabled it.
    pub disabled_at: Option<DateTime<Utc>>,
    /// When the app last registered the token (it may tell; otherwise the request time).
    pub registered_at: DateTime<Utc>,
    /// First registration.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// One token's row of the quarantine list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Address {
    /// The app.
    pub app_id: String,
    /// The device token.
    pub token: String,
    /// Its quarantine state.
    pub state: AddressState,
    /// APNs's 410 `timestamp`: when the token stopped being valid.
    pub unregistered_at: Option<DateTime<Utc>>,
}

/// What a delivery targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "values")]
pub enum Target {
    /// Every subscription of the app.
    All,
    /// Every subscription of these profiles.
    Profiles(Vec<String>),
    /// These device tokens.
    Tokens(Vec<String>),
}

impl Target {
    /// The stored spelling of the kind (`all`, `profiles`, `tokens`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Profiles(_) => "profiles",
            Self::Tokens(_) => "tokens",
        }
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Its target is being analysed; no message is sent yet.
    Analyzing,
    /// Messages are being sent and retried.
    Sending,
    /// Every message is final (or, for a dry run, the analysis is complete).
    Done,
}

impl DeliveryState {
    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Analyzing => "analyzing",
            Self::Sending => "sending",
            Self::Done => "done",
        }
    }
}

impl FromStr for DeliveryState {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "analyzing" => Ok(Self::Analyzing),
            "sending" => Ok(Self::Sending),
            "done" => Ok(Self::Done),
            other => Err(StoreError::corrupt(format!("delivery state = {other:?}"))),
        }
    }
}

/// A delivery to create.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// The app it belongs to.
    pub app_id: String,
    /// The notification, as the API received it (the sender builds each request from it).
    pub notification: serde_json::Value,
    /// Who it goes to.
    pub target: Target,
    /// Analyse only: the messages are `Planned`, never sent.
    pub dry_run: bool,
    /// The validity period in effect (already capped).
    pub validity_secs: i64,
    /// The validity period asked for (reports show when it was capped).
    pub requested_validity_secs: i64,
}

/// A delivery.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    /// Identifier (a UUID).
    pub id: String,
    /// The app.
    pub app_id: String,
    /// The notification.
    pub notification: serde_json::Value,
    /// `all`, `profiles` or `tokens`.
    pub target_kind: String,
    /// Analyse only.
    pub dry_run: bool,
    /// Where it stands.
    pub state: DeliveryState,
    /// The validity period in effect.
    pub validity_secs: i64,
    /// The validity period asked for.
    pub requested_validity_secs: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// End of the validity period: messages not sent by then are Failed.
    pub expires_at: DateTime<Utc>,
    /// When the analysis finished.
    pub analyzed_at: Option<DateTime<Utc>>,
    /// When every message was final.
    pub finished_at: Option<DateTime<Utc>>,
}

/// Why the analysis left a target out (the `kind` column of the exclusion log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExclusionKind {
    /// A profile was targeted but has no token.
    MissingToken,
    /// The profile is on the push denylist.
    DenylistedProfile,
    /// The token is `Denylisted` in the quarantine list.
    DenylistedAddress,
    /// The token is in `Quarantine`.
    QuarantinedAddress,
    /// The subscription was disabled by the opt-out sweep.
    DisabledSubscription,
    /// The token is already in this delivery.
    DuplicateToken,
}

impl ExclusionKind {
    /// Every kind, in the order the analysis checks them (the first that applies wins).
    pub const ALL: [ExclusionKind; 6] = [
        Self::MissingToken,
        Self::DenylistedProfile,
        Self::DenylistedAddress,
        Self::QuarantinedAddress,
        Self::DisabledSubscription,
        Self::DuplicateToken,
    ];

    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MissingToken => "missing_token",
            Self::DenylistedProfile => "denylisted_profile",
            Self::DenylistedAddress => "denylisted_address",
            Self::QuarantinedAddress => "quarantined_address",
            Self::DisabledSubscription => "disabled_subscription",
            Self::DuplicateToken => "duplicate_token",
        }
    }

    /// The failure reason written to the exclusion log (`quarantine-rules.md`, "Delivery
    /// analysis"): missing token 7, denylisted profile or token 8, quarantined token 9,
    /// the same token twice 10. A disabled subscription is one whose token the sweep found
    /// unregistered: 1, User unknown.
    pub const fn reason(self) -> FailureReason {
        match self {
            Self::MissingToken => FailureReason::AddressNotSpecified,
            Self::DenylistedProfile | Self::DenylistedAddress => FailureReason::DenylistedAddress,
            Self::QuarantinedAddress => FailureReason::QuarantinedAddress,
            Self::DisabledSubscription => FailureReason::UserUnknown,
            Self::DuplicateToken => FailureReason::Twice,
        }
    }

    /// The status in the quarantine list that excludes a token with this kind: `Denylisted`
    /// (reason 8) or `Quarantine` (reason 9); none for the kinds that do not come from the
    /// quarantine list. Every status that [`AddressStatus::is_excluded`] has exactly one
    /// kind (checked by a test).
    pub const fn address_status(self) -> Option<AddressStatus> {
        match self {
            Self::DenylistedAddress => Some(AddressStatus::Denylisted),
            Self::QuarantinedAddress => Some(AddressStatus::Quarantine),
            Self::MissingToken
            | Self::DenylistedProfile
            | Self::DisabledSubscription
            | Self::DuplicateToken => None,
        }
    }
}

impl FromStr for ExclusionKind {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| StoreError::corrupt(format!("exclusion kind = {s:?}")))
    }
}

/// One row of the delivery log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// Identifier.
    pub id: i64,
    /// The delivery.
    pub delivery_id: String,
    /// The subscription it was made from (none for an unregistered explicit token).
    pub subscription_id: Option<i64>,
    /// The recipient, if known.
    pub profile_id: Option<String>,
    /// The device token.
    pub token: String,
    /// Where it stands.
    pub status: MessageStatus,
    /// Attempts started so far.
    pub attempts: i64,
    /// When it is due (for Pending/Retry).
    pub next_attempt_at: DateTime<Utc>,
    /// The provider's id for it (`apns-id`, FCM message name).
    pub provider_id: Option<String>,
    /// The outcome row of the last attempt.
    pub outcome_id: Option<OutcomeId>,
    /// Failure type of the last attempt.
    pub failure_type: Option<FailureType>,
    /// Failure reason of the last attempt.
    pub failure_reason: Option<FailureReason>,
    /// Error message of the last attempt.
    pub error_text: Option<String>,
    /// This message's result put the token in quarantine.
    pub quarantined: bool,
    /// Creation (analysis) time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// One row of the exclusion log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exclusion {
    /// Identifier.
    pub id: i64,
    /// The delivery.
    pub delivery_id: String,
    /// The subscription left out, if there was one.
    pub subscription_id: Option<i64>,
    /// The recipient, if known.
    pub profile_id: Option<String>,
    /// The token, if there was one.
    pub token: Option<String>,
    /// Why.
    pub kind: ExclusionKind,
    /// The failure reason (its value in the database).
    pub reason: FailureReason,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A page request: at most `limit` rows after the row with id `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Rows with an id greater than this (0 for the first page).
    pub after: i64,
    /// At most this many rows.
    pub limit: i64,
}

impl Default for Page {
    fn default() -> Self {
        Self {
            after: 0,
            limit: 100,
        }
    }
}

/// An address's status as stored.
pub(crate) fn status_of(value: &str) -> Result<AddressStatus, StoreError> {
    parse_column("status", value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `quarantine-rules.md`, "Delivery analysis": a token in Quarantine or Denylisted is
    /// excluded, each with its kind, and no other status excludes.
    #[test]
    fn every_excluding_address_status_has_exactly_one_exclusion_kind() {
        for status in AddressStatus::ALL {
            let kinds = ExclusionKind::ALL
                .into_iter()
                .filter(|kind| kind.address_status() == Some(status))
                .count();
            let expected = usize::from(status.is_excluded());
            assert_eq!(kinds, expected, "{status}");
        }
    }
}
