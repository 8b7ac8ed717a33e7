//! The committed sample events under `events/` decode to what their names promise.
//!
//! They are the inputs for `sam local invoke` and for people reading the repository, so a
//! sample that silently stopped exercising its case (a poison record that decodes, a data
//! record that is dead-lettered) would mislead everyone using it. The last test keeps them in
//! step with `scripts/make-events.py`.

use std::path::{Path, PathBuf};
use std::process::Command;

use log_forwarder::input::cloudwatch::MessageType;
use log_forwarder::input::{Decoder, KinesisEvent, Payload, Unit};

const STREAM_ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/log-forwarder";

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("events")
}

fn load(name: &str) -> KinesisEvent {
    let path = events_dir().join(name);
    let bytes =
        std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{} is not a Kinesis event: {e}", path.display()))
}

fn decoder() -> Decoder {
    Decoder::new(16 << 20)
}

/// What a record decodes to: `Ok((messageType, event count))` or `Err(DecodeError::kind())`.
fn outcome(decoder: &mut Decoder, data: &str) -> Result<(MessageType, usize), &'static str> {
    decoder.open(data).map_err(|e| e.kind())?;
    match decoder.unit(0).map_err(|e| e.kind())? {
        Unit::CloudWatch(p) => Ok((p.message_type, p.log_events.len())),
        Unit::Text(_) => Err("text"),
    }
}

/// The CloudWatch payload of a single-unit record.
fn payload<'d>(decoder: &'d mut Decoder, data: &str) -> Payload<'d> {
    decoder.open(data).expect("record opens");
    match decoder.unit(0).expect("record decodes") {
        Unit::CloudWatch(p) => p,
        Unit::Text(_) => panic!("expected a CloudWatch payload"),
    }
}

#[test]
fn every_sample_has_the_lambda_record_shape() {
    let mut names: Vec<_> = std::fs::read_dir(events_dir())
        .expect("events/ exists")
        .map(|entry| entry.expect("readable entry").file_name())
        .filter_map(|name| name.into_string().ok())
        .filter(|name| name.ends_with(".json"))
        .collect();
    names.sort();
    assert!(
        names.len() >= 3,
        "expected the generated samples, found {names:?}"
    );
    for name in &names {
        let event = load(name);
        assert!(!event.records.is_empty(), "{name}: no records");
        let mut previous: Option<&str> = None;
        for (i, record) in event.records.iter().enumerate() {
            let sequence = record.kinesis.sequence_number.as_str();
            assert_eq!(sequence.len(), 56, "{name}[{i}]: sequence number length");
            assert!(sequence.bytes().all(|b| b.is_ascii_digit()), "{name}[{i}]");
            // Equal-length decimal strings order like the numbers they spell.
            if let Some(previous) = previous {
                assert!(
                    previous < sequence,
                    "{name}[{i}]: sequence numbers must increase"
                );
            }
            previous = Some(sequence);
            assert_eq!(
                record.event_id,
                format!("shardId-000000000000:{sequence}"),
                "{name}[{i}]"
            );
            assert_eq!(record.event_source_arn, STREAM_ARN, "{name}[{i}]");
            assert_eq!(record.aws_region, "us-east-1", "{name}[{i}]");
            assert!(!record.kinesis.partition_key.is_empty(), "{name}[{i}]");
            assert!(
                record.kinesis.approximate_arrival_timestamp.is_some(),
                "{name}[{i}]"
            );
            let source = record.source();
            assert_eq!(source.stream_name, "log-forwarder");
            assert_eq!(source.shard_id, "shardId-000000000000");
        }
    }
}

#[test]
fn data_sample_holds_two_data_messages() {
    let event = load("cloudwatch-data.json");
    assert_eq!(event.records.len(), 2);
    let mut decoder = decoder();
    let mut groups = Vec::new();
    let mut counts = Vec::new();
    let mut ids = Vec::new();
    let mut app_log = None;
    for record in &event.records {
        let payload = payload(&mut decoder, &record.kinesis.data);
        assert_eq!(payload.message_type, MessageType::Data);
        assert_eq!(payload.owner, "123456789012");
        assert!(!payload.log_stream.is_empty());
        groups.push(payload.log_group.to_string());
        counts.push(payload.log_events.len());
        for e in &payload.log_events {
            assert!(!e.id_is_number(), "AWS sends ids as strings");
            assert_eq!(e.id_text().len(), 56, "{}", e.id_text());
            ids.push(e.id_text().to_owned());
            let message: String = serde_json::from_str(e.message.get()).expect("message text");
            if message.contains("order placed") {
                app_log = Some(message);
            }
        }
    }
    assert_eq!(
        groups,
        ["/aws/lambda/checkout-api", "/aws/apigateway/access-logs"]
    );
    assert_eq!(counts, [7, 2]);
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "event ids must be unique");

    // The JSON app log is what exercises JSON_FIELD: it must be an object, not just text.
    let app_log = app_log.expect("a JSON app-log event");
    let fields: serde_json::Value = serde_json::from_str(&app_log).expect("app log is JSON");
    assert_eq!(fields["level"], "info");
    assert_eq!(fields["msg"], "order placed");
    assert_eq!(fields["order_id"], "o-123");
    assert_eq!(fields["latency_ms"], 41);
}

#[test]
fn control_sample_is_a_control_message() {
    let event = load("cloudwatch-control.json");
    assert_eq!(event.records.len(), 1);
    let mut decoder = decoder();
    let payload = payload(&mut decoder, &event.records[0].kinesis.data);
    assert_eq!(payload.message_type, MessageType::Control);
    assert_eq!(payload.owner, "CloudwatchLogs");
}

#[test]
fn poison_sample_has_two_bad_records_between_good_ones() {
    let event = load("poison-record.json");
    let mut decoder = decoder();
    let outcomes: Vec<_> = event
        .records
        .iter()
        .map(|r| outcome(&mut decoder, &r.kinesis.data))
        .collect();
    assert_eq!(
        outcomes,
        [
            Ok((MessageType::Data, 2)),
            Err("invalid_gzip"),
            Err("invalid_cloudwatch_payload"),
            Ok((MessageType::Data, 1)),
        ]
    );
}

#[test]
fn committed_events_match_the_generator() {
    let output = Command::new("python3")
        .args(["scripts/make-events.py", "--check"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("python3 is needed to check events/ against scripts/make-events.py");
    assert!(
        output.status.success(),
        "events/ is stale ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
