//! One change to a report and its case, written in one transaction under a version check: the report's columns, its assignments, extensions, timeline events, deadlines and outbox rows.

use gridwhistle_domain::{ExtensionState, Timestamp};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder};
use tracing::instrument;

use super::rows::{assignment_model, load_report, report_changes, sorted};
use crate::model::{Effects, ExtensionRecord, Once, ReportKey, ReportRecord};
use crate::storage::codec::ms;
use crate::storage::entity::{assignment, deadline, extension, report};
use crate::storage::outbox::{Subject, insert_notifications};
use crate::storage::requests::record;
use crate::storage::rollups::Rollups;
use crate::storage::schedule::{apply_deadlines, deadline_from_model};
use crate::storage::timeline::insert_events;
use crate::storage::{Backend, ReportRepo, StorageError, UpdateError};

/// How often a change without an etag re-reads and retries when a concurrent change won.
const UNCHECKED_RETRIES: usize = 8;

impl ReportRepo<'_> {
    /// Applies a change to a report and its case: `change` edits the record and returns the events (at least one) and rows to append; both are returned as stored.
    ///
    /// With `expected_version` a concurrent change is [`UpdateError::Stale`]; without, the change is re-read and retried.
    /// With `once`, the client's request id and the answer are stored in the same transaction.
    #[instrument(skip_all, fields(key = ?key))]
    pub async fn update<E, F>(
        self,
        key: ReportKey,
        expected_version: Option<i64>,
        now: Timestamp,
        once: Option<Once<(ReportRecord, Effects)>>,
        change: F,
    ) -> Result<(ReportRecord, Effects), UpdateError<E>>
    where
        F: FnOnce(&mut ReportRecord) -> Result<Effects, E> + Clone + Send + 'static,
        E: Send + 'static,
    {
        let backend = self.store.backend;
        let rollups = self.store.rollups();
        for _ in 0..UNCHECKED_RETRIES {
            let change = change.clone();
            let once = once.clone();
            let attempt = self
                .store
                .write(move |txn| {
                    Box::pin(async move {
                        let changed =
                            attempt(txn, (backend, rollups), key, expected_version, now, change)
                                .await?;
                        if let (Some(once), Some(changed)) = (&once, &changed) {
                            record(txn, once, &changed.0.id, changed, now).await?;
                        }
                        Ok::<_, UpdateError<E>>(changed)
                    })
                })
                .await?;
            match attempt {
                Some(changed) => return Ok(changed),
                None if expected_version.is_some() => return Err(UpdateError::Stale),
                None => continue,
            }
        }
        Err(UpdateError::Stale)
    }
}

/// One attempt at a change; `None` when a concurrent change moved the version since the read.
async fn attempt<E, F>(
    txn: &DatabaseTransaction,
    (backend, rollups): (Backend, Rollups),
    key: ReportKey,
    expected_version: Option<i64>,
    now: Timestamp,
    change: F,
) -> Result<Option<(ReportRecord, Effects)>, UpdateError<E>>
where
    F: FnOnce(&mut ReportRecord) -> Result<Effects, E>,
{
    let current = load_report(txn, key).await?.ok_or(UpdateError::NotFound)?;
    if expected_version.is_some_and(|v| v != current.version) {
        return Err(UpdateError::Stale);
    }
    let mut next = current.clone();
    let effects = change(&mut next).map_err(UpdateError::Refused)?;
    next.updated_at = now;
    next.version = current.version + effects.events.len() as i64;
    let updated = report::Entity::update_many()
        .set(report_changes(&next)?)
        .filter(report::Column::Id.eq(next.id.to_string()))
        .filter(report::Column::Version.eq(current.version))
        .exec(txn)
        .await
        .map_err(StorageError::from)?;
    if updated.rows_affected == 0 {
        return Ok(None);
    }
    // The figures' rollups: the shares leave them before they are written and return after.
    rollups.withdraw_record(txn, &current).await?;
    write_assignments(txn, &current, &next).await?;
    insert_events(txn, &next, current.version + 1, &effects.events, now).await?;
    if let Some(x) = &effects.extension {
        insert_extension(txn, x).await?;
    }
    if let Some(x) = &effects.decided_extension {
        decide_extension(txn, x).await?;
    }
    let policy_version = next.case.as_ref().and_then(|c| c.policy_version);
    apply_deadlines(
        txn,
        backend,
        &next.id,
        policy_version,
        &effects.deadlines,
        now,
    )
    .await?;
    insert_notifications(
        txn,
        Subject::Report(&next.id),
        current.version + 1,
        &effects.notifications,
        now,
    )
    .await?;
    rollups.contribute_record(txn, &next).await?;
    next.assignments = sorted(next.assignments);
    // The rows were loaded with the report; read them back only when the change wrote some.
    if !effects.deadlines.is_empty() {
        next.deadlines = deadline::Entity::find()
            .filter(deadline::Column::ReportId.eq(next.id.to_string()))
            .order_by_asc(deadline::Column::Id)
            .all(txn)
            .await
            .map_err(StorageError::from)?
            .into_iter()
            .map(deadline_from_model)
            .collect::<Result<_, _>>()?;
    }
    Ok(Some((next, effects)))
}

/// Writes the assignments that changed or are new.
async fn write_assignments(
    txn: &DatabaseTransaction,
    current: &ReportRecord,
    next: &ReportRecord,
) -> Result<(), StorageError> {
    for a in &next.assignments {
        match current
            .assignments
            .iter()
            .find(|c| c.department == a.department)
        {
            Some(old) if old == a => {}
            Some(_) => {
                assignment::Entity::update(assignment_model(&next.id, a))
                    .exec(txn)
                    .await?;
            }
            None => {
                assignment::Entity::insert(assignment_model(&next.id, a))
                    .exec_without_returning(txn)
                    .await
                    .map_err(|e| StorageError::classify(e, "assignment", "department"))?;
            }
        }
    }
    Ok(())
}

/// Stores a department's request for more time.
async fn insert_extension(
    txn: &DatabaseTransaction,
    x: &ExtensionRecord,
) -> Result<(), StorageError> {
    extension::Entity::insert(extension::ActiveModel {
        id: Set(x.id.to_string()),
        report_id: Set(x.report.to_string()),
        department_id: Set(x.department.as_str().to_owned()),
        stage: Set(x.stage.as_str().to_owned()),
        requested_due_ms: Set(ms(x.requested_due)),
        reason: Set(x.reason.clone()),
        state: Set(x.state.as_str().to_owned()),
        approved_due_ms: Set(x.approved_due.map(ms)),
        decision_reason: Set(x.decision_reason.clone()),
        created_at_ms: Set(ms(x.created_at)),
        decided_at_ms: Set(x.decided_at.map(ms)),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// Records a supervisor's decision on an extension, only while it is pending.
async fn decide_extension(
    txn: &DatabaseTransaction,
    x: &ExtensionRecord,
) -> Result<(), StorageError> {
    let decided = extension::Entity::update_many()
        .col_expr(extension::Column::State, Expr::value(x.state.as_str()))
        .col_expr(
            extension::Column::ApprovedDueMs,
            Expr::value(x.approved_due.map(ms)),
        )
        .col_expr(
            extension::Column::DecisionReason,
            Expr::value(x.decision_reason.clone()),
        )
        .col_expr(
            extension::Column::DecidedAtMs,
            Expr::value(x.decided_at.map(ms)),
        )
        .filter(extension::Column::Id.eq(x.id.to_string()))
        .filter(extension::Column::State.eq(ExtensionState::Pending.as_str()))
        .exec(txn)
        .await?;
    if decided.rows_affected == 0 {
        return Err(StorageError::Precondition(
            "the extension was already decided",
        ));
    }
    Ok(())
}
