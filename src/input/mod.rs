//! Input: the Lambda Kinesis event and the record formats found in it.
//!
//! The event is deserialized into our own view rather than `aws_lambda_events::KinesisEvent`:
//! that type base64-decodes every record while deserializing, so one record with bad `data`
//! would fail the whole invocation (and Lambda would retry the whole batch forever). Here
//! `data` stays text until [`Decoder::decode`] turns it into a payload, and a failure there is a
//! [`DecodeError`] for that record alone — a poison record that is dead-lettered while the rest
//! of the batch ships.
//!
//! One file per record format: [`gzip`] inflates, [`cloudwatch`] parses CloudWatch Logs
//! subscription payloads. A new producer format is a new file plus a branch in
//! [`Decoder::decode`].

pub mod cloudwatch;
pub mod gzip;
pub mod jsonlines;
pub mod kpl;

use base64::Engine as _;
use serde::Deserialize;

pub use cloudwatch::{LogEvent, Payload};

/// The Lambda event for a Kinesis trigger.
#[derive(Debug, Clone, Deserialize)]
pub struct KinesisEvent {
    #[serde(rename = "Records", default)]
    pub records: Vec<KinesisEventRecord>,
}

/// One Kinesis record as Lambda delivers it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KinesisEventRecord {
    /// `shardId-000000000000:4954…` — shard id and sequence number.
    #[serde(rename = "eventID", default)]
    pub event_id: String,
    #[serde(rename = "eventSourceARN", default)]
    pub event_source_arn: String,
    #[serde(default)]
    pub aws_region: String,
    pub kinesis: KinesisPayload,
}

/// The `kinesis` object of a record.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KinesisPayload {
    pub sequence_number: String,
    #[serde(default)]
    pub partition_key: String,
    /// Base64 of the record bytes.
    #[serde(default)]
    pub data: String,
    /// Seconds since the epoch, with fractions. Metadata only, so it is read leniently: a
    /// number or a numeric string, anything else is absent — never an invocation failure.
    #[serde(default, deserialize_with = "lenient_seconds")]
    pub approximate_arrival_timestamp: Option<f64>,
}

fn lenient_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

impl KinesisEventRecord {
    /// Where the record came from, for documents and dead letters.
    pub fn source(&self) -> RecordSource<'_> {
        let arn = self.event_source_arn.as_str();
        let stream_name = arn
            .split_once(":stream/")
            .map(|(_, name)| name)
            .unwrap_or_default();
        let region = arn
            .split(':')
            .nth(3)
            .filter(|r| !r.is_empty())
            .unwrap_or(self.aws_region.as_str());
        let shard_id = self
            .event_id
            .split_once(':')
            .map(|(shard, _)| shard)
            .unwrap_or_default();
        RecordSource {
            stream_arn: arn,
            stream_name,
            shard_id,
            sequence_number: &self.kinesis.sequence_number,
            partition_key: &self.kinesis.partition_key,
            region,
            approximate_arrival_ms: self
                .kinesis
                .approximate_arrival_timestamp
                .map(|s| (s * 1000.0) as i64),
        }
    }
}

/// The origin of a record: stream, shard and position.
#[derive(Debug, Clone, Copy)]
pub struct RecordSource<'a> {
    pub stream_arn: &'a str,
    pub stream_name: &'a str,
    pub shard_id: &'a str,
    pub sequence_number: &'a str,
    pub partition_key: &'a str,
    pub region: &'a str,
    pub approximate_arrival_ms: Option<i64>,
}

/// Why a record could not be decoded. The record is dead-lettered with this reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("record data is not valid base64: {0}")]
    Base64(String),
    #[error(
        "record is not a gzip-compressed CloudWatch Logs subscription payload (first bytes {0})"
    )]
    NotGzip(String),
    #[error("record is not valid gzip: {0}")]
    Gzip(String),
    #[error("record inflates to more than {limit} bytes (MAX_RECORD_BYTES)")]
    TooLarge { limit: usize },
    #[error("record is not a CloudWatch Logs subscription payload: {0}")]
    CloudWatch(String),
}

impl DecodeError {
    /// A short, stable name for metrics and dead letters.
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::Base64(_) => "invalid_base64",
            DecodeError::NotGzip(_) => "unknown_format",
            DecodeError::Gzip(_) => "invalid_gzip",
            DecodeError::TooLarge { .. } => "record_too_large",
            DecodeError::CloudWatch(_) => "invalid_cloudwatch_payload",
        }
    }
}

/// Decodes records, reusing its buffers from record to record and invocation to invocation.
pub struct Decoder {
    raw: Vec<u8>,
    inflater: gzip::Inflater,
}

impl Decoder {
    /// `max_record_bytes` caps the inflated size of one record (a defence against gzip bombs).
    pub fn new(max_record_bytes: usize) -> Self {
        Self {
            raw: Vec::with_capacity(64 * 1024),
            inflater: gzip::Inflater::new(max_record_bytes),
        }
    }

    /// Decodes one record's base64 `data` into a CloudWatch Logs payload borrowing from this
    /// decoder's buffers.
    pub fn decode(&mut self, data: &str) -> Result<Payload<'_>, DecodeError> {
        self.raw.clear();
        base64::engine::general_purpose::STANDARD
            .decode_vec(data.trim_end(), &mut self.raw)
            .map_err(|e| DecodeError::Base64(e.to_string()))?;
        self.inflater.forget();
        if !gzip::is_gzip(&self.raw) {
            return Err(DecodeError::NotGzip(hex_prefix(&self.raw)));
        }
        let inflated = self.inflater.inflate(&self.raw)?;
        cloudwatch::parse(inflated)
    }

    /// The record bytes of the last [`decode`](Self::decode) call (after base64), for dead
    /// letters.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The inflated bytes of the last [`decode`](Self::decode) call, when it got that far.
    pub fn inflated(&self) -> Option<&[u8]> {
        self.inflater.last()
    }
}

fn hex_prefix(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for b in bytes.iter().take(4) {
        let _ = write!(out, "{b:02x}");
    }
    if out.is_empty() {
        out.push_str("<empty>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(json: &str) -> KinesisEventRecord {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn source_is_derived_from_arn_and_event_id() {
        let r = record(
            r#"{"eventID":"shardId-000000000007:4959","eventSourceARN":"arn:aws:kinesis:eu-west-1:123456789012:stream/logs","awsRegion":"us-east-1","kinesis":{"sequenceNumber":"4959","partitionKey":"pk","data":"","approximateArrivalTimestamp":1795320000.5}}"#,
        );
        let s = r.source();
        assert_eq!(s.stream_name, "logs");
        assert_eq!(s.region, "eu-west-1");
        assert_eq!(s.shard_id, "shardId-000000000007");
        assert_eq!(s.sequence_number, "4959");
        assert_eq!(s.approximate_arrival_ms, Some(1_795_320_000_500));
    }

    #[test]
    fn reads_what_the_canonical_kinesis_event_type_serializes() {
        let lambda_json = r#"{"Records":[{"kinesis":{"kinesisSchemaVersion":"1.0","partitionKey":"pk-1","sequenceNumber":"49590338271490256608559692538361571095921575989136588898","data":"aGVsbG8=","approximateArrivalTimestamp":1795320000.25},"eventSource":"aws:kinesis","eventVersion":"1.0","eventID":"shardId-000000000004:49590338271490256608559692538361571095921575989136588898","eventName":"aws:kinesis:record","invokeIdentityArn":"arn:aws:iam::123456789012:role/r","awsRegion":"eu-west-1","eventSourceARN":"arn:aws:kinesis:eu-west-1:123456789012:stream/app-logs"}]}"#;
        let canonical: aws_lambda_events::event::kinesis::KinesisEvent =
            serde_json::from_str(lambda_json).unwrap();
        let reserialized = serde_json::to_string(&canonical).unwrap();
        let ours: KinesisEvent = serde_json::from_str(&reserialized).unwrap();
        let record = &ours.records[0];
        let source = record.source();
        assert_eq!(source.stream_name, "app-logs");
        assert_eq!(source.shard_id, "shardId-000000000004");
        assert_eq!(source.region, "eu-west-1");
        assert_eq!(source.partition_key, "pk-1");
        assert_eq!(
            source.sequence_number,
            "49590338271490256608559692538361571095921575989136588898"
        );
        let arrival = source.approximate_arrival_ms.unwrap();
        assert!((arrival - 1_795_320_000_250).abs() < 1000, "{arrival}");
        let mut d = Decoder::new(1024);
        assert!(d.decode(&record.kinesis.data).is_err());
        assert_eq!(d.raw(), b"hello");
    }

    #[test]
    fn poison_records_are_typed_errors() {
        let mut d = Decoder::new(1 << 20);
        assert_eq!(d.decode("!!!").unwrap_err().kind(), "invalid_base64");
        assert_eq!(d.decode("aGVsbG8=").unwrap_err().kind(), "unknown_format");
        assert_eq!(d.raw(), b"hello");
        // gzip magic followed by garbage.
        let garbage = base64::engine::general_purpose::STANDARD.encode([0x1f, 0x8b, 8, 0, 1, 2]);
        assert_eq!(d.decode(&garbage).unwrap_err().kind(), "invalid_gzip");
    }
}
