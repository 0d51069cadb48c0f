//! Calendar days as `YYYY-MM-DD`, with no time zones: Meta reports days in
//! the ad account's zone and the connector passes them through.

use chrono::NaiveDate;
use omnify_sdk::Error;

/// Parse `YYYY-MM-DD`; `None` unless it is a real calendar day.
pub fn parse(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()
}

/// Parse `YYYY-MM-DD` from the configuration, as a config error.
pub fn parse_setting(name: &str, text: &str) -> Result<NaiveDate, Error> {
    parse(text).ok_or_else(|| Error::config(format!("`{name}` must be a date as YYYY-MM-DD, not `{text}`")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_across_leap_years() {
        for text in [
            "1970-01-01",
            "2024-02-29",
            "2026-06-30",
            "2000-03-01",
            "2100-12-31",
        ] {
            assert_eq!(parse(text).map(|d| d.to_string()).as_deref(), Some(text));
        }
        assert_eq!(parse(" 1970-01-02 "), NaiveDate::from_ymd_opt(1970, 1, 2));
        assert_eq!(parse("2025-02-29"), None);
        assert_eq!(parse("2026-13-01"), None);
        assert!(parse_setting("start_date", "yesterday").is_err());
    }
}
