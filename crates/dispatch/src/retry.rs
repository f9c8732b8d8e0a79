//! What happens to a message after an attempt: final, or retried later within the
//! validity period (`quarantine-rules.md`, "Retries").

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use pushgate_outcome::{Classification, MessageStatus};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Backoff between a message's attempts inside one delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Delay before the second attempt, in seconds; each further attempt doubles it.
    pub initial_backoff_secs: u64,
    /// The longest delay between two attempts, in seconds.
    pub max_backoff_secs: u64,
    /// Random spread of each delay, as a fraction (0.2: ±20%), so that retries of one
    /// delivery do not all come back at once.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial_backoff_secs: 60,
            max_backoff_secs: 3600,
            jitter: 0.2,
        }
    }
}

/// A retry policy value that cannot work.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RetryPolicyError {
    /// The initial backoff is zero or above the maximum.
    #[error("initial_backoff_secs must be between 1 and max_backoff_secs ({max}), got {initial}")]
    Backoff {
        /// The initial backoff.
        initial: u64,
        /// The maximum.
        max: u64,
    },
    /// The jitter is not a fraction in [0, 1).
    #[error("jitter must be at least 0 and below 1, got {0}")]
    Jitter(f64),
}

impl RetryPolicy {
    /// Checks that the values can work; configuration loading calls it.
    pub fn validate(&self) -> Result<(), RetryPolicyError> {
        if self.initial_backoff_secs == 0 || self.initial_backoff_secs > self.max_backoff_secs {
            return Err(RetryPolicyError::Backoff {
                initial: self.initial_backoff_secs,
                max: self.max_backoff_secs,
            });
        }
        if !(0.0..1.0).contains(&self.jitter) {
            return Err(RetryPolicyError::Jitter(self.jitter));
        }
        Ok(())
    }

    /// The delay after `attempts` attempts (1 for the first), before jitter.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(32);
        let delay = self.initial_backoff_secs.saturating_mul(1 << doublings);
        Duration::from_secs(delay.min(self.max_backoff_secs))
    }
}

/// Where a message goes after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Nothing more happens to it: `Sent` or `Failed`.
    Final(MessageStatus),
    /// Attempt it again at this time.
    RetryAt(DateTime<Utc>),
}

impl Disposition {
    /// A token in quarantine or on the denylist (this failure put it there, or another
    /// delivery did) gets no more attempts: a retry becomes a final failure.
    #[must_use]
    pub fn for_address(self, excluded: bool) -> Self {
        match self {
            Self::RetryAt(_) if excluded => Self::Final(MessageStatus::Failed),
            other => other,
        }
    }
}

/// The retry rule: an accepted message is `Sent`; a failure whose row says retry Yes is
/// attempted again after the backoff (never sooner than the provider's Retry-After) if
/// that is still inside the validity period; every other failure, and a retry that would
/// fall after the period's end, is `Failed`.
pub fn disposition(
    classification: &Classification,
    attempts: u32,
    retry_after: Option<Duration>,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    policy: &RetryPolicy,
) -> Disposition {
    match classification {
        Classification::Accepted { .. } => return Disposition::Final(MessageStatus::Sent),
        Classification::Rejected { .. } if classification.retry() != Some(true) => {
            return Disposition::Final(MessageStatus::Failed);
        }
        Classification::Rejected { .. } => {}
    }
    let backoff = policy.backoff(attempts);
    let spread = if policy.jitter > 0.0 {
        rand::rng().random_range(1.0 - policy.jitter..1.0 + policy.jitter)
    } else {
        1.0
    };
    let delay = backoff.mul_f64(spread).max(retry_after.unwrap_or_default());
    let at = TimeDelta::from_std(delay)
        .ok()
        .and_then(|delay| now.checked_add_signed(delay));
    match at {
        Some(at) if at < expires_at => Disposition::RetryAt(at),
        _ => Disposition::Final(MessageStatus::Failed),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use pushgate_outcome::apns::{ApnsResult, Transport, classify};

    use super::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap()
    }

    fn no_jitter() -> RetryPolicy {
        RetryPolicy {
            initial_backoff_secs: 60,
            max_backoff_secs: 600,
            jitter: 0.0,
        }
    }

    #[test]
    fn rule_retry_yes_is_retried_with_exponential_backoff_inside_the_validity_period() {
        // quarantine-rules.md, "Retries": a failure whose retry flag is Yes is retried until
        // the end of the validity period.
        let lost = classify(&ApnsResult::Transport(Transport::Reset));
        assert_eq!(lost.retry(), Some(true));
        let expires = t0() + TimeDelta::hours(1);
        for (attempts, delay) in [(1, 60), (2, 120), (3, 240), (4, 480), (5, 600), (30, 600)] {
            assert_eq!(
                disposition(&lost, attempts, None, t0(), expires, &no_jitter()),
                Disposition::RetryAt(t0() + TimeDelta::seconds(delay)),
                "after attempt {attempts}"
            );
        }
    }

    #[test]
    fn rule_a_retry_after_the_validity_period_fails_the_message() {
        // quarantine-rules.md, "Retries": undelivered when the validity period ends -> Failed.
        let lost = classify(&ApnsResult::Transport(Transport::Timeout));
        let expires = t0() + TimeDelta::seconds(59);
        assert_eq!(
            disposition(&lost, 1, None, t0(), expires, &no_jitter()),
            Disposition::Final(MessageStatus::Failed)
        );
    }

    #[test]
    fn rule_retry_after_from_the_provider_is_honoured() {
        let lost = classify(&ApnsResult::Transport(Transport::Reset));
        let expires = t0() + TimeDelta::hours(1);
        let at = disposition(
            &lost,
            1,
            Some(Duration::from_secs(900)),
            t0(),
            expires,
            &no_jitter(),
        );
        assert_eq!(at, Disposition::RetryAt(t0() + TimeDelta::seconds(900)));
        let shorter = disposition(
            &lost,
            1,
            Some(Duration::from_secs(5)),
            t0(),
            expires,
            &no_jitter(),
        );
        assert_eq!(
            shorter,
            Disposition::RetryAt(t0() + TimeDelta::seconds(60)),
            "never sooner than the backoff"
        );
    }

    #[test]
    fn rule_retry_no_is_final_and_success_is_sent() {
        // quarantine-rules.md, "Retries": some soft push errors are not retried (flag No).
        let other = classify(&ApnsResult::Response {
            status: 400,
            body: br#"{"reason":"BadTopic"}"#,
        });
        assert_eq!(other.retry(), Some(false));
        let expires = t0() + TimeDelta::hours(1);
        assert_eq!(
            disposition(&other, 1, None, t0(), expires, &no_jitter()),
            Disposition::Final(MessageStatus::Failed)
        );
        let ok = classify(&ApnsResult::Response {
            status: 200,
            body: b"",
        });
        assert_eq!(
            disposition(&ok, 1, None, t0(), expires, &no_jitter()),
            Disposition::Final(MessageStatus::Sent)
        );
    }

    #[test]
    fn jitter_spreads_delays_within_its_fraction() {
        let policy = RetryPolicy {
            jitter: 0.2,
            ..no_jitter()
        };
        let lost = classify(&ApnsResult::Transport(Transport::Reset));
        let expires = t0() + TimeDelta::hours(1);
        for _ in 0..200 {
            let Disposition::RetryAt(at) = disposition(&lost, 1, None, t0(), expires, &policy)
            else {
                panic!("retried");
            };
            let delay = (at - t0()).num_milliseconds();
            assert!((48_000..=72_000).contains(&delay), "{delay} ms");
        }
    }

    #[test]
    fn rule_a_quarantined_token_gets_no_more_attempts() {
        // A retryable failure on a token now in Quarantine or Denylisted ends the message.
        let retry = Disposition::RetryAt(t0());
        assert_eq!(
            retry.for_address(true),
            Disposition::Final(MessageStatus::Failed)
        );
        assert_eq!(retry.for_address(false), retry);
        let sent = Disposition::Final(MessageStatus::Sent);
        assert_eq!(sent.for_address(true), sent);
    }

    #[test]
    fn policy_validation_names_the_bad_value() {
        let zero = RetryPolicy {
            initial_backoff_secs: 0,
            ..no_jitter()
        };
        assert_eq!(
            zero.validate().unwrap_err().to_string(),
            "initial_backoff_secs must be between 1 and max_backoff_secs (600), got 0"
        );
        let jitter = RetryPolicy {
            jitter: 1.5,
            ..no_jitter()
        };
        assert_eq!(
            jitter.validate().unwrap_err().to_string(),
            "jitter must be at least 0 and below 1, got 1.5"
        );
        assert_eq!(RetryPolicy::default().validate(), Ok(()));
    }
}
