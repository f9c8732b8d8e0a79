//! Property tests (proptest, 2,000 cases each) for the invariants of the state machine,
//! over addresses reached by random histories of outcomes and time.

use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;
use pushgate_outcome::{FailureReason, FailureType};
use pushgate_quarantine::{
    AddressState, AddressStatus, Effect, Failure, QuarantinePolicy, SendOutcome, apply, cleanup,
};

use crate::support::t0;

fn outcomes() -> impl Strategy<Value = SendOutcome> {
    let failure_type = proptest::option::of(proptest::sample::select(FailureType::ALL.to_vec()));
    let reason = proptest::option::of(proptest::sample::select(FailureReason::ALL.to_vec()));
    prop_oneof![
        1 => Just(SendOutcome::Success),
        4 => (failure_type, reason, proptest::option::of("[a-z ]{0,12}")).prop_map(
            |(failure_type, reason, text)| SendOutcome::Failure(Failure { failure_type, reason, text })
        ),
    ]
}

fn policies() -> impl Strategy<Value = QuarantinePolicy> {
    (1u32..8, 1u32..15, 1u32..40).prop_map(|(threshold, reset, mailbox)| QuarantinePolicy {
        soft_error_threshold: threshold,
        error_reset_after_days: reset,
        mailbox_full_release_after_days: mailbox,
    })
}

/// A step of history: an outcome some hours after the previous one.
fn steps() -> impl Strategy<Value = Vec<(SendOutcome, i64)>> {
    proptest::collection::vec((outcomes(), 0i64..(24 * 12)), 0..12)
}

/// An address reached from a fresh one by `history`, perhaps after an operator set it
/// Denylisted or Allowlisted; returns it with the time of its last step.
fn reached(
    start: Option<AddressStatus>,
    history: &[(SendOutcome, i64)],
    policy: &QuarantinePolicy,
) -> (AddressState, DateTime<Utc>) {
    let mut state = AddressState::valid(t0());
    if let Some(status) = start {
        state.status = status;
    }
    let mut now = t0();
    for (outcome, hours) in history {
        now += TimeDelta::hours(*hours);
        state = apply(&state, outcome, now, policy).0;
    }
    (state, now)
}

/// An address that counts errors (Valid or With errors): a reached one, released by an
/// operator if the history put it in quarantine.
fn counting(
    history: &[(SendOutcome, i64)],
    policy: &QuarantinePolicy,
) -> (AddressState, DateTime<Utc>) {
    let (state, now) = reached(None, history, policy);
    if state.status == AddressStatus::Quarantine {
        (state.cleared(now), now)
    } else {
        (state, now)
    }
}

/// An excluded address: a reached one, put in Quarantine or on the denylist by an operator
/// if the history did not get it there.
fn excluded(
    history: &[(SendOutcome, i64)],
    policy: &QuarantinePolicy,
    status: AddressStatus,
) -> (AddressState, DateTime<Utc>) {
    let (mut state, now) = reached(None, history, policy);
    if !state.status.is_excluded() {
        state.status = status;
    }
    (state, now)
}

fn operator_status() -> impl Strategy<Value = Option<AddressStatus>> {
    proptest::option::weighted(
        0.2,
        prop_oneof![
            Just(AddressStatus::Denylisted),
            Just(AddressStatus::Allowlisted)
        ],
    )
}

fn is_failure_of(outcome: &SendOutcome, wanted: &[Option<FailureType>]) -> bool {
    matches!(outcome, SendOutcome::Failure(f) if wanted.contains(&f.failure_type))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn ignored_never_changes_the_address(
        start in operator_status(), history in steps(), policy in policies(),
        reason in proptest::option::of(proptest::sample::select(FailureReason::ALL.to_vec())),
        hours in 0i64..2000,
    ) {
        let (state, now) = reached(start, &history, &policy);
        let ignored = SendOutcome::Failure(Failure { failure_type: Some(FailureType::Ignored), reason, text: None });
        let (after, effect) = apply(&state, &ignored, now + TimeDelta::hours(hours), &policy);
        if state.status == AddressStatus::Allowlisted {
            prop_assert_eq!(effect, Effect::ErrorIgnored);
        } else {
            prop_assert_eq!(effect, Effect::Unchanged);
        }
        prop_assert_eq!(after, state);
    }

    #[test]
    fn quarantine_and_denylisted_are_never_lifted_by_sends_or_cleanup(
        status in prop_oneof![Just(AddressStatus::Quarantine), Just(AddressStatus::Denylisted)],
        history in steps(), policy in policies(), more in steps(), cleanup_after_days in 0i64..400,
    ) {
        let (state, now) = excluded(&history, &policy, status);
        let mut later = state.clone();
        let mut at = now;
        for (outcome, hours) in &more {
            at += TimeDelta::hours(*hours);
            let (after, effect) = apply(&later, outcome, at, &policy);
            prop_assert_eq!(effect, Effect::Unchanged);
            later = after;
        }
        prop_assert_eq!(&later, &state);
        prop_assert_eq!(cleanup(&state, at + TimeDelta::days(cleanup_after_days), &policy), None);
    }

    #[test]
    fn allowlisted_never_changes(history in steps(), policy in policies(), outcome in outcomes()) {
        let (state, now) = reached(Some(AddressStatus::Allowlisted), &history, &policy);
        prop_assert_eq!(state.status, AddressStatus::Allowlisted);
        prop_assert_eq!(&apply(&state, &outcome, now, &policy).0, &state);
        prop_assert_eq!(cleanup(&state, now + TimeDelta::days(1000), &policy), None);
    }

    #[test]
    fn hard_quarantines_valid_and_with_errors_at_once(
        history in steps(), policy in policies(),
        reason in proptest::option::of(proptest::sample::select(FailureReason::ALL.to_vec())),
        hours in 0i64..2000,
    ) {
        let (state, now) = counting(&history, &policy);
        let hard = SendOutcome::Failure(Failure { failure_type: Some(FailureType::Hard), reason, text: None });
        let (after, effect) = apply(&state, &hard, now + TimeDelta::hours(hours), &policy);
        prop_assert_eq!(after.status, AddressStatus::Quarantine);
        prop_assert_eq!(effect, Effect::Quarantined);
    }

    #[test]
    fn only_soft_or_hard_failures_move_an_address_into_quarantine(
        start in operator_status(), history in steps(), policy in policies(), outcome in outcomes(),
        hours in 0i64..2000,
    ) {
        let (state, now) = reached(start, &history, &policy);
        let (after, effect) = apply(&state, &outcome, now + TimeDelta::hours(hours), &policy);
        let entered = after.status == AddressStatus::Quarantine && state.status != AddressStatus::Quarantine;
        prop_assert_eq!(entered, effect == Effect::Quarantined);
        if entered {
            prop_assert!(is_failure_of(&outcome, &[Some(FailureType::Hard), Some(FailureType::Soft)]));
        }
    }

    #[test]
    fn a_soft_failure_quarantines_exactly_when_the_count_reaches_the_threshold(
        history in steps(), policy in policies(), hours in 0i64..2000,
    ) {
        let (state, now) = counting(&history, &policy);
        let soft = SendOutcome::Failure(Failure { failure_type: Some(FailureType::Soft), reason: Some(FailureReason::Refused), text: None });
        let (after, _) = apply(&state, &soft, now + TimeDelta::hours(hours), &policy);
        prop_assert_eq!(after.status == AddressStatus::Quarantine, after.error_count >= policy.soft_error_threshold);
        prop_assert!(after.error_count >= 1);
    }

    #[test]
    fn success_leaves_no_address_with_errors_and_resets_the_count(
        start in operator_status(), history in steps(), policy in policies(), hours in 0i64..2000,
    ) {
        let (state, now) = reached(start, &history, &policy);
        let (after, effect) = apply(&state, &SendOutcome::Success, now + TimeDelta::hours(hours), &policy);
        prop_assert_ne!(after.status, AddressStatus::WithErrors);
        if matches!(state.status, AddressStatus::Valid | AddressStatus::WithErrors) {
            prop_assert_eq!(after.status, AddressStatus::Valid);
            prop_assert_eq!(after.error_count, 0);
            prop_assert!(!after.has_open_episode());
        }
        prop_assert_eq!(effect == Effect::Unchanged, after == state);
    }

    #[test]
    fn the_effect_says_unchanged_exactly_when_nothing_changed(
        start in operator_status(), history in steps(), policy in policies(), outcome in outcomes(),
        hours in 0i64..2000,
    ) {
        let (state, now) = reached(start, &history, &policy);
        let (after, effect) = apply(&state, &outcome, now + TimeDelta::hours(hours), &policy);
        if effect == Effect::Unchanged || effect == Effect::ErrorIgnored {
            prop_assert_eq!(after, state);
        } else {
            prop_assert_ne!(after, state);
        }
    }

    #[test]
    fn the_count_only_falls_when_the_episode_ends(
        history in steps(), policy in policies(), outcome in outcomes(), hours in 0i64..2000,
    ) {
        let (state, now) = reached(None, &history, &policy);
        let at = now + TimeDelta::hours(hours);
        let (after, _) = apply(&state, &outcome, at, &policy);
        if after.error_count < state.error_count {
            // Either the address is clean again, or the old episode expired and a new one
            // started with this failure.
            let clean = after.status == AddressStatus::Valid && after.error_count == 0;
            let restarted = after.first_error_at == Some(at) && after.error_count <= 1;
            prop_assert!(clean || restarted, "{:?} -> {:?}", state, after);
        }
        if after.status == AddressStatus::WithErrors {
            prop_assert!(after.error_count >= 1);
            prop_assert!(after.has_open_episode());
        }
    }

    #[test]
    fn cleanup_releases_to_a_clean_valid_address_and_is_idempotent(
        start in operator_status(), history in steps(), policy in policies(), days in 0i64..60,
    ) {
        let (state, now) = reached(start, &history, &policy);
        let at = now + TimeDelta::days(days);
        if let Some(cleaned) = cleanup(&state, at, &policy) {
            prop_assert!(matches!(state.status, AddressStatus::Valid | AddressStatus::WithErrors));
            prop_assert_eq!(cleaned.status, AddressStatus::Valid);
            prop_assert_eq!(cleaned.error_count, 0);
            prop_assert!(!cleaned.has_open_episode());
            prop_assert_eq!(cleaned.last_modified, at);
            prop_assert_eq!(cleanup(&cleaned, at, &policy), None);
        }
    }
}
