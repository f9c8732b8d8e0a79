//! pushgate: a push-notification dispatcher with device-token quarantine.
//!
//! This crate is the binary's library half: configuration, the HTTP API, the command line
//! and the wiring of the crates below it (`pushgate-store`, `pushgate-dispatch`, the
//! senders, the bundled mocks). The rules live in those crates; this one only connects
//! them to the outside world.
//!
//! # Layout
//! - [`config`]: the [`config::Config`] file with `PUSHGATE_...` overrides, checked whole.
//! - [`telemetry`]: the tracing subscriber (installed by the binary only).
//! - [`app`]: building everything from a configuration ([`app::Pushgate`]), job runs and
//!   the queue-depth gauge.
//! - [`senders`]: one APNs or FCM sender per app.
//! - [`mock_mode`]: the bundled mocks started in-process, with their credentials.
//! - [`api`]: the HTTP API (router, auth, errors, handlers, OpenAPI) and `api::run`.
//! - [`render`]: reports as tables and CSV.
//! - [`cli`]: the clap command tree and one module per subcommand.

pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod mock_mode;
pub mod render;
pub mod senders;
pub mod telemetry;
