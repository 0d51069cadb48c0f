//! Stripe's Unix seconds as RFC 3339 and configured dates as Unix seconds,
//! both in UTC.

use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat};

/// Unix seconds as RFC 3339 in UTC, such as `2026-06-30T12:00:00Z`; `None`
/// beyond the years chrono represents.
pub fn rfc3339(seconds: i64) -> Option<String> {
    DateTime::from_timestamp(seconds, 0).map(|time| time.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// The Unix seconds of midnight UTC starting `YYYY-MM-DD`, or `None` when
/// `date` is not a valid date written with all its digits.
pub fn date_start(date: &str) -> Option<i64> {
    let date = date.trim();
    NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .ok()
        // chrono also reads `2026-6-30`; only the canonical form prints back the same.
        .filter(|day| day.format("%Y-%m-%d").to_string() == date)
        .map(|day| day.and_time(NaiveTime::MIN).and_utc().timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(rfc3339(0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(rfc3339(1_782_863_999).as_deref(), Some("2026-06-30T23:59:59Z"));
        assert_eq!(rfc3339(951_782_400).as_deref(), Some("2000-02-29T00:00:00Z"));
        assert_eq!(rfc3339(-1).as_deref(), Some("1969-12-31T23:59:59Z"));
        assert_eq!(rfc3339(i64::MAX), None);
    }

    #[test]
    fn dates_round_trip_and_invalid_ones_are_refused() {
        assert_eq!(date_start("2026-06-30"), Some(1_782_777_600));
        assert_eq!(date_start("2000-02-29"), Some(951_782_400));
        assert_eq!(date_start("2026-02-30"), None);
        assert_eq!(date_start("2026-6-30"), None);
        assert_eq!(date_start("yesterday"), None);
    }
}
