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
    /// Working time from whistle to acceptance of the accepted led shares, counted in buckets.
    pub working: WorkingTimes,
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

/// The bucket of working times that runs past every other: 2^41 working minutes on.
const LAST_WORKING_BUCKET: i64 = 16 * (41 - 3);

/// The bucket a working time counts in: whole minutes up to 32 minutes, then sixteen buckets to each doubling (each at most 1/16 of the times it holds wide).
///
/// `storage::rollups` says the same in SQL; the unit tests hold the two to each other through the bounds.
pub fn working_bucket(ms: i64) -> i64 {
    let minutes = ms.max(0) / 60_000;
    if minutes < 32 {
        return minutes;
    }
    let octave = 63 - i64::from(minutes.leading_zeros());
    if octave > 40 {
        return LAST_WORKING_BUCKET;
    }
    16 * (octave - 3) + ((minutes - (1 << octave)) >> (octave - 4))
}

/// The working times a bucket holds, `[lower, upper)` in milliseconds.
pub fn working_bucket_span(bucket: i64) -> (i64, i64) {
    let bucket = bucket.clamp(0, LAST_WORKING_BUCKET);
    if bucket < 32 {
        return (bucket * 60_000, (bucket + 1) * 60_000);
    }
    let octave = bucket / 16 + 3;
    let width = 1_i64 << (octave - 4);
    let lower = (1_i64 << octave) + (bucket % 16) * width;
    (lower * 60_000, (lower + width) * 60_000)
}

/// The working times of a group's accepted led shares: their exact sum and count, and how many fell in each bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkingTimes {
    pub sum_ms: i64,
    pub count: i64,
    /// Shares by bucket ([`working_bucket`]); no bucket holds zero.
    pub buckets: std::collections::BTreeMap<i64, i64>,
}

impl WorkingTimes {
    pub fn add(&mut self, ms: i64) {
        self.sum_ms += ms;
        self.count += 1;
        self.add_bucket(working_bucket(ms), 1);
    }

    pub fn add_bucket(&mut self, bucket: i64, shares: i64) {
        if shares != 0 {
            *self.buckets.entry(bucket).or_default() += shares;
        }
    }

    /// The mean, exact to the millisecond (rounded down).
    pub fn mean_ms(&self) -> Option<i64> {
        (self.count > 0).then(|| self.sum_ms / self.count)
    }

    /// The middle of the bucket holding the lower middle time (of an even count, so a time some share took lies in it): within 1/32 of the exact median.
    pub fn median_ms(&self) -> Option<i64> {
        let total: i64 = self.buckets.values().sum();
        let mut before = (total - 1) / 2;
        for (bucket, shares) in &self.buckets {
            if before < *shares {
                let (lower, upper) = working_bucket_span(*bucket);
                return Some(lower + (upper - lower) / 2);
            }
            before -= shares;
        }
        None
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_working_time_lies_in_its_bucket_and_buckets_are_narrow() {
        let mut ms = 0_i64;
        let mut last = 0;
        while ms < 1_i64 << 50 {
            let bucket = working_bucket(ms);
            let (lower, upper) = working_bucket_span(bucket);
            assert!(bucket >= last, "buckets rise with the time: {ms}");
            assert!(
                lower <= ms && (ms < upper || bucket == LAST_WORKING_BUCKET),
                "{ms} in {bucket}"
            );
            assert!(
                bucket < 32 || (upper - lower) * 16 <= lower,
                "{bucket} at most 1/16 wide"
            );
            last = bucket;
            ms = ms * 9 / 8 + 7_919;
        }
        // Each bucket's bounds fall in the bucket, its upper bound in the next.
        for bucket in 0..LAST_WORKING_BUCKET {
            let (lower, upper) = working_bucket_span(bucket);
            assert_eq!(working_bucket(lower), bucket);
            assert_eq!(working_bucket(upper - 1), bucket);
            assert_eq!(working_bucket(upper), bucket + 1);
        }
    }

    #[test]
    fn the_median_is_the_middle_of_the_lower_middle_times_bucket() {
        let mut w = WorkingTimes::default();
        assert_eq!(w.median_ms(), None);
        for ms in [90_000, 3_600_000, 7_200_000, 100 * 3_600_000] {
            w.add(ms);
        }
        // Lower middle: 3,600,000 ms (60 min) in [60, 62) minutes.
        assert_eq!(w.median_ms(), Some(61 * 60_000));
        assert_eq!(
            w.mean_ms(),
            Some((90_000 + 3_600_000 + 7_200_000 + 360_000_000) / 4)
        );
    }
}
