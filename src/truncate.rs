//! Truncation of documents a destination cannot take whole (Logz.io: 500,000 bytes per line).
//!
//! An oversized document is shortened, never dropped: the parsed message fields (the JSON
//! field) go first — they repeat the message and are usually what makes it large — then the
//! message is cut at a character boundary to fit, and `log.truncated: true` plus
//! `log.original_size` (the document's size in bytes before truncation) say what happened.
//! Every other field is kept as it was, in its order.
//!
//! This runs on already-written (and already-masked) documents, so cutting can never reveal
//! part of a secret. It is the rare path: one parse of the document, allocation is fine.

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::document::push_str;

/// Why a document cannot be brought under the limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TruncateError {
    #[error("the document is not a JSON object ({0})")]
    NotAnObject(String),
    #[error(
        "the document is {size} bytes and still {left} bytes without its message and parsed \
         fields, over the destination's limit of {max} bytes"
    )]
    TooLarge {
        size: usize,
        left: usize,
        max: usize,
    },
}

/// Top-level fields in document order, values as their raw JSON text.
struct Fields<'a>(Vec<(std::borrow::Cow<'a, str>, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    fields.push(entry);
                }
                Ok(Fields(fields))
            }
        }
        d.deserialize_map(V)
    }
}

/// Writes `doc` shortened to at most `max` bytes into `out`. `json_field` is the field holding
/// the message's parsed fields (dropped first).
pub fn truncate(
    doc: &[u8],
    max: usize,
    json_field: Option<&str>,
    out: &mut Vec<u8>,
) -> Result<(), TruncateError> {
    let fields: Fields<'_> =
        serde_json::from_slice(doc).map_err(|e| TruncateError::NotAnObject(e.to_string()))?;
    let message: String = fields
        .0
        .iter()
        .find(|(k, _)| k == "message")
        .and_then(|(_, v)| serde_json::from_str(v.get()).ok())
        .unwrap_or_default();

    // Everything but the message text, to learn how much room the message has.
    let write = |out: &mut Vec<u8>, message: &str| {
        out.clear();
        out.push(b'{');
        let mut first = true;
        let mut log_written = false;
        for (key, value) in &fields.0 {
            if Some(key.as_ref()) == json_field {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            push_str(out, key);
            out.push(b':');
            match key.as_ref() {
                "message" => push_str(out, message),
                "log" => {
                    log_written = true;
                    write_log(out, Some(value.get()), doc.len());
                }
                _ => out.extend_from_slice(value.get().as_bytes()),
            }
        }
        if !log_written {
            if !first {
                out.push(b',');
            }
            out.extend_from_slice(br#""log":"#);
            write_log(out, None, doc.len());
        }
        out.push(b'}');
    };

    write(out, "");
    let fixed = out.len();
    if fixed > max {
        return Err(TruncateError::TooLarge {
            size: doc.len(),
            left: fixed,
            max,
        });
    }
    let budget = max - fixed;
    let cut = escaped_prefix(&message, budget);
    write(out, &message[..cut]);
    Ok(())
}

/// `log` with the truncation marker, merged into an existing `log` object.
fn write_log(out: &mut Vec<u8>, existing: Option<&str>, original_size: usize) {
    out.extend_from_slice(br#"{"truncated":true,"original_size":"#);
    out.extend_from_slice(original_size.to_string().as_bytes());
    match existing.map(str::trim) {
        Some(obj) if obj.starts_with('{') && obj.len() > 2 => {
            let rest = obj[1..].trim_start();
            if rest.starts_with('}') {
                out.push(b'}');
            } else {
                out.push(b',');
                out.extend_from_slice(rest.as_bytes());
            }
        }
        _ => out.push(b'}'),
    }
}

/// Length of the longest prefix of `s` (at a char boundary) whose JSON-escaped form takes at
/// most `budget` bytes.
fn escaped_prefix(s: &str, budget: usize) -> usize {
    let mut used = 0;
    for (i, c) in s.char_indices() {
        let size = match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        };
        if used + size > budget {
            return i;
        }
        used += size;
    }
    s.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn run(doc: &Value, max: usize) -> Result<Value, TruncateError> {
        let bytes = serde_json::to_vec(doc).unwrap();
        let mut out = Vec::new();
        truncate(&bytes, max, Some("json"), &mut out)?;
        assert!(out.len() <= max, "{} > {max}", out.len());
        Ok(serde_json::from_slice(&out).expect("valid JSON"))
    }

    #[test]
    fn the_message_is_cut_and_parsed_fields_dropped() {
        let message = format!("start {} end", "é\"\n".repeat(40_000));
        let doc = json!({
            "@timestamp": "2026-11-22T00:00:00.000Z",
            "message": message,
            "event": {"id": "1"},
            "json": {"big": "x".repeat(100_000)},
        });
        let size = serde_json::to_vec(&doc).unwrap().len();
        let t = run(&doc, 50_000).unwrap();
        let cut = t["message"].as_str().unwrap();
        assert!(message.starts_with(cut));
        assert!(cut.len() > 20_000, "the message keeps what fits");
        assert_eq!(t["log"], json!({"truncated": true, "original_size": size}));
        assert_eq!(t["event"], json!({"id": "1"}));
        assert!(t.get("json").is_none());
        let keys: Vec<_> = t.as_object().unwrap().keys().cloned().collect();
        assert!(keys.contains(&"@timestamp".to_owned()));
    }

    #[test]
    fn an_existing_log_object_is_kept() {
        let doc = json!({"message": "m".repeat(1000), "log": {"level": "info"}});
        let t = run(&doc, 200).unwrap();
        assert_eq!(t["log"]["level"], "info");
        assert_eq!(t["log"]["truncated"], true);
    }

    #[test]
    fn what_cannot_fit_is_an_error() {
        let doc = json!({"message": "m", "aws": "a".repeat(500)});
        assert!(matches!(
            run(&doc, 100),
            Err(TruncateError::TooLarge { .. })
        ));
        let mut out = Vec::new();
        assert!(matches!(
            truncate(b"[1]", 10, None, &mut out),
            Err(TruncateError::NotAnObject(_))
        ));
    }

    #[test]
    fn escaped_prefix_respects_char_boundaries_and_escapes() {
        assert_eq!(escaped_prefix("ab\"c", 3), 2);
        assert_eq!(escaped_prefix("ab\"c", 4), 3);
        assert_eq!(escaped_prefix("éé", 3), 2);
        assert_eq!(escaped_prefix("\u{1}x", 6), 1);
    }
}
