//! Reports and the cases they became: filed once (idempotent on the client's id, in batches through the group-commit writer), read with their assignments and deadlines, and changed under a version check with their events, deadlines and outbox rows in the same transaction.

mod change;
mod facts;
mod filing;
mod queue;
mod rows;

use std::collections::HashMap;

use gridwhistle_domain::{
    AssignmentState, CaseId, DepartmentId, ExtensionId, GridId, ReportId, ReportState, Timestamp,
    UserId,
};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use tracing::instrument;

pub use facts::FactsDiffer;
pub(super) use filing::Filing;
use rows::load_report;
pub(super) use rows::with_assignments;

use super::codec::{corrupt, parse, ts};
use super::entity::{assignment, extension, report};
use super::multirow::ROWS_PER_STATEMENT;
use super::{Backend, ReportRepo, StorageError};
use crate::model::{
    CreateOutcome, ExtensionFilter, ExtensionRecord, InboxFilter, NewReport, ReportKey,
    ReportRecord,
};
use crate::storage::sql::after_position;

impl ReportRepo<'_> {
    /// Files a report and its first timeline event, or recognises a retry of one already filed.
    ///
    /// Reports are filed in batches by the group-commit writer on both databases: one insert for the reports and one for their events per commit.
    #[instrument(skip_all, fields(report = %new.id))]
    pub async fn create(
        self,
        author: UserId,
        grid: Option<GridId>,
        new: NewReport,
        now: Timestamp,
    ) -> Result<CreateOutcome, StorageError> {
        self.store
            .writer
            .batch(Filing {
                author,
                grid,
                new,
                now,
            })
            .await
    }

    /// The report (or the case's report) with its assignments.
    #[instrument(skip_all, fields(key = ?key))]
    pub async fn get(self, key: ReportKey) -> Result<ReportRecord, StorageError> {
        let entity = match key {
            ReportKey::Report(_) => "report",
            ReportKey::Case(_) => "case",
        };
        load_report(&self.store.db, key)
            .await?
            .ok_or(StorageError::NotFound { entity })
    }

    /// Lists an author's reports by id (time-ordered), starting after `after`.
    #[instrument(skip_all, fields(limit))]
    pub async fn by_author(
        self,
        author: &UserId,
        state: Option<ReportState>,
        after: Option<&ReportId>,
        limit: u64,
    ) -> Result<Vec<ReportRecord>, StorageError> {
        let mut query = report::Entity::find()
            .filter(report::Column::AuthorId.eq(author.to_string()))
            .order_by_asc(report::Column::Id);
        if let Some(state) = state {
            query = query.filter(report::Column::State.eq(state.as_str()));
        }
        if let Some(after) = after {
            query = query.filter(report::Column::Id.gt(after.to_string()));
        }
        let models = query.limit(limit).all(&self.store.db).await?;
        with_assignments(&self.store.db, models).await
    }

    /// The extension `id` of the case `case`, with its report.
    pub async fn extension(
        self,
        case: &CaseId,
        id: &ExtensionId,
    ) -> Result<ExtensionRecord, StorageError> {
        let report = report::Entity::find()
            .filter(report::Column::CaseId.eq(case.to_string()))
            .one(&self.store.db)
            .await?
            .ok_or(StorageError::NotFound {
                entity: "extension",
            })?;
        let m = extension::Entity::find_by_id(id.to_string())
            .filter(extension::Column::ReportId.eq(report.id))
            .one(&self.store.db)
            .await?
            .ok_or(StorageError::NotFound {
                entity: "extension",
            })?;
        extension_from_model(m)
    }

    /// Extension requests in the order they were made (their ids are time-ordered), after `after`, at most `limit`, each with its case.
    #[instrument(skip_all, fields(limit))]
    pub async fn extensions(
        self,
        filter: &ExtensionFilter,
        after: Option<&ExtensionId>,
        limit: u64,
    ) -> Result<Vec<(CaseId, ExtensionRecord)>, StorageError> {
        let mut query = extension::Entity::find().order_by_asc(extension::Column::Id);
        if let Some(department) = &filter.department {
            query = query.filter(extension::Column::DepartmentId.eq(department.as_str()));
        }
        if let Some(state) = filter.state {
            query = query.filter(extension::Column::State.eq(state.as_str()));
        }
        if let Some(after) = after {
            query = query.filter(extension::Column::Id.gt(after.to_string()));
        }
        let models = query.limit(limit).all(&self.store.db).await?;
        let case_of: HashMap<String, Option<String>> = report::Entity::find()
            .select_only()
            .column(report::Column::Id)
            .column(report::Column::CaseId)
            .filter(report::Column::Id.is_in(models.iter().map(|m| m.report_id.clone())))
            .into_tuple::<(String, Option<String>)>()
            .all(&self.store.db)
            .await?
            .into_iter()
            .collect();
        models
            .into_iter()
            .map(|m| {
                let case = case_of
                    .get(&m.report_id)
                    .cloned()
                    .flatten()
                    .ok_or_else(|| corrupt("extension", "its case is missing"))?;
                let case = CaseId::parse(&case).map_err(|e| corrupt("extension", e))?;
                Ok((case, extension_from_model(m)?))
            })
            .collect()
    }

    /// Lists the cases a department is summoned to, by report id, starting after `after`.
    #[instrument(skip_all, fields(department = %department, limit))]
    pub async fn list_inbox(
        self,
        department: &DepartmentId,
        filter: &InboxFilter,
        after: Option<&ReportId>,
        limit: u64,
    ) -> Result<Vec<ReportRecord>, StorageError> {
        let states = inbox_states(filter);
        let mut summoned = Query::select();
        summoned
            .column(assignment::Column::ReportId)
            .from(assignment::Entity)
            .and_where(assignment::Column::DepartmentId.eq(department.as_str()))
            .and_where(assignment::Column::State.is_in(states));
        let mut query = report::Entity::find()
            .filter(report::Column::Id.in_subquery(summoned))
            .order_by_asc(report::Column::Id);
        if let Some(grade) = filter.risk_grade {
            query = query.filter(report::Column::RiskGrade.eq(grade.as_str()));
        }
        if let Some(after) = after {
            query = query.filter(report::Column::Id.gt(after.to_string()));
        }
        let models = query.limit(limit).all(&self.store.db).await?;
        with_assignments(&self.store.db, models).await
    }

    /// Lists the cases a department is summoned to by the department's nearest due time, then report id, after the position `after`; each with that due time (`NOTHING_DUE` when none is pending).
    #[instrument(skip_all, fields(department = %department, limit))]
    pub async fn list_inbox_by_due(
        self,
        department: &DepartmentId,
        filter: &InboxFilter,
        after: Option<(i64, ReportId)>,
        limit: u64,
    ) -> Result<Vec<(i64, ReportRecord)>, StorageError> {
        use assignment::Column as A;
        let mut query = assignment::Entity::find()
            .select_only()
            .column(A::ReportId)
            .column(A::DueAtMs)
            .filter(A::DepartmentId.eq(department.as_str()))
            .filter(A::State.is_in(inbox_states(filter)))
            .order_by_asc(A::DueAtMs)
            .order_by_asc(A::ReportId);
        if let Some(grade) = filter.risk_grade {
            let mut graded = Query::select();
            graded
                .column(report::Column::Id)
                .from(report::Entity)
                .and_where(report::Column::RiskGrade.eq(grade.as_str()));
            query = query.filter(A::ReportId.in_subquery(graded));
        }
        if let Some((due, report)) = after {
            query = query.filter(after_position(
                Expr::col(A::DueAtMs),
                due,
                Expr::col(A::ReportId),
                report.to_string(),
            ));
        }
        let page: Vec<(String, i64)> = query.limit(limit).into_tuple().all(&self.store.db).await?;
        queue::records_in_order(&self.store.db, page).await
    }
}

/// The assignment states an inbox lists: the one asked for, or every active one.
fn inbox_states(filter: &InboxFilter) -> Vec<&'static str> {
    match filter.state {
        Some(state) => vec![state.as_str()],
        None => AssignmentState::ALL
            .iter()
            .filter(|s| s.is_active())
            .map(|s| s.as_str())
            .collect(),
    }
}

pub(super) fn extension_from_model(m: extension::Model) -> Result<ExtensionRecord, StorageError> {
    Ok(ExtensionRecord {
        id: ExtensionId::parse(&m.id).map_err(|e| corrupt("extension", e))?,
        report: ReportId::parse(&m.report_id).map_err(|e| corrupt("extension", e))?,
        department: DepartmentId::parse(&m.department_id).map_err(|e| corrupt("extension", e))?,
        stage: parse("extension", &m.stage)?,
        requested_due: ts(m.requested_due_ms),
        reason: m.reason,
        state: parse("extension", &m.state)?,
        approved_due: m.approved_due_ms.map(ts),
        decision_reason: m.decision_reason,
        created_at: ts(m.created_at_ms),
        decided_at: m.decided_at_ms.map(ts),
    })
}

/// Reads `reports` with their assignments and deadlines, by id; on PostgreSQL their rows are locked in id order, so that no concurrent change slips between reading and writing and two batches cannot deadlock.
pub(super) async fn lock_reports(
    txn: &DatabaseTransaction,
    backend: Backend,
    reports: &[ReportId],
) -> Result<Vec<ReportRecord>, StorageError> {
    let mut ids: Vec<String> = reports.iter().map(ToString::to_string).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut records = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        let mut query = report::Entity::find()
            .filter(report::Column::Id.is_in(chunk.iter().cloned()))
            .order_by_asc(report::Column::Id);
        if backend == Backend::Postgres {
            query = query.lock_exclusive();
        }
        let models = query.all(txn).await?;
        records.extend(with_assignments(txn, models).await?);
    }
    Ok(records)
}
