//! The committed sample events under `events/` decode to what their names promise.
//!
//! They are the inputs for `cargo lambda invoke`, `make demo` and people reading the
//! repository, so a sample that silently stopped exercising its case (a poison record that
//! decodes, a data record that is dead-lettered, a CloudFront line read as plain text) would
//! mislead everyone using it. One test per file checks what its records decode to; one runs
//! every file through the real encoder and checks the documents; the last keeps them in step
//! with `scripts/make-events.py`.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use serde_json::Value;

use log_forwarder::config::DestinationConfig;
use log_forwarder::encoder::Encoder;
use log_forwarder::input::cloudfront::CloudFrontFormat;
use log_forwarder::input::cloudwatch::MessageType;
use log_forwarder::input::{Decoder, KinesisEvent, Payload, Unit};
use log_forwarder::mask::Masker;
use log_forwarder::output::auth::Authenticator;
use log_forwarder::output::elasticsearch::Elasticsearch;
use log_forwarder::{Config, Summary};

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

/// What one unit (a record, or a KPL user record) decodes to, in a form tests can compare.
#[derive(Debug, Clone, PartialEq)]
enum Decoded {
    /// Log group and the messages of a CloudWatch Logs payload.
    CloudWatch(String, Vec<String>),
    Text(String),
}

/// Every unit of every record of `name`: (record index, KPL sub-sequence, what it decodes to).
fn decode_all(name: &str) -> Vec<(usize, Option<u32>, Decoded)> {
    let event = load(name);
    let mut decoder = decoder();
    let mut out = Vec::new();
    for (i, record) in event.records.iter().enumerate() {
        let units = decoder
            .open(&record.kinesis.data)
            .unwrap_or_else(|e| panic!("{name}[{i}]: {e}"));
        for u in 0..units {
            let sub = decoder.sub_sequence(u);
            let decoded = match decoder
                .unit(u)
                .unwrap_or_else(|e| panic!("{name}[{i}/{u}]: {e}"))
            {
                Unit::CloudWatch(p) => Decoded::CloudWatch(
                    p.log_group.to_string(),
                    p.log_events
                        .iter()
                        .map(|e| serde_json::from_str(e.message.get()).expect("message text"))
                        .collect(),
                ),
                Unit::Text(t) => Decoded::Text(String::from_utf8(t.to_vec()).expect("UTF-8 text")),
            };
            out.push((i, sub, decoded));
        }
    }
    out
}

fn text(decoded: &Decoded) -> &str {
    match decoded {
        Decoded::Text(t) => t,
        Decoded::CloudWatch(group, _) => {
            panic!("expected text, got a CloudWatch payload of {group}")
        }
    }
}

/// The non-blank lines of a text unit, as the encoder splits them.
fn lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.trim().is_empty()).collect()
}

/// The bytes of record `i` after base64 (before any inflation).
fn raw_record(name: &str, i: usize) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(&load(name).records[i].kinesis.data)
        .expect("base64")
}

fn kpl_manifest(fixture: &str) -> Vec<Vec<u8>> {
    let path = format!(
        "{}/tests/fixtures/kpl/{fixture}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let manifest: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    manifest["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            base64::engine::general_purpose::STANDARD
                .decode(r["data_base64"].as_str().unwrap())
                .unwrap()
        })
        .collect()
}

fn kpl_fixture_bytes(fixture: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/kpl/{fixture}.bin",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// The 0-based column of a CloudFront field in AWS's order (the default `CLOUDFRONT_FIELDS`).
fn cloudfront_column(field: &str) -> usize {
    CloudFrontFormat::aws_field_names()
        .position(|f| f == field)
        .unwrap_or_else(|| panic!("no CloudFront field {field}"))
}

#[test]
fn kpl_sample_carries_the_committed_aggregates() {
    let name = "kpl-aggregated.json";
    // The record bytes are the fixtures made by aws-kinesis-agg, not a re-encoding.
    for (i, fixture) in ["plain-text-3", "cloudwatch-gzip", "explicit-hash-key"]
        .iter()
        .enumerate()
    {
        assert_eq!(
            raw_record(name, i),
            kpl_fixture_bytes(fixture),
            "{name}[{i}]"
        );
    }
    let units = decode_all(name);
    let shape: Vec<(usize, Option<u32>)> = units.iter().map(|(r, s, _)| (*r, *s)).collect();
    assert_eq!(
        shape,
        [
            (0, Some(0)),
            (0, Some(1)),
            (0, Some(2)),
            (1, Some(0)),
            (1, Some(1)),
            (2, Some(0)),
            (2, Some(1)),
            (2, Some(2)),
            (2, Some(3)),
        ]
    );
    // Text user records are exactly the fixture's manifest.
    let plain = kpl_manifest("plain-text-3");
    for (sub, data) in plain.iter().enumerate() {
        assert_eq!(text(&units[sub].2).as_bytes(), data.as_slice());
    }
    let orders = kpl_manifest("explicit-hash-key");
    for (sub, data) in orders.iter().enumerate() {
        assert_eq!(text(&units[5 + sub].2).as_bytes(), data.as_slice());
    }
    // gzip'ed CloudWatch payloads inside the aggregate.
    let cwl: Vec<_> = units[3..5]
        .iter()
        .map(|(_, _, d)| match d {
            Decoded::CloudWatch(group, messages) => (group.as_str(), messages.len()),
            Decoded::Text(t) => panic!("expected a CloudWatch payload: {t}"),
        })
        .collect();
    assert_eq!(
        cwl,
        [
            ("/aws/lambda/checkout-api", 4),
            ("/aws/apigateway/access-logs", 1)
        ]
    );
}

#[test]
fn cloudfront_sample_lines_carry_every_default_field_in_aws_order() {
    let units = decode_all("cloudfront-realtime.json");
    let per_record: Vec<usize> = units.iter().map(|(_, _, d)| lines(text(d)).len()).collect();
    assert_eq!(per_record, [2, 1, 1, 1], "one record holds two lines");
    let all: Vec<Vec<&str>> = units
        .iter()
        .flat_map(|(_, _, d)| lines(text(d)))
        .map(|l| l.split('\t').collect())
        .collect();
    let fields = CloudFrontFormat::aws_default().field_count();
    assert_eq!(fields, 71);
    for line in &all {
        assert_eq!(line.len(), fields, "{line:?}");
        assert!(
            line.iter().all(|v| !v.is_empty()),
            "absent is `-`: {line:?}"
        );
        assert!(CloudFrontFormat::aws_default().matches(&line.join("\t")));
    }
    // The columns line up with AWS's order (the generator's list agrees with ours).
    let column = |field: &str| -> Vec<&str> {
        let c = cloudfront_column(field);
        all.iter().map(|l| l[c]).collect()
    };
    assert_eq!(column("sc-status"), ["200", "304", "404", "200", "200"]);
    assert_eq!(
        column("x-edge-result-type"),
        ["Hit", "Hit", "Error", "Miss", "Miss"]
    );
    assert_eq!(
        column("c-ip-version"),
        ["IPv4", "IPv6", "IPv4", "IPv4", "IPv4"]
    );
    assert_eq!(column("cs-method"), ["GET", "GET", "GET", "GET", "POST"]);
    assert_eq!(column("cmcd-version"), ["-", "-", "-", "1", "-"]);
    assert!(column("cs-uri-query")[0].contains("access_token="));
    assert!(column("cs-user-agent")[0].contains("%20"), "URL-encoded");
    assert_eq!(
        column("viewer-response-log-data"),
        ["-", "-", "-", "-", "-"],
        "the last field"
    );
}

#[test]
fn json_lines_sample_holds_fluentd_fastly_and_generic_objects() {
    let name = "json-lines.json";
    // Fluentd's `compression zlib`: a zlib stream (RFC 1950 header 0x78).
    assert_eq!(raw_record(name, 0)[0], 0x78);
    let units = decode_all(name);
    let objects: Vec<Vec<Value>> = units
        .iter()
        .map(|(_, _, d)| {
            lines(text(d))
                .iter()
                .map(|l| serde_json::from_str::<Value>(l).expect("a JSON object per line"))
                .collect()
        })
        .collect();
    let counts: Vec<usize> = objects.iter().map(Vec::len).collect();
    assert_eq!(counts, [2, 1, 1, 1, 1]);
    assert!(objects.iter().flatten().all(Value::is_object));
    assert_eq!(objects[0][0]["time"], "2026-11-22T10:00:06.250413777Z");
    assert_eq!(objects[0][1]["password"], "hunter2-Winter!");
    assert_eq!(objects[1][0]["ident"], "sshd");
    assert_eq!(objects[2][0]["timestamp"], "2026-11-22T10:00:07+0000");
    assert_eq!(objects[3][0]["response_status"], 503);
    assert_eq!(objects[4][0]["ts"], 1_795_341_608_321_i64);
}

#[test]
fn apache_sample_holds_fastly_syslog_and_plain_combined_lines() {
    let units = decode_all("apache-access.json");
    let all: Vec<Vec<&str>> = units.iter().map(|(_, _, d)| lines(text(d))).collect();
    assert_eq!(all.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2]);
    for line in &all[0] {
        assert!(
            line.starts_with("<134>2026-11-22T10:00:08Z cache-fra-etou8220045 shop-logs[367]: "),
            "{line}"
        );
    }
    assert!(all[0][1].contains("access_token="));
    assert!(all[1][0].starts_with("192.0.2.10 - alice [22/Nov/2026:11:00:09 +0100] \"POST"));
    assert!(all[1][1].starts_with("2001:db8::1f - - "));
}

#[test]
fn plain_text_sample_has_blank_lines_and_a_bearer_token() {
    let units = decode_all("plain-text.json");
    let texts: Vec<&str> = units.iter().map(|(_, _, d)| text(d)).collect();
    assert_eq!(texts[0].lines().count(), 5);
    assert_eq!(lines(texts[0]).len(), 3, "two blank lines");
    assert!(texts[0].contains("Authorization: Bearer "));
    assert!(!texts[1].ends_with('\n'));
}

#[test]
fn lambda_platform_sample_has_every_platform_line() {
    let units = decode_all("lambda-platform.json");
    let payloads: Vec<(&str, &Vec<String>)> = units
        .iter()
        .map(|(_, _, d)| match d {
            Decoded::CloudWatch(group, messages) => (group.as_str(), messages),
            Decoded::Text(t) => panic!("expected a CloudWatch payload: {t}"),
        })
        .collect();
    let groups: Vec<&str> = payloads.iter().map(|p| p.0).collect();
    assert_eq!(
        groups,
        [
            "/aws/lambda/image-resizer",
            "/aws/lambda/image-resizer",
            "/aws/lambda/orders-json"
        ]
    );
    let first_words: Vec<Vec<&str>> = payloads
        .iter()
        .map(|(_, messages)| {
            messages
                .iter()
                .map(|m| m.split([' ', '\t']).next().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(
        first_words[..2],
        [
            vec![
                "INIT_START",
                "START",
                "2026-11-22T10:00:12.530Z",
                "END",
                "REPORT"
            ],
            vec!["INIT_START", "INIT_REPORT"],
        ]
    );
    assert!(payloads[0].1[4].contains("\tInit Duration: 401.33 ms\t"));
    // JSON log format: platform records start with time then type, as Lambda writes them.
    let types: Vec<Value> = payloads[2]
        .1
        .iter()
        .map(|m| {
            assert!(
                m.starts_with(r#"{"time":""#) || m.starts_with(r#"{"timestamp":""#),
                "{m}"
            );
            serde_json::from_str::<Value>(m).unwrap()["type"].clone()
        })
        .collect();
    assert_eq!(
        types,
        [
            Value::from("platform.initStart"),
            Value::from("platform.start"),
            Value::Null,
            Value::from("platform.report")
        ]
    );
}

#[test]
fn mixed_batch_holds_a_record_of_every_format() {
    let name = "mixed-batch.json";
    let units = decode_all(name);
    let fields = CloudFrontFormat::aws_default();
    let mut kinds: Vec<(usize, &str)> = Vec::new();
    for (record, sub, decoded) in &units {
        let kind = match (sub, decoded) {
            (Some(_), _) => "kpl",
            (None, Decoded::CloudWatch(group, _)) if group == "/aws/lambda/orders-json" => {
                "lambda-json"
            }
            (None, Decoded::CloudWatch(..)) => "cloudwatch",
            (None, Decoded::Text(t)) if fields.matches(lines(t)[0]) => "cloudfront",
            (None, Decoded::Text(t)) if t.starts_with("{\"log\"") => "fluentd",
            (None, Decoded::Text(t)) if t.starts_with("{\"timestamp\"") => "fastly-json",
            (None, Decoded::Text(t)) if t.starts_with("<134>") => "apache",
            (None, Decoded::Text(_)) => "text",
        };
        kinds.push((*record, kind));
    }
    kinds.dedup();
    assert_eq!(
        kinds,
        [
            (0, "cloudwatch"),
            (1, "kpl"),
            (2, "cloudfront"),
            (3, "fluentd"),
            (4, "fastly-json"),
            (5, "apache"),
            (6, "text"),
            (7, "lambda-json"),
        ]
    );
    assert_eq!(raw_record(name, 1), kpl_fixture_bytes("plain-text-3"));
    assert_eq!(raw_record(name, 3)[0], 0x78, "zlib");
}

// ---------------------------------------------------------------------------------------------
// Every sample through the real encoder

/// Secrets in the samples (fake, correctly shaped) that must never reach a request body.
const SECRETS: &[&str] = &[
    "ya29.a0AfB_byC3xq9Lr7Tn2VwZ5kP8sM4dJ6hG1eF0cB",
    "hunter2-Winter!",
    "eyJ0b2tlbiI6InNhbXBsZSJ9Lm5vdC1hLXJlYWwtdG9rZW4",
    "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
    "4111 1111 1111 1111",
    "ak-demo-7f3a9c2e1b5d",
];

/// One indexed document: the `_id` of its action line and the document.
struct Doc {
    id: Option<String>,
    doc: Value,
}

/// What encoding one sample produced.
struct Encoded {
    summary: Summary,
    docs: Vec<Doc>,
    letters: usize,
}

fn encode(encoder: &mut Encoder, destination: &Elasticsearch, name: &str) -> Encoded {
    let event = load(name);
    let mut summary = Summary::default();
    let mut letters = Vec::new();
    let mut bodies = Vec::new();
    encoder.encode(&event, destination, &mut summary, &mut letters, |chunk| {
        bodies.push(chunk.body.to_vec());
    });
    let mut docs = Vec::new();
    for body in &bodies {
        let body = std::str::from_utf8(body).expect("UTF-8 body");
        for secret in SECRETS {
            assert!(!body.contains(secret), "{name}: `{secret}` was not masked");
        }
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(lines.len() % 2, 0, "{name}: action and document lines");
        for pair in lines.chunks(2) {
            let action: Value = serde_json::from_str(pair[0]).expect("action line");
            let create = &action["create"];
            assert!(create["_index"].is_string(), "{name}: {action}");
            let doc: Value = serde_json::from_str(pair[1]).expect("document line");
            docs.push(Doc {
                id: create["_id"].as_str().map(str::to_owned),
                doc,
            });
        }
    }
    for letter in &letters {
        for secret in SECRETS {
            assert!(
                !letter.body.contains(secret),
                "{name}: `{secret}` in a dead letter"
            );
        }
    }
    Encoded {
        summary,
        docs,
        letters: letters.len(),
    }
}

/// The documents whose `message` contains `needle`; exactly one is expected.
fn one<'a>(docs: &'a [Doc], needle: &str) -> &'a Value {
    let found: Vec<&Value> = docs
        .iter()
        .map(|d| &d.doc)
        .filter(|d| d["message"].as_str().unwrap_or_default().contains(needle))
        .collect();
    assert_eq!(found.len(), 1, "{needle}: {found:?}");
    found[0]
}

fn column<'a>(docs: &'a [Doc], path: &[&str]) -> Vec<&'a Value> {
    docs.iter()
        .map(|d| path.iter().fold(&d.doc, |v, k| &v[*k]))
        .collect()
}

#[test]
fn every_sample_encodes_to_the_expected_documents() {
    let config = Config::from_lookup(|name| match name {
        // Nothing is sent: encoding never touches the network.
        "ES_ENDPOINT" => Some("http://127.0.0.1:9".to_owned()),
        "DLQ_QUEUE_URL" => Some("http://127.0.0.1:9/q".to_owned()),
        _ => None,
    })
    .expect("configuration");
    let DestinationConfig::Elasticsearch(es) = &config.destination else {
        unreachable!("configured Elasticsearch")
    };
    let destination =
        Elasticsearch::new(es, &config.output, Authenticator::None).expect("destination");
    let masker = Arc::new(Masker::new(&config.mask).expect("default masking rules"));
    let mut encoder = Encoder::new(&config, config.dlq_max_message_bytes, masker);

    // (file, events, poison records); every file in events/ must be listed.
    let expected: BTreeMap<&str, (usize, usize)> = [
        ("cloudwatch-data.json", (9, 0)),
        ("cloudwatch-control.json", (0, 0)),
        ("poison-record.json", (3, 2)),
        ("kpl-aggregated.json", (3 + 5 + 4, 0)),
        ("cloudfront-realtime.json", (5, 0)),
        ("json-lines.json", (2 + 1 + 1 + 1 + 1, 0)),
        ("apache-access.json", (4, 0)),
        ("plain-text.json", (4, 0)),
        ("lambda-platform.json", (5 + 2 + 4, 0)),
        ("mixed-batch.json", (7 + 3 + 1 + 2 + 1 + 1 + 3 + 4, 0)),
    ]
    .into_iter()
    .collect();
    let mut on_disk: Vec<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    on_disk.sort();
    assert_eq!(
        on_disk,
        expected.keys().map(|k| k.to_string()).collect::<Vec<_>>(),
        "a sample without expectations (or a missing sample)"
    );

    let mut all_ids = HashSet::new();
    let mut out: BTreeMap<&str, Vec<Doc>> = BTreeMap::new();
    for (&name, &(events, poison)) in &expected {
        let encoded = encode(&mut encoder, &destination, name);
        let s = &encoded.summary;
        assert_eq!(s.poison_records, poison, "{name}: poison records");
        assert_eq!(encoded.letters, poison, "{name}: dead letters");
        assert_eq!(s.events, events, "{name}: events");
        assert_eq!(encoded.docs.len(), events, "{name}: documents");
        assert_eq!(s.truncated, 0, "{name}");
        for d in &encoded.docs {
            let id = d.id.clone().expect("documents carry ids");
            assert_eq!(d.doc["event"]["id"], id.as_str(), "{name}");
            // Loading every sample into one index (make demo) keeps every document.
            assert!(
                all_ids.insert(id.clone()),
                "{name}: id {id} used twice in events/"
            );
        }
        out.insert(name, encoded.docs);
    }
    assert_eq!(
        encode(&mut encoder, &destination, "cloudwatch-control.json")
            .summary
            .control_messages,
        1
    );

    // CloudFront: typed ECS fields from all 71 columns; the token masked before parsing.
    let cf = &out["cloudfront-realtime.json"];
    assert_eq!(
        column(cf, &["http", "response", "status_code"]),
        [200, 304, 404, 200, 200]
    );
    assert_eq!(
        column(cf, &["cloudfront", "x_edge_result_type"]),
        ["Hit", "Hit", "Error", "Miss", "Miss"]
    );
    let hit = one(cf, "/assets/app.3f9c2e.js");
    assert_eq!(hit["@timestamp"], "2026-11-22T10:00:03.125Z");
    assert_eq!(hit["source"]["ip"], "203.0.113.42");
    assert_eq!(hit["url"]["path"], "/assets/app.3f9c2e.js");
    assert_eq!(hit["url"]["query"], "v=3&access_token=[MASKED:token]");
    assert_eq!(hit["http"]["request"]["method"], "GET");
    assert_eq!(hit["tls"]["version"], "1.3");
    assert_eq!(hit["client"]["geo"]["country_iso_code"], "DE");
    assert!(
        hit["user_agent"]["original"]
            .as_str()
            .unwrap()
            .starts_with("Mozilla/5.0 (Windows NT 10.0; Win64; x64)"),
        "{hit}"
    );
    assert_eq!(hit["cloudfront"]["x_edge_location"], "FRA56-P3");
    let ipv6 = one(cf, "/images/logo.svg");
    assert_eq!(ipv6["source"]["ip"], "2001:db8:4006:812::200e");
    assert_eq!(ipv6["network"]["type"], "ipv6");
    let video = one(cf, "seg_00042.m4s");
    assert_eq!(video["cloudfront"]["cmcd_version"], 1);
    assert_eq!(video["cloudfront"]["cmcd_buffer_starvation"], false);
    assert!(cf
        .iter()
        .all(|d| d.doc["cloudfront"].get("unparsed").is_none()));

    // Apache/NCSA: behind Fastly's syslog header and plain.
    let ap = &out["apache-access.json"];
    assert_eq!(
        column(ap, &["source", "ip"]),
        [
            "198.51.100.23",
            "203.0.113.42",
            "192.0.2.10",
            "2001:db8::1f"
        ]
    );
    assert_eq!(
        column(ap, &["http", "response", "status_code"]),
        [200, 302, 302, 404]
    );
    let fastly = one(ap, "/products/42?ref=newsletter");
    assert_eq!(fastly["host"]["hostname"], "cache-fra-etou8220045");
    assert_eq!(fastly["process"]["name"], "shop-logs");
    assert_eq!(fastly["process"]["pid"], 367);
    assert_eq!(fastly["@timestamp"], "2026-11-22T10:00:08.000Z");
    let oauth = one(ap, "/oauth/callback");
    assert!(
        oauth["url"]["query"]
            .as_str()
            .unwrap()
            .contains("access_token=[MASKED:token]"),
        "{oauth}"
    );
    let alice = one(ap, "POST /account/login");
    assert_eq!(alice["user"]["name"], "alice");
    assert_eq!(
        alice["@timestamp"], "2026-11-22T10:00:09.000Z",
        "+0100 applied"
    );

    // JSON lines: fields under `json`, time from the object, secrets masked.
    let js = &out["json-lines.json"];
    assert!(js.iter().all(|d| d.doc["json"].is_object()));
    let health = one(js, "GET /healthz");
    assert_eq!(health["json"]["kubernetes"]["container_name"], "checkout");
    assert_eq!(health["@timestamp"], "2026-11-22T10:00:06.250Z");
    assert_eq!(
        one(js, "login failed")["json"]["password"],
        "[MASKED:password]"
    );
    assert_eq!(one(js, "sshd")["@timestamp"], "2026-11-22T10:00:07.000Z");
    let stock = one(js, "/api/stock");
    assert_eq!(stock["json"]["response_status"], 503);
    assert_eq!(stock["@timestamp"], "2026-11-22T10:00:08.000Z");
    assert_eq!(
        one(js, "payment declined")["@timestamp"],
        "2026-11-22T10:00:08.321Z"
    );

    // Plain text: one document per non-blank line, masked.
    let pt = &out["plain-text.json"];
    assert!(pt.iter().all(|d| d.doc.get("json").is_none()
        && d.doc.get("http").is_none()
        && !d.doc["message"].as_str().unwrap().trim().is_empty()));
    // Text carries no time the forwarder reads: the record's arrival is the event time.
    assert_eq!(
        one(pt, "Started Application")["@timestamp"],
        "2026-11-22T10:01:37.900Z"
    );
    assert!(one(pt, "request headers")["message"]
        .as_str()
        .unwrap()
        .contains("Authorization: Bearer [MASKED:"));

    // KPL: every document knows its user record.
    let kpl = &out["kpl-aggregated.json"];
    let subs: Vec<(String, u64)> = kpl
        .iter()
        .map(|d| {
            let k = &d.doc["aws"]["kinesis"];
            (
                k["sequence_number"].as_str().unwrap().to_owned(),
                k["sub_sequence_number"]
                    .as_u64()
                    .expect("sub_sequence_number"),
            )
        })
        .collect();
    let seqs: Vec<String> = load("kpl-aggregated.json")
        .records
        .iter()
        .map(|r| r.kinesis.sequence_number.clone())
        .collect();
    let expected_subs: Vec<(String, u64)> = [
        (0, 0),
        (0, 1),
        (0, 2),
        (1, 0),
        (1, 0),
        (1, 0),
        (1, 0),
        (1, 1),
        (2, 0),
        (2, 1),
        (2, 2),
        (2, 3),
    ]
    .iter()
    .map(|&(r, s)| (seqs[r].clone(), s))
    .collect();
    assert_eq!(subs, expected_subs);
    assert_eq!(one(kpl, "user logged in")["json"]["user"], "u-42");
    assert!(
        one(kpl, "order placed")["aws"]["cloudwatch"]["log_group"] == "/aws/lambda/checkout-api"
    );

    // Lambda platform lines: CloudWatch events of /aws/lambda/* groups; JSON-format records
    // parsed under `json`.
    let lp = &out["lambda-platform.json"];
    let report = one(lp, "REPORT RequestId: b3d5f7a9");
    assert_eq!(
        report["aws"]["cloudwatch"]["log_group"],
        "/aws/lambda/image-resizer"
    );
    let json_report = one(lp, "\"platform.report\"");
    assert_eq!(
        json_report["json"]["record"]["metrics"]["initDurationMs"],
        286.91
    );
    assert_eq!(json_report["@timestamp"], "2026-11-22T10:00:14.536Z");
    // …and their fields under `aws.lambda`, for charts of durations and memory.
    let lambda = &report["aws"]["lambda"];
    assert_eq!(lambda["function"]["name"], "image-resizer");
    assert_eq!(lambda["platform_event"], "report");
    assert!(lambda["duration_ms"].is_number() && lambda["max_memory_used_mb"].is_number());
    assert_eq!(json_report["aws"]["lambda"]["init_duration_ms"], 286.91);
    assert!(lp
        .iter()
        .all(|d| d.doc["aws"]["lambda"]["function"]["name"].is_string()));

    // The mixed batch: every format's fields at once.
    let mixed = &out["mixed-batch.json"];
    let has = |path: &[&str]| {
        mixed
            .iter()
            .filter(|d| !path.iter().fold(&d.doc, |v, k| &v[*k]).is_null())
            .count()
    };
    assert_eq!(has(&["cloudfront"]), 1);
    assert_eq!(has(&["process", "name"]), 1, "the Apache line");
    assert_eq!(has(&["aws", "kinesis", "sub_sequence_number"]), 3);
    assert_eq!(has(&["aws", "cloudwatch"]), 7 + 4);
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
