//! Failure types and failure reasons, with the technical values of `failure-reasons.tsv`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How bad a failure is for the address it happened on.
///
/// The type decides what the quarantine does (see `pushgate-quarantine`): a hard failure
/// quarantines at once, a soft one counts toward the threshold, an ignored one changes
/// nothing, an undefined one is "under qualification".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FailureType {
    /// Permanent: the address is quarantined at once.
    Hard,
    /// Temporary: counted; quarantined when the count reaches the threshold.
    Soft,
    /// Known to be harmless for the address: never counted, never quarantines.
    Ignored,
    /// Not qualified yet: recorded, counted only when it repeats, never quarantines.
    Undefined,
}

impl FailureType {
    /// Every failure type, in the order of the spec.
    pub const ALL: [FailureType; 4] = [Self::Hard, Self::Soft, Self::Ignored, Self::Undefined];

    /// The spelling used by the spec files (`Hard`, `Soft`, `Ignored`, `Undefined`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Hard => "Hard",
            Self::Soft => "Soft",
            Self::Ignored => "Ignored",
            Self::Undefined => "Undefined",
        }
    }
}

impl fmt::Display for FailureType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no failure type or reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    /// What was given.
    pub given: String,
    /// What kind of name was expected ("failure type", "failure reason").
    pub kind: &'static str,
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} {:?}", self.kind, self.given)
    }
}

impl std::error::Error for UnknownName {}

impl FromStr for FailureType {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownName {
                given: s.to_owned(),
                kind: "failure type",
            })
    }
}

/// Why a message failed or a recipient was excluded, with its technical value.
///
/// The 20 reasons of `failure-reasons.tsv`. The technical value is what the
/// store keeps and what reports show next to the label.
///
/// Serialised as its label (`"User unknown"`); read from its label or its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum FailureReason {
    /// 0: the address is under qualification.
    Undefined = 0,
    /// 1: the device token does not exist.
    UserUnknown = 1,
    /// 2: the address's domain is wrong or gone.
    InvalidDomain = 2,
    /// 3: an error in the delivery chain.
    Unreachable = 3,
    /// 4: the account behind the address is no longer active.
    AccountDisabled = 4,
    /// 5: the mailbox is full (released by the cleanup after 30 days).
    MailboxFull = 5,
    /// 6: the device was off or not connected.
    NotConnected = 6,
    /// 7: no address was given for the recipient.
    AddressNotSpecified = 7,
    /// 8: the address (or the profile, for the channel) is on the denylist.
    DenylistedAddress = 8,
    /// 9: the address is in quarantine.
    QuarantinedAddress = 9,
    /// 10: the address is already in this delivery.
    Twice = 10,
    /// 11: excluded by a typology rule of type SQL.
    ExcludedBySqlRule = 11,
    /// 12: excluded by a typology rule of type arbitration.
    ExcludedAfterArbitration = 12,
    /// 14: the address's quality rating is too low.
    PoorQualityAddress = 14,
    /// 15: the postal address is not qualified.
    UnqualifiedAddress = 15,
    /// 16: not eligible for the offers in the delivery.
    NotEligibleForTheOffers = 16,
    /// 17: the delivery's maximum size was reached.
    TargetSizeLimited = 17,
    /// 20: refused (security feedback, or a rejection by the provider).
    Refused = 20,
    /// 25: the address is allowlisted: the error is ignored and the message is sent.
    ErrorIgnored = 25,
    /// 127: the address is part of the control group.
    ControlAddress = 127,
}

impl FailureReason {
    /// Every failure reason, in the order of their technical values.
    pub const ALL: [FailureReason; 20] = [
        Self::Undefined,
        Self::UserUnknown,
        Self::InvalidDomain,
        Self::Unreachable,
        Self::AccountDisabled,
        Self::MailboxFull,
        Self::NotConnected,
        Self::AddressNotSpecified,
        Self::DenylistedAddress,
        Self::QuarantinedAddress,
        Self::Twice,
        Self::ExcludedBySqlRule,
        Self::ExcludedAfterArbitration,
        Self::PoorQualityAddress,
        Self::UnqualifiedAddress,
        Self::NotEligibleForTheOffers,
        Self::TargetSizeLimited,
        Self::Refused,
        Self::ErrorIgnored,
        Self::ControlAddress,
    ];

    /// The technical value (the `value` column of `failure-reasons.tsv`).
    pub const fn value(self) -> u8 {
        self as u8
    }

    /// The reason with this technical value, if there is one.
    pub fn from_value(value: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.value() == value)
    }

    /// The reason with this label (`User unknown`), or with this technical value
    /// written in decimal (`1`).
    pub fn parse(text: &str) -> Result<Self, UnknownName> {
        let text = text.trim();
        let by_label = Self::ALL.into_iter().find(|r| r.label() == text);
        let by_value = || text.parse::<u8>().ok().and_then(Self::from_value);
        by_label.or_else(by_value).ok_or_else(|| UnknownName {
            given: text.to_owned(),
            kind: "failure reason",
        })
    }

    /// The label, spelled as in the spec (`User unknown`).
    pub const fn label(self) -> &'static str {
        match self {
            Self::Undefined => "Undefined",
            Self::UserUnknown => "User unknown",
            Self::InvalidDomain => "Invalid domain",
            Self::Unreachable => "Unreachable",
            Self::AccountDisabled => "Account disabled",
            Self::MailboxFull => "Mailbox full",
            Self::NotConnected => "Not connected",
            Self::AddressNotSpecified => "Address not specified",
            Self::DenylistedAddress => "Denylisted address",
            Self::QuarantinedAddress => "Quarantined address",
            Self::Twice => "Twice",
            Self::ExcludedBySqlRule => "Excluded by a SQL rule",
            Self::ExcludedAfterArbitration => "Excluded after arbitration",
            Self::PoorQualityAddress => "Poor quality address",
            Self::UnqualifiedAddress => "Unqualified address",
            Self::NotEligibleForTheOffers => "Not eligible for the offers",
            Self::TargetSizeLimited => "Target size limited",
            Self::Refused => "Refused",
            Self::ErrorIgnored => "Error ignored",
            Self::ControlAddress => "Control address",
        }
    }

    /// The failure types this reason comes with (`Soft/Hard` in the spec is two).
    pub const fn failure_types(self) -> &'static [FailureType] {
        use FailureType::{Hard, Ignored, Soft, Undefined};
        match self {
            Self::Undefined => &[Undefined],
            Self::UserUnknown
            | Self::AddressNotSpecified
            | Self::DenylistedAddress
            | Self::QuarantinedAddress => &[Hard],
            Self::InvalidDomain | Self::MailboxFull => &[Soft],
            Self::Unreachable | Self::AccountDisabled | Self::Refused => &[Soft, Hard],
            Self::NotConnected
            | Self::Twice
            | Self::ExcludedBySqlRule
            | Self::ExcludedAfterArbitration
            | Self::PoorQualityAddress
            | Self::UnqualifiedAddress
            | Self::NotEligibleForTheOffers
            | Self::TargetSizeLimited
            | Self::ErrorIgnored
            | Self::ControlAddress => &[Ignored],
        }
    }

    /// What the reason means, as the spec says it.
    pub const fn meaning(self) -> &'static str {
        match self {
            Self::Undefined => {
                "The address is under qualification: the error count has not been incremented yet. A new kind of error message; an isolated error does not count, a repeat raises the error count."
            }
            Self::UserUnknown => {
                "The address (device token) does not exist. No further delivery is attempted to it."
            }
            Self::InvalidDomain => {
                "The address's domain is wrong or no longer exists. Retried until the error count reaches 5, then quarantined."
            }
            Self::Unreachable => {
                "An error in the delivery chain (relay incident, domain temporarily unreachable). Retried until the error count reaches 5, or quarantined at once, depending on the error."
            }
            Self::AccountDisabled => {
                "The account behind the address is no longer active. Temporary: \"With errors\" and retried until the error count reaches 5. Permanent: quarantined at once."
            }
            Self::MailboxFull => {
                "The mailbox is full. Retried until the error count reaches 5, then quarantined; the cleanup sets the address Valid again after 30 days."
            }
            Self::NotConnected => {
                "The recipient's device was off or not connected when the message was sent."
            }
            Self::AddressNotSpecified => "No address was given for the recipient.",
            Self::DenylistedAddress => {
                "The address was on the denylist at sending time (also used to import external lists into the quarantine list)."
            }
            Self::QuarantinedAddress => "The address is in quarantine.",
            Self::Twice => "The recipient's address is already in this delivery.",
            Self::ExcludedBySqlRule => {
                "The recipient was excluded by a campaign typology rule of type SQL."
            }
            Self::ExcludedAfterArbitration => {
                "The recipient was excluded by a campaign typology rule of type arbitration."
            }
            Self::PoorQualityAddress => "The address's quality rating is too low.",
            Self::UnqualifiedAddress => "The postal address is not qualified.",
            Self::NotEligibleForTheOffers => {
                "The recipient was not eligible for the offers in the delivery."
            }
            Self::TargetSizeLimited => "The delivery's maximum size for the recipient was reached.",
            Self::Refused => {
                "The address was quarantined after security feedback such as a spam report. Retried until the error count reaches 5, or quarantined at once, depending on the error."
            }
            Self::ErrorIgnored => {
                "The address is on the allowlist, so the error is ignored and the message is sent."
            }
            Self::ControlAddress => "The recipient's address is part of the control group.",
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl FromStr for FailureReason {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for FailureReason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.label())
    }
}

impl<'de> Deserialize<'de> for FailureReason {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum LabelOrValue {
            Label(String),
            Value(u8),
        }
        match LabelOrValue::deserialize(deserializer)? {
            LabelOrValue::Label(label) => Self::parse(&label).map_err(serde::de::Error::custom),
            LabelOrValue::Value(value) => Self::from_value(value).ok_or_else(|| {
                serde::de::Error::custom(format!("unknown failure reason value {value}"))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_are_unique() {
        for reason in FailureReason::ALL {
            assert_eq!(FailureReason::from_value(reason.value()), Some(reason));
            assert_eq!(FailureReason::parse(reason.label()), Ok(reason));
            assert_eq!(
                FailureReason::parse(&reason.value().to_string()),
                Ok(reason)
            );
        }
        assert_eq!(FailureReason::from_value(13), None);
        assert_eq!(FailureReason::from_value(255), None);
    }

    #[test]
    fn unknown_labels_are_errors_that_name_the_input() {
        let err = FailureReason::parse("User unkown").unwrap_err();
        assert_eq!(err.to_string(), "unknown failure reason \"User unkown\"");
        let err = "hard".parse::<FailureType>().unwrap_err();
        assert_eq!(err.to_string(), "unknown failure type \"hard\"");
    }
}
