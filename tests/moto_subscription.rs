//! CloudWatch Logs → Kinesis subscription payloads produced by moto (an encoder nobody here
//! wrote), read back with the real Kinesis SDK and run through the real handler.
//!
//! moto differs from AWS in one way that matters: its event ids are JSON numbers (AWS sends
//! ~56-digit strings). The documents must carry them as strings either way.

mod support;

use std::time::Duration;

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use aws_sdk_kinesis::types::ShardIteratorType;
use base64::Engine as _;
use serde_json::json;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_subscription_payloads_are_indexed_exactly_once() {
    let h = Harness::new("moto-sub", &[]).await;
    let sdk = servers::aws_config().await;
    let kinesis = aws_sdk_kinesis::Client::new(&sdk);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);

    let stream = "moto-sub-stream";
    kinesis
        .create_stream()
        .stream_name(stream)
        .shard_count(1)
        .send()
        .await
        .expect("create stream");
    let stream_arn = kinesis
        .describe_stream_summary()
        .stream_name(stream)
        .send()
        .await
        .expect("describe stream")
        .stream_description_summary
        .expect("summary")
        .stream_arn;

    let group = "/aws/lambda/moto-sub";
    logs.create_log_group()
        .log_group_name(group)
        .send()
        .await
        .expect("log group");
    logs.create_log_stream()
        .log_group_name(group)
        .log_stream_name("2026/11/22/[$LATEST]abc")
        .send()
        .await
        .expect("log stream");
    logs.put_subscription_filter()
        .log_group_name(group)
        .filter_name("to-kinesis")
        .filter_pattern("")
        .destination_arn(&stream_arn)
        .role_arn("arn:aws:iam::123456789012:role/cwl-to-kinesis")
        .send()
        .await
        .expect("subscription filter");

    let now = log_forwarder::time::now_millis();
    let batches = [
        vec![
            "START RequestId: 6f7e Version: $LATEST".to_owned(),
            r#"{"level":"error","msg":"payment declined","code":402}"#.to_owned(),
            "multi\nline\twith \"quotes\" and ünïcödé".to_owned(),
        ],
        vec![
            "END RequestId: 6f7e".to_owned(),
            "REPORT RequestId: 6f7e Duration: 12.34 ms Billed Duration: 13 ms".to_owned(),
        ],
    ];
    for batch in &batches {
        let events: Vec<InputLogEvent> = batch
            .iter()
            .enumerate()
            .map(|(i, m)| {
                InputLogEvent::builder()
                    .timestamp(now + i as i64)
                    .message(m)
                    .build()
                    .expect("log event")
            })
            .collect();
        logs.put_log_events()
            .log_group_name(group)
            .log_stream_name("2026/11/22/[$LATEST]abc")
            .set_log_events(Some(events))
            .send()
            .await
            .expect("put log events");
    }

    // Read what moto delivered to the stream, as the Lambda event source mapping would.
    let iterator = kinesis
        .get_shard_iterator()
        .stream_name(stream)
        .shard_id("shardId-000000000000")
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .expect("shard iterator")
        .shard_iterator
        .expect("iterator");
    let records = kinesis
        .get_records()
        .shard_iterator(iterator)
        .send()
        .await
        .expect("get records")
        .records;
    assert_eq!(
        records.len(),
        2,
        "moto delivers one record per PutLogEvents"
    );

    let lambda_records: Vec<_> = records
        .iter()
        .map(|r| {
            json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": r.partition_key,
                    "sequenceNumber": r.sequence_number,
                    "data": base64::engine::general_purpose::STANDARD.encode(r.data.as_ref()),
                    "approximateArrivalTimestamp": r.approximate_arrival_timestamp.map(|t| t.as_secs_f64()),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("shardId-000000000000:{}", r.sequence_number),
                "eventName": "aws:kinesis:record",
                "awsRegion": "us-east-1",
                "eventSourceARN": stream_arn,
            })
        })
        .collect();
    let event = event_from_records(lambda_records);

    let (failed, summary) = h.invoke(&event, Duration::from_secs(20)).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(summary.events, 5);
    assert_eq!(summary.delivered, 5);
    assert_eq!(h.count().await, 5);

    let docs = h.documents().await;
    let messages: Vec<&str> = docs
        .iter()
        .map(|d| d.2["message"].as_str().unwrap_or_default())
        .collect();
    for m in batches.iter().flatten() {
        assert!(messages.contains(&m.as_str()), "{m:?} not indexed");
    }
    for (_, id, doc) in &docs {
        // moto's numeric ids arrive as strings, and are the document ids.
        assert!(id.bytes().all(|b| b.is_ascii_digit()), "{id}");
        assert_eq!(doc["event"]["id"], id.as_str());
        assert_eq!(doc["aws"]["cloudwatch"]["log_group"], group);
        assert_eq!(doc["aws"]["kinesis"]["name"], stream);
        assert_eq!(doc["cloud"]["account"]["id"], "123456789012");
        assert_eq!(doc["cloud"]["region"], "us-east-1");
    }
    let error = docs
        .iter()
        .find(|d| {
            d.2["message"]
                .as_str()
                .unwrap_or_default()
                .contains("payment")
        })
        .unwrap();
    assert_eq!(error.2["json"]["code"], 402);

    let (failed, replay) = h.invoke(&event, Duration::from_secs(20)).await;
    assert!(failed.is_empty());
    assert_eq!(replay.already_present, 5);
    assert_eq!(h.count().await, 5);
}
