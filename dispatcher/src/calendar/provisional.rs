//! Provisional years: the statutory public holidays that are known in advance, for a year whose official arrangement is not loaded yet.
//!
//! The State Council publishes each year's holidays and make-up working days (调休) every autumn, on its own schedule.
//! Until it is loaded, a year counts weekends and the 13 statutory days of 全国年节及纪念日放假办法 (as amended in 2024, in force from 2025):
//! New Year's Day; the Spring Festival from New Year's Eve through the 3rd day of the first lunar month; Qingming; Labour Day, 1–2 May;
//! the Dragon Boat Festival (5th day of the 5th lunar month); the Mid-Autumn Festival (15th day of the 8th); National Day, 1–3 October.
//! Make-up working days and the bridge days of the official arrangement cannot be known and are left out, so a provisional year is marked as such.
//!
//! The lunar and solar-term dates are a checked table ([`LUNAR`]): printed by `dispatcher/calendars/cn/lunar_table.py` from lunar-python (astronomical new moons and solar terms),
//! whose every lunar date agreed with lunardate (the Hong Kong Observatory's tables); the tests below check it against the shipped official years and the rules the dates obey.

use super::{CalendarError, CivilDate, WorkingHours, YearCalendar, Zone};

/// The first year the amended holiday regulation applies to; earlier years need their official calendar.
pub const FIRST_PROVISIONAL_YEAR: i32 = 2025;

/// The last year the lunar table reaches.
pub const LAST_PROVISIONAL_YEAR: i32 = 2099;

/// One year's movable dates: the first day of the first lunar month (month, day), Qingming's day in April, the Dragon Boat Festival and the Mid-Autumn Festival (month, day).
type LunarRow = (i32, (u8, u8), u8, (u8, u8), (u8, u8));

/// The movable holidays of [`FIRST_PROVISIONAL_YEAR`] to [`LAST_PROVISIONAL_YEAR`], one row a year in order.
#[rustfmt::skip]
const LUNAR: &[LunarRow] = &[
    (2025, (1, 29), 4, (5, 31), (10, 6)),
    (2026, (2, 17), 5, (6, 19), (9, 25)),
    (2027, (2, 6), 5, (6, 9), (9, 15)),
    (2028, (1, 26), 4, (5, 28), (10, 3)),
    (2029, (2, 13), 4, (6, 16), (9, 22)),
    (2030, (2, 3), 5, (6, 5), (9, 12)),
    (2031, (1, 23), 5, (6, 24), (10, 1)),
    (2032, (2, 11), 4, (6, 12), (9, 19)),
    (2033, (1, 31), 4, (6, 1), (9, 8)),
    (2034, (2, 19), 5, (6, 20), (9, 27)),
    (2035, (2, 8), 5, (6, 10), (9, 16)),
    (2036, (1, 28), 4, (5, 30), (10, 4)),
    (2037, (2, 15), 4, (6, 18), (9, 24)),
    (2038, (2, 4), 5, (6, 7), (9, 13)),
    (2039, (1, 24), 5, (5, 27), (10, 2)),
    (2040, (2, 12), 4, (6, 14), (9, 20)),
    (2041, (2, 1), 4, (6, 3), (9, 10)),
    (2042, (1, 22), 4, (6, 22), (9, 28)),
    (2043, (2, 10), 5, (6, 11), (9, 17)),
    (2044, (1, 30), 4, (5, 31), (10, 5)),
    (2045, (2, 17), 4, (6, 19), (9, 25)),
    (2046, (2, 6), 4, (6, 8), (9, 15)),
    (2047, (1, 26), 5, (5, 29), (10, 4)),
    (2048, (2, 14), 4, (6, 15), (9, 22)),
    (2049, (2, 2), 4, (6, 4), (9, 11)),
    (2050, (1, 23), 4, (6, 23), (9, 30)),
    (2051, (2, 11), 5, (6, 13), (9, 19)),
    (2052, (2, 1), 4, (6, 1), (9, 7)),
    (2053, (2, 19), 4, (6, 20), (9, 26)),
    (2054, (2, 8), 4, (6, 10), (9, 16)),
    (2055, (1, 28), 5, (5, 30), (10, 5)),
    (2056, (2, 15), 4, (6, 17), (9, 24)),
    (2057, (2, 4), 4, (6, 6), (9, 13)),
    (2058, (1, 24), 4, (6, 25), (10, 2)),
    (2059, (2, 12), 5, (6, 14), (9, 21)),
    (2060, (2, 2), 4, (6, 3), (9, 9)),
    (2061, (1, 21), 4, (6, 22), (9, 28)),
    (2062, (2, 9), 4, (6, 11), (9, 17)),
    (2063, (1, 29), 5, (6, 1), (10, 6)),
    (2064, (2, 17), 4, (6, 19), (9, 25)),
    (2065, (2, 5), 4, (6, 8), (9, 15)),
    (2066, (1, 26), 4, (5, 28), (10, 3)),
    (2067, (2, 14), 5, (6, 16), (9, 23)),
    (2068, (2, 3), 4, (6, 4), (9, 11)),
    (2069, (1, 23), 4, (6, 23), (9, 29)),
    (2070, (2, 11), 4, (6, 13), (9, 19)),
    (2071, (1, 31), 5, (6, 2), (9, 8)),
    (2072, (2, 19), 4, (6, 20), (9, 26)),
    (2073, (2, 7), 4, (6, 10), (9, 16)),
    (2074, (1, 27), 4, (5, 30), (10, 5)),
    (2075, (2, 15), 4, (6, 17), (9, 24)),
    (2076, (2, 5), 4, (6, 6), (9, 12)),
    (2077, (1, 24), 4, (6, 24), (10, 1)),
    (2078, (2, 12), 4, (6, 14), (9, 20)),
    (2079, (2, 2), 4, (6, 4), (9, 10)),
    (2080, (1, 22), 4, (6, 22), (9, 28)),
    (2081, (2, 9), 4, (6, 11), (9, 17)),
    (2082, (1, 29), 4, (6, 1), (10, 6)),
    (2083, (2, 17), 4, (6, 19), (9, 26)),
    (2084, (2, 6), 4, (6, 7), (9, 14)),
    (2085, (1, 26), 4, (5, 27), (10, 3)),
    (2086, (2, 14), 4, (6, 15), (9, 22)),
    (2087, (2, 3), 4, (6, 5), (9, 11)),
    (2088, (1, 24), 4, (6, 23), (9, 29)),
    (2089, (2, 10), 4, (6, 13), (9, 18)),
    (2090, (1, 30), 4, (6, 2), (9, 8)),
    (2091, (2, 18), 4, (6, 21), (9, 27)),
    (2092, (2, 7), 4, (6, 9), (9, 16)),
    (2093, (1, 27), 4, (5, 29), (10, 5)),
    (2094, (2, 15), 4, (6, 17), (9, 24)),
    (2095, (2, 5), 4, (6, 6), (9, 13)),
    (2096, (1, 25), 4, (6, 24), (9, 30)),
    (2097, (2, 12), 4, (6, 14), (9, 20)),
    (2098, (2, 1), 4, (6, 4), (9, 9)),
    (2099, (1, 21), 4, (6, 23), (9, 29)),
];

/// The source a provisional year names, so that every view of it says what it is.
pub const PROVISIONAL_SOURCE: &str = "provisional: weekends and the statutory holidays of 全国年节及纪念日放假办法 (2024); make-up working days not yet published";

/// The 13 statutory public holidays of `year` with their names, in date order; `None` outside the table.
pub fn statutory_holidays(year: i32) -> Option<Vec<(CivilDate, &'static str)>> {
    let index = usize::try_from(year.checked_sub(FIRST_PROVISIONAL_YEAR)?).ok()?;
    let &(row_year, new_year, qingming, dragon_boat, mid_autumn) = LUNAR.get(index)?;
    debug_assert_eq!(row_year, year);
    let date = |(month, day): (u8, u8)| CivilDate { year, month, day };
    let lunar_new_year = date(new_year);
    let eve = CivilDate::from_days(lunar_new_year.to_days() - 1);
    let mut days = vec![
        (date((1, 1)), "元旦"),
        (date((4, qingming)), "清明节"),
        (date((5, 1)), "劳动节"),
        (date((5, 2)), "劳动节"),
        (date(dragon_boat), "端午节"),
        (date(mid_autumn), "中秋节"),
        (date((10, 1)), "国庆节"),
        (date((10, 2)), "国庆节"),
        (date((10, 3)), "国庆节"),
    ];
    // New Year's Eve lies in the year before when the lunar new year is on 1 January; it never is in this table's range, but a date outside the year is left out rather than misplaced.
    days.extend(
        [eve, lunar_new_year]
            .into_iter()
            .chain((1..=2).map(|n| CivilDate::from_days(lunar_new_year.to_days() + n)))
            .filter(|d| d.year == year)
            .map(|d| (d, "春节")),
    );
    days.sort();
    Some(days)
}

/// A provisional calendar of `year` in `zone` with `hours`; `None` outside the table.
pub fn provisional_year(
    year: i32,
    zone: Zone,
    hours: WorkingHours,
) -> Option<Result<YearCalendar, CalendarError>> {
    let holidays: Vec<(CivilDate, CivilDate)> = statutory_holidays(year)?
        .into_iter()
        .map(|(date, _)| (date, date))
        .collect();
    Some(
        YearCalendar::new(
            year,
            PROVISIONAL_SOURCE.to_owned(),
            zone,
            hours,
            &holidays,
            &[],
        )
        .map(|mut calendar| {
            calendar.provisional = true;
            calendar
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::official_years;

    #[test]
    fn the_table_has_one_row_a_year_in_order() {
        let years: Vec<i32> = LUNAR.iter().map(|row| row.0).collect();
        let expected: Vec<i32> = (FIRST_PROVISIONAL_YEAR..=LAST_PROVISIONAL_YEAR).collect();
        assert_eq!(years, expected);
    }

    #[test]
    fn every_statutory_holiday_of_the_shipped_years_is_an_official_holiday() {
        for official in official_years().unwrap() {
            let holidays: Vec<CivilDate> = official.holidays().collect();
            for (date, name) in statutory_holidays(official.year).unwrap() {
                assert!(
                    holidays.contains(&date),
                    "{name} on {date} is not a holiday in the official {}",
                    official.year
                );
            }
        }
    }

    #[test]
    fn a_year_has_thirteen_statutory_days_in_their_seasons() {
        for year in FIRST_PROVISIONAL_YEAR..=LAST_PROVISIONAL_YEAR {
            let days = statutory_holidays(year).unwrap();
            assert_eq!(days.len(), 13, "{year}");
            let named = |name: &str| -> Vec<CivilDate> {
                days.iter()
                    .filter(|(_, n)| *n == name)
                    .map(|(d, _)| *d)
                    .collect()
            };
            // The lunar new year falls between 21 January and 20 February; its four days run on end.
            let spring = named("春节");
            assert_eq!(spring.len(), 4, "{year}");
            let first_day = spring[1];
            assert!((1, 21) <= (first_day.month, first_day.day), "{year}");
            assert!((first_day.month, first_day.day) <= (2, 20), "{year}");
            assert_eq!(spring[3].to_days() - spring[0].to_days(), 3, "{year}");
            // Qingming is 4, 5 or 6 April; the 5th lunar month's 5th day between 23 May and 25 June;
            // the 8th lunar month's 15th day between 7 September and 8 October.
            assert!((4..=6).contains(&named("清明节")[0].day), "{year}");
            let dragon = named("端午节")[0];
            assert!(
                ((5, 23)..=(6, 25)).contains(&(dragon.month, dragon.day)),
                "{year}"
            );
            let autumn = named("中秋节")[0];
            assert!(
                ((9, 7)..=(10, 8)).contains(&(autumn.month, autumn.day)),
                "{year}"
            );
            // A lunar month is 29 or 30 days: the Dragon Boat Festival comes 4 months and 4 days after the new year, plus
            // 0 or 1 leap month; the Mid-Autumn Festival 3 months and 10 days after the Dragon Boat, plus 0 or 1 leap month.
            let gap = |a: CivilDate, b: CivilDate| b.to_days() - a.to_days();
            let months = |days: i64, extra: i64| (days - extra) as f64 / 29.53;
            let to_dragon = gap(first_day, dragon);
            let to_autumn = gap(dragon, autumn);
            assert!(
                (3.8..=5.2).contains(&months(to_dragon, 4)),
                "{year}: {to_dragon}"
            );
            assert!(
                (2.8..=4.2).contains(&months(to_autumn, 10)),
                "{year}: {to_autumn}"
            );
        }
    }

    #[test]
    fn hand_checked_lunar_new_years() {
        // From the published almanacs: 丁未 2027 begins on 6 February, 戊申 2028 on 26 January, 庚戌 2030 on 3 February.
        let first_day = |year| {
            statutory_holidays(year)
                .unwrap()
                .into_iter()
                .filter(|(_, n)| *n == "春节")
                .nth(1)
                .unwrap()
                .0
                .to_string()
        };
        assert_eq!(first_day(2027), "2027-02-06");
        assert_eq!(first_day(2028), "2028-01-26");
        assert_eq!(first_day(2030), "2030-02-03");
    }

    #[test]
    fn outside_the_table_there_is_no_provisional_year() {
        assert!(statutory_holidays(2024).is_none());
        assert!(statutory_holidays(2100).is_none());
        assert!(provisional_year(2024, Zone::shanghai(), WorkingHours::office()).is_none());
    }
}
