//! Backoff with jitter, and `Retry-After` parsing.
//!
//! The n-th retry waits `initial * 2^n`, capped, with "equal jitter": half of it fixed,
//! half random, so that many senders hit by the same 503 do not come back in step.

use std::time::{Duration, SystemTime};

use rand::Rng;

/// The wait before retry number `retry` (0 for the first retry).
pub(crate) fn backoff(initial: Duration, max: Duration, retry: u32) -> Duration {
    let exp = initial.saturating_mul(1u32 << retry.min(20)).min(max);
    let half = exp / 2;
    half + half.mul_f64(rand::rng().random::<f64>())
}

/// A `Retry-After` value: delay seconds or an HTTP date (a date in the past is zero).
pub(crate) fn parse_retry_after(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(text).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_with_jitter_and_stays_under_the_cap() {
        let (initial, max) = (Duration::from_millis(100), Duration::from_millis(1000));
        for retry in 0..40 {
            let expected = (initial * 2u32.pow(retry.min(10))).min(max);
            let got = backoff(initial, max, retry);
            assert!(got >= expected / 2 && got <= expected, "{retry}: {got:?}");
        }
    }

    #[test]
    fn reads_seconds_and_dates() {
        assert_eq!(parse_retry_after(" 5 "), Some(Duration::from_secs(5)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let later = SystemTime::now() + Duration::from_secs(120);
        let got = parse_retry_after(&httpdate::fmt_http_date(later)).unwrap();
        assert!(got > Duration::from_secs(100) && got <= Duration::from_secs(120));
        assert_eq!(parse_retry_after("soon"), None);
    }
}
