//! Integration tests of the FCM sender against `pushgate-mock` over real TLS and HTTP/2.
//!
//! Each test starts its own mocks on port 0 with a freshly generated service account and
//! trusts the mock CA through `trust_roots`. Tests are named after the row of
//! `push-outcomes.tsv` or the behaviour they check. `PUSHGATE_TEST_LOG=debug` turns
//! tracing on.

mod auth;
mod helpers;
mod key_file;
mod retry;
mod rows;
mod sending;
mod tokens;
mod transport;
