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

/// The day number of a calendar date (Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses an ISO 8601 / RFC 3339 date-time — `2026-11-22T10:00:00Z`, with optional fraction
/// (any digits; milliseconds kept), `T` or space, and `Z`, `±HH:MM`, `±HHMM` or no offset (UTC)
/// — into epoch milliseconds. A bare date (`2026-11-22`) is midnight UTC.
pub fn parse_iso8601_millis(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = b.get(range)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    };
    if b.len() < 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut ms = days_from_civil(i64::from(year), month, day) * MS_PER_DAY;
    if b.len() == 10 {
        return Some(ms);
    }
    if !matches!(b[10], b'T' | b't' | b' ') || b.get(13) != Some(&b':') {
        return None;
    }
    let (hour, minute) = (num(11..13)?, num(14..16)?);
    let mut at = 16;
    let mut second = 0;
    if b.get(16) == Some(&b':') {
        second = num(17..19)?;
        at = 19;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    ms += (i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)) * 1000;
    if matches!(b.get(at), Some(b'.' | b',')) {
        let start = at + 1;
        let mut end = start;
        while b.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        if end == start {
            return None;
        }
        let mut millis = 0i64;
        for i in 0..3 {
            millis = millis * 10
                + b.get(start + i)
                    .filter(|_| start + i < end)
                    .map_or(0, |d| i64::from(d - b'0'));
        }
        ms += millis;
        at = end;
    }
    match b.get(at) {
        None => Some(ms),
        Some(b'Z' | b'z') if at + 1 == b.len() => Some(ms),
        Some(&sign @ (b'+' | b'-')) => {
            let oh = num(at + 1..at + 3)?;
            let om = match b.get(at + 3) {
                Some(b':') => num(at + 4..at + 6)?,
                _ => num(at + 3..at + 5)?,
            };
            let consumed = if b.get(at + 3) == Some(&b':') { 6 } else { 5 };
            if at + consumed != b.len() || oh > 23 || om > 59 {
                return None;
            }
            let offset = (i64::from(oh) * 60 + i64::from(om)) * 60_000;
            Some(if sign == b'+' {
                ms - offset
            } else {
                ms + offset
            })
        }
        _ => None,
    }
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
    fn parses_iso8601() {
        let cases = [
            ("2026-11-22T04:00:00.000Z", Some(1_795_320_000_000)),
            ("2026-11-22T04:00:00Z", Some(1_795_320_000_000)),
            ("2026-11-22 04:00:00.123456Z", Some(1_795_320_000_123)),
            ("2026-11-22T05:30:00.5+01:30", Some(1_795_320_000_500)),
            ("2026-11-21T23:00:00-0500", Some(1_795_320_000_000)),
            ("2026-11-22T04:00", Some(1_795_320_000_000)),
            ("2026-11-22", Some(1_795_305_600_000)),
            ("2000-02-29T00:00:00Z", Some(951_782_400_000)),
            ("1969-12-31T23:59:59.999Z", Some(-1)),
            ("2026-13-01T00:00:00Z", None),
            ("2026-11-22T04:00:00Zjunk", None),
            ("2026-11-22T04:00:00.Z", None),
            ("22/11/2026", None),
            ("", None),
            ("2026-11-22T04:00:00+1", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_iso8601_millis(text), want, "{text}");
        }
        for days in [-1000, 0, 1, 20_000, 30_000] {
            let d = date_from_days(days);
            assert_eq!(
                days_from_civil(i64::from(d.year), u32::from(d.month), u32::from(d.day)),
                days
            );
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
