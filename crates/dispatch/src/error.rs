//! The dispatcher's error type.

use pushgate_store::StoreError;

/// What can go wrong while dispatching.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A delivery's app has no sender configured.
    #[error("no sender is configured for app {0:?}")]
    NoSender(String),
    /// Something that should not happen did; the message says what.
    #[error("internal error: {0}")]
    Internal(&'static str),
}
