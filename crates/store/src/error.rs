//! The store's error type.

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no supported database (only its scheme is shown: URLs hold passwords).
    #[error("unsupported database url scheme {scheme:?}: use sqlite: or postgres:")]
    UnsupportedUrl {
        /// The URL's scheme.
        scheme: String,
    },
    /// The database cannot be reached or opened.
    #[error("cannot connect to the database")]
    Connect(#[source] sqlx::Error),
    /// The embedded migrations failed.
    #[error("database migration failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database query failed")]
    Query(#[from] sqlx::Error),
    /// A row holds a value the code does not know (a status, a reason...).
    #[error("unexpected value in the database: {0}")]
    Corrupt(String),
    /// A caller passed a value the store cannot use.
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// The app is not known to the store.
    #[error("unknown app {0:?}")]
    UnknownApp(String),
    /// Another transaction wrote rows this one meant to create; nothing of this one is
    /// kept, and trying again reads what the other wrote.
    #[error("a concurrent transaction wrote the same rows: {0}")]
    Conflict(&'static str),
}

impl StoreError {
    pub(crate) fn connect(error: sqlx::Error) -> Self {
        Self::Connect(error)
    }

    pub(crate) fn corrupt(what: impl std::fmt::Display) -> Self {
        Self::Corrupt(what.to_string())
    }
}
