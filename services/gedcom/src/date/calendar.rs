//! Calendars and their conversion to Julian Day Numbers, so dates in any calendar sort together.

use serde::{Deserialize, Serialize};

/// A calendar a GEDCOM date can be written in.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Calendar {
    /// Gregorian, the default.
    #[default]
    Gregorian,
    /// Julian.
    Julian,
    /// Hebrew (months TSH..ELL, Tishri first).
    Hebrew,
    /// French Republican (months VEND..COMP).
    FrenchRepublican,
    /// Anything else (`@#DROMAN@`, `@#DUNKNOWN@`, 7.0 extension calendars such as `_MAYAN`).
    Other(String),
}

const GREGORIAN_MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const HEBREW_MONTHS: [&str; 13] = [
    "TSH", "CSH", "KSL", "TVT", "SHV", "ADR", "ADS", "NSN", "IYR", "SVN", "TMZ", "AAV", "ELL",
];
const FRENCH_MONTHS: [&str; 13] = [
    "VEND", "BRUM", "FRIM", "NIVO", "PLUV", "VENT", "GERM", "FLOR", "PRAI", "MESS", "THER", "FRUC",
    "COMP",
];
const ENGLISH_MONTHS: [&str; 12] = [
    "JANUARY",
    "FEBRUARY",
    "MARCH",
    "APRIL",
    "MAY",
    "JUNE",
    "JULY",
    "AUGUST",
    "SEPTEMBER",
    "OCTOBER",
    "NOVEMBER",
    "DECEMBER",
];

impl Calendar {
    /// The month number (1-based) of an upper-case month token in this calendar.
    pub(crate) fn month_number(&self, token: &str) -> Option<u8> {
        let pos = match self {
            Calendar::Gregorian | Calendar::Julian => GREGORIAN_MONTHS
                .iter()
                .position(|m| *m == token)
                .or_else(|| ENGLISH_MONTHS.iter().position(|m| *m == token)),
            Calendar::Hebrew => HEBREW_MONTHS.iter().position(|m| *m == token),
            Calendar::FrenchRepublican => FRENCH_MONTHS.iter().position(|m| *m == token),
            Calendar::Other(_) => None,
        }?;
        u8::try_from(pos + 1).ok()
    }

    /// The standard month token for a month number.
    pub(crate) fn month_name(&self, month: u8) -> Option<&'static str> {
        let i = usize::from(month).checked_sub(1)?;
        match self {
            Calendar::Gregorian | Calendar::Julian => GREGORIAN_MONTHS.get(i).copied(),
            Calendar::Hebrew => HEBREW_MONTHS.get(i).copied(),
            Calendar::FrenchRepublican => FRENCH_MONTHS.get(i).copied(),
            Calendar::Other(_) => None,
        }
    }

    /// The 5.5.1 escape, e.g. `@#DJULIAN@`; `None` for Gregorian (the default).
    pub(crate) fn escape_551(&self) -> Option<String> {
        match self {
            Calendar::Gregorian => None,
            Calendar::Julian => Some("@#DJULIAN@".into()),
            Calendar::Hebrew => Some("@#DHEBREW@".into()),
            Calendar::FrenchRepublican => Some("@#DFRENCH R@".into()),
            Calendar::Other(name) => Some(format!("@#D{}@", name.trim_start_matches('_'))),
        }
    }

    /// The 7.0 keyword, e.g. `JULIAN`; `None` for Gregorian (the default).
    pub(crate) fn keyword_70(&self) -> Option<String> {
        match self {
            Calendar::Gregorian => None,
            Calendar::Julian => Some("JULIAN".into()),
            Calendar::Hebrew => Some("HEBREW".into()),
            Calendar::FrenchRepublican => Some("FRENCH_R".into()),
            Calendar::Other(name) if name.starts_with('_') => Some(name.clone()),
            Calendar::Other(name) => Some(format!("_{name}")),
        }
    }

    /// Julian Day Number of the first day of the given year (`month` None) or month, and of the
    /// first day after it, so that `[start, next)` covers the period. Years are astronomical
    /// (1 B.C. is 0). `None` for calendars without arithmetic or impossible months.
    pub(crate) fn period(&self, year: i64, month: Option<u8>) -> Option<(i64, i64)> {
        match self {
            Calendar::Gregorian | Calendar::Julian => {
                let julian = *self == Calendar::Julian;
                Some(match month {
                    None => (
                        ymd_to_jdn(julian, year, 1, 1),
                        ymd_to_jdn(julian, year + 1, 1, 1),
                    ),
                    Some(12) => (
                        ymd_to_jdn(julian, year, 12, 1),
                        ymd_to_jdn(julian, year + 1, 1, 1),
                    ),
                    Some(m @ 1..=11) => (
                        ymd_to_jdn(julian, year, i64::from(m), 1),
                        ymd_to_jdn(julian, year, i64::from(m) + 1, 1),
                    ),
                    Some(_) => return None,
                })
            }
            Calendar::FrenchRepublican => Some(match month {
                None => (french_to_jdn(year, 1, 1), french_to_jdn(year + 1, 1, 1)),
                Some(13) => (french_to_jdn(year, 13, 1), french_to_jdn(year + 1, 1, 1)),
                Some(m @ 1..=12) => (
                    french_to_jdn(year, i64::from(m), 1),
                    french_to_jdn(year, i64::from(m) + 1, 1),
                ),
                Some(_) => return None,
            }),
            Calendar::Hebrew => {
                if year < 1 {
                    return None;
                }
                match month {
                    None => Some((
                        hebrew_new_year(year) + RD_TO_JDN,
                        hebrew_new_year(year + 1) + RD_TO_JDN,
                    )),
                    Some(m @ 1..=13) => {
                        let cc = hebrew_cc_month(m);
                        if cc == 13 && !hebrew_leap(year) {
                            return None;
                        }
                        let start = hebrew_fixed(year, cc, 1);
                        Some((
                            start + RD_TO_JDN,
                            start + hebrew_month_days(year, cc) + RD_TO_JDN,
                        ))
                    }
                    Some(_) => None,
                }
            }
            Calendar::Other(_) => None,
        }
    }
}

/// Julian Day Number of a Gregorian or Julian date (astronomical year).
pub(crate) fn ymd_to_jdn(julian: bool, year: i64, month: i64, day: i64) -> i64 {
    let a = (14 - month).div_euclid(12);
    let y = year + 4800 - a;
    let m = month + 12 * a - 3;
    let base = day + (153 * m + 2).div_euclid(5) + 365 * y + y.div_euclid(4);
    if julian {
        base - 32083
    } else {
        base - y.div_euclid(100) + y.div_euclid(400) - 32045
    }
}

/// French Republican arithmetic (Romme's rule), exact for the years the calendar was used.
fn french_to_jdn(year: i64, month: i64, day: i64) -> i64 {
    (year * 1461).div_euclid(4) + (month - 1) * 30 + day + 2_375_474
}

/// Rata Die (day 1 = 1 January 1 Gregorian) to Julian Day Number.
const RD_TO_JDN: i64 = 1_721_425;
/// Rata Die of 1 Tishri, year 1 of the Hebrew calendar.
const HEBREW_EPOCH_RD: i64 = -1_373_427;

/// GEDCOM's Tishri-first month numbering to the Nisan-first numbering of the arithmetic.
fn hebrew_cc_month(gedcom_month: u8) -> i64 {
    let m = i64::from(gedcom_month);
    if m <= 7 { m + 6 } else { m - 7 }
}

fn hebrew_leap(year: i64) -> bool {
    (7 * year + 1).rem_euclid(19) < 7
}

fn hebrew_elapsed_days(year: i64) -> i64 {
    let months = (235 * year - 234).div_euclid(19);
    let parts = 12_084 + 13_753 * months;
    let day = 29 * months + parts.div_euclid(25_920);
    if (3 * (day + 1)).rem_euclid(7) < 3 {
        day + 1
    } else {
        day
    }
}

fn hebrew_year_delay(year: i64) -> i64 {
    let ny0 = hebrew_elapsed_days(year - 1);
    let ny1 = hebrew_elapsed_days(year);
    let ny2 = hebrew_elapsed_days(year + 1);
    if ny2 - ny1 == 356 {
        2
    } else if ny1 - ny0 == 382 {
        1
    } else {
        0
    }
}

fn hebrew_new_year(year: i64) -> i64 {
    HEBREW_EPOCH_RD + hebrew_elapsed_days(year) + hebrew_year_delay(year)
}

fn hebrew_month_days(year: i64, cc_month: i64) -> i64 {
    let days_in_year = hebrew_new_year(year + 1) - hebrew_new_year(year);
    let long_marheshvan = days_in_year % 10 == 5;
    let short_kislev = days_in_year % 10 == 3;
    let short = matches!(cc_month, 2 | 4 | 6 | 10 | 13)
        || (cc_month == 12 && !hebrew_leap(year))
        || (cc_month == 8 && !long_marheshvan)
        || (cc_month == 9 && short_kislev);
    if short { 29 } else { 30 }
}

fn hebrew_fixed(year: i64, cc_month: i64, day: i64) -> i64 {
    let last_month = if hebrew_leap(year) { 13 } else { 12 };
    let before: i64 = if cc_month < 7 {
        (7..=last_month)
            .chain(1..cc_month)
            .map(|m| hebrew_month_days(year, m))
            .sum()
    } else {
        (7..cc_month).map(|m| hebrew_month_days(year, m)).sum()
    };
    hebrew_new_year(year) + before + day - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gregorian_and_julian_epochs() {
        assert_eq!(ymd_to_jdn(false, 2000, 1, 1), 2_451_545);
        assert_eq!(
            ymd_to_jdn(true, 1582, 10, 5),
            ymd_to_jdn(false, 1582, 10, 15)
        );
        assert_eq!(ymd_to_jdn(true, -4712, 1, 1), 0);
    }

    #[test]
    fn hebrew_new_years_match_the_gregorian_calendar() {
        // 1 Tishri 5784 = 16 September 2023; 1 Tishri 5785 = 3 October 2024.
        assert_eq!(
            Calendar::Hebrew.period(5784, None).unwrap().0,
            ymd_to_jdn(false, 2023, 9, 16)
        );
        assert_eq!(
            Calendar::Hebrew.period(5785, None).unwrap().0,
            ymd_to_jdn(false, 2024, 10, 3)
        );
        // 1 Nisan 5784 = 9 April 2024 (a leap year: ADS exists).
        assert_eq!(
            Calendar::Hebrew.period(5784, Some(8)).unwrap().0,
            ymd_to_jdn(false, 2024, 4, 9)
        );
        assert!(Calendar::Hebrew.period(5785, Some(7)).is_none());
    }

    #[test]
    fn french_republican_epoch() {
        assert_eq!(
            Calendar::FrenchRepublican.period(1, Some(1)).unwrap().0,
            ymd_to_jdn(false, 1792, 9, 22)
        );
    }
}
