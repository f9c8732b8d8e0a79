//! How one send outcome moves an address (`quarantine-rules.md`, "How a failure moves an
//! address").

use chrono::{DateTime, Utc};
use pushgate_outcome::{Classification, FailureReason, FailureType};

use crate::policy::QuarantinePolicy;
use crate::rules::error_count_expired;
use crate::state::{AddressState, AddressStatus};

/// A failure as the outcome table describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The row's failure type; `None` where the table leaves it blank (treated as Undefined).
    pub failure_type: Option<FailureType>,
    /// The row's failure reason; `None` where blank.
    pub reason: Option<FailureReason>,
    /// The rendered error message, kept as the address's error text.
    pub text: Option<String>,
}

/// What one send did, as far as the address is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// The provider accepted the message.
    Success,
    /// The message failed.
    Failure(Failure),
}

impl SendOutcome {
    /// The outcome of a classified provider result.
    pub fn from_classification(classification: &Classification) -> Self {
        match classification {
            Classification::Accepted { .. } => Self::Success,
            Classification::Rejected { .. } => Self::Failure(Failure {
                failure_type: classification.failure_type(),
                reason: classification.failure_reason(),
                text: classification.error_message().map(str::to_owned),
            }),
        }
    }
}

/// What [`apply`] did to the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Nothing changed: nothing to write.
    Unchanged,
    /// A first Undefined (or blank) failure was recorded without counting.
    UnderQualification,
    /// The failure was counted; the address is `With errors`.
    Counted {
        /// The count after this failure.
        error_count: u32,
    },
    /// The address went to `Quarantine` with this failure.
    Quarantined,
    /// The address was set back to `Valid` (a success, or an expired episode).
    Cleared,
    /// The address is allowlisted: the failure is ignored (reason 25, Error ignored).
    ErrorIgnored,
}

/// Moves `state` by one send `outcome` at `now`.
///
/// - Ignored: never changes anything.
/// - Hard: `Quarantine` at once.
/// - Soft: counted (`With errors`); `Quarantine` when the count reaches the threshold.
/// - Undefined or blank: the first occurrence in an episode is recorded without counting;
///   a repeat (same reason, same episode) is counted; it never quarantines by itself.
/// - Success: `With errors` (or an open episode) back to `Valid`, count reset.
/// - `Quarantine` and `Denylisted` are never lifted and count nothing; `Allowlisted`
///   ignores every error ([`Effect::ErrorIgnored`]).
/// - Before counting, an episode whose last error is older than the reset age is closed
///   (the 10-day rule), so the count restarts.
pub fn apply(
    state: &AddressState,
    outcome: &SendOutcome,
    now: DateTime<Utc>,
    policy: &QuarantinePolicy,
) -> (AddressState, Effect) {
    let unchanged = || (state.clone(), Effect::Unchanged);
    match (state.status, outcome) {
        (AddressStatus::Quarantine | AddressStatus::Denylisted, _) => unchanged(),
        (AddressStatus::Allowlisted, SendOutcome::Success) => unchanged(),
        (AddressStatus::Allowlisted, SendOutcome::Failure(_)) => {
            (state.clone(), Effect::ErrorIgnored)
        }
        (AddressStatus::Valid | AddressStatus::WithErrors, SendOutcome::Success) => {
            if state.status == AddressStatus::WithErrors || state.has_open_episode() {
                (state.cleared(now), Effect::Cleared)
            } else {
                unchanged()
            }
        }
        (AddressStatus::Valid | AddressStatus::WithErrors, SendOutcome::Failure(failure)) => {
            let kind = match failure.failure_type.unwrap_or(FailureType::Undefined) {
                FailureType::Ignored => return unchanged(),
                FailureType::Hard => Counted::Hard,
                FailureType::Soft => Counted::Soft,
                FailureType::Undefined => Counted::Undefined,
            };
            let current = if error_count_expired(state, now, policy) {
                state.cleared(now)
            } else {
                state.clone()
            };
            record(current, failure, kind, now, policy)
        }
    }
}

/// The failure types that [`record`] handles: every one but Ignored.
#[derive(Clone, Copy)]
enum Counted {
    Hard,
    Soft,
    Undefined,
}

/// Records a Hard, Soft or Undefined failure on a `Valid` or `With errors` address.
fn record(
    mut state: AddressState,
    failure: &Failure,
    kind: Counted,
    now: DateTime<Utc>,
    policy: &QuarantinePolicy,
) -> (AddressState, Effect) {
    let repeat = state.has_open_episode()
        && state.last_failure_type.unwrap_or(FailureType::Undefined) == FailureType::Undefined
        && state.last_failure_reason == failure.reason;
    if !state.has_open_episode() {
        state.first_error_at = Some(now);
        state.first_error_text.clone_from(&failure.text);
    }
    state.last_failure_type = failure.failure_type;
    state.last_failure_reason = failure.reason;
    state.last_error_text.clone_from(&failure.text);
    state.last_error_at = Some(now);
    state.last_modified = now;

    let effect = match kind {
        Counted::Hard => {
            state.error_count = state.error_count.saturating_add(1);
            state.status = AddressStatus::Quarantine;
            Effect::Quarantined
        }
        Counted::Soft => {
            state.error_count = state.error_count.saturating_add(1);
            if state.error_count >= policy.soft_error_threshold {
                state.status = AddressStatus::Quarantine;
                Effect::Quarantined
            } else {
                state.status = AddressStatus::WithErrors;
                Effect::Counted {
                    error_count: state.error_count,
                }
            }
        }
        Counted::Undefined if repeat => {
            state.error_count = state.error_count.saturating_add(1);
            state.status = AddressStatus::WithErrors;
            Effect::Counted {
                error_count: state.error_count,
            }
        }
        Counted::Undefined => Effect::UnderQualification,
    };
    (state, effect)
}
