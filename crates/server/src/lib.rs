//! pushgate: a push-notification dispatcher with device-token quarantine.
//!
//! This crate is the binary's library half: the command line, and later the HTTP API and
//! configuration. The rules live in the crates below it (`pushgate-outcome`,
//! `pushgate-quarantine`); this crate only wires them to the outside world.
//!
//! # Layout
//! - [`cli`]: the clap command tree and the subcommands (`outcome list`, `outcome classify`).

pub mod cli;
