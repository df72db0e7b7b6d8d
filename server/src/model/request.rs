//! Client request ids of the loop's state-changing steps: a step under an id is done once, and a retry gets the first answer.

use std::fmt;
use std::sync::Arc;

use gridwhistle_domain::{RequestId, Timestamp, UserId};

/// One request as its caller sent it: under their id, to one method, with one payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKey {
    /// Ids are the caller's: another user's id never collides with theirs.
    pub user: UserId,
    pub id: RequestId,
    /// The RPC, such as `CompleteCase`.
    pub method: &'static str,
    /// SHA-256 of the request, to tell a retry from a reuse of the id.
    pub request_hash: String,
}

/// A request done before, as stored with the step it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRequest {
    pub method: String,
    pub request_hash: String,
    /// The answer as first sent, encoded, without the parties (they are read again, as the caller may see them at the retry).
    pub answer: Vec<u8>,
    pub created_at: Timestamp,
}

impl StoredRequest {
    /// Whether `key` repeats this request, rather than reusing its id for another.
    pub fn repeated_by(&self, key: &RequestKey) -> bool {
        self.method == key.method && self.request_hash == key.request_hash
    }
}

/// The answer a step stores under its request id, rendered from what the step wrote (`T`) inside its transaction.
pub type Render<T> = Arc<dyn Fn(&T) -> Result<Vec<u8>, String> + Send + Sync>;

/// A step to do once: its request and how its answer is rendered for storing.
pub struct Once<T> {
    pub key: RequestKey,
    pub render: Render<T>,
}

impl<T> Clone for Once<T> {
    fn clone(&self) -> Self {
        Self {
            key: self.key.clone(),
            render: self.render.clone(),
        }
    }
}

impl<T> fmt::Debug for Once<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once").field("key", &self.key).finish()
    }
}
