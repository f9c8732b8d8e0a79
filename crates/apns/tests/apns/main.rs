//! Integration tests of the APNs sender against the mock APNs over real TLS and HTTP/2.
//! Each test starts its own mock on port 0 with a freshly generated key.
//! `PUSHGATE_TEST_LOG=debug` shows the sender's tracing.

mod auth;
mod helpers;
mod rows;
mod token;
mod transport;
