//! Integration tests of the mocks: every behaviour over real TLS and HTTP/2, with plain
//! clients (hyper's HTTP/2 client over tokio-rustls, and reqwest).
//!
//! Set `PUSHGATE_TEST_LOG=debug` to see the mocks' tracing.

mod helpers;

mod admin;
mod apns;
mod faults;
mod fcm;
mod oauth;
mod scripting;
mod transport;
