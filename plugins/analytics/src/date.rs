//! Calendar days as day numbers (days since 1970-01-01), so series can be
//! indexed and shifted with plain arithmetic and no date crate.

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

/// The day number of a civil date (proleptic Gregorian).
pub fn from_civil(year: i64, month: i64, day: i64) -> i64 {
    // Howard Hinnant's algorithm: shift the year to start in March so the
    // leap day is the last day of the (shifted) year.
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a day number.
pub fn to_civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The day number of `YYYY-MM-DD`, or of the date part of an RFC 3339 time
/// (the date in the time's own offset, which is the business's local day).
pub fn parse(text: &str) -> Option<i64> {
    let date = text.get(..10)?;
    let mut parts = date.split('-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: i64 = parts.next()?.parse().ok()?;
    let day: i64 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let number = from_civil(year, month, day);
    // Reject dates such as 2026-02-30 that do not round-trip.
    (to_civil(number) == (year, month, day)).then_some(number)
}

/// `YYYY-MM-DD` of a day number.
pub fn format(days: i64) -> String {
    let (year, month, day) = to_civil(days);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The weekday of a day number, 0 for Monday to 6 for Sunday.
pub fn weekday(days: i64) -> usize {
    // 1970-01-01 was a Thursday (index 3).
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
    }
}
