//! Times as GoHighLevel sends and takes them: RFC 3339 with milliseconds
//! and an offset (`2026-06-30T10:00:00.000-05:00`) in records, Unix
//! milliseconds in the calendar and paging parameters; every time this
//! connector writes is RFC 3339 in UTC.

use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat, Utc};
use omnify_sdk::Error;

/// One day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// `text` (RFC 3339, any offset) as RFC 3339 in UTC, such as
/// `2026-06-30T15:00:00Z` (fractions of a second kept when not zero).
pub fn utc(text: &str) -> Result<String, Error> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|time| format(time.with_timezone(&Utc)))
        .map_err(|e| {
            Error::internal(format!(
                "GoHighLevel sent the time `{text}`, which is not RFC 3339: {e}"
            ))
        })
}

/// `text` (RFC 3339) as Unix milliseconds.
pub fn millis_of(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|time| time.timestamp_millis())
}

/// Unix milliseconds as RFC 3339 in UTC; `None` beyond chrono's years.
pub fn from_millis(millis: i64) -> Option<String> {
    DateTime::from_timestamp_millis(millis).map(format)
}

fn format(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The Unix milliseconds of midnight UTC starting `YYYY-MM-DD`, or `None`
/// when `date` is not a date written with all its digits.
pub fn date_start(date: &str) -> Option<i64> {
    let date = date.trim();
    NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .ok()
        // chrono also reads `2026-6-30`; only the canonical form prints back the same.
        .filter(|day| day.format("%Y-%m-%d").to_string() == date)
        .map(|day| day.and_time(NaiveTime::MIN).and_utc().timestamp_millis())
}

/// Midnight UTC of today, in Unix milliseconds.
pub fn today_start() -> i64 {
    let now = Utc::now().timestamp_millis();
    now - now.rem_euclid(DAY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_become_utc() {
        assert_eq!(
            utc("2026-06-30T10:00:00.000-05:00").as_deref(),
            Ok("2026-06-30T15:00:00Z")
        );
        assert_eq!(
            utc("2026-06-30T10:00:00.250Z").as_deref(),
            Ok("2026-06-30T10:00:00.250Z")
        );
        assert!(utc("30/06/2026").is_err());
        assert_eq!(millis_of("1970-01-01T00:00:01.500Z"), Some(1500));
        assert_eq!(
            from_millis(1_782_863_999_000).as_deref(),
            Some("2026-06-30T23:59:59Z")
        );
    }

    #[test]
    fn dates_are_midnight_utc() {
        assert_eq!(date_start("2026-06-30"), Some(1_782_777_600_000));
        assert_eq!(date_start("2026-6-30"), None);
        assert_eq!(date_start("2026-02-30"), None);
        assert_eq!(today_start() % DAY_MS, 0);
    }
}
