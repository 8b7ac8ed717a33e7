//! The real handler shipping to the Logz.io listener emulator, with the token in moto's SSM and
//! dead letters in moto's SQS. Each test checks where every event ended.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use log_forwarder::config::{Config, DestinationConfig};
use log_forwarder::dlq::DeadLetterQueue;
use log_forwarder::input::KinesisEvent;
use log_forwarder::output::logzio::Logzio;
use log_forwarder::output::{Destination, RequestVerdict, Response};
use log_forwarder::secrets::CachedSecret;
use log_forwarder::{Forwarder, Summary};
use serde_json::Value;
use support::logzio::{ListenerFault, LogzioListener};
use support::*;

const DAY1: i64 = 1_795_305_600_000; // 2026-11-22T00:00:00Z
const BUDGET: Duration = Duration::from_secs(20);

struct LogzioHarness {
    forwarder: Forwarder<Logzio>,
    listener: LogzioListener,
    sqs: aws_sdk_sqs::Client,
    ssm: aws_sdk_ssm::Client,
    queue_url: String,
    parameter: String,
}

impl LogzioHarness {
    /// A forwarder whose token parameter (in moto's SSM) holds `token`, shipping to a listener
    /// that accepts `token`.
    async fn new(name: &str, token: &str, vars: &[(&str, &str)]) -> Self {
        let listener = LogzioListener::start(token).await;
        let sdk = support::servers::aws_config().await;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let ssm = aws_sdk_ssm::Client::new(&sdk);
        let queue_url = create_queue(&sqs, &format!("dlq-logzio-{name}")).await;
        let parameter = format!("/logz-io/{name}/data-shipping-token");
        put_secure_string(&ssm, &parameter, token).await;
        let config = test_config(
            &[
                ("DESTINATION", "logzio".to_owned()),
                ("LOGZIO_LISTENER_URL", listener.url()),
                ("LOGZIO_TOKEN_PARAMETER", parameter.clone()),
                ("LOGZIO_TYPE", "app-logs".to_owned()),
                ("DLQ_QUEUE_URL", queue_url.clone()),
            ],
            vars,
        );
        let DestinationConfig::Logzio(logzio) = &config.destination else {
            panic!("logzio expected")
        };
        let secret = CachedSecret::load(&logzio.token, Some(&ssm))
            .await
            .expect("token from moto SSM");
        let destination = Logzio::new(logzio, &config.output, secret).expect("client");
        let dlq = DeadLetterQueue::new(
            sqs.clone(),
            queue_url.clone(),
            config.dlq_max_message_bytes,
            config.retry.clone(),
        );
        Self {
            forwarder: Forwarder::new(config, destination, dlq).expect("forwarder"),
            listener,
            sqs,
            ssm,
            queue_url,
            parameter,
        }
    }

    async fn invoke(&self, event: &KinesisEvent) -> (Vec<String>, Summary) {
        let deadline = tokio::time::Instant::now() + BUDGET;
        let (response, summary) = self.forwarder.handle(event, deadline).await;
        (failed_sequence_numbers(&response), summary)
    }

    async fn dead_letters(&self) -> Vec<Value> {
        drain_queue(&self.sqs, &self.queue_url).await
    }

    /// How many stored lines carry each event id.
    fn stored_ids(&self) -> HashMap<String, usize> {
        let mut ids = HashMap::new();
        for line in self.listener.lines() {
            let id = line["event"]["id"].as_str().unwrap_or_default().to_owned();
            *ids.entry(id).or_insert(0) += 1;
        }
        ids
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_arrive_gzipped_with_token_and_type_exactly_once() {
    let h = LogzioHarness::new("deliver", "tok-deliver-0001", &[]).await;
    let event = kinesis_event(&[
        cloudwatch_payload("/aws/lambda/orders", &events("a", 5, DAY1)),
        cloudwatch_payload("/aws/lambda/orders", &events("b", 3, DAY1)),
    ]);
    let (failed, summary) = h.invoke(&event).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(summary.delivered, 8);
    assert_eq!(summary.dead_lettered, 0);

    let ids = h.stored_ids();
    assert_eq!(ids.len(), 8);
    assert!(ids.values().all(|&n| n == 1), "{ids:?}");
    let requests = h.listener.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert!(r.gzip, "bodies are gzip-compressed");
    assert_eq!(r.token.as_deref(), Some("tok-deliver-0001"));
    assert_eq!(r.log_type.as_deref(), Some("app-logs"));
    assert_eq!(r.lines, 8, "one line per document, no action lines");
    assert_eq!(r.status, Some(200));
    let line = h
        .listener
        .lines()
        .into_iter()
        .find(|l| l["event"]["id"] == "a-0001")
        .expect("a-0001 stored");
    assert_eq!(line["type"], "app-logs");
    assert_eq!(line["message"], "a line 1: GET /orders/1 200 \"ok\"\t12ms");
    assert_eq!(line["@timestamp"], "2026-11-22T00:00:00.001Z");
    assert_eq!(line["aws"]["cloudwatch"]["log_group"], "/aws/lambda/orders");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_an_outage_that_hands_every_record_back() {
    let h = LogzioHarness::new("bad-token", "tok-stale", &[]).await;
    h.listener.set_token("tok-the-listener-wants");
    let event = kinesis_event(&[
        cloudwatch_payload("/aws/lambda/orders", &events("x", 3, DAY1)),
        cloudwatch_payload("/aws/lambda/orders", &events("y", 2, DAY1)),
    ]);
    let (failed, summary) = h.invoke(&event).await;
    assert_eq!(failed, vec![sequence_number(0), sequence_number(1)]);
    assert_eq!(summary.delivered, 0);
    assert_eq!(summary.dead_lettered, 0, "bad credentials are not bad data");
    assert!(h.dead_letters().await.is_empty());
    assert!(h.listener.lines().is_empty());
    assert!(h.listener.requests().iter().all(|r| r.status == Some(401)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_token_is_read_again_from_ssm_after_a_401() {
    let h = LogzioHarness::new("rotate", "tok-before-rotation", &[]).await;
    // Rotation: the new token is in SSM and the listener no longer takes the old one.
    put_secure_string(&h.ssm, &h.parameter, "tok-after-rotation").await;
    h.listener.set_token("tok-after-rotation");
    let event = kinesis_event(&[cloudwatch_payload(
        "/aws/lambda/orders",
        &events("r", 4, DAY1),
    )]);
    let (failed, summary) = h.invoke(&event).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(summary.delivered, 4);
    let statuses = h.listener.statuses();
    assert_eq!(statuses, vec![Some(401), Some(200)]);
    assert_eq!(
        h.listener.requests()[1].token.as_deref(),
        Some("tok-after-rotation")
    );
    assert_eq!(h.stored_ids().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_errors_and_resets_are_retried_without_loss() {
    let h = LogzioHarness::new("transient", "tok-transient", &[]).await;
    h.listener.fail_next(ListenerFault::Status(429));
    h.listener.fail_next(ListenerFault::Status(503));
    h.listener.fail_next(ListenerFault::Reset);
    let event = kinesis_event(&[cloudwatch_payload(
        "/aws/lambda/orders",
        &events("t", 6, DAY1),
    )]);
    let (failed, summary) = h.invoke(&event).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(summary.delivered, 6);
    assert_eq!(summary.requests, 4);
    // The faults stored nothing, so nothing is stored twice.
    let ids = h.stored_ids();
    assert_eq!(ids.len(), 6);
    assert!(ids.values().all(|&n| n == 1), "{ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_line_is_isolated_by_splitting_and_dead_lettered_alone() {
    let h = LogzioHarness::new("isolate", "tok-isolate", &[]).await;
    let mut evs = events("i", 8, DAY1);
    evs[5].message = "this line is refused by the listener: POISON".to_owned();
    h.listener.reject_lines_containing("POISON");
    let event = kinesis_event(&[cloudwatch_payload("/aws/lambda/orders", &evs)]);
    let (failed, summary) = h.invoke(&event).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(summary.dead_lettered, 1);
    assert_eq!(summary.delivered, 7);
    assert!(summary.splits >= 3, "8 → 4 → 2 → 1: {summary:?}");

    let letters = h.dead_letters().await;
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter["event_id"], "i-0005");
    assert_eq!(letter["destination"], "logzio");
    assert_eq!(letter["status"], 400);
    assert_eq!(letter["error_type"], "malformed_line");
    assert!(
        letter["reason"]
            .as_str()
            .unwrap()
            .contains("malformedLines=1"),
        "{letter}"
    );
    let ids = h.stored_ids();
    assert!(!ids.contains_key("i-0005"));
    // Every other line is stored; the listener keeps the good lines of a refused request and
    // the halves resend them — the duplication the README describes for Logz.io.
    for i in [0, 1, 2, 3, 4, 6, 7] {
        assert!(
            ids.get(&format!("i-{i:04}")).is_some_and(|&n| n >= 1),
            "{ids:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_413_splits_the_request_and_nothing_is_lost_or_doubled() {
    let h = LogzioHarness::new("split", "tok-split", &[]).await;
    // Requests over 3 KB are refused whole (as the listener does over 10 MB).
    h.listener.set_max_body_bytes(3_000);
    let event = kinesis_event(&[cloudwatch_payload(
        "/aws/lambda/orders",
        &events("s", 12, DAY1),
    )]);
    let (failed, summary) = h.invoke(&event).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(summary.delivered, 12);
    assert!(summary.splits >= 1);
    assert!(h.listener.statuses().contains(&Some(413)));
    let ids = h.stored_ids();
    assert_eq!(ids.len(), 12);
    assert!(ids.values().all(|&n| n == 1), "{ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_document_is_truncated_to_the_line_limit_not_dropped() {
    let h = LogzioHarness::new("truncate", "tok-truncate", &[]).await;
    let mut evs = events("big", 2, DAY1);
    evs[0].message = format!("{{\"payload\":\"{}\",\"end\":true}}", "x".repeat(700_000));
    let event = kinesis_event(&[cloudwatch_payload("/aws/lambda/orders", &evs)]);
    let (failed, summary) = h.invoke(&event).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(summary.delivered, 2);
    assert_eq!(summary.truncated, 1);
    assert_eq!(summary.dead_lettered, 0);
    let r = &h.listener.requests()[0];
    assert_eq!(r.counts.oversized, 0);
    assert_eq!(r.status, Some(200));
    let line = h
        .listener
        .lines()
        .into_iter()
        .find(|l| l["event"]["id"] == "big-0000")
        .expect("the truncated document is stored");
    assert_eq!(line["log"]["truncated"], true);
    assert!(line["log"]["original_size"].as_u64().unwrap() > 1_400_000);
    assert!(line.get("json").is_none(), "parsed fields go first");
    let message = line["message"].as_str().unwrap();
    assert!(message.starts_with("{\"payload\":\"xxxx"));
    assert!(message.len() > 400_000, "the message keeps what fits");
    assert!(serde_json::to_vec(&line).unwrap().len() <= 500_000 + 100);
    let small = h
        .listener
        .lines()
        .into_iter()
        .find(|l| l["event"]["id"] == "big-0001")
        .expect("the other document");
    assert!(small.get("log").is_none());
}

#[tokio::test]
async fn transport_errors_never_carry_the_token() {
    // A listener that is not there: the error text must not include the request URL.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let config = Config::from_lookup(|name| match name {
        "DESTINATION" => Some("logzio".into()),
        "LOGZIO_LISTENER_URL" => Some(format!("http://127.0.0.1:{port}")),
        "LOGZIO_TOKEN" => Some("tok-must-not-leak".into()),
        "DLQ_QUEUE_URL" => Some("http://127.0.0.1:9/q".into()),
        _ => None,
    })
    .unwrap();
    let DestinationConfig::Logzio(logzio) = &config.destination else {
        unreachable!()
    };
    let token = CachedSecret::load(&logzio.token, None).await.unwrap();
    let destination = Logzio::new(logzio, &config.output, token).unwrap();
    let answer = destination
        .send(Bytes::from_static(b"{}\n"), 1, Duration::from_secs(2))
        .await;
    let Response::Request(RequestVerdict::Retry(reason)) = answer else {
        panic!("a connection error is retried: {answer:?}")
    };
    assert!(!reason.contains("tok-must-not-leak"), "{reason}");
    assert!(!format!("{destination:?}").contains("tok-must-not-leak"));
}

#[tokio::test]
async fn a_missing_token_parameter_fails_cold_start_naming_it() {
    let sdk = support::servers::aws_config().await;
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let source =
        log_forwarder::config::SecretSource::Parameter("/logz-io/not-created/token".into());
    let e = CachedSecret::load(&source, Some(&ssm)).await.unwrap_err();
    let text = e.to_string();
    assert!(text.contains("/logz-io/not-created/token"), "{text}");
    assert!(text.contains("put-parameter"), "says how to fix it: {text}");
}
