//! The closed loop's state machine (发现→上报→协办→反馈): the one place that decides which step is legal in which state and what it changes.
//!
//! It is pure: storage loads a [`Loop`], applies a [`Step`], and writes back the result and the returned changes in one transaction.

use gridwhistle_domain::{
    AssignmentRole, AssignmentState, CaseState, DepartmentId, EventKind, ReportState,
};

/// One summoned department's share of a case, as far as the state machine cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub department: DepartmentId,
    pub role: AssignmentRole,
    pub state: AssignmentState,
    /// Whether the parties were ever contacted: a rejected result reopens to the right stage.
    pub contacted: bool,
}

impl Assignment {
    pub fn summoned(department: DepartmentId, role: AssignmentRole) -> Self {
        Self {
            department,
            role,
            state: AssignmentState::Summoned,
            contacted: false,
        }
    }

    fn is_active(&self) -> bool {
        self.state.is_active()
    }
}

/// The states of one report, its case and its assignments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loop {
    pub report: ReportState,
    /// `None` until the report is whistled.
    pub case: Option<CaseState>,
    pub assignments: Vec<Assignment>,
    /// How many results the grid worker rejected (返工).
    pub rework_count: u32,
}

/// Something a user asks of a report or case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    ResolveOnSite,
    /// Opens the case for the departments routing summoned; none sends it to a supervisor.
    Whistle {
        summoned: Vec<(DepartmentId, AssignmentRole)>,
    },
    ReportIn(DepartmentId),
    RecordContact(DepartmentId),
    PostProgress(DepartmentId),
    RequestExtension(DepartmentId),
    Complete(DepartmentId),
    /// The department returns the case (退单); `rerouted` is routing's answer without every department that returned it.
    Return {
        department: DepartmentId,
        rerouted: Vec<(DepartmentId, AssignmentRole)>,
    },
    Accept,
    Reject,
    /// A supervisor names the case's lead and assisting departments by hand (disputed or unroutable cases): departments not named are withdrawn, named ones keep their progress in their new role, and the rest are summoned.
    Reassign {
        lead: DepartmentId,
        assists: Vec<DepartmentId>,
    },
}

/// One change a step made, for the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: EventKind,
    pub department: Option<DepartmentId>,
}

impl Change {
    fn new(kind: EventKind, department: Option<&DepartmentId>) -> Self {
        Self {
            kind,
            department: department.cloned(),
        }
    }
}

/// Why a step is not legal now; the text is safe to show to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IllegalStep(pub String);

fn illegal(reason: impl Into<String>) -> IllegalStep {
    IllegalStep(reason.into())
}

impl Loop {
    /// A report just filed.
    pub fn new_report() -> Self {
        Self {
            report: ReportState::Open,
            case: None,
            assignments: Vec::new(),
            rework_count: 0,
        }
    }

    /// The departments summoned to the case, whatever their state.
    pub fn departments(&self) -> Vec<DepartmentId> {
        self.assignments
            .iter()
            .map(|a| a.department.clone())
            .collect()
    }

    /// Departments that returned the case or were withdrawn from it: routing must not choose them again.
    pub fn returned(&self) -> Vec<DepartmentId> {
        self.assignments
            .iter()
            .filter(|a| {
                matches!(
                    a.state,
                    AssignmentState::Returned | AssignmentState::Withdrawn
                )
            })
            .map(|a| a.department.clone())
            .collect()
    }

    /// Applies `step`, or changes nothing and says why it is illegal.
    pub fn apply(&mut self, step: &Step) -> Result<Vec<Change>, IllegalStep> {
        let mut next = self.clone();
        let changes = next.apply_in_place(step)?;
        *self = next;
        Ok(changes)
    }

    fn apply_in_place(&mut self, step: &Step) -> Result<Vec<Change>, IllegalStep> {
        match step {
            Step::ResolveOnSite => {
                self.expect_report(ReportState::Open, "settled on the spot")?;
                self.report = ReportState::ResolvedOnSite;
                Ok(vec![Change::new(EventKind::ResolvedOnSite, None)])
            }
            Step::Whistle { summoned } => {
                self.expect_report(ReportState::Open, "whistled")?;
                self.report = ReportState::Whistled;
                self.assignments = summoned
                    .iter()
                    .map(|(d, role)| Assignment::summoned(d.clone(), *role))
                    .collect();
                self.case = Some(CaseState::Open);
                self.settle_lead();
                Ok(vec![Change::new(EventKind::Whistled, None)])
            }
            Step::ReportIn(department) => {
                let a = self.assignment(department, "report in")?;
                if a.state != AssignmentState::Summoned {
                    return Err(illegal(format!(
                        "the department already reported in (it is {})",
                        a.state
                    )));
                }
                a.state = AssignmentState::ReportedIn;
                Ok(vec![Change::new(EventKind::ReportedIn, Some(department))])
            }
            Step::RecordContact(department) => {
                let a = self.working(department, "record a contact")?;
                a.state = AssignmentState::Contacted;
                a.contacted = true;
                Ok(vec![Change::new(EventKind::Contacted, Some(department))])
            }
            Step::PostProgress(department) => {
                self.working(department, "post progress")?;
                Ok(vec![Change::new(EventKind::Progress, Some(department))])
            }
            Step::RequestExtension(department) => {
                self.assignment(department, "ask for more time")?;
                Ok(vec![Change::new(
                    EventKind::ExtensionRequested,
                    Some(department),
                )])
            }
            Step::Complete(department) => {
                let a = self.working(department, "complete")?;
                a.state = AssignmentState::Completed;
                if a.role == AssignmentRole::Lead {
                    self.case = Some(CaseState::AwaitingVerification);
                    self.report = ReportState::AwaitingVerification;
                }
                Ok(vec![Change::new(EventKind::Completed, Some(department))])
            }
            Step::Return {
                department,
                rerouted,
            } => self.return_case(department, rerouted),
            Step::Accept => {
                self.expect_report(ReportState::AwaitingVerification, "verified")?;
                self.report = ReportState::Closed;
                self.case = Some(CaseState::Closed);
                Ok(vec![Change::new(EventKind::Verified, None)])
            }
            Step::Reassign { lead, assists } => self.reassign(lead, assists),
            Step::Reject => self.reject(),
        }
    }

    /// A department returns the case; routing's answer without it summons the next unit, or promotes one already on the case.
    fn return_case(
        &mut self,
        department: &DepartmentId,
        rerouted: &[(DepartmentId, AssignmentRole)],
    ) -> Result<Vec<Change>, IllegalStep> {
        let a = self.assignment(department, "return")?;
        a.state = AssignmentState::Returned;
        let mut changes = vec![Change::new(EventKind::Returned, Some(department))];
        for (d, role) in rerouted {
            if let Some(existing) = self.assignments.iter_mut().find(|a| a.department == *d) {
                // A department already on the case is promoted when routing now makes it the lead.
                if existing.is_active()
                    && *role == AssignmentRole::Lead
                    && existing.role == AssignmentRole::Assist
                {
                    existing.role = AssignmentRole::Lead;
                    changes.push(Change::new(EventKind::Rerouted, Some(d)));
                }
                continue;
            }
            self.assignments
                .push(Assignment::summoned(d.clone(), *role));
            changes.push(Change::new(EventKind::Rerouted, Some(d)));
        }
        self.settle_lead();
        Ok(changes)
    }

    /// The grid worker rejects the result: the lead that completed works on (返工).
    fn reject(&mut self) -> Result<Vec<Change>, IllegalStep> {
        self.expect_report(ReportState::AwaitingVerification, "rejected")?;
        self.report = ReportState::Whistled;
        self.case = Some(CaseState::Open);
        self.rework_count += 1;
        let lead = self
            .assignments
            .iter_mut()
            .find(|a| a.role == AssignmentRole::Lead && a.state == AssignmentState::Completed)
            .ok_or_else(|| illegal("no lead department completed the case"))?;
        lead.state = if lead.contacted {
            AssignmentState::Contacted
        } else {
            AssignmentState::ReportedIn
        };
        let lead = lead.department.clone();
        Ok(vec![Change::new(EventKind::Rejected, Some(&lead))])
    }

    fn reassign(
        &mut self,
        lead: &DepartmentId,
        assists: &[DepartmentId],
    ) -> Result<Vec<Change>, IllegalStep> {
        match self.case {
            None => return Err(illegal("the report was not whistled")),
            Some(CaseState::Closed) => return Err(illegal("the case is closed")),
            Some(CaseState::AwaitingVerification) => {
                return Err(illegal(
                    "the lead completed and the grid worker is verifying; reassign after a rejection",
                ));
            }
            Some(CaseState::Open | CaseState::AwaitingSupervisor) => {}
        }
        if assists.contains(lead) {
            return Err(illegal("the lead department cannot also assist"));
        }
        let named = |d: &DepartmentId| {
            if d == lead {
                Some(AssignmentRole::Lead)
            } else {
                assists.contains(d).then_some(AssignmentRole::Assist)
            }
        };
        for a in &mut self.assignments {
            match named(&a.department) {
                // An assist that already finished its part keeps it; a new lead still has the whole case to do.
                Some(AssignmentRole::Assist)
                    if a.state == AssignmentState::Completed
                        && a.role == AssignmentRole::Assist => {}
                Some(role) if a.is_active() => a.role = role,
                Some(role) => {
                    *a = Assignment::summoned(a.department.clone(), role);
                }
                None if a.is_active() => a.state = AssignmentState::Withdrawn,
                None => {}
            }
        }
        for (d, role) in std::iter::once((lead, AssignmentRole::Lead))
            .chain(assists.iter().map(|d| (d, AssignmentRole::Assist)))
        {
            if !self.assignments.iter().any(|a| a.department == *d) {
                self.assignments.push(Assignment::summoned(d.clone(), role));
            }
        }
        self.settle_lead();
        Ok(vec![Change::new(EventKind::Reassigned, Some(lead))])
    }

    fn expect_report(&self, expected: ReportState, verb: &str) -> Result<(), IllegalStep> {
        if self.report == expected {
            Ok(())
        } else {
            Err(illegal(format!(
                "the report is {}; only a report that is {expected} can be {verb}",
                self.report
            )))
        }
    }

    /// The active assignment of `department` on a case that is still worked on.
    fn assignment(
        &mut self,
        department: &DepartmentId,
        verb: &str,
    ) -> Result<&mut Assignment, IllegalStep> {
        let case = self
            .case
            .ok_or_else(|| illegal("the report was not whistled"))?;
        let a = self
            .assignments
            .iter_mut()
            .find(|a| a.department == *department)
            .ok_or_else(|| illegal("the department is not summoned to this case"))?;
        match (case, a.role) {
            (CaseState::Closed, _) => Err(illegal(format!("the case is closed; cannot {verb}"))),
            (CaseState::AwaitingVerification, AssignmentRole::Lead) => Err(illegal(format!(
                "the lead completed and the grid worker is verifying; cannot {verb}"
            ))),
            _ if !a.is_active() => Err(illegal(format!(
                "the department's assignment is {}; cannot {verb}",
                a.state
            ))),
            _ => Ok(a),
        }
    }

    /// An assignment that reported in and is not finished.
    fn working(
        &mut self,
        department: &DepartmentId,
        verb: &str,
    ) -> Result<&mut Assignment, IllegalStep> {
        let a = self.assignment(department, verb)?;
        if a.state == AssignmentState::Summoned {
            return Err(illegal(format!("report in (报到) before you {verb}")));
        }
        Ok(a)
    }

    /// Sends an open case to a supervisor when no active lead is left, and back when one is.
    fn settle_lead(&mut self) {
        let has_lead = self
            .assignments
            .iter()
            .any(|a| a.role == AssignmentRole::Lead && a.is_active());
        self.case = match (self.case, has_lead) {
            (Some(CaseState::Open), false) => Some(CaseState::AwaitingSupervisor),
            (Some(CaseState::AwaitingSupervisor), true) => Some(CaseState::Open),
            (state, _) => state,
        };
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use expect_test::{Expect, expect};

    use super::*;

    fn dept(id: &str) -> DepartmentId {
        DepartmentId::parse(id).unwrap()
    }

    /// Runs `steps` from a new report and prints each outcome and the states after it.
    fn check(steps: &[Step], expect: Expect) {
        let mut state = Loop::new_report();
        let mut out = String::new();
        for step in steps {
            let before = state.clone();
            match state.apply(step) {
                Ok(changes) => {
                    let kinds: Vec<String> = changes
                        .iter()
                        .map(|c| match &c.department {
                            Some(d) => format!("{}@{d}", c.kind),
                            None => c.kind.to_string(),
                        })
                        .collect();
                    let _ = write!(out, "ok {}", kinds.join(","));
                }
                Err(err) => {
                    assert_eq!(state, before, "an illegal step changed nothing");
                    let _ = write!(out, "illegal: {err}");
                }
            }
            let assignments: Vec<String> = state
                .assignments
                .iter()
                .map(|a| format!("{}:{}:{}", a.department, a.role, a.state))
                .collect();
            let _ = writeln!(
                out,
                " | {} {} [{}] rework={}",
                state.report,
                state.case.map_or("-", |c| c.as_str()),
                assignments.join(" "),
                state.rework_count
            );
        }
        expect.assert_eq(&out);
    }

    fn whistle() -> Step {
        Step::Whistle {
            summoned: vec![
                (dept("housing"), AssignmentRole::Lead),
                (dept("police"), AssignmentRole::Assist),
            ],
        }
    }

    #[test]
    fn the_whole_loop_with_one_rework() {
        check(
            &[
                whistle(),
                Step::ReportIn(dept("housing")),
                Step::ReportIn(dept("police")),
                Step::RecordContact(dept("housing")),
                Step::PostProgress(dept("police")),
                Step::Complete(dept("housing")),
                Step::Reject,
                Step::Complete(dept("housing")),
                Step::Complete(dept("police")),
                Step::Accept,
            ],
            expect![[r#"
                ok whistled | whistled open [housing:lead:summoned police:assist:summoned] rework=0
                ok reported_in@housing | whistled open [housing:lead:reported_in police:assist:summoned] rework=0
                ok reported_in@police | whistled open [housing:lead:reported_in police:assist:reported_in] rework=0
                ok contacted@housing | whistled open [housing:lead:contacted police:assist:reported_in] rework=0
                ok progress@police | whistled open [housing:lead:contacted police:assist:reported_in] rework=0
                ok completed@housing | awaiting_verification awaiting_verification [housing:lead:completed police:assist:reported_in] rework=0
                ok rejected@housing | whistled open [housing:lead:contacted police:assist:reported_in] rework=1
                ok completed@housing | awaiting_verification awaiting_verification [housing:lead:completed police:assist:reported_in] rework=1
                ok completed@police | awaiting_verification awaiting_verification [housing:lead:completed police:assist:completed] rework=1
                ok verified | closed closed [housing:lead:completed police:assist:completed] rework=1
            "#]],
        );
    }

    #[test]
    fn illegal_steps_change_nothing_and_say_why() {
        check(
            &[
                Step::ReportIn(dept("housing")),
                Step::Accept,
                whistle(),
                Step::ResolveOnSite,
                whistle(),
                Step::RecordContact(dept("housing")),
                Step::Complete(dept("housing")),
                Step::ReportIn(dept("parks")),
                Step::ReportIn(dept("housing")),
                Step::ReportIn(dept("housing")),
                Step::Complete(dept("housing")),
                Step::PostProgress(dept("housing")),
                Step::Accept,
                Step::Reject,
                Step::Complete(dept("police")),
            ],
            expect![[r#"
                illegal: the report was not whistled | open - [] rework=0
                illegal: the report is open; only a report that is awaiting_verification can be verified | open - [] rework=0
                ok whistled | whistled open [housing:lead:summoned police:assist:summoned] rework=0
                illegal: the report is whistled; only a report that is open can be settled on the spot | whistled open [housing:lead:summoned police:assist:summoned] rework=0
                illegal: the report is whistled; only a report that is open can be whistled | whistled open [housing:lead:summoned police:assist:summoned] rework=0
                illegal: report in (报到) before you record a contact | whistled open [housing:lead:summoned police:assist:summoned] rework=0
                illegal: report in (报到) before you complete | whistled open [housing:lead:summoned police:assist:summoned] rework=0
                illegal: the department is not summoned to this case | whistled open [housing:lead:summoned police:assist:summoned] rework=0
                ok reported_in@housing | whistled open [housing:lead:reported_in police:assist:summoned] rework=0
                illegal: the department already reported in (it is reported_in) | whistled open [housing:lead:reported_in police:assist:summoned] rework=0
                ok completed@housing | awaiting_verification awaiting_verification [housing:lead:completed police:assist:summoned] rework=0
                illegal: the lead completed and the grid worker is verifying; cannot post progress | awaiting_verification awaiting_verification [housing:lead:completed police:assist:summoned] rework=0
                ok verified | closed closed [housing:lead:completed police:assist:summoned] rework=0
                illegal: the report is closed; only a report that is awaiting_verification can be rejected | closed closed [housing:lead:completed police:assist:summoned] rework=0
                illegal: the case is closed; cannot complete | closed closed [housing:lead:completed police:assist:summoned] rework=0
            "#]],
        );
    }

    #[test]
    fn a_supervisor_reassigns_keeping_progress_withdrawing_the_unnamed_and_summoning_the_new() {
        let reassign = |lead: &str, assists: &[&str]| Step::Reassign {
            lead: dept(lead),
            assists: assists.iter().map(|d| dept(d)).collect(),
        };
        check(
            &[
                reassign("housing", &[]),
                whistle(),
                Step::ReportIn(dept("police")),
                reassign("police", &["police"]),
                reassign("police", &["parks"]),
                Step::ReportIn(dept("housing")),
                reassign("housing", &["police"]),
                Step::Return {
                    department: dept("housing"),
                    rerouted: vec![],
                },
                reassign("parks", &["housing"]),
                Step::ReportIn(dept("parks")),
                Step::Complete(dept("parks")),
                reassign("police", &[]),
            ],
            expect![[r#"
                illegal: the report was not whistled | open - [] rework=0
                ok whistled | whistled open [housing:lead:summoned police:assist:summoned] rework=0
                ok reported_in@police | whistled open [housing:lead:summoned police:assist:reported_in] rework=0
                illegal: the lead department cannot also assist | whistled open [housing:lead:summoned police:assist:reported_in] rework=0
                ok reassigned@police | whistled open [housing:lead:withdrawn police:lead:reported_in parks:assist:summoned] rework=0
                illegal: the department's assignment is withdrawn; cannot report in | whistled open [housing:lead:withdrawn police:lead:reported_in parks:assist:summoned] rework=0
                ok reassigned@housing | whistled open [housing:lead:summoned police:assist:reported_in parks:assist:withdrawn] rework=0
                ok returned@housing | whistled awaiting_supervisor [housing:lead:returned police:assist:reported_in parks:assist:withdrawn] rework=0
                ok reassigned@parks | whistled open [housing:assist:summoned police:assist:withdrawn parks:lead:summoned] rework=0
                ok reported_in@parks | whistled open [housing:assist:summoned police:assist:withdrawn parks:lead:reported_in] rework=0
                ok completed@parks | awaiting_verification awaiting_verification [housing:assist:summoned police:assist:withdrawn parks:lead:completed] rework=0
                illegal: the lead completed and the grid worker is verifying; reassign after a rejection | awaiting_verification awaiting_verification [housing:assist:summoned police:assist:withdrawn parks:lead:completed] rework=0
            "#]],
        );
    }

    #[test]
    fn settling_on_the_spot_closes_the_report_without_a_case() {
        check(
            &[Step::ResolveOnSite, whistle()],
            expect![[r#"
                ok resolved_on_site | resolved_on_site - [] rework=0
                illegal: the report is resolved_on_site; only a report that is open can be whistled | resolved_on_site - [] rework=0
            "#]],
        );
    }

    #[test]
    fn returns_reroute_and_go_to_a_supervisor_when_no_lead_is_left() {
        check(
            &[
                whistle(),
                Step::Return {
                    department: dept("housing"),
                    rerouted: vec![
                        (dept("housing-east"), AssignmentRole::Lead),
                        (dept("police"), AssignmentRole::Assist),
                    ],
                },
                Step::Return {
                    department: dept("police"),
                    rerouted: vec![(dept("housing-east"), AssignmentRole::Lead)],
                },
                Step::ReportIn(dept("housing")),
                Step::Return {
                    department: dept("housing-east"),
                    rerouted: vec![],
                },
                Step::Whistle { summoned: vec![] },
            ],
            expect![[r#"
                ok whistled | whistled open [housing:lead:summoned police:assist:summoned] rework=0
                ok returned@housing,rerouted@housing-east | whistled open [housing:lead:returned police:assist:summoned housing-east:lead:summoned] rework=0
                ok returned@police | whistled open [housing:lead:returned police:assist:returned housing-east:lead:summoned] rework=0
                illegal: the department's assignment is returned; cannot report in | whistled open [housing:lead:returned police:assist:returned housing-east:lead:summoned] rework=0
                ok returned@housing-east | whistled awaiting_supervisor [housing:lead:returned police:assist:returned housing-east:lead:returned] rework=0
                illegal: the report is whistled; only a report that is open can be whistled | whistled awaiting_supervisor [housing:lead:returned police:assist:returned housing-east:lead:returned] rework=0
            "#]],
        );
    }

    #[test]
    fn an_unroutable_whistle_waits_for_a_supervisor() {
        check(
            &[Step::Whistle { summoned: vec![] }],
            expect![[r#"
                ok whistled | whistled awaiting_supervisor [] rework=0
            "#]],
        );
    }

    #[test]
    fn a_returning_lead_hands_over_to_an_assistant_of_the_same_type() {
        check(
            &[
                whistle(),
                Step::Return {
                    department: dept("housing"),
                    rerouted: vec![(dept("police"), AssignmentRole::Lead)],
                },
            ],
            expect![[r#"
                ok whistled | whistled open [housing:lead:summoned police:assist:summoned] rework=0
                ok returned@housing,rerouted@police | whistled open [housing:lead:returned police:lead:summoned] rework=0
            "#]],
        );
    }
}
