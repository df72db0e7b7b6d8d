//! Client request ids of the loop's steps: stored in the step's own transaction with its first answer, read back when the client retries.

use gridwhistle_domain::{ReportId, RequestId, Timestamp, UserId};
use sea_orm::ActiveValue::Set;
use sea_orm::{DatabaseTransaction, EntityTrait};
use tracing::instrument;

use super::entity::step_request;
use super::{RequestRepo, StorageError};
use crate::model::{Once, StoredRequest};

impl RequestRepo<'_> {
    /// The request `id` of `user`, if a step was done under it.
    #[instrument(skip_all)]
    pub async fn get(
        self,
        user: &UserId,
        id: &RequestId,
    ) -> Result<Option<StoredRequest>, StorageError> {
        Ok(
            step_request::Entity::find_by_id((user.to_string(), id.to_string()))
                .one(&self.store.db)
                .await?
                .map(|m| StoredRequest {
                    method: m.method,
                    request_hash: m.request_hash,
                    answer: m.answer,
                    created_at: Timestamp::from_unix_millis(m.created_at_ms),
                }),
        )
    }
}

/// Stores `once`'s request with its answer rendered from `done`, in the step's transaction; a request id stored meanwhile by a concurrent call is `AlreadyExists`, and the step rolls back.
pub(super) async fn record<T: Sync>(
    txn: &DatabaseTransaction,
    once: &Once<T>,
    report: &ReportId,
    done: &T,
    now: Timestamp,
) -> Result<(), StorageError> {
    let answer = (once.render)(done).map_err(|reason| StorageError::Corrupt {
        entity: "answer",
        reason,
    })?;
    step_request::Entity::insert(step_request::ActiveModel {
        user_id: Set(once.key.user.to_string()),
        request_id: Set(once.key.id.to_string()),
        method: Set(once.key.method.to_owned()),
        request_hash: Set(once.key.request_hash.clone()),
        report_id: Set(report.to_string()),
        answer: Set(answer),
        created_at_ms: Set(now.as_unix_millis()),
    })
    .exec_without_returning(txn)
    .await
    .map_err(|e| StorageError::classify(e, "request", "request"))?;
    Ok(())
}
