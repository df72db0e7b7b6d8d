//! Filing new reports in batches: the group-commit writer's [`Batched`] job for `CreateReport`.

use std::collections::{HashMap, HashSet};

use gridwhistle_domain::{EventKind, GridId, ReportId, Timestamp, UserId};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryTrait,
};

use super::rows::{as_first_answered, new_report_model, report_from_model};
use crate::model::{CreateOutcome, NewEvent, NewReport, ReportRecord};
use crate::storage::StorageError;
use crate::storage::entity::report;
use crate::storage::multirow::{ROWS_PER_STATEMENT, insert_chunked};
use crate::storage::timeline::event_model;
use crate::storage::writer::{Batched, BoxFuture};

/// A report to file, with its author, grid and filing time.
pub(in crate::storage) struct Filing {
    pub author: UserId,
    pub grid: Option<GridId>,
    pub new: NewReport,
    pub now: Timestamp,
}

impl Batched for Filing {
    type Item = Filing;
    type Output = CreateOutcome;

    fn write<'c>(
        txn: &'c DatabaseTransaction,
        items: &'c [Filing],
    ) -> BoxFuture<'c, Result<Vec<CreateOutcome>, StorageError>> {
        Box::pin(file_reports(txn, items))
    }
}

/// Files reports in `db` with one insert for the reports and one for their first events; answers each in order.
///
/// An id already stored, or repeated within the batch, is answered from the stored row: a replay when author and payload hash match, a conflict otherwise.
/// A failure of the statement fails the whole call; the writer retries the rows one by one to find the culprit.
async fn file_reports(
    db: &impl ConnectionTrait,
    batch: &[Filing],
) -> Result<Vec<CreateOutcome>, StorageError> {
    let mut seen = HashSet::with_capacity(batch.len());
    let firsts: Vec<&Filing> = batch.iter().filter(|f| seen.insert(f.new.id)).collect();
    // Each row is encoded once: inserted, then decoded into the record answered for it.
    let models: Vec<report::ActiveModel> = firsts.iter().map(|f| new_report_model(f)).collect();
    let inserted = insert_new(db, models.clone()).await?;

    let mut created: HashMap<ReportId, ReportRecord> = HashMap::with_capacity(inserted.len());
    let mut events = Vec::with_capacity(inserted.len());
    for (filing, model) in firsts.into_iter().zip(models) {
        if inserted.contains(&filing.new.id.to_string()) {
            // Decoded from the row just written, so a record holds what a later read gives.
            let record = report_from_model(
                sea_orm::TryIntoModel::try_into_model(model)?,
                Vec::new(),
                Vec::new(),
            )?;
            events.push(event_model(
                &record.id,
                &record.author,
                1,
                &reported(&record),
                filing.now,
            ));
            created.insert(record.id, record);
        }
    }
    insert_chunked(db, events).await?;
    answer_all(db, batch, created).await
}

/// Inserts the reports not stored yet; answers the ids it inserted.
async fn insert_new(
    db: &impl ConnectionTrait,
    models: Vec<report::ActiveModel>,
) -> Result<HashSet<String>, StorageError> {
    let mut statement = report::Entity::insert_many(models)
        .on_conflict(
            OnConflict::column(report::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .into_query();
    statement.returning_col(report::Column::Id);
    db.query_all(&statement)
        .await
        .map_err(|err| StorageError::classify(err, "report", "user"))?
        .into_iter()
        .map(|row| row.try_get::<String>("", "id").map_err(StorageError::from))
        .collect()
}

/// Answers each filing in order: created now, or a replay or conflict of what was filed before (by an earlier request or earlier in this batch).
async fn answer_all(
    db: &impl ConnectionTrait,
    batch: &[Filing],
    mut created: HashMap<ReportId, ReportRecord>,
) -> Result<Vec<CreateOutcome>, StorageError> {
    let others: Vec<String> = batch
        .iter()
        .filter(|f| !created.contains_key(&f.new.id))
        .map(|f| f.new.id.to_string())
        .collect();
    let mut stored: HashMap<String, report::Model> = HashMap::with_capacity(others.len());
    for chunk in others.chunks(ROWS_PER_STATEMENT) {
        for model in report::Entity::find()
            .filter(report::Column::Id.is_in(chunk.iter().cloned()))
            .all(db)
            .await?
        {
            stored.insert(model.id.clone(), model);
        }
    }
    let mut outcomes = Vec::with_capacity(batch.len());
    for filing in batch {
        if let Some(record) = created.remove(&filing.new.id) {
            outcomes.push(CreateOutcome::Created(record));
            continue;
        }
        let Some(existing) = stored.get(&filing.new.id.to_string()) else {
            // Present at insert time, so still present in this transaction.
            return Err(StorageError::NotFound { entity: "report" });
        };
        if existing.author_id != filing.author.to_string()
            || existing.request_hash != filing.new.request_hash
        {
            outcomes.push(CreateOutcome::Conflict);
        } else {
            let record = report_from_model(existing.clone(), Vec::new(), Vec::new())?;
            outcomes.push(CreateOutcome::Replayed(as_first_answered(record)));
        }
    }
    Ok(outcomes)
}

/// A new report's first timeline event.
fn reported(record: &ReportRecord) -> NewEvent {
    NewEvent {
        kind: EventKind::Reported,
        actor: Some(record.author),
        department: None,
        text: String::new(),
        attachments: record.attachments.clone(),
    }
}
