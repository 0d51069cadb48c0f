//! Calendar days (UTC), enough for report windows: parse, print, add days
//! and today, without a date crate. Days are counted from 1970-01-01 and
//! converted with Howard Hinnant's civil-calendar algorithms.

use omnify_sdk::Error;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A day, as the number of days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day(i64);

impl Day {
    /// Today in UTC, from the host's clock.
    pub fn today() -> Self {
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        Self(seconds.div_euclid(86_400))
    }

    /// Parse `YYYY-MM-DD`; also accepts TikTok's `YYYY-MM-DD HH:MM:SS` (the
    /// time is dropped).
    pub fn parse(text: &str) -> Option<Self> {
        let date = text.get(..10)?;
        let rest = &text[10..];
        if !(rest.is_empty() || rest.starts_with(' ')) {
            return None;
        }
        let mut parts = date.split('-');
        let year: i64 = parts.next()?.parse().ok()?;
        let month: u32 = parts.next()?.parse().ok()?;
        let day: u32 = parts.next()?.parse().ok()?;
        if parts.next().is_some() || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month)
        {
            return None;
        }
        Some(Self(days_from_civil(year, month, day)))
    }

    /// Parse `YYYY-MM-DD`, naming `what` in the error.
    pub fn parse_or(text: &str, what: &str) -> Result<Self, Error> {
        Self::parse(text)
            .ok_or_else(|| Error::invalid_input(format!("{what}: `{text}` is not a YYYY-MM-DD date")))
    }

    /// The day `days` later (earlier when negative).
    pub fn plus(self, days: i64) -> Self {
        Self(self.0 + days)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day) = civil_from_days(self.0);
        write!(f, "{year:04}-{month:02}-{day:02}")
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a civil date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The civil date of a count of days since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_arithmetic() {
        for text in [
            "1970-01-01",
            "2000-02-29",
            "2026-06-30",
            "2026-12-31",
            "1969-12-31",
        ] {
            let day = Day::parse(text).expect("a date");
            assert_eq!(day.to_string(), text);
        }
        let day = Day::parse("2026-06-30").expect("a date");
        assert_eq!(day.plus(1).to_string(), "2026-07-01");
        assert_eq!(day.plus(-29).to_string(), "2026-06-01");
        assert_eq!(Day::parse("2026-06-01 00:00:00"), Day::parse("2026-06-01"));
        assert_eq!(Day::parse("2026-02-29"), None);
        assert_eq!(Day::parse("2026-13-01"), None);
        assert_eq!(Day::parse("2026-06-011"), None);
    }
}
