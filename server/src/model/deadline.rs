//! Deadlines as the loop and supervisors see them: one stage of one department's share of a case, overdue listings and escalations.

use gridwhistle_domain::{CaseId, DeadlineStage, DepartmentId, LetterId, RiskGrade, Timestamp};

/// One stage of one department's share of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadlineRecord {
    /// The stored row's id.
    pub id: i64,
    /// The supervision letter whose reply this deadline awaits; `None` for the loop's stages.
    pub letter: Option<LetterId>,
    pub department: DepartmentId,
    pub stage: DeadlineStage,
    pub policy_version: i64,
    pub started_at: Timestamp,
    pub due_at: Timestamp,
    pub state: DeadlineState,
    pub satisfied_at: Option<Timestamp>,
    /// Ladder firings so far.
    pub escalation_level: u32,
    /// Index of the next firing in the stage's schedule.
    pub next_step: u32,
    pub next_fire_at: Option<Timestamp>,
    /// Counted across a provisional calendar year; counted again when its official calendar is loaded.
    pub provisional: bool,
}

/// An escalation as supervisors see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationRecord {
    pub case: CaseId,
    pub department: Option<DepartmentId>,
    pub stage: Option<DeadlineStage>,
    pub audience: String,
    pub escalation_level: u32,
    pub due_at: Option<Timestamp>,
}

/// A pending deadline past its due time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverdueRecord {
    pub deadline: i64,
    pub case: CaseId,
    pub department: DepartmentId,
    pub stage: DeadlineStage,
    pub due_at: Timestamp,
    pub risk_grade: Option<RiskGrade>,
    pub escalation_level: u32,
    /// Counted across a provisional calendar year.
    pub provisional: bool,
}

/// Which overdue deadlines to list.
#[derive(Debug, Clone, Default)]
pub struct OverdueFilter {
    pub department: Option<DepartmentId>,
    pub risk_grade: Option<RiskGrade>,
    pub stage: Option<DeadlineStage>,
}

/// Where a deadline stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineState {
    Pending,
    Satisfied,
    Cancelled,
}

impl DeadlineState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadlineState::Pending => "pending",
            DeadlineState::Satisfied => "satisfied",
            DeadlineState::Cancelled => "cancelled",
        }
    }
}

impl std::str::FromStr for DeadlineState {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "pending" => Ok(DeadlineState::Pending),
            "satisfied" => Ok(DeadlineState::Satisfied),
            "cancelled" => Ok(DeadlineState::Cancelled),
            other => Err(format!("unknown deadline state {other:?}")),
        }
    }
}
