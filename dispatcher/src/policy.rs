//! Time-limit policies: for a case's category, risk grade and whistle kind, the stages its deadlines go through, with reminders before each due time and an escalation ladder after it.
//!
//! A policy set is versioned as a whole; a case keeps the version it started with, so a later import never moves a running deadline.
//! Everything here is pure: the calendar is passed in, nothing reads a clock.

use std::time::Duration;

use gridwhistle_domain::{CategoryId, DeadlineStage, RiskGrade, Timestamp, WhistleKind};

use crate::calendar::{CalendarError, WorkingCalendar};

/// The longest limit or ladder duration a policy may hold: ten years, far beyond any real time limit, so every duration fits the whole minutes that files and messages count in.
pub const LONGEST: Duration = Duration::from_secs(10 * 366 * 24 * 3600);

/// The most working days a limit may count (ten years of them).
pub const LONGEST_WORKING_DAYS: u32 = 10 * 366;

/// How long a stage may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Wall-clock time, such as the 30 minutes to report in.
    Wall(Duration),
    /// Working time by the calendar (工作时).
    WorkingTime(Duration),
    /// Whole working days (工作日): due at the close of the n-th working day after the start day.
    WorkingDays(u32),
}

impl Limit {
    /// The due time of a stage that starts at `start`.
    pub fn due(
        &self,
        calendar: &WorkingCalendar,
        start: Timestamp,
    ) -> Result<Timestamp, CalendarError> {
        match *self {
            Limit::Wall(d) => Ok(start.saturating_add(d)),
            Limit::WorkingTime(d) => calendar.add_working_time(start, d),
            Limit::WorkingDays(n) => calendar.add_working_days(start, n),
        }
    }

    /// Whether a due time counted from `start` to `due` rests on a provisional calendar year, and so may move when that year's official calendar is loaded.
    pub fn is_provisional(
        &self,
        calendar: &WorkingCalendar,
        start: Timestamp,
        due: Timestamp,
    ) -> bool {
        match self {
            Limit::Wall(_) => false,
            Limit::WorkingTime(_) | Limit::WorkingDays(_) => {
                calendar.provisional_between(start, due)
            }
        }
    }

    /// The instant `fraction` of the way from `start` to `due`, measured as the limit is: wall time for a wall limit, working time otherwise.
    pub fn fraction_at(
        &self,
        calendar: &WorkingCalendar,
        start: Timestamp,
        due: Timestamp,
        fraction: f64,
    ) -> Result<Timestamp, CalendarError> {
        match self {
            Limit::Wall(_) => Ok(start.saturating_add(due.duration_since(start).mul_f64(fraction))),
            Limit::WorkingTime(_) | Limit::WorkingDays(_) => {
                let worked = calendar.working_time_between(start, due)?;
                calendar.add_working_time(start, worked.mul_f64(fraction))
            }
        }
    }
}

/// Who a firing notifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    /// The summoned department's duty officers.
    DutyOfficers,
    /// The summoned department's head.
    DepartmentHead,
    /// The district's supervisors (督办).
    Supervisors,
    DistrictLeader,
}

/// One rung of the escalation ladder, counted in wall time after the due time.
#[derive(Debug, Clone, PartialEq)]
pub struct LadderStep {
    pub after: Duration,
    pub audience: Audience,
    /// Further notifications after the first.
    pub repeat_count: u32,
    pub repeat_interval: Duration,
}

/// A stage's limit, its reminders and its ladder.
#[derive(Debug, Clone, PartialEq)]
pub struct StagePolicy {
    pub stage: DeadlineStage,
    pub limit: Limit,
    /// Fractions of the limit at which the duty officers are reminded, such as 0.5 and 0.8; ascending, each in (0, 1).
    pub reminders: Vec<f64>,
    /// Ascending by `after`.
    pub ladder: Vec<LadderStep>,
}

/// The stages for the cases a (category, grade, kind) selector matches; `None` matches anything.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeLimitPolicy {
    pub category: Option<CategoryId>,
    pub grade: Option<RiskGrade>,
    pub kind: Option<WhistleKind>,
    pub stages: Vec<StagePolicy>,
}

/// Why a policy set was refused, naming the policy (by position) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policies[{index}]: {reason}")]
pub struct PolicyError {
    pub index: usize,
    pub reason: String,
}

/// A validated, versioned set of policies.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicySet {
    version: i64,
    policies: Vec<TimeLimitPolicy>,
}

/// What a firing is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FiringKind {
    /// Before the due time, at this fraction of the limit.
    Reminder { fraction: f64 },
    /// After the due time: ladder rung `step`, its `repeat`-th repetition (0 is the first notification).
    Escalation { step: usize, repeat: u32 },
}

/// One scheduled firing of a deadline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Firing {
    pub at: Timestamp,
    pub kind: FiringKind,
    pub audience: Audience,
}

impl PolicySet {
    /// Validates `policies`: at most one policy per selector, each stage once per policy, reminders in (0, 1) ascending, ladder rungs ascending, a repeat interval when a rung repeats.
    pub fn new(version: i64, policies: Vec<TimeLimitPolicy>) -> Result<Self, PolicyError> {
        for (index, policy) in policies.iter().enumerate() {
            let fail = |reason: String| Err(PolicyError { index, reason });
            if policies[..index].iter().any(|p| {
                p.category == policy.category && p.grade == policy.grade && p.kind == policy.kind
            }) {
                return fail("another policy has the same category, grade and kind".to_owned());
            }
            if policy.stages.is_empty() {
                return fail("a policy needs at least one stage".to_owned());
            }
            for (i, stage) in policy.stages.iter().enumerate() {
                if policy.stages[..i].iter().any(|s| s.stage == stage.stage) {
                    return fail(format!("stage {:?} is given twice", stage.stage));
                }
                let too_long = match stage.limit {
                    Limit::Wall(d) | Limit::WorkingTime(d) => d > LONGEST,
                    Limit::WorkingDays(n) => n > LONGEST_WORKING_DAYS,
                } || stage
                    .ladder
                    .iter()
                    .any(|r| r.after > LONGEST || r.repeat_interval > LONGEST);
                if too_long {
                    return fail(format!(
                        "stage {:?}: a limit or ladder duration is longer than ten years",
                        stage.stage
                    ));
                }
                let zero = match stage.limit {
                    Limit::Wall(d) | Limit::WorkingTime(d) => d.is_zero(),
                    Limit::WorkingDays(n) => n == 0,
                };
                if zero {
                    return fail(format!("stage {:?} has a zero limit", stage.stage));
                }
                if stage.reminders.iter().any(|f| !(*f > 0.0 && *f < 1.0))
                    || stage.reminders.windows(2).any(|w| w[0] >= w[1])
                {
                    return fail(format!(
                        "stage {:?}: reminders must be ascending fractions between 0 and 1",
                        stage.stage
                    ));
                }
                if stage.ladder.windows(2).any(|w| w[0].after >= w[1].after) {
                    return fail(format!(
                        "stage {:?}: ladder rungs must come in ascending order of time after due",
                        stage.stage
                    ));
                }
                if stage
                    .ladder
                    .iter()
                    .any(|r| r.repeat_count > 0 && r.repeat_interval.is_zero())
                {
                    return fail(format!(
                        "stage {:?}: a repeating rung needs a repeat interval",
                        stage.stage
                    ));
                }
            }
        }
        Ok(Self { version, policies })
    }

    pub fn version(&self) -> i64 {
        self.version
    }

    pub fn policies(&self) -> &[TimeLimitPolicy] {
        &self.policies
    }

    /// The policy for a case: the most specific match, where a category outweighs a grade and a grade outweighs a kind.
    pub fn select(
        &self,
        category: &CategoryId,
        grade: RiskGrade,
        kind: WhistleKind,
    ) -> Option<&TimeLimitPolicy> {
        self.policies
            .iter()
            .filter(|p| {
                p.category.as_ref().is_none_or(|c| c == category)
                    && p.grade.is_none_or(|g| g == grade)
                    && p.kind.is_none_or(|k| k == kind)
            })
            .max_by_key(|p| (p.category.is_some(), p.grade.is_some(), p.kind.is_some()))
    }

    /// The stage policy of a ledger entry's plan steps at `grade`: from the most specific policy that names no category and no whistle kind and has a `ledger_step` stage, so a grade's own ladder (the tighter one for red entries) outweighs the general one.
    pub fn ledger_step(&self, grade: RiskGrade) -> Option<&StagePolicy> {
        self.policies
            .iter()
            .filter(|p| {
                p.category.is_none() && p.kind.is_none() && p.grade.is_none_or(|g| g == grade)
            })
            .filter_map(|p| Some((p.grade.is_some(), p.stage(DeadlineStage::LedgerStep)?)))
            .max_by_key(|(specific, _)| *specific)
            .map(|(_, stage)| stage)
    }
}

impl TimeLimitPolicy {
    pub fn stage(&self, stage: DeadlineStage) -> Option<&StagePolicy> {
        self.stages.iter().find(|s| s.stage == stage)
    }
}

impl StagePolicy {
    /// Every firing of this stage for a deadline that started at `start` and is due at `due`, in time order: reminders, then the ladder with its repeats.
    pub fn firings(
        &self,
        calendar: &WorkingCalendar,
        start: Timestamp,
        due: Timestamp,
    ) -> Result<Vec<Firing>, CalendarError> {
        let mut firings = Vec::with_capacity(self.reminders.len() + self.ladder.len());
        for &fraction in &self.reminders {
            firings.push(Firing {
                at: self.limit.fraction_at(calendar, start, due, fraction)?,
                kind: FiringKind::Reminder { fraction },
                audience: Audience::DutyOfficers,
            });
        }
        for (step, rung) in self.ladder.iter().enumerate() {
            for repeat in 0..=rung.repeat_count {
                let after = rung.after + rung.repeat_interval * repeat;
                firings.push(Firing {
                    at: due.saturating_add(after),
                    kind: FiringKind::Escalation { step, repeat },
                    audience: rung.audience,
                });
            }
        }
        // Stable: a reminder and an escalation at one instant keep the order above.
        firings.sort_by_key(|f| f.at);
        Ok(firings)
    }
}

/// The policies file: what `serve --time-limits`, the stored versions and the shipped defaults are written in.
///
/// ```json
/// {"policies": [{"category": null, "risk_grade": "A", "whistle_kind": null,
///   "stages": [{"stage": "report_in", "limit": {"amount": 30, "unit": "minutes"},
///     "reminders": [0.5, 0.8],
///     "ladder": [{"after_minutes": 0, "audience": "duty_officers"},
///                {"after_minutes": 120, "audience": "supervisors", "repeat_count": 3, "repeat_interval_minutes": 240}]}]}]}
/// ```
/// Units are `minutes`, `hours` and `days` of wall time, `working_hours` and `working_days`.
pub mod file {
    use std::str::FromStr;
    use std::time::Duration;

    use gridwhistle_domain::{CategoryId, DeadlineStage, RiskGrade, WhistleKind};
    use serde::{Deserialize, Serialize};

    use super::{
        Audience, LONGEST, LONGEST_WORKING_DAYS, LadderStep, Limit, PolicyError, PolicySet,
        StagePolicy, TimeLimitPolicy,
    };

    #[derive(Debug, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        policies: Vec<PolicyFile>,
    }

    #[derive(Debug, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct PolicyFile {
        #[serde(default)]
        category: Option<String>,
        #[serde(default)]
        risk_grade: Option<String>,
        #[serde(default)]
        whistle_kind: Option<String>,
        stages: Vec<StageFile>,
    }

    #[derive(Debug, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct StageFile {
        stage: String,
        limit: LimitFile,
        #[serde(default)]
        reminders: Vec<f64>,
        #[serde(default)]
        ladder: Vec<RungFile>,
    }

    #[derive(Debug, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct LimitFile {
        amount: u64,
        unit: String,
    }

    #[derive(Debug, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RungFile {
        after_minutes: u64,
        audience: String,
        #[serde(default)]
        repeat_count: u32,
        #[serde(default)]
        repeat_interval_minutes: u64,
    }

    pub fn audience_as_str(audience: Audience) -> &'static str {
        match audience {
            Audience::DutyOfficers => "duty_officers",
            Audience::DepartmentHead => "department_head",
            Audience::Supervisors => "supervisors",
            Audience::DistrictLeader => "district_leader",
        }
    }

    fn audience(text: &str) -> Result<Audience, String> {
        [
            Audience::DutyOfficers,
            Audience::DepartmentHead,
            Audience::Supervisors,
            Audience::DistrictLeader,
        ]
        .into_iter()
        .find(|a| audience_as_str(*a) == text)
        .ok_or_else(|| format!("unknown audience {text:?}"))
    }

    /// A limit from an amount and a unit name; one longer than [`LONGEST`] is refused.
    pub fn limit(amount: u64, unit: &str) -> Result<Limit, String> {
        let too_long =
            || format!("{amount} {unit} is longer than a time limit may run (ten years)");
        let minutes = |per: u64| {
            amount
                .checked_mul(per)
                .and_then(|m| m.checked_mul(60))
                .map(Duration::from_secs)
                .filter(|d| *d <= LONGEST)
                .ok_or_else(too_long)
        };
        Ok(match unit {
            "minutes" => Limit::Wall(minutes(1)?),
            "hours" => Limit::Wall(minutes(60)?),
            "days" => Limit::Wall(minutes(24 * 60)?),
            "working_hours" => Limit::WorkingTime(minutes(60)?),
            "working_days" => Limit::WorkingDays(
                u32::try_from(amount)
                    .ok()
                    .filter(|n| *n <= LONGEST_WORKING_DAYS)
                    .ok_or_else(too_long)?,
            ),
            other => return Err(format!("unknown unit {other:?}")),
        })
    }

    /// A ladder duration in whole minutes; one longer than [`LONGEST`] is refused.
    fn rung_minutes(minutes: u64, field: &str) -> Result<Duration, String> {
        minutes
            .checked_mul(60)
            .map(Duration::from_secs)
            .filter(|d| *d <= LONGEST)
            .ok_or_else(|| format!("{field}: {minutes} minutes is longer than ten years"))
    }

    /// The amount and unit a limit is written with: the largest whole wall unit.
    pub fn limit_parts(limit: Limit) -> (u64, &'static str) {
        let whole = |d: Duration| d.as_secs() / 60;
        match limit {
            Limit::Wall(d) => {
                let minutes = whole(d);
                if minutes % (24 * 60) == 0 {
                    (minutes / (24 * 60), "days")
                } else if minutes % 60 == 0 {
                    (minutes / 60, "hours")
                } else {
                    (minutes, "minutes")
                }
            }
            Limit::WorkingTime(d) => (whole(d) / 60, "working_hours"),
            Limit::WorkingDays(n) => (u64::from(n), "working_days"),
        }
    }

    /// Parses and validates a policies file as `version`.
    pub fn parse(version: i64, text: &str) -> Result<PolicySet, PolicyError> {
        let file: File = serde_json::from_str(text).map_err(|e| PolicyError {
            index: 0,
            reason: format!("not a policies file: {e}"),
        })?;
        let mut policies = Vec::with_capacity(file.policies.len());
        for (index, p) in file.policies.into_iter().enumerate() {
            let fail = |reason: String| PolicyError { index, reason };
            let category = p
                .category
                .as_deref()
                .map(CategoryId::parse)
                .transpose()
                .map_err(|e| fail(format!("category: {e}")))?;
            let grade = p
                .risk_grade
                .as_deref()
                .map(RiskGrade::from_str)
                .transpose()
                .map_err(|e| fail(format!("risk_grade: {e}")))?;
            let kind = p
                .whistle_kind
                .as_deref()
                .map(WhistleKind::from_str)
                .transpose()
                .map_err(|e| fail(format!("whistle_kind: {e}")))?;
            let mut stages = Vec::with_capacity(p.stages.len());
            for s in p.stages {
                let stage =
                    DeadlineStage::from_str(&s.stage).map_err(|e| fail(format!("stage: {e}")))?;
                let ladder = s
                    .ladder
                    .into_iter()
                    .map(|r| {
                        Ok(LadderStep {
                            after: rung_minutes(r.after_minutes, "after_minutes")?,
                            audience: audience(&r.audience)?,
                            repeat_count: r.repeat_count,
                            repeat_interval: rung_minutes(
                                r.repeat_interval_minutes,
                                "repeat_interval_minutes",
                            )?,
                        })
                    })
                    .collect::<Result<_, String>>()
                    .map_err(fail)?;
                stages.push(StagePolicy {
                    stage,
                    limit: limit(s.limit.amount, &s.limit.unit).map_err(fail)?,
                    reminders: s.reminders,
                    ladder,
                });
            }
            policies.push(TimeLimitPolicy {
                category,
                grade,
                kind,
                stages,
            });
        }
        PolicySet::new(version, policies)
    }

    /// Writes `set` as a policies file; `parse` reads it back to an equal set.
    pub fn render(set: &PolicySet) -> String {
        let policies = set
            .policies()
            .iter()
            .map(|p| PolicyFile {
                category: p.category.as_ref().map(|c| c.as_str().to_owned()),
                risk_grade: p.grade.map(|g| g.as_str().to_owned()),
                whistle_kind: p.kind.map(|k| k.as_str().to_owned()),
                stages: p
                    .stages
                    .iter()
                    .map(|s| {
                        let (amount, unit) = limit_parts(s.limit);
                        StageFile {
                            stage: s.stage.as_str().to_owned(),
                            limit: LimitFile {
                                amount,
                                unit: unit.to_owned(),
                            },
                            reminders: s.reminders.clone(),
                            ladder: s
                                .ladder
                                .iter()
                                .map(|r| RungFile {
                                    after_minutes: r.after.as_secs() / 60,
                                    audience: audience_as_str(r.audience).to_owned(),
                                    repeat_count: r.repeat_count,
                                    repeat_interval_minutes: r.repeat_interval.as_secs() / 60,
                                })
                                .collect(),
                        }
                    })
                    .collect(),
            })
            .collect();
        serde_json::to_string_pretty(&File { policies }).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minutes(m: u64) -> Duration {
        Duration::from_secs(m * 60)
    }

    fn report_in(limit: Limit) -> StagePolicy {
        StagePolicy {
            stage: DeadlineStage::ReportIn,
            limit,
            reminders: vec![0.5, 0.8],
            ladder: vec![
                LadderStep {
                    after: Duration::ZERO,
                    audience: Audience::DutyOfficers,
                    repeat_count: 0,
                    repeat_interval: Duration::ZERO,
                },
                LadderStep {
                    after: minutes(30),
                    audience: Audience::DepartmentHead,
                    repeat_count: 0,
                    repeat_interval: Duration::ZERO,
                },
                LadderStep {
                    after: minutes(120),
                    audience: Audience::Supervisors,
                    repeat_count: 2,
                    repeat_interval: minutes(240),
                },
            ],
        }
    }

    fn policy(
        category: Option<&str>,
        grade: Option<RiskGrade>,
        kind: Option<WhistleKind>,
        limit: Limit,
    ) -> TimeLimitPolicy {
        TimeLimitPolicy {
            category: category.map(|c| CategoryId::parse(c).unwrap()),
            grade,
            kind,
            stages: vec![report_in(limit)],
        }
    }

    #[test]
    fn the_most_specific_policy_wins_category_first() {
        let set = PolicySet::new(
            1,
            vec![
                policy(None, None, None, Limit::Wall(minutes(30))),
                policy(None, Some(RiskGrade::A), None, Limit::Wall(minutes(15))),
                policy(
                    None,
                    None,
                    Some(WhistleKind::Emergency),
                    Limit::Wall(minutes(10)),
                ),
                policy(Some("noise"), None, None, Limit::Wall(minutes(60))),
            ],
        )
        .unwrap();
        let limit = |category: &str, grade, kind| {
            set.select(&CategoryId::parse(category).unwrap(), grade, kind)
                .unwrap()
                .stages[0]
                .limit
        };
        assert_eq!(
            limit("dispute", RiskGrade::C, WhistleKind::Routine),
            Limit::Wall(minutes(30))
        );
        assert_eq!(
            limit("dispute", RiskGrade::A, WhistleKind::Emergency),
            Limit::Wall(minutes(15))
        );
        assert_eq!(
            limit("dispute", RiskGrade::B, WhistleKind::Emergency),
            Limit::Wall(minutes(10))
        );
        assert_eq!(
            limit("noise", RiskGrade::A, WhistleKind::Emergency),
            Limit::Wall(minutes(60))
        );
    }

    #[test]
    fn ledger_steps_take_their_grade_s_ladder_from_policies_without_category_or_kind() {
        let steps = |limit| StagePolicy {
            stage: DeadlineStage::LedgerStep,
            ..report_in(limit)
        };
        let mut general = policy(None, None, None, Limit::Wall(minutes(30)));
        general.stages.push(steps(Limit::Wall(minutes(600))));
        let mut red = policy(None, Some(RiskGrade::A), None, Limit::Wall(minutes(15)));
        red.stages.push(steps(Limit::Wall(minutes(60))));
        // A category's or a whistle kind's policy never sets a step's ladder, whatever stages it names.
        let mut noise = policy(
            Some("noise"),
            Some(RiskGrade::B),
            None,
            Limit::Wall(minutes(5)),
        );
        noise.stages.push(steps(Limit::Wall(minutes(1))));
        let mut emergency = policy(
            None,
            Some(RiskGrade::B),
            Some(WhistleKind::Emergency),
            Limit::Wall(minutes(5)),
        );
        emergency.stages.push(steps(Limit::Wall(minutes(2))));
        // A grade's policy without a step stage leaves the general ladder in force.
        let yellow = policy(None, Some(RiskGrade::B), None, Limit::Wall(minutes(20)));
        let set = PolicySet::new(1, vec![general, red, noise, emergency, yellow]).unwrap();
        let limit = |grade| set.ledger_step(grade).map(|s| s.limit);
        assert_eq!(limit(RiskGrade::A), Some(Limit::Wall(minutes(60))));
        assert_eq!(limit(RiskGrade::B), Some(Limit::Wall(minutes(600))));
        assert_eq!(limit(RiskGrade::C), Some(Limit::Wall(minutes(600))));
        let none =
            PolicySet::new(2, vec![policy(None, None, None, Limit::Wall(minutes(30)))]).unwrap();
        assert_eq!(none.ledger_step(RiskGrade::A), None);
    }

    #[test]
    fn bad_policies_are_refused_naming_the_policy() {
        let mut twice = policy(None, None, None, Limit::Wall(minutes(30)));
        twice.stages.push(report_in(Limit::Wall(minutes(5))));
        let mut late_reminder = policy(None, None, None, Limit::Wall(minutes(30)));
        late_reminder.stages[0].reminders = vec![0.8, 0.5];
        let mut unordered = policy(None, None, None, Limit::Wall(minutes(30)));
        unordered.stages[0].ladder.reverse();
        let mut no_interval = policy(None, None, None, Limit::Wall(minutes(30)));
        no_interval.stages[0].ladder[2].repeat_interval = Duration::ZERO;
        for (bad, words) in [
            (twice, "given twice"),
            (late_reminder, "reminders"),
            (unordered, "ascending order"),
            (no_interval, "repeat interval"),
            (
                policy(None, None, None, Limit::WorkingDays(0)),
                "zero limit",
            ),
        ] {
            let err = PolicySet::new(
                1,
                vec![
                    policy(Some("noise"), None, None, Limit::Wall(minutes(1))),
                    bad,
                ],
            )
            .unwrap_err();
            assert_eq!(err.index, 1);
            assert!(err.reason.contains(words), "{err}");
        }
        let err = PolicySet::new(
            1,
            vec![
                policy(None, Some(RiskGrade::A), None, Limit::Wall(minutes(1))),
                policy(None, Some(RiskGrade::A), None, Limit::Wall(minutes(2))),
            ],
        )
        .unwrap_err();
        assert!(err.reason.contains("same category"), "{err}");
    }

    #[test]
    fn a_stage_fires_its_reminders_then_every_rung_and_repeat_in_order() {
        let calendar = WorkingCalendar::official().unwrap();
        let stage = report_in(Limit::Wall(minutes(30)));
        // Monday 2 March 2026, 10:00 in Beijing.
        let start = Timestamp::from_unix_millis(1_772_416_800_000);
        let due = stage.limit.due(&calendar, start).unwrap();
        assert_eq!(due, start.saturating_add(minutes(30)));
        let got: Vec<(u64, FiringKind, Audience)> = stage
            .firings(&calendar, start, due)
            .unwrap()
            .into_iter()
            .map(|f| {
                (
                    f.at.duration_since(start).as_secs() / 60,
                    f.kind,
                    f.audience,
                )
            })
            .collect();
        use Audience::*;
        use FiringKind::*;
        assert_eq!(
            got,
            vec![
                (15, Reminder { fraction: 0.5 }, DutyOfficers),
                (24, Reminder { fraction: 0.8 }, DutyOfficers),
                (30, Escalation { step: 0, repeat: 0 }, DutyOfficers),
                (60, Escalation { step: 1, repeat: 0 }, DepartmentHead),
                (150, Escalation { step: 2, repeat: 0 }, Supervisors),
                (390, Escalation { step: 2, repeat: 1 }, Supervisors),
                (630, Escalation { step: 2, repeat: 2 }, Supervisors),
            ]
        );
    }

    #[test]
    fn working_day_reminders_count_working_time_not_wall_time() {
        let calendar = WorkingCalendar::official().unwrap();
        let mut stage = report_in(Limit::WorkingDays(1));
        stage.reminders = vec![0.5];
        stage.ladder.clear();
        // Friday 13 February 2026, 17:00 in Beijing: the next working day is the make-up Saturday.
        let start = Timestamp::from_unix_millis(1_770_973_200_000);
        let due = stage.limit.due(&calendar, start).unwrap();
        let firings = stage.firings(&calendar, start, due).unwrap();
        // Working time from Friday 17:00 to Saturday 17:30 is 0.5 h + 7 h; half of it ends Saturday 13:45.
        let saturday_1345 = Timestamp::from_unix_millis(1_771_047_900_000);
        assert_eq!(firings[0].at, saturday_1345);
        assert!(firings[0].at < due);
    }

    #[test]
    fn the_policies_file_round_trips_and_names_bad_entries() {
        let text = r#"{"policies": [
            {"stages": [{"stage": "report_in", "limit": {"amount": 30, "unit": "minutes"}, "reminders": [0.5, 0.8],
              "ladder": [{"after_minutes": 0, "audience": "duty_officers"},
                         {"after_minutes": 30, "audience": "department_head"},
                         {"after_minutes": 120, "audience": "supervisors", "repeat_count": 3, "repeat_interval_minutes": 240}]},
              {"stage": "finish", "limit": {"amount": 7, "unit": "working_days"}}]},
            {"risk_grade": "A", "stages": [{"stage": "finish", "limit": {"amount": 24, "unit": "hours"}}]},
            {"whistle_kind": "emergency", "stages": [{"stage": "contact", "limit": {"amount": 4, "unit": "working_hours"}}]}
        ]}"#;
        let set = file::parse(3, text).unwrap();
        assert_eq!(set.version(), 3);
        assert_eq!(set.policies()[0].stages[0].ladder[2].repeat_count, 3);
        assert_eq!(
            set.policies()[1].stages[0].limit,
            Limit::Wall(Duration::from_secs(24 * 3600))
        );
        assert_eq!(file::parse(3, &file::render(&set)).unwrap(), set);

        let bad = r#"{"policies": [{"stages": [{"stage": "finish", "limit": {"amount": 1, "unit": "days"}}]},
            {"risk_grade": "D", "stages": []}]}"#;
        let err = file::parse(1, bad).unwrap_err();
        assert_eq!(err.index, 1);
        assert!(err.reason.contains("risk_grade"), "{err}");
        let err = file::parse(1, r#"{"policies": [{"stages": [{"stage": "finish", "limit": {"amount": 1, "unit": "fortnights"}}]}]}"#).unwrap_err();
        assert!(err.reason.contains("fortnights"), "{err}");
    }

    #[test]
    fn a_limit_or_rung_longer_than_ten_years_is_refused_not_clipped() {
        let limit = |amount: u64, unit: &str| {
            format!(
                r#"{{"policies": [{{"stages": [{{"stage": "finish", "limit": {{"amount": {amount}, "unit": "{unit}"}}}}]}}]}}"#
            )
        };
        assert!(file::parse(1, &limit(3660, "days")).is_ok());
        for (amount, unit) in [
            (3661, "days"),
            (u64::from(u32::MAX), "working_hours"),
            (u64::MAX, "minutes"),
            (u64::from(u32::MAX) + 1, "working_days"),
        ] {
            let err = file::parse(1, &limit(amount, unit)).unwrap_err();
            assert!(err.reason.contains("longer than"), "{amount} {unit}: {err}");
        }
        let rung = r#"{"policies": [{"stages": [{"stage": "finish", "limit": {"amount": 1, "unit": "days"},
            "ladder": [{"after_minutes": 18446744073709551615, "audience": "supervisors"}]}]}]}"#;
        let err = file::parse(1, rung).unwrap_err();
        assert!(err.reason.contains("after_minutes"), "{err}");
    }
}
