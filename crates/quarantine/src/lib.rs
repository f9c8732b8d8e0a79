//! The address quarantine state machine of `quarantine-rules.md`, as pure functions.
//!
//! For push, the quarantined item is the device token (the "address"). Every send result,
//! once classified through the outcome table, moves the token's [`AddressState`] through
//! [`apply`]; the daily cleanup moves it through [`cleanup`]. Nothing here does I/O or
//! reads the clock: the caller passes `now`, so the store can persist exactly what these
//! functions return and tests can travel in time.
//!
//! # Layout
//! - [`state`]: [`AddressStatus`] and [`AddressState`], one token's quarantine record.
//! - [`policy`]: [`QuarantinePolicy`], the configurable threshold and ages.
//! - [`rules`]: the time rules (10-day error reset, 30-day Mailbox-full release), each in
//!   one function that both `apply` and `cleanup` call, and the re-registration rule.
//! - [`apply`](mod@apply): [`apply`], [`SendOutcome`] and the [`Effect`] it reports.
//! - [`cleanup`](mod@cleanup): [`cleanup`], the daily job's rule for one address.

pub mod apply;
pub mod cleanup;
pub mod policy;
pub mod rules;
pub mod state;

pub use apply::{Effect, Failure, SendOutcome, apply};
pub use cleanup::cleanup;
pub use policy::{PolicyError, QuarantinePolicy};
pub use rules::released_by_registration;
pub use state::{AddressState, AddressStatus};
