//! End-to-end tests of `pushgate serve` and the command line: the real binary on port 0,
//! against the mock APNs/FCM/OAuth servers (in-process) and a fresh database per test.

mod support;

mod access;
mod bad_input;
mod commands;
mod flow;
mod jobs;
mod never_5xx;
mod operations;
mod shutdown;
