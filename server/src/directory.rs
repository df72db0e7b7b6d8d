//! The directory as a service: departments and users for the admin API and the read-only directory, and adding users with hashed passwords, which the command line shares.

use std::sync::Arc;

use gridwhistle_dispatcher::Clock;
use gridwhistle_domain::{
    Binding, DepartmentId, DisplayName, Password, Timestamp, UserId, Username,
};

use crate::auth::password::{self, HashError};
use crate::auth::revocations::Revocations;
use crate::storage::{
    Department, DepartmentPatch, NewDepartment, NewUser, StorageError, Store, User, UserPatch,
};

/// A user to add, already validated.
#[derive(Debug, Clone)]
pub struct UserDraft {
    pub username: Username,
    pub display_name: DisplayName,
    pub binding: Binding,
    pub password: Password,
}

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Hash(#[from] HashError),
}

/// Why a batch of users could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum MissingUser {
    #[error("users/{0} not found")]
    Missing(UserId),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Hashes the password and stores the user; the plaintext goes no further.
pub async fn add_user(
    store: &Store,
    draft: UserDraft,
    now: Timestamp,
) -> Result<User, DirectoryError> {
    let password_hash = password::hash(draft.password).await?;
    let user = store
        .directory()
        .create_user(
            NewUser {
                id: UserId::generate(),
                username: draft.username,
                display_name: draft.display_name,
                binding: draft.binding,
                password_hash,
            },
            now,
        )
        .await?;
    Ok(user)
}

/// The directory as a service for the admin API: departments and users, each change stamped with the injected clock; a change that revokes a user's tokens is refused on this replica at once.
#[derive(Debug, Clone)]
pub struct Directory {
    store: Store,
    clock: Arc<dyn Clock>,
    revocations: Arc<Revocations>,
}

impl Directory {
    pub fn new(store: Store, clock: Arc<dyn Clock>, revocations: Arc<Revocations>) -> Self {
        Self {
            store,
            clock,
            revocations,
        }
    }

    pub async fn create_department(&self, new: NewDepartment) -> Result<Department, StorageError> {
        self.store
            .directory()
            .create_department(new, self.clock.now())
            .await
    }

    pub async fn department(&self, id: &DepartmentId) -> Result<Department, StorageError> {
        self.store.directory().get_department(id).await
    }

    /// Departments by id, after `after`, at most `limit`.
    pub async fn departments(
        &self,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<Department>, StorageError> {
        self.store.directory().list_departments(after, limit).await
    }

    pub async fn update_department(
        &self,
        id: &DepartmentId,
        patch: DepartmentPatch,
    ) -> Result<Department, StorageError> {
        self.store
            .directory()
            .update_department(id, patch, self.clock.now())
            .await
    }

    /// Adds a user with a hashed password.
    pub async fn add_user(&self, draft: UserDraft) -> Result<User, DirectoryError> {
        add_user(&self.store, draft, self.clock.now()).await
    }

    /// The users among `ids`, one per id asked, in the order asked; the first id that is not a user is answered as missing.
    pub async fn users_in_order(&self, ids: &[UserId]) -> Result<Vec<User>, MissingUser> {
        let found = self.store.directory().users_by_ids(ids).await?;
        let by_id: std::collections::HashMap<UserId, User> =
            found.into_iter().map(|u| (u.id, u)).collect();
        ids.iter()
            .map(|id| by_id.get(id).cloned().ok_or(MissingUser::Missing(*id)))
            .collect()
    }

    pub async fn user(&self, id: &UserId) -> Result<User, StorageError> {
        self.store.directory().get_user(id).await
    }

    /// Users in creation order, after `after`, at most `limit`.
    pub async fn users(
        &self,
        after: Option<&UserId>,
        limit: u64,
    ) -> Result<Vec<User>, StorageError> {
        self.store.directory().list_users(after, limit).await
    }

    /// Applies `patch`; when it revokes the user's sessions, this replica refuses their older access tokens at once, the others within their refresh period.
    pub async fn update_user(&self, id: &UserId, patch: UserPatch) -> Result<User, StorageError> {
        let updated = self
            .store
            .directory()
            .update_user(id, patch, self.clock.now())
            .await?;
        self.revocations
            .record(updated.id, updated.token_generation);
        Ok(updated)
    }

    /// Sets the user's password and revokes their sessions.
    pub async fn set_password(&self, id: &UserId, new: Password) -> Result<User, DirectoryError> {
        let patch = UserPatch {
            password_hash: Some(password::hash(new).await?),
            revoke_sessions: true,
            ..UserPatch::default()
        };
        Ok(self.update_user(id, patch).await?)
    }

    /// Forgets the user's failed logins, lifting any throttle or lockout of their login name; answers whether there were any.
    pub async fn lift_login_lockout(&self, id: &UserId) -> Result<bool, StorageError> {
        let user = self.store.directory().get_user(id).await?;
        let key = crate::auth::throttle::user_key(user.username.as_str());
        self.store.logins().clear(&key).await
    }
}
