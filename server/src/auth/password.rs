//! Password hashing with argon2id (OWASP parameters), run off the async threads because one hash takes tens of milliseconds.
//!
//! Each hash holds 19 MiB while it runs, so hashes run a few at a time in the whole process (`configure`, by default one per core): a burst of logins waits its turn in a queue that costs no memory, and a hash that cannot start within [`MAX_WAIT`] is refused as busy (`HashError::Busy`), so an overloaded replica answers quickly instead of queueing without bound.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use gridwhistle_domain::Password;

/// The hasher failed; not a wrong password.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing failed: {0}")]
    Hash(argon2::password_hash::Error),
    #[error("stored password hash is malformed: {0}")]
    Malformed(argon2::password_hash::Error),
    #[error("hashing task did not finish")]
    Join(#[from] tokio::task::JoinError),
    /// Every hashing slot stayed busy for [`MAX_WAIT`].
    #[error("too many password checks at once")]
    Busy,
}

/// How long a hash waits for a slot before it is refused as busy.
pub const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();

/// Sets how many hashes run at once in this process; the first call (or the first hash) decides.
pub fn configure(concurrency: usize) {
    let _ = SLOTS.set(tokio::sync::Semaphore::new(concurrency.max(1)));
}

fn slots() -> &'static tokio::sync::Semaphore {
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        tokio::sync::Semaphore::new(cores)
    })
}

/// Runs `work` on a blocking thread once a hashing slot is free.
async fn in_a_slot<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, HashError> + Send + 'static,
) -> Result<T, HashError> {
    let permit = tokio::time::timeout(MAX_WAIT, slots().acquire())
        .await
        .map_err(|_| HashError::Busy)?
        .map_err(|_| HashError::Busy)?;
    let done = tokio::task::spawn_blocking(work).await?;
    drop(permit);
    done
}

fn argon2id() -> Argon2<'static> {
    // The crate's defaults are OWASP's recommended argon2id floor: 19 MiB, 2 passes, 1 lane.
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::DEFAULT)
}

fn random_salt() -> SaltString {
    let mut bytes = [0u8; 16];
    rand::Rng::fill(&mut rand::rng(), &mut bytes);
    // 16 bytes always encode into a valid salt.
    SaltString::encode_b64(&bytes).unwrap_or_else(|_| unreachable!("16-byte salts are valid"))
}

/// Hashes a password into PHC string form.
pub async fn hash(password: Password) -> Result<String, HashError> {
    in_a_slot(move || {
        argon2id()
            .hash_password(password.expose().as_bytes(), &random_salt())
            .map(|hash| hash.to_string())
            .map_err(HashError::Hash)
    })
    .await
}

/// Checks a password against a stored PHC hash; `Ok(false)` for a wrong password.
pub async fn verify(password: Password, stored: String) -> Result<bool, HashError> {
    in_a_slot(move || {
        let parsed = PasswordHash::new(&stored).map_err(HashError::Malformed)?;
        match argon2id().verify_password(password.expose().as_bytes(), &parsed) {
            Ok(()) => Ok(true),
            Err(argon2::password_hash::Error::Password) => Ok(false),
            Err(err) => Err(HashError::Hash(err)),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_own_password_only() {
        let password = Password::parse("correct horse battery").unwrap();
        let stored = hash(password.clone()).await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify(password, stored.clone()).await.unwrap());
        let wrong = Password::parse("correct horse battery!").unwrap();
        assert!(!verify(wrong, stored).await.unwrap());
    }

    #[tokio::test]
    async fn the_same_password_hashes_differently_each_time() {
        let password = Password::parse("correct horse battery").unwrap();
        let first = hash(password.clone()).await.unwrap();
        let second = hash(password).await.unwrap();
        assert_ne!(first, second);
    }

    #[tokio::test]
    async fn a_malformed_stored_hash_is_an_error_not_a_mismatch() {
        let password = Password::parse("correct horse battery").unwrap();
        assert!(matches!(
            verify(password, "not-a-hash".to_owned()).await,
            Err(HashError::Malformed(_))
        ));
    }
}
