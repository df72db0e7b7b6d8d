//! What a change to an entry does to its steps' deadlines, decided by comparing the plan before and after the change; pure, the policies and calendar passed in.
//!
//! A step added to the plan starts its deadline, due when the step is, firing by the `ledger_step` stage of the policy for the entry's grade; a step done meets it; a step a revision superseded drops it.
//! A new grade switches the deadlines still running to the new grade's ladder from now on: what fired stays fired, and the schedule resumes at the first firing of the new ladder after now (as an approved extension moves a case's deadline).

use gridwhistle_dispatcher::calendar::{CalendarError, WorkingCalendar};
use gridwhistle_dispatcher::deadlines::{Schedule, schedule_at};
use gridwhistle_dispatcher::policy::StagePolicy;
use gridwhistle_domain::ledger::StepState;
use gridwhistle_domain::{RiskGrade, Timestamp};

use crate::model::{DeadlineState, LedgerEntryRecord, StepDeadlineChange, StepDeadlineRecord};

/// The policies a change is decided under: the version in force (for steps that start now), and the `ledger_step` stage of a version for a grade (for these and for deadlines that started under an older version).
pub struct Policies<'a> {
    pub current: i64,
    pub stage_of: &'a dyn Fn(i64, RiskGrade) -> Option<StagePolicy>,
    pub calendar: &'a WorkingCalendar,
}

impl std::fmt::Debug for Policies<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policies")
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

/// The changes to the steps' deadlines that take `before` to `after` at `now` (`before` is `None` for an entry being opened); `stored` are the steps' deadlines as read, needed only when the grade changed.
pub fn changes(
    before: Option<&LedgerEntryRecord>,
    after: &LedgerEntryRecord,
    stored: &[StepDeadlineRecord],
    policies: &Policies<'_>,
    now: Timestamp,
) -> Result<Vec<StepDeadlineChange>, CalendarError> {
    let was = |number: u32| {
        before
            .and_then(|b| b.steps.iter().find(|s| s.number == number))
            .map(|s| s.state)
    };
    let mut changes = Vec::new();
    for step in &after.steps {
        match (was(step.number), step.state) {
            (None, StepState::Open) => {
                let stage = (policies.stage_of)(policies.current, after.grade);
                let next_fire_at = match stage {
                    Some(stage) => stage
                        .firings(policies.calendar, now, step.due_at)?
                        .first()
                        .map(|f| f.at),
                    None => None,
                };
                changes.push(StepDeadlineChange::Start {
                    step: step.number,
                    department: step.department.clone(),
                    policy_version: policies.current,
                    started_at: now,
                    due_at: step.due_at,
                    next_fire_at,
                });
            }
            (Some(StepState::Open), StepState::Done) => {
                changes.push(StepDeadlineChange::Satisfy { step: step.number });
            }
            (Some(StepState::Open), StepState::Superseded) => {
                changes.push(StepDeadlineChange::Cancel { step: step.number });
            }
            (Some(StepState::Open), StepState::Open)
                if before.is_some_and(|b| b.grade != after.grade) =>
            {
                if let Some(resumed) = resumed(step.number, after.grade, stored, policies, now)? {
                    changes.push(resumed);
                }
            }
            _ => {}
        }
    }
    Ok(changes)
}

/// Step `number`'s pending deadline resumed under `grade`'s ladder at `now`; `None` when it has no pending deadline.
fn resumed(
    number: u32,
    grade: RiskGrade,
    stored: &[StepDeadlineRecord],
    policies: &Policies<'_>,
    now: Timestamp,
) -> Result<Option<StepDeadlineChange>, CalendarError> {
    let Some(d) = stored
        .iter()
        .find(|d| d.step == number && d.deadline.state == DeadlineState::Pending)
        .map(|d| &d.deadline)
    else {
        return Ok(None);
    };
    let Some(stage) = (policies.stage_of)(d.policy_version, grade) else {
        // The new grade's policy has no ladder for steps: nothing more fires.
        let schedule = Schedule {
            next_step: d.next_step,
            next_fire_at: None,
            escalation_level: d.escalation_level,
        };
        return Ok(Some(StepDeadlineChange::Resume {
            step: number,
            schedule,
        }));
    };
    let schedule = schedule_at(&stage, policies.calendar, d.started_at, d.due_at, now)?;
    Ok(Some(StepDeadlineChange::Resume {
        step: number,
        schedule,
    }))
}
