//! Where the dispatcher reads the time, so that tests can move it, and the loop of its
//! periodic chores.

use std::ops::ControlFlow;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Runs `tick` every `period`, the first time at once, until `cancel` fires or `tick`
/// breaks; a tick that overruns its period delays the next instead of bunching them.
pub(crate) async fn every<F, Fut>(period: Duration, cancel: &CancellationToken, mut tick: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ControlFlow<()>>,
{
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = interval.tick() => {
                if tick().await.is_break() {
                    return;
                }
            }
        }
    }
}
