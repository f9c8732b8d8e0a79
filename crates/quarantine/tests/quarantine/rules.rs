//! One test per rule of `quarantine-rules.md` that concerns a single address; each test's
//! name says the rule, and its first comment quotes the section.

use pushgate_outcome::{FailureReason, FailureType};
use pushgate_quarantine::{AddressStatus, Effect, QuarantinePolicy, SendOutcome, apply, cleanup};

use crate::support::*;

fn policy() -> QuarantinePolicy {
    QuarantinePolicy::default()
}

#[test]
fn rule_ignored_failure_never_quarantines_never_counts() {
    // "How a failure moves an address": Ignored failure: never quarantines, never counts.
    let start = apply(&valid(), &soft(), t0(), &policy()).0;
    for state in [valid(), start] {
        let (after, effect) = apply(&state, &ignored(), t0() + days(1), &policy());
        assert_eq!(after, state);
        assert_eq!(effect, Effect::Unchanged);
    }
}

#[test]
fn rule_hard_failure_quarantines_at_once() {
    // "How a failure moves an address": Hard failure: the token goes to Quarantine at once.
    let (after, effect) = apply(&valid(), &hard(), t0(), &policy());
    assert_eq!(after.status, AddressStatus::Quarantine);
    assert_eq!(effect, Effect::Quarantined);
    assert_eq!(after.error_count, 1);
    assert_eq!(after.last_failure_type, Some(FailureType::Hard));
    assert_eq!(after.last_failure_reason, Some(FailureReason::UserUnknown));
    assert_eq!(after.first_error_at, Some(t0()));
    assert_eq!(after.last_error_at, Some(t0()));
    assert_eq!(after.last_modified, t0());
    assert!(after.last_error_text.is_some());

    let with_errors = apply(&valid(), &soft(), t0(), &policy()).0;
    let (after, _) = apply(&with_errors, &hard(), t0() + days(1), &policy());
    assert_eq!(
        after.status,
        AddressStatus::Quarantine,
        "also from With errors"
    );
}

#[test]
fn rule_soft_failure_counts_and_quarantines_at_the_threshold_of_5() {
    // "How a failure moves an address": Soft failure: the error counter goes up and the status
    // becomes With errors; when the counter reaches the threshold (default 5), Quarantine.
    let mut state = valid();
    for n in 1..=4 {
        let (after, effect) = apply(&state, &soft(), t0() + days(n), &policy());
        assert_eq!(
            after.status,
            AddressStatus::WithErrors,
            "after {n} soft errors"
        );
        assert_eq!(
            effect,
            Effect::Counted {
                error_count: n as u32
            }
        );
        state = after;
    }
    let (after, effect) = apply(&state, &soft(), t0() + days(5), &policy());
    assert_eq!(after.status, AddressStatus::Quarantine);
    assert_eq!(effect, Effect::Quarantined);
    assert_eq!(after.error_count, 5);
    assert_eq!(
        after.first_error_at,
        Some(t0() + days(1)),
        "the episode's first error stays"
    );
}

#[test]
fn rule_soft_threshold_is_configurable() {
    // "How a failure moves an address": the threshold (default 5, configurable).
    let strict = QuarantinePolicy {
        soft_error_threshold: 2,
        ..policy()
    };
    let once = apply(&valid(), &soft(), t0(), &strict).0;
    assert_eq!(once.status, AddressStatus::WithErrors);
    assert_eq!(
        apply(&once, &soft(), t0(), &strict).0.status,
        AddressStatus::Quarantine
    );
    let immediate = QuarantinePolicy {
        soft_error_threshold: 1,
        ..policy()
    };
    assert_eq!(
        apply(&valid(), &soft(), t0(), &immediate).0.status,
        AddressStatus::Quarantine
    );
}

#[test]
fn rule_undefined_first_occurrence_is_recorded_without_counting() {
    // "How a failure moves an address": Undefined failure type (or blank): the first
    // occurrence on an address is recorded without counting ("under qualification").
    for outcome in [undefined(), failure(None, Some(FailureReason::Refused))] {
        let (after, effect) = apply(&valid(), &outcome, t0(), &policy());
        assert_eq!(effect, Effect::UnderQualification);
        assert_eq!(after.status, AddressStatus::Valid);
        assert_eq!(after.error_count, 0);
        assert_eq!(after.first_error_at, Some(t0()));
        assert!(after.last_error_text.is_some());
    }
}

#[test]
fn rule_undefined_repeat_raises_the_count_but_never_quarantines() {
    // "How a failure moves an address": each repeat raises the error count (With errors);
    // only a Soft or Hard failure moves an address to Quarantine.
    let mut state = apply(&valid(), &undefined(), t0(), &policy()).0;
    for n in 1..=8u32 {
        let (after, effect) = apply(&state, &undefined(), t0() + days(1), &policy());
        assert_eq!(effect, Effect::Counted { error_count: n });
        assert_eq!(after.status, AddressStatus::WithErrors);
        state = after;
    }
    assert_eq!(
        state.error_count, 8,
        "past the threshold, still not quarantined"
    );
    // A Soft failure quarantines when the count, after it is raised, reaches the threshold.
    let (after, effect) = apply(&state, &soft(), t0() + days(2), &policy());
    assert_eq!(after.status, AddressStatus::Quarantine);
    assert_eq!(effect, Effect::Quarantined);
}

#[test]
fn rule_undefined_of_another_reason_is_a_new_first_occurrence() {
    // "How a failure moves an address": a repeat is the same undefined error again.
    let state = apply(&valid(), &undefined(), t0(), &policy()).0;
    let other = failure(Some(FailureType::Undefined), Some(FailureReason::Undefined));
    let (after, effect) = apply(&state, &other, t0(), &policy());
    assert_eq!(effect, Effect::UnderQualification);
    assert_eq!(after.error_count, 0);
}

#[test]
fn rule_success_sets_with_errors_back_to_valid() {
    // "How a failure moves an address": a successful send to a With errors token sets it back
    // to Valid (counter reset).
    let state = apply(
        &apply(&valid(), &soft(), t0(), &policy()).0,
        &soft(),
        t0(),
        &policy(),
    )
    .0;
    assert_eq!(state.error_count, 2);
    let (after, effect) = apply(&state, &SendOutcome::Success, t0() + days(1), &policy());
    assert_eq!(effect, Effect::Cleared);
    assert_eq!(after.status, AddressStatus::Valid);
    assert_eq!(after.error_count, 0);
    assert_eq!(after.first_error_at, None);
    assert_eq!(after.last_modified, t0() + days(1));
    assert_eq!(
        after.last_failure_reason,
        Some(FailureReason::Refused),
        "history stays"
    );
}

#[test]
fn rule_success_on_a_clean_valid_address_changes_nothing() {
    let (after, effect) = apply(&valid(), &SendOutcome::Success, t0() + days(3), &policy());
    assert_eq!(after, valid());
    assert_eq!(effect, Effect::Unchanged);
}

#[test]
fn rule_success_never_lifts_quarantine_or_denylisted() {
    // "How a failure moves an address": Quarantine and Denylisted are never lifted by a success.
    let quarantined = apply(&valid(), &hard(), t0(), &policy()).0;
    let mut denylisted = valid();
    denylisted.status = AddressStatus::Denylisted;
    for state in [quarantined, denylisted] {
        let (after, effect) = apply(&state, &SendOutcome::Success, t0() + days(1), &policy());
        assert_eq!(after, state);
        assert_eq!(effect, Effect::Unchanged);
    }
}

#[test]
fn rule_allowlisted_ignores_every_error_reason_25() {
    // "Address statuses": Allowlisted (errors ignored; failure reason 25 "Error ignored").
    let mut allowlisted = valid();
    allowlisted.status = AddressStatus::Allowlisted;
    for outcome in [hard(), soft(), undefined(), ignored()] {
        let (after, effect) = apply(&allowlisted, &outcome, t0(), &policy());
        assert_eq!(after, allowlisted);
        assert_eq!(effect, Effect::ErrorIgnored);
    }
    assert_eq!(FailureReason::ErrorIgnored.value(), 25);
}

#[test]
fn rule_error_count_restarts_when_the_last_error_is_more_than_10_days_old() {
    // "How a failure moves an address": the error counter is reset when the last significant
    // error is more than 10 days old; the address becomes Valid again.
    let mut state = valid();
    for n in 0..4 {
        state = apply(&state, &soft(), t0() + days(n), &policy()).0;
    }
    assert_eq!(state.error_count, 4);
    let last_error = t0() + days(3);
    // Exactly 10 days later the episode is still open: the 5th soft error quarantines.
    let (at_ten, _) = apply(&state, &soft(), last_error + days(10), &policy());
    assert_eq!(at_ten.status, AddressStatus::Quarantine);
    // More than 10 days later the count restarts at 1.
    let later = last_error + days(10) + chrono::TimeDelta::seconds(1);
    let (after, effect) = apply(&state, &soft(), later, &policy());
    assert_eq!(effect, Effect::Counted { error_count: 1 });
    assert_eq!(after.first_error_at, Some(later), "a new episode starts");
}

#[test]
fn rule_cleanup_sets_with_errors_valid_after_10_days() {
    // "Scheduled jobs", database cleanup: With errors addresses whose last soft error is over
    // 10 days old become Valid and leave the quarantine list.
    let state = apply(&valid(), &soft(), t0(), &policy()).0;
    assert_eq!(cleanup(&state, t0() + days(10), &policy()), None);
    let later = t0() + days(11);
    let cleaned = cleanup(&state, later, &policy()).expect("released");
    assert_eq!(cleaned.status, AddressStatus::Valid);
    assert_eq!(cleaned.error_count, 0);
    assert_eq!(cleaned.last_modified, later);
    // An undefined error under qualification ages out the same way.
    let pending = apply(&valid(), &undefined(), t0(), &policy()).0;
    assert!(cleanup(&pending, later, &policy()).is_some());
    assert_eq!(
        cleanup(&valid(), later, &policy()),
        None,
        "nothing to clean on a clean address"
    );
}

#[test]
fn rule_cleanup_sets_mailbox_full_valid_30_days_after_the_first_error() {
    // "Scheduled jobs", database cleanup: With errors addresses whose error was Mailbox full
    // become Valid after 30 days.
    let mailbox_full = failure(Some(FailureType::Soft), Some(FailureReason::MailboxFull));
    let mut state = valid();
    // An error every 8 days keeps the 10-day rule from firing.
    for n in [0, 8, 16, 24] {
        state = apply(&state, &mailbox_full, t0() + days(n), &policy()).0;
    }
    assert_eq!(state.status, AddressStatus::WithErrors);
    assert_eq!(cleanup(&state, t0() + days(30), &policy()), None);
    let cleaned = cleanup(&state, t0() + days(31), &policy()).expect("released");
    assert_eq!(cleaned.status, AddressStatus::Valid);
    // Another soft reason with the same history is not released by the 30-day rule.
    let mut refused = state.clone();
    refused.last_failure_reason = Some(FailureReason::Refused);
    assert_eq!(cleanup(&refused, t0() + days(31), &policy()), None);
}

#[test]
fn rule_cleanup_never_lifts_quarantine_denylisted_or_allowlisted() {
    // "Scheduled jobs": nothing lifts Quarantine or Denylisted.
    let quarantined = apply(&valid(), &hard(), t0(), &policy()).0;
    let mut denylisted = quarantined.clone();
    denylisted.status = AddressStatus::Denylisted;
    let mut allowlisted = quarantined.clone();
    allowlisted.status = AddressStatus::Allowlisted;
    for state in [quarantined, denylisted, allowlisted] {
        assert_eq!(
            cleanup(&state, t0() + days(400), &policy()),
            None,
            "{}",
            state.status
        );
    }
}

#[test]
fn policy_validation_refuses_values_that_cannot_work() {
    let zero = QuarantinePolicy {
        soft_error_threshold: 0,
        ..policy()
    };
    assert_eq!(
        zero.validate().unwrap_err().to_string(),
        "soft_error_threshold must be at least 1, got 0"
    );
    let zero_age = QuarantinePolicy {
        error_reset_after_days: 0,
        ..policy()
    };
    assert_eq!(
        zero_age.validate().unwrap_err().to_string(),
        "error_reset_after_days must be at least 1 day, got 0"
    );
    assert_eq!(policy().validate(), Ok(()));
}

#[test]
fn rule_re_registration_after_the_410_timestamp_releases_an_unregistered_token() {
    // DESIGN, re-registration: a token quarantined as unregistered that is registered again
    // after its 410 timestamp (or, without one, after the quarantine date) is released.
    use pushgate_quarantine::released_by_registration;
    let quarantined = apply(&valid(), &hard(), t0() + days(2), &policy()).0;
    let timestamp = t0() + days(1);
    assert!(released_by_registration(
        &quarantined,
        Some(timestamp),
        timestamp + days(1)
    ));
    assert!(!released_by_registration(
        &quarantined,
        Some(timestamp),
        timestamp
    ));
    assert!(!released_by_registration(
        &quarantined,
        Some(timestamp),
        t0()
    ));
    // Without a timestamp, the quarantine date counts.
    assert!(!released_by_registration(
        &quarantined,
        None,
        t0() + days(2)
    ));
    assert!(released_by_registration(&quarantined, None, t0() + days(3)));
    // Only unregistered (User unknown) quarantines, and only Quarantine.
    let refused = failure(Some(FailureType::Hard), Some(FailureReason::Refused));
    let other = apply(&valid(), &refused, t0(), &policy()).0;
    assert!(!released_by_registration(&other, None, t0() + days(5)));
    let mut denylisted = quarantined.clone();
    denylisted.status = AddressStatus::Denylisted;
    assert!(!released_by_registration(&denylisted, None, t0() + days(5)));
}
