//! Calendar days (UTC) of report windows, as TikTok writes them.

use chrono::NaiveDate;
use omnify_sdk::Error;

/// Parse `YYYY-MM-DD`; also accepts TikTok's `YYYY-MM-DD HH:MM:SS` (the
/// time is dropped).
pub fn parse(text: &str) -> Option<NaiveDate> {
    let (day, rest) = NaiveDate::parse_and_remainder(text, "%Y-%m-%d").ok()?;
    (rest.is_empty() || rest.starts_with(' ')).then_some(day)
}

/// Parse `YYYY-MM-DD`, naming `what` in the error.
pub fn parse_or(text: &str, what: &str) -> Result<NaiveDate, Error> {
    parse(text).ok_or_else(|| Error::invalid_input(format!("{what}: `{text}` is not a YYYY-MM-DD date")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_days_and_report_times() {
        for text in [
            "1970-01-01",
            "2000-02-29",
            "2026-06-30",
            "2026-12-31",
            "1969-12-31",
        ] {
            assert_eq!(parse(text).map(|d| d.to_string()).as_deref(), Some(text));
        }
        assert_eq!(parse("2026-06-01 00:00:00"), parse("2026-06-01"));
        assert_eq!(parse("2026-02-29"), None);
        assert_eq!(parse("2026-13-01"), None);
        assert_eq!(parse("2026-06-011"), None);
        assert!(parse_or("soon", "stream state").is_err());
    }
}
