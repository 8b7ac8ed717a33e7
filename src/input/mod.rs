//! Input: the Lambda Kinesis event and the record formats found in it.
//!
//! The event is deserialized into our own view rather than `aws_lambda_events::KinesisEvent`:
//! that type base64-decodes every record while deserializing, so one record with bad `data`
//! would fail the whole invocation (and Lambda would retry the whole batch forever). Here
//! `data` stays text until the [`Decoder`] turns it into units, and a failure there is a
//! [`DecodeError`] for that record (or KPL user record) alone — a poison record that is
//! dead-lettered while the rest of the batch ships.
//!
//! Detection is by content, in an order that cannot misfile data: KPL aggregation (magic bytes
//! and an MD5 digest, [`kpl`]) → gzip or zlib ([`gzip`]) → a CloudWatch Logs subscription
//! payload ([`cloudwatch`]) → text, whose lines the encoder reads as CloudFront real-time logs,
//! JSON ([`jsonlines`]), Apache/NCSA access logs or plain text. Bytes that are not text at all
//! are a poison record.

pub mod apache;
pub mod cloudfront;
pub mod cloudwatch;
pub mod gzip;
pub mod jsonlines;
pub mod kpl;
pub mod lambda;
mod members;

use base64::Engine as _;
use serde::Deserialize;

pub use cloudwatch::{LogEvent, Payload};

/// The Lambda event for a Kinesis trigger — and, read by the same single-pass struct, the two
/// other triggers of this function: an SQS event (dead-letter redrive; records carry
/// `messageId` and `body` instead of `kinesis`) and a direct CloudWatch Logs subscription
/// (`{"awslogs":{"data":…}}`).
#[derive(Debug, Clone, Deserialize)]
pub struct KinesisEvent {
    #[serde(rename = "Records", default)]
    pub records: Vec<KinesisEventRecord>,
    #[serde(default)]
    pub awslogs: Option<AwsLogs>,
}

/// The payload of a CloudWatch Logs subscription delivered straight to Lambda.
#[derive(Debug, Clone, Deserialize)]
pub struct AwsLogs {
    /// Base64 of the gzip subscription payload.
    pub data: String,
}

/// Which trigger an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Kinesis,
    /// SQS messages (dead letters to redrive).
    Sqs,
    /// A CloudWatch Logs subscription straight to Lambda.
    CloudWatchLogs,
}

impl KinesisEvent {
    pub fn trigger(&self) -> Trigger {
        if self.awslogs.is_some() {
            Trigger::CloudWatchLogs
        } else if self.records.first().is_some_and(|r| r.message_id.is_some()) {
            Trigger::Sqs
        } else {
            Trigger::Kinesis
        }
    }

    /// A direct CloudWatch Logs delivery as a one-record event, so it goes through the same
    /// pipeline; `region` names where the function runs.
    pub fn from_awslogs(awslogs: &AwsLogs, region: &str) -> Self {
        Self {
            records: vec![KinesisEventRecord {
                event_id: "cloudwatch-logs:0".to_owned(),
                event_source_arn: String::new(),
                aws_region: region.to_owned(),
                kinesis: KinesisPayload {
                    sequence_number: "0".to_owned(),
                    partition_key: String::new(),
                    data: awslogs.data.clone(),
                    approximate_arrival_timestamp: None,
                },
                message_id: None,
                body: None,
            }],
            awslogs: None,
        }
    }
}

/// One Kinesis record as Lambda delivers it (or one SQS message: see [`KinesisEvent`]).
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
    #[serde(default)]
    pub kinesis: KinesisPayload,
    /// SQS only.
    #[serde(default)]
    pub message_id: Option<String>,
    /// SQS only: the message body.
    #[serde(default)]
    pub body: Option<String>,
}

/// The `kinesis` object of a record.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KinesisPayload {
    #[serde(default)]
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
            sub_sequence_number: None,
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
    /// Index of the user record in a KPL aggregate.
    pub sub_sequence_number: Option<u32>,
}

impl RecordSource<'_> {
    /// The AWS account id in the stream ARN.
    pub fn account_id(&self) -> &str {
        self.stream_arn.split(':').nth(4).unwrap_or_default()
    }
}

/// Why a record could not be decoded. The record is dead-lettered with this reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("record data is not valid base64: {0}")]
    Base64(String),
    #[error("record is binary data, not text or a known format (first bytes {0})")]
    Binary(String),
    #[error("record is a broken KPL aggregate: {0}")]
    Kpl(String),
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
            DecodeError::Binary(_) => "binary_data",
            DecodeError::Kpl(_) => "invalid_kpl_aggregate",
            DecodeError::Gzip(_) => "invalid_gzip",
            DecodeError::TooLarge { .. } => "record_too_large",
            DecodeError::CloudWatch(_) => "invalid_cloudwatch_payload",
        }
    }
}

/// What one record, or one user record of a KPL aggregate, holds.
#[derive(Debug)]
pub enum Unit<'a> {
    CloudWatch(Payload<'a>),
    /// Producer text: one or more lines (not necessarily valid UTF-8).
    Text(&'a [u8]),
}

/// Decodes records, reusing its buffers from record to record and invocation to invocation.
pub struct Decoder {
    raw: Vec<u8>,
    /// Byte ranges of the units in `raw`, with their KPL sub-sequence numbers.
    units: Vec<(Option<u32>, std::ops::Range<usize>)>,
    inflater: gzip::Inflater,
    /// `RECORD_FORMAT=cloudwatch`: every unit is a subscription payload (or poison).
    force_cloudwatch: bool,
}

impl Decoder {
    /// `max_record_bytes` caps the inflated size of one record (a defence against gzip bombs).
    pub fn new(max_record_bytes: usize) -> Self {
        Self {
            raw: Vec::with_capacity(64 * 1024),
            units: Vec::new(),
            inflater: gzip::Inflater::new(max_record_bytes),
            force_cloudwatch: false,
        }
    }

    /// Reads every unit as a CloudWatch Logs subscription payload, without detection.
    pub fn force_cloudwatch(mut self, force: bool) -> Self {
        self.force_cloudwatch = force;
        self
    }

    /// Base64-decodes one record's `data` and splits it into units: the record itself, or the
    /// user records of a KPL aggregate. Returns how many units there are.
    pub fn open(&mut self, data: &str) -> Result<usize, DecodeError> {
        self.raw.clear();
        self.units.clear();
        self.inflater.forget();
        base64::engine::general_purpose::STANDARD
            .decode_vec(data.trim_end(), &mut self.raw)
            .map_err(|e| DecodeError::Base64(e.to_string()))?;
        if kpl::is_aggregated(&self.raw) {
            match kpl::deaggregate(&self.raw) {
                Ok(records) => {
                    let base = self.raw.as_ptr() as usize;
                    for (i, r) in records.iter().enumerate() {
                        let start = r.data.as_ptr() as usize - base;
                        self.units
                            .push((Some(i as u32), start..start + r.data.len()));
                    }
                    return Ok(self.units.len());
                }
                // Magic bytes by chance: not an aggregate, read it like any record.
                Err(e) if e.is_not_aggregated() => {}
                Err(e) => return Err(DecodeError::Kpl(e.to_string())),
            }
        }
        self.units.push((None, 0..self.raw.len()));
        Ok(1)
    }

    /// The KPL sub-sequence number of unit `i` (`None` for a record that is not an aggregate).
    pub fn sub_sequence(&self, i: usize) -> Option<u32> {
        self.units.get(i).and_then(|(sub, _)| *sub)
    }

    /// Decodes unit `i` of the last opened record: inflates gzip or zlib, then reads a
    /// CloudWatch Logs payload or text.
    pub fn unit(&mut self, i: usize) -> Result<Unit<'_>, DecodeError> {
        self.inflater.forget();
        let range = self.units.get(i).map(|(_, r)| r.clone()).unwrap_or(0..0);
        let bytes = self.raw.get(range).unwrap_or_default();
        let bytes = if gzip::is_gzip(bytes) {
            self.inflater.inflate(bytes)?
        } else if gzip::is_zlib(bytes) {
            // Two bytes can look like a zlib header by chance: then it is text after all.
            match self.inflater.inflate_zlib(bytes) {
                Ok(_) => self.inflater.last().unwrap_or_default(),
                Err(e @ DecodeError::TooLarge { .. }) => return Err(e),
                Err(_) => bytes,
            }
        } else {
            bytes
        };
        if self.force_cloudwatch || cloudwatch::looks_like_payload(bytes) {
            return cloudwatch::parse(bytes).map(Unit::CloudWatch);
        }
        if looks_binary(bytes) {
            return Err(DecodeError::Binary(hex_prefix(bytes)));
        }
        Ok(Unit::Text(bytes))
    }

    /// The record bytes of the last [`open`](Self::open) call (after base64), for dead
    /// letters.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The bytes of unit `i` as they came (before inflation), for dead letters.
    pub fn unit_raw(&self, i: usize) -> &[u8] {
        self.units
            .get(i)
            .and_then(|(_, r)| self.raw.get(r.clone()))
            .unwrap_or_default()
    }

    /// The inflated bytes of the last [`unit`](Self::unit) call, when it got that far.
    pub fn inflated(&self) -> Option<&[u8]> {
        self.inflater.last()
    }
}

/// Text has no NUL bytes and few other control characters or invalid UTF-8 sequences (a
/// stray invalid byte in a log line is replaced, not a reason to drop the line).
fn looks_binary(bytes: &[u8]) -> bool {
    if bytes.contains(&0) {
        return true;
    }
    let control = bytes
        .iter()
        .filter(|&&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c | 0x1b)) || b == 0x7f)
        .count();
    let invalid = match std::str::from_utf8(bytes) {
        Ok(_) => 0,
        Err(_) => String::from_utf8_lossy(bytes)
            .chars()
            .filter(|&c| c == char::REPLACEMENT_CHARACTER)
            .count(),
    };
    (control + invalid) * 10 > bytes.len()
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
        assert_eq!(d.open(&record.kinesis.data).unwrap(), 1);
        assert!(matches!(d.unit(0).unwrap(), Unit::Text(b"hello")));
    }

    fn first_unit(d: &mut Decoder, bytes: &[u8]) -> Result<String, DecodeError> {
        d.open(&base64::engine::general_purpose::STANDARD.encode(bytes))?;
        Ok(match d.unit(0)? {
            Unit::CloudWatch(p) => format!("cloudwatch {}", p.log_events.len()),
            Unit::Text(t) => format!("text {}", String::from_utf8_lossy(t)),
        })
    }

    #[test]
    fn poison_records_are_typed_errors() {
        let mut d = Decoder::new(1 << 20);
        assert_eq!(d.open("!!!").unwrap_err().kind(), "invalid_base64");
        let kind = |d: &mut Decoder, b: &[u8]| first_unit(d, b).unwrap_err().kind();
        // gzip magic followed by garbage.
        assert_eq!(kind(&mut d, &[0x1f, 0x8b, 8, 0, 1, 2]), "invalid_gzip");
        assert_eq!(kind(&mut d, &[0, 1, 2, 3, 0xff, 0xfe]), "binary_data");
        assert_eq!(
            kind(
                &mut d,
                &[0x89, b'P', b'N', b'G', 1, 2, 3, 4, 5, 6, 7, 8, 0xfa, 0xfb, 0x80]
            ),
            "binary_data"
        );
        assert_eq!(
            kind(
                &mut d,
                br#"{"messageType":"DATA_MESSAGE","logEvents":[oops"#
            ),
            "invalid_cloudwatch_payload"
        );
        // A KPL aggregate whose digest checks but whose protobuf is broken.
        let mut broken = kpl::MAGIC.to_vec();
        let body = [0x1a, 0x05, 0x08];
        broken.extend_from_slice(&body);
        broken.extend_from_slice(&<md5::Md5 as md5::Digest>::digest(body));
        assert_eq!(kind(&mut d, &broken), "invalid_kpl_aggregate");
    }

    #[test]
    fn units_are_detected_by_content() {
        let mut d = Decoder::new(1 << 20);
        assert_eq!(
            first_unit(&mut d, b"hello\nworld").unwrap(),
            "text hello\nworld"
        );
        // A stray invalid byte does not make text binary.
        assert!(
            first_unit(&mut d, b"caf\xe9 au lait, a long enough line of text")
                .unwrap()
                .starts_with("text caf")
        );
        let gz = {
            use std::io::Write as _;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(b"{\"a\":1}\n").unwrap();
            e.finish().unwrap()
        };
        assert_eq!(first_unit(&mut d, &gz).unwrap(), "text {\"a\":1}\n");
        let z = {
            use std::io::Write as _;
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(b"zlib text").unwrap();
            e.finish().unwrap()
        };
        assert_eq!(first_unit(&mut d, &z).unwrap(), "text zlib text");
        // Text that happens to start like a zlib header stays text.
        assert_eq!(
            first_unit(&mut d, b"x\x9c not zlib").unwrap(),
            "text x\u{fffd} not zlib"
        );
        let cwl = br#"{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"s","subscriptionFilters":[],"logEvents":[{"id":"1","timestamp":1,"message":"m"}]}"#;
        assert_eq!(first_unit(&mut d, cwl).unwrap(), "cloudwatch 1");
    }

    #[test]
    fn kpl_aggregates_split_into_user_records() {
        let data = include_bytes!("../../tests/fixtures/kpl/plain-text-3.bin");
        let mut d = Decoder::new(1 << 20);
        let n = d
            .open(&base64::engine::general_purpose::STANDARD.encode(data))
            .unwrap();
        assert_eq!(n, 3);
        for i in 0..n {
            assert_eq!(d.sub_sequence(i), Some(i as u32));
            assert!(matches!(d.unit(i).unwrap(), Unit::Text(_)));
        }
    }
}
