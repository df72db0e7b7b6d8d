//! Time-limit policies and working-calendar years between the admin API and the dispatcher's model, every problem named by field.

use std::time::Duration;

use gridwhistle_dispatcher::calendar::{
    CalendarError, CivilDate, WorkingHours, YearCalendar, Zone,
};
use gridwhistle_dispatcher::policy::{
    Audience, LadderStep, Limit, PolicySet, StagePolicy, TimeLimitPolicy,
};
use gridwhistle_proto::v1;

use super::closed_loop::{grade_from_proto, grade_to_proto, stage_to_proto, whistle_kind_to_proto};
use super::convert::{Violations, fits};
use super::error::ApiError;
use super::routing::category_name;
use crate::time_limits::TimeLimitsError;

/// The years an admin may load a working calendar for: China has kept one offset since 1991, and a century ahead is plenty.
const CALENDAR_YEARS: std::ops::RangeInclusive<i32> = 1991..=2100;

/// `categories/-` selects every category without a policy of its own.
const ANY_CATEGORY: &str = "categories/-";

pub(crate) fn policies_from_proto(
    policies: &[v1::TimeLimitPolicy],
) -> Result<Vec<TimeLimitPolicy>, ApiError> {
    let mut v = Violations::default();
    if policies.is_empty() {
        v.add("policies", "must list at least one policy");
    }
    let mut out = Vec::with_capacity(policies.len());
    for (i, p) in policies.iter().enumerate() {
        let f = |name: &str| format!("policies[{i}].{name}");
        let category = if p.category == ANY_CATEGORY {
            None
        } else {
            v.check(&f("category"), category_name(&p.category))
        };
        let grade = v
            .check(&f("risk_grade"), grade_from_proto(p.risk_grade))
            .flatten();
        let kind = v
            .check(&f("whistle_kind"), kind_or_any(p.whistle_kind))
            .flatten();
        let mut stages = Vec::with_capacity(p.stages.len());
        for (j, s) in p.stages.iter().enumerate() {
            let g = |name: &str| format!("policies[{i}].stages[{j}].{name}");
            let stage = v.check(
                &g("stage"),
                super::closed_loop::any_stage_from_proto(s.stage),
            );
            let limit = match &s.limit {
                None => {
                    v.add(&g("limit"), "is required");
                    None
                }
                Some(limit) => v.check(&g("limit"), limit_from_proto(limit)),
            };
            let ladder: Vec<Option<LadderStep>> = s
                .ladder
                .iter()
                .enumerate()
                .map(|(k, r)| rung_from_proto(&mut v, &g(&format!("ladder[{k}]")), r))
                .collect();
            if let (Some(stage), Some(limit)) = (stage, limit) {
                stages.push(StagePolicy {
                    stage,
                    limit,
                    reminders: s.reminder_fractions.clone(),
                    ladder: ladder.into_iter().flatten().collect(),
                });
            }
        }
        out.push(TimeLimitPolicy {
            category,
            grade,
            kind,
            stages,
        });
    }
    v.finish()?;
    Ok(out)
}

fn kind_or_any(value: i32) -> Result<Option<gridwhistle_domain::WhistleKind>, &'static str> {
    if value == i32::from(v1::WhistleKind::Unspecified) {
        return Ok(None);
    }
    super::closed_loop::whistle_kind_from_proto(value).map(Some)
}

fn limit_from_proto(limit: &v1::TimeLimit) -> Result<Limit, String> {
    let amount = u64::try_from(limit.amount)
        .ok()
        .filter(|a| *a > 0)
        .ok_or("amount must be positive")?;
    let unit = match v1::TimeUnit::try_from(limit.unit) {
        Ok(v1::TimeUnit::Minutes) => "minutes",
        Ok(v1::TimeUnit::Hours) => "hours",
        Ok(v1::TimeUnit::Days) => "days",
        Ok(v1::TimeUnit::WorkingHours) => "working_hours",
        Ok(v1::TimeUnit::WorkingDays) => "working_days",
        Ok(v1::TimeUnit::Unspecified) | Err(_) => return Err("unit must be specified".to_owned()),
    };
    gridwhistle_dispatcher::policy::file::limit(amount, unit)
}

/// A ladder duration: policies are stored and counted in whole minutes, so anything finer is refused rather than rounded.
fn minutes_from_proto(d: Option<&prost_types::Duration>) -> Result<Duration, &'static str> {
    let Some(d) = d else {
        return Ok(Duration::ZERO);
    };
    if d.seconds < 0 || d.nanos < 0 {
        return Err("must not be negative");
    }
    if d.nanos != 0 || d.seconds % 60 != 0 {
        return Err("must be a whole number of minutes");
    }
    Ok(Duration::from_secs(d.seconds.unsigned_abs()))
}

/// One ladder rung, each problem named by its field under `field`.
fn rung_from_proto(v: &mut Violations, field: &str, r: &v1::LadderStep) -> Option<LadderStep> {
    let audience = match v1::EscalationAudience::try_from(r.audience) {
        Ok(v1::EscalationAudience::DutyOfficers) => Some(Audience::DutyOfficers),
        Ok(v1::EscalationAudience::DepartmentHead) => Some(Audience::DepartmentHead),
        Ok(v1::EscalationAudience::Supervisors) => Some(Audience::Supervisors),
        Ok(v1::EscalationAudience::DistrictLeader) => Some(Audience::DistrictLeader),
        Ok(v1::EscalationAudience::Unspecified) | Err(_) => {
            v.add(&format!("{field}.audience"), "must be specified");
            None
        }
    };
    let after = v.check(
        &format!("{field}.after"),
        minutes_from_proto(r.after.as_ref()),
    );
    let repeat_count = v.check(
        &format!("{field}.repeat_count"),
        u32::try_from(r.repeat_count).map_err(|_| "must not be negative"),
    );
    let repeat_interval = v.check(
        &format!("{field}.repeat_interval"),
        minutes_from_proto(r.repeat_interval.as_ref()),
    );
    Some(LadderStep {
        after: after?,
        audience: audience?,
        repeat_count: repeat_count?,
        repeat_interval: repeat_interval?,
    })
}

fn duration_to_proto(d: Duration) -> Result<prost_types::Duration, ApiError> {
    Ok(prost_types::Duration {
        seconds: fits("seconds", d.as_secs())?,
        nanos: 0,
    })
}

pub(crate) fn policies_to_proto(set: &PolicySet) -> Result<Vec<v1::TimeLimitPolicy>, ApiError> {
    set.policies()
        .iter()
        .map(|p| {
            Ok(v1::TimeLimitPolicy {
                category: p
                    .category
                    .as_ref()
                    .map_or_else(|| ANY_CATEGORY.to_owned(), |c| format!("categories/{c}")),
                risk_grade: grade_to_proto(p.grade),
                whistle_kind: p
                    .kind
                    .map_or(v1::WhistleKind::Unspecified.into(), whistle_kind_to_proto),
                stages: p
                    .stages
                    .iter()
                    .map(stage_to_message)
                    .collect::<Result<_, _>>()?,
            })
        })
        .collect()
}

fn stage_to_message(s: &StagePolicy) -> Result<v1::StagePolicy, ApiError> {
    let (amount, unit) = gridwhistle_dispatcher::policy::file::limit_parts(s.limit);
    let unit = match unit {
        "minutes" => v1::TimeUnit::Minutes,
        "hours" => v1::TimeUnit::Hours,
        "days" => v1::TimeUnit::Days,
        "working_hours" => v1::TimeUnit::WorkingHours,
        _ => v1::TimeUnit::WorkingDays,
    };
    Ok(v1::StagePolicy {
        stage: stage_to_proto(s.stage),
        limit: Some(v1::TimeLimit {
            amount: fits("limit.amount", amount)?,
            unit: unit.into(),
        }),
        reminder_fractions: s.reminders.clone(),
        ladder: s
            .ladder
            .iter()
            .map(rung_to_message)
            .collect::<Result<_, _>>()?,
    })
}

fn rung_to_message(r: &LadderStep) -> Result<v1::LadderStep, ApiError> {
    Ok(v1::LadderStep {
        after: Some(duration_to_proto(r.after)?),
        audience: match r.audience {
            Audience::DutyOfficers => v1::EscalationAudience::DutyOfficers,
            Audience::DepartmentHead => v1::EscalationAudience::DepartmentHead,
            Audience::Supervisors => v1::EscalationAudience::Supervisors,
            Audience::DistrictLeader => v1::EscalationAudience::DistrictLeader,
        }
        .into(),
        repeat_count: fits("repeat_count", r.repeat_count)?,
        repeat_interval: (!r.repeat_interval.is_zero())
            .then(|| duration_to_proto(r.repeat_interval))
            .transpose()?,
    })
}

pub(crate) fn year_from_proto(
    calendar: Option<&v1::WorkingCalendar>,
) -> Result<YearCalendar, ApiError> {
    let Some(c) = calendar else {
        return Err(ApiError::field("calendar", "is required"));
    };
    let mut v = Violations::default();
    if !CALENDAR_YEARS.contains(&c.year) {
        v.add(
            "calendar.year",
            format!(
                "must be from {} to {}",
                CALENDAR_YEARS.start(),
                CALENDAR_YEARS.end()
            ),
        );
    }
    let zone = if c.time_zone.is_empty() {
        Some(Zone::shanghai())
    } else {
        v.check("calendar.time_zone", Zone::parse(&c.time_zone))
    };
    let periods: Vec<String> = c
        .periods
        .iter()
        .map(|p| format!("{}-{}", p.start, p.end))
        .collect();
    let hours = if periods.is_empty() {
        Some(WorkingHours::office())
    } else {
        v.check("calendar.periods", WorkingHours::parse(&periods))
    };
    let holidays: Vec<(CivilDate, CivilDate)> = c
        .holidays
        .iter()
        .enumerate()
        .filter_map(|(i, d)| v.check(&format!("calendar.holidays[{i}]"), CivilDate::parse(d)))
        .map(|d| (d, d))
        .collect();
    let make_up: Vec<CivilDate> = c
        .makeup_working_days
        .iter()
        .enumerate()
        .filter_map(|(i, d)| {
            v.check(
                &format!("calendar.makeup_working_days[{i}]"),
                CivilDate::parse(d),
            )
        })
        .collect();
    v.finish()?;
    let (Some(zone), Some(hours)) = (zone, hours) else {
        return Err(ApiError::field("calendar", "is invalid"));
    };
    YearCalendar::new(
        c.year,
        "AdminService.PutWorkingCalendar".to_owned(),
        zone,
        hours,
        &holidays,
        &make_up,
    )
    .map_err(|e| ApiError::field("calendar", e))
}

pub(crate) fn year_to_proto(year: &YearCalendar) -> v1::WorkingCalendar {
    v1::WorkingCalendar {
        year: year.year,
        time_zone: year.zone.name().to_owned(),
        periods: year
            .hours
            .render()
            .into_iter()
            .filter_map(|p| {
                p.split_once('-').map(|(start, end)| v1::WorkingPeriod {
                    start: start.to_owned(),
                    end: end.to_owned(),
                })
            })
            .collect(),
        holidays: year.holidays().map(|d| d.to_string()).collect(),
        makeup_working_days: year.make_up_working_days().map(|d| d.to_string()).collect(),
        provisional: year.provisional,
    }
}

impl From<TimeLimitsError> for ApiError {
    fn from(err: TimeLimitsError) -> Self {
        match err {
            TimeLimitsError::Policy(e) => {
                ApiError::field(format!("policies[{}]", e.index), e.reason)
            }
            TimeLimitsError::Calendar(e @ CalendarError::MissingYear(_)) => {
                ApiError::precondition(super::error::reason::CALENDAR_MISSING, e)
            }
            TimeLimitsError::Calendar(e) => ApiError::field("calendar", e),
            TimeLimitsError::Storage(e) => ApiError::from(e),
            TimeLimitsError::NotLoaded(_) => ApiError::Unavailable,
        }
    }
}
