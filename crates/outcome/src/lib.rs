//! The push outcome tables as data, and pure classifiers from raw provider results to rows.
//!
//! Every answer a provider gives (or fails to give) lands on exactly one row of
//! `push-outcomes.tsv`: a status, a failure type, a failure reason, a retry flag and an
//! error message. This crate holds those rows as static data and the functions that pick
//! the row; it does no I/O. The senders produce the raw results, the dispatcher carries
//! the row out (message status, retries, quarantine).
//!
//! # Layout
//! - [`reason`]: [`FailureType`] and [`FailureReason`] with their technical values.
//! - [`status`]: [`SendStatus`] (the tables' `OK`/`Failed`) and [`MessageStatus`].
//! - [`table`]: [`Outcome`] rows, [`OutcomeId`], and the [`OUTCOMES`] table.
//! - [`classification`]: [`Classification`], what every classifier returns.
//! - [`apns`], [`fcm`], [`oauth`], [`legacy`]: one classifier per provider table, with the
//!   protocol facts (limits, reasons, retryable statuses) that the senders and the mocks
//!   share.

pub mod apns;
pub mod classification;
pub mod fcm;
pub mod legacy;
pub mod oauth;
pub mod reason;
pub mod status;
pub mod table;

pub use classification::{Classification, Summary};
pub use reason::{FailureReason, FailureType, UnknownName};
pub use status::{MessageStatus, SendStatus};
pub use table::{ErrorMessage, OUTCOMES, Outcome, OutcomeId, PushTable};
