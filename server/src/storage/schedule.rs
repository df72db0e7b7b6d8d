//! Deadline rows as the steps of the loop write them: a start inserts or restarts the (report, department, stage, letter) row; satisfying, cancelling and moving touch only a pending row; a firing advances a row by its id to the next step of its schedule.
//!
//! Every repository that changes a case writes its deadlines through [`apply_deadlines`]; the deadline repository reads and claims them.

use gridwhistle_dispatcher::deadlines::{DeadlineChange, Schedule, Started};
use gridwhistle_domain::{DeadlineStage, DepartmentId, LetterId, ReportId, Timestamp};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, Value,
};

use super::codec::{corrupt, int, ms, parse, ts};
use super::entity::{assignment, deadline, report};
use super::multirow::execute_values;
use super::{Backend, StorageError};
use crate::model::{DeadlineRecord, DeadlineState};

/// A stored deadline row as the loop sees it.
pub(super) fn deadline_from_model(m: deadline::Model) -> Result<DeadlineRecord, StorageError> {
    Ok(DeadlineRecord {
        id: m.id,
        letter: if m.letter_id.is_empty() {
            None
        } else {
            Some(LetterId::parse(&m.letter_id).map_err(|e| corrupt("deadline", e))?)
        },
        department: DepartmentId::parse(&m.department_id).map_err(|e| corrupt("deadline", e))?,
        stage: parse("deadline", &m.stage)?,
        policy_version: m.policy_version,
        started_at: ts(m.started_at_ms),
        due_at: ts(m.due_at_ms),
        state: parse("deadline", &m.state)?,
        satisfied_at: m.satisfied_at_ms.map(ts),
        escalation_level: u32::try_from(m.escalation_level).map_err(|e| corrupt("deadline", e))?,
        next_step: u32::try_from(m.next_step).map_err(|e| corrupt("deadline", e))?,
        next_fire_at: m.next_fire_at_ms.map(ts),
        provisional: m.provisional,
    })
}

/// What a queue's due column holds while nothing is due: it sorts after every real due time on both databases.
pub(crate) const NOTHING_DUE: i64 = i64::MAX;

/// The loop stage deadlines of the share a statement on `assignments` is at (letters' reply dates aside), narrowed by `and`.
fn share_deadlines(and: Option<Expr>) -> sea_orm::sea_query::SelectStatement {
    use sea_orm::sea_query::{ExprTrait as _, Query};
    let mut select = Query::select();
    select
        .from(deadline::Entity)
        .and_where(
            Expr::col((deadline::Entity, deadline::Column::ReportId)).eq(Expr::col((
                assignment::Entity,
                assignment::Column::ReportId,
            ))),
        )
        .and_where(
            Expr::col((deadline::Entity, deadline::Column::DepartmentId)).eq(Expr::col((
                assignment::Entity,
                assignment::Column::DepartmentId,
            ))),
        )
        .and_where(Expr::col((deadline::Entity, deadline::Column::LetterId)).eq(""));
    if let Some(and) = and {
        select.and_where(and);
    }
    select.to_owned()
}

/// The escalations fired on the share so far: each of its stages' ladder levels.
fn share_escalations() -> Expr {
    use sea_orm::sea_query::Func;
    let mut select = share_deadlines(None);
    select.expr(Func::coalesce([
        Func::sum(Expr::col((
            deadline::Entity,
            deadline::Column::EscalationLevel,
        )))
        .into(),
        Expr::value(0),
    ]));
    Expr::SubQuery(None, Box::new(select.into()))
}

/// The due time of one of the share's stages, as extensions and recounts moved it; `NULL` while it never started.
fn share_due(stage: DeadlineStage) -> Expr {
    use sea_orm::sea_query::ExprTrait as _;
    let mut select = share_deadlines(Some(
        Expr::col((deadline::Entity, deadline::Column::Stage)).eq(stage.as_str()),
    ));
    select.column((deadline::Entity, deadline::Column::DueAtMs));
    Expr::SubQuery(None, Box::new(select.into()))
}

/// Sets the case's and each share's queue column (`due_at_ms`) to the nearest due time of their pending deadlines, letters' reply dates aside,
/// and each share's facts kept with the deadlines: the report-in and finish due times and the escalations fired.
pub(super) async fn recount_queue_due(
    txn: &DatabaseTransaction,
    report: &str,
) -> Result<(), StorageError> {
    use sea_orm::sea_query::{ExprTrait as _, Func, Query};
    let nearest = |owner: Expr, department: Option<Expr>| {
        let mut select = Query::select();
        select
            .expr(Func::coalesce([
                Func::min(Expr::col((deadline::Entity, deadline::Column::DueAtMs))).into(),
                Expr::value(NOTHING_DUE),
            ]))
            .from(deadline::Entity)
            .and_where(Expr::col((deadline::Entity, deadline::Column::ReportId)).eq(owner))
            .and_where(
                Expr::col((deadline::Entity, deadline::Column::State))
                    .eq(DeadlineState::Pending.as_str()),
            )
            .and_where(Expr::col((deadline::Entity, deadline::Column::LetterId)).eq(""));
        if let Some(department) = department {
            select.and_where(
                Expr::col((deadline::Entity, deadline::Column::DepartmentId)).eq(department),
            );
        }
        Expr::SubQuery(None, Box::new(select.into()))
    };
    report::Entity::update_many()
        .col_expr(
            report::Column::DueAtMs,
            nearest(Expr::col((report::Entity, report::Column::Id)), None),
        )
        .filter(report::Column::Id.eq(report))
        .exec(txn)
        .await?;
    assignment::Entity::update_many()
        .col_expr(
            assignment::Column::DueAtMs,
            nearest(
                Expr::col((assignment::Entity, assignment::Column::ReportId)),
                Some(Expr::col((
                    assignment::Entity,
                    assignment::Column::DepartmentId,
                ))),
            ),
        )
        .col_expr(
            assignment::Column::ReportInDueMs,
            share_due(DeadlineStage::ReportIn),
        )
        .col_expr(
            assignment::Column::FinishDueMs,
            share_due(DeadlineStage::Finish),
        )
        .col_expr(assignment::Column::Escalations, share_escalations())
        .filter(assignment::Column::ReportId.eq(report))
        .exec(txn)
        .await?;
    Ok(())
}

/// Sets the escalations fired on every share of `reports`, after firings advanced their deadlines.
async fn recount_escalations(
    txn: &DatabaseTransaction,
    reports: Vec<String>,
) -> Result<(), StorageError> {
    assignment::Entity::update_many()
        .col_expr(assignment::Column::Escalations, share_escalations())
        .filter(assignment::Column::ReportId.is_in(reports))
        .exec(txn)
        .await?;
    Ok(())
}

/// Writes one report's deadline changes, in order.
pub(super) async fn apply_deadlines(
    txn: &DatabaseTransaction,
    backend: Backend,
    report: &ReportId,
    policy_version: Option<i64>,
    changes: &[DeadlineChange],
    now: Timestamp,
) -> Result<(), StorageError> {
    let report = report.to_string();
    for change in changes {
        match change {
            DeadlineChange::Start(s) => start(txn, &report, policy_version, s).await?,
            DeadlineChange::Satisfy { department, stage } => {
                let row = Pending::stage(&report, department, *stage);
                row.settle(txn, DeadlineState::Satisfied, Some(now)).await?;
            }
            DeadlineChange::Cancel { department, stage } => {
                let row = Pending::stage(&report, department, *stage);
                row.settle(txn, DeadlineState::Cancelled, None).await?;
            }
            DeadlineChange::LetterAnswered { department, letter } => {
                let row = Pending::letter(&report, department, letter);
                row.settle(txn, DeadlineState::Satisfied, Some(now)).await?;
            }
            DeadlineChange::Move {
                department,
                stage,
                due_at,
                next_step,
                next_fire_at,
                escalation_level,
                provisional,
            } => {
                let schedule = Schedule {
                    next_step: *next_step,
                    next_fire_at: *next_fire_at,
                    escalation_level: *escalation_level,
                };
                let update = Pending::stage(&report, department, *stage)
                    .update()
                    .col_expr(deadline::Column::DueAtMs, Expr::value(ms(*due_at)))
                    .col_expr(deadline::Column::Provisional, Expr::value(*provisional));
                resume(update, &schedule)?.exec(txn).await?;
            }
            DeadlineChange::Advance { .. } => {
                let advance = Advance::of(&report, change).into_iter().collect();
                advance_deadlines(txn, backend, advance).await?;
            }
        }
    }
    // Firings (advances) move no due time; every other change may.
    if changes
        .iter()
        .any(|c| !matches!(c, DeadlineChange::Advance { .. }))
    {
        recount_queue_due(txn, &report).await?;
    }
    Ok(())
}

/// `update` setting a deadline's schedule where `schedule` stands.
pub(super) fn resume(
    update: sea_orm::UpdateMany<deadline::Entity>,
    schedule: &Schedule,
) -> Result<sea_orm::UpdateMany<deadline::Entity>, StorageError> {
    Ok(update
        .col_expr(
            deadline::Column::NextStep,
            Expr::value(int("next_step", schedule.next_step)?),
        )
        .col_expr(
            deadline::Column::NextFireAtMs,
            Expr::value(schedule.next_fire_at.map(ms)),
        )
        .col_expr(
            deadline::Column::EscalationLevel,
            Expr::value(int("escalation_level", schedule.escalation_level)?),
        ))
}

/// Inserts a started deadline, or restarts the row of the same report, department, stage and letter.
async fn start(
    txn: &DatabaseTransaction,
    report: &str,
    policy_version: Option<i64>,
    s: &Started,
) -> Result<(), StorageError> {
    let version = policy_version.ok_or_else(|| {
        corrupt(
            "deadline",
            "a deadline started on a case without a policy version",
        )
    })?;
    deadline::Entity::insert(deadline::ActiveModel {
        id: NotSet,
        report_id: Set(Some(report.to_owned())),
        department_id: Set(s.department.as_str().to_owned()),
        stage: Set(s.stage.as_str().to_owned()),
        policy_version: Set(version),
        started_at_ms: Set(ms(s.started_at)),
        due_at_ms: Set(ms(s.due_at)),
        state: Set(DeadlineState::Pending.as_str().to_owned()),
        satisfied_at_ms: Set(None),
        escalation_level: Set(0),
        next_step: Set(0),
        next_fire_at_ms: Set(s.next_fire_at.map(ms)),
        claimed_by: Set(None),
        claimed_until_ms: Set(None),
        letter_id: Set(s.letter.map(|l| l.to_string()).unwrap_or_default()),
        provisional: Set(s.provisional),
        entry_id: Set(None),
        step: Set(None),
    })
    .on_conflict(
        OnConflict::columns([
            deadline::Column::ReportId,
            deadline::Column::DepartmentId,
            deadline::Column::Stage,
            deadline::Column::LetterId,
        ])
        .update_columns([
            deadline::Column::PolicyVersion,
            deadline::Column::StartedAtMs,
            deadline::Column::DueAtMs,
            deadline::Column::State,
            deadline::Column::SatisfiedAtMs,
            deadline::Column::EscalationLevel,
            deadline::Column::NextStep,
            deadline::Column::NextFireAtMs,
            deadline::Column::ClaimedBy,
            deadline::Column::ClaimedUntilMs,
            deadline::Column::Provisional,
        ])
        .to_owned(),
    )
    .exec_without_returning(txn)
    .await
    .map_err(|e| StorageError::classify(e, "deadline", "department"))?;
    Ok(())
}

/// The pending row of one loop stage, or of one letter's reply.
struct Pending<'a> {
    report: &'a str,
    department: &'a DepartmentId,
    stage: DeadlineStage,
    /// Empty for the loop's stages.
    letter: String,
}

impl<'a> Pending<'a> {
    fn stage(report: &'a str, department: &'a DepartmentId, stage: DeadlineStage) -> Self {
        Self {
            report,
            department,
            stage,
            letter: String::new(),
        }
    }

    fn letter(report: &'a str, department: &'a DepartmentId, letter: &LetterId) -> Self {
        Self {
            report,
            department,
            stage: DeadlineStage::LetterReply,
            letter: letter.to_string(),
        }
    }

    /// An update of this row, only while it is pending.
    fn update(&self) -> sea_orm::UpdateMany<deadline::Entity> {
        deadline::Entity::update_many()
            .filter(deadline::Column::ReportId.eq(self.report))
            .filter(deadline::Column::DepartmentId.eq(self.department.as_str()))
            .filter(deadline::Column::Stage.eq(self.stage.as_str()))
            .filter(deadline::Column::LetterId.eq(self.letter.as_str()))
            .filter(deadline::Column::State.eq(DeadlineState::Pending.as_str()))
    }

    /// Ends the row as `state`: nothing more fires.
    async fn settle(
        &self,
        txn: &DatabaseTransaction,
        state: DeadlineState,
        satisfied_at: Option<Timestamp>,
    ) -> Result<(), StorageError> {
        ended(self.update(), state, satisfied_at).exec(txn).await?;
        Ok(())
    }
}

/// `update` ending a pending deadline as `state` (met at `satisfied_at`, or dropped): nothing more fires.
pub(super) fn ended(
    update: sea_orm::UpdateMany<deadline::Entity>,
    state: DeadlineState,
    satisfied_at: Option<Timestamp>,
) -> sea_orm::UpdateMany<deadline::Entity> {
    update
        .col_expr(deadline::Column::State, Expr::value(state.as_str()))
        .col_expr(
            deadline::Column::SatisfiedAtMs,
            Expr::value(satisfied_at.map(ms)),
        )
        .col_expr(
            deadline::Column::NextFireAtMs,
            Expr::value(Option::<i64>::None),
        )
}

/// A firing's move of its deadline (by row id) past the step it fired, releasing the engine's claim.
pub(super) struct Advance {
    report: String,
    deadline: i64,
    fired_step: u32,
    next_fire_at: Option<Timestamp>,
    escalation_level: u32,
}

impl Advance {
    /// The advance `change` writes, if it is one.
    pub(super) fn of(report: &str, change: &DeadlineChange) -> Option<Self> {
        match change {
            DeadlineChange::Advance {
                deadline,
                fired_step,
                next_fire_at,
                escalation_level,
                ..
            } => Some(Self {
                report: report.to_owned(),
                deadline: *deadline,
                fired_step: *fired_step,
                next_fire_at: *next_fire_at,
                escalation_level: *escalation_level,
            }),
            _ => None,
        }
    }
}

/// Advances deadlines in a few multi-row statements, each only while it is pending at the step that fired; answers how many moved.
pub(super) async fn advance_deadlines(
    txn: &DatabaseTransaction,
    backend: Backend,
    advances: Vec<Advance>,
) -> Result<u64, StorageError> {
    let mut rows: Vec<Vec<Value>> = Vec::with_capacity(advances.len());
    let mut reports: Vec<String> = advances.iter().map(|a| a.report.clone()).collect();
    reports.sort_unstable();
    reports.dedup();
    for a in advances {
        rows.push(vec![
            a.deadline.into(),
            a.report.into(),
            int("next_step", a.fired_step)?.into(),
            int("next_step", a.fired_step.saturating_add(1))?.into(),
            a.next_fire_at.map(ms).into(),
            int("escalation_level", a.escalation_level)?.into(),
        ]);
    }
    let moved = execute_values(
        txn,
        backend,
        "UPDATE deadlines SET next_step = v.column4, next_fire_at_ms = v.column5, \
         escalation_level = v.column6, claimed_by = NULL, claimed_until_ms = NULL FROM",
        "WHERE deadlines.id = v.column1 AND deadlines.report_id = v.column2 \
         AND deadlines.state = 'pending' AND deadlines.next_step = v.column3",
        6,
        rows,
    )
    .await?;
    if moved > 0 {
        for chunk in reports.chunks(500) {
            recount_escalations(txn, chunk.to_vec()).await?;
        }
    }
    Ok(moved)
}
