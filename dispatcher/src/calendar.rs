//! The working calendar: which instants are working time, and what instant a working duration ends at.
//!
//! Deadlines in grid governance are counted in working hours and working days that know China's public holidays and make-up working days (调休).
//! Those change every year and are published by the State Council in advance, so they are data ([`YearCalendar`], one JSON file a year), never code.
//! A year without an official calendar is provisional ([`provisional`]): weekends and the statutory holidays, marked so, until the official one is loaded.
//! A date beyond the provisional table is an error ([`CalendarError::MissingYear`]), never a silent guess.
//!
//! Everything here is pure: no clock, no IO.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use gridwhistle_domain::Timestamp;
use serde::{Deserialize, Serialize};

pub mod provisional;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;

/// The official calendars shipped with Gridwhistle, as published by the State Council.
pub const OFFICIAL_YEARS: &[&str] = &[
    include_str!("../calendars/cn/2025.json"),
    include_str!("../calendars/cn/2026.json"),
];

/// The official years shipped with Gridwhistle, parsed.
pub fn official_years() -> Result<Vec<YearCalendar>, CalendarError> {
    OFFICIAL_YEARS
        .iter()
        .map(|text| YearCalendar::from_json(text))
        .collect()
}

/// Why a calendar cannot be built or cannot answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("no working calendar for {0}: load that year's holidays and make-up working days")]
    MissingYear(i32),
    /// A working duration longer than any calendar counts (policies hold at most ten years).
    #[error("a working time of {0:?} is longer than a calendar counts")]
    TooLong(Duration),
    #[error("calendar for {year} is invalid: {reason}")]
    InvalidYear { year: i32, reason: String },
    #[error("a working calendar needs at least one year")]
    NoYears,
    #[error("invalid working hours: {0}")]
    InvalidHours(String),
    #[error("unknown time zone {0:?}: use Asia/Shanghai or a fixed offset such as UTC+08:00")]
    UnknownZone(String),
    #[error("invalid date {0:?}: expected YYYY-MM-DD")]
    InvalidDate(String),
}

/// A day of the proleptic Gregorian calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CivilDate {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl CivilDate {
    /// The date from days since 1970-01-01 (Howard Hinnant's `civil_from_days`).
    pub fn from_days(days: i64) -> Self {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Self {
            year: year as i32,
            month,
            day,
        }
    }

    /// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
    pub fn to_days(self) -> i64 {
        let year = i64::from(self.year) - i64::from(self.month <= 2);
        let era = year.div_euclid(400);
        let yoe = year.rem_euclid(400);
        let month = i64::from(self.month);
        let mp = if month > 2 { month - 3 } else { month + 9 };
        let doy = (153 * mp + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// Parses `YYYY-MM-DD`, refusing dates that do not exist.
    pub fn parse(text: &str) -> Result<Self, CalendarError> {
        let invalid = || CalendarError::InvalidDate(text.to_owned());
        let mut parts = text.splitn(3, '-');
        let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(invalid());
        };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(invalid());
        }
        let date = Self {
            year: y.parse().map_err(|_| invalid())?,
            month: m.parse().map_err(|_| invalid())?,
            day: d.parse().map_err(|_| invalid())?,
        };
        // A date that does not exist does not survive the round trip through days.
        if date.month == 0 || Self::from_days(date.to_days()) != date {
            return Err(invalid());
        }
        Ok(date)
    }

    /// True on Saturday and Sunday.
    pub fn is_weekend(self) -> bool {
        // 1970-01-01 was a Thursday; Monday is 0 here.
        let weekday = (self.to_days() + 3).rem_euclid(7);
        weekday >= 5
    }
}

impl fmt::Display for CivilDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// A time zone with one fixed offset. China has kept UTC+8 without daylight saving since 1991.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    name: String,
    offset_ms: i64,
}

impl Zone {
    /// `Asia/Shanghai`, or a fixed offset written `UTC+hh:mm` / `UTC-hh:mm`.
    pub fn parse(name: &str) -> Result<Self, CalendarError> {
        let unknown = || CalendarError::UnknownZone(name.to_owned());
        if name == "Asia/Shanghai" {
            return Ok(Self::shanghai());
        }
        let rest = name.strip_prefix("UTC").ok_or_else(unknown)?;
        let (sign, hhmm) = match rest.as_bytes().first() {
            Some(b'+') => (1, &rest[1..]),
            Some(b'-') => (-1, &rest[1..]),
            _ => return Err(unknown()),
        };
        let (h, m) = hhmm.split_once(':').ok_or_else(unknown)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(unknown());
        }
        let (h, m): (i64, i64) = (
            h.parse().map_err(|_| unknown())?,
            m.parse().map_err(|_| unknown())?,
        );
        if h > 14 || m > 59 {
            return Err(unknown());
        }
        Ok(Self {
            name: name.to_owned(),
            offset_ms: sign * (h * 60 + m) * MINUTE_MS,
        })
    }

    pub fn shanghai() -> Self {
        Self {
            name: "Asia/Shanghai".to_owned(),
            offset_ms: 8 * 60 * MINUTE_MS,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// How far local time runs ahead of UTC, in milliseconds.
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms
    }

    fn local_ms(&self, t: Timestamp) -> i64 {
        t.as_unix_millis() + self.offset_ms
    }

    fn utc(&self, local_ms: i64) -> Timestamp {
        Timestamp::from_unix_millis(local_ms - self.offset_ms)
    }

    /// `t` as local `YYYY-MM-DD HH:MM`.
    pub fn format(&self, t: Timestamp) -> String {
        let local = self.local_ms(t);
        let minutes = local.rem_euclid(DAY_MS) / MINUTE_MS;
        format!(
            "{} {:02}:{:02}",
            CivilDate::from_days(local.div_euclid(DAY_MS)),
            minutes / 60,
            minutes % 60
        )
    }

    /// The instant the local date `date` begins.
    pub fn start_of(&self, date: CivilDate) -> Timestamp {
        self.utc(date.to_days() * DAY_MS)
    }

    /// The local date of `t`.
    pub fn date(&self, t: Timestamp) -> CivilDate {
        CivilDate::from_days(self.local_ms(t).div_euclid(DAY_MS))
    }
}

/// The working periods of a working day, as half-open `[start, end)` minutes after local midnight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingHours {
    periods: Vec<(u32, u32)>,
}

impl WorkingHours {
    /// Periods written `HH:MM-HH:MM`, in order and not touching, e.g. `["09:00-12:00", "13:30-17:30"]`.
    pub fn parse<S: AsRef<str>>(periods: &[S]) -> Result<Self, CalendarError> {
        let mut parsed = Vec::with_capacity(periods.len());
        for text in periods {
            let text = text.as_ref();
            let invalid = || CalendarError::InvalidHours(format!("{text:?} is not HH:MM-HH:MM"));
            let (from, to) = text.split_once('-').ok_or_else(invalid)?;
            let minutes = |hhmm: &str| -> Option<u32> {
                let (h, m) = hhmm.split_once(':')?;
                if h.len() != 2 || m.len() != 2 {
                    return None;
                }
                let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
                (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
            };
            parsed.push((
                minutes(from).ok_or_else(invalid)?,
                minutes(to).ok_or_else(invalid)?,
            ));
        }
        Self::new(parsed)
    }

    /// Periods as minutes after midnight.
    pub fn new(periods: Vec<(u32, u32)>) -> Result<Self, CalendarError> {
        if periods.is_empty() {
            return Err(CalendarError::InvalidHours(
                "a working day needs at least one period".to_owned(),
            ));
        }
        let mut previous_end = None;
        for &(start, end) in &periods {
            if start >= end || end > 24 * 60 {
                return Err(CalendarError::InvalidHours(format!(
                    "period {start}..{end} minutes is empty or past midnight"
                )));
            }
            if previous_end.is_some_and(|p| start <= p) {
                return Err(CalendarError::InvalidHours(
                    "periods must be in order with a gap between them".to_owned(),
                ));
            }
            previous_end = Some(end);
        }
        Ok(Self { periods })
    }

    /// 09:00–12:00 and 13:30–17:30, the common office hours of district governments.
    pub fn office() -> Self {
        Self {
            periods: vec![(9 * 60, 12 * 60), (13 * 60 + 30, 17 * 60 + 30)],
        }
    }

    /// The periods written `HH:MM-HH:MM`, as [`WorkingHours::parse`] reads them.
    pub fn render(&self) -> Vec<String> {
        self.periods
            .iter()
            .map(|&(s, e)| format!("{:02}:{:02}-{:02}:{:02}", s / 60, s % 60, e / 60, e % 60))
            .collect()
    }

    /// The periods as milliseconds after local midnight.
    fn periods_ms(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.periods
            .iter()
            .map(|&(s, e)| (i64::from(s) * MINUTE_MS, i64::from(e) * MINUTE_MS))
    }

    /// The end of the last period, in milliseconds after local midnight.
    fn close_ms(&self) -> i64 {
        self.periods_ms().last().map_or(0, |(_, end)| end)
    }
}

/// One year's working calendar: its zone and working hours, and the official public holidays and make-up working days as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YearCalendar {
    pub year: i32,
    /// The notice it comes from.
    pub source: String,
    pub zone: Zone,
    pub hours: WorkingHours,
    /// Built from the statutory holidays alone because the official arrangement is not loaded ([`provisional`]).
    pub provisional: bool,
    holidays: BTreeSet<CivilDate>,
    working_days: BTreeSet<CivilDate>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct YearFile {
    year: i32,
    source: String,
    /// Asia/Shanghai when absent.
    #[serde(default)]
    time_zone: Option<String>,
    /// Office hours when absent.
    #[serde(default)]
    periods: Option<Vec<String>>,
    holidays: Vec<HolidayFile>,
    working_days: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HolidayFile {
    /// Documents the file; the calendar needs only the dates.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    name: String,
    from: String,
    to: String,
}

impl YearCalendar {
    /// Parses one year's JSON file, checking every date lies in that year and none is both a holiday and a working day.
    pub fn from_json(text: &str) -> Result<Self, CalendarError> {
        let file: YearFile =
            serde_json::from_str(text).map_err(|e| CalendarError::InvalidYear {
                year: 0,
                reason: e.to_string(),
            })?;
        let holidays: Vec<(CivilDate, CivilDate)> = file
            .holidays
            .iter()
            .map(|h| Ok((CivilDate::parse(&h.from)?, CivilDate::parse(&h.to)?)))
            .collect::<Result<_, CalendarError>>()?;
        let working_days = file
            .working_days
            .iter()
            .map(|d| CivilDate::parse(d))
            .collect::<Result<Vec<_>, _>>()?;
        let zone = match &file.time_zone {
            Some(name) => Zone::parse(name)?,
            None => Zone::shanghai(),
        };
        let hours = match &file.periods {
            Some(periods) => WorkingHours::parse(periods)?,
            None => WorkingHours::office(),
        };
        Self::new(
            file.year,
            file.source,
            zone,
            hours,
            &holidays,
            &working_days,
        )
    }

    /// A year from holiday ranges (inclusive) and make-up working days, each checked to lie in `year`.
    pub fn new(
        year: i32,
        source: String,
        zone: Zone,
        hours: WorkingHours,
        holiday_ranges: &[(CivilDate, CivilDate)],
        make_up_days: &[CivilDate],
    ) -> Result<Self, CalendarError> {
        let invalid = |reason: String| CalendarError::InvalidYear { year, reason };
        let in_year = |date: CivilDate| {
            if date.year == year {
                Ok(date)
            } else {
                Err(invalid(format!("{date} is not in {year}")))
            }
        };
        let mut holidays = BTreeSet::new();
        for &(from, to) in holiday_ranges {
            let (from, to) = (in_year(from)?, in_year(to)?);
            if to < from {
                return Err(invalid(format!(
                    "holiday {from}..{to} ends before it starts"
                )));
            }
            holidays.extend((from.to_days()..=to.to_days()).map(CivilDate::from_days));
        }
        let mut working_days = BTreeSet::new();
        for &date in make_up_days {
            let date = in_year(date)?;
            if holidays.contains(&date) {
                return Err(invalid(format!(
                    "{date} is both a holiday and a working day"
                )));
            }
            working_days.insert(date);
        }
        Ok(Self {
            year,
            source,
            zone,
            hours,
            provisional: false,
            holidays,
            working_days,
        })
    }

    /// The year as its JSON file, holidays as runs of consecutive days; [`YearCalendar::from_json`] reads it back equal.
    pub fn to_json(&self) -> String {
        let mut holidays: Vec<HolidayFile> = Vec::new();
        let mut run: Option<(CivilDate, CivilDate)> = None;
        for date in self.holidays.iter().copied() {
            run = match run {
                Some((from, to)) if to.to_days() + 1 == date.to_days() => Some((from, date)),
                Some((from, to)) => {
                    holidays.push(HolidayFile {
                        name: String::new(),
                        from: from.to_string(),
                        to: to.to_string(),
                    });
                    Some((date, date))
                }
                None => Some((date, date)),
            };
        }
        if let Some((from, to)) = run {
            holidays.push(HolidayFile {
                name: String::new(),
                from: from.to_string(),
                to: to.to_string(),
            });
        }
        let file = YearFile {
            year: self.year,
            source: self.source.clone(),
            time_zone: Some(self.zone.name.clone()),
            periods: Some(self.hours.render()),
            holidays,
            working_days: self.working_days.iter().map(ToString::to_string).collect(),
        };
        serde_json::to_string_pretty(&file).unwrap_or_default()
    }

    pub fn holidays(&self) -> impl Iterator<Item = CivilDate> + '_ {
        self.holidays.iter().copied()
    }

    pub fn make_up_working_days(&self) -> impl Iterator<Item = CivilDate> + '_ {
        self.working_days.iter().copied()
    }

    fn is_working_day(&self, date: CivilDate) -> bool {
        if self.holidays.contains(&date) {
            return false;
        }
        self.working_days.contains(&date) || !date.is_weekend()
    }
}

/// The years a district works by, all in one zone; each year has its own working hours.
///
/// Every year of the provisional table without a loaded calendar is filled in provisionally, with the working hours of the nearest loaded year before it (or the first).
#[derive(Debug, Clone)]
pub struct WorkingCalendar {
    zone: Zone,
    years: BTreeMap<i32, YearCalendar>,
}

impl WorkingCalendar {
    /// Fails when `years` is empty, names a year twice, or mixes zones.
    pub fn new(years: Vec<YearCalendar>) -> Result<Self, CalendarError> {
        let mut calendar = Self::loaded(years)?;
        for year in provisional::FIRST_PROVISIONAL_YEAR..=provisional::LAST_PROVISIONAL_YEAR {
            if calendar.years.contains_key(&year) {
                continue;
            }
            let hours = calendar
                .years
                .range(..year)
                .rev()
                .find(|(_, y)| !y.provisional)
                .or_else(|| calendar.years.iter().find(|(_, y)| !y.provisional))
                .map_or_else(WorkingHours::office, |(_, y)| y.hours.clone());
            if let Some(built) = provisional::provisional_year(year, calendar.zone.clone(), hours) {
                calendar.years.insert(year, built?);
            }
        }
        Ok(calendar)
    }

    /// The loaded years alone.
    fn loaded(years: Vec<YearCalendar>) -> Result<Self, CalendarError> {
        let zone = years
            .first()
            .map(|y| y.zone.clone())
            .ok_or(CalendarError::NoYears)?;
        let mut by_year = BTreeMap::new();
        for year in years {
            let invalid = |reason: String| CalendarError::InvalidYear {
                year: year.year,
                reason,
            };
            if year.zone != zone {
                return Err(invalid(format!(
                    "zone {} differs from {} of the other years",
                    year.zone.name, zone.name
                )));
            }
            if by_year.contains_key(&year.year) {
                return Err(invalid("given twice".to_owned()));
            }
            by_year.insert(year.year, year);
        }
        Ok(Self {
            zone,
            years: by_year,
        })
    }

    /// The official calendars shipped with Gridwhistle: Asia/Shanghai and office hours.
    pub fn official() -> Result<Self, CalendarError> {
        Self::new(official_years()?)
    }

    pub fn zone(&self) -> &Zone {
        &self.zone
    }

    /// The years loaded from an official or admin's calendar, in order; provisional years are left out.
    pub fn years(&self) -> impl Iterator<Item = i32> + '_ {
        self.years
            .iter()
            .filter(|(_, y)| !y.provisional)
            .map(|(year, _)| *year)
    }

    /// Whether `year` is counted on a provisional calendar.
    pub fn is_provisional(&self, year: i32) -> bool {
        self.years.get(&year).is_some_and(|y| y.provisional)
    }

    /// Whether any local day from `from` to `to` lies in a provisional year: a working duration counted across it may move once the official year is loaded.
    pub fn provisional_between(&self, from: Timestamp, to: Timestamp) -> bool {
        let (first, last) = (self.zone.date(from).year, self.zone.date(to).year);
        (first.min(last)..=first.max(last)).any(|year| self.is_provisional(year))
    }

    /// Fails unless the year of `now` is known: a policy that would count deadlines on a guessed calendar must not load.
    pub fn check_covers(&self, now: Timestamp) -> Result<(), CalendarError> {
        self.is_working_date(self.zone.date(now)).map(|_| ())
    }

    pub fn year(&self, year: i32) -> Option<&YearCalendar> {
        self.years.get(&year)
    }

    /// Whether `date` is a working day.
    pub fn is_working_date(&self, date: CivilDate) -> Result<bool, CalendarError> {
        Ok(self.working_hours(date)?.is_some())
    }

    /// The working hours of `date`, or `None` when it is not a working day.
    fn working_hours(&self, date: CivilDate) -> Result<Option<&WorkingHours>, CalendarError> {
        let year = self
            .years
            .get(&date.year)
            .ok_or(CalendarError::MissingYear(date.year))?;
        Ok(year.is_working_day(date).then_some(&year.hours))
    }

    /// Whether `t` lies inside a working period of a working day.
    pub fn is_working_time(&self, t: Timestamp) -> Result<bool, CalendarError> {
        let local = self.zone.local_ms(t);
        let date = CivilDate::from_days(local.div_euclid(DAY_MS));
        let ms = local.rem_euclid(DAY_MS);
        Ok(self
            .working_hours(date)?
            .is_some_and(|hours| hours.periods_ms().any(|(s, e)| (s..e).contains(&ms))))
    }

    /// The instant at which `amount` of working time has passed since `start`.
    ///
    /// The answer is never in non-working time: it is inside a working period or at the end of one (a deadline of "3 working hours" from 09:00 is 12:00, not 13:30).
    /// Zero returns `start` itself.
    pub fn add_working_time(
        &self,
        start: Timestamp,
        amount: Duration,
    ) -> Result<Timestamp, CalendarError> {
        let mut remaining =
            i64::try_from(amount.as_millis()).map_err(|_| CalendarError::TooLong(amount))?;
        if remaining == 0 {
            return Ok(start);
        }
        let local = self.zone.local_ms(start);
        let mut day = local.div_euclid(DAY_MS);
        let mut from = local.rem_euclid(DAY_MS);
        loop {
            if let Some(hours) = self.working_hours(CivilDate::from_days(day))? {
                for (s, e) in hours.periods_ms() {
                    if from >= e {
                        continue;
                    }
                    let begin = from.max(s);
                    let available = e - begin;
                    if remaining <= available {
                        return Ok(self.zone.utc(day * DAY_MS + begin + remaining));
                    }
                    remaining -= available;
                }
            }
            day += 1;
            from = 0;
        }
    }

    /// The close of the `days`-th working day after the local date of `start`; the day it starts on does not count (民法典 art. 201).
    pub fn add_working_days(
        &self,
        start: Timestamp,
        days: u32,
    ) -> Result<Timestamp, CalendarError> {
        if days == 0 {
            return Ok(start);
        }
        let mut day = self.zone.local_ms(start).div_euclid(DAY_MS);
        let mut counted = 0;
        loop {
            day += 1;
            if let Some(hours) = self.working_hours(CivilDate::from_days(day))? {
                counted += 1;
                if counted == days {
                    return Ok(self.zone.utc(day * DAY_MS + hours.close_ms()));
                }
            }
        }
    }

    /// Working time between `from` and `to` (zero when `to` is not later).
    pub fn working_time_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Duration, CalendarError> {
        if to <= from {
            return Ok(Duration::ZERO);
        }
        let (a, b) = (self.zone.local_ms(from), self.zone.local_ms(to));
        let mut total = 0i64;
        for day in a.div_euclid(DAY_MS)..=b.div_euclid(DAY_MS) {
            let Some(hours) = self.working_hours(CivilDate::from_days(day))? else {
                continue;
            };
            for (s, e) in hours.periods_ms() {
                let (s, e) = (day * DAY_MS + s, day * DAY_MS + e);
                let overlap = e.min(b) - s.max(a);
                if overlap > 0 {
                    total += overlap;
                }
            }
        }
        Ok(Duration::from_millis(total.unsigned_abs()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Beijing local time.
    fn bj(text: &str) -> Timestamp {
        let (date, time) = text.split_once(' ').unwrap();
        let date = CivilDate::parse(date).unwrap();
        let (h, m) = time.split_once(':').unwrap();
        let minutes: i64 = h.parse::<i64>().unwrap() * 60 + m.parse::<i64>().unwrap();
        Timestamp::from_unix_millis(date.to_days() * DAY_MS + minutes * MINUTE_MS - 8 * 3_600_000)
    }

    fn show(t: Timestamp) -> String {
        let local = t.as_unix_millis() + 8 * 3_600_000;
        let date = CivilDate::from_days(local.div_euclid(DAY_MS));
        let minutes = local.rem_euclid(DAY_MS) / MINUTE_MS;
        format!("{date} {:02}:{:02}", minutes / 60, minutes % 60)
    }

    fn hours(h: f64) -> Duration {
        Duration::from_secs_f64(h * 3600.0)
    }

    fn calendar() -> WorkingCalendar {
        WorkingCalendar::official().unwrap()
    }

    #[test]
    fn civil_dates_round_trip_through_days_and_know_weekends() {
        for days in -800_000..800_000 {
            assert_eq!(CivilDate::from_days(days).to_days(), days);
        }
        assert_eq!(CivilDate::parse("1970-01-01").unwrap().to_days(), 0);
        assert!(
            CivilDate::parse("2026-02-14").unwrap().is_weekend(),
            "a Saturday"
        );
        assert!(
            !CivilDate::parse("2026-02-13").unwrap().is_weekend(),
            "a Friday"
        );
        assert!(CivilDate::parse("2025-02-29").is_err(), "not a leap year");
        assert!(CivilDate::parse("2024-02-29").is_ok());
        assert!(CivilDate::parse("2026-13-01").is_err());
        assert!(CivilDate::parse("2026-1-01").is_err());
    }

    #[test]
    fn the_official_calendars_mark_holidays_and_make_up_days() {
        let c = calendar();
        let day = |d: &str| c.is_working_date(CivilDate::parse(d).unwrap()).unwrap();
        // Spring Festival 2026: 15–23 February off; Saturdays 14 and 28 February worked.
        assert!(day("2026-02-14"));
        assert!(!day("2026-02-15"));
        assert!(!day("2026-02-23"), "a Monday inside the holiday");
        assert!(day("2026-02-24"));
        assert!(day("2026-02-28"));
        // National Day and Mid-Autumn 2025: 1–8 October off; Sunday 28 September and Saturday 11 October worked.
        assert!(day("2025-09-28"));
        assert!(!day("2025-10-08"), "a Wednesday inside the holiday");
        assert!(day("2025-10-11"));
        assert!(!day("2025-10-12"), "an ordinary Sunday");
        // 2027 is not shipped: it is provisional, a Monday works and New Year's Day does not.
        assert!(day("2027-01-04"));
        assert!(!day("2027-01-01"));
        assert!(c.is_provisional(2027));
        assert!(!c.is_provisional(2026));
        assert_eq!(c.years().collect::<Vec<_>>(), vec![2025, 2026]);
    }

    #[test]
    fn working_time_skips_nights_lunch_weekends_and_holidays() {
        let c = calendar();
        let cases = [
            // Across lunch.
            ("2026-03-02 11:00", 2.0, "2026-03-02 14:30"),
            // Exactly to the end of the morning: 12:00, not 13:30.
            ("2026-03-02 09:00", 3.0, "2026-03-02 12:00"),
            // From before opening.
            ("2026-03-02 07:15", 0.5, "2026-03-02 09:30"),
            // Friday evening to Monday.
            ("2026-03-06 17:00", 1.0, "2026-03-09 09:30"),
            // Into the Spring Festival make-up Saturday, 14 February 2026.
            ("2026-02-13 16:30", 4.0, "2026-02-14 12:00"),
            // From that Saturday across the nine-day holiday.
            ("2026-02-14 17:00", 1.0, "2026-02-24 09:30"),
            // Spring Festival 2025: 28 January to 4 February off.
            ("2025-01-27 17:00", 2.0, "2025-02-05 10:30"),
            // National Day 2025: 1 to 8 October off.
            ("2025-09-30 15:00", 7.0, "2025-10-09 15:00"),
            // A holiday instant starts counting at the next opening.
            ("2025-10-03 10:00", 1.0, "2025-10-09 10:00"),
            // From 2025 into 2026, across New Year's Day to Saturday 3 January and the make-up Sunday 4 January.
            ("2025-12-31 17:00", 1.0, "2026-01-04 09:30"),
        ];
        for (start, h, due) in cases {
            let got = c.add_working_time(bj(start), hours(h)).unwrap();
            assert_eq!(show(got), due, "{start} + {h} working hours");
            assert_eq!(
                c.working_time_between(bj(start), got).unwrap(),
                hours(h),
                "{start} + {h}"
            );
        }
    }

    #[test]
    fn working_days_end_at_the_close_of_the_nth_working_day_after_the_start() {
        let c = calendar();
        let cases = [
            ("2026-03-02 10:00", 1, "2026-03-03 17:30"),
            ("2026-03-06 10:00", 1, "2026-03-09 17:30"),
            // Fri 13 Feb 2026: Sat 14 (make-up), Tue 24, 25, 26, 27, Sat 28 (make-up), Mon 2 March.
            ("2026-02-13 10:00", 7, "2026-03-02 17:30"),
            // Tue 30 Sep 2025: 9, 10, Sat 11 October (make-up).
            ("2025-09-30 10:00", 3, "2025-10-11 17:30"),
            // Counted from the next day even when started on a holiday.
            ("2025-10-05 10:00", 1, "2025-10-09 17:30"),
        ];
        for (start, days, due) in cases {
            let got = c.add_working_days(bj(start), days).unwrap();
            assert_eq!(show(got), due, "{start} + {days} working days");
        }
    }

    #[test]
    fn a_year_beyond_the_provisional_table_is_an_error_not_a_guess() {
        let c = calendar();
        assert_eq!(
            c.add_working_days(bj("2099-12-30 10:00"), 3),
            Err(CalendarError::MissingYear(2100))
        );
        assert_eq!(
            c.check_covers(bj("2024-06-01 10:00")),
            Err(CalendarError::MissingYear(2024))
        );
        assert_eq!(c.check_covers(bj("2026-06-01 10:00")), Ok(()));
        assert_eq!(c.check_covers(bj("2027-06-01 10:00")), Ok(()));
    }

    #[test]
    fn a_hard_case_whistled_on_20_december_2026_is_due_in_january_on_the_provisional_2027() {
        let c = calendar();
        // Sunday 20 December; counted from Monday 21: 21–25 (5), 28–31 (9), 1 January is New Year's Day, 4–8 (14), 11 January (15).
        let due = c.add_working_days(bj("2026-12-20 10:00"), 15).unwrap();
        assert_eq!(show(due), "2027-01-11 17:30");
        assert!(c.provisional_between(bj("2026-12-20 10:00"), due));
        assert!(!c.provisional_between(bj("2026-12-01 10:00"), bj("2026-12-31 10:00")));
        // The official 2027 with a make-up Sunday on 3 January: that Sunday is the 10th working day, so the 15th is Friday 8 January.
        let official_2027 = YearCalendar::new(
            2027,
            "test".to_owned(),
            Zone::shanghai(),
            WorkingHours::office(),
            &[(
                CivilDate::parse("2027-01-01").unwrap(),
                CivilDate::parse("2027-01-02").unwrap(),
            )],
            &[CivilDate::parse("2027-01-03").unwrap()],
        )
        .unwrap();
        let mut years = official_years().unwrap();
        years.push(official_2027);
        let loaded = WorkingCalendar::new(years).unwrap();
        assert!(!loaded.is_provisional(2027));
        assert!(loaded.is_provisional(2028));
        let due = loaded.add_working_days(bj("2026-12-20 10:00"), 15).unwrap();
        assert_eq!(show(due), "2027-01-08 17:30");
        assert!(!loaded.provisional_between(bj("2026-12-20 10:00"), due));
    }

    #[test]
    fn a_provisional_year_takes_the_working_hours_of_the_last_loaded_year() {
        let mut early = official_years().unwrap().remove(0);
        early.hours = WorkingHours::parse(&["08:30-12:00", "14:00-18:00"]).unwrap();
        let c = WorkingCalendar::new(vec![early]).unwrap();
        assert!(c.is_provisional(2026) && c.is_provisional(2031));
        assert_eq!(c.year(2031).unwrap().hours, c.year(2025).unwrap().hours);
        assert!(c.year(2031).unwrap().source.starts_with("provisional"));
    }

    #[test]
    fn bad_calendar_data_is_refused_with_a_reason() {
        let year = |holidays: &str, working: &str| {
            YearCalendar::from_json(&format!(
                r#"{{"year": 2026, "source": "test", "holidays": [{holidays}], "working_days": [{working}]}}"#
            ))
        };
        assert!(
            year(
                r#"{"name": "x", "from": "2026-02-15", "to": "2026-02-23"}"#,
                ""
            )
            .is_ok()
        );
        assert!(matches!(
            year(
                r#"{"name": "x", "from": "2026-02-23", "to": "2026-02-15"}"#,
                ""
            ),
            Err(CalendarError::InvalidYear { year: 2026, .. })
        ));
        assert!(matches!(
            year("", r#""2025-12-28""#),
            Err(CalendarError::InvalidYear { year: 2026, .. })
        ));
        assert!(matches!(
            year(
                r#"{"name": "x", "from": "2026-02-15", "to": "2026-02-23"}"#,
                r#""2026-02-16""#
            ),
            Err(CalendarError::InvalidYear { year: 2026, .. })
        ));
        assert!(matches!(
            year("", r#""2026-02-30""#),
            Err(CalendarError::InvalidDate(_))
        ));
    }

    #[test]
    fn a_year_round_trips_through_its_json_file() {
        for year in official_years().unwrap() {
            let again = YearCalendar::from_json(&year.to_json()).unwrap();
            assert_eq!(again, year);
        }
    }

    #[test]
    fn working_hours_and_zones_are_validated() {
        assert_eq!(
            WorkingHours::parse(&["09:00-12:00", "13:30-17:30"]).unwrap(),
            WorkingHours::office()
        );
        assert!(WorkingHours::parse(&["12:00-09:00"]).is_err());
        assert!(WorkingHours::parse(&["09:00-12:00", "11:00-17:00"]).is_err());
        assert!(WorkingHours::parse(&["09:00-12:00", "12:00-17:00"]).is_err());
        assert!(WorkingHours::parse::<&str>(&[]).is_err());
        assert!(WorkingHours::parse(&["9:00-12:00"]).is_err());
        assert_eq!(Zone::parse("Asia/Shanghai").unwrap(), Zone::shanghai());
        assert_eq!(Zone::parse("UTC+08:00").unwrap().offset_ms, 8 * 3_600_000);
        assert_eq!(
            Zone::parse("UTC-05:30").unwrap().offset_ms,
            -(5 * 60 + 30) * MINUTE_MS
        );
        assert!(Zone::parse("Europe/Berlin").is_err());
        assert!(Zone::parse("UTC+8").is_err());
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// Instants from 2025-01-01 to 2029-09-30 local time: the shipped years and three provisional ones.
        fn instant() -> impl Strategy<Value = Timestamp> {
            let from = bj("2025-01-01 00:00").as_unix_millis();
            let to = bj("2029-09-30 00:00").as_unix_millis();
            (from..to).prop_map(Timestamp::from_unix_millis)
        }

        /// Up to 20 working days of 7 hours, to the millisecond.
        fn amount() -> impl Strategy<Value = Duration> {
            (0u64..20 * 7 * 3_600_000).prop_map(Duration::from_millis)
        }

        proptest! {
            #[test]
            fn adding_working_time_is_monotonic_in_the_start(a in instant(), b in instant(), d in amount()) {
                let c = calendar();
                let (early, late) = if a <= b { (a, b) } else { (b, a) };
                prop_assert!(c.add_working_time(early, d).unwrap() <= c.add_working_time(late, d).unwrap());
            }

            #[test]
            fn adding_working_time_is_monotonic_in_the_amount(t in instant(), a in amount(), b in amount()) {
                let c = calendar();
                let (less, more) = if a <= b { (a, b) } else { (b, a) };
                prop_assert!(c.add_working_time(t, less).unwrap() <= c.add_working_time(t, more).unwrap());
            }

            #[test]
            fn the_due_time_is_never_in_non_working_time(t in instant(), d in amount()) {
                prop_assume!(!d.is_zero());
                let c = calendar();
                let due = c.add_working_time(t, d).unwrap();
                // The millisecond before the due time was worked: it is in a period or at its end.
                let just_before = Timestamp::from_unix_millis(due.as_unix_millis() - 1);
                prop_assert!(c.is_working_time(just_before).unwrap(), "{} lands outside working time", show(due));
                prop_assert!(due > t);
            }

            #[test]
            fn exactly_the_amount_of_working_time_lies_between_start_and_due(t in instant(), d in amount()) {
                let c = calendar();
                let due = c.add_working_time(t, d).unwrap();
                prop_assert_eq!(c.working_time_between(t, due).unwrap(), d);
            }

            #[test]
            fn working_days_end_at_a_close_and_grow_with_the_count(t in instant(), n in 1u32..40) {
                let c = calendar();
                let due = c.add_working_days(t, n).unwrap();
                let next = c.add_working_days(t, n + 1).unwrap();
                prop_assert!(due > t && next > due);
                let local = due.as_unix_millis() + 8 * 3_600_000;
                prop_assert_eq!(local.rem_euclid(DAY_MS), (17 * 60 + 30) * MINUTE_MS);
                prop_assert!(c.is_working_date(Zone::shanghai().date(due)).unwrap());
            }
        }
    }
}
