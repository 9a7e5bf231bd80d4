//! Writing date values in 5.5.1 or 7.0 syntax.

use super::{Approximation, Calendar, Date, DateValue};
use crate::Version;

/// Whether `original` uses only syntax valid in `version`, so it can be written unchanged.
pub(crate) fn compatible(original: &str, version: Version) -> bool {
    let upper = original.to_ascii_uppercase();
    let tokens = upper.split_whitespace();
    match version {
        Version::V551 => !tokens.clone().any(|t| {
            matches!(
                t,
                "GREGORIAN" | "JULIAN" | "HEBREW" | "FRENCH_R" | "ROMAN" | "UNKNOWN" | "BCE"
            ) || (t.starts_with('_') && t.len() > 1)
        }),
        Version::V70 => {
            !upper.contains(['@', '(', '/'])
                && !tokens.clone().any(|t| {
                    matches!(
                        t,
                        "INT" | "B.C." | "BC" | "B.C" | "ABOUT" | "BEFORE" | "AFTER"
                    )
                })
                && original.trim() == original
                && !original.contains("  ")
                && upper == original
        }
    }
}

/// Renders a value in the syntax of `version`; phrases that 7.0 keeps in `PHRASE` are left out.
pub(crate) fn render(value: &DateValue, version: Version) -> String {
    let d = |date: &Date| date_text(date, version);
    match value {
        DateValue::Empty | DateValue::Invalid => String::new(),
        DateValue::Exact { date } => d(date),
        DateValue::Approximate {
            approximation,
            date,
        } => {
            let q = match approximation {
                Approximation::About => "ABT",
                Approximation::Calculated => "CAL",
                Approximation::Estimated => "EST",
            };
            format!("{q} {}", d(date))
        }
        DateValue::Before { date } => format!("BEF {}", d(date)),
        DateValue::After { date } => format!("AFT {}", d(date)),
        DateValue::Between { from, to } => format!("BET {} AND {}", d(from), d(to)),
        DateValue::Period { from, to } => match (from, to) {
            (Some(f), Some(t)) => format!("FROM {} TO {}", d(f), d(t)),
            (Some(f), None) => format!("FROM {}", d(f)),
            (None, Some(t)) => format!("TO {}", d(t)),
            (None, None) => String::new(),
        },
        DateValue::Interpreted { date, phrase } => match version {
            Version::V551 => format!("INT {} ({phrase})", d(date)),
            Version::V70 => d(date),
        },
        DateValue::Phrase { phrase } => match version {
            Version::V551 => format!("({phrase})"),
            Version::V70 => String::new(),
        },
    }
}

fn date_text(date: &Date, version: Version) -> String {
    let mut out = String::new();
    let calendar = match version {
        Version::V551 => date.calendar.escape_551(),
        Version::V70 => date.calendar.keyword_70(),
    };
    if let Some(c) = calendar {
        out.push_str(&c);
        out.push(' ');
    }
    if let Some(day) = date.day {
        out.push_str(&day.to_string());
        out.push(' ');
    }
    if let Some(name) = date.month.and_then(|m| date.calendar.month_name(m)) {
        out.push_str(name);
        out.push(' ');
    }
    out.push_str(&date.year.to_string());
    if let (Some(dual), Version::V551) = (date.dual_year, version)
        && matches!(date.calendar, Calendar::Gregorian | Calendar::Julian)
    {
        out.push_str(&format!("/{:02}", dual.rem_euclid(100)));
    }
    if date.bce {
        out.push_str(match version {
            Version::V551 => " B.C.",
            Version::V70 => " BCE",
        });
    }
    out
}
