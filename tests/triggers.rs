//! The same binary behind its two other triggers: a CloudWatch Logs subscription straight to
//! Lambda, and the dead-letter queue as an SQS event source (redrive).

mod support;

use std::time::Duration;

use base64::Engine as _;
use log_forwarder::input::{KinesisEvent, Trigger};
use serde_json::{json, Value};
use support::proxy::{ItemFault, RequestFault};
use support::*;

const DAY1: i64 = 1_795_305_600_000; // 2026-11-22T00:00:00Z
const BUDGET: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_cloudwatch_logs_subscription_ships_like_a_kinesis_record() {
    let h = Harness::new("awslogs", &[]).await;
    let data = base64::engine::general_purpose::STANDARD.encode(cloudwatch_payload(
        "/aws/lambda/orders",
        &events("direct", 4, DAY1),
    ));
    // The event exactly as CloudWatch Logs invokes a function.
    let event: KinesisEvent =
        serde_json::from_value(json!({ "awslogs": { "data": data } })).unwrap();
    assert_eq!(event.trigger(), Trigger::CloudWatchLogs);
    let deadline = tokio::time::Instant::now() + BUDGET;
    let (result, summary) = h
        .forwarder
        .handle_invocation(&event, deadline, "eu-central-1")
        .await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(summary.delivered, 4);
    let docs = h.documents().await;
    assert_eq!(docs.len(), 4);
    let (_, id, doc) = &docs[0];
    assert_eq!(
        id, "direct-0000",
        "CloudWatch event ids, as through Kinesis"
    );
    assert!(doc["aws"].get("kinesis").is_none(), "no stream: {doc}");
    assert_eq!(doc["aws"]["cloudwatch"]["log_group"], "/aws/lambda/orders");
    assert_eq!(doc["cloud"]["region"], "eu-central-1");

    // CloudWatch Logs retries a failed invocation: a retry indexes nothing twice.
    let (result, summary) = h
        .forwarder
        .handle_invocation(&event, deadline, "eu-central-1")
        .await;
    assert!(result.is_ok());
    assert_eq!(summary.already_present, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_delivery_that_cannot_be_settled_fails_whole_and_dead_letters_nothing() {
    let h = Harness::new("awslogs-down", &[]).await;
    h.proxy.always(Some(RequestFault::Status(503)));
    let mut evs = events("down", 3, DAY1);
    evs[0].timestamp = i64::MAX; // cannot become a document: a dead letter, if it were sent
    let data = base64::engine::general_purpose::STANDARD
        .encode(cloudwatch_payload("/aws/lambda/orders", &evs));
    let event: KinesisEvent =
        serde_json::from_value(json!({ "awslogs": { "data": data } })).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    let (result, summary) = h
        .forwarder
        .handle_invocation(&event, deadline, "eu-central-1")
        .await;
    let error = result.expect_err("an unsettled direct delivery fails the invocation");
    assert!(
        error.to_string().contains("CloudWatch Logs will retry"),
        "{error}"
    );
    assert_eq!(summary.delivered, 0);
    assert_eq!(summary.dead_lettered, 0);
    assert!(
        h.dead_letters().await.is_empty(),
        "the retry will send them"
    );
}

/// Receives every message of the dead-letter queue as an SQS Lambda event (without deleting
/// them: Lambda deletes what the function does not report as failed).
async fn sqs_event(h: &Harness) -> KinesisEvent {
    let out = h
        .sqs
        .receive_message()
        .queue_url(&h.queue_url)
        .max_number_of_messages(10)
        .visibility_timeout(0)
        .send()
        .await
        .expect("receive");
    let records: Vec<Value> = out
        .messages
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            json!({
                "messageId": m.message_id.unwrap_or_default(),
                "receiptHandle": m.receipt_handle.unwrap_or_default(),
                "body": m.body.unwrap_or_default(),
                "attributes": {}, "messageAttributes": {}, "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:dlq-redrive",
                "awsRegion": "eu-west-1"
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redrive_sends_dead_letters_again_and_keeps_what_cannot_be_sent() {
    let h = Harness::new("redrive", &[]).await;
    // One document refused by the cluster (a policy later fixed), and one poison record.
    h.proxy.item_fault(ItemFault {
        needle: "refused until the fix".to_owned(),
        status: 400,
        error_type: "illegal_argument_exception".to_owned(),
        times: 1,
    });
    let mut evs = events("r", 3, DAY1);
    evs[1].message = "refused until the fix".to_owned();
    let event = kinesis_event(&[cloudwatch_payload("/g", &evs), vec![0x00, 0x01, 0x02, 0xff]]);
    let (failed, summary) = h.invoke(&event, BUDGET).await;
    assert!(failed.is_empty());
    assert_eq!(summary.dead_lettered, 2);
    assert_eq!(h.count().await, 2);

    let redrive = sqs_event(&h).await;
    assert_eq!(redrive.trigger(), Trigger::Sqs);
    assert_eq!(redrive.records.len(), 2);
    let poison_id = redrive
        .records
        .iter()
        .find(|r| {
            r.body
                .as_deref()
                .unwrap_or_default()
                .contains("binary_data")
        })
        .and_then(|r| r.message_id.clone())
        .unwrap();
    let deadline = tokio::time::Instant::now() + BUDGET;
    let (response, summary) = h.forwarder.redrive(&redrive.records, deadline).await;
    let stays: Vec<_> = response
        .batch_item_failures
        .iter()
        .filter_map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(
        stays,
        vec![poison_id],
        "the poison letter stays; the document is sent"
    );
    assert_eq!(summary.delivered, 1);
    assert_eq!(h.count().await, 3);
    let docs = h.documents().await;
    let (_, id, doc) = docs.iter().find(|d| d.1 == "r-0001").expect("redriven");
    assert_eq!(id, "r-0001");
    assert_eq!(doc["message"], "refused until the fix");

    // A redrive run twice indexes nothing twice.
    let (response, summary) = h.forwarder.redrive(&redrive.records, deadline).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(summary.already_present, 1);
    assert_eq!(h.count().await, 3);
}
