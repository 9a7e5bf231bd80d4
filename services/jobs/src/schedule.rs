//! Cron schedules: parsing expressions and finding the next tick (UTC).

use croner::Cron;
use croner::parser::{CronParser, Seconds};
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::error::JobsError;
use crate::model::Millis;

/// A parsed cron expression: 5 fields (minute precision) or 6 with leading seconds.
#[derive(Debug, Clone)]
pub struct CronExpr {
    cron: Cron,
    source: String,
}

impl CronExpr {
    /// Parses `expr`.
    pub fn parse(expr: &str) -> Result<Self, JobsError> {
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(expr)
            .map_err(|e| JobsError::BadCron {
                expr: expr.to_owned(),
                why: e.to_string(),
            })?;
        Ok(Self {
            cron,
            source: expr.to_owned(),
        })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The first tick strictly after `after`.
    pub fn next_after(&self, after: Millis) -> Result<Millis, JobsError> {
        let bad = |why: String| JobsError::BadCron {
            expr: self.source.clone(),
            why,
        };
        let ts = Timestamp::from_millisecond(after).map_err(|e| bad(e.to_string()))?;
        let start = ts.to_zoned(TimeZone::UTC);
        let next = self
            .cron
            .find_next_occurrence(&start, false)
            .map_err(|e| bad(e.to_string()))?;
        Ok(next.timestamp().as_millisecond())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_tick_of_minute_and_second_expressions() {
        let t0 = Timestamp::from_second(1_700_000_000)
            .unwrap()
            .as_millisecond(); // 22:13:20 UTC
        let every_minute = CronExpr::parse("* * * * *").unwrap();
        assert_eq!(every_minute.next_after(t0).unwrap(), 1_700_000_040_000);
        let every_5s = CronExpr::parse("*/5 * * * * *").unwrap();
        assert_eq!(every_5s.next_after(t0).unwrap(), 1_700_000_005_000);
        let nightly = CronExpr::parse("0 3 * * *").unwrap();
        let next = nightly.next_after(t0).unwrap();
        assert_eq!(
            Timestamp::from_millisecond(next).unwrap().to_string(),
            "2023-11-15T03:00:00Z"
        );
        assert!(CronExpr::parse("61 * * * *").is_err());
    }
}
