//! What went wrong in storage, by cause; constraint violations become domain errors here, never in handlers.

use sea_orm::{DbErr, SqlErr};

/// What went wrong in storage, by cause.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("unsupported database url: expected sqlite: or postgres://")]
    UnsupportedUrl,
    #[error("cannot open the database")]
    Connect(#[source] DbErr),
    #[error("migration failed")]
    Migrate(#[source] DbErr),
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    #[error("{entity} already exists")]
    AlreadyExists { entity: &'static str },
    #[error("stored {entity} is unreadable: {reason}")]
    Corrupt {
        entity: &'static str,
        reason: String,
    },
    #[error("database error")]
    Database(#[source] DbErr),
    #[error("the commit failed: {0}")]
    CommitFailed(String),
    #[error("the writer stopped before answering")]
    WriterStopped,
    /// The stored object is no longer in the state the change needs.
    #[error("{0}")]
    Precondition(&'static str),
    /// A value to store does not fit its column: a defect upstream, never clipped.
    #[error("{column} value {value} does not fit its column")]
    OutOfRange { column: &'static str, value: String },
}

impl StorageError {
    /// Classifies a database error: constraint violations become domain errors here, never in handlers.
    pub(super) fn classify(err: DbErr, unique: &'static str, reference: &'static str) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                StorageError::AlreadyExists { entity: unique }
            }
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => {
                StorageError::NotFound { entity: reference }
            }
            _ => StorageError::Database(err),
        }
    }
}

impl From<DbErr> for StorageError {
    fn from(err: DbErr) -> Self {
        StorageError::Database(err)
    }
}

/// Why a change to a report (or to many) did not happen.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError<E> {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("report not found")]
    NotFound,
    /// The caller's etag is not the current version.
    #[error("stale version")]
    Stale,
    /// The change itself refused.
    #[error("change refused")]
    Refused(E),
}
