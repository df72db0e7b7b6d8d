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
    /// The object's state does not allow the request; `reason` is one of [`reason`]'s, for the client to act on.
    #[error("failed precondition: {message}")]
    FailedPrecondition {
        reason: &'static str,
        message: String,
    },
    #[error("the object changed since it was read")]
    Aborted,
    /// The write may not have happened; retrying is safe because every write is idempotent or version-checked.
    #[error("unavailable")]
    Unavailable,
    #[error("{rpc} is not implemented yet")]
    Unimplemented { rpc: &'static str },
    /// The replica is too busy to take this call now; another replica, or this one a moment later, may.
    #[error("overloaded")]
    Overloaded,
    /// Too many failed logins under the name or from the address; retry after `retry_after`.
    #[error("throttled")]
    Throttled { retry_after: std::time::Duration },
    #[error("internal error")]
    Internal(#[source] Box<dyn StdError + Send + Sync>),
}

/// The stable reasons (`google.rpc.ErrorInfo.reason`) errors carry beyond their code, so clients branch on them instead of on message text; every other error's reason is its code's name (`NOT_FOUND`, `PERMISSION_DENIED`, …).
pub mod reason {
    /// The `google.rpc.ErrorInfo.domain` of every error the server answers.
    pub const DOMAIN: &str = "gridwhistle.v1";
    /// `INVALID_ARGUMENT`: fields are named in the `google.rpc.BadRequest` beside it.
    pub const INVALID_FIELD: &str = "INVALID_FIELD";
    /// `ABORTED`: the object changed since the etag sent was read; read it again and retry.
    pub const STALE_ETAG: &str = "STALE_ETAG";
    /// `ALREADY_EXISTS`: a client-chosen id or request id was used before with another payload.
    pub const ID_REUSED: &str = "ID_REUSED";
    /// `FAILED_PRECONDITION`: the case's state does not allow this step now.
    pub const STEP_NOT_ALLOWED: &str = "STEP_NOT_ALLOWED";
    /// `FAILED_PRECONDITION`: the ledger entry's state (or its plan's) does not allow this change.
    pub const ENTRY_STATE: &str = "ENTRY_STATE";
    /// `FAILED_PRECONDITION`: a date falls in a year whose working calendar is not loaded.
    pub const CALENDAR_MISSING: &str = "CALENDAR_MISSING";
    /// `FAILED_PRECONDITION`: the upload's state or offset does not allow this chunk.
    pub const UPLOAD_STATE: &str = "UPLOAD_STATE";
    /// `FAILED_PRECONDITION`: the stored object changed in a way the request cannot follow.
    pub const STATE_CHANGED: &str = "STATE_CHANGED";
    /// `UNAVAILABLE`: the write was not committed; retrying it is safe.
    pub const NOT_COMMITTED: &str = "NOT_COMMITTED";
    /// `UNAVAILABLE`: the replica is too busy for this call now (password checks, above all); retry with backoff.
    pub const OVERLOADED: &str = "OVERLOADED";
    /// `RESOURCE_EXHAUSTED`: too many failed logins under the name or from the address; a `google.rpc.RetryInfo` says when to try again.
    pub const LOGIN_THROTTLED: &str = "LOGIN_THROTTLED";
}

impl ApiError {
    pub fn field(field: impl Into<String>, description: impl ToString) -> Self {
        ApiError::InvalidArgument(vec![FieldViolation::new(field, description)])
    }

    pub fn internal(err: impl StdError + Send + Sync + 'static) -> Self {
        ApiError::Internal(Box::new(err))
    }

    /// A refusal for the object's state, with its stable `reason`.
    pub fn precondition(reason: &'static str, message: impl ToString) -> Self {
        ApiError::FailedPrecondition {
            reason,
            message: message.to_string(),
        }
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
            StorageError::Precondition(message) => {
                ApiError::precondition(reason::STATE_CHANGED, message)
            }
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
            AuthError::Throttled { retry_after } => ApiError::Throttled { retry_after },
            AuthError::Storage(err) => ApiError::from(err),
            AuthError::Hash(crate::auth::HashError::Busy) => ApiError::Overloaded,
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
        let (status, reason, resource) = match err {
            ApiError::InvalidArgument(violations) => {
                let pairs: Vec<(&str, &str)> = violations
                    .iter()
                    .map(|v| (v.field.as_str(), v.description.as_str()))
                    .collect();
                let status = gridwhistle_proto::codec::bad_request(&pairs);
                (status, Some(reason::INVALID_FIELD), None)
            }
            ApiError::Unauthenticated => (
                Status::unauthenticated("wrong credentials or an invalid token"),
                None,
                None,
            ),
            ApiError::PermissionDenied => (
                Status::permission_denied("the caller's role may not do this"),
                None,
                None,
            ),
            ApiError::NotFound { resource } => (
                Status::not_found(format!("{resource} not found")),
                None,
                Some(resource),
            ),
            ApiError::NamedNotFound(name) => {
                (Status::not_found(format!("{name} not found")), None, None)
            }
            ApiError::AlreadyExists { resource } => (
                Status::already_exists(format!("{resource} already exists")),
                None,
                Some(resource),
            ),
            ApiError::Conflict(message) => (
                Status::already_exists(message),
                Some(reason::ID_REUSED),
                None,
            ),
            ApiError::FailedPrecondition { reason, message } => {
                (Status::failed_precondition(message), Some(reason), None)
            }
            ApiError::Aborted => (
                Status::aborted("the object changed since it was read; read it again and retry"),
                Some(reason::STALE_ETAG),
                None,
            ),
            ApiError::Unavailable => (
                Status::unavailable("the write was not committed; retry it"),
                Some(reason::NOT_COMMITTED),
                None,
            ),
            ApiError::Unimplemented { rpc } => (
                Status::unimplemented(format!("{rpc} is not implemented yet")),
                None,
                None,
            ),
            ApiError::Overloaded => (
                Status::unavailable("the server is busy; retry shortly"),
                Some(reason::OVERLOADED),
                None,
            ),
            ApiError::Throttled { retry_after } => {
                (throttled(retry_after), Some(reason::LOGIN_THROTTLED), None)
            }
            ApiError::Internal(source) => {
                error!(error = %cause_chain(source.as_ref()), "internal error");
                (Status::internal("internal error"), None, None)
            }
        };
        // Errors without a finer reason give their code's name.
        let reason = reason.unwrap_or_else(|| crate::metrics::code_name(status.code()));
        with_reason(&status, reason, resource)
    }
}

/// A refused login's `RESOURCE_EXHAUSTED`, with a `google.rpc.RetryInfo` saying when to try again.
fn throttled(retry_after: std::time::Duration) -> Status {
    use tonic_types::StatusExt as _;
    let mut details = tonic_types::ErrorDetails::new();
    details.set_retry_info(Some(retry_after));
    Status::with_error_details(
        tonic::Code::ResourceExhausted,
        "too many failed logins; retry later",
        details,
    )
}

/// `status` with a `google.rpc.ErrorInfo` of `reason` beside its other details, naming the kind of object (`resource`) where one is missing or exists.
fn with_reason(status: &Status, reason: &str, resource: Option<&str>) -> Status {
    use tonic_types::StatusExt as _;
    let mut details = status.get_error_details();
    let metadata: std::collections::HashMap<String, String> = resource
        .map(|r| ("resource".to_owned(), r.to_owned()))
        .into_iter()
        .collect();
    details.set_error_info(reason, reason::DOMAIN, metadata);
    Status::with_error_details(status.code(), status.message(), details)
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
            if let Some(info) = status.get_details_error_info() {
                let _ = write!(table, " <{}", info.reason);
                for (key, value) in &info.metadata {
                    let _ = write!(table, " {key}={value}");
                }
                table.push('>');
            }
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
                ApiError::precondition(reason::STEP_NOT_ALLOWED, "case is closed"),
                ApiError::Aborted,
                ApiError::Unavailable,
                ApiError::Unimplemented { rpc: "Whistle" },
                ApiError::internal(std::io::Error::other("disk on fire at /var/secret")),
            ],
            expect![[r#"
                InvalidArgument: invalid argument; user.username: must be at least 3 characters; password: must not be empty <INVALID_FIELD> [user.username => must be at least 3 characters] [password => must not be empty]
                Unauthenticated: wrong credentials or an invalid token <UNAUTHENTICATED>
                PermissionDenied: the caller's role may not do this <PERMISSION_DENIED>
                NotFound: user not found <NOT_FOUND resource=user>
                NotFound: users/0190c4d8-0000-7000-8000-000000000000 not found <NOT_FOUND>
                AlreadyExists: department already exists <ALREADY_EXISTS resource=department>
                AlreadyExists: report_id was used for another report <ID_REUSED>
                FailedPrecondition: case is closed <STEP_NOT_ALLOWED>
                Aborted: the object changed since it was read; read it again and retry <STALE_ETAG>
                Unavailable: the write was not committed; retry it <NOT_COMMITTED>
                Unimplemented: Whistle is not implemented yet <UNIMPLEMENTED>
                Internal: internal error <INTERNAL>
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
                NotFound: grid not found <NOT_FOUND resource=grid>
                AlreadyExists: user already exists <ALREADY_EXISTS resource=user>
                Internal: internal error <INTERNAL>
                Unauthenticated: wrong credentials or an invalid token <UNAUTHENTICATED>
                Unauthenticated: wrong credentials or an invalid token <UNAUTHENTICATED>
                Unauthenticated: wrong credentials or an invalid token <UNAUTHENTICATED>
                NotFound: user not found <NOT_FOUND resource=user>
                PermissionDenied: the caller's role may not do this <PERMISSION_DENIED>
            "#]],
        );
    }
}
