//! Rebuilding the shares' facts (the figures' inputs) from the event log: a page of reports at a time, each read with its timeline and extension requests, replayed, written back, and compared with what was stored.

use std::collections::HashMap;

use gridwhistle_domain::{DepartmentId, ReportId};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use tracing::instrument;

use super::rows::{FACTS_VERSION, assignment_facts, assignment_model};
use super::{extension_from_model, lock_reports};
use crate::model::{EventRecord, ExtensionRecord, ReportRecord, StoredFacts};
use crate::storage::codec::{corrupt, ts};
use crate::storage::entity::{assignment, case_event, extension, report};
use crate::storage::rollups::Rollups;
use crate::storage::schedule::recount_queue_due;
use crate::storage::timeline::event_from_model;
use crate::storage::{ReportRepo, StorageError};

/// One share whose rebuilt facts differ from the stored ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactsDiffer {
    pub stored: StoredFacts,
    pub rebuilt: StoredFacts,
}

impl ReportRepo<'_> {
    /// Rebuilds the facts of `reports` in one transaction: `replay` sets each record's loop facts from its timeline and extension requests, and the facts kept with the deadlines are counted again from its deadline rows.
    /// Answers the shares rebuilt and those whose facts differed from the stored ones.
    #[instrument(skip_all, fields(reports = reports.len()))]
    pub async fn rebuild_facts<F>(
        self,
        reports: Vec<ReportId>,
        replay: F,
    ) -> Result<(usize, Vec<FactsDiffer>), StorageError>
    where
        F: Fn(&mut ReportRecord, &[EventRecord], &[ExtensionRecord]) + Send + 'static,
    {
        let rollups = self.store.rollups();
        self.store
            .write(move |txn| Box::pin(async move { rebuild(txn, rollups, reports, replay).await }))
            .await
    }

    /// Every share's stored facts for `reports`, by report and department.
    pub async fn stored_facts(
        self,
        reports: &[ReportId],
    ) -> Result<Vec<StoredFacts>, StorageError> {
        stored(&self.store.db, reports).await
    }

    /// Up to `limit` reports with a share whose facts were never built (filed before facts existed).
    pub async fn facts_unbuilt(self, limit: u64) -> Result<Vec<ReportId>, StorageError> {
        let ids: Vec<String> = assignment::Entity::find()
            .select_only()
            .column(assignment::Column::ReportId)
            .filter(assignment::Column::FactsVersion.lt(FACTS_VERSION))
            .limit(limit)
            .into_tuple()
            .all(&self.store.db)
            .await?;
        let mut ids = ids
            .into_iter()
            .map(|id| ReportId::parse(&id).map_err(|e| corrupt("assignment", e)))
            .collect::<Result<Vec<_>, _>>()?;
        ids.sort_unstable_by_key(|id| id.to_string());
        ids.dedup();
        Ok(ids)
    }

    /// Up to `limit` whistled reports after `after`, by id: the pages of a whole rebuild.
    pub async fn whistled_after(
        self,
        after: Option<&ReportId>,
        limit: u64,
    ) -> Result<Vec<ReportId>, StorageError> {
        let mut query = report::Entity::find()
            .select_only()
            .column(report::Column::Id)
            .filter(report::Column::CaseId.is_not_null())
            .order_by_asc(report::Column::Id)
            .limit(limit);
        if let Some(after) = after {
            query = query.filter(report::Column::Id.gt(after.to_string()));
        }
        let ids: Vec<String> = query.into_tuple().all(&self.store.db).await?;
        ids.into_iter()
            .map(|id| ReportId::parse(&id).map_err(|e| corrupt("report", e)))
            .collect()
    }
}

async fn rebuild<F>(
    txn: &DatabaseTransaction,
    rollups: Rollups,
    reports: Vec<ReportId>,
    replay: F,
) -> Result<(usize, Vec<FactsDiffer>), StorageError>
where
    F: Fn(&mut ReportRecord, &[EventRecord], &[ExtensionRecord]),
{
    // Read locked in id order, as the batches read them, so no change moves the shares while their rollups are withdrawn.
    let mut records = lock_reports(txn, rollups.backend, &reports).await?;
    let ids: Vec<String> = reports.iter().map(ToString::to_string).collect();
    rollups.withdraw(txn, &ids, true).await?;
    let before = stored(txn, &reports).await?;
    let mut timelines: HashMap<ReportId, Vec<EventRecord>> = HashMap::new();
    for event in case_event::Entity::find()
        .filter(case_event::Column::ReportId.is_in(ids.clone()))
        .order_by_asc(case_event::Column::ReportId)
        .order_by_asc(case_event::Column::Sequence)
        .all(txn)
        .await?
    {
        let event = event_from_model(event)?;
        timelines.entry(event.report).or_default().push(event);
    }
    let extensions: Vec<ExtensionRecord> = extension::Entity::find()
        .filter(extension::Column::ReportId.is_in(ids.clone()))
        .all(txn)
        .await?
        .into_iter()
        .map(extension_from_model)
        .collect::<Result<_, _>>()?;
    let mut shares = 0;
    for record in &mut records {
        let timeline = timelines.remove(&record.id).unwrap_or_default();
        let asked: Vec<ExtensionRecord> = extensions
            .iter()
            .filter(|x| x.report == record.id)
            .cloned()
            .collect();
        replay(record, &timeline, &asked);
        for a in &record.assignments {
            assignment::Entity::update(assignment_model(&record.id, a))
                .exec(txn)
                .await?;
            shares += 1;
        }
        recount_queue_due(txn, &record.id.to_string()).await?;
    }
    rollups.contribute(txn, &ids, true).await?;
    let after = stored(txn, &reports).await?;
    let differ = before
        .into_iter()
        .zip(after)
        .filter(|(stored, rebuilt)| stored != rebuilt)
        .map(|(stored, rebuilt)| FactsDiffer { stored, rebuilt })
        .collect();
    Ok((shares, differ))
}

/// The stored facts of every share of `reports`, by report and department.
async fn stored(
    db: &impl ConnectionTrait,
    reports: &[ReportId],
) -> Result<Vec<StoredFacts>, StorageError> {
    let models = assignment::Entity::find()
        .filter(assignment::Column::ReportId.is_in(reports.iter().map(ToString::to_string)))
        .order_by_asc(assignment::Column::ReportId)
        .order_by_asc(assignment::Column::DepartmentId)
        .all(db)
        .await?;
    models
        .into_iter()
        .map(|m| {
            Ok(StoredFacts {
                report: ReportId::parse(&m.report_id).map_err(|e| corrupt("assignment", e))?,
                department: DepartmentId::parse(&m.department_id)
                    .map_err(|e| corrupt("assignment", e))?,
                report_in_due: m.report_in_due_ms.map(ts),
                finish_due: m.finish_due_ms.map(ts),
                escalations: u32::try_from(m.escalations).map_err(|e| corrupt("assignment", e))?,
                facts: assignment_facts(&m)?,
            })
        })
        .collect()
}
