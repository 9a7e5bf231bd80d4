//! Parsing date payloads, leniently: case-insensitive, either version's syntax.

use super::{Approximation, Calendar, Date, DateValue};

/// Parses a whole date payload.
pub(crate) fn parse_value(text: &str) -> DateValue {
    let t = text.trim();
    if t.is_empty() {
        return DateValue::Empty;
    }
    if let Some(inner) = t.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        return DateValue::Phrase {
            phrase: inner.to_owned(),
        };
    }
    // Most payloads are already upper case; only lower-case ones pay for a copy.
    let upper: std::borrow::Cow<'_, str> = if t.bytes().any(|b| b.is_ascii_lowercase()) {
        t.to_ascii_uppercase().into()
    } else {
        t.into()
    };
    // A valid date has at most a dozen tokens; longer text is not a date.
    let mut tokens = [""; 16];
    // ASCII text (nearly all dates) splits faster by bytes; vertical tab is the one ASCII
    // character `char::is_whitespace` accepts and `u8::is_ascii_whitespace` does not.
    let n = if upper.is_ascii() && !upper.contains('\x0b') {
        collect_tokens(upper.split_ascii_whitespace(), &mut tokens)
    } else {
        collect_tokens(upper.split_whitespace(), &mut tokens)
    };
    let Some(n) = n else {
        return DateValue::Invalid;
    };
    parse_tokens(t, &tokens[..n]).unwrap_or(DateValue::Invalid)
}

/// Fills `tokens`; `None` when there are more than it holds.
fn collect_tokens<'a>(
    split: impl Iterator<Item = &'a str>,
    tokens: &mut [&'a str],
) -> Option<usize> {
    let mut n = 0;
    for token in split {
        *tokens.get_mut(n)? = token;
        n += 1;
    }
    Some(n)
}

fn parse_tokens(original: &str, tokens: &[&str]) -> Option<DateValue> {
    let (first, rest) = tokens.split_first()?;
    let approx = |approximation| {
        Some(DateValue::Approximate {
            approximation,
            date: parse_date(rest)?,
        })
    };
    match *first {
        "ABT" | "ABOUT" | "CIRCA" | "CA" | "CA." | "C." => approx(Approximation::About),
        "CAL" => approx(Approximation::Calculated),
        "EST" => approx(Approximation::Estimated),
        "BEF" | "BEFORE" => Some(DateValue::Before {
            date: parse_date(rest)?,
        }),
        "AFT" | "AFTER" => Some(DateValue::After {
            date: parse_date(rest)?,
        }),
        "BET" | "BETWEEN" => {
            let and = rest.iter().position(|t| *t == "AND")?;
            Some(DateValue::Between {
                from: parse_date(&rest[..and])?,
                to: parse_date(&rest[and + 1..])?,
            })
        }
        "FROM" => match rest.iter().position(|t| *t == "TO") {
            Some(to) => Some(DateValue::Period {
                from: Some(parse_date(&rest[..to])?),
                to: Some(parse_date(&rest[to + 1..])?),
            }),
            None => Some(DateValue::Period {
                from: Some(parse_date(rest)?),
                to: None,
            }),
        },
        "TO" => Some(DateValue::Period {
            from: None,
            to: Some(parse_date(rest)?),
        }),
        "INT" => {
            let open = original.find('(')?;
            let close = original.rfind(')')?;
            if close < open || !original[close + 1..].trim().is_empty() {
                return None;
            }
            let date_upper = original[..open].to_ascii_uppercase();
            let date_tokens: Vec<&str> = date_upper.split_whitespace().skip(1).collect();
            Some(DateValue::Interpreted {
                date: parse_date(&date_tokens)?,
                phrase: original[open + 1..close].to_owned(),
            })
        }
        _ => Some(DateValue::Exact {
            date: parse_date(tokens)?,
        }),
    }
}

/// Reads a calendar escape or keyword at the start of `tokens`; returns it and tokens used.
fn calendar(tokens: &[&str]) -> (Calendar, usize) {
    let Some(first) = tokens.first() else {
        return (Calendar::Gregorian, 0);
    };
    let named = |name: &str| match name {
        "GREGORIAN" => Some(Calendar::Gregorian),
        "JULIAN" => Some(Calendar::Julian),
        "HEBREW" => Some(Calendar::Hebrew),
        "FRENCH_R" | "FRENCH R" => Some(Calendar::FrenchRepublican),
        "ROMAN" | "UNKNOWN" => Some(Calendar::Other(name.to_owned())),
        _ => None,
    };
    if *first == "@#DFRENCH" && tokens.get(1) == Some(&"R@") {
        return (Calendar::FrenchRepublican, 2);
    }
    if let Some(inner) = first.strip_prefix("@#D").and_then(|r| r.strip_suffix('@')) {
        return (
            named(inner).unwrap_or_else(|| Calendar::Other(inner.to_owned())),
            1,
        );
    }
    if let Some(c) = named(first) {
        return (c, 1);
    }
    if first.starts_with('_') && first.len() > 1 {
        return (Calendar::Other((*first).to_owned()), 1);
    }
    (Calendar::Gregorian, 0)
}

/// Parses `[calendar] [[day] month] year[/dual] [B.C.|BCE]`.
pub(crate) fn parse_date(tokens: &[&str]) -> Option<Date> {
    let (calendar, used) = calendar(tokens);
    let mut rest = &tokens[used..];
    let mut bce = false;
    if let Some((last, init)) = rest.split_last()
        && matches!(*last, "B.C." | "BC" | "BCE" | "B.C" | "BC.")
    {
        bce = true;
        rest = init;
    }
    let (day, month, year) = match rest {
        [y] => (None, None, *y),
        [m, y] => (None, Some(*m), *y),
        [d, m, y] => (Some(*d), Some(*m), *y),
        _ => return None,
    };
    let (year, dual_year) = parse_year(year)?;
    if dual_year.is_some() && calendar != Calendar::Gregorian && calendar != Calendar::Julian {
        return None;
    }
    let month = match month {
        Some(m) => Some(calendar.month_number(m)?),
        None => None,
    };
    let day = match day {
        Some(d) if d.len() <= 2 && d.bytes().all(|b| b.is_ascii_digit()) => {
            Some(d.parse::<u8>().ok()?)
        }
        Some(_) => return None,
        None => None,
    };
    if day == Some(0) {
        return None;
    }
    let date = Date {
        calendar,
        year,
        dual_year,
        month,
        day,
        bce,
    };
    // Reject impossible days (31 FEB) where the calendar has arithmetic.
    if date.day.is_some()
        && date.day_range().is_none()
        && !matches!(date.calendar, Calendar::Other(_))
    {
        return None;
    }
    if matches!(date.calendar, Calendar::Other(_)) && (date.month.is_some() || date.day.is_some()) {
        return None;
    }
    Some(date)
}

/// Parses `1900` or the dual form `1701/02`, checking the alternative is the following year.
fn parse_year(token: &str) -> Option<(i32, Option<i32>)> {
    let (y, dual) = match token.split_once('/') {
        Some((y, d)) => (y, Some(d)),
        None => (token, None),
    };
    if y.is_empty() || y.len() > 7 || !y.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = y.parse().ok()?;
    if year == 0 {
        return None;
    }
    let Some(d) = dual else {
        return Some((year, None));
    };
    if d.is_empty() || d.len() > 2 || !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let suffix: i32 = d.parse().ok()?;
    let modulus = if d.len() == 1 { 10 } else { 100 };
    let next = year + 1;
    (next % modulus == suffix).then_some((year, Some(next)))
}
