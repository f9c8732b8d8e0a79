//! pushgate's dispatcher: delivery analysis, the durable send pipeline with synchronous
//! quarantine and retries inside the validity period, and the scheduled jobs.
//!
//! The rules come from the crates below: the outcome table classifies every provider
//! answer (`pushgate-outcome`), the quarantine state machine moves addresses
//! (`pushgate-quarantine`), the store persists (`pushgate-store`). This crate carries them
//! out, in order, with bounded concurrency.
//!
//! # Layout
//! - [`notification`]: the notification a delivery carries, and its APNs and FCM forms.
//! - [`validity`]: the 3.5-day cap on a delivery's validity period.
//! - [`retry`]: what happens after an attempt (final, or retried with backoff).
//! - [`analysis`]: runs each delivery's analysis in batches.
//! - [`sender`]: what the pipeline needs from a provider client; [`providers`]: the APNs
//!   and FCM clients as such.
//! - [`pipeline`]: claim, send with bounded concurrency, write each batch's results and
//!   address states in one transaction (`record` does the writing).
//! - [`metrics`]: the names of the metrics it records.
//! - [`jobs`]: the opt-out sweep, the cleanup, and their scheduler.
//! - [`clock`]: where the time comes from, and the loop of periodic chores.
//! - [`error`](mod@error): [`DispatchError`].

pub mod analysis;
pub mod clock;
pub mod error;
pub mod jobs;
pub mod metrics;
pub mod notification;
pub mod pipeline;
pub mod providers;
mod record;
pub mod retry;
pub mod sender;
pub mod validity;

pub use error::DispatchError;
