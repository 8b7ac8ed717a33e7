//! Redrive: dead letters sent back to the destination from the dead-letter queue.
//!
//! When the reason a document was refused is fixed (an index mapping, a full disk, a
//! credential), the queue is attached to the function as an SQS event source and every dead
//! letter that carries a whole document is delivered again — with its event id, so a
//! redrive run twice indexes nothing twice on Elasticsearch. Documents in letters are already
//! masked. Letters without a document (poison records, truncated documents) cannot be resent;
//! they stay in the queue, reported as SQS batch item failures, as does every document the
//! destination refuses again or that cannot be settled before the deadline.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::input::{KinesisEventRecord, RecordSource};
use crate::output::{Chunk, ChunkBuilder, Destination};
use crate::time;

/// The parts of a dead letter a redrive needs.
#[derive(Deserialize)]
struct Letter<'a> {
    #[serde(borrow, default)]
    document: Option<&'a RawValue>,
    #[serde(borrow, default)]
    event_id: Option<Cow<'a, str>>,
}

/// Why a message cannot be redriven; it stays in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// Not a dead letter of this forwarder.
    NotALetter,
    /// A poison record or a truncated document: there is no whole document to send.
    NoDocument,
}

/// The request bodies for the redrivable messages of an SQS event, and the messages that
/// cannot be redriven. Item `record` numbers are message indices.
pub fn build<D: Destination>(
    messages: &[KinesisEventRecord],
    destination: &D,
    max_request_bytes: usize,
) -> (Vec<Chunk>, Vec<(usize, Skip)>) {
    let mut chunks = Vec::new();
    let mut skipped = Vec::new();
    let mut builder = ChunkBuilder::new(max_request_bytes);
    let mut id = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let body = message.body.as_deref().unwrap_or_default();
        let letter: Letter<'_> = match serde_json::from_str(body) {
            Ok(letter) => letter,
            Err(_) => {
                skipped.push((i, Skip::NotALetter));
                continue;
            }
        };
        let Some(document) = letter.document else {
            skipped.push((i, Skip::NoDocument));
            continue;
        };
        let event_id = letter.event_id.unwrap_or_default();
        let event_ms = document_time(document.get()).unwrap_or_else(time::now_millis);
        id.clear();
        crate::document::push_str(&mut id, &event_id);
        let header = builder.begin(i as u32, &event_id);
        destination.write_item_header(header, event_ms, &id);
        builder
            .document()
            .extend_from_slice(document.get().as_bytes());
        chunks.extend(builder.finish());
    }
    chunks.extend(builder.take());
    (chunks, skipped)
}

/// The `@timestamp` of a document (its index on Elasticsearch depends on it).
fn document_time(document: &str) -> Option<i64> {
    #[derive(Deserialize)]
    struct Timestamp<'a> {
        #[serde(rename = "@timestamp", borrow)]
        timestamp: Cow<'a, str>,
    }
    let t: Timestamp<'_> = serde_json::from_str(document).ok()?;
    time::parse_iso8601_millis(&t.timestamp)
}

/// A source for logs about a message (SQS has no shard or sequence number).
pub fn message_source(message: &KinesisEventRecord) -> RecordSource<'_> {
    RecordSource {
        stream_arn: &message.event_source_arn,
        stream_name: "",
        shard_id: "",
        sequence_number: message.message_id.as_deref().unwrap_or_default(),
        partition_key: "",
        region: &message.aws_region,
        approximate_arrival_ms: None,
        sub_sequence_number: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, DestinationConfig};
    use crate::output::auth::Authenticator;
    use crate::output::elasticsearch::Elasticsearch;

    fn message(id: &str, body: &str) -> KinesisEventRecord {
        serde_json::from_value(serde_json::json!({
            "messageId": id, "body": body, "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:dlq", "awsRegion": "eu-west-1"
        }))
        .unwrap()
    }

    #[test]
    fn letters_with_documents_are_framed_again_and_others_skipped() {
        let config = Config::from_lookup(|name| match name {
            "ES_ENDPOINT" => Some("http://127.0.0.1:9".into()),
            "DLQ_QUEUE_URL" => Some("http://127.0.0.1:9/q".into()),
            "ES_INDEX" => Some("logs-%Y.%m.%d".into()),
            _ => None,
        })
        .unwrap();
        let DestinationConfig::Elasticsearch(es) = &config.destination else {
            unreachable!()
        };
        let es = Elasticsearch::new(es, &config.output, Authenticator::None).unwrap();
        let messages = [
            message(
                "m1",
                r#"{"reason":"x","event_id":"42","document":{"@timestamp":"2026-11-22T01:00:00.000Z","message":"a"}}"#,
            ),
            message("m2", r#"{"reason":"x","stage":"decode","text":"poison"}"#),
            message("m3", "not json"),
            message(
                "m4",
                r#"{"reason":"x","event_id":"43","document_truncated":"{…","truncated":true}"#,
            ),
        ];
        let (chunks, skipped) = build(&messages, &es, 1 << 20);
        assert_eq!(
            skipped,
            [
                (1, Skip::NoDocument),
                (2, Skip::NotALetter),
                (3, Skip::NoDocument)
            ]
        );
        assert_eq!(chunks.len(), 1);
        let body = String::from_utf8(chunks[0].body.to_vec()).unwrap();
        assert_eq!(
            body,
            "{\"create\":{\"_index\":\"logs-2026.11.22\",\"_id\":\"42\"}}\n\
             {\"@timestamp\":\"2026-11-22T01:00:00.000Z\",\"message\":\"a\"}\n"
        );
        assert_eq!(chunks[0].items[0].record, 0);
        assert_eq!(message_source(&messages[0]).sequence_number, "m1");
    }
}
