//! Calendar days as day numbers (days since 1970-01-01), so series can be
//! indexed and shifted with plain arithmetic; chrono does the calendar.

use chrono::NaiveDate;

/// Weekday names, Monday first, for rationales.
pub const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// The day number of `YYYY-MM-DD`, or of the date part of an RFC 3339 time
/// (the date in the time's own offset, which is the business's local day).
pub fn parse(text: &str) -> Option<i64> {
    let date = NaiveDate::parse_from_str(text.get(..10)?, "%Y-%m-%d").ok()?;
    Some(i64::from(date.to_epoch_days()))
}

/// The date of a day number; `None` only beyond chrono's ±262,000 years,
/// which no parsed date plus a forecast horizon reaches.
fn to_date(days: i64) -> Option<NaiveDate> {
    NaiveDate::from_epoch_days(i32::try_from(days).ok()?)
}

/// `YYYY-MM-DD` of a day number (the bare number if it is off the calendar).
pub fn format(days: i64) -> String {
    to_date(days).map_or_else(|| days.to_string(), |d| d.format("%Y-%m-%d").to_string())
}

/// The weekday of a day number, 0 for Monday to 6 for Sunday.
pub fn weekday(days: i64) -> usize {
    // Plain arithmetic keeps this total for any day number: 1970-01-01 was a
    // Thursday (index 3).
    (days + 3).rem_euclid(7) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_weekdays() {
        let d = parse("2026-06-11").expect("date");
        assert_eq!(format(d), "2026-06-11");
        assert_eq!(WEEKDAYS[weekday(d)], "Thursday");
        assert_eq!(parse("1970-01-01"), Some(0));
        assert_eq!(format(d + 30), "2026-07-11");
        assert_eq!(parse("2026-06-11T23:10:00-04:00"), Some(d));
        assert_eq!(parse("2026-02-30"), None);
        assert_eq!(parse("garbage"), None);
        assert_eq!(format(parse("2024-02-29").expect("leap") + 1), "2024-03-01");
        assert_eq!(WEEKDAYS[weekday(-1)], "Wednesday");
        // The arithmetic agrees with chrono's calendar.
        use chrono::Datelike;
        let chrono_weekday = NaiveDate::from_epoch_days(d as i32).map(|d| d.weekday().num_days_from_monday());
        assert_eq!(chrono_weekday, Some(weekday(d) as u32));
    }
}
