//! Directory operations shared by the admin API and the command line: adding users with hashed passwords.

use gridwhistle_domain::{Binding, DisplayName, Password, Timestamp, UserId, Username};

use crate::auth::password::{self, HashError};
use crate::storage::{NewUser, StorageError, Store, User};

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
