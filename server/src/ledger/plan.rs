//! The changes to a ledger entry, each a pure function of the entry as read, the caller and the time: it changes the record and answers the timeline events, or refuses and changes nothing.

use gridwhistle_domain::ledger::{LedgerEventKind, LedgerState, StepState};
use gridwhistle_domain::{AttachmentId, DepartmentId, RiskGrade, Timestamp, UserId};

use super::LedgerError;
use crate::model::{LedgerEntryRecord, LedgerStepRecord, NewLedgerEvent};

/// A step of a plan with its due time placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepPlan {
    pub department: DepartmentId,
    pub description: String,
    pub due_at: Timestamp,
}

/// When a step of a new plan is due, as the caller gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepDue {
    At(Timestamp),
    /// At the close of the n-th working day (工作日) after the plan is written, on the working calendar.
    WorkingDays(u32),
}

/// A step of a plan as a supervisor or leader writes it, before its due time is placed (`LedgerService::plan_steps`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStep {
    pub department: DepartmentId,
    pub description: String,
    pub due: StepDue,
}

/// A change to an entry, as one of the ledger's RPCs asks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Revise {
        steps: Vec<StepPlan>,
        reason: String,
    },
    Complete {
        step: u32,
        result: String,
        attachments: Vec<AttachmentId>,
    },
    Regrade {
        grade: RiskGrade,
        reason: String,
    },
    NameLeader {
        leader: UserId,
    },
    RequestClose {
        result: String,
        stance: String,
    },
    DecideClose {
        approve: bool,
        reason: String,
    },
    Reopen {
        reason: String,
    },
    /// A joint meeting's decision: `unit` becomes responsible and, when `steps` are named, they replace the open steps.
    Assign {
        unit: DepartmentId,
        steps: Vec<StepPlan>,
        reason: String,
    },
}

fn event(kind: LedgerEventKind, actor: &UserId, text: String) -> NewLedgerEvent {
    NewLedgerEvent {
        kind,
        actor: Some(*actor),
        text,
    }
}

fn refuse(reason: impl Into<String>) -> LedgerError {
    LedgerError::Precondition(reason.into())
}

/// How the timeline shows a time: in the district's zone.
pub type Format<'a> = &'a dyn Fn(Timestamp) -> String;

fn describe(step: &LedgerStepRecord, format: Format<'_>) -> String {
    format!(
        "step {} ({}, due {}): {}",
        step.number,
        step.department,
        format(step.due_at),
        step.description
    )
}

/// The steps of a new plan, numbered on from the entry's last step, under revision `revision`.
pub fn new_steps(
    entry: &LedgerEntryRecord,
    plan: &[StepPlan],
    revision: u32,
) -> Vec<LedgerStepRecord> {
    let first = entry.steps.iter().map(|s| s.number).max().unwrap_or(0) + 1;
    plan.iter()
        .zip(first..)
        .map(|(p, number)| LedgerStepRecord {
            number,
            department: p.department.clone(),
            description: p.description.clone(),
            due_at: p.due_at,
            state: StepState::Open,
            revision,
            done_at: None,
            done_by: None,
            result: None,
            attachments: Vec::new(),
        })
        .collect()
}

/// Applies `change` by `actor` at `now` to `entry`; answers the events to append.
pub fn apply(
    entry: &mut LedgerEntryRecord,
    change: Change,
    actor: &UserId,
    now: Timestamp,
    format: Format<'_>,
) -> Result<Vec<NewLedgerEvent>, LedgerError> {
    let (kind, text) = match change {
        Change::Revise { steps, reason } => revise(entry, &steps, &reason, format)?,
        Change::Complete {
            step,
            result,
            attachments,
        } => complete(entry, step, result, attachments, actor, now)?,
        Change::Regrade { grade, reason } => regrade(entry, grade, &reason)?,
        Change::NameLeader { leader } => {
            if entry.state == LedgerState::Closed {
                return Err(refuse("a closed entry keeps its leader; reopen it first"));
            }
            entry.leader = Some(leader);
            (
                LedgerEventKind::LeaderNamed,
                format!("leader: users/{leader}"),
            )
        }
        Change::RequestClose { result, stance } => request_close(entry, result, stance)?,
        Change::DecideClose { approve, reason } => decide_close(entry, approve, &reason, now)?,
        Change::Assign {
            unit,
            steps,
            reason,
        } => assign(entry, unit, &steps, &reason, format)?,
        Change::Reopen { reason } => {
            if entry.state != LedgerState::Closed {
                return Err(refuse("only a closed entry can be reopened"));
            }
            entry.state = LedgerState::Open;
            entry.closed_at = None;
            entry.close_result = None;
            entry.parties_stance = None;
            (LedgerEventKind::Reopened, format!("reopened: {reason}"))
        }
    };
    entry.version += 1;
    entry.updated_at = now;
    Ok(vec![event(kind, actor, text)])
}

type Applied = Result<(LedgerEventKind, String), LedgerError>;

/// Supersedes the open steps with `steps`, as the next revision.
fn revise(
    entry: &mut LedgerEntryRecord,
    steps: &[StepPlan],
    reason: &str,
    format: Format<'_>,
) -> Applied {
    if entry.state != LedgerState::Open {
        return Err(refuse("only an open entry's plan can be revised"));
    }
    let revision = entry.steps.iter().map(|s| s.revision).max().unwrap_or(0) + 1;
    let replaced: Vec<String> = entry.open_steps().map(|s| describe(s, format)).collect();
    for step in &mut entry.steps {
        if step.state == StepState::Open {
            step.state = StepState::Superseded;
        }
    }
    let added = new_steps(entry, steps, revision);
    let text = format!(
        "plan revision {revision} ({reason}); replaced: [{}]; new: [{}]",
        replaced.join("; "),
        added
            .iter()
            .map(|s| describe(s, format))
            .collect::<Vec<_>>()
            .join("; ")
    );
    entry.steps.extend(added);
    Ok((LedgerEventKind::PlanRevised, text))
}

/// Makes `unit` responsible and, with `steps`, revises the plan.
fn assign(
    entry: &mut LedgerEntryRecord,
    unit: DepartmentId,
    steps: &[StepPlan],
    reason: &str,
    format: Format<'_>,
) -> Applied {
    if entry.state == LedgerState::Closed {
        return Err(refuse("a closed entry is not reassigned; reopen it first"));
    }
    let mut text = format!("responsible unit {} → {unit} ({reason})", entry.unit);
    if !steps.is_empty() {
        if entry.state != LedgerState::Open {
            return Err(refuse("only an open entry's plan can be revised"));
        }
        let (_, revised) = revise(entry, steps, reason, format)?;
        text = format!("{text}; {revised}");
    }
    entry.unit = unit;
    Ok((LedgerEventKind::Reassigned, text))
}

fn complete(
    entry: &mut LedgerEntryRecord,
    step: u32,
    result: String,
    attachments: Vec<AttachmentId>,
    actor: &UserId,
    now: Timestamp,
) -> Applied {
    let Some(s) = entry
        .steps
        .iter_mut()
        .find(|s| s.number == step && s.state == StepState::Open)
    else {
        return Err(refuse(format!(
            "step {step} is not an open step of the plan"
        )));
    };
    let text = format!("step {step} done: {result}");
    s.state = StepState::Done;
    s.done_at = Some(now);
    s.done_by = Some(*actor);
    s.result = Some(result);
    s.attachments = attachments;
    Ok((LedgerEventKind::StepCompleted, text))
}

fn regrade(entry: &mut LedgerEntryRecord, grade: RiskGrade, reason: &str) -> Applied {
    if entry.state == LedgerState::Closed {
        return Err(refuse("a closed entry keeps its grade; reopen it first"));
    }
    if grade == entry.grade {
        return Err(refuse(format!("the entry is graded {grade} already")));
    }
    let text = format!("grade {} → {grade}: {reason}", entry.grade);
    entry.grade = grade;
    Ok((LedgerEventKind::Regraded, text))
}

/// Asks for closing off: refused while a step of the plan is open.
fn request_close(entry: &mut LedgerEntryRecord, result: String, stance: String) -> Applied {
    if entry.state != LedgerState::Open {
        return Err(refuse("only an open entry can be asked to be closed off"));
    }
    let left: Vec<String> = entry.open_steps().map(|s| s.number.to_string()).collect();
    if !left.is_empty() {
        return Err(refuse(format!(
            "steps {} of the plan are still open",
            left.join(", ")
        )));
    }
    let text = format!("closing off asked: {result}; parties: {stance}");
    entry.state = LedgerState::CloseRequested;
    entry.close_result = Some(result);
    entry.parties_stance = Some(stance);
    Ok((LedgerEventKind::CloseRequested, text))
}

fn decide_close(
    entry: &mut LedgerEntryRecord,
    approve: bool,
    reason: &str,
    now: Timestamp,
) -> Applied {
    if entry.state != LedgerState::CloseRequested {
        return Err(refuse("no closing off is awaiting a decision"));
    }
    if approve {
        entry.state = LedgerState::Closed;
        entry.closed_at = Some(now);
        Ok((
            LedgerEventKind::CloseApproved,
            format!("closed off (销号): {reason}"),
        ))
    } else {
        entry.state = LedgerState::Open;
        Ok((
            LedgerEventKind::CloseRefused,
            format!("closing off refused: {reason}"),
        ))
    }
}
