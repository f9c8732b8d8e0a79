//! Tests of the outcome table and its classifiers, one module per concern.

mod apns;
mod conformance;
mod fcm;
mod legacy;
mod never_panics;
mod oauth;
