//! The closed loop's aggregate: a report, the case it became, its assignments, extensions and what a change writes besides them.
//!
//! These are plain values: storage reads and writes them (`storage::reports`), the loop service changes them (`closed_loop`), the API converts them.

use gridwhistle_dispatcher::deadlines::DeadlineChange;
use gridwhistle_dispatcher::notify::NoticeKind;
use gridwhistle_dispatcher::routing::rules::Position;
use gridwhistle_domain::{
    AssignmentRole, AssignmentState, AttachmentId, CaseId, CaseState, CategoryId, DeadlineStage,
    DepartmentId, ExtensionId, ExtensionState, GridId, Party, ReportId, ReportState, RiskGrade,
    Timestamp, UserId, WhistleKind,
};
use serde::{Deserialize, Serialize};

use super::deadline::DeadlineRecord;
use super::timeline::NewEvent;

/// A report as the grid worker's app filed it, parsed; the service adds its author and grid, storage its state and version.
#[derive(Debug, Clone)]
pub struct NewReport {
    pub id: ReportId,
    pub category: CategoryId,
    pub description: String,
    pub location: Position,
    pub observed_at: Timestamp,
    pub risk_grade: Option<RiskGrade>,
    pub parties: Vec<Party>,
    pub attachments: Vec<AttachmentId>,
    /// SHA-256 of the request payload: a retry carries the same, a conflicting reuse of the id does not.
    pub request_hash: String,
}

/// A report with its case and assignments, as stored.
#[derive(Debug, Clone)]
pub struct ReportRecord {
    pub id: ReportId,
    pub author: UserId,
    pub grid: Option<GridId>,
    pub category: CategoryId,
    pub description: String,
    pub location: Position,
    pub observed_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub risk_grade: Option<RiskGrade>,
    pub parties: Vec<Party>,
    pub attachments: Vec<AttachmentId>,
    pub state: ReportState,
    pub resolution: Option<String>,
    /// How many timeline events the report has; the etag.
    pub version: i64,
    pub case: Option<CaseRecord>,
    pub assignments: Vec<AssignmentRecord>,
    /// Every deadline the case ever started, by department and stage.
    pub deadlines: Vec<DeadlineRecord>,
}

/// What appending events to a report needs of it: whose it is, and where its timeline and policy stand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportHead {
    pub id: ReportId,
    pub author: UserId,
    /// How many timeline events the report has.
    pub version: i64,
    /// The case's time-limit policy version, for deadlines it starts.
    pub policy_version: Option<i64>,
}

impl ReportRecord {
    pub fn head(&self) -> ReportHead {
        ReportHead {
            id: self.id,
            author: self.author,
            version: self.version,
            policy_version: self.case.as_ref().and_then(|c| c.policy_version),
        }
    }

    /// The departments summoned to the case, whatever their state.
    pub fn departments(&self) -> Vec<DepartmentId> {
        self.assignments
            .iter()
            .map(|a| a.department.clone())
            .collect()
    }

    /// The departments that still work or worked the case: those that returned it or were withdrawn from it keep reading it for the record, but no longer need the parties (need-to-know).
    pub fn working_departments(&self) -> Vec<DepartmentId> {
        self.assignments
            .iter()
            .filter(|a| {
                !matches!(
                    a.state,
                    AssignmentState::Returned | AssignmentState::Withdrawn
                )
            })
            .map(|a| a.department.clone())
            .collect()
    }

    pub fn assignment_mut(&mut self, department: &DepartmentId) -> Option<&mut AssignmentRecord> {
        self.assignments
            .iter_mut()
            .find(|a| a.department == *department)
    }
}

/// The case a whistle opened.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseRecord {
    pub id: CaseId,
    pub state: CaseState,
    pub kind: WhistleKind,
    pub note: String,
    pub whistled_at: Timestamp,
    pub routing: RoutingRecord,
    pub rework_count: u32,
    pub satisfaction: Option<u8>,
    /// The time-limit policy version the case keeps; `None` for a case whistled before policies existed.
    pub policy_version: Option<i64>,
}

/// The routing decision a whistle (or a re-route) used, kept as it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingRecord {
    pub generation: i64,
    pub rule: RoutingRule,
    pub near_border: bool,
    pub border_distance_m: Option<f64>,
    pub needs_supervisor: bool,
    pub routed_lat: f64,
    pub routed_lng: f64,
    pub grid: Option<String>,
    pub explanation: String,
    pub departments: Vec<RoutedRecord>,
}

/// Which rule of routing decided a case's lead; stored by its text form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutingRule {
    /// Exactly one unit of the lead type covered the point.
    SingleCover,
    /// Several covered it: priority, then smallest area, then id.
    TieBreak,
    /// None covered it: the fallback owner, and a supervisor looks.
    Fallback,
}

/// One department a routing decision summoned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutedRecord {
    pub department: String,
    pub department_type: String,
    #[serde(with = "role_text")]
    pub role: AssignmentRole,
    pub jurisdiction: Option<String>,
}

/// A role stored by its text form (`lead`, `assist`), as everywhere else.
mod role_text {
    use gridwhistle_domain::AssignmentRole;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(role: &AssignmentRole, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(role.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<AssignmentRole, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One summoned department's share of a case.
#[derive(Debug, Clone, PartialEq)]
pub struct AssignmentRecord {
    pub department: DepartmentId,
    pub department_type: String,
    pub role: AssignmentRole,
    pub state: AssignmentState,
    pub jurisdiction: Option<String>,
    pub contacted: bool,
    pub summoned_at: Timestamp,
    pub report_in_at: Option<Timestamp>,
    /// When the department reached the parties, as it recorded the contact.
    pub contact_at: Option<Timestamp>,
    pub complete_at: Option<Timestamp>,
    pub result: Option<String>,
    pub result_attachments: Vec<AttachmentId>,
    /// What the department figures count of this share, kept by the steps that change it (`closed_loop::facts`).
    pub facts: AssignmentFacts,
}

/// One share's facts for the department figures (KPIs), as the loop keeps them: counters over the share's timeline and the case's verification.
///
/// A department summoned again to a case keeps its one share, and its counters go on from where they were.
/// The stages' due times and the escalations fired are kept with the deadlines (`storage::schedule`) and read only by the figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssignmentFacts {
    /// Results the department recorded (`Completed`).
    pub completions: u32,
    /// Of those, results the grid worker rejected (返工).
    pub rejections: u32,
    /// Times the department returned the case (退单).
    pub returns: u32,
    /// Extensions a supervisor approved for the department.
    pub extensions_approved: u32,
    /// When the grid worker accepted the case's result.
    pub accepted_at: Option<Timestamp>,
    /// The score given at acceptance, 1 to 5.
    pub satisfaction: Option<u8>,
    /// Working time from the whistle to the acceptance, on the working calendar.
    pub working_ms: Option<i64>,
}

/// A notification for the outbox, written with the change's first event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    pub department: Option<DepartmentId>,
    /// `duty_officers`, `department_head`, `supervisors`, `district_leader` or `reporter`.
    pub audience: &'static str,
    pub kind: NoticeKind,
    /// The one user it is for, when the audience is `reporter`.
    pub recipient: Option<UserId>,
    pub stage: Option<DeadlineStage>,
    /// For deadline firings: the escalation level after it, and the due time.
    pub escalation_level: u32,
    pub due_at: Option<Timestamp>,
}

/// A department's request for more time.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtensionRecord {
    pub id: ExtensionId,
    pub report: ReportId,
    pub department: DepartmentId,
    pub stage: DeadlineStage,
    pub requested_due: Timestamp,
    pub reason: String,
    pub state: ExtensionState,
    pub approved_due: Option<Timestamp>,
    pub decision_reason: Option<String>,
    pub created_at: Timestamp,
    pub decided_at: Option<Timestamp>,
}

/// What a change writes besides the report and its assignments.
#[derive(Debug, Clone, Default)]
pub struct Effects {
    /// At least one: every change is on the timeline.
    pub events: Vec<NewEvent>,
    pub extension: Option<ExtensionRecord>,
    /// Deadlines the change starts, satisfies or cancels, under the case's policy version.
    pub deadlines: Vec<DeadlineChange>,
    /// Notifications for the outbox, caused by the change's first event.
    pub notifications: Vec<NewNotification>,
    /// A supervisor's decision on a pending extension; the change fails if it is no longer pending.
    pub decided_extension: Option<ExtensionRecord>,
}

/// How `CreateReport` went.
#[derive(Debug, Clone)]
pub enum CreateOutcome {
    Created(ReportRecord),
    /// The same id and payload were filed before: the report as it was first answered.
    Replayed(ReportRecord),
    /// The id was filed before with another payload or by another author.
    Conflict,
}

/// How a change names its report: by the report, or by the case it became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKey {
    Report(ReportId),
    Case(CaseId),
}

/// A listing filter for a department's inbox.
#[derive(Debug, Clone, Default)]
pub struct InboxFilter {
    /// Only assignments in this state; `None` lists every active one.
    pub state: Option<AssignmentState>,
    pub risk_grade: Option<RiskGrade>,
}

/// A listing filter for extension requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtensionFilter {
    /// Only requests of this department.
    pub department: Option<DepartmentId>,
    /// Only requests in this state.
    pub state: Option<ExtensionState>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_routing_record_keeps_the_stored_text_forms() {
        let stored = r#"{"generation":3,"rule":"tie_break","near_border":false,"border_distance_m":null,
            "needs_supervisor":false,"routed_lat":39.9,"routed_lng":116.4,"grid":"g-1","explanation":"",
            "departments":[{"department":"police","department_type":"police","role":"assist","jurisdiction":null}]}"#;
        let record: RoutingRecord = serde_json::from_str(stored).unwrap();
        assert_eq!(record.rule, RoutingRule::TieBreak);
        assert_eq!(record.departments[0].role, AssignmentRole::Assist);
        let written = serde_json::to_string(&record).unwrap();
        assert!(written.contains(r#""rule":"tie_break""#), "{written}");
        assert!(written.contains(r#""role":"assist""#), "{written}");
        let unknown = stored.replace("tie_break", "coin_toss");
        assert!(serde_json::from_str::<RoutingRecord>(&unknown).is_err());
    }
}
