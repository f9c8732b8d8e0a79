//! Tests of the quarantine state machine: one test per rule of `quarantine-rules.md` that
//! concerns one address, and property tests for the invariants.

mod properties;
mod rules;
mod support;
