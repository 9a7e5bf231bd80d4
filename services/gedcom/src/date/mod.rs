//! The genealogical date: every GEDCOM 5.5.1 and 7.0 date form, kept with its original text.
//!
//! [`GenDate`] is a value type shared with the genealogy service: it serialises with serde,
//! orders chronologically (Julian Day Numbers across calendars, undated last) and keeps the
//! text it was parsed from so nothing a user typed is ever lost.

mod calendar;
mod parse;
mod render;

pub use calendar::Calendar;

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

/// One calendar date, possibly partial (year only, or month and year).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Date {
    /// The calendar it is written in.
    pub calendar: Calendar,
    /// The year as written (always positive when `bce` is set).
    pub year: i32,
    /// The alternative year of an Old Style / New Style dual date: `1701/02` has 1702.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dual_year: Option<i32>,
    /// Month number within the calendar (1-based), if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month: Option<u8>,
    /// Day of the month, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<u8>,
    /// Before the common era (`B.C.` in 5.5.1, `BCE` in 7.0).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bce: bool,
}

/// How approximate an approximate date is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Approximation {
    /// `ABT`: about.
    About,
    /// `CAL`: calculated from other data.
    Calculated,
    /// `EST`: estimated.
    Estimated,
}

/// The meaning of a date payload.
///
/// Serialised internally tagged (`{"kind": "exact", "date": {...}}`); deserialised by
/// [`DateValueFields`], see there.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DateValue {
    /// No date (an empty payload, allowed in 7.0 with a `PHRASE`).
    #[default]
    Empty,
    /// A date.
    Exact {
        /// The date.
        date: Date,
    },
    /// `ABT`, `CAL` or `EST` date.
    Approximate {
        /// Which qualifier.
        approximation: Approximation,
        /// The date.
        date: Date,
    },
    /// `BEF` date.
    Before {
        /// The date.
        date: Date,
    },
    /// `AFT` date.
    After {
        /// The date.
        date: Date,
    },
    /// `BET` date `AND` date.
    Between {
        /// The earlier bound.
        from: Date,
        /// The later bound.
        to: Date,
    },
    /// `FROM` date, `TO` date, or `FROM` date `TO` date: a period during which something held.
    Period {
        /// Start, if given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<Date>,
        /// End, if given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<Date>,
    },
    /// 5.5.1 `INT` date `(phrase)`: a date interpreted from the phrase.
    Interpreted {
        /// The date.
        date: Date,
        /// The original wording.
        phrase: String,
    },
    /// 5.5.1 `(phrase)`: free text that is not a date.
    Phrase {
        /// The text between the parentheses.
        phrase: String,
    },
    /// Text that is not a valid date; the original text is all there is.
    Invalid,
}

/// The kinds of [`DateValue`], as its `kind` field names them.
#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum DateKind {
    Empty,
    Exact,
    Approximate,
    Before,
    After,
    Between,
    Period,
    Interpreted,
    Phrase,
    Invalid,
}

/// Every field any [`DateValue`] has, read in one pass.
///
/// Serde's derive for an internally tagged enum buffers the whole map before it knows the
/// `kind` (which stored documents write last, keys being sorted), and that buffering was most
/// of the cost of reading a stored date: a pedigree reads thousands.
#[derive(Deserialize)]
struct DateValueFields {
    kind: DateKind,
    date: Option<Date>,
    approximation: Option<Approximation>,
    from: Option<Date>,
    to: Option<Date>,
    phrase: Option<String>,
}

impl<'de> Deserialize<'de> for DateValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let f = DateValueFields::deserialize(d)?;
        fn needed<T, E: Error>(v: Option<T>, field: &'static str) -> Result<T, E> {
            v.ok_or_else(|| E::missing_field(field))
        }
        Ok(match f.kind {
            DateKind::Empty => DateValue::Empty,
            DateKind::Exact => DateValue::Exact {
                date: needed(f.date, "date")?,
            },
            DateKind::Approximate => DateValue::Approximate {
                approximation: needed(f.approximation, "approximation")?,
                date: needed(f.date, "date")?,
            },
            DateKind::Before => DateValue::Before {
                date: needed(f.date, "date")?,
            },
            DateKind::After => DateValue::After {
                date: needed(f.date, "date")?,
            },
            DateKind::Between => DateValue::Between {
                from: needed(f.from, "from")?,
                to: needed(f.to, "to")?,
            },
            DateKind::Period => DateValue::Period {
                from: f.from,
                to: f.to,
            },
            DateKind::Interpreted => DateValue::Interpreted {
                date: needed(f.date, "date")?,
                phrase: needed(f.phrase, "phrase")?,
            },
            DateKind::Phrase => DateValue::Phrase {
                phrase: needed(f.phrase, "phrase")?,
            },
            DateKind::Invalid => DateValue::Invalid,
        })
    }
}

/// A genealogical date: the parsed value together with the text it came from.
///
/// Reading keeps the text and parses it on first use of [`GenDate::value`] (or of anything
/// that needs the meaning: ordering, ranges, equality, writing), so a parse that only copies
/// records pays nothing for dates. The value is always the one of the text it was built from.
#[derive(Clone, Default)]
pub struct GenDate {
    /// The payload exactly as read (or as constructed), never rewritten.
    pub original: String,
    /// What it means: set by [`GenDate::from_value`] and deserialisation, else parsed from
    /// `original` when first asked for.
    value: OnceLock<DateValue>,
}

impl GenDate {
    /// Parses any GEDCOM 5.5.1 or 7.0 date payload; never fails (invalid text becomes
    /// [`DateValue::Invalid`] with the text kept).
    pub fn parse(text: &str) -> Self {
        Self::parse_owned(text.to_owned())
    }

    /// Like [`GenDate::parse`], taking ownership of the text (saves a copy when reading).
    pub fn parse_owned(text: String) -> Self {
        Self {
            original: text,
            value: OnceLock::new(),
        }
    }

    /// A date built from a value, with its standard 7.0 text as the original.
    pub fn from_value(value: DateValue) -> Self {
        let original = render::render(&value, crate::Version::V70);
        Self {
            original,
            value: OnceLock::from(value),
        }
    }

    /// What the date means.
    pub fn value(&self) -> &DateValue {
        self.value
            .get_or_init(|| parse::parse_value(&self.original))
    }

    /// Whether the text was understood as a date (or is an explicit phrase or empty).
    pub fn is_valid(&self) -> bool {
        *self.value() != DateValue::Invalid
    }

    /// First and last possible day as Julian Day Numbers; open ends (`BEF`, `AFT`, `FROM`,
    /// `TO`) are `None`, as is everything for phrases and calendars without arithmetic.
    pub fn range(&self) -> (Option<i64>, Option<i64>) {
        match self.value() {
            DateValue::Exact { date }
            | DateValue::Approximate { date, .. }
            | DateValue::Interpreted { date, .. } => date
                .day_range()
                .map_or((None, None), |(a, b)| (Some(a), Some(b))),
            DateValue::Before { date } => (None, date.day_range().map(|(a, _)| a - 1)),
            DateValue::After { date } => (date.day_range().map(|(_, b)| b + 1), None),
            DateValue::Between { from, to } => (
                from.day_range().map(|(a, _)| a),
                to.day_range().map(|(_, b)| b),
            ),
            DateValue::Period { from, to } => (
                from.as_ref().and_then(Date::day_range).map(|(a, _)| a),
                to.as_ref().and_then(Date::day_range).map(|(_, b)| b),
            ),
            DateValue::Empty | DateValue::Phrase { .. } | DateValue::Invalid => (None, None),
        }
    }

    /// A Julian Day Number to sort by: the start of the date, or the edge of an open range.
    pub fn sort_key(&self) -> Option<i64> {
        match self.range() {
            (Some(a), _) => Some(a),
            (None, Some(b)) => Some(b),
            (None, None) => None,
        }
    }

    /// The payload to write for a GEDCOM version: the original text when it is already valid
    /// there, otherwise the value rendered in that version's syntax.
    pub fn text_for(&self, version: crate::Version) -> String {
        if *self.value() == DateValue::Invalid || render::compatible(&self.original, version) {
            self.original.clone()
        } else {
            render::render(self.value(), version)
        }
    }
}

impl Date {
    /// First and last day of this (possibly partial) date as Julian Day Numbers.
    pub fn day_range(&self) -> Option<(i64, i64)> {
        let year = self.astronomical_year();
        let (start, next) = self.calendar.period(year, self.month)?;
        match self.day {
            Some(d) => {
                let day = start + i64::from(d) - 1;
                (day < next).then_some((day, day))
            }
            None => Some((start, next - 1)),
        }
    }

    /// The year in astronomical numbering (1 B.C. is 0), using the New Style year of a dual date.
    pub fn astronomical_year(&self) -> i64 {
        let y = i64::from(self.dual_year.unwrap_or(self.year));
        if self.bce { 1 - y } else { y }
    }
}

impl PartialOrd for GenDate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for GenDate {
    /// Chronological by [`GenDate::sort_key`], undated last; ties broken by text and value so
    /// that the order is total and agrees with equality.
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.sort_key(), other.sort_key()) {
            (Some(a), Some(b)) => a.cmp(&b),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
        .then_with(|| self.original.cmp(&other.original))
        .then_with(|| self.value().cmp(other.value()))
    }
}

impl PartialEq for GenDate {
    fn eq(&self, other: &Self) -> bool {
        self.original == other.original && self.value() == other.value()
    }
}

impl Eq for GenDate {}

impl Hash for GenDate {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.original.hash(state);
        self.value().hash(state);
    }
}

impl fmt::Debug for GenDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GenDate")
            .field("original", &self.original)
            .field("value", self.value())
            .finish()
    }
}

/// The serialised form, unchanged from when both fields were plain: `{original, value}`.
#[derive(Serialize)]
struct GenDateRef<'a> {
    original: &'a str,
    value: &'a DateValue,
}

#[derive(Deserialize)]
struct GenDateOwned {
    original: String,
    value: DateValue,
}

impl Serialize for GenDate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        GenDateRef {
            original: &self.original,
            value: self.value(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for GenDate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let GenDateOwned { original, value } = GenDateOwned::deserialize(d)?;
        Ok(Self {
            original,
            value: OnceLock::from(value),
        })
    }
}

#[cfg(test)]
mod tests;
