//! Global faults: error rate, random stream resets, GOAWAY after N streams, latency and
//! an OAuth outage window.
//!
//! Faults model the server having a bad day, so they act before request validation:
//! an overloaded server answers 503 whatever the request. They apply to the services
//! listed in [`Faults::services`] (APNs and FCM by default); the OAuth outage is apart.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::Service;
use crate::error::MockError;

/// The global faults. `Faults::default()` is no fault at all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Fraction (0 to 1) of requests answered with an error from `error_statuses`.
    pub error_rate: f64,
    /// The statuses the error rate picks from (uniformly): 429, 500 and/or 503, answered
    /// with the service's own body (APNs TooManyRequests / InternalServerError /
    /// ServiceUnavailable, FCM QUOTA_EXCEEDED / INTERNAL / UNAVAILABLE).
    pub error_statuses: Vec<u16>,
    /// `Retry-After` seconds sent with the error-rate answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
    /// Fraction (0 to 1) of streams reset with INTERNAL_ERROR before any answer.
    pub reset_rate: f64,
    /// After this many streams a connection is closed with GOAWAY: the N-th stream is
    /// answered, later ones are refused (REFUSED_STREAM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goaway_after_streams: Option<u64>,
    /// Added latency before every answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    /// A window during which the OAuth token endpoint is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth_outage: Option<Outage>,
    /// The services the error rate, resets, GOAWAY and latency apply to.
    pub services: Vec<Service>,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            error_rate: 0.0,
            error_statuses: vec![429, 500, 503],
            retry_after_secs: None,
            reset_rate: 0.0,
            goaway_after_streams: None,
            latency: None,
            oauth_outage: None,
            services: vec![Service::Apns, Service::Fcm],
        }
    }
}

/// A latency distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Latency {
    /// Always the same delay.
    Fixed {
        /// The delay.
        #[serde(with = "crate::config::duration")]
        delay: Duration,
    },
    /// Uniform between `min` and `max`.
    Uniform {
        /// Shortest delay.
        #[serde(with = "crate::config::duration")]
        min: Duration,
        /// Longest delay.
        #[serde(with = "crate::config::duration")]
        max: Duration,
    },
    /// `base` plus an exponential jitter of mean `mean` (a long tail).
    Exponential {
        /// Fixed part.
        #[serde(with = "crate::config::duration")]
        base: Duration,
        /// Mean of the exponential part.
        #[serde(with = "crate::config::duration")]
        mean: Duration,
    },
    /// A table of (probability, delay); the probabilities add up to at most 1 and the
    /// rest gets no delay.
    Table {
        /// The entries.
        entries: Vec<LatencyEntry>,
    },
}

/// One entry of [`Latency::Table`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyEntry {
    /// Probability of this delay.
    pub probability: f64,
    /// The delay.
    #[serde(with = "crate::config::duration")]
    pub delay: Duration,
}

impl Latency {
    fn sample(&self, rng: &mut impl Rng) -> Duration {
        match self {
            Self::Fixed { delay } => *delay,
            Self::Uniform { min, max } => {
                let (lo, hi) = (min.as_secs_f64(), max.as_secs_f64().max(min.as_secs_f64()));
                Duration::from_secs_f64(lo + rng.random::<f64>() * (hi - lo))
            }
            Self::Exponential { base, mean } => {
                let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
                let jitter = (-u.ln() * mean.as_secs_f64()).min(3600.0);
                *base + Duration::from_secs_f64(jitter)
            }
            Self::Table { entries } => {
                let mut roll: f64 = rng.random();
                for entry in entries {
                    if roll < entry.probability {
                        return entry.delay;
                    }
                    roll -= entry.probability;
                }
                Duration::ZERO
            }
        }
    }
}

/// An OAuth outage window: from `from_unix_ms` (default: when set) until `until_unix_ms`,
/// or for `for` from when the faults are set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outage {
    /// Start, epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_unix_ms: Option<u64>,
    /// End, epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_unix_ms: Option<u64>,
    /// Length from when the faults are set (turned into `until_unix_ms` then).
    #[serde(
        rename = "for",
        default,
        with = "duration_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub duration: Option<Duration>,
    /// What the endpoint does meanwhile.
    #[serde(default)]
    pub mode: OutageMode,
}

/// What the OAuth endpoint does during an outage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutageMode {
    /// 503 `{"error":"temporarily_unavailable", ...}`.
    #[default]
    Unavailable,
    /// New connections are closed at once (before TLS); requests on open connections are
    /// reset.
    Refuse,
}

mod duration_opt {
    use std::time::Duration;

    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => crate::config::duration::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        crate::config::duration::deserialize(d).map(Some)
    }
}

pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Faults {
    /// Checks the settings and turns `for` windows into absolute ones.
    pub(crate) fn resolve(mut self, now: SystemTime) -> Result<Self, MockError> {
        let err = |m: &str| Err(MockError::Scenario(m.to_owned()));
        let fraction = |x: f64| (0.0..=1.0).contains(&x);
        if !fraction(self.error_rate) || !fraction(self.reset_rate) {
            return err("error_rate and reset_rate are fractions between 0 and 1");
        }
        if self.error_rate > 0.0 && self.error_statuses.is_empty() {
            return err("error_rate needs at least one of error_statuses");
        }
        if let Some(bad) = self
            .error_statuses
            .iter()
            .find(|s| !matches!(s, 429 | 500 | 503))
        {
            return Err(MockError::Scenario(format!(
                "error_statuses may hold 429, 500 and 503, not {bad}"
            )));
        }
        if self.goaway_after_streams == Some(0) {
            return err("goaway_after_streams must be at least 1");
        }
        if let Some(Latency::Table { entries }) = &self.latency {
            let total: f64 = entries.iter().map(|e| e.probability).sum();
            if entries.iter().any(|e| !fraction(e.probability)) || total > 1.0 + 1e-9 {
                return err("latency table probabilities must add up to at most 1");
            }
        }
        if let Some(outage) = &mut self.oauth_outage {
            let now_ms = unix_ms(now);
            if let Some(d) = outage.duration.take() {
                let from = outage.from_unix_ms.unwrap_or(now_ms);
                let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
                outage.until_unix_ms = Some(from.saturating_add(ms));
            }
            outage.from_unix_ms.get_or_insert(now_ms);
            if outage.until_unix_ms.is_none() {
                return err("oauth_outage needs until_unix_ms or for");
            }
        }
        Ok(self)
    }

    fn is_noop(&self) -> bool {
        self.error_rate == 0.0
            && self.reset_rate == 0.0
            && self.goaway_after_streams.is_none()
            && self.latency.is_none()
            && self.oauth_outage.is_none()
    }
}

/// What the faults decided for one request.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sampled {
    /// Reset the stream.
    pub reset: bool,
    /// Answer this error status (429/500/503).
    pub error: Option<u16>,
    /// Wait this long before answering.
    pub latency: Option<Duration>,
}

/// The faults in force, shared by every connection.
#[derive(Debug, Default)]
pub(crate) struct FaultState {
    current: RwLock<Arc<Faults>>,
    /// Fast path: false while no fault is set.
    active: AtomicBool,
}

impl FaultState {
    pub(crate) fn set(&self, faults: Faults) -> Result<(), MockError> {
        let faults = faults.resolve(SystemTime::now())?;
        let active = !faults.is_noop();
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(faults);
        self.active.store(active, Ordering::Release);
        Ok(())
    }

    pub(crate) fn get(&self) -> Faults {
        (**self.current.read().unwrap_or_else(|e| e.into_inner())).clone()
    }

    fn current(&self) -> Option<Arc<Faults>> {
        if !self.active.load(Ordering::Acquire) {
            return None;
        }
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }

    /// Draws the per-request faults for `service`.
    pub(crate) fn sample(&self, service: Service) -> Sampled {
        let Some(f) = self.current() else {
            return Sampled::default();
        };
        if !f.services.contains(&service) {
            return Sampled::default();
        }
        let mut rng = rand::rng();
        let reset = f.reset_rate > 0.0 && rng.random::<f64>() < f.reset_rate;
        let error = (f.error_rate > 0.0 && rng.random::<f64>() < f.error_rate)
            .then(|| f.error_statuses[rng.random_range(0..f.error_statuses.len())]);
        let latency = f.latency.as_ref().map(|l| l.sample(&mut rng));
        Sampled {
            reset,
            error,
            latency: latency.filter(|d| !d.is_zero()),
        }
    }

    /// The `Retry-After` for error-rate answers.
    pub(crate) fn retry_after(&self) -> Option<u64> {
        self.current().and_then(|f| f.retry_after_secs)
    }

    /// The stream count after which a connection of `service` gets GOAWAY.
    pub(crate) fn goaway_after(&self, service: Service) -> Option<u64> {
        let f = self.current()?;
        f.services
            .contains(&service)
            .then_some(f.goaway_after_streams)
            .flatten()
    }

    /// The OAuth outage mode in force now, if any.
    pub(crate) fn oauth_outage(&self, now: SystemTime) -> Option<OutageMode> {
        let f = self.current()?;
        let outage = f.oauth_outage.as_ref()?;
        let now = unix_ms(now);
        let from = outage.from_unix_ms.unwrap_or(0);
        let until = outage.until_unix_ms.unwrap_or(0);
        (from <= now && now < until).then_some(outage.mode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn for_windows_become_absolute() {
        let now = UNIX_EPOCH + Duration::from_secs(1000);
        let faults: Faults =
            serde_json::from_str(r#"{"oauth_outage":{"for":"5s","mode":"refuse"}}"#).unwrap();
        let f = faults.resolve(now).unwrap();
        let outage = f.oauth_outage.unwrap();
        assert_eq!(outage.from_unix_ms, Some(1_000_000));
        assert_eq!(outage.until_unix_ms, Some(1_005_000));
        assert_eq!(outage.mode, OutageMode::Refuse);
    }

    #[test]
    fn bad_settings_are_refused() {
        for json in [
            r#"{"error_rate":1.5}"#,
            r#"{"error_rate":0.5,"error_statuses":[404]}"#,
            r#"{"goaway_after_streams":0}"#,
            r#"{"oauth_outage":{}}"#,
            r#"{"latency":{"kind":"table","entries":[{"probability":0.8,"delay":"1s"},{"probability":0.8,"delay":"2s"}]}}"#,
        ] {
            let faults: Faults = serde_json::from_str(json).unwrap();
            assert!(faults.resolve(SystemTime::now()).is_err(), "{json}");
        }
    }

    #[test]
    fn sampling_follows_the_rates() {
        let state = FaultState::default();
        assert_eq!(state.sample(Service::Apns), Sampled::default());
        state
            .set(Faults {
                error_rate: 1.0,
                error_statuses: vec![503],
                latency: Some(Latency::Fixed {
                    delay: Duration::from_millis(5),
                }),
                ..Faults::default()
            })
            .unwrap();
        let s = state.sample(Service::Fcm);
        assert_eq!(s.error, Some(503));
        assert_eq!(s.latency, Some(Duration::from_millis(5)));
        assert!(!s.reset);
        assert_eq!(state.sample(Service::OAuth), Sampled::default());
    }

    #[test]
    fn latency_distributions_stay_in_range() {
        let mut rng = rand::rng();
        let uniform = Latency::Uniform {
            min: Duration::from_millis(10),
            max: Duration::from_millis(20),
        };
        let exp = Latency::Exponential {
            base: Duration::from_millis(10),
            mean: Duration::from_millis(5),
        };
        for _ in 0..1000 {
            let d = uniform.sample(&mut rng);
            assert!(d >= Duration::from_millis(10) && d <= Duration::from_millis(20));
            assert!(exp.sample(&mut rng) >= Duration::from_millis(10));
        }
    }
}
