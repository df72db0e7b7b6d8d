//! The ledger of long-standing cases (积案台账): entries opened idempotently on the console's id, changed whole under a version check with their timeline events in the same transaction, and listed most urgent first from an index.

mod steps;

use std::collections::HashMap;

use gridwhistle_domain::ledger::{LedgerEventKind, LedgerState, Level, Nature, StepState};
use gridwhistle_domain::{
    CaseId, DepartmentId, LedgerEntryId, ReportId, RiskGrade, Timestamp, UserId,
};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Asterisk, Expr, Func, OnConflict, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use tracing::instrument;

use super::codec::{
    corrupt, ids_from_json, ids_to_json, int, parties_from_json, parties_to_json, ts,
};
use super::entity::{ledger_entry, ledger_event, ledger_step, report};
use super::{LedgerRepo, StorageError, UpdateError};
use crate::model::{
    LedgerCounts, LedgerEntryRecord, LedgerEventRecord, LedgerFilter, LedgerOpenOutcome,
    LedgerPosition, LedgerReader, LedgerStepRecord, LinkedCase, NewLedgerEvent, StepDeadlineChange,
};

pub use steps::{StepFiring, StepFiringTarget};

const ENTITY: &str = "ledger entry";

fn bad(reason: impl ToString) -> StorageError {
    corrupt(ENTITY, reason)
}

fn entry_model(e: &LedgerEntryRecord) -> ledger_entry::ActiveModel {
    ledger_entry::ActiveModel {
        id: Set(e.id.to_string()),
        report_id: Set(e.case.as_ref().map(|c| c.report.to_string())),
        title: Set(e.title.clone()),
        summary: Set(e.summary.clone()),
        nature: Set(e.nature.as_str().to_owned()),
        since_ms: Set(e.since.as_unix_millis()),
        complexity: Set(e.complexity.as_str().to_owned()),
        social_impact: Set(e.social_impact.as_str().to_owned()),
        grade: Set(e.grade.as_str().to_owned()),
        unit_id: Set(e.unit.to_string()),
        responsible_person: Set(e.responsible_person.clone()),
        leader_id: Set(e.leader.map(|l| l.to_string())),
        parties: Set(parties_to_json(&e.parties)),
        state: Set(e.state.as_str().to_owned()),
        close_result: Set(e.close_result.clone()),
        parties_stance: Set(e.parties_stance.clone()),
        next_due_ms: Set(e.next_due().map_or(i64::MAX, Timestamp::as_unix_millis)),
        version: Set(e.version),
        request_hash: Set(e.request_hash.clone()),
        created_at_ms: Set(e.created_at.as_unix_millis()),
        updated_at_ms: Set(e.updated_at.as_unix_millis()),
        closed_at_ms: Set(e.closed_at.map(Timestamp::as_unix_millis)),
    }
}

fn step_models(e: &LedgerEntryRecord) -> Result<Vec<ledger_step::ActiveModel>, StorageError> {
    e.steps
        .iter()
        .map(|s| {
            Ok(ledger_step::ActiveModel {
                entry_id: Set(e.id.to_string()),
                number: Set(int("ledger_steps.number", s.number)?),
                department_id: Set(s.department.to_string()),
                description: Set(s.description.clone()),
                due_at_ms: Set(s.due_at.as_unix_millis()),
                state: Set(s.state.as_str().to_owned()),
                revision: Set(int("ledger_steps.revision", s.revision)?),
                done_at_ms: Set(s.done_at.map(Timestamp::as_unix_millis)),
                done_by: Set(s.done_by.map(|u| u.to_string())),
                result: Set(s.result.clone()),
                attachments: Set(ids_to_json(&s.attachments)),
            })
        })
        .collect()
}

fn step_from_model(m: ledger_step::Model) -> Result<LedgerStepRecord, StorageError> {
    Ok(LedgerStepRecord {
        number: u32::try_from(m.number).map_err(bad)?,
        department: DepartmentId::parse(&m.department_id).map_err(bad)?,
        description: m.description,
        due_at: ts(m.due_at_ms),
        state: StepState::parse(&m.state).map_err(bad)?,
        revision: u32::try_from(m.revision).map_err(bad)?,
        done_at: m.done_at_ms.map(ts),
        done_by: m
            .done_by
            .map(|u| UserId::parse(&u).map_err(bad))
            .transpose()?,
        result: m.result,
        attachments: ids_from_json(ENTITY, &m.attachments)?,
    })
}

fn entry_from_model(
    m: ledger_entry::Model,
    case: Option<LinkedCase>,
    steps: Vec<LedgerStepRecord>,
) -> Result<LedgerEntryRecord, StorageError> {
    Ok(LedgerEntryRecord {
        id: LedgerEntryId::parse(&m.id).map_err(bad)?,
        case,
        title: m.title,
        summary: m.summary,
        nature: Nature::parse(&m.nature).map_err(bad)?,
        since: ts(m.since_ms),
        complexity: Level::parse(&m.complexity).map_err(bad)?,
        social_impact: Level::parse(&m.social_impact).map_err(bad)?,
        grade: m.grade.parse::<RiskGrade>().map_err(bad)?,
        unit: DepartmentId::parse(&m.unit_id).map_err(bad)?,
        responsible_person: m.responsible_person,
        leader: m
            .leader_id
            .map(|u| UserId::parse(&u).map_err(bad))
            .transpose()?,
        parties: parties_from_json(&m.parties)?,
        state: LedgerState::parse(&m.state).map_err(bad)?,
        close_result: m.close_result,
        parties_stance: m.parties_stance,
        steps,
        version: m.version,
        request_hash: m.request_hash,
        created_at: ts(m.created_at_ms),
        updated_at: ts(m.updated_at_ms),
        closed_at: m.closed_at_ms.map(ts),
    })
}

/// The entries of `models` with their cases and steps, in the order given; three statements whatever their number.
async fn with_plans(
    db: &impl ConnectionTrait,
    models: Vec<ledger_entry::Model>,
) -> Result<Vec<LedgerEntryRecord>, StorageError> {
    if models.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = models.iter().map(|m| m.id.clone()).collect();
    let mut plans: HashMap<String, Vec<LedgerStepRecord>> = HashMap::new();
    for step in ledger_step::Entity::find()
        .filter(ledger_step::Column::EntryId.is_in(ids))
        .order_by_asc(ledger_step::Column::EntryId)
        .order_by_asc(ledger_step::Column::Number)
        .all(db)
        .await?
    {
        let entry = step.entry_id.clone();
        plans.entry(entry).or_default().push(step_from_model(step)?);
    }
    let reports: Vec<String> = models.iter().filter_map(|m| m.report_id.clone()).collect();
    let cases: Vec<(String, Option<String>, String)> = if reports.is_empty() {
        Vec::new()
    } else {
        report::Entity::find()
            .select_only()
            .columns([
                report::Column::Id,
                report::Column::CaseId,
                report::Column::AuthorId,
            ])
            .filter(report::Column::Id.is_in(reports))
            .into_tuple()
            .all(db)
            .await?
    };
    models
        .into_iter()
        .map(|m| {
            let plan = plans.remove(&m.id).unwrap_or_default();
            let case = match &m.report_id {
                None => None,
                Some(report) => Some(linked_case(&cases, report)?),
            };
            entry_from_model(m, case, plan)
        })
        .collect()
}

fn linked_case(
    cases: &[(String, Option<String>, String)],
    report: &str,
) -> Result<LinkedCase, StorageError> {
    let (id, case, author) = cases
        .iter()
        .find(|(id, _, _)| id == report)
        .ok_or_else(|| bad("its case is missing"))?;
    Ok(LinkedCase {
        report: ReportId::parse(id).map_err(bad)?,
        case: CaseId::parse(
            case.as_deref()
                .ok_or_else(|| bad("its report has no case"))?,
        )
        .map_err(bad)?,
        reporter: UserId::parse(author).map_err(bad)?,
    })
}

/// Appends `events` after `version` events.
async fn append(
    txn: &DatabaseTransaction,
    entry: &LedgerEntryId,
    version: i64,
    events: &[NewLedgerEvent],
    at: Timestamp,
) -> Result<(), StorageError> {
    if events.is_empty() {
        return Ok(());
    }
    ledger_event::Entity::insert_many(events.iter().zip(version + 1..).map(|(e, sequence)| {
        ledger_event::ActiveModel {
            entry_id: Set(entry.to_string()),
            sequence: Set(sequence),
            kind: Set(e.kind.as_str().to_owned()),
            actor_id: Set(e.actor.map(|u| u.to_string())),
            text: Set(e.text.clone()),
            at_ms: Set(at.as_unix_millis()),
        }
    }))
    .exec(txn)
    .await?;
    Ok(())
}

/// Writes `entry`'s steps whole: the plan's steps are few, and a revision renumbers none of them.
async fn write_steps(
    txn: &DatabaseTransaction,
    entry: &LedgerEntryRecord,
) -> Result<(), StorageError> {
    ledger_step::Entity::delete_many()
        .filter(ledger_step::Column::EntryId.eq(entry.id.to_string()))
        .exec(txn)
        .await?;
    let steps = step_models(entry)?;
    if !steps.is_empty() {
        ledger_step::Entity::insert_many(steps).exec(txn).await?;
    }
    Ok(())
}

/// The condition that narrows entries to what `reader` may read.
fn readable(reader: &LedgerReader) -> Condition {
    use ledger_entry::Column as E;
    match reader {
        LedgerReader::All => Condition::all(),
        LedgerReader::Department(d) => Condition::any().add(E::UnitId.eq(d.as_str())).add(
            E::Id.in_subquery(
                Query::select()
                    .column(ledger_step::Column::EntryId)
                    .from(ledger_step::Entity)
                    .and_where(ledger_step::Column::DepartmentId.eq(d.as_str()))
                    .to_owned(),
            ),
        ),
        LedgerReader::Leader(u) => Condition::all().add(E::LeaderId.eq(u.to_string())),
        LedgerReader::Reporter(u) => Condition::all().add(
            E::ReportId.in_subquery(
                Query::select()
                    .column(report::Column::Id)
                    .from(report::Entity)
                    .and_where(report::Column::AuthorId.eq(u.to_string()))
                    .to_owned(),
            ),
        ),
    }
}

fn filtered(filter: &LedgerFilter) -> Condition {
    use ledger_entry::Column as E;
    let mut c = Condition::all().add(readable(&filter.reader));
    if let Some(grade) = filter.grade {
        c = c.add(E::Grade.eq(grade.as_str()));
    }
    if let Some(nature) = filter.nature {
        c = c.add(E::Nature.eq(nature.as_str()));
    }
    if let Some(unit) = &filter.unit {
        c = c.add(E::UnitId.eq(unit.as_str()));
    }
    if let Some(leader) = &filter.leader {
        c = c.add(E::LeaderId.eq(leader.to_string()));
    }
    if let Some(at) = filter.overdue_at {
        c = c.add(E::NextDueMs.lt(at.as_unix_millis()));
    }
    if let Some(state) = filter.state {
        c = c.add(E::State.eq(state.as_str()));
    }
    c
}

/// After `p` in (grade, next due time, id) order.
fn after(p: &LedgerPosition) -> Condition {
    use ledger_entry::Column as E;
    let grade = p.grade.as_str();
    let id = p.id.to_string();
    Condition::any()
        .add(E::Grade.gt(grade))
        .add(
            Condition::all()
                .add(E::Grade.eq(grade))
                .add(E::NextDueMs.gt(p.next_due_ms)),
        )
        .add(
            Condition::all()
                .add(E::Grade.eq(grade))
                .add(E::NextDueMs.eq(p.next_due_ms))
                .add(E::Id.gt(id)),
        )
}

impl LedgerRepo<'_> {
    /// Opens `entry` with its first event, unless an entry under its id exists: then answers the stored one. A case is in the ledger once: another entry of it is `AlreadyExists`.
    #[instrument(skip_all, fields(entry = %entry.id))]
    pub async fn open(
        self,
        entry: LedgerEntryRecord,
        event: NewLedgerEvent,
        deadlines: Vec<StepDeadlineChange>,
    ) -> Result<LedgerOpenOutcome, StorageError> {
        self.store
            .write(move |txn| {
                Box::pin(async move {
                    let inserted = ledger_entry::Entity::insert(entry_model(&entry))
                        .on_conflict(
                            OnConflict::column(ledger_entry::Column::Id)
                                .do_nothing()
                                .to_owned(),
                        )
                        .exec_without_returning(txn)
                        .await
                        .map_err(|e| {
                            StorageError::classify(
                                e,
                                "ledger entry of the case",
                                "unit, leader or case",
                            )
                        })?;
                    if inserted == 0 {
                        let existing = load(txn, &entry.id)
                            .await?
                            .ok_or_else(|| bad("vanished while opened again"))?;
                        return Ok(LedgerOpenOutcome::Existing(Box::new(existing)));
                    }
                    write_steps(txn, &entry).await?;
                    steps::apply(txn, &entry.id, &deadlines, entry.created_at).await?;
                    append(
                        txn,
                        &entry.id,
                        0,
                        std::slice::from_ref(&event),
                        entry.created_at,
                    )
                    .await?;
                    Ok(LedgerOpenOutcome::Opened(Box::new(entry)))
                })
            })
            .await
    }

    /// One entry with its case and plan.
    #[instrument(skip_all, fields(entry = %id))]
    pub async fn get(self, id: &LedgerEntryId) -> Result<Option<LedgerEntryRecord>, StorageError> {
        load(&self.store.db, id).await
    }

    /// An entry's timeline, in order.
    #[instrument(skip_all, fields(entry = %id))]
    pub async fn timeline(
        self,
        id: &LedgerEntryId,
    ) -> Result<Vec<LedgerEventRecord>, StorageError> {
        ledger_event::Entity::find()
            .filter(ledger_event::Column::EntryId.eq(id.to_string()))
            .order_by_asc(ledger_event::Column::Sequence)
            .all(&self.store.db)
            .await?
            .into_iter()
            .map(|m| {
                Ok(LedgerEventRecord {
                    sequence: m.sequence,
                    kind: LedgerEventKind::parse(&m.kind).map_err(bad)?,
                    actor: m
                        .actor_id
                        .map(|u| UserId::parse(&u).map_err(bad))
                        .transpose()?,
                    text: m.text,
                    at: ts(m.at_ms),
                })
            })
            .collect()
    }

    /// Writes `entry` as changed from `version` with `events` appended (its version must already count them) and its steps' `deadlines` changed, or `Stale` when the stored entry is no longer at `version`.
    #[instrument(skip_all, fields(entry = %entry.id))]
    pub async fn update(
        self,
        entry: LedgerEntryRecord,
        version: i64,
        events: Vec<NewLedgerEvent>,
        deadlines: Vec<StepDeadlineChange>,
    ) -> Result<LedgerEntryRecord, UpdateError<std::convert::Infallible>> {
        self.store
            .write(move |txn| {
                Box::pin(async move {
                    let mut model = entry_model(&entry);
                    // Neither the id nor how it was opened ever changes.
                    model.id = sea_orm::ActiveValue::NotSet;
                    model.request_hash = sea_orm::ActiveValue::NotSet;
                    model.created_at_ms = sea_orm::ActiveValue::NotSet;
                    let updated = ledger_entry::Entity::update_many()
                        .set(model)
                        .filter(ledger_entry::Column::Id.eq(entry.id.to_string()))
                        .filter(ledger_entry::Column::Version.eq(version))
                        .exec(txn)
                        .await
                        .map_err(StorageError::from)?;
                    if updated.rows_affected == 0 {
                        let exists = ledger_entry::Entity::find_by_id(entry.id.to_string())
                            .one(txn)
                            .await
                            .map_err(StorageError::from)?;
                        return Err(match exists {
                            Some(_) => UpdateError::Stale,
                            None => UpdateError::NotFound,
                        });
                    }
                    write_steps(txn, &entry).await?;
                    steps::apply(txn, &entry.id, &deadlines, entry.updated_at).await?;
                    append(txn, &entry.id, version, &events, entry.updated_at).await?;
                    Ok(entry)
                })
            })
            .await
    }

    /// A page of the entries `filter` selects, most urgent grade first, then the nearest open step's due time, then id; each with its plan.
    #[instrument(skip_all)]
    pub async fn list(
        self,
        filter: &LedgerFilter,
        position: Option<&LedgerPosition>,
        limit: u64,
    ) -> Result<Vec<LedgerEntryRecord>, StorageError> {
        use ledger_entry::Column as E;
        let mut condition = filtered(filter);
        if let Some(p) = position {
            condition = condition.add(after(p));
        }
        let models = ledger_entry::Entity::find()
            .filter(condition)
            .order_by_asc(E::Grade)
            .order_by_asc(E::NextDueMs)
            .order_by_asc(E::Id)
            .limit(limit)
            .all(&self.store.db)
            .await?;
        with_plans(&self.store.db, models).await
    }

    /// The entries not closed that `reader` may read (of `unit` only, when named), by colour, and those overdue at `now`.
    #[instrument(skip_all)]
    pub async fn counts(
        self,
        reader: &LedgerReader,
        unit: Option<&DepartmentId>,
        now: Timestamp,
    ) -> Result<LedgerCounts, StorageError> {
        use ledger_entry::Column as E;
        let mut condition = Condition::all().add(readable(reader)).add(E::State.is_in([
            LedgerState::Open.as_str(),
            LedgerState::CloseRequested.as_str(),
        ]));
        if let Some(unit) = unit {
            condition = condition.add(E::UnitId.eq(unit.as_str()));
        }
        let overdue: Expr =
            Func::sum(Expr::case(E::NextDueMs.lt(now.as_unix_millis()), 1).finally(0)).into();
        let rows: Vec<(String, i64, Option<i64>)> = ledger_entry::Entity::find()
            .select_only()
            .column(E::Grade)
            .column_as(Expr::from(Func::count(Expr::col(Asterisk))), "n")
            .column_as(overdue, "overdue")
            .filter(condition)
            .group_by(E::Grade)
            .into_tuple()
            .all(&self.store.db)
            .await?;
        let mut counts = LedgerCounts::default();
        for (grade, n, overdue) in rows {
            match grade.parse::<RiskGrade>().map_err(bad)? {
                RiskGrade::A => counts.red = n,
                RiskGrade::B => counts.yellow = n,
                RiskGrade::C => counts.blue = n,
            }
            counts.overdue += overdue.unwrap_or_default();
        }
        Ok(counts)
    }
}

/// Reads an entry with its case and plan.
async fn load(
    db: &impl ConnectionTrait,
    id: &LedgerEntryId,
) -> Result<Option<LedgerEntryRecord>, StorageError> {
    let Some(m) = ledger_entry::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(with_plans(db, vec![m]).await?.pop())
}
