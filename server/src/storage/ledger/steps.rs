//! The deadlines of ledger steps: rows of `deadlines` named by (entry, step) instead of a case, written with the change to the entry that starts, meets, drops or regrades them, and fired by the deadline engine onto the entry's own timeline.

use gridwhistle_dispatcher::deadlines::Schedule;
use gridwhistle_domain::{
    DeadlineStage, DepartmentId, LedgerEntryId, RiskGrade, Timestamp, UserId,
};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
};
use tracing::instrument;

use super::{append, bad};
use crate::model::{
    DeadlineState, EventPosition, NewLedgerEvent, NewNotification, StepDeadlineChange,
    StepDeadlineRecord,
};
use crate::storage::codec::{int, ms};
use crate::storage::entity::{deadline, ledger_entry};
use crate::storage::outbox::{Subject, insert_notifications, log_position};
use crate::storage::schedule::{deadline_from_model, ended, resume};
use crate::storage::sql::Sql;
use crate::storage::{Backend, LedgerRepo, StorageError, UpdateError};

/// A step's deadline row as stored, with the step it belongs to.
fn record(m: deadline::Model) -> Result<StepDeadlineRecord, StorageError> {
    let step = m
        .step
        .ok_or_else(|| bad("a ledger deadline without its step"))?;
    Ok(StepDeadlineRecord {
        step: u32::try_from(step).map_err(bad)?,
        deadline: deadline_from_model(m)?,
    })
}

/// The pending row of `entry`'s step `step`, to change.
fn pending(
    entry: &LedgerEntryId,
    step: u32,
) -> Result<sea_orm::UpdateMany<deadline::Entity>, StorageError> {
    Ok(deadline::Entity::update_many()
        .filter(deadline::Column::EntryId.eq(entry.to_string()))
        .filter(deadline::Column::Step.eq(int("step", step)?))
        .filter(deadline::Column::State.eq(DeadlineState::Pending.as_str())))
}

/// Writes `changes` to the deadlines of `entry`'s steps, in order; meeting or dropping a step touches only a pending row.
pub(super) async fn apply(
    txn: &DatabaseTransaction,
    entry: &LedgerEntryId,
    changes: &[StepDeadlineChange],
    now: Timestamp,
) -> Result<(), StorageError> {
    for change in changes {
        match change {
            StepDeadlineChange::Start {
                step,
                department,
                policy_version,
                started_at,
                due_at,
                next_fire_at,
            } => {
                start(
                    txn,
                    entry,
                    *step,
                    department,
                    *policy_version,
                    (*started_at, *due_at),
                    *next_fire_at,
                )
                .await?
            }
            StepDeadlineChange::Satisfy { step } => {
                settle(txn, entry, *step, DeadlineState::Satisfied, Some(now)).await?;
            }
            StepDeadlineChange::Cancel { step } => {
                settle(txn, entry, *step, DeadlineState::Cancelled, None).await?;
            }
            StepDeadlineChange::Resume { step, schedule } => {
                resume(pending(entry, *step)?, schedule)?.exec(txn).await?;
            }
        }
    }
    Ok(())
}

async fn start(
    txn: &DatabaseTransaction,
    entry: &LedgerEntryId,
    step: u32,
    department: &DepartmentId,
    policy_version: i64,
    (started_at, due_at): (Timestamp, Timestamp),
    next_fire_at: Option<Timestamp>,
) -> Result<(), StorageError> {
    deadline::Entity::insert(deadline::ActiveModel {
        id: NotSet,
        report_id: Set(None),
        entry_id: Set(Some(entry.to_string())),
        step: Set(Some(int("step", step)?)),
        department_id: Set(department.to_string()),
        stage: Set(DeadlineStage::LedgerStep.as_str().to_owned()),
        policy_version: Set(policy_version),
        started_at_ms: Set(ms(started_at)),
        due_at_ms: Set(ms(due_at)),
        state: Set(DeadlineState::Pending.as_str().to_owned()),
        satisfied_at_ms: Set(None),
        escalation_level: Set(0),
        next_step: Set(0),
        next_fire_at_ms: Set(next_fire_at.map(ms)),
        claimed_by: Set(None),
        claimed_until_ms: Set(None),
        letter_id: Set(String::new()),
        provisional: Set(false),
    })
    .exec_without_returning(txn)
    .await
    .map_err(|e| StorageError::classify(e, "deadline of the step", "department"))?;
    Ok(())
}

async fn settle(
    txn: &DatabaseTransaction,
    entry: &LedgerEntryId,
    step: u32,
    state: DeadlineState,
    satisfied_at: Option<Timestamp>,
) -> Result<(), StorageError> {
    ended(pending(entry, step)?, state, satisfied_at)
        .exec(txn)
        .await?;
    Ok(())
}

/// An entry as the deadline engine reads it to fire some of its steps' deadlines: what picks the policy and who hears of it, and those deadlines as they stand.
#[derive(Debug, Clone, PartialEq)]
pub struct StepFiringTarget {
    pub entry: LedgerEntryId,
    pub version: i64,
    pub grade: RiskGrade,
    /// The district leader who owns the entry, whom a ladder's leader rung reaches.
    pub leader: Option<UserId>,
    /// Those of the deadlines asked for that belong to this entry.
    pub deadlines: Vec<StepDeadlineRecord>,
}

/// One firing of a step's deadline, as the engine decided it: its timeline event, where the deadline's schedule goes next, and who hears of it.
#[derive(Debug, Clone, PartialEq)]
pub struct StepFiring {
    pub step: u32,
    /// The deadline's row id, and the step of its schedule that fired.
    pub deadline: i64,
    pub fired_step: u32,
    pub next_fire_at: Option<Timestamp>,
    pub escalation_level: u32,
    /// `None` when nothing fired because the policy has no such step: the deadline only stops firing.
    pub event: Option<NewLedgerEvent>,
    pub notifications: Vec<NewNotification>,
}

impl LedgerRepo<'_> {
    /// The deadlines of `entry`'s steps, by step.
    pub async fn step_deadlines(
        self,
        entry: &LedgerEntryId,
    ) -> Result<Vec<StepDeadlineRecord>, StorageError> {
        deadline::Entity::find()
            .filter(deadline::Column::EntryId.eq(entry.to_string()))
            .order_by_asc(deadline::Column::Step)
            .all(&self.store.db)
            .await?
            .into_iter()
            .map(record)
            .collect()
    }

    /// Appends the deadline engine's firings of steps to their entries in one transaction: each firing's event on the entry's timeline (moving its version on), its deadline's next step, and its outbox rows.
    ///
    /// `decide` sees the entries (locked in id order on PostgreSQL) and the named deadlines as they stand inside the transaction, and answers each entry's firings in order with a value for the caller.
    /// Should an entry or deadline not be where `decide` saw it, the whole batch rolls back as [`UpdateError::Stale`].
    #[instrument(skip_all, fields(deadlines = deadlines.len()))]
    pub async fn append_firings<T, E, F>(
        self,
        deadlines: Vec<(LedgerEntryId, i64)>,
        now: Timestamp,
        decide: F,
    ) -> Result<T, UpdateError<E>>
    where
        F: FnOnce(&[StepFiringTarget]) -> Result<(Vec<(LedgerEntryId, StepFiring)>, T), E>
            + Send
            + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let backend = self.store.backend;
        self.store
            .write(move |txn| {
                Box::pin(async move {
                    let targets = lock_targets(txn, backend, &deadlines).await?;
                    let (firings, answer) = decide(&targets).map_err(UpdateError::Refused)?;
                    let mut versions: std::collections::HashMap<LedgerEntryId, i64> =
                        targets.iter().map(|t| (t.entry, t.version)).collect();
                    // The transaction writes no case event, so its place in the log is one for all its notifications.
                    let log = if firings.iter().any(|(_, f)| f.event.is_some()) {
                        Some(log_position(txn, backend).await?)
                    } else {
                        None
                    };
                    for (entry, firing) in firings {
                        let version = versions
                            .get_mut(&entry)
                            .ok_or_else(|| bad("a firing for an entry not read"))?;
                        write_firing(txn, log, &entry, *version, &firing, now).await?;
                        *version += i64::from(firing.event.is_some());
                    }
                    for (entry, version) in versions {
                        ledger_entry::Entity::update_many()
                            .col_expr(ledger_entry::Column::Version, Expr::value(version))
                            .filter(ledger_entry::Column::Id.eq(entry.to_string()))
                            .exec(txn)
                            .await
                            .map_err(StorageError::from)?;
                    }
                    Ok(answer)
                })
            })
            .await
    }
}

/// Writes one firing on an entry at `version`: its event, its deadline's advance (only while pending at the step that fired) and its outbox rows, at `log` in the event log.
async fn write_firing<E>(
    txn: &DatabaseTransaction,
    log: Option<EventPosition>,
    entry: &LedgerEntryId,
    version: i64,
    firing: &StepFiring,
    now: Timestamp,
) -> Result<(), UpdateError<E>> {
    let events: Vec<NewLedgerEvent> = firing.event.iter().cloned().collect();
    append(txn, entry, version, &events, now).await?;
    let next = Schedule {
        next_step: firing.fired_step.saturating_add(1),
        next_fire_at: firing.next_fire_at,
        escalation_level: firing.escalation_level,
    };
    let moved = resume(deadline::Entity::update_many(), &next)?
        .col_expr(
            deadline::Column::ClaimedBy,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            deadline::Column::ClaimedUntilMs,
            Expr::value(Option::<i64>::None),
        )
        .filter(deadline::Column::Id.eq(firing.deadline))
        .filter(deadline::Column::EntryId.eq(entry.to_string()))
        .filter(deadline::Column::State.eq(DeadlineState::Pending.as_str()))
        .filter(deadline::Column::NextStep.eq(int("next_step", firing.fired_step)?))
        .exec(txn)
        .await
        .map_err(StorageError::from)?;
    if moved.rows_affected != 1 {
        return Err(UpdateError::Stale);
    }
    if let (false, Some(log)) = (events.is_empty(), log) {
        let about = Subject::LedgerStep {
            entry,
            step: firing.step,
            log,
        };
        insert_notifications(txn, about, version + 1, &firing.notifications, now).await?;
    }
    Ok(())
}

/// Reads the entries of `deadlines` (locked in id order on PostgreSQL) and the deadlines themselves.
async fn lock_targets(
    txn: &DatabaseTransaction,
    backend: Backend,
    deadlines: &[(LedgerEntryId, i64)],
) -> Result<Vec<StepFiringTarget>, StorageError> {
    let mut entries: Vec<String> = deadlines.iter().map(|(e, _)| e.to_string()).collect();
    entries.sort_unstable();
    entries.dedup();
    let mut sql = Sql::new(backend);
    sql.push("SELECT id, version, grade, leader_id FROM ledger_entries WHERE id")
        .any(entries.iter().cloned())
        .push(" ORDER BY id");
    if backend == Backend::Postgres {
        sql.push(" FOR UPDATE");
    }
    let mut targets = Vec::with_capacity(entries.len());
    // Each entry's place in `targets`, by its stored id.
    let mut at = std::collections::HashMap::with_capacity(entries.len());
    for row in txn.query_all_raw(sql.build()).await? {
        let (id, version, grade, leader): (String, i64, String, Option<String>) =
            row.try_get_many_by_index()?;
        at.insert(id.clone(), targets.len());
        targets.push(StepFiringTarget {
            entry: LedgerEntryId::parse(&id).map_err(bad)?,
            version,
            grade: grade.parse().map_err(bad)?,
            leader: leader.map(|l| UserId::parse(&l).map_err(bad)).transpose()?,
            deadlines: Vec::new(),
        });
    }
    let ids: Vec<i64> = deadlines.iter().map(|(_, d)| *d).collect();
    let mut sql = Sql::new(backend);
    sql.push("SELECT * FROM deadlines WHERE id").any_i64(ids);
    for model in deadline::Entity::find()
        .from_raw_sql(sql.build())
        .all(txn)
        .await?
    {
        // A deadline whose entry was not asked for with it is left out, as if missing.
        if let Some(&i) = model.entry_id.as_ref().and_then(|e| at.get(e)) {
            targets[i].deadlines.push(record(model)?);
        }
    }
    Ok(targets)
}
