//! The validity period of a delivery, capped at 3.5 days.

use std::time::Duration;

use serde::Serialize;

/// The longest validity period a delivery can have (`quarantine-rules.md`, "Retries"):
/// 3.5 days. A longer value is not honoured.
pub const MAX_VALIDITY: Duration = Duration::from_secs(84 * 3600);

/// A delivery's validity period: what was asked for and what is in effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Validity {
    /// The period in effect.
    pub effective: Duration,
    /// The period asked for.
    pub requested: Duration,
}

impl Validity {
    /// The period for a request: capped at [`MAX_VALIDITY`].
    pub fn capped(requested: Duration) -> Self {
        Self {
            effective: requested.min(MAX_VALIDITY),
            requested,
        }
    }

    /// Whether the request was longer than the cap.
    pub fn was_capped(&self) -> bool {
        self.effective < self.requested
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_validity_period_is_capped_at_three_and_a_half_days() {
        // quarantine-rules.md, "Retries": the validity period is capped at 3.5 days.
        assert_eq!(MAX_VALIDITY, Duration::from_secs(302_400));
        let five_days = Validity::capped(Duration::from_secs(5 * 86_400));
        assert_eq!(five_days.effective, MAX_VALIDITY);
        assert!(five_days.was_capped());
        let one_day = Validity::capped(Duration::from_secs(86_400));
        assert_eq!(one_day.effective, Duration::from_secs(86_400));
        assert!(!one_day.was_capped());
        assert!(!Validity::capped(MAX_VALIDITY).was_capped());
    }
}
