//! Errors of the queue.

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed or is unreachable.
    #[error("job store: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("job store migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row does not decode (corrupt payload, unknown state).
    #[error("job store holds a bad row: {0}")]
    Corrupt(String),
}

/// Errors of the queue's domain operations.
#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No such job (or not visible to the caller).
    #[error("job not found")]
    NotFound,
    /// The job is not in a state that allows the operation.
    #[error("job is {0}")]
    WrongState(&'static str),
    /// The cron expression does not parse.
    #[error("bad cron expression {expr:?}: {why}")]
    BadCron {
        /// The expression.
        expr: String,
        /// Why it was refused.
        why: String,
    },
}
