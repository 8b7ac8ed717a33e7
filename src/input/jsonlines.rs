//! JSON lines: records that are one JSON object, or newline-delimited objects (Fluentd
//! `out_kinesis`, Fastly with a JSON log format, generic Kinesis producers).
//!
//! The object's fields go under the document's JSON field, like a JSON CloudWatch message; the
//! event time is the first present of `@timestamp`, `timestamp`, `time`, `ts`, `date` — ISO
//! 8601 text or epoch seconds/milliseconds (number or digit string) — else the record's
//! arrival time. Only top-level fields count: a nested `time` belongs to something else.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::time;

/// The candidate time fields, in order of preference.
#[derive(Deserialize)]
struct TimeFields<'a> {
    #[serde(rename = "@timestamp", borrow, default)]
    at_timestamp: Option<&'a RawValue>,
    #[serde(borrow, default)]
    timestamp: Option<&'a RawValue>,
    #[serde(borrow, default)]
    time: Option<&'a RawValue>,
    #[serde(borrow, default)]
    ts: Option<&'a RawValue>,
    #[serde(borrow, default)]
    date: Option<&'a RawValue>,
}

/// The event time of a JSON object's text, in epoch milliseconds, when it has one.
pub fn event_time(object: &str) -> Option<i64> {
    // serde would also fill the struct from an array, positionally.
    if !object.trim_start().starts_with('{') {
        return None;
    }
    let fields: TimeFields<'_> = serde_json::from_str(object).ok()?;
    [
        fields.at_timestamp,
        fields.timestamp,
        fields.time,
        fields.ts,
        fields.date,
    ]
    .into_iter()
    .flatten()
    .find_map(|raw| value_time(raw.get()))
    .filter(|&ms| time::in_range(ms))
}

fn value_time(raw: &str) -> Option<i64> {
    if let Some(text) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') && !text.is_empty() {
            return epoch_time(text.parse().ok()?);
        }
        return time::parse_iso8601_millis(text);
    }
    epoch_time(raw.parse().ok()?)
}

/// Epoch seconds, milliseconds, microseconds or nanoseconds, told apart by magnitude: any
/// instant after 1973 in milliseconds is above 1e11, and no log line comes from the year 5138.
fn epoch_time(n: f64) -> Option<i64> {
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    let ms = if n >= 1e17 {
        n / 1e6
    } else if n >= 1e14 {
        n / 1e3
    } else if n >= 1e11 {
        n
    } else {
        n * 1e3
    };
    Some(ms as i64)
}

/// Whether `line` (trimmed) looks like a JSON object; the caller still validates it.
pub fn looks_like_object(line: &str) -> bool {
    let t = line.trim_ascii();
    t.starts_with('{') && t.ends_with('}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_time_from_the_first_present_field() {
        let cases = [
            (
                r#"{"@timestamp":"2026-11-22T04:00:00.000Z","time":1}"#,
                Some(1_795_320_000_000),
            ),
            (
                r#"{"msg":"x","timestamp":"2026-11-22T04:00:00.5Z"}"#,
                Some(1_795_320_000_500),
            ),
            (r#"{"time":1795320000}"#, Some(1_795_320_000_000)),
            (r#"{"time":1795320000.25}"#, Some(1_795_320_000_250)),
            (r#"{"ts":1795320000123}"#, Some(1_795_320_000_123)),
            (r#"{"ts":"1795320000123"}"#, Some(1_795_320_000_123)),
            (r#"{"ts":1795320000123456}"#, Some(1_795_320_000_123)),
            (r#"{"date":"2026-11-22"}"#, Some(1_795_305_600_000)),
            // Not a time: the next candidate is used.
            (
                r#"{"time":"soon","ts":1795320000}"#,
                Some(1_795_320_000_000),
            ),
            (r#"{"nested":{"time":1795320000}}"#, None),
            (r#"{"time":null}"#, None),
            (r#"{"time":-5}"#, None),
            ("[1,2]", None),
            ("not json", None),
        ];
        for (object, want) in cases {
            assert_eq!(event_time(object), want, "{object}");
        }
    }
}
