//! The time rules of the quarantine, each in one function.

use chrono::{DateTime, Utc};
use pushgate_outcome::FailureReason;

use crate::policy::QuarantinePolicy;
use crate::state::{AddressState, AddressStatus};

/// The 10-day rule: the error count restarts, and the address is Valid again, when the last
/// significant error is more than `error_reset_after_days` old. Applies to `Valid` and
/// `With errors` addresses with an open episode; never to Quarantine, Denylisted or
/// Allowlisted.
pub fn error_count_expired(
    state: &AddressState,
    now: DateTime<Utc>,
    policy: &QuarantinePolicy,
) -> bool {
    let counting = matches!(
        state.status,
        AddressStatus::Valid | AddressStatus::WithErrors
    );
    let last_error = state.last_error_at.filter(|_| state.has_open_episode());
    counting && last_error.is_some_and(|at| now - at > policy.error_reset_after())
}

/// The 30-day rule: a `With errors` address whose error is Mailbox full becomes Valid
/// when the episode's first error is more than `mailbox_full_release_after_days` old.
///
/// The spec states a 10-day rule on the last error and a 30-day rule for Mailbox full;
/// read both on the last error, the second could never fire. Measured from the first
/// error, it releases a mailbox that keeps failing every few days.
pub fn mailbox_full_expired(
    state: &AddressState,
    now: DateTime<Utc>,
    policy: &QuarantinePolicy,
) -> bool {
    state.status == AddressStatus::WithErrors
        && state.last_failure_reason == Some(FailureReason::MailboxFull)
        && state
            .first_error_at
            .is_some_and(|at| now - at > policy.mailbox_full_release_after())
}

/// A token "quarantined as unregistered or invalid": in `Quarantine` with failure reason 1,
/// User unknown. The opt-out sweep disables its subscriptions (the store's sweep selects
/// these two values); re-registration releases it.
pub const UNREGISTERED: (AddressStatus, FailureReason) =
    (AddressStatus::Quarantine, FailureReason::UserUnknown);

/// Whether the address is quarantined as unregistered or invalid ([`UNREGISTERED`]).
pub fn quarantined_as_unregistered(state: &AddressState) -> bool {
    let (status, reason) = UNREGISTERED;
    state.status == status && state.last_failure_reason == Some(reason)
}

/// The re-registration rule: a token quarantined as unregistered ([`UNREGISTERED`]) that
/// the app registers again after it stopped being valid is released. "After" means after
/// APNs's 410 `timestamp` when there is one, else after the quarantine date (the time of
/// the error that quarantined it).
pub fn released_by_registration(
    state: &AddressState,
    unregistered_at: Option<DateTime<Utc>>,
    registered_at: DateTime<Utc>,
) -> bool {
    let invalid_since = unregistered_at.or(state.last_error_at);
    quarantined_as_unregistered(state) && invalid_since.is_some_and(|since| registered_at > since)
}
