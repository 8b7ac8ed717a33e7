//! CloudWatch Logs subscription payloads.
//!
//! A subscription delivers gzip-compressed JSON:
//! `{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"…","logStream":"…",
//!   "subscriptionFilters":["…"],"logEvents":[{"id":"…","timestamp":1700000000000,"message":"…"}]}`.
//! `CONTROL_MESSAGE`s are health checks CloudWatch Logs sends when a subscription is created.
//!
//! Event ids and messages are kept as raw JSON tokens borrowed from the inflated buffer: the
//! message is copied into the document still escaped (no unescape/re-escape round trip for the
//! most expensive field), and the id is taken exactly as sent — AWS sends ~56-digit strings,
//! moto sends numbers — without a lossy numeric conversion.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::DecodeError;

/// The two message types CloudWatch Logs sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Data,
    Control,
}

/// A parsed subscription payload, borrowing from the inflated record.
#[derive(Debug)]
pub struct Payload<'a> {
    pub message_type: MessageType,
    pub owner: Cow<'a, str>,
    pub log_group: Cow<'a, str>,
    pub log_stream: Cow<'a, str>,
    pub log_events: Vec<LogEvent<'a>>,
    /// The payload's JSON text, which the events' messages borrow from.
    pub text: &'a [u8],
}

/// One log event.
#[derive(Debug)]
pub struct LogEvent<'a> {
    /// The event id as a JSON string literal (with quotes) or a JSON number.
    pub id: &'a RawValue,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// The message as a JSON string literal, quotes and escapes included.
    pub message: &'a RawValue,
}

impl LogEvent<'_> {
    /// Whether the id was sent as a JSON number (moto) rather than a string (AWS).
    pub fn id_is_number(&self) -> bool {
        !self.id.get().starts_with('"')
    }

    /// The id's text without quotes, as it appears between the quotes of a JSON string.
    pub fn id_text(&self) -> &str {
        let raw = self.id.get();
        raw.strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(raw)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire<'a> {
    #[serde(borrow)]
    message_type: Cow<'a, str>,
    #[serde(borrow, default)]
    owner: Cow<'a, str>,
    #[serde(borrow, default)]
    log_group: Cow<'a, str>,
    #[serde(borrow, default)]
    log_stream: Cow<'a, str>,
    #[serde(borrow, default)]
    log_events: Vec<WireEvent<'a>>,
}

#[derive(Deserialize)]
struct WireEvent<'a> {
    #[serde(borrow)]
    id: &'a RawValue,
    timestamp: serde_json::Number,
    #[serde(borrow)]
    message: &'a RawValue,
}

/// Largest `_id` Elasticsearch accepts, in bytes.
const MAX_ID_BYTES: usize = 512;

/// Whether `bytes` look like a subscription payload — a JSON object with a `messageType`
/// field — rather than producer text that happens to be JSON. CloudWatch Logs writes
/// `messageType` first, so the check is nearly free for real payloads; a re-serialized payload
/// with another key order costs one SIMD substring search. A payload that looks like one but does
/// not parse is a poison record.
pub fn looks_like_payload(bytes: &[u8]) -> bool {
    const KEY: &[u8] = b"\"messageType\"";
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let rest = &bytes[start..];
    if rest.first() != Some(&b'{') {
        return false;
    }
    // memmem scans from the start, so a payload written by CloudWatch Logs matches at once.
    memchr::memmem::find(rest, KEY).is_some()
}

/// Parses an inflated subscription payload.
pub fn parse(bytes: &[u8]) -> Result<Payload<'_>, DecodeError> {
    let wire: Wire<'_> = serde_json::from_slice(bytes)
        .map_err(|e| DecodeError::CloudWatch(without_quoted_values(&e.to_string())))?;
    let message_type = match wire.message_type.as_ref() {
        "DATA_MESSAGE" => MessageType::Data,
        "CONTROL_MESSAGE" => MessageType::Control,
        _ => {
            return Err(DecodeError::CloudWatch(
                "unknown messageType (expected DATA_MESSAGE or CONTROL_MESSAGE)".to_owned(),
            ))
        }
    };
    if message_type == MessageType::Control {
        // Health checks carry no log data (and an empty event id): nothing to validate.
        return Ok(Payload {
            message_type,
            owner: wire.owner,
            log_group: wire.log_group,
            log_stream: wire.log_stream,
            log_events: Vec::new(),
            text: bytes,
        });
    }
    if wire.log_group.is_empty() {
        return Err(DecodeError::CloudWatch(
            "DATA_MESSAGE without logGroup".to_owned(),
        ));
    }
    let mut log_events = Vec::with_capacity(wire.log_events.len());
    for (i, e) in wire.log_events.into_iter().enumerate() {
        let id = e.id.get();
        let id_ok = if let Some(inner) = id.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
            !inner.is_empty() && inner.len() <= MAX_ID_BYTES && !inner.contains('\\')
        } else {
            e.id.get().bytes().all(|b| b.is_ascii_digit())
        };
        if !id_ok {
            return Err(DecodeError::CloudWatch(format!(
                "logEvents[{i}].id must be a non-empty string of at most {MAX_ID_BYTES} bytes or a whole number"
            )));
        }
        if !e.message.get().starts_with('"') {
            return Err(DecodeError::CloudWatch(format!(
                "logEvents[{i}].message must be a string"
            )));
        }
        let timestamp = e
            .timestamp
            .as_i64()
            .or_else(|| e.timestamp.as_f64().map(|f| f as i64))
            .ok_or_else(|| {
                DecodeError::CloudWatch(format!("logEvents[{i}].timestamp is not a number"))
            })?;
        log_events.push(LogEvent {
            id: e.id,
            timestamp,
            message: e.message,
        });
    }
    Ok(Payload {
        message_type,
        owner: wire.owner,
        log_group: wire.log_group,
        log_stream: wire.log_stream,
        log_events,
        text: bytes,
    })
}

/// serde quotes the offending value in its messages (`invalid type: string "…"`); that value
/// is log data and may be a secret, and these messages go to logs and dead letters unmasked.
fn without_quoted_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut in_quote = false;
    for c in message.chars() {
        match (c, in_quote) {
            ('"', false) => {
                in_quote = true;
                out.push_str("\"…");
            }
            ('"', true) => {
                in_quote = false;
                out.push('"');
            }
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_data_messages_with_string_and_number_ids() {
        let p = parse(
            br#"{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/aws/lambda/f","logStream":"2026/11/22/[$LATEST]abc","subscriptionFilters":["all"],"logEvents":[
                {"id":"37536379208853409683541530093040375283219587043476733952","timestamp":1795320000123,"message":"line \"one\"\n"},
                {"id":42,"timestamp":1795320000124.0,"message":"two"}]}"#,
        )
        .unwrap();
        assert_eq!(p.message_type, MessageType::Data);
        assert_eq!(p.owner, "123456789012");
        assert_eq!(p.log_group, "/aws/lambda/f");
        assert_eq!(p.log_events.len(), 2);
        let e = &p.log_events[0];
        assert_eq!(
            e.id_text(),
            "37536379208853409683541530093040375283219587043476733952"
        );
        assert!(!e.id_is_number());
        assert_eq!(e.timestamp, 1_795_320_000_123);
        assert_eq!(e.message.get(), r#""line \"one\"\n""#);
        assert_eq!(p.log_events[1].id_text(), "42");
        assert!(p.log_events[1].id_is_number());
        assert_eq!(p.log_events[1].timestamp, 1_795_320_000_124);
    }

    #[test]
    fn control_messages_are_recognised() {
        let p = parse(br#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}]}"#);
        // A control message's event has an empty id; it is skipped, not indexed, so the
        // empty id must not make it a poison record.
        match p {
            Ok(p) => assert_eq!(p.message_type, MessageType::Control),
            Err(e) => panic!("control message rejected: {e}"),
        }
    }

    #[test]
    fn malformed_payloads_say_what_is_wrong() {
        for (input, why) in [
            (&br#"not json"#[..], "expected"),
            (br#"{"messageType":"OTHER"}"#, "unknown messageType"),
            (br#"{"logGroup":"g"}"#, "messageType"),
            (br#"{"messageType":"DATA_MESSAGE","logGroup":"g","logEvents":[{"id":"1","timestamp":"hunter2","message":"m"}]}"#, "expected a JSON number"),
            (br#"{"messageType":"DATA_MESSAGE","logGroup":"g","logEvents":[{"id":"1","timestamp":1,"message":{"a":1}}]}"#, "message must be a string"),
            (br#"{"messageType":"DATA_MESSAGE","logGroup":"g","logEvents":[{"id":"","timestamp":1,"message":"m"}]}"#, "id must be"),
            (br#"{"messageType":"DATA_MESSAGE","logGroup":"g","logEvents":[{"id":1.5,"timestamp":1,"message":"m"}]}"#, "id must be"),
            (br#"{"messageType":"DATA_MESSAGE","logGroup":"","logEvents":[]}"#, "without logGroup"),
        ] {
            let e = parse(input).unwrap_err();
            assert!(e.to_string().contains(why), "{}: {e}", String::from_utf8_lossy(input));
            assert!(!e.to_string().contains("hunter2"), "a value leaked into the error: {e}");
        }
    }
}
