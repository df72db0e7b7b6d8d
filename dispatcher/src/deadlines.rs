//! What a step of the closed loop does to a case's deadlines, decided by comparing the loop before and after the step.
//!
//! The lead department has three stages (report in, contact the parties, finish); an assisting department has report in.
//! A department summoned (by a whistle or a re-route) starts its stages; reporting in, contacting and completing satisfy theirs; completing ends the rest;
//! returning or being withdrawn cancels the department's; a promotion to lead starts the lead's stages and a demotion to assist cancels them; a department summoned again starts afresh; a rejected result restarts the lead's finish (and contact, when the parties were never contacted); closing ends everything.
//! Pure: the calendar and policy are passed in, and storage applies the changes in the same transaction as the step.

use gridwhistle_domain::{
    AssignmentRole, AssignmentState, CaseState, DeadlineStage, DepartmentId, LetterId, Timestamp,
};

use crate::calendar::{CalendarError, WorkingCalendar};
use crate::policy::{FiringKind, StagePolicy, TimeLimitPolicy};
use crate::workflow::{Assignment, Loop};

/// A deadline as it starts: for one department and stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub department: DepartmentId,
    pub stage: DeadlineStage,
    pub started_at: Timestamp,
    pub due_at: Timestamp,
    /// The first reminder or escalation; `None` when the stage has neither.
    pub next_fire_at: Option<Timestamp>,
    /// The supervision letter whose reply this deadline awaits; `None` for the loop's stages.
    pub letter: Option<LetterId>,
    /// The due time was counted across a provisional calendar year and is recomputed when that year's official calendar is loaded.
    pub provisional: bool,
}

/// One change to a case's deadlines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadlineChange {
    /// Starts the stage, or restarts it from the beginning when it ran before.
    Start(Started),
    /// The pending stage was met.
    Satisfy {
        department: DepartmentId,
        stage: DeadlineStage,
    },
    /// The pending stage no longer applies.
    Cancel {
        department: DepartmentId,
        stage: DeadlineStage,
    },
    /// An approved extension, or a recount on an official calendar, moved the due time: the schedule resumes at `next_step`, the first firing of the new schedule still ahead.
    Move {
        department: DepartmentId,
        stage: DeadlineStage,
        due_at: Timestamp,
        next_step: u32,
        next_fire_at: Option<Timestamp>,
        escalation_level: u32,
        /// Whether the new due time still rests on a provisional calendar year.
        provisional: bool,
    },
    /// The department answered the supervision letter: its reply deadline is met.
    LetterAnswered {
        department: DepartmentId,
        letter: LetterId,
    },
    /// The engine fired step `fired_step` of the deadline stored as `deadline`: the schedule moves on to the next step.
    Advance {
        deadline: i64,
        department: DepartmentId,
        stage: DeadlineStage,
        fired_step: u32,
        next_fire_at: Option<Timestamp>,
        escalation_level: u32,
    },
}

/// Moves a running deadline that started at `started_at` to `due_at` at `now`: the schedule is recomputed, firings already behind `now` are not repeated, and the escalation level counts the escalations behind `now`.
pub fn moved(
    department: &DepartmentId,
    stage: &StagePolicy,
    calendar: &WorkingCalendar,
    started_at: Timestamp,
    due_at: Timestamp,
    now: Timestamp,
) -> Result<DeadlineChange, CalendarError> {
    let schedule = schedule_at(stage, calendar, started_at, due_at, now)?;
    Ok(move_to(department, stage, due_at, schedule, false))
}

/// The change that moves a deadline of `stage` to `due_at`, its schedule standing at `schedule`.
fn move_to(
    department: &DepartmentId,
    stage: &StagePolicy,
    due_at: Timestamp,
    schedule: Schedule,
    provisional: bool,
) -> DeadlineChange {
    DeadlineChange::Move {
        department: department.clone(),
        stage: stage.stage,
        due_at,
        next_step: schedule.next_step,
        next_fire_at: schedule.next_fire_at,
        escalation_level: schedule.escalation_level,
        provisional,
    }
}

/// Where the schedule of a deadline of `stage` that started at `started_at` and is due at `due_at` stands at `now`, as if every firing behind `now` had fired: it resumes at the first firing after `now`.
pub fn schedule_at(
    stage: &StagePolicy,
    calendar: &WorkingCalendar,
    started_at: Timestamp,
    due_at: Timestamp,
    now: Timestamp,
) -> Result<Schedule, CalendarError> {
    let firings = stage.firings(calendar, started_at, due_at)?;
    let behind = firings.iter().take_while(|f| f.at <= now).count();
    let escalation_level = firings[..behind]
        .iter()
        .filter(|f| matches!(f.kind, FiringKind::Escalation { .. }))
        .count() as u32;
    Ok(Schedule {
        next_step: behind as u32,
        next_fire_at: firings.get(behind).map(|f| f.at),
        escalation_level,
    })
}

/// Where a running deadline's schedule stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub next_step: u32,
    pub next_fire_at: Option<Timestamp>,
    pub escalation_level: u32,
}

/// Counts a running deadline again from its start on `calendar`, after an official year was loaded: `None` when it stays as it is.
///
/// A due time that does not move keeps its schedule and only loses its provisional mark.
/// A due time that moves is moved as an approved extension is ([`moved`]): what already fired stays fired, and the schedule resumes at the first firing of the new schedule after `now`.
pub fn recounted(
    department: &DepartmentId,
    stage: &StagePolicy,
    calendar: &WorkingCalendar,
    (started_at, due_at): (Timestamp, Timestamp),
    schedule: Schedule,
    now: Timestamp,
) -> Result<Option<DeadlineChange>, CalendarError> {
    let due = stage.limit.due(calendar, started_at)?;
    let provisional = stage.limit.is_provisional(calendar, started_at, due);
    if due == due_at {
        return Ok(
            (!provisional).then(|| move_to(department, stage, due_at, schedule, provisional))
        );
    }
    let schedule = schedule_at(stage, calendar, started_at, due, now)?;
    Ok(Some(move_to(department, stage, due, schedule, provisional)))
}

/// The stages a department's role carries.
pub fn stages_of(role: AssignmentRole) -> &'static [DeadlineStage] {
    match role {
        AssignmentRole::Lead => &[
            DeadlineStage::ReportIn,
            DeadlineStage::Contact,
            DeadlineStage::Finish,
        ],
        AssignmentRole::Assist => &[DeadlineStage::ReportIn],
    }
}

fn active(state: AssignmentState) -> bool {
    state.is_active()
}

/// The deadline changes of a step that turned `before` into `after` at `now`, under `policy` (none: the case has no deadlines).
pub fn changes(
    before: &Loop,
    after: &Loop,
    policy: Option<&TimeLimitPolicy>,
    calendar: &WorkingCalendar,
    now: Timestamp,
) -> Result<Vec<DeadlineChange>, CalendarError> {
    let Some(policy) = policy else {
        return Ok(Vec::new());
    };
    let mut out = Changes {
        policy,
        calendar,
        now,
        out: Vec::new(),
    };
    for a in &after.assignments {
        let was = before
            .assignments
            .iter()
            .find(|b| b.department == a.department);
        match was {
            None if active(a.state) => out.start_all(a)?,
            None => {}
            Some(b) => out.assignment(b, a)?,
        }
    }
    if before.case != Some(CaseState::Closed) && after.case == Some(CaseState::Closed) {
        for a in &after.assignments {
            out.end(a, &[]);
        }
    }
    Ok(out.out)
}

/// The changes of one step, as they are decided.
struct Changes<'a> {
    policy: &'a TimeLimitPolicy,
    calendar: &'a WorkingCalendar,
    now: Timestamp,
    out: Vec<DeadlineChange>,
}

impl Changes<'_> {
    /// Starts `stage` for `department` now, if the policy has it.
    fn start(
        &mut self,
        department: &DepartmentId,
        stage: DeadlineStage,
    ) -> Result<(), CalendarError> {
        let Some(stage_policy) = self.policy.stage(stage) else {
            return Ok(());
        };
        let (calendar, now) = (self.calendar, self.now);
        let due_at = stage_policy.limit.due(calendar, now)?;
        let next_fire_at = stage_policy
            .firings(calendar, now, due_at)?
            .first()
            .map(|f| f.at);
        self.out.push(DeadlineChange::Start(Started {
            department: department.clone(),
            stage,
            started_at: now,
            due_at,
            next_fire_at,
            letter: None,
            provisional: stage_policy.limit.is_provisional(calendar, now, due_at),
        }));
        Ok(())
    }

    /// Starts every stage of `a`'s role.
    fn start_all(&mut self, a: &Assignment) -> Result<(), CalendarError> {
        for &stage in stages_of(a.role) {
            self.start(&a.department, stage)?;
        }
        Ok(())
    }

    /// Starts the lead's stages after report in: contact when it never happened, and finish.
    fn start_lead_work(&mut self, a: &Assignment) -> Result<(), CalendarError> {
        if !a.contacted {
            self.start(&a.department, DeadlineStage::Contact)?;
        }
        self.start(&a.department, DeadlineStage::Finish)
    }

    /// Ends every stage of `a`'s role: those in `satisfied` are met, the rest cancelled.
    fn end(&mut self, a: &Assignment, satisfied: &[DeadlineStage]) {
        for &stage in stages_of(a.role) {
            let department = a.department.clone();
            self.out.push(if satisfied.contains(&stage) {
                DeadlineChange::Satisfy { department, stage }
            } else {
                DeadlineChange::Cancel { department, stage }
            });
        }
    }

    fn satisfy(&mut self, a: &Assignment, stage: DeadlineStage) {
        self.out.push(DeadlineChange::Satisfy {
            department: a.department.clone(),
            stage,
        });
    }

    /// The changes of one department's assignment, `b` before the step and `a` after it.
    fn assignment(&mut self, b: &Assignment, a: &Assignment) -> Result<(), CalendarError> {
        if b.state == AssignmentState::Summoned
            && !matches!(
                a.state,
                AssignmentState::Summoned | AssignmentState::Returned | AssignmentState::Withdrawn
            )
        {
            self.satisfy(a, DeadlineStage::ReportIn);
        }
        if !b.contacted && a.contacted {
            self.satisfy(a, DeadlineStage::Contact);
        }
        match (active(b.state), a.state) {
            (true, AssignmentState::Completed) => self.end(a, &[DeadlineStage::Finish]),
            (true, AssignmentState::Returned | AssignmentState::Withdrawn) => self.end(a, &[]),
            // Summoned again by a supervisor after it left the case: every stage of its role starts afresh.
            (false, AssignmentState::Summoned) => self.start_all(a)?,
            // A rejected result reopens the lead: its finish runs again, and contact when it never happened.
            (false, state) if active(state) && b.state == AssignmentState::Completed => {
                self.start_lead_work(a)?;
            }
            _ => {}
        }
        let working = active(b.state) && active(a.state);
        // Made an assist while working: the lead's stages after report in no longer apply.
        if working && b.role == AssignmentRole::Lead && a.role == AssignmentRole::Assist {
            for stage in [DeadlineStage::Contact, DeadlineStage::Finish] {
                self.out.push(DeadlineChange::Cancel {
                    department: a.department.clone(),
                    stage,
                });
            }
        }
        // Promoted to lead while working: the lead's stages after report in start now (its report-in deadline already runs).
        if working && b.role == AssignmentRole::Assist && a.role == AssignmentRole::Lead {
            self.start_lead_work(a)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use gridwhistle_domain::{CategoryId, RiskGrade, WhistleKind};

    use super::*;
    use crate::policy::{Limit, PolicySet, StagePolicy};
    use crate::workflow::Step;

    fn department(id: &str) -> DepartmentId {
        DepartmentId::parse(id).unwrap()
    }

    fn policy() -> PolicySet {
        let stage = |stage, limit| StagePolicy {
            stage,
            limit,
            reminders: vec![0.5],
            ladder: vec![],
        };
        PolicySet::new(
            1,
            vec![TimeLimitPolicy {
                category: None,
                grade: None,
                kind: None,
                stages: vec![
                    stage(
                        DeadlineStage::ReportIn,
                        Limit::Wall(Duration::from_secs(1800)),
                    ),
                    stage(
                        DeadlineStage::Contact,
                        Limit::WorkingTime(Duration::from_secs(4 * 3600)),
                    ),
                    stage(DeadlineStage::Finish, Limit::WorkingDays(7)),
                ],
            }],
        )
        .unwrap()
    }

    /// Applies `step` and returns the deadline changes as short strings.
    fn step(state: &mut Loop, step: Step, now: Timestamp) -> Vec<String> {
        let set = policy();
        let calendar = WorkingCalendar::official().unwrap();
        let selected = set.select(
            &CategoryId::parse("dispute").unwrap(),
            RiskGrade::C,
            WhistleKind::Routine,
        );
        let before = state.clone();
        state.apply(&step).unwrap();
        changes(&before, state, selected, &calendar, now)
            .unwrap()
            .into_iter()
            .map(|c| match c {
                DeadlineChange::Start(s) => format!(
                    "start {} {} due+{}m",
                    s.department,
                    s.stage,
                    s.due_at.duration_since(now).as_secs() / 60
                ),
                DeadlineChange::Satisfy { department, stage } => {
                    format!("satisfy {department} {stage}")
                }
                DeadlineChange::Cancel { department, stage } => {
                    format!("cancel {department} {stage}")
                }
                DeadlineChange::Advance { .. }
                | DeadlineChange::Move { .. }
                | DeadlineChange::LetterAnswered { .. } => {
                    unreachable!("steps never advance or move a schedule, nor answer letters")
                }
            })
            .collect()
    }

    #[test]
    fn the_loop_starts_satisfies_restarts_and_ends_deadlines() {
        // Monday 2 March 2026, 10:00 in Beijing.
        let now = Timestamp::from_unix_millis(1_772_416_800_000);
        let (lead, assist) = (department("street-a"), department("police-a"));
        let mut state = Loop::new_report();
        assert_eq!(
            step(
                &mut state,
                Step::Whistle {
                    summoned: vec![
                        (lead.clone(), AssignmentRole::Lead),
                        (assist.clone(), AssignmentRole::Assist)
                    ]
                },
                now
            ),
            [
                "start street-a report_in due+30m",
                // Four working hours from 10:00: 12:00, then 13:30 to 15:30.
                "start street-a contact due+330m",
                // Close of the seventh working day after Monday: Wednesday 11 March, 17:30.
                "start street-a finish due+13410m",
                "start police-a report_in due+30m",
            ]
        );
        assert_eq!(
            step(&mut state, Step::ReportIn(lead.clone()), now),
            ["satisfy street-a report_in"]
        );
        assert_eq!(
            step(&mut state, Step::RecordContact(lead.clone()), now),
            ["satisfy street-a contact"]
        );
        assert!(step(&mut state, Step::PostProgress(lead.clone()), now).is_empty());
        assert_eq!(
            step(&mut state, Step::Complete(lead.clone()), now),
            [
                "cancel street-a report_in",
                "cancel street-a contact",
                "satisfy street-a finish"
            ]
        );
        assert_eq!(
            step(&mut state, Step::Reject, now),
            ["start street-a finish due+13410m"],
            "contacted before, so only the finish runs again"
        );
        step(&mut state, Step::Complete(lead.clone()), now);
        let closed = step(&mut state, Step::Accept, now);
        assert!(
            closed.contains(&"cancel police-a report_in".to_owned()),
            "{closed:?}"
        );
    }

    #[test]
    fn a_return_cancels_and_the_promoted_assist_takes_the_lead_stages() {
        let now = Timestamp::from_unix_millis(1_772_416_800_000);
        let (lead, assist) = (department("street-a"), department("street-b"));
        let mut state = Loop::new_report();
        step(
            &mut state,
            Step::Whistle {
                summoned: vec![
                    (lead.clone(), AssignmentRole::Lead),
                    (assist.clone(), AssignmentRole::Assist),
                ],
            },
            now,
        );
        step(&mut state, Step::ReportIn(assist.clone()), now);
        assert_eq!(
            step(
                &mut state,
                Step::Return {
                    department: lead.clone(),
                    rerouted: vec![(assist.clone(), AssignmentRole::Lead)],
                },
                now
            ),
            [
                "cancel street-a report_in",
                "cancel street-a contact",
                "cancel street-a finish",
                "start street-b contact due+330m",
                "start street-b finish due+13410m",
            ]
        );
    }

    #[test]
    fn a_reassignment_withdraws_demotes_promotes_and_summons_afresh() {
        let now = Timestamp::from_unix_millis(1_772_416_800_000);
        let (lead, assist, other) = (
            department("street-a"),
            department("police-a"),
            department("housing-a"),
        );
        let mut state = Loop::new_report();
        step(
            &mut state,
            Step::Whistle {
                summoned: vec![
                    (lead.clone(), AssignmentRole::Lead),
                    (assist.clone(), AssignmentRole::Assist),
                ],
            },
            now,
        );
        step(&mut state, Step::ReportIn(lead.clone()), now);
        assert_eq!(
            step(
                &mut state,
                Step::Reassign {
                    lead: assist.clone(),
                    assists: vec![lead.clone()],
                },
                now
            ),
            [
                "cancel street-a contact",
                "cancel street-a finish",
                "start police-a contact due+330m",
                "start police-a finish due+13410m",
            ],
            "the old lead keeps its met report-in; the new lead's report-in already runs"
        );
        assert_eq!(
            step(
                &mut state,
                Step::Reassign {
                    lead: other.clone(),
                    assists: vec![],
                },
                now
            ),
            [
                "cancel street-a report_in",
                "cancel police-a report_in",
                "cancel police-a contact",
                "cancel police-a finish",
                "start housing-a report_in due+30m",
                "start housing-a contact due+330m",
                "start housing-a finish due+13410m",
            ]
        );
        assert_eq!(
            step(
                &mut state,
                Step::Reassign {
                    lead: other.clone(),
                    assists: vec![assist.clone()],
                },
                now
            ),
            ["start police-a report_in due+30m"],
            "a withdrawn department named again is summoned afresh"
        );
    }

    #[test]
    fn an_extension_resumes_the_schedule_after_what_already_fired() {
        let set = policy();
        let finish = set.policies()[0].stage(DeadlineStage::Finish).unwrap();
        let calendar = WorkingCalendar::official().unwrap();
        let lead = department("street-a");
        // Started Monday 2 March 2026 10:00; 50% reminder fired; on Friday 6 March the due time moves to Friday 20 March 17:30.
        let started = Timestamp::from_unix_millis(1_772_416_800_000);
        let friday = Timestamp::from_unix_millis(1_772_416_800_000 + 4 * 86_400_000);
        let new_due = Timestamp::from_unix_millis(1_773_999_000_000);
        let DeadlineChange::Move {
            next_step,
            next_fire_at,
            escalation_level,
            ..
        } = moved(&lead, finish, &calendar, started, new_due, friday).unwrap()
        else {
            panic!("a move");
        };
        // Half of the working time up to the new due time lies after Friday: the reminder fires again, later.
        assert_eq!((next_step, escalation_level), (0, 0));
        assert!(next_fire_at.is_some_and(|at| at > friday && at < new_due));
    }

    #[test]
    fn no_policy_means_no_deadlines_and_a_missing_year_is_an_error() {
        let calendar = WorkingCalendar::official().unwrap();
        let before = Loop::new_report();
        let mut after = before.clone();
        after
            .apply(&Step::Whistle {
                summoned: vec![(department("street-a"), AssignmentRole::Lead)],
            })
            .unwrap();
        let now = Timestamp::from_unix_millis(1_772_416_800_000);
        assert!(
            changes(&before, &after, None, &calendar, now)
                .unwrap()
                .is_empty()
        );
        let set = policy();
        let late_2099 = Timestamp::from_unix_millis(4_102_300_000_000);
        assert_eq!(
            changes(
                &before,
                &after,
                set.policies().first(),
                &calendar,
                late_2099
            ),
            Err(CalendarError::MissingYear(2100))
        );
    }
}
