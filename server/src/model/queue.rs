//! The case queue: which whistled cases a listing shows and in what order.

use gridwhistle_domain::{
    CaseState, CategoryId, DepartmentId, GridId, ReportId, RiskGrade, Timestamp, WhistleKind,
};

/// A half-open span of time: from `from` (inclusive) until `until` (exclusive); either end may be open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub from: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

impl TimeRange {
    /// Narrows the range to start no earlier than `at`.
    pub fn from_at_least(&mut self, at: Timestamp) {
        self.from = Some(self.from.map_or(at, |f| f.max(at)));
    }

    /// Narrows the range to end no later than `at`.
    pub fn until_at_most(&mut self, at: Timestamp) {
        self.until = Some(self.until.map_or(at, |u| u.min(at)));
    }
}

/// A span of degrees (WGS-84), both ends included; either may be open.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DegreeRange {
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl DegreeRange {
    /// Narrows the span to start no lower than `at`.
    pub fn min_at_least(&mut self, at: f64) {
        self.min = Some(self.min.map_or(at, |m| m.max(at)));
    }

    /// Narrows the span to end no higher than `at`.
    pub fn max_at_most(&mut self, at: f64) {
        self.max = Some(self.max.map_or(at, |m| m.min(at)));
    }
}

/// The order of a case queue; ties go by report id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CaseOrder {
    /// Nearest due time first: the department's own when the listing is of one department, the case's otherwise; cases with nothing due last.
    #[default]
    Due,
    /// Oldest whistle first.
    Whistled,
}

/// Which cases a queue lists; every condition set must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaseQuery {
    /// Any of these states; empty for every state.
    pub states: Vec<CaseState>,
    /// Cases this department was summoned to (whatever became of its share).
    pub department: Option<DepartmentId>,
    /// Cases in grids of this street (街道), by the grid's `street` as imported.
    pub street: Option<String>,
    pub grid: Option<GridId>,
    pub category: Option<CategoryId>,
    pub risk_grade: Option<RiskGrade>,
    pub whistle_kind: Option<WhistleKind>,
    pub whistled: TimeRange,
    /// The due time the order uses (the department's own when a department is named); nothing due is never in a bounded range.
    pub due: TimeRange,
    /// The bounding box, where the report lies in WGS-84 (whatever datum the device sent).
    pub latitude: DegreeRange,
    pub longitude: DegreeRange,
    pub order: CaseOrder,
}

/// Where a page of a queue starts: after this sort key and report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuePosition {
    /// The due or whistle time in milliseconds, as the order uses it.
    pub key: i64,
    pub report: ReportId,
}
