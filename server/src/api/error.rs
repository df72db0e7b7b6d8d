//! The API's error type and its one exhaustive mapping to `tonic::Status`, with google.rpc details and no internal text leaked.

use std::error::Error as StdError;
use std::fmt::Write as _;

use gridwhistle_domain::AccessError;
use tonic::Status;
use tracing::error;

use crate::auth::AuthError;
use crate::storage::StorageError;

/// One offending request field, named by its path in the request message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl ToString) -> Self {
        Self {
            field: field.into(),
            description: description.to_string(),
        }
    }
}

/// Everything a handler can fail with; turned into a `Status` only at the edge.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid argument")]
    InvalidArgument(Vec<FieldViolation>),
    #[error("unauthenticated")]
    Unauthenticated,
    #[error("permission denied")]
    PermissionDenied,
    /// Missing, or hidden from this caller: the two are never told apart.
    #[error("{resource} not found")]
    NotFound { resource: &'static str },
    /// A named object that is missing, where every caller may see every object of its kind, so naming it tells nothing.
    #[error("{0} not found")]
    NamedNotFound(String),
    #[error("{resource} already exists")]
    AlreadyExists { resource: &'static str },
    /// The object exists and the request disagrees with it, for the reason given.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),
    #[error("the object changed since it was read")]
    Aborted,
    /// The write may not have happened; retrying is safe because every write is idempotent or version-checked.
    #[error("unavailable")]
    Unavailable,
    #[error("{rpc} is not implemented yet")]
    Unimplemented { rpc: &'static str },
    #[error("internal error")]
    Internal(#[source] Box<dyn StdError + Send + Sync>),
}

impl ApiError {
    pub fn field(field: impl Into<String>, description: impl ToString) -> Self {
        ApiError::InvalidArgument(vec![FieldViolation::new(field, description)])
    }

    pub fn internal(err: impl StdError + Send + Sync + 'static) -> Self {
        ApiError::Internal(Box::new(err))
    }

    /// An access refusal about a `resource`; an object hidden from the caller looks missing.
    pub fn access(err: AccessError, resource: &'static str) -> Self {
        match err {
            AccessError::Forbidden { .. } => ApiError::PermissionDenied,
            AccessError::Hidden => ApiError::NotFound { resource },
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(err: StorageError) -> Self {
        match err {
            StorageError::NotFound { entity } => ApiError::NotFound { resource: entity },
            StorageError::AlreadyExists { entity } => ApiError::AlreadyExists { resource: entity },
            StorageError::Precondition(reason) => ApiError::FailedPrecondition(reason.to_owned()),
            StorageError::CommitFailed(_) | StorageError::WriterStopped => {
                error!(error = %err, "write not committed");
                ApiError::Unavailable
            }
            StorageError::UnsupportedUrl
            | StorageError::Connect(_)
            | StorageError::Migrate(_)
            | StorageError::Corrupt { .. }
            | StorageError::OutOfRange { .. }
            | StorageError::Database(_) => ApiError::internal(err),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::BadCredentials | AuthError::BadRefreshToken | AuthError::RefreshReplayed => {
                ApiError::Unauthenticated
            }
            AuthError::Storage(err) => ApiError::from(err),
            AuthError::Hash(_) | AuthError::Token(_) => ApiError::internal(err),
        }
    }
}

/// The error and every source under it, for logs.
fn cause_chain(err: &dyn StdError) -> String {
    let mut chain = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let _ = write!(chain, ": {cause}");
        source = cause.source();
    }
    chain
}

impl From<ApiError> for Status {
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::InvalidArgument(violations) => {
                let pairs: Vec<(&str, &str)> = violations
                    .iter()
                    .map(|v| (v.field.as_str(), v.description.as_str()))
                    .collect();
                gridwhistle_proto::codec::bad_request(&pairs)
            }
            ApiError::Unauthenticated => {
                Status::unauthenticated("wrong credentials or an invalid token")
            }
            ApiError::PermissionDenied => {
                Status::permission_denied("the caller's role may not do this")
            }
            ApiError::NotFound { resource } => Status::not_found(format!("{resource} not found")),
            ApiError::NamedNotFound(name) => Status::not_found(format!("{name} not found")),
            ApiError::AlreadyExists { resource } => {
                Status::already_exists(format!("{resource} already exists"))
            }
            ApiError::Conflict(reason) => Status::already_exists(reason),
            ApiError::FailedPrecondition(reason) => Status::failed_precondition(reason),
            ApiError::Aborted => {
                Status::aborted("the object changed since it was read; read it again and retry")
            }
            ApiError::Unavailable => Status::unavailable("the write was not committed; retry it"),
            ApiError::Unimplemented { rpc } => {
                Status::unimplemented(format!("{rpc} is not implemented yet"))
            }
            ApiError::Internal(source) => {
                error!(error = %cause_chain(source.as_ref()), "internal error");
                Status::internal("internal error")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use expect_test::{Expect, expect};
    use tonic_types::StatusExt;

    use super::*;

    fn check(errors: Vec<ApiError>, expect: Expect) {
        let mut table = String::new();
        for err in errors {
            let status = Status::from(err);
            let _ = write!(table, "{:?}: {}", status.code(), status.message());
            if let Some(bad_request) = status.get_details_bad_request() {
                for violation in bad_request.field_violations {
                    let _ = write!(table, " [{} => {}]", violation.field, violation.description);
                }
            }
            table.push('\n');
        }
        expect.assert_eq(&table);
    }

    #[test]
    fn every_api_error_maps_to_one_status_without_leaking_internals() {
        check(
            vec![
                ApiError::InvalidArgument(vec![
                    FieldViolation::new("user.username", "must be at least 3 characters"),
                    FieldViolation::new("password", "must not be empty"),
                ]),
                ApiError::Unauthenticated,
                ApiError::PermissionDenied,
                ApiError::NotFound { resource: "user" },
                ApiError::NamedNotFound("users/0190c4d8-0000-7000-8000-000000000000".to_owned()),
                ApiError::AlreadyExists {
                    resource: "department",
                },
                ApiError::Conflict("report_id was used for another report".to_owned()),
                ApiError::FailedPrecondition("case is closed".to_owned()),
                ApiError::Aborted,
                ApiError::Unavailable,
                ApiError::Unimplemented { rpc: "Whistle" },
                ApiError::internal(std::io::Error::other("disk on fire at /var/secret")),
            ],
            expect![[r#"
                InvalidArgument: invalid argument; user.username: must be at least 3 characters; password: must not be empty [user.username => must be at least 3 characters] [password => must not be empty]
                Unauthenticated: wrong credentials or an invalid token
                PermissionDenied: the caller's role may not do this
                NotFound: user not found
                NotFound: users/0190c4d8-0000-7000-8000-000000000000 not found
                AlreadyExists: department already exists
                AlreadyExists: report_id was used for another report
                FailedPrecondition: case is closed
                Aborted: the object changed since it was read; read it again and retry
                Unavailable: the write was not committed; retry it
                Unimplemented: Whistle is not implemented yet
                Internal: internal error
            "#]],
        );
    }

    #[test]
    fn storage_and_auth_errors_map_by_cause() {
        check(
            vec![
                StorageError::NotFound { entity: "grid" }.into(),
                StorageError::AlreadyExists { entity: "user" }.into(),
                StorageError::Corrupt {
                    entity: "user",
                    reason: "bad role".to_owned(),
                }
                .into(),
                AuthError::BadCredentials.into(),
                AuthError::BadRefreshToken.into(),
                AuthError::RefreshReplayed.into(),
                ApiError::access(AccessError::Hidden, "user"),
                ApiError::access(
                    AccessError::Forbidden {
                        role: gridwhistle_domain::Role::GridWorker,
                    },
                    "user",
                ),
            ],
            expect![[r#"
                NotFound: grid not found
                AlreadyExists: user already exists
                Internal: internal error
                Unauthenticated: wrong credentials or an invalid token
                Unauthenticated: wrong credentials or an invalid token
                Unauthenticated: wrong credentials or an invalid token
                NotFound: user not found
                PermissionDenied: the caller's role may not do this
            "#]],
        );
    }
}
