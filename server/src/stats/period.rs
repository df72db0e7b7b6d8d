//! Periods of the figures in the district's time zone: calendar months (`2026-11`), ISO weeks (`2026-W48`) and ranges.

use gridwhistle_dispatcher::calendar::{CivilDate, Zone};
use gridwhistle_domain::Timestamp;

use crate::model::Period;

/// A period as a request names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeriodSpec {
    Month(String),
    Week(String),
    Range { start: Timestamp, end: Timestamp },
}

/// A calendar month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    pub year: i32,
    pub month: u8,
}

impl Month {
    pub fn parse(text: &str) -> Result<Self, String> {
        let date = CivilDate::parse(&format!("{text}-01"))
            .map_err(|_| format!("{text:?} is not a month written YYYY-MM"))?;
        Ok(Self {
            year: date.year,
            month: date.month,
        })
    }

    /// The month `t` falls in, in `zone`.
    pub fn of(zone: &Zone, t: Timestamp) -> Self {
        let date = zone.date(t);
        Self {
            year: date.year,
            month: date.month,
        }
    }

    pub fn next(self) -> Self {
        match self.month {
            12 => Self {
                year: self.year + 1,
                month: 1,
            },
            m => Self {
                year: self.year,
                month: m + 1,
            },
        }
    }

    pub fn previous(self) -> Self {
        match self.month {
            1 => Self {
                year: self.year - 1,
                month: 12,
            },
            m => Self {
                year: self.year,
                month: m - 1,
            },
        }
    }

    fn first_day(self) -> CivilDate {
        CivilDate {
            year: self.year,
            month: self.month,
            day: 1,
        }
    }

    pub fn period(self, zone: &Zone) -> Period {
        Period {
            start: zone.start_of(self.first_day()),
            end: zone.start_of(self.next().first_day()),
        }
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// Monday of ISO week `week` of `year` (the week with the year's first Thursday is week 1), if the year has that week.
fn iso_week_monday(year: i32, week: u32) -> Option<CivilDate> {
    let jan4 = CivilDate {
        year,
        month: 1,
        day: 4,
    }
    .to_days();
    // Monday is 0; 1970-01-01 was a Thursday.
    let monday_of_week1 = jan4 - (jan4 + 3).rem_euclid(7);
    let monday = monday_of_week1 + 7 * (i64::from(week) - 1);
    // The week belongs to the year of its Thursday.
    (week >= 1 && CivilDate::from_days(monday + 3).year == year)
        .then(|| CivilDate::from_days(monday))
}

/// A week written `YYYY-Www`, as its Monday.
fn parse_week(text: &str) -> Result<CivilDate, String> {
    let invalid = || format!("{text:?} is not an ISO week written YYYY-Www");
    let (year, week) = text.split_once("-W").ok_or_else(invalid)?;
    if year.len() != 4 || week.len() != 2 {
        return Err(invalid());
    }
    let year: i32 = year.parse().map_err(|_| invalid())?;
    let week: u32 = week.parse().map_err(|_| invalid())?;
    iso_week_monday(year, week).ok_or_else(|| format!("{year} has no week {week}"))
}

impl PeriodSpec {
    /// The period in `zone`, and the one of the same kind just before it (the previous month, week, or a range as long); a refusal names why.
    pub fn resolve(&self, zone: &Zone) -> Result<(Period, Period), String> {
        match self {
            PeriodSpec::Month(text) => {
                let month = Month::parse(text)?;
                Ok((month.period(zone), month.previous().period(zone)))
            }
            PeriodSpec::Week(text) => {
                let monday = parse_week(text)?;
                let at = |days: i64| zone.start_of(CivilDate::from_days(monday.to_days() + days));
                Ok((
                    Period {
                        start: at(0),
                        end: at(7),
                    },
                    Period {
                        start: at(-7),
                        end: at(0),
                    },
                ))
            }
            PeriodSpec::Range { start, end } => {
                if end <= start {
                    return Err("end_time must be after start_time".to_owned());
                }
                let length = end.as_unix_millis() - start.as_unix_millis();
                Ok((
                    Period {
                        start: *start,
                        end: *end,
                    },
                    Period {
                        start: Timestamp::from_unix_millis(start.as_unix_millis() - length),
                        end: *start,
                    },
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(zone: &Zone, t: Timestamp) -> String {
        zone.format(t)
    }

    #[test]
    fn months_and_weeks_begin_at_local_midnight() {
        let zone = Zone::shanghai();
        let (month, before) = PeriodSpec::Month("2026-01".into()).resolve(&zone).unwrap();
        assert_eq!(local(&zone, month.start), "2026-01-01 00:00");
        assert_eq!(local(&zone, month.end), "2026-02-01 00:00");
        assert_eq!(local(&zone, before.start), "2025-12-01 00:00");
        // 2026-01-01 is a Thursday: week 1 begins on Monday 2025-12-29.
        let (week, before) = PeriodSpec::Week("2026-W01".into()).resolve(&zone).unwrap();
        assert_eq!(local(&zone, week.start), "2025-12-29 00:00");
        assert_eq!(local(&zone, week.end), "2026-01-05 00:00");
        assert_eq!(local(&zone, before.start), "2025-12-22 00:00");
        // 2026 has 53 ISO weeks, 2025 has 52.
        assert!(PeriodSpec::Week("2026-W53".into()).resolve(&zone).is_ok());
        assert!(PeriodSpec::Week("2025-W53".into()).resolve(&zone).is_err());
        for bad in ["2026-13", "2026-1", "26-01", ""] {
            assert!(
                PeriodSpec::Month(bad.into()).resolve(&zone).is_err(),
                "{bad}"
            );
        }
        for bad in ["2026-W00", "2026W01", "2026-W1"] {
            assert!(
                PeriodSpec::Week(bad.into()).resolve(&zone).is_err(),
                "{bad}"
            );
        }
    }
}
