//! The store's test suite, run against SQLite and PostgreSQL alike (see `support`).

mod support;

mod addresses;
mod analysis;
mod jobs;
mod queue;
mod reports;
mod subscriptions;
