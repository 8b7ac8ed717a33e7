//! Calendar arithmetic for event timestamps, without a date library.
//!
//! Every document needs its event time as RFC 3339 text and most index names need the event's
//! UTC date. Both are computed per event on the hot path, so they are done with integer civil
//! calendar arithmetic (Howard Hinnant's `civil_from_days`) straight into the output buffer
//! instead of through a general-purpose date type.

/// Milliseconds in one day.
pub const MS_PER_DAY: i64 = 86_400_000;

/// Earliest and latest instants we format: years 0000 through 9999, the range RFC 3339 and
/// Elasticsearch's `strict_date_optional_time` accept with four-digit years.
const MIN_MS: i64 = -62_167_219_200_000; // 0000-01-01T00:00:00Z
const MAX_MS: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z

/// A UTC calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

/// Whether `ms` (milliseconds since the Unix epoch) lies in the years 0000–9999.
pub fn in_range(ms: i64) -> bool {
    (MIN_MS..=MAX_MS).contains(&ms)
}

/// The day number (days since 1970-01-01, negative before) that contains `ms`.
pub fn day_number(ms: i64) -> i64 {
    ms.div_euclid(MS_PER_DAY)
}

/// The calendar date of a day number.
pub fn date_from_days(days: i64) -> Date {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    Date { year, month, day }
}

fn push_digits(out: &mut Vec<u8>, value: u32, width: usize) {
    let mut buf = [b'0'; 10];
    let mut v = value;
    for slot in buf[..width].iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(&buf[..width]);
}

/// Appends the four-digit year, e.g. `2026`.
pub fn push_year(out: &mut Vec<u8>, date: Date) {
    push_digits(out, date.year.clamp(0, 9999) as u32, 4);
}

/// Appends a two-digit month or day.
pub fn push_two(out: &mut Vec<u8>, value: u8) {
    push_digits(out, u32::from(value), 2);
}

/// Appends `ms` as RFC 3339 UTC with milliseconds: `2026-11-22T03:57:08.123Z`.
///
/// Returns `false` (and appends nothing) when `ms` is outside the years 0000–9999.
pub fn push_rfc3339_millis(out: &mut Vec<u8>, ms: i64) -> bool {
    if !in_range(ms) {
        return false;
    }
    let date = date_from_days(day_number(ms));
    let in_day = ms.rem_euclid(MS_PER_DAY) as u32;
    push_year(out, date);
    out.push(b'-');
    push_two(out, date.month);
    out.push(b'-');
    push_two(out, date.day);
    out.push(b'T');
    push_digits(out, in_day / 3_600_000, 2);
    out.push(b':');
    push_digits(out, in_day / 60_000 % 60, 2);
    out.push(b':');
    push_digits(out, in_day / 1000 % 60, 2);
    out.push(b'.');
    push_digits(out, in_day % 1000, 3);
    out.push(b'Z');
    true
}

/// `ms` as an RFC 3339 string; `None` outside the years 0000–9999.
pub fn rfc3339_millis(ms: i64) -> Option<String> {
    let mut out = Vec::with_capacity(24);
    push_rfc3339_millis(&mut out, ms).then(|| String::from_utf8_lossy(&out).into_owned())
}

/// Milliseconds since the Unix epoch, now.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        let cases = [
            (0, "1970-01-01T00:00:00.000Z"),
            (1_700_000_000_123, "2023-11-14T22:13:20.123Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
            (MIN_MS, "0000-01-01T00:00:00.000Z"),
            (MAX_MS, "9999-12-31T23:59:59.999Z"),
            (1_795_320_000_000, "2026-11-22T04:00:00.000Z"),
        ];
        for (ms, want) in cases {
            assert_eq!(rfc3339_millis(ms).as_deref(), Some(want), "{ms}");
        }
    }

    #[test]
    fn rejects_out_of_range() {
        assert_eq!(rfc3339_millis(MAX_MS + 1), None);
        assert_eq!(rfc3339_millis(MIN_MS - 1), None);
        assert_eq!(rfc3339_millis(i64::MAX), None);
        assert_eq!(rfc3339_millis(i64::MIN), None);
    }

    #[test]
    fn civil_dates_round_trip_every_day_for_a_few_centuries() {
        // Walk day by day and check the calendar advances by exactly one day each time.
        let mut prev = date_from_days(-80_000);
        for days in -79_999..80_000 {
            let d = date_from_days(days);
            let next_day = prev.day + 1;
            let ok = (d.year == prev.year && d.month == prev.month && d.day == next_day)
                || (d.year == prev.year && d.month == prev.month + 1 && d.day == 1)
                || (d.year == prev.year + 1 && d.month == 1 && d.day == 1 && prev.month == 12);
            assert!(ok, "{prev:?} -> {d:?}");
            prev = d;
        }
    }
}
