//! Summoned interviews (约谈): recorded once per console id, listed per department and period, the most recent first.

use gridwhistle_domain::{DepartmentId, InterviewId, LedgerEntryId, LetterId, Timestamp, UserId};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tracing::instrument;

use super::codec::{corrupt, ts};
use super::entity::interview;
use super::{InterviewRepo, StorageError};
use crate::model::{InterviewFilter, InterviewRecord};

const ENTITY: &str = "interview";

fn bad(reason: impl ToString) -> StorageError {
    corrupt(ENTITY, reason)
}

fn to_json<T: ToString>(ids: &[T]) -> String {
    let texts: Vec<String> = ids.iter().map(ToString::to_string).collect();
    serde_json::to_string(&texts).unwrap_or_else(|_| "[]".to_owned())
}

fn from_json<T>(
    text: &str,
    parse: impl Fn(&str) -> Result<T, gridwhistle_domain::IdError>,
) -> Result<Vec<T>, StorageError> {
    let texts: Vec<String> = serde_json::from_str(text).map_err(bad)?;
    texts.iter().map(|t| parse(t).map_err(bad)).collect()
}

fn from_model(m: interview::Model) -> Result<InterviewRecord, StorageError> {
    Ok(InterviewRecord {
        id: InterviewId::parse(&m.id).map_err(bad)?,
        department: DepartmentId::parse(&m.department_id).map_err(bad)?,
        person: m.person,
        reason: m.reason,
        letters: from_json(&m.letters, LetterId::parse)?,
        entries: from_json(&m.entries, LedgerEntryId::parse)?,
        outcome: m.outcome,
        interviewer: UserId::parse(&m.interviewer_id).map_err(bad)?,
        held_at: ts(m.held_at_ms),
        created_at: ts(m.created_at_ms),
        request_hash: m.request_hash,
    })
}

impl InterviewRepo<'_> {
    /// Records `interview`, unless one under its id exists: then answers the stored one, for the caller to compare.
    #[instrument(skip_all, fields(interview = %record.id))]
    pub async fn record(self, record: InterviewRecord) -> Result<InterviewRecord, StorageError> {
        self.store
            .write(move |txn| {
                Box::pin(async move {
                    let model = interview::ActiveModel {
                        id: Set(record.id.to_string()),
                        department_id: Set(record.department.to_string()),
                        person: Set(record.person.clone()),
                        reason: Set(record.reason.clone()),
                        letters: Set(to_json(&record.letters)),
                        entries: Set(to_json(&record.entries)),
                        outcome: Set(record.outcome.clone()),
                        interviewer_id: Set(record.interviewer.to_string()),
                        held_at_ms: Set(record.held_at.as_unix_millis()),
                        created_at_ms: Set(record.created_at.as_unix_millis()),
                        request_hash: Set(record.request_hash.clone()),
                    };
                    let inserted = interview::Entity::insert(model)
                        .on_conflict(
                            OnConflict::column(interview::Column::Id)
                                .do_nothing()
                                .to_owned(),
                        )
                        .exec_without_returning(txn)
                        .await
                        .map_err(|e| {
                            StorageError::classify(e, ENTITY, "department or interviewer")
                        })?;
                    if inserted == 1 {
                        return Ok(record);
                    }
                    let stored = interview::Entity::find_by_id(record.id.to_string())
                        .one(txn)
                        .await?
                        .ok_or_else(|| bad("vanished while recorded again"))?;
                    from_model(stored)
                })
            })
            .await
    }

    /// A page of the interviews `filter` selects, the most recent first; with `before`, only those before that (time held, id).
    #[instrument(skip_all)]
    pub async fn list(
        self,
        filter: &InterviewFilter,
        before: Option<(Timestamp, InterviewId)>,
        limit: u64,
    ) -> Result<Vec<InterviewRecord>, StorageError> {
        use interview::Column as C;
        let mut condition = Condition::all();
        if let Some(d) = &filter.department {
            condition = condition.add(C::DepartmentId.eq(d.as_str()));
        }
        if let Some(from) = filter.from {
            condition = condition.add(C::HeldAtMs.gte(from.as_unix_millis()));
        }
        if let Some(until) = filter.until {
            condition = condition.add(C::HeldAtMs.lt(until.as_unix_millis()));
        }
        if let Some((held, id)) = before {
            let held = held.as_unix_millis();
            condition = condition.add(
                Condition::any().add(C::HeldAtMs.lt(held)).add(
                    Condition::all()
                        .add(C::HeldAtMs.eq(held))
                        .add(C::Id.lt(id.to_string())),
                ),
            );
        }
        interview::Entity::find()
            .filter(condition)
            .order_by_desc(C::HeldAtMs)
            .order_by_desc(C::Id)
            .limit(limit)
            .all(&self.store.db)
            .await?
            .into_iter()
            .map(from_model)
            .collect()
    }
}
