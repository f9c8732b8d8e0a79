//! Builders shared by the rule tests and the property tests.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use pushgate_outcome::{FailureReason, FailureType};
use pushgate_quarantine::{AddressState, Failure, SendOutcome};

/// A fixed starting instant, so that every test reads the same way.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
}

pub fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}

pub fn valid() -> AddressState {
    AddressState::valid(t0())
}

pub fn failure(failure_type: Option<FailureType>, reason: Option<FailureReason>) -> SendOutcome {
    SendOutcome::Failure(Failure {
        failure_type,
        reason,
        text: Some(format!("{failure_type:?}/{reason:?}")),
    })
}

pub fn hard() -> SendOutcome {
    failure(Some(FailureType::Hard), Some(FailureReason::UserUnknown))
}

pub fn soft() -> SendOutcome {
    failure(Some(FailureType::Soft), Some(FailureReason::Refused))
}

pub fn ignored() -> SendOutcome {
    failure(Some(FailureType::Ignored), Some(FailureReason::Refused))
}

pub fn undefined() -> SendOutcome {
    failure(
        Some(FailureType::Undefined),
        Some(FailureReason::Unreachable),
    )
}
