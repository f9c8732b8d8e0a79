//! The daily database cleanup's rule for one address.

use chrono::{DateTime, Utc};

use crate::policy::QuarantinePolicy;
use crate::rules::{error_count_expired, mailbox_full_expired};
use crate::state::AddressState;

/// The address after the daily cleanup, or `None` when the cleanup leaves it as it is.
///
/// `With errors` (or `Valid` with an open episode) whose last error is older than the
/// reset age becomes `Valid` (the 10-day rule); `With errors` whose error is Mailbox full
/// becomes `Valid` once its first error is older than the release age (the 30-day rule).
/// Nothing lifts `Quarantine` or `Denylisted`, and `Allowlisted` stays as it is.
pub fn cleanup(
    state: &AddressState,
    now: DateTime<Utc>,
    policy: &QuarantinePolicy,
) -> Option<AddressState> {
    (error_count_expired(state, now, policy) || mailbox_full_expired(state, now, policy))
        .then(|| state.cleared(now))
}
