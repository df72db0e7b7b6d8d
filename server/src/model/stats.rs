//! The department figures (KPIs) as storage counts them: periods, groupings, the count pairs behind each figure, and the shares behind a shortfall.
//!
//! Rates are computed from these counts by the service; storage only counts.

use gridwhistle_domain::{
    AssignmentRole, CaseId, CategoryId, DepartmentId, ReportId, RiskGrade, Timestamp,
};

/// A half-open span of time, `[start, end)`, that figures count over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start: Timestamp,
    pub end: Timestamp,
}

/// What a department's figures are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareGroup {
    Department,
    Category,
    RiskGrade,
}

/// What the street, grid and category figures are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AreaGroup {
    Street,
    Grid,
    Category,
}

/// The counts behind one group's figures: the shares (assignments) summoned in the period, unless a field says otherwise.
///
/// "Led" shares are those whose department leads the case and did not return it or leave it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShareCounts {
    /// The department, category or grade (empty for none).
    pub key: String,
    pub assignments: i64,
    /// Reported in by the report-in due time (or reported in on a case with no such deadline).
    pub reported_in_on_time: i64,
    pub led: i64,
    /// Led shares that recorded a result at least once.
    pub led_with_result: i64,
    /// Led shares whose case the grid worker accepted.
    pub led_accepted: i64,
    /// Led shares whose case was rated, rated 4 or 5, and the sum of the scores.
    pub rated: i64,
    pub rated_satisfied: i64,
    pub score_sum: i64,
    pub completions: i64,
    pub rejections: i64,
    /// Shares with an approved extension.
    pub extended: i64,
    /// Shares that returned the case.
    pub returned: i64,
    pub escalations: i64,
    /// Led shares whose finish due time falls in the period and has passed (or whose case was accepted): the 按期结案率 denominator.
    pub led_due: i64,
    /// Of those, completed by the due time and accepted.
    pub led_due_on_time: i64,
    /// Working time from whistle to acceptance of every accepted led share, ascending.
    pub working_ms: Vec<i64>,
    /// Shares at work now, whatever their period, and those of them past a due time.
    pub open_now: i64,
    pub overdue_now: i64,
    /// Supervision letters sent to the department in the period (department grouping only).
    pub letters: i64,
}

impl ShareCounts {
    /// The counts of `key` in `counts`, added (all zero) if missing.
    pub fn entry(counts: &mut Vec<ShareCounts>, key: String) -> &mut ShareCounts {
        let at = match counts.iter().position(|c| c.key == key) {
            Some(at) => at,
            None => {
                counts.push(ShareCounts {
                    key,
                    ..ShareCounts::default()
                });
                counts.len() - 1
            }
        };
        &mut counts[at]
    }

    /// Sets each group's open and overdue counts from `open` (as `StatsRepo::open_counts` answers them), adding the groups with open shares only, keyed in order.
    pub fn add_open(counts: &mut Vec<ShareCounts>, open: &[ShareCounts]) {
        for o in open {
            let c = Self::entry(counts, o.key.clone());
            c.open_now = o.open_now;
            c.overdue_now = o.overdue_now;
        }
        counts.sort_by(|a, b| a.key.cmp(&b.key));
    }
}

/// The counts behind a street's, grid's or category's figures: reports filed in the period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AreaCounts {
    /// The street, grid or category (empty for reports outside every grid).
    pub key: String,
    pub filed: i64,
    pub whistled: i64,
    pub settled_on_site: i64,
    /// Settled on the spot, or accepted at the first verification (no rework).
    pub settled_first_time: i64,
}

/// A kind of shortfall a department head acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShortfallKind {
    /// Reported in after the report-in due time, or not yet and the due time has passed.
    LateReportIn,
    /// The result was rejected at verification at least once.
    Rework,
    /// The department returned the case.
    Return,
    /// A led case whose finish due time has passed without a result completed by it and accepted.
    LateClosure,
    /// A supervisor approved more time.
    Extension,
    /// A led case rated 1 to 3.
    Dissatisfied,
}

/// One share behind a shortfall; nothing personal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortfallRecord {
    pub report: ReportId,
    pub case: CaseId,
    pub department: DepartmentId,
    pub role: AssignmentRole,
    pub category: CategoryId,
    pub risk_grade: Option<RiskGrade>,
    pub summoned_at: Timestamp,
    pub report_in_due: Option<Timestamp>,
    pub report_in_at: Option<Timestamp>,
    pub finish_due: Option<Timestamp>,
    pub complete_at: Option<Timestamp>,
    pub accepted_at: Option<Timestamp>,
    pub satisfaction: Option<u8>,
    pub rejections: u32,
    pub returns: u32,
    pub extensions_approved: u32,
}

/// Where a page of shortfalls resumes: after this share in (summoned time, report) order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortfallPosition {
    pub summoned_at: Timestamp,
    pub report: String,
}

/// A share's facts as stored, the ones the loop keeps and the ones the deadlines keep: what the rebuild check compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFacts {
    pub report: ReportId,
    pub department: DepartmentId,
    pub facts: super::AssignmentFacts,
    pub report_in_due: Option<Timestamp>,
    pub finish_due: Option<Timestamp>,
    pub escalations: u32,
}
