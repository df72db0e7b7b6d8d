//! Revoked access tokens: each user's token generation, as every replica knows it, so a disabled user's or a stolen session's access tokens stop working within seconds without a database read per call.
//!
//! Disabling a user, setting their password or a replayed refresh token moves the user to a new generation in storage; access tokens carry the generation they were issued in.
//! Each replica reads the generations that changed within the last token lifetime every `refresh` period (a change older than that concerns only tokens that have expired anyway) and refuses a token of an older generation.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use gridwhistle_dispatcher::Clock;
use gridwhistle_domain::UserId;
use tracing::warn;

use crate::storage::{StorageError, Store};

/// Each user's current token generation, where it changed recently.
#[derive(Debug, Default)]
pub struct Revocations {
    current: RwLock<HashMap<UserId, i64>>,
}

impl Revocations {
    /// Whether a token of `generation` issued to `user` may still be used.
    pub fn allows(&self, user: &UserId, generation: i64) -> bool {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(user)
            .is_none_or(|current| generation >= *current)
    }

    /// Takes up a generation this replica just stored, before the next read brings it.
    pub fn record(&self, user: UserId, generation: i64) {
        self.raise([(user, generation)]);
    }

    /// Reads the generations that changed within `window` of now.
    pub async fn refresh(
        &self,
        store: &Store,
        clock: &dyn Clock,
        window: Duration,
    ) -> Result<(), StorageError> {
        let since = clock.now().saturating_sub(window);
        self.raise(store.directory().token_generations_since(since).await?);
        Ok(())
    }

    /// Takes up generations, each only where it is newer than the one known: a generation never goes back.
    /// Entries are kept after they leave the window, one per revoked user.
    fn raise(&self, generations: impl IntoIterator<Item = (UserId, i64)>) {
        let mut current = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (user, generation) in generations {
            let known = current.entry(user).or_insert(generation);
            *known = (*known).max(generation);
        }
    }

    /// Refreshes every `period`, forever; a failed read is logged and retried on the next tick, and what was known stays in force.
    pub async fn keep_fresh(
        self: Arc<Self>,
        store: Store,
        clock: Arc<dyn Clock>,
        window: Duration,
        period: Duration,
    ) {
        crate::periodic::every(period, || async {
            if let Err(err) = self.refresh(&store, clock.as_ref(), window).await {
                warn!(error = %err, "reading revoked token generations failed; retrying on the next tick");
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_of_an_older_generation_is_refused_and_a_newer_one_allowed() {
        let revocations = Revocations::default();
        let user = UserId::generate();
        assert!(revocations.allows(&user, 0), "nothing known: allowed");
        revocations.record(user, 2);
        assert!(!revocations.allows(&user, 1));
        assert!(revocations.allows(&user, 2));
        revocations.record(user, 1);
        assert!(
            !revocations.allows(&user, 1),
            "a generation never goes back"
        );
        assert!(revocations.allows(&UserId::generate(), 0));
    }
}
