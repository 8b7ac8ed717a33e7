//! Dead letters: what failed for good, why, and the data itself, on an SQS queue.
//!
//! Each message is one JSON object:
//! ```json
//! {"reason":"failed to parse field [json.status]…","error_type":"mapper_parsing_exception",
//!  "status":400,"stage":"destination","destination":"elasticsearch","index":"cloudwatch-2026.11.22",
//!  "event_id":"3753…","source":{"stream_arn":"…","shard_id":"…","sequence_number":"…",
//!  "partition_key":"…"},"failed_at":"2026-11-22T04:00:01.000Z",
//!  "forwarder":{"name":"log-forwarder","version":"0.1.0"},
//!  "document":{…the document as it would have been indexed…}}
//! ```
//! Records that could not be decoded carry `"raw_base64"` (the record bytes) instead of
//! `document`. A message that would exceed the queue's size limit keeps its metadata and
//! carries a prefix of the payload (`document_truncated` as text, or a shorter `raw_base64`)
//! with `"truncated":true` and `"original_bytes"` — it is never dropped for size.
//!
//! Sending goes in record order, ten messages per `SendMessageBatch`, and stops at the first
//! batch that cannot be written: the handler then hands the unsent records back to Lambda.

use std::time::Duration;

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use base64::Engine as _;
use tokio::time::Instant;

use crate::config::RetryPolicy;
use crate::document::push_str;
use crate::input::RecordSource;
use crate::output::retry::backoff;
use crate::time;

/// Where in the pipeline the event failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The record could not be decoded.
    Decode,
    /// The event could not become a document.
    Document,
    /// The destination rejected the document.
    Destination,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Stage::Decode => "decode",
            Stage::Document => "document",
            Stage::Destination => "destination",
        }
    }
}

/// The data a dead letter carries.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    /// A document (valid JSON).
    Document(&'a [u8]),
    /// Record bytes that could not be decoded and are not text.
    Raw(&'a [u8]),
    /// Readable text that could not be decoded (already masked).
    Text(&'a str),
}

/// Everything a dead letter says.
#[derive(Debug, Clone, Copy)]
pub struct Letter<'a> {
    pub stage: Stage,
    pub reason: &'a str,
    pub error_type: &'a str,
    pub status: Option<u16>,
    pub destination: Option<&'a str>,
    pub index: Option<&'a str>,
    pub event_id: Option<&'a str>,
    pub source: &'a RecordSource<'a>,
    pub payload: Payload<'a>,
}

/// Room kept for the truncation markers.
const MARKER_ROOM: usize = 96;

impl Letter<'_> {
    /// Renders the SQS message body, no larger than `max_bytes`.
    pub fn render(&self, max_bytes: usize, failed_at_ms: i64) -> String {
        let mut out = Vec::with_capacity(512);
        out.push(b'{');
        field_str(&mut out, "reason", &clip(self.reason, 4096));
        out.push(b',');
        field_str(&mut out, "error_type", self.error_type);
        if let Some(status) = self.status {
            out.extend_from_slice(format!(",\"status\":{status}").as_bytes());
        }
        out.push(b',');
        field_str(&mut out, "stage", self.stage.as_str());
        for (name, value) in [
            ("destination", self.destination),
            ("index", self.index),
            ("event_id", self.event_id),
        ] {
            if let Some(value) = value {
                out.push(b',');
                field_str(&mut out, name, value);
            }
        }
        out.extend_from_slice(br#","source":{"#);
        field_str(&mut out, "stream_arn", self.source.stream_arn);
        out.push(b',');
        field_str(&mut out, "shard_id", self.source.shard_id);
        out.push(b',');
        field_str(&mut out, "sequence_number", self.source.sequence_number);
        if let Some(sub) = self.source.sub_sequence_number {
            out.extend_from_slice(format!(",\"sub_sequence_number\":{sub}").as_bytes());
        }
        out.push(b',');
        field_str(&mut out, "partition_key", self.source.partition_key);
        if let Some(ms) = self.source.approximate_arrival_ms {
            out.extend_from_slice(br#","approximate_arrival":""#);
            time::push_rfc3339_millis(&mut out, ms);
            out.push(b'"');
        }
        out.extend_from_slice(br#"},"failed_at":""#);
        time::push_rfc3339_millis(&mut out, failed_at_ms);
        out.extend_from_slice(br#"","forwarder":{"name":"log-forwarder","version":""#);
        out.extend_from_slice(env!("CARGO_PKG_VERSION").as_bytes());
        out.extend_from_slice(b"\"}");

        let room = max_bytes.saturating_sub(out.len() + MARKER_ROOM);
        match self.payload {
            Payload::Document(doc) if doc.len() <= room => {
                out.extend_from_slice(br#","document":"#);
                out.extend_from_slice(doc);
            }
            Payload::Document(doc) => {
                // As text, a document's quotes double in size when escaped: half the room is
                // always enough.
                let text = String::from_utf8_lossy(doc);
                out.extend_from_slice(br#","document_truncated":"#);
                push_str(&mut out, clip(&text, room / 2).as_ref());
                out.extend_from_slice(
                    format!(",\"truncated\":true,\"original_bytes\":{}", doc.len()).as_bytes(),
                );
            }
            Payload::Text(text) => {
                out.extend_from_slice(br#","text":"#);
                let mut escaped = Vec::with_capacity(text.len() + 2);
                push_str(&mut escaped, text);
                if escaped.len() <= room {
                    out.extend_from_slice(&escaped);
                } else {
                    // Escaping grows text at most 6× (`\u00XX`): try half, then a sixth.
                    escaped.clear();
                    push_str(&mut escaped, clip(text, room / 2).as_ref());
                    if escaped.len() > room {
                        escaped.clear();
                        push_str(&mut escaped, clip(text, room / 6).as_ref());
                    }
                    out.extend_from_slice(&escaped);
                    out.extend_from_slice(
                        format!(",\"truncated\":true,\"original_bytes\":{}", text.len()).as_bytes(),
                    );
                }
            }
            Payload::Raw(raw) => {
                let keep = raw.len().min(room / 4 * 3);
                out.extend_from_slice(br#","raw_base64":""#);
                out.extend_from_slice(
                    base64::engine::general_purpose::STANDARD
                        .encode(&raw[..keep])
                        .as_bytes(),
                );
                out.push(b'"');
                if keep < raw.len() {
                    out.extend_from_slice(
                        format!(",\"truncated\":true,\"original_bytes\":{}", raw.len()).as_bytes(),
                    );
                }
            }
        }
        out.push(b'}');
        sqs_safe(String::from_utf8_lossy(&out).into_owned())
    }
}

fn field_str(out: &mut Vec<u8>, name: &str, value: &str) {
    push_str(out, name);
    out.push(b':');
    push_str(out, value);
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn clip(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.len() <= max {
        return s.into();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].into()
}

/// SQS refuses U+FFFE and U+FFFF in message bodies; JSON lets us escape them.
fn sqs_safe(body: String) -> String {
    if !body.contains(['\u{fffe}', '\u{ffff}']) {
        return body;
    }
    body.replace('\u{fffe}', "\\ufffe")
        .replace('\u{ffff}', "\\uffff")
}

/// The dead-letter queue client.
pub struct DeadLetterQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    max_bytes: usize,
    policy: RetryPolicy,
}

/// Entries per `SendMessageBatch` (an SQS limit).
const BATCH_ENTRIES: usize = 10;

impl DeadLetterQueue {
    pub fn new(
        client: aws_sdk_sqs::Client,
        queue_url: String,
        max_bytes: usize,
        policy: RetryPolicy,
    ) -> Self {
        Self {
            client,
            queue_url,
            max_bytes,
            policy,
        }
    }

    /// Largest message body this queue is sent.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Sends `bodies` in order. Returns how many, from the front, were written; sending stops
    /// at the first batch that could not be written by `deadline`.
    pub async fn send(&self, bodies: &[String], deadline: Instant) -> usize {
        let mut sent = 0;
        while sent < bodies.len() {
            let mut end = sent;
            let mut total = 0;
            while end < bodies.len()
                && end - sent < BATCH_ENTRIES
                && (end == sent || total + bodies[end].len() <= self.max_bytes)
            {
                total += bodies[end].len();
                end += 1;
            }
            if !self.send_batch(&bodies[sent..end], deadline).await {
                return sent;
            }
            sent = end;
        }
        sent
    }

    /// Sends one batch, retrying what failed for transient reasons. True when all were written.
    async fn send_batch(&self, bodies: &[String], deadline: Instant) -> bool {
        let mut pending: Vec<usize> = (0..bodies.len()).collect();
        let mut attempt = 0;
        loop {
            if attempt > 0 {
                let pause = backoff(&self.policy, attempt);
                if attempt >= self.policy.max_attempts || Instant::now() + pause >= deadline {
                    tracing::error!(
                        pending = pending.len(),
                        attempts = attempt,
                        "dead-letter queue unavailable; records go back to Lambda"
                    );
                    return false;
                }
                tokio::time::sleep(pause).await;
            }
            attempt += 1;
            let entries: Result<Vec<_>, _> = pending
                .iter()
                .map(|&i| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(&bodies[i])
                        .build()
                })
                .collect();
            let entries = match entries {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!(error = %e, "cannot build dead-letter batch");
                    return false;
                }
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if left < Duration::from_millis(50) {
                return false;
            }
            let request = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send();
            let output = match tokio::time::timeout(left, request).await {
                Ok(Ok(output)) => output,
                Ok(Err(e)) => {
                    tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "SendMessageBatch failed");
                    continue;
                }
                Err(_) => {
                    tracing::warn!("SendMessageBatch timed out at the deadline");
                    continue;
                }
            };
            let mut retry = Vec::new();
            for failure in output.failed() {
                if failure.sender_fault() {
                    tracing::error!(
                        code = failure.code(),
                        message = failure.message().unwrap_or_default(),
                        "dead-letter queue refused a message"
                    );
                    return false;
                }
                if let Ok(i) = failure.id().parse::<usize>() {
                    retry.push(i);
                }
            }
            if retry.is_empty() {
                return true;
            }
            pending = retry;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const SOURCE: RecordSource<'static> = RecordSource {
        stream_arn: "arn:aws:kinesis:us-east-1:123456789012:stream/logs",
        stream_name: "logs",
        shard_id: "shardId-000000000000",
        sequence_number: "495903",
        partition_key: "pk",
        region: "us-east-1",
        approximate_arrival_ms: Some(0),
        sub_sequence_number: None,
    };

    fn letter(payload: Payload<'_>) -> Letter<'_> {
        Letter {
            stage: Stage::Destination,
            reason: "failed to parse",
            error_type: "mapper_parsing_exception",
            status: Some(400),
            destination: Some("elasticsearch"),
            index: Some("logs"),
            event_id: Some("42"),
            source: &SOURCE,
            payload,
        }
    }

    #[test]
    fn letters_say_what_failed_and_why() {
        let body = letter(Payload::Document(br#"{"message":"m"}"#)).render(4096, 0);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["reason"], "failed to parse");
        assert_eq!(v["error_type"], "mapper_parsing_exception");
        assert_eq!(v["status"], 400);
        assert_eq!(v["stage"], "destination");
        assert_eq!(v["destination"], "elasticsearch");
        assert_eq!(v["index"], "logs");
        assert_eq!(v["event_id"], "42");
        assert_eq!(v["source"]["sequence_number"], "495903");
        assert_eq!(v["source"]["shard_id"], "shardId-000000000000");
        assert_eq!(
            v["source"]["approximate_arrival"],
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(v["document"]["message"], "m");
        assert!(v.get("truncated").is_none());
    }

    #[test]
    fn raw_records_are_base64() {
        let body = letter(Payload::Raw(b"\xff\x00binary")).render(4096, 0);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["raw_base64"], "/wBiaW5hcnk=");
    }

    #[test]
    fn oversized_payloads_are_truncated_with_a_marker_and_fit() {
        let doc = format!(r#"{{"message":"{}"}}"#, "\\\"q".repeat(20_000));
        let body = letter(Payload::Document(doc.as_bytes())).render(4096, 0);
        assert!(body.len() <= 4096, "{}", body.len());
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["truncated"], true);
        assert_eq!(v["original_bytes"], doc.len());
        assert!(doc.starts_with(v["document_truncated"].as_str().unwrap()));

        let raw = vec![7u8; 10_000];
        let body = letter(Payload::Raw(&raw)).render(4096, 0);
        assert!(body.len() <= 4096, "{}", body.len());
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["truncated"], true);
        assert_eq!(v["original_bytes"], 10_000);
    }

    #[test]
    fn text_payloads_fit_even_when_escaping_grows_them() {
        let text = "\u{1}".repeat(10_000);
        let body = letter(Payload::Text(&text)).render(4096, 0);
        assert!(body.len() <= 4096, "{}", body.len());
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["truncated"], true);
        let short = letter(Payload::Text("password=[MASKED:password]")).render(4096, 0);
        let v: Value = serde_json::from_str(&short).unwrap();
        assert_eq!(v["text"], "password=[MASKED:password]");
    }

    #[test]
    fn characters_sqs_refuses_are_escaped() {
        let doc = "{\"message\":\"a\u{ffff}b\u{fffe}\"}";
        let body = letter(Payload::Document(doc.as_bytes())).render(4096, 0);
        assert!(!body.contains('\u{ffff}') && !body.contains('\u{fffe}'));
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["document"]["message"], "a\u{ffff}b\u{fffe}");
    }
}
