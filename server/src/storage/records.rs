//! The records storage takes and returns, built from domain types, and their conversion from rows.

use gridwhistle_domain::{
    Binding, DepartmentId, DepartmentType, DisplayName, GridId, Timestamp, UserId, Username,
};
use sea_orm::ActiveValue::Set;

use super::StorageError;
use super::codec::corrupt;
use super::entity::{department, grid, refresh_token, user};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDepartment {
    pub id: DepartmentId,
    pub display_name: DisplayName,
    pub department_type: DepartmentType,
    pub routing_priority: i32,
    pub fallback_owner: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Department {
    pub id: DepartmentId,
    pub display_name: DisplayName,
    pub department_type: DepartmentType,
    pub routing_priority: i32,
    pub fallback_owner: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Changes to a department; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DepartmentPatch {
    pub display_name: Option<DisplayName>,
    pub routing_priority: Option<i32>,
    pub fallback_owner: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGrid {
    pub id: GridId,
    pub display_name: DisplayName,
    pub community: String,
    pub street: String,
    pub district: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grid {
    pub id: GridId,
    pub display_name: DisplayName,
    pub community: String,
    pub street: String,
    pub district: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub id: UserId,
    pub username: Username,
    pub display_name: DisplayName,
    pub binding: Binding,
    /// A PHC-format argon2id hash.
    pub password_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub display_name: DisplayName,
    pub binding: Binding,
    pub disabled: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Access tokens carry the generation they were issued in; an older one is refused.
    pub token_generation: i64,
}

/// A user with the hash to check a password against.
#[derive(Clone, PartialEq, Eq)]
pub struct UserCredentials {
    pub user: User,
    pub password_hash: String,
}

impl std::fmt::Debug for UserCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserCredentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserPatch {
    pub display_name: Option<DisplayName>,
    pub disabled: Option<bool>,
    pub password_hash: Option<String>,
    /// Revoke every refresh token of the user in the same transaction.
    pub revoke_sessions: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefreshToken {
    pub id: String,
    pub family_id: String,
    pub user_id: UserId,
    /// Lower-case hex SHA-256 of the token's secret part; the secret itself is never stored.
    pub secret_sha256: String,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub id: String,
    pub family_id: String,
    pub user_id: UserId,
    pub secret_sha256: String,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

pub(super) fn department_from_model(model: department::Model) -> Result<Department, StorageError> {
    const E: &str = "department";
    Ok(Department {
        id: DepartmentId::parse(&model.id).map_err(|e| corrupt(E, e))?,
        display_name: DisplayName::parse(&model.display_name).map_err(|e| corrupt(E, e))?,
        department_type: DepartmentType::parse(&model.department_type)
            .map_err(|e| corrupt(E, e))?,
        routing_priority: model.routing_priority,
        fallback_owner: model.fallback_owner,
        created_at: Timestamp::from_unix_millis(model.created_at_ms),
        updated_at: Timestamp::from_unix_millis(model.updated_at_ms),
    })
}

pub(super) fn grid_from_model(model: grid::Model) -> Result<Grid, StorageError> {
    const E: &str = "grid";
    Ok(Grid {
        id: GridId::parse(&model.id).map_err(|e| corrupt(E, e))?,
        display_name: DisplayName::parse(&model.display_name).map_err(|e| corrupt(E, e))?,
        community: model.community,
        street: model.street,
        district: model.district,
        created_at: Timestamp::from_unix_millis(model.created_at_ms),
    })
}

pub(super) fn user_from_model(model: user::Model) -> Result<UserCredentials, StorageError> {
    const E: &str = "user";
    let grid = model
        .grid_id
        .as_deref()
        .map(GridId::parse)
        .transpose()
        .map_err(|e| corrupt(E, e))?;
    let department = model
        .department_id
        .as_deref()
        .map(DepartmentId::parse)
        .transpose()
        .map_err(|e| corrupt(E, e))?;
    let binding =
        Binding::new(parse_role(&model.role)?, grid, department).map_err(|e| corrupt(E, e))?;
    Ok(UserCredentials {
        user: User {
            id: UserId::parse(&model.id).map_err(|e| corrupt(E, e))?,
            username: Username::parse(&model.username).map_err(|e| corrupt(E, e))?,
            display_name: DisplayName::parse(&model.display_name).map_err(|e| corrupt(E, e))?,
            binding,
            disabled: model.disabled,
            created_at: Timestamp::from_unix_millis(model.created_at_ms),
            updated_at: Timestamp::from_unix_millis(model.updated_at_ms),
            token_generation: model.token_generation,
        },
        password_hash: model.password_hash,
    })
}

pub(super) fn refresh_token_model(token: NewRefreshToken) -> refresh_token::ActiveModel {
    refresh_token::ActiveModel {
        id: Set(token.id),
        family_id: Set(token.family_id),
        user_id: Set(token.user_id.to_string()),
        secret_sha256: Set(token.secret_sha256),
        issued_at_ms: Set(token.issued_at.as_unix_millis()),
        expires_at_ms: Set(token.expires_at.as_unix_millis()),
        used_at_ms: Set(None),
        revoked_at_ms: Set(None),
    }
}

pub(super) fn refresh_token_from_model(
    model: refresh_token::Model,
) -> Result<RefreshTokenRecord, StorageError> {
    Ok(RefreshTokenRecord {
        user_id: UserId::parse(&model.user_id).map_err(|e| corrupt("refresh token", e))?,
        id: model.id,
        family_id: model.family_id,
        secret_sha256: model.secret_sha256,
        issued_at: Timestamp::from_unix_millis(model.issued_at_ms),
        expires_at: Timestamp::from_unix_millis(model.expires_at_ms),
        used_at: model.used_at_ms.map(Timestamp::from_unix_millis),
        revoked_at: model.revoked_at_ms.map(Timestamp::from_unix_millis),
    })
}

/// Parses a stored role, reporting a corrupt row rather than panicking.
fn parse_role(text: &str) -> Result<gridwhistle_domain::Role, StorageError> {
    text.parse()
        .map_err(|err: gridwhistle_domain::user::UnknownRole| corrupt("user", err))
}
