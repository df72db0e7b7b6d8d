//! The audit of parties' personal data shown unmasked: written in multi-row inserts, listed newest first, pruned by age.

use gridwhistle_domain::{Timestamp, UserId};
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::codec::{corrupt, ts};
use super::entity::party_reveal;
use super::multirow::insert_chunked;
use super::{RevealRepo, StorageError};
use crate::model::{NewReveal, RevealFilter, RevealRecord};

impl RevealRepo<'_> {
    /// Stores `reveals`, each under a new time-ordered id.
    pub async fn record(self, reveals: &[NewReveal]) -> Result<(), StorageError> {
        let rows: Vec<_> = reveals
            .iter()
            .map(|r| party_reveal::ActiveModel {
                id: Set(uuid::Uuid::now_v7().to_string()),
                revealed_at_ms: Set(r.at.as_unix_millis()),
                user_id: Set(r.user.to_string()),
                subject: Set(r.subject.clone()),
                method: Set(r.method.clone()),
                request_id: Set(r.request_id.clone()),
            })
            .collect();
        self.store
            .write(move |txn| Box::pin(insert_chunked(txn, rows)))
            .await
    }

    /// Up to `limit` reveals that `filter` lets through, newest first, after the one with id `after`.
    pub async fn list(
        self,
        filter: &RevealFilter,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<RevealRecord>, StorageError> {
        use party_reveal::Column as R;
        let mut query = party_reveal::Entity::find();
        if let Some(user) = &filter.user {
            query = query.filter(R::UserId.eq(user.to_string()));
        }
        if let Some(subject) = &filter.subject {
            query = query.filter(R::Subject.eq(subject.as_str()));
        }
        if let Some(since) = filter.since {
            query = query.filter(R::RevealedAtMs.gte(since.as_unix_millis()));
        }
        if let Some(before) = filter.before {
            query = query.filter(R::RevealedAtMs.lt(before.as_unix_millis()));
        }
        if let Some(after) = after {
            query = query.filter(R::Id.lt(after));
        }
        query
            .order_by_desc(R::Id)
            .limit(limit)
            .all(&self.store.db)
            .await?
            .into_iter()
            .map(record_from_model)
            .collect()
    }

    /// Deletes the reveals made before `before`; answers how many.
    pub async fn prune(self, before: Timestamp) -> Result<u64, StorageError> {
        let done = party_reveal::Entity::delete_many()
            .filter(party_reveal::Column::RevealedAtMs.lt(before.as_unix_millis()))
            .exec(&self.store.db)
            .await?;
        Ok(done.rows_affected)
    }
}

fn record_from_model(m: party_reveal::Model) -> Result<RevealRecord, StorageError> {
    Ok(RevealRecord {
        id: m.id,
        reveal: NewReveal {
            user: UserId::parse(&m.user_id).map_err(|e| corrupt("party_reveal", e))?,
            subject: m.subject,
            method: m.method,
            request_id: m.request_id,
            at: ts(m.revealed_at_ms),
        },
    })
}
