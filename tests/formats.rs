//! Every producer format on one stream: a mixed batch with CloudWatch Logs payloads, KPL
//! aggregates (made by the official `aws-kinesis-agg` encoder, tests/fixtures/kpl), zlib and
//! gzip JSON lines, CloudFront real-time log lines, Apache lines behind a syslog prefix and
//! plain text — through the real handler into osmem. Every event is indexed exactly once, with
//! the fields of its format, and a replay indexes nothing new.

mod support;

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::time::Duration;

use serde_json::Value;
use support::*;

const DAY1: i64 = 1_795_305_600_000; // 2026-11-22T00:00:00Z
const BUDGET: Duration = Duration::from_secs(20);
/// The fields chosen in the distribution's real-time log configuration, listed in any order:
/// CloudFront writes them in AWS's documented order (…, cs-uri-stem, x-edge-location, …,
/// cs-user-agent, …, cs-uri-query), and so do the sample lines below.
const CLOUDFRONT_FIELDS: &str =
    "timestamp,c-ip,sc-status,cs-method,cs-uri-stem,cs-uri-query,cs-user-agent,x-edge-location";

fn zlib(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn kpl_fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/kpl/{name}.bin",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// Log events in the gzip CloudWatch payloads of a KPL fixture, read with flate2 and
/// serde_json straight from the fixture's manifest (independently of the forwarder).
fn kpl_cloudwatch_events(name: &str) -> usize {
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(format!(
            "{}/tests/fixtures/kpl/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    manifest["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            use base64::Engine as _;
            let gz = base64::engine::general_purpose::STANDARD
                .decode(r["data_base64"].as_str().unwrap())
                .unwrap();
            let mut json = String::new();
            flate2::read::MultiGzDecoder::new(&gz[..])
                .read_to_string(&mut json)
                .unwrap();
            let payload: Value = serde_json::from_str(&json).unwrap();
            payload["logEvents"].as_array().unwrap().len()
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_batch_of_every_format_ships_every_event_exactly_once() {
    let h = Harness::new("formats", &[("CLOUDFRONT_FIELDS", CLOUDFRONT_FIELDS)]).await;
    let cloudfront = "1795320000.123\t203.0.113.7\t200\tGET\t/img/a.png\tFRA56-C1\tMozilla/5.0%20(X11)\tsize=large&access_token=abcdefghijklmnopqrstuvwxyz123456\n\
                      1795320001.500\t2001:db8::7\t404\tGET\t/missing\tFRA56-C1\tcurl/8.0\t-\n";
    let apache = "<134>Nov 22 10:00:00 web-1 httpd[42]: 198.51.100.9 - alice [22/Nov/2026:10:00:00 +0000] \"GET /orders?page=2 HTTP/1.1\" 200 512 \"https://example.com/\" \"Mozilla/5.0\"\n\
                  198.51.100.10 - - [22/Nov/2026:11:00:00 +0100] \"POST /login HTTP/1.1\" 302 - \"-\" \"curl/8.0\"\n";
    let json_lines = "{\"time\":\"2026-11-22T08:00:00.250Z\",\"level\":\"info\",\"msg\":\"fluentd line 1\"}\n\
                      {\"ts\":1795320000,\"level\":\"warn\",\"msg\":\"fluentd line 2\",\"password\":\"hunter2-secret\"}\n";
    let text = "plain text line one\n\nplain text line two with Authorization: Bearer abcdefghijklmnop123456\n";
    let records = vec![
        cloudwatch_payload("/aws/lambda/orders", &events("cwl", 3, DAY1)),
        kpl_fixture("plain-text-3"),
        kpl_fixture("cloudwatch-gzip"),
        zlib(json_lines.as_bytes()),
        gzip(json_lines.replace("fluentd", "gzipped").as_bytes()),
        cloudfront.as_bytes().to_vec(),
        apache.as_bytes().to_vec(),
        text.as_bytes().to_vec(),
    ];
    let event = kinesis_event(&records);
    let kpl_cwl = kpl_cloudwatch_events("cloudwatch-gzip");
    let expected = 3 + 3 + kpl_cwl + 2 + 2 + 2 + 2 + 2;

    let (failed, summary) = h.invoke(&event, BUDGET).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(summary.poison_records, 0, "{summary:?}");
    assert_eq!(summary.events, expected);
    assert_eq!(summary.delivered, expected);
    assert_eq!(h.count().await, expected as u64);

    let docs = h.documents().await;
    let ids: std::collections::HashSet<_> = docs.iter().map(|d| d.1.clone()).collect();
    assert_eq!(ids.len(), expected, "ids are unique");
    let by_message = |needle: &str| -> Vec<&Value> {
        docs.iter()
            .map(|d| &d.2)
            .filter(|d| d["message"].as_str().unwrap_or_default().contains(needle))
            .collect()
    };
    let one = |needle: &str| -> &Value {
        let found = by_message(needle);
        assert_eq!(found.len(), 1, "{needle}: {found:?}");
        found[0]
    };

    // CloudFront: typed ECS fields; the query string's token masked before parsing.
    let cf = one("/img/a.png");
    assert_eq!(cf["@timestamp"], "2026-11-22T04:00:00.123Z");
    assert_eq!(cf["source"]["ip"], "203.0.113.7");
    assert_eq!(cf["http"]["response"]["status_code"], 200);
    assert_eq!(cf["http"]["request"]["method"], "GET");
    assert_eq!(cf["url"]["path"], "/img/a.png");
    assert!(
        cf["url"]["query"].as_str().unwrap().contains("[MASKED:"),
        "{cf}"
    );
    assert!(!serde_json::to_string(cf)
        .unwrap()
        .contains("abcdefghijklmnopqrstuvwxyz123456"));
    assert_eq!(cf["user_agent"]["original"], "Mozilla/5.0 (X11)");
    assert_eq!(cf["cloudfront"]["x_edge_location"], "FRA56-C1");
    assert!(cf.get("event").is_some() && cf["aws"]["kinesis"]["name"] == "app-logs");
    assert_eq!(one("/missing")["source"]["ip"], "2001:db8::7");

    // Apache behind a syslog prefix, and without one.
    let ap = one("/orders?page=2");
    assert_eq!(ap["source"]["ip"], "198.51.100.9");
    assert_eq!(ap["user"]["name"], "alice");
    assert_eq!(ap["http"]["response"]["status_code"], 200);
    assert_eq!(ap["host"]["hostname"], "web-1");
    assert_eq!(ap["@timestamp"], "2026-11-22T10:00:00.000Z");
    assert_eq!(one("POST /login")["@timestamp"], "2026-11-22T10:00:00.000Z");

    // JSON lines (zlib and gzip): fields under `json`, event time from the line, masked.
    let j = one("fluentd line 1");
    assert_eq!(j["json"]["level"], "info");
    assert_eq!(j["@timestamp"], "2026-11-22T08:00:00.250Z");
    let j2 = one("gzipped line 2");
    assert_eq!(j2["@timestamp"], "2026-11-22T04:00:00.000Z");
    assert_eq!(j2["json"]["password"], "[MASKED:password]");

    // Plain text: one document per non-blank line, masked; the arrival time as event time.
    let t = one("plain text line two");
    assert!(t["message"].as_str().unwrap().contains("Bearer [MASKED:"));
    assert_eq!(t["@timestamp"], "2026-11-22T04:00:00.500Z");

    // KPL user records: text, JSON and CloudWatch payloads, each knowing its sub-sequence.
    let kpl_text = one("GET /index.html 200 1043");
    assert_eq!(kpl_text["aws"]["kinesis"]["sub_sequence_number"], 0);
    assert_eq!(
        kpl_text["aws"]["kinesis"]["sequence_number"],
        sequence_number(1)
    );
    let kpl_json = one("user logged in");
    assert_eq!(kpl_json["json"]["user"], "u-42");
    assert_eq!(kpl_json["aws"]["kinesis"]["sub_sequence_number"], 1);
    let kpl_cwl_docs: Vec<_> = docs
        .iter()
        .filter(|d| d.2["aws"]["kinesis"]["sequence_number"] == sequence_number(2).as_str())
        .collect();
    assert_eq!(kpl_cwl_docs.len(), kpl_cwl);
    assert!(kpl_cwl_docs
        .iter()
        .all(|d| d.2["aws"]["cloudwatch"]["log_group"].is_string()
            && d.2["aws"]["kinesis"]["sub_sequence_number"].is_u64()));

    // CloudWatch events keep their own ids; every other line has a 22-character hash id.
    let mut lengths: HashMap<bool, usize> = HashMap::new();
    for (_, id, doc) in &docs {
        let cloudwatch = doc["aws"]["cloudwatch"].is_object();
        if !cloudwatch {
            assert_eq!(id.len(), 22, "{id}");
        }
        *lengths.entry(cloudwatch).or_default() += 1;
    }
    assert_eq!(lengths[&true], 3 + kpl_cwl);

    // Lambda replays the batch: the same ids, nothing new.
    let (failed, summary) = h.invoke(&event, BUDGET).await;
    assert!(failed.is_empty());
    assert_eq!(summary.already_present, expected);
    assert_eq!(h.count().await, expected as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_kpl_user_record_is_dead_lettered_alone() {
    let h = Harness::new("kpl-poison", &[]).await;
    // A valid aggregate whose second user record is binary (fixture binary-data: all 256
    // byte values), between good records.
    let event = kinesis_event(&[kpl_fixture("binary-data"), kpl_fixture("plain-text-3")]);
    let (failed, summary) = h.invoke(&event, BUDGET).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(summary.poison_records, 1);
    assert_eq!(summary.delivered, 3);
    let letters = h.dead_letters().await;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["error_type"], "binary_data");
    assert_eq!(letters[0]["source"]["sequence_number"], sequence_number(0));
    assert_eq!(letters[0]["source"]["sub_sequence_number"], 0);
}
