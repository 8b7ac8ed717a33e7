//! The real handler against osmem-server (behind the fault proxy) and moto's SQS.
//!
//! Every test checks where each event ended: indexed (counted in osmem), dead-lettered (read
//! back from SQS) or handed back (batch item failures) — and that no event is in two places.

mod support;

use std::time::Duration;

use base64::Engine as _;
use support::proxy::{ItemFault, RequestFault};
use support::*;

const DAY1: i64 = 1_795_305_600_000; // 2026-11-22T00:00:00Z
const DAY2: i64 = DAY1 + 86_400_000;
const BUDGET: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_is_indexed_once_and_a_replay_creates_nothing() {
    let h = Harness::new("exactly-once", &[]).await;
    let mut json_events = events("json", 1, DAY1);
    json_events[0].message =
        r#"{"level":"warn","msg":"slow \"query\"","latency_ms":1200,"@timestamp":"bogus","message":{"x":1}}"#.to_owned();
    let event = kinesis_event(&[
        cloudwatch_payload("/aws/lambda/orders", &events("a", 5, DAY1)),
        cloudwatch_payload("/aws/lambda/orders", &events("b", 7, DAY1)),
        cloudwatch_payload("/aws/lambda/billing", &json_events),
    ]);

    let (failed, summary) = h.invoke(&event, BUDGET).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(summary.events, 13);
    assert_eq!(summary.delivered, 13);
    assert_eq!(summary.dead_lettered, 0);
    assert_eq!(h.count().await, 13);

    let docs = h.documents().await;
    let (index, id, doc) = docs
        .iter()
        .find(|d| d.1 == "a-0002")
        .expect("a-0002 indexed");
    assert_eq!(index, &format!("{}-2026.11.22", h.index));
    assert_eq!(id, "a-0002");
    assert_eq!(doc["@timestamp"], "2026-11-22T00:00:00.002Z");
    assert_eq!(doc["message"], "a line 2: GET /orders/2 200 \"ok\"\t12ms");
    assert_eq!(doc["event"]["id"], "a-0002");
    assert!(doc["event"]["ingested"].as_str().unwrap().ends_with('Z'));
    assert_eq!(doc["aws"]["cloudwatch"]["log_group"], "/aws/lambda/orders");
    assert_eq!(doc["aws"]["kinesis"]["name"], "app-logs");
    assert_eq!(doc["aws"]["kinesis"]["shard_id"], SHARD);
    assert_eq!(doc["aws"]["kinesis"]["sequence_number"], sequence_number(0));
    assert_eq!(doc["cloud"]["provider"], "aws");
    assert_eq!(doc["cloud"]["account"]["id"], "123456789012");
    assert_eq!(doc["cloud"]["region"], "eu-west-1");
    let (_, _, json_doc) = docs.iter().find(|d| d.1 == "json-0000").unwrap();
    assert_eq!(json_doc["json"]["latency_ms"], 1200);
    assert_eq!(json_doc["json"]["msg"], "slow \"query\"");
    // The message's own "@timestamp" and "message" stay inside `json`.
    assert_eq!(json_doc["@timestamp"], "2026-11-22T00:00:00.000Z");
    assert_eq!(json_doc["json"]["message"]["x"], 1);

    // Lambda retries a batch from the failed record on; replaying it must change nothing.
    let (failed, replay) = h.invoke(&event, BUDGET).await;
    assert!(failed.is_empty());
    assert_eq!(replay.already_present, 13);
    assert_eq!(replay.delivered, 0);
    assert_eq!(h.count().await, 13);
    assert!(h.dead_letters().await.is_empty());

    let bulk = h.proxy.bulk_requests();
    assert_eq!(bulk[0].method, "POST");
    assert_eq!(bulk[0].header("content-type"), Some("application/x-ndjson"));
    assert!(String::from_utf8_lossy(&bulk[0].body).starts_with("{\"create\":{\"_index\":"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_records_are_dead_lettered_and_the_rest_ships() {
    let h = Harness::new("poison", &[]).await;
    let garbage_gzip = vec![
        0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
    ];
    let mut records = vec![
        record_json(0, &b64(&cloudwatch_payload("/g", &events("ok1", 3, DAY1)))),
        record_json(1, &b64(&garbage_gzip)),
        record_json(2, &b64(&[0x00, 0x01, 0x02, 0xff, 0xfe, 0x80, 0x00])),
        record_json(
            3,
            &b64(&gzip(
                b"{\"messageType\": \"DATA_MESSAGE\", \"logEvents\": [{\"id\": ",
            )),
        ),
        record_json(4, "!!! not base64 !!!"),
        record_json(5, &b64(&gzip(&[0xff, 0xfe, 0x00, 0x80]))),
        record_json(6, &b64(&cloudwatch_payload("/g", &events("ok2", 2, DAY1)))),
    ];
    records.push(record_json(7, &b64(&control_payload())));
    // Text and JSON that are not subscription payloads are records of their own, not poison.
    records.push(record_json(8, &b64(b"plain text, not gzip")));
    records.push(record_json(
        9,
        &b64(&gzip(b"{\"not\": \"a subscription payload\"}")),
    ));
    let event = event_from_records(records);

    let (failed, summary) = h.invoke(&event, BUDGET).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(summary.poison_records, 5);
    assert_eq!(summary.control_messages, 1);
    assert_eq!(summary.delivered, 7);
    assert_eq!(summary.dead_lettered, 5);
    assert_eq!(h.count().await, 7);

    let letters = h.dead_letters().await;
    assert_eq!(letters.len(), 5);
    let by_seq = |i: usize| {
        letters
            .iter()
            .find(|l| l["source"]["sequence_number"] == sequence_number(i).as_str())
            .unwrap_or_else(|| panic!("no dead letter for record {i}"))
    };
    for (i, kind) in [
        (1, "invalid_gzip"),
        (2, "binary_data"),
        (3, "invalid_cloudwatch_payload"),
        (4, "invalid_base64"),
        (5, "binary_data"),
    ] {
        let l = by_seq(i);
        assert_eq!(l["error_type"], kind, "record {i}: {l}");
        assert_eq!(l["stage"], "decode");
        assert!(!l["reason"].as_str().unwrap().is_empty());
        assert_eq!(l["source"]["stream_arn"], STREAM_ARN);
        assert_eq!(l["source"]["shard_id"], SHARD);
    }
    // Readable text travels as (masked) text; only bytes that are not text travel as base64.
    assert_eq!(
        by_seq(3)["text"],
        "{\"messageType\": \"DATA_MESSAGE\", \"logEvents\": [{\"id\": "
    );
    assert_eq!(by_seq(4)["text"], "!!! not base64 !!!");
    assert!(by_seq(2).get("text").is_none());
    for binary in [1, 5] {
        assert!(by_seq(binary).get("text").is_none());
        let raw = base64::engine::general_purpose::STANDARD
            .decode(by_seq(binary)["raw_base64"].as_str().unwrap())
            .unwrap();
        assert!(
            raw.starts_with(&[0x1f, 0x8b]),
            "record {binary} carries its gzip bytes"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_item_errors_are_dead_lettered_with_the_reason() {
    let h = Harness::new("permanent", &[]).await;
    // A real mapping conflict in osmem: `json.status` is an object first, then a string.
    let mut evs = events("map", 3, DAY1);
    evs[0].message = r#"{"status":{"code":200}}"#.to_owned();
    evs[1].message = r#"{"status":"ok"}"#.to_owned();
    // And an injected permanent per-item error.
    evs[2].message = "this one is rejected by policy".to_owned();
    h.proxy.item_fault(ItemFault {
        needle: "rejected by policy".to_owned(),
        status: 403,
        error_type: "security_exception".to_owned(),
        times: usize::MAX,
    });
    let event = kinesis_event(&[
        cloudwatch_payload("/g", &evs[..1]),
        cloudwatch_payload("/g", &evs[1..]),
    ]);
    // Two records so the first document is indexed before the conflicting one is sent.
    let (failed, summary) = h.invoke(&event, BUDGET).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(summary.delivered, 1);
    assert_eq!(summary.dead_lettered, 2);
    assert_eq!(h.count().await, 1);

    let letters = h.dead_letters().await;
    assert_eq!(letters.len(), 2);
    let conflict = letters
        .iter()
        .find(|l| l["event_id"] == "map-0001")
        .unwrap();
    assert_eq!(conflict["error_type"], "mapper_parsing_exception");
    assert_eq!(conflict["status"], 400);
    assert_eq!(conflict["stage"], "destination");
    assert_eq!(conflict["destination"], "elasticsearch");
    assert_eq!(conflict["index"], format!("{}-2026.11.22", h.index));
    assert_eq!(conflict["document"]["json"]["status"], "ok");
    assert_eq!(conflict["document"]["message"], r#"{"status":"ok"}"#);
    assert_eq!(conflict["source"]["sequence_number"], sequence_number(1));
    let policy = letters
        .iter()
        .find(|l| l["event_id"] == "map-0002")
        .unwrap();
    assert_eq!(policy["error_type"], "security_exception");
    assert_eq!(policy["status"], 403);
    assert_eq!(policy["reason"], "injected by the fault proxy");

    // The replay (Lambda retrying a later failure) must not dead-letter them twice... it
    // would, if the records came back; here they are settled and never come back.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_until_delivered_exactly_once() {
    let h = Harness::new("transient", &[("REQUEST_TIMEOUT_MS", "400")]).await;
    h.proxy.push([
        RequestFault::Status(429),
        RequestFault::Status(503),
        RequestFault::Reset,
        // Past the client's timeout, then forwarded: indexed although the client gave up.
        RequestFault::Delay(Duration::from_millis(700)),
        RequestFault::Status(502),
    ]);
    h.proxy.item_fault(ItemFault {
        needle: "t line 3:".to_owned(),
        status: 429,
        error_type: "es_rejected_execution_exception".to_owned(),
        times: 2,
    });
    h.proxy.item_fault(ItemFault {
        needle: "t line 7:".to_owned(),
        status: 503,
        error_type: "unavailable_shards_exception".to_owned(),
        times: 1,
    });
    let event = kinesis_event(&[cloudwatch_payload("/g", &events("t", 10, DAY1))]);

    let (failed, summary) = h.invoke(&event, BUDGET).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(
        summary.delivered + summary.already_present,
        10,
        "{summary:?}"
    );
    assert!(summary.retried >= 5, "{summary:?}");
    assert_eq!(summary.dead_lettered, 0);
    // The delayed request reached osmem after the client timed out; its retry found the
    // documents present. Either way each event is indexed exactly once.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(h.count().await, 10);
    let ids: Vec<String> = h.documents().await.into_iter().map(|d| d.1).collect();
    let expected: Vec<String> = (0..10).map(|i| format!("t-{i:04}")).collect();
    assert_eq!(ids, expected);
    assert!(h.dead_letters().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_down_until_the_deadline_hands_the_batch_back() {
    let h = Harness::new("down", &[]).await;
    h.proxy.always(Some(RequestFault::Status(503)));
    let event = kinesis_event(&[
        cloudwatch_payload("/g", &events("d1", 4, DAY1)),
        cloudwatch_payload("/g", &events("d2", 4, DAY1)),
        control_payload(),
    ]);
    let started = tokio::time::Instant::now();
    let (failed, summary) = h.invoke(&event, Duration::from_secs(3)).await;
    // Retries stopped in time: the invocation answered before its deadline.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // Everything from the first unsettled record on goes back to Lambda.
    assert_eq!(
        failed,
        [sequence_number(0), sequence_number(1), sequence_number(2)]
    );
    assert_eq!(summary.failed_back, 8);
    assert_eq!(summary.delivered, 0);
    assert!(summary.requests > 3, "retried: {summary:?}");
    assert_eq!(h.count().await, 0);
    assert!(
        h.dead_letters().await.is_empty(),
        "an outage is not bad data"
    );

    // When the destination heals, Lambda's retry of the same batch delivers everything.
    h.proxy.always(None);
    let (failed, summary) = h.invoke(&event, BUDGET).await;
    assert!(failed.is_empty());
    assert_eq!(summary.delivered, 8);
    assert_eq!(h.count().await, 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_failures_are_an_outage_not_bad_data() {
    let h = Harness::new("outage", &[]).await;
    h.proxy.always(Some(RequestFault::Status(401)));
    let event = kinesis_event(&[cloudwatch_payload("/g", &events("o", 3, DAY1))]);
    let (failed, summary) = h.invoke(&event, BUDGET).await;
    assert_eq!(failed, [sequence_number(0)]);
    assert_eq!(
        summary.requests, 1,
        "401 is not retried within the invocation"
    );
    assert!(h.dead_letters().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_dlq_down_too_the_unsettled_records_go_back_to_lambda() {
    let h = Harness::new("dlq-down", &[]).await;
    // Point the forwarder at a queue that does not exist.
    let missing = h.queue_url.replace("dlq-dlq-down", "dlq-does-not-exist");
    // Same indices as `h`, broken dead-letter queue.
    let h2 = Harness::new(
        "dlq-down2",
        &[
            ("DLQ_QUEUE_URL", missing.as_str()),
            ("RETRY_MAX_ATTEMPTS", "3"),
            ("ES_INDEX", "t-dlq-down-%Y.%m.%d"),
        ],
    )
    .await;
    let event = kinesis_event(&[
        cloudwatch_payload("/g", &events("before", 2, DAY1)),
        b"\x00\x01poison".to_vec(),
        cloudwatch_payload("/g", &events("after", 2, DAY1)),
    ]);
    let (failed, summary) = h2.invoke(&event, Duration::from_secs(5)).await;
    // The record before the poison one is settled; from the poison record on, everything
    // goes back (Lambda resumes the shard from the lowest failure).
    assert_eq!(failed, [sequence_number(1), sequence_number(2)]);
    assert_eq!(summary.dead_lettered, 0);
    assert_eq!(
        summary.delivered, 4,
        "documents are indexed; the replay will find them"
    );
    assert!(h.dead_letters().await.is_empty());

    // On the replay (records 1.. only), the indexed documents are already present.
    let replay = event_from_records(
        serde_json::to_value(&[
            record_json(1, &b64(b"\x00\x01poison")),
            record_json(
                2,
                &b64(&cloudwatch_payload("/g", &events("after", 2, DAY1))),
            ),
        ])
        .unwrap()
        .as_array()
        .cloned()
        .unwrap(),
    );
    let (failed, summary) = h.invoke(&replay, BUDGET).await;
    assert!(failed.is_empty());
    assert_eq!(summary.already_present, 2);
    assert_eq!(summary.dead_lettered, 1);
    assert_eq!(h.dead_letters().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_stay_under_the_size_limit_and_413_splits() {
    let h = Harness::new(
        "split",
        &[("MAX_REQUEST_BYTES", "4096"), ("ES_COMPRESSION", "gzip")],
    )
    .await;
    // The destination refuses bodies over 1.5 KB (as received, i.e. compressed) — the
    // forwarder must split until they fit.
    let mut evs = events("s", 40, DAY1);
    for (i, e) in evs.iter_mut().enumerate() {
        // Incompressible-ish text so the compressed size tracks the raw size.
        e.message = format!("{i} {}", pseudo_random_text(i as u64, 300));
    }
    h.proxy.too_large_over(Some(1500));
    let event = kinesis_event(&[
        cloudwatch_payload("/g", &evs[..20]),
        cloudwatch_payload("/g", &evs[20..]),
    ]);
    let (failed, summary) = h.invoke(&event, BUDGET).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(summary.delivered, 40, "{summary:?}");
    assert!(summary.splits > 0, "{summary:?}");
    assert_eq!(h.count().await, 40);
    for request in h.proxy.bulk_requests() {
        assert_eq!(request.header("content-encoding"), Some("gzip"));
        assert!(
            request.body.len() <= 4096 || request.bulk_items() == 1,
            "a request of {} bytes holds {} documents",
            request.body.len(),
            request.bulk_items()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_document_too_large_for_the_destination_is_dead_lettered() {
    let h = Harness::new("too-large", &[]).await;
    let mut evs = events("big", 3, DAY1);
    evs[1].message = "x".repeat(20_000);
    h.proxy.too_large_over(Some(10_000));
    let event = kinesis_event(&[cloudwatch_payload("/g", &evs)]);
    let (failed, summary) = h.invoke(&event, BUDGET).await;
    assert!(failed.is_empty());
    assert_eq!(summary.delivered, 2);
    assert_eq!(summary.dead_lettered, 1);
    let letters = h.dead_letters().await;
    assert_eq!(letters[0]["status"], 413);
    assert_eq!(letters[0]["event_id"], "big-0001");
    assert_eq!(
        letters[0]["document"]["message"].as_str().unwrap().len(),
        20_000
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indices_rotate_daily_on_the_event_time_and_fixed_names_work() {
    let h = Harness::new("daily", &[]).await;
    let event = kinesis_event(&[
        cloudwatch_payload("/g", &events("day1", 3, DAY2 - 2)),
        cloudwatch_payload("/g", &events("day2", 2, DAY2)),
    ]);
    let (failed, _) = h.invoke(&event, BUDGET).await;
    assert!(failed.is_empty());
    let docs = h.documents().await;
    let in_index = |suffix: &str| {
        docs.iter()
            .filter(|d| d.0 == format!("{}-{suffix}", h.index))
            .count()
    };
    // Events at 23:59:59.998 and .999 on day 1, the third at midnight.
    assert_eq!(in_index("2026.11.22"), 2);
    assert_eq!(in_index("2026.11.23"), 3);

    let fixed = Harness::new("fixed", &[("ES_INDEX", "t-fixed-logs")]).await;
    let (failed, summary) = fixed.invoke(&event, BUDGET).await;
    assert!(failed.is_empty());
    assert_eq!(summary.delivered, 5);
    assert!(fixed
        .documents()
        .await
        .iter()
        .all(|d| d.0 == "t-fixed-logs"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_dead_letters_are_truncated_not_lost() {
    let h = Harness::new("truncate", &[("DLQ_MAX_MESSAGE_BYTES", "4096")]).await;
    // A broken subscription payload whose text does not compress: the raw record itself is
    // about 35 KB.
    let prefix = "{\"messageType\":\"DATA_MESSAGE\",\"logEvents\":[";
    let text = format!("{prefix}{}", pseudo_random_text(1, 50_000 - prefix.len()));
    let event = kinesis_event(&[gzip(text.as_bytes())]);
    let (failed, summary) = h.invoke(&event, BUDGET).await;
    assert!(failed.is_empty());
    assert_eq!(summary.dead_lettered, 1);
    let letters = h.dead_letters().await;
    assert_eq!(letters[0]["truncated"], true);
    // The record inflated to 50 KB of text: the letter carries a prefix of it.
    assert_eq!(letters[0]["original_bytes"], 50_000);
    assert!(letters[0]["text"].as_str().unwrap().len() < 4096);
    assert_eq!(letters[0]["error_type"], "invalid_cloudwatch_payload");
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Deterministic text that gzip cannot shrink much.
fn pseudo_random_text(seed: u64, len: usize) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (b'a' + (x % 26) as u8) as char
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_document_ids_the_store_assigns_them_and_a_replay_duplicates() {
    let h = Harness::new("no-ids", &[("ES_DOCUMENT_IDS", "false")]).await;
    let event = kinesis_event(&[cloudwatch_payload(
        "/aws/lambda/orders",
        &events("n", 4, DAY1),
    )]);
    let (failed, summary) = h.invoke(&event, BUDGET).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(summary.delivered, 4);
    let seen = h.proxy.bulk_requests();
    let body = String::from_utf8_lossy(&seen[0].body).into_owned();
    assert!(!body.contains("\"_id\""), "no ids sent: {body}");
    let docs = h.documents().await;
    assert_eq!(docs.len(), 4);
    // The event id stays in the document; the store's own id differs from it.
    assert!(docs
        .iter()
        .all(|(_, id, doc)| doc["event"]["id"] != id.as_str()));
    // The trade-off the README states: a replay indexes the batch again.
    let (failed, _) = h.invoke(&event, BUDGET).await;
    assert!(failed.is_empty());
    assert_eq!(h.count().await, 8);
}
